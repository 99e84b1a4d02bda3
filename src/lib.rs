//! Portico: a declarative web API framework.
//!
//! Declare a route, the request types it takes and the dependencies it
//! needs; get a production service with one JSON envelope,
//! `{success, data, error, meta}`, for every response.
//!
//! ```no_run
//! use portico::prelude::*;
//!
//! #[derive(Serialize)]
//! struct User { id: i64, name: String }
//!
//! #[route(GET, "/users/<id>")]
//! async fn get_user(id: i64) -> Result<ApiResponse<User>, ApiError> {
//!     match id {
//!         1 => Ok(ApiResponse::ok(User { id, name: "Alice".into() })),
//!         _ => Err(ApiError::not_found("no such user")),
//!     }
//! }
//!
//! #[route(POST, "/echo")]
//! async fn echo(body: Json<serde_json::Value>) -> Created<ApiResponse<serde_json::Value>> {
//!     Created::new(ApiResponse::ok(body.0))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), portico::Error> {
//!     App::new().mount(routes![get_user, echo]).serve("127.0.0.1:8080").await
//! }
//! ```
//!
//! # `#[route(METHOD, "path")]`
//!
//! `METHOD` is one of `GET POST PUT PATCH DELETE HEAD OPTIONS`. In the
//! path, `<name>` is one segment and `<name..>` the rest of the path (last
//! segment only). Every `<name>` must be an argument of the fn of that
//! name, parsed with [`FromParam`]; every other argument is an extractor
//! ([`FromRequest`]). The fn stays an ordinary fn you can call in a unit
//! test. Mistakes are compile errors at the offending token.
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
//! # Testing
//!
//! [`testing::TestClient`] sends requests to an app without a socket.

pub use portico_macros::{Validate, inject, route, routes};
pub use portico_runtime::app::{App, BuildError, BuildProblem, RouteTable, Service, addr_from_env};
pub use portico_runtime::auth::{Claims, Jwt};
pub use portico_runtime::body::Body;
pub use portico_runtime::extract::{
    Extension, FromParam, FromRequest, Json, Query, RequestContext,
};
pub use portico_runtime::handler::Route;
pub use portico_runtime::inject::{Container, Dep, Inject};
pub use portico_runtime::response::{
    ApiError, ApiResponse, Created, IntoResponse, Meta, Rejection, Response,
};
pub use portico_runtime::server::{Server, ServerConfig, Shutdown, shutdown_signal};
pub use portico_runtime::validate::{Validate, Validated, ValidationError, ValidationErrors};
pub use portico_runtime::{
    Error, auth, health, inject, middleware, pool, ratelimit, router, testing, validate,
};

/// Re-exports of the crates Portico's API is made of.
pub use portico_runtime::http;

/// Everything a handler module usually needs: `use portico::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ApiError, ApiResponse, App, Claims, Created, Dep, Extension, FromParam, FromRequest,
        IntoResponse, Json, Query, Validate, ValidationError, inject, route, routes,
    };
    pub use portico_runtime::http::StatusCode;
    pub use serde::{Deserialize, Serialize};
}

#[doc(hidden)]
pub mod __private {
    pub use portico_runtime::__private::*;
}
