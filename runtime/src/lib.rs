//! The runtime of Portico: everything that runs.
//!
//! Users depend on the `portico` facade, which re-exports this crate
//! beside the macros; this crate never depends on the macros.

#![deny(missing_docs)]

pub mod app;
pub mod auth;
pub mod body;
mod error;
pub mod extract;
pub mod handler;
pub mod health;
pub mod inject;
pub mod middleware;
pub mod pool;
pub mod ratelimit;
pub mod response;
pub mod router;
pub mod server;
pub mod testing;
pub mod validate;

pub use app::App;
pub use body::Body;
pub use error::Error;
pub use http;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
