//! Portico: a declarative web API framework.
//!
//! Declare a route, the request types it takes and the dependencies it
//! needs; get a production service with one JSON envelope,
//! `{success, data, error, meta}`, for every response.
//!
//! ```no_run
//! use std::sync::Mutex;
//!
//! use portico::prelude::*;
//!
//! #[derive(Clone, Serialize)]
//! struct User { id: i64, name: String }
//!
//! #[derive(Deserialize, Validate)]
//! struct NewUser {
//!     #[validate(length(min = 1, max = 100))]
//!     name: String,
//! }
//!
//! #[derive(Default)]
//! struct Store(Mutex<Vec<User>>);
//!
//! #[inject]
//! struct Users {
//!     store: Dep<Store>,
//! }
//!
//! #[route(GET, "/users/<id>")]
//! async fn get_user(id: i64, users: Users) -> Result<ApiResponse<User>, ApiError> {
//!     let found = users.store.0.lock().unwrap().iter().find(|u| u.id == id).cloned();
//!     found.map(ApiResponse::ok).ok_or(ApiError::not_found("no such user"))
//! }
//!
//! #[route(POST, "/users")]
//! async fn create_user(body: Json<NewUser>, users: Users) -> Created<ApiResponse<User>> {
//!     // An invalid body never gets here: it is a 422 listing every field.
//!     let mut all = users.store.0.lock().unwrap();
//!     let user = User { id: all.len() as i64 + 1, name: body.0.name };
//!     all.push(user.clone());
//!     Created::new(ApiResponse::ok(user))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), portico::Error> {
//!     App::new()
//!         .provide(Store::default())
//!         .mount(routes![get_user, create_user])
//!         .serve("127.0.0.1:8080")
//!         .await
//! }
//! ```
//!
//! # `#[route(METHOD, "path")]`
//!
//! ```text
//! #[route(METHOD, "PATH")]                  on an async fn (or a plain fn)
//! #[route(METHOD, "PATH", role = "ROLE")]   the same, behind a role
//!
//! METHOD   GET | POST | PUT | PATCH | DELETE | HEAD | OPTIONS
//! PATH     "/" | ("/" SEGMENT)+             no empty segment, no trailing "/"
//! SEGMENT  literal text                     matches itself exactly
//!        | "<" NAME ">"                     one non-empty segment, percent-decoded
//!        | "<" NAME "..>"                   the rest of the path (last segment only)
//! NAME     an ASCII identifier, once per path, at most 16 per path
//! ```
//!
//! Every `<name>` must be an argument of the fn of that name, parsed with
//! [`FromParam`] (a value that does not parse is a 400 naming the
//! parameter); every other argument is an extractor ([`FromRequest`]),
//! run in argument order, at most one of them reading the body. A literal
//! segment wins over a parameter at the same place; two routes that no
//! request could tell apart fail `App::build`. A `GET` route also answers
//! `HEAD`; `OPTIONS` lists the allowed methods. The fn stays an ordinary
//! fn you can call in a unit test; a plain (non-`async`) fn is called in
//! place on the server's async thread, so it must not block — keep it for
//! quick work, and use `tokio::task::spawn_blocking` for anything slow.
//!
//! `role = "admin"` requires a valid bearer token (401 without one) that
//! grants the role (403 otherwise): a `role` or `roles` claim that is the
//! string or an array holding it, or an OAuth `scope` listing it. Mistakes
//! are compile errors at the offending token.
//!
//! # `#[derive(Validate)]`
//!
//! Field rules in the `validator` crate's syntax (`length`, `range`,
//! `email`, `url`, `regex`, `must_match`, `custom`, `nested`, …). A
//! `Json<T>` or `Query<T>` argument whose `T` derives it is validated
//! before the handler runs; a failure is a 422 whose `error.fields` lists
//! every failing field. On an `Option<T>` field the rules check the value
//! when there is one — an absent field passes — and `required` makes the
//! field itself mandatory.
//!
//! # `#[inject]`
//!
//! On a struct, builds it from its `Dep<T>` fields; on a fn, checks that
//! every argument is injectable so it can be a provider. `App::build`
//! (and `App::verify`) check the whole dependency graph before a port is
//! bound: missing dependencies, cycles, singletons needing request-scoped
//! values — all reported at once.
//!
//! # Responses
//!
//! Return anything that implements [`IntoResponse`]: [`ApiResponse`] (the
//! envelope), [`ApiError`], `Result` of those, [`Json`], [`Created`],
//! strings, bytes, `StatusCode`. Requests the framework refuses itself
//! (no route 404, wrong method 405 with `Allow`, bad parameter 400, wrong
//! content type 415, body too large 413, malformed JSON 400, wrong JSON
//! shape 422, a panicking handler 500) get the same envelope.
//!
//! # Listing in pages
//!
//! [`Page`] reads `?page=&page_size=` (answer with [`Page::respond`], the
//! seed's `{total, page, page_size, pages}` meta); [`Cursor`] reads
//! `?limit=&after=` / `&before=` with signed, opaque cursors and answers
//! with [`Cursor::page`]: `meta.next` / `meta.prev` and a `Link` header,
//! at a cost that does not grow with the page's depth. Both are bounded
//! by [`Paging`], set with `App::paging`.
//!
//! # Background work and safe retries
//!
//! [`queue`]: a durable task queue (memory, SQLite, PostgreSQL) whose
//! tasks take injected dependencies, with retries, schedules, unique keys
//! and status, run by workers added with `App::workers`; delivery is at
//! least once. [`idempotency`]: the `Idempotency-Key` layer, which answers
//! a retried request with the first answer instead of running it again.
//! [`cache`]: the single-flight TTL cache under it, for handlers too.
//!
//! # Testing
//!
//! [`testing::TestClient`] sends requests to an app without a socket.

pub use portico_macros::{Validate, inject, route, routes};
pub use portico_runtime::app::{App, RouteTable};
pub use portico_runtime::auth::{Claims, Jwt};
pub use portico_runtime::body::Body;
pub use portico_runtime::extract::{
    Cursor, Extension, FromParam, FromRequest, Json, Page, Paging, Position, Query, RequestContext,
};
pub use portico_runtime::inject::{Container, Dep, Inject};
pub use portico_runtime::response::{
    ApiError, ApiResponse, Created, CursorMeta, IntoResponse, Meta, Rejection, Rendered, Response,
};
pub use portico_runtime::server::{Server, ServerConfig, shutdown_signal};
pub use portico_runtime::service::Service;
pub use portico_runtime::validate::{
    Patch, Validate, Validated, ValidationError, ValidationErrors,
};
pub use portico_runtime::{BuildError, BuildProblem, Route, Shutdown};
pub use portico_runtime::{
    Error, auth, cache, caching, docs, health, idempotency, inject, metrics, middleware, openapi,
    pool, queue, ratelimit, telemetry, testing, trace, validate,
};

/// Re-exports of the crates Portico's API is made of.
pub use portico_runtime::http;

/// Everything a handler module usually needs: `use portico::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ApiError, ApiResponse, App, Claims, Created, Cursor, Dep, Extension, FromParam,
        FromRequest, IntoResponse, Json, Page, Patch, Position, Query, Validate, ValidationError,
        inject, route, routes,
    };
    pub use portico_runtime::http::StatusCode;
    pub use portico_runtime::openapi::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}

/// What the macros' generated code names. Not public API; the version in
/// the name ties `portico-macros` to this exact `portico`.
#[doc(hidden)]
pub mod __private_0_1_0 {
    pub use portico_runtime::__private::*;
}

/// The README's Rust blocks, compiled and run as doctests so that what a
/// new user copies from it builds.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
