//! Bearer authentication, role guards and rate limiting through the real
//! server: statuses, envelopes and headers.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use hyper::Method;
use portico::auth::{BearerAuth, Jwt};
use portico::prelude::*;
use portico::ratelimit::{ClientKey, MemoryStore, Policy, RateLimit};
use serde_json::json;

const SECRET: &[u8] = b"an integration-test secret, 32+ bytes";

fn jwt() -> Jwt {
    Jwt::new(SECRET).unwrap()
}

fn token(sub: &str, role: &str) -> String {
    signed(json!({"sub": sub, "role": role}))
}

/// `claims`, expiring in ten minutes, signed with the test secret.
fn signed(mut claims: serde_json::Value) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    claims["exp"] = json!(exp);
    jwt().create(&claims).unwrap()
}

#[derive(Deserialize)]
struct Who {
    sub: String,
}

#[route(GET, "/me")]
async fn me(claims: Claims<Who>) -> String {
    claims.sub.clone()
}

#[route(DELETE, "/things/<id>", role = "admin")]
async fn delete_thing(id: u32) -> String {
    format!("deleted {id}")
}

#[route(GET, "/healthz")]
async fn healthz() -> &'static str {
    "alive"
}

#[route(GET, "/things")]
async fn things() -> &'static str {
    "things"
}

#[route(POST, "/login")]
async fn login() -> &'static str {
    "welcome"
}

async fn auth_server() -> TestServer {
    TestServer::start(
        App::new()
            .provide(jwt())
            .mount(routes![me, delete_thing, healthz]),
    )
    .await
}

#[tokio::test]
async fn no_token_is_401_with_a_bare_challenge() {
    let server = auth_server().await;
    let reply = server.get("/me").await;
    assert_eq!(reply.assert_failure(401), "authentication required");
    assert_eq!(reply.header("www-authenticate"), "Bearer");
    // Another scheme is no bearer token either.
    let reply = server
        .send(
            Method::GET,
            "/me",
            &[("authorization", "Basic dXNlcjpwdw==")],
            None,
        )
        .await;
    assert_eq!(reply.header("www-authenticate"), "Bearer");
    // A token in the query string is never looked at.
    let reply = server
        .get(&format!("/me?access_token={}", token("42", "user")))
        .await;
    assert_eq!(reply.assert_failure(401), "authentication required");
}

#[tokio::test]
async fn a_bad_token_is_401_invalid_token_with_one_generic_message() {
    let server = auth_server().await;
    let good = token("42", "user");
    let forged = Jwt::new(b"someone else's secret, 32 bytes!!")
        .unwrap()
        .create(&json!({"sub": "42", "exp": 4_000_000_000u64}))
        .unwrap();
    for bad in [format!("{good}x"), forged, "not.a.token".into(), "x".into()] {
        let reply = server
            .send(
                Method::GET,
                "/me",
                &[("authorization", &format!("Bearer {bad}"))],
                None,
            )
            .await;
        assert_eq!(reply.assert_failure(401), "invalid token");
        assert_eq!(
            reply.header("www-authenticate"),
            r#"Bearer error="invalid_token""#
        );
    }
}

#[tokio::test]
async fn a_good_token_passes_whatever_the_scheme_case() {
    let server = auth_server().await;
    let good = token("42", "user");
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let reply = server
            .send(
                Method::GET,
                "/me",
                &[("authorization", &format!("{scheme} {good}"))],
                None,
            )
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, "42");
    }
}

#[tokio::test]
async fn a_role_guard_is_403_without_the_role() {
    let server = auth_server().await;
    let path = "/things/7";
    let reply = server.send(Method::DELETE, path, &[], None).await;
    assert_eq!(reply.header("www-authenticate"), "Bearer");
    reply.assert_failure(401);
    let user = format!("Bearer {}", token("42", "user"));
    let reply = server
        .send(Method::DELETE, path, &[("authorization", &user)], None)
        .await;
    assert_eq!(reply.assert_failure(403), "the `admin` role is required");
    let admin = format!("Bearer {}", token("1", "admin"));
    let reply = server
        .send(Method::DELETE, path, &[("authorization", &admin)], None)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "deleted 7");
}

#[test]
fn a_claims_extractor_without_a_jwt_fails_the_build() {
    let problems = App::new()
        .mount(routes![me])
        .verify()
        .unwrap_err()
        .to_string();
    assert!(
        problems.contains("GET /me -> me needs Dep<Jwt>, which nothing provides"),
        "{problems}"
    );
}

#[tokio::test]
async fn the_bearer_layer_guards_a_prefix() {
    let jwt = Arc::new(jwt());
    let server = TestServer::start(
        App::new()
            .provide(Jwt::new(SECRET).unwrap())
            .wrap_prefix("/things", BearerAuth::new(jwt))
            .mount(routes![things, healthz]),
    )
    .await;
    server.get("/things").await.assert_failure(401);
    assert_eq!(server.get("/healthz").await.status, 200);
    let reply = server
        .send(
            Method::GET,
            "/things",
            &[("authorization", &format!("Bearer {}", token("42", "user")))],
            None,
        )
        .await;
    assert_eq!(reply.body, "things");
}

fn limited(limit: RateLimit) -> App {
    App::new()
        .wrap(limit)
        .mount(routes![things, healthz, login])
}

#[tokio::test]
async fn the_seed_scenario_holds_with_ietf_headers() {
    let server = TestServer::start(limited(RateLimit::per_client(5, 2.0))).await;
    let first = server.get("/things").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("ratelimit-policy"), r#""default";q=5;w=3"#);
    assert_eq!(first.header("ratelimit"), r#""default";r=4;t=1"#);
    for _ in 2..=5 {
        assert_eq!(server.get("/things").await.status, 200);
    }
    let sixth = server.get("/things").await;
    assert_eq!(sixth.assert_failure(429), "too many requests; retry later");
    assert_eq!(sixth.header("retry-after"), "1");
    assert_eq!(sixth.header("ratelimit"), r#""default";r=0;t=3"#);
    assert_eq!(sixth.header("ratelimit-policy"), r#""default";q=5;w=3"#);
    // Health probes are never limited.
    for _ in 0..10 {
        assert_eq!(server.get("/healthz").await.status, 200);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        server.get("/things").await.status,
        200,
        "refilled after a second"
    );
}

#[tokio::test]
async fn a_stricter_policy_guards_login() {
    let server = TestServer::start(limited(
        RateLimit::per_client(100, 50.0).route("/login", "login", 2, 0.1),
    ))
    .await;
    for _ in 0..2 {
        let reply = server.send(Method::POST, "/login", &[], None).await;
        assert_eq!(reply.header("ratelimit-policy"), r#""login";q=2;w=20"#);
    }
    let refused = server.send(Method::POST, "/login", &[], None).await;
    refused.assert_failure(429);
    assert_eq!(refused.header("retry-after"), "10");
    assert_eq!(
        server.get("/things").await.status,
        200,
        "other routes have their own buckets"
    );
}

#[tokio::test]
async fn authenticated_clients_get_a_bucket_each() {
    let server = TestServer::start(limited(
        RateLimit::per_client(1, 0.01).authenticate_with(Arc::new(jwt())),
    ))
    .await;
    let alice = format!("Bearer {}", token("alice", "user"));
    let bob = format!("Bearer {}", token("bob", "user"));
    assert_eq!(
        server
            .send(Method::GET, "/things", &[("authorization", &alice)], None)
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .send(Method::GET, "/things", &[("authorization", &bob)], None)
            .await
            .status,
        200
    );
    server
        .send(Method::GET, "/things", &[("authorization", &alice)], None)
        .await
        .assert_failure(429);
    // The same address without a token is a third client.
    assert_eq!(server.get("/things").await.status, 200);
    server.get("/things").await.assert_failure(429);
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let untrusted = TestServer::start(limited(RateLimit::per_client(1, 0.01))).await;
    let xff = |ip: &'static str| [("x-forwarded-for", ip)];
    assert_eq!(
        untrusted
            .send(Method::GET, "/things", &xff("203.0.113.1"), None)
            .await
            .status,
        200
    );
    // Spoofing another address from an untrusted peer changes nothing.
    untrusted
        .send(Method::GET, "/things", &xff("203.0.113.2"), None)
        .await
        .assert_failure(429);

    let trusted = TestServer::start(limited(
        RateLimit::per_client(1, 0.01).trust_proxy("127.0.0.1".parse().unwrap()),
    ))
    .await;
    assert_eq!(
        trusted
            .send(Method::GET, "/things", &xff("203.0.113.1"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        trusted
            .send(Method::GET, "/things", &xff("203.0.113.2"), None)
            .await
            .status,
        200
    );
    trusted
        .send(
            Method::GET,
            "/things",
            &xff("198.51.100.7, 203.0.113.1"),
            None,
        )
        .await
        .assert_failure(429);
    let forwarded = [("forwarded", r#"for="[2001:db8::1]:4711";proto=https"#)];
    assert_eq!(
        trusted
            .send(Method::GET, "/things", &forwarded, None)
            .await
            .status,
        200
    );
    trusted
        .send(Method::GET, "/things", &forwarded, None)
        .await
        .assert_failure(429);
}

#[tokio::test]
async fn a_custom_key_function() {
    let limit = RateLimit::per_client(1, 0.01).key_fn(|request, _| {
        request
            .headers()
            .get("x-api-key")
            .and_then(|k| k.to_str().ok())
            .map(|k| ClientKey::Custom(k.to_owned()))
    });
    let server = TestServer::start(limited(limit)).await;
    assert_eq!(
        server
            .send(Method::GET, "/things", &[("x-api-key", "a")], None)
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .send(Method::GET, "/things", &[("x-api-key", "b")], None)
            .await
            .status,
        200
    );
    server
        .send(Method::GET, "/things", &[("x-api-key", "a")], None)
        .await
        .assert_failure(429);
}

#[test]
fn two_threads_on_one_key_never_get_more_than_capacity_plus_refill() {
    let store = Arc::new(MemoryStore::default());
    let policy = Arc::new(Policy::new("default", 5, 20.0));
    let key = ClientKey::Custom("shared".into());
    let started = Instant::now();
    let run_for = Duration::from_millis(500);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (store, policy, key) = (Arc::clone(&store), Arc::clone(&policy), key.clone());
            std::thread::spawn(move || {
                let mut allowed = 0u64;
                while started.elapsed() < run_for {
                    allowed += u64::from(store.check_now(&key, &policy).allowed);
                }
                allowed
            })
        })
        .collect();
    let allowed: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let elapsed = started.elapsed().as_secs_f64();
    let bound = 5.0 + 20.0 * elapsed;
    assert!(
        allowed as f64 <= bound + 1.0,
        "{allowed} allowed, bound {bound:.1}"
    );
    assert!(
        allowed as f64 >= 5.0 + 20.0 * 0.5 - 2.0,
        "and the refill is honoured: {allowed}"
    );
}

#[tokio::test]
async fn route_auth_trusts_only_claims_verified_under_its_own_rules() {
    // The rate limiter verifies tokens without an audience; the app's own
    // verifier requires one. A token without it must not reach `me`.
    let strict = Jwt::builder()
        .secret(SECRET)
        .audience("api")
        .build()
        .unwrap();
    let app = App::new()
        .wrap(RateLimit::per_client(100, 100.0).authenticate_with(Arc::new(jwt())))
        .provide(strict)
        .mount(routes![me]);
    let server = TestServer::start(app).await;
    let no_audience = format!("Bearer {}", token("mallory", "user"));
    server
        .send(Method::GET, "/me", &[("authorization", &no_audience)], None)
        .await
        .assert_failure(401);

    // A verifier with the same rules is trusted as it is.
    let same = App::new()
        .wrap(RateLimit::per_client(100, 100.0).authenticate_with(Arc::new(jwt())))
        .provide(jwt())
        .mount(routes![me]);
    let server = TestServer::start(same).await;
    let reply = server
        .send(Method::GET, "/me", &[("authorization", &no_audience)], None)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "mallory");
}

#[test]
fn a_policy_that_cannot_be_honoured_is_refused_with_its_reason() {
    use portico::ratelimit::PolicyError;
    assert_eq!(
        RateLimit::try_per_client(0, 1.0).unwrap_err(),
        PolicyError::ZeroCapacity
    );
    assert!(matches!(
        RateLimit::try_per_client(5, f64::NAN),
        Err(PolicyError::Refill(_))
    ));
    let slow = RateLimit::try_per_client(100, 0.000_000_001).unwrap_err();
    assert!(slow.to_string().contains("years to refill"), "{slow}");
    assert!(RateLimit::try_per_client(u32::MAX, 100.0).is_ok());
}

#[test]
fn the_largest_and_slowest_policies_count_without_overflow() {
    // A bucket that takes almost a century to fill, hammered: no overflow
    // (a debug build panics on one), the first request is let in.
    let slowest = Policy::try_new("slow", 3, 1.0 / (30.0 * 365.25 * 86_400.0)).unwrap();
    let widest = Policy::try_new("wide", u32::MAX, 1_000.0).unwrap();
    let store = MemoryStore::default();
    let key = ClientKey::Unknown;
    for policy in [&slowest, &widest] {
        assert!(store.check_now(&key, policy).allowed);
        for _ in 0..10 {
            store.check_now(&key, policy);
        }
    }
    assert!(!store.check_now(&key, &slowest).allowed);
}

#[tokio::test]
async fn only_the_exact_health_routes_are_exempt() {
    let server = TestServer::start(limited(RateLimit::per_client(1, 0.01))).await;
    for _ in 0..3 {
        assert_eq!(server.get("/healthz").await.status, 200);
    }
    // Under the exempt path, but not it: limited like any other.
    assert_ne!(server.get("/healthz/anything").await.status, 429);
    server.get("/healthz/anything").await.assert_failure(429);
}

#[tokio::test]
async fn ipv6_clients_are_keyed_by_their_64_bit_prefix() {
    let server = TestServer::start(limited(
        RateLimit::per_client(1, 0.01).trust_proxy("127.0.0.1".parse().unwrap()),
    ))
    .await;
    let status = |ip: &'static str| {
        let server = &server;
        async move {
            server
                .send(Method::GET, "/things", &xff(ip), None)
                .await
                .status
        }
    };
    assert_eq!(status("2001:db8:1:2::1").await, 200);
    // Another address of the same /64 is the same client.
    assert_eq!(status("2001:db8:1:2:ffff::9").await, 429);
    // The next /64 is another client; an IPv4-mapped address is IPv4.
    assert_eq!(status("2001:db8:1:3::1").await, 200);
    assert_eq!(status("::ffff:203.0.113.9").await, 200);
    assert_eq!(status("203.0.113.9").await, 429);

    let per_address = TestServer::start(limited(
        RateLimit::per_client(1, 0.01)
            .trust_proxy("127.0.0.1".parse().unwrap())
            .ipv6_prefix(128),
    ))
    .await;
    for ip in ["2001:db8::1", "2001:db8::2"] {
        let reply = per_address
            .send(Method::GET, "/things", &xff(ip), None)
            .await;
        assert_eq!(reply.status, 200, "{ip} is a client of its own");
    }
}

fn xff(ip: &'static str) -> [(&'static str, &'static str); 1] {
    [("x-forwarded-for", ip)]
}

fn token_with(claims: serde_json::Value) -> String {
    format!("Bearer {}", signed(claims))
}

/// `DELETE /things/7` (an admin route) with a token carrying `claims`.
async fn delete_thing_as(server: &TestServer, claims: serde_json::Value) -> common::Reply {
    let bearer = token_with(claims);
    server
        .send(
            Method::DELETE,
            "/things/7",
            &[("authorization", &bearer)],
            None,
        )
        .await
}

#[tokio::test]
async fn a_role_is_read_from_role_roles_or_an_oauth_scope() {
    let server = auth_server().await;
    let granted = [
        json!({"sub": "1", "role": "admin"}),
        json!({"sub": "1", "role": ["user", "admin"]}),
        json!({"sub": "1", "roles": "admin"}),
        json!({"sub": "1", "roles": ["admin"]}),
        json!({"sub": "1", "scope": "read:things admin"}),
    ];
    for claims in granted {
        let reply = delete_thing_as(&server, claims.clone()).await;
        assert_eq!(reply.status, 200, "{claims}");
    }
    let refused = [
        json!({"sub": "1", "role": "administrator"}),
        json!({"sub": "1", "scope": "read:things administrator"}),
        json!({"sub": "1", "role": {"name": "admin"}}),
    ];
    for claims in refused {
        let reply = delete_thing_as(&server, claims.clone()).await;
        reply.assert_failure(403);
    }
}

#[tokio::test]
async fn claims_the_handler_cannot_read_are_a_401_invalid_token() {
    let server = auth_server().await;
    // `me` reads `Claims<Who>`, whose `sub` is a string.
    let bearer = token_with(json!({"sub": 42}));
    let reply = server
        .send(Method::GET, "/me", &[("authorization", &bearer)], None)
        .await;
    reply.assert_failure(401);
    assert_eq!(
        reply.header("www-authenticate"),
        r#"Bearer error="invalid_token""#
    );
}
