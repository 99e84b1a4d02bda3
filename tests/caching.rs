//! HTTP caching over real HTTP: `no-store` unless a route declares a
//! policy; a declared policy's `Cache-Control`, `Vary` and `ETag`; 304 on
//! a held `ETag`; 412 on a stale `If-Match`; the server-side cache's
//! single flight, invalidation by tag, and keys that keep clients apart.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::TestServer;
use hyper::Method;
use portico::auth::Jwt;
use portico::caching::{ETag, IfMatch, ResponseCache};
use portico::health::HealthChecker;
use portico::prelude::*;

const SECRET: &[u8] = b"the caching tests' secret, 32 bytes+";

/// How many times the handlers below ran.
#[derive(Clone, Default)]
struct Runs(Arc<AtomicUsize>);

/// The articles, by id: a title each.
struct Articles(std::sync::Mutex<Vec<String>>);

#[route(GET, "/plain")]
async fn plain() -> ApiResponse<&'static str> {
    ApiResponse::ok("no policy")
}

#[route(
    GET,
    "/catalog",
    cache(max_age = 60, public, stale_while_revalidate = 30)
)]
async fn catalog(runs: Dep<Runs>) -> ApiResponse<usize> {
    runs.0.fetch_add(1, Ordering::SeqCst);
    ApiResponse::ok(3)
}

#[route(
    GET,
    "/articles/<id>",
    cache(no_cache, server = 60, tag = "article:<id>", vary = "Accept-Language")
)]
async fn article(
    id: usize,
    articles: Dep<Articles>,
    runs: Dep<Runs>,
    headers: portico::http::HeaderMap,
) -> Result<ApiResponse<String>, ApiError> {
    runs.0.fetch_add(1, Ordering::SeqCst);
    // Slow enough that a burst of requests overlaps it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let language = headers
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("en")
        .to_owned();
    let title = articles.0.lock().unwrap().get(id).cloned();
    title
        .map(|title| ApiResponse::ok(format!("{title} ({language})")))
        .ok_or_else(|| ApiError::not_found("no such article"))
}

#[route(PUT, "/articles/<id>")]
async fn rename(
    id: usize,
    precondition: IfMatch,
    articles: Dep<Articles>,
    responses: Dep<ResponseCache>,
    Json(title): Json<String>,
) -> Result<ApiResponse<String>, ApiError> {
    {
        let mut all = articles.0.lock().unwrap();
        let Some(current) = all.get_mut(id) else {
            return Err(ApiError::not_found("no such article"));
        };
        // The representation GET answers with, in English.
        let seen = ApiResponse::ok(format!("{current} (en)"));
        precondition.check(Some(&ETag::of_json(&seen)))?;
        *current = title.clone();
    }
    responses
        .invalidate(&format!("article:{id}"))
        .await
        .map_err(|_| ApiError::unavailable("try again"))?;
    Ok(ApiResponse::ok(title))
}

#[route(GET, "/me", cache(max_age = 30, private))]
async fn me(claims: Claims<serde_json::Value>, runs: Dep<Runs>) -> ApiResponse<String> {
    runs.0.fetch_add(1, Ordering::SeqCst);
    ApiResponse::ok(claims.0["sub"].as_str().unwrap_or("").to_owned())
}

/// A handler that knows its data's version gives the tag itself.
#[route(GET, "/versioned", cache(no_cache))]
async fn versioned() -> portico::Response {
    let mut response = ApiResponse::ok("v7 data").into_response();
    response
        .headers_mut()
        .insert("etag", ETag::version(7).as_header().clone());
    response
}

#[route(GET, "/vault/report", cache(max_age = 60, server))]
async fn report(runs: Dep<Runs>) -> ApiResponse<&'static str> {
    runs.0.fetch_add(1, Ordering::SeqCst);
    ApiResponse::ok("the report")
}

/// A route layer that lets through only requests carrying `x-key: open`.
struct Guard;

impl portico::middleware::Middleware for Guard {
    async fn call(
        &self,
        request: portico::middleware::Request,
        next: portico::middleware::Next,
    ) -> portico::Response {
        if request.headers().get("x-key").is_some_and(|k| k == "open") {
            next.run(request).await
        } else {
            ApiError::unauthorized("no key").into_response()
        }
    }
}

async fn server() -> (TestServer, Runs) {
    let runs = Runs::default();
    let app = App::new()
        .provide(Jwt::new(SECRET).unwrap())
        .provide(runs.clone())
        .provide(Articles(std::sync::Mutex::new(vec![
            "Zero".to_owned(),
            "One".to_owned(),
        ])))
        .wrap_prefix("/vault", Guard)
        .mount(routes![
            plain, catalog, article, rename, me, versioned, report
        ])
        .health(HealthChecker::new());
    (TestServer::start(app).await, runs)
}

fn runs(counter: &Runs) -> usize {
    counter.0.load(Ordering::SeqCst)
}

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> common::Reply {
    server.send(Method::GET, path, headers, None).await
}

#[tokio::test]
async fn what_declares_no_policy_is_no_store() {
    let (server, _) = server().await;
    for (method, path, status) in [
        (Method::GET, "/plain", 200),
        (Method::GET, "/nowhere", 404),
        (Method::DELETE, "/plain", 405),
        (Method::GET, "/articles/x", 400),
        (Method::GET, "/articles/9", 404),
        (Method::GET, "/me", 401),
        (Method::GET, "/healthz", 200),
        (Method::GET, "/ready", 200),
    ] {
        let reply = server.send(method.clone(), path, &[], None).await;
        assert_eq!(reply.status.as_u16(), status, "{method} {path}");
        assert_eq!(reply.header("cache-control"), "no-store", "{method} {path}");
        assert!(reply.headers.get("etag").is_none(), "{method} {path}");
    }
}

#[tokio::test]
async fn a_declared_policy_sends_its_headers_and_an_etag_that_revalidates() {
    let (server, _) = server().await;
    let first = get(&server, "/catalog", &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("cache-control"),
        "public, max-age=60, stale-while-revalidate=30"
    );
    assert!(first.headers.get("vary").is_none());
    let etag = first.header("etag").to_owned();
    assert_eq!(
        etag,
        ETag::of_bytes(&first.body).as_header().to_str().unwrap()
    );

    let held = get(&server, "/catalog", &[("if-none-match", &etag)]).await;
    assert_eq!(held.status, 304);
    assert!(held.body.is_empty());
    assert_eq!(held.header("etag"), etag);
    assert_eq!(held.header("cache-control"), first.header("cache-control"));
    let weak = format!("\"other\", W/{etag}");
    assert_eq!(
        get(&server, "/catalog", &[("if-none-match", &weak)])
            .await
            .status,
        304
    );
    let stale = get(&server, "/catalog", &[("if-none-match", "\"stale\"")]).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, first.body);

    let versioned = get(&server, "/versioned", &[]).await;
    assert_eq!(
        versioned.header("etag"),
        "\"v7\"",
        "the handler's own tag is kept"
    );
    let held = get(&server, "/versioned", &[("if-none-match", "\"v7\"")]).await;
    assert_eq!(held.status, 304);

    let article = get(&server, "/articles/1", &[]).await;
    assert_eq!(article.header("cache-control"), "private, no-cache");
    assert_eq!(article.header("vary"), "Accept-Language");
}

#[tokio::test]
async fn fifty_identical_requests_run_the_handler_once_and_a_write_invalidates() {
    let (server, counter) = server().await;
    let server = Arc::new(server);
    let burst: Vec<_> = (0..50)
        .map(|_| {
            let server = Arc::clone(&server);
            tokio::spawn(async move { get(&server, "/articles/1", &[]).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for reply in burst {
        let reply = reply.await.unwrap();
        assert_eq!(reply.status, 200);
        bodies.push(reply.json()["data"].clone());
    }
    assert_eq!(runs(&counter), 1, "one handler run for the burst");
    assert!(bodies.iter().all(|b| b == "One (en)"));
    let kept = get(&server, "/articles/1", &[]).await;
    assert_eq!(runs(&counter), 1);
    assert!(
        kept.headers.get("age").is_some(),
        "a kept answer says its age"
    );

    // A stale If-Match is refused and changes nothing.
    let etag = kept.header("etag").to_owned();
    let put = |if_match: String, title: &'static str| {
        let server = Arc::clone(&server);
        async move {
            server
                .send(
                    Method::PUT,
                    "/articles/1",
                    &[
                        ("content-type", "application/json"),
                        ("if-match", &if_match),
                    ],
                    Some(format!("\"{title}\"").into_bytes()),
                )
                .await
        }
    };
    let refused = put("\"not-the-current-one\"".to_owned(), "Uno").await;
    assert!(refused.assert_failure(412).contains("If-Match"));
    assert_eq!(
        get(&server, "/articles/1", &[]).await.json()["data"],
        "One (en)"
    );
    assert_eq!(runs(&counter), 1, "the refused write invalidated nothing");

    // The current one goes through, and invalidates the kept answer.
    assert_eq!(put(etag.clone(), "Uno").await.status, 200);
    let after = get(&server, "/articles/1", &[("if-none-match", &etag)]).await;
    assert_eq!(after.status, 200, "the held ETag is stale now");
    assert_eq!(after.json()["data"], "Uno (en)");
    assert_eq!(runs(&counter), 2);
    // The same write again, on the tag it read before, is refused.
    assert_eq!(put(etag, "Eins").await.status, 412);
}

#[tokio::test]
async fn kept_answers_never_cross_a_vary_or_a_token() {
    let (server, counter) = server().await;
    let french = get(&server, "/articles/0", &[("accept-language", "fr")]).await;
    let english = get(&server, "/articles/0", &[("accept-language", "en")]).await;
    assert_eq!(french.json()["data"], "Zero (fr)");
    assert_eq!(english.json()["data"], "Zero (en)");
    assert_eq!(runs(&counter), 2);
    // Another route index, path or query: another key.
    get(&server, "/articles/0?x=1", &[("accept-language", "fr")]).await;
    assert_eq!(runs(&counter), 3);

    let jwt = Jwt::new(SECRET).unwrap();
    let bearer = |sub: &str| {
        let token = jwt
            .create(&serde_json::json!({"sub": sub, "exp": 4_000_000_000u64}))
            .unwrap();
        format!("Bearer {token}")
    };
    let (alice, bob) = (bearer("alice"), bearer("bob"));
    let me = |auth: String| {
        let server = &server;
        async move { get(server, "/me", &[("authorization", &auth)]).await }
    };
    assert_eq!(me(alice.clone()).await.json()["data"], "alice");
    let for_bob = me(bob).await;
    assert_eq!(for_bob.json()["data"], "bob");
    assert_eq!(for_bob.header("vary"), "Authorization");
    assert_eq!(for_bob.header("cache-control"), "private, max-age=30");
    // No token: refused, and not cacheable.
    let anonymous = get(&server, "/me", &[]).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("cache-control"), "no-store");
}

#[tokio::test]
async fn a_route_layer_runs_before_every_kept_answer() {
    let (server, counter) = server().await;
    let open = get(&server, "/vault/report", &[("x-key", "open")]).await;
    assert_eq!(open.status, 200);
    let again = get(&server, "/vault/report", &[("x-key", "open")]).await;
    assert_eq!(again.status, 200);
    assert_eq!(runs(&counter), 1, "the second was a kept answer");
    let shut = get(&server, "/vault/report", &[]).await;
    shut.assert_failure(401);
    assert_eq!(shut.header("cache-control"), "no-store");
    let etag = open.header("etag").to_owned();
    let held = get(&server, "/vault/report", &[("if-none-match", &etag)]).await;
    assert_eq!(held.status, 401, "no 304 around the layer either");
}
