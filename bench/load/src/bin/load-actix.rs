//! actix-web with its usual crates: actix middleware (logger-style
//! tracing, request id), jsonwebtoken, actix-governor. Per request in (e):
//! a counter id, a span at INFO carrying it, one INFO line, rate-limit
//! headers.

use actix_web::dev::Service;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use portico_load::{Message, NewUser, SECRET, TokenClaims, UserId};
use validator::Validate;

async fn create(user: web::Json<NewUser>) -> HttpResponse {
    match user.validate() {
        Ok(()) => HttpResponse::Created().json(user.into_inner()),
        Err(_) => HttpResponse::UnprocessableEntity().finish(),
    }
}

struct Keys {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

async fn secure_user(
    request: HttpRequest,
    id: web::Path<u64>,
    keys: web::Data<Keys>,
) -> HttpResponse {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.map(|t| jsonwebtoken::decode::<TokenClaims>(t, &keys.key, &keys.validation)) {
        Some(Ok(_)) => HttpResponse::Ok().json(UserId {
            id: id.into_inner(),
        }),
        _ => HttpResponse::new(StatusCode::UNAUTHORIZED),
    }
}

fn main() -> std::io::Result<()> {
    portico_load::null_logging();
    let port = portico_load::port();
    actix_web::rt::System::new().block_on(async move {
        let governor = actix_governor::GovernorConfigBuilder::default()
            .seconds_per_request(1)
            .burst_size(u32::MAX)
            .use_headers()
            .finish()
            .expect("governor config");
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        HttpServer::new(move || {
            let counter = counter.clone();
            let keys = web::Data::new(Keys {
                key: jsonwebtoken::DecodingKey::from_secret(SECRET),
                validation: jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
            });
            App::new()
                .app_data(keys)
                // Portico's security defaults on every answer (the same work).
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add(("x-content-type-options", "nosniff"))
                        .add(("cache-control", "no-store")),
                )
                .route("/plaintext", web::get().to(|| async { "Hello, World!" }))
                .route(
                    "/json",
                    web::get().to(|| async {
                        HttpResponse::Ok().json(Message {
                            message: "Hello, World!",
                        })
                    }),
                )
                .route(
                    "/users/{id}",
                    web::get().to(|id: web::Path<u64>| async move {
                        HttpResponse::Ok().json(UserId {
                            id: id.into_inner(),
                        })
                    }),
                )
                .route("/users", web::post().to(create))
                .service(
                    web::scope("/secure")
                        .wrap(actix_governor::Governor::new(&governor))
                        .wrap_fn(move |request, service| {
                            let started = std::time::Instant::now();
                            let id = request
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                                .unwrap_or_else(|| {
                                    counter
                                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                                        .to_string()
                                });
                            let path = request.path().to_owned();
                            // The request's span, as Portico's `RequestId` opens.
                            let span = tracing::info_span!(
                                "request",
                                request_id = id.as_str(),
                                route = "/secure/users/{id}"
                            );
                            let future =
                                tracing::Instrument::instrument(service.call(request), span);
                            async move {
                                let mut response = future.await?;
                                response.headers_mut().insert(
                                    actix_web::http::header::HeaderName::from_static(
                                        "x-request-id",
                                    ),
                                    actix_web::http::header::HeaderValue::from_str(&id)
                                        .expect("header"),
                                );
                                tracing::info!(
                                    method = "GET",
                                    path,
                                    status = response.status().as_u16(),
                                    latency_us = started.elapsed().as_micros() as u64,
                                    request_id = id,
                                    "request"
                                );
                                Ok(response)
                            }
                        })
                        .route("/users/{id}", web::get().to(secure_user)),
                )
        })
        .workers(1)
        .bind(("127.0.0.1", port))?
        .run()
        .await
    })
}
