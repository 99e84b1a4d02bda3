//! The runtime of Portico: everything that runs.
//!
//! Users depend on the `portico` facade, which re-exports this crate
//! beside the macros; this crate never depends on the macros.
//!
//! # Module order
//!
//! A request flows one way — server → service (global middleware →
//! route step → route middleware → handler step) → back out — and the
//! modules depend one way too. Each line may use only the lines above
//! it; `tests/layers.rs` reads this list and fails on any `crate::` path
//! that points down it, so the list is the rule, not a picture of it.
//!
//! <!-- layers:begin -->
//! ```text
//! metrics, trace
//! body, cache, shutdown, pool, text
//! router, validate, inject
//! error
//! openapi
//! response
//! extract
//! handler
//! caching
//! service
//! middleware, auth, health, docs
//! ratelimit
//! idempotency, queue
//! telemetry
//! server
//! app
//! testing
//! ```
//! <!-- layers:end -->
//!
//! - `inject` knows of a request only the [`inject::RequestHead`] it defines.
//! - `response` sits below `extract` because an extractor names the
//!   response its rejection becomes.
//! - `openapi` sits below `response` and `extract`, which describe
//!   themselves in its words ([`openapi::Describe`],
//!   [`openapi::DescribeResponse`]); `docs`, which puts the document
//!   together from the routes and layers and serves it, sits with `health`.
//! - `metrics` and `trace` sit lowest: every part counts with the one
//!   and is traced with the other; `telemetry`, which reads every part's
//!   figures at a scrape (and pushes them over OTLP), sits above them all
//!   but `server`, whose counters live in `metrics` for that reason.
//! - `server` serves any [`service::Service`]; it knows nothing of `App`,
//!   whose `bind` and `serve` are conveniences over it.
//! - The macro support module (`__private`) may use every module.

#![deny(missing_docs)]

pub mod app;
pub mod auth;
pub mod body;
pub mod cache;
pub mod caching;
pub mod docs;
mod error;
pub mod extract;
mod handler;
pub mod health;
pub mod idempotency;
pub mod inject;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod pool;
pub mod queue;
pub mod ratelimit;
pub mod response;
// Public only for the router benchmark; users never name it.
#[doc(hidden)]
pub mod router;
pub mod server;
pub mod service;
mod shutdown;
pub mod telemetry;
pub mod testing;
mod text;
pub mod trace;
pub mod validate;

pub use app::App;
pub use body::Body;
pub use error::{BuildError, BuildProblem, Error};
pub use handler::Route;
pub use http;
pub use shutdown::{Hold, Shutdown};

#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;
