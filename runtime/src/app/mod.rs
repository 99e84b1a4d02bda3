//! The application builder: routes, dependencies and configuration in,
//! a verified [`Service`] out.

mod service;

pub use service::Service;

use std::fmt;
use std::net::SocketAddr;

use crate::extract::Deps;
use crate::handler::Route;
use crate::router::{InsertError, PatternError, Router};
use crate::server::Server;

/// Default largest request body a body extractor reads: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// State every request can see.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) body_limit: usize,
    pub(crate) deps: Deps,
}

/// A Portico application under construction.
///
/// ```no_run
/// # async fn run(routes: Vec<portico_runtime::handler::Route>) -> Result<(), portico_runtime::Error> {
/// use portico_runtime::App;
///
/// App::new().mount(routes).serve("127.0.0.1:8080").await
/// # }
/// ```
#[derive(Debug)]
#[must_use = "an App does nothing until it is built or served"]
pub struct App {
    routes: Vec<Route>,
    body_limit: usize,
    deps: Deps,
}

impl Default for App {
    fn default() -> Self {
        App {
            routes: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            deps: Deps::default(),
        }
    }
}

impl App {
    /// An app with no routes and the default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds routes, usually `routes![a, b, c]`. Routes keep the order in
    /// which they were mounted.
    pub fn mount(mut self, routes: impl IntoIterator<Item = Route>) -> Self {
        self.routes.extend(routes);
        self
    }

    /// Registers a value that handlers receive as `Dep<T>`.
    pub fn provide<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.deps.insert(value);
        self
    }

    /// The largest request body, in bytes, that `Json`, `Bytes` and
    /// `String` read; a larger one is a 413. Default: 1 MiB.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The route registry in registration order; its `Display` prints one
    /// `GET /users -> list_users` line per route.
    pub fn routes(&self) -> RouteTable<'_> {
        RouteTable(&self.routes)
    }

    /// Checks everything that can be checked before serving — every route
    /// pattern and every pair of routes that could never be told apart —
    /// and compiles the router. All problems are reported together.
    pub fn build(self) -> Result<Service, BuildError> {
        let mut router = Router::new();
        let mut problems = Vec::new();
        for (index, route) in self.routes.iter().enumerate() {
            match router.insert(route.method().clone(), route.path(), index) {
                Ok(()) => {}
                Err(InsertError::Pattern(error)) => problems.push(BuildProblem::Pattern {
                    route: route.to_string(),
                    error,
                }),
                Err(InsertError::UnsupportedMethod(_)) => {
                    problems.push(BuildProblem::UnsupportedMethod(route.to_string()))
                }
                Err(InsertError::Conflict { existing, .. }) => {
                    problems.push(BuildProblem::Conflict {
                        first: self.routes[existing].to_string(),
                        second: route.to_string(),
                    })
                }
            }
        }
        if !problems.is_empty() {
            return Err(BuildError { problems });
        }
        Ok(Service::new(
            router,
            self.routes,
            Shared {
                body_limit: self.body_limit,
                deps: self.deps,
            },
        ))
    }

    /// Builds the app and binds a listener (port 0 picks a free port; the
    /// bound address is `Server::local_addr`).
    pub async fn bind(self, addr: impl tokio::net::ToSocketAddrs) -> Result<Server, crate::Error> {
        let service = self.build()?;
        Server::bind(service, addr).await
    }

    /// Builds, binds and serves until SIGINT or SIGTERM, then shuts down
    /// gracefully.
    pub async fn serve(self, addr: impl tokio::net::ToSocketAddrs) -> Result<(), crate::Error> {
        let server = self.bind(addr).await?;
        tracing::info!(addr = %server.local_addr(), "portico listening");
        server.run().await
    }
}

/// The route registry of an app, printed one route per line.
#[derive(Debug, Clone, Copy)]
pub struct RouteTable<'a>(&'a [Route]);

impl<'a> RouteTable<'a> {
    /// The routes, in registration order.
    pub fn iter(&self) -> std::slice::Iter<'a, Route> {
        self.0.iter()
    }
}

impl fmt::Display for RouteTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for route in self.0 {
            writeln!(f, "{route}")?;
        }
        Ok(())
    }
}

/// Everything wrong with an app, found by [`App::build`].
#[derive(Debug, thiserror::Error)]
#[error("the app cannot be built:{}", self.problems.iter().map(|p| format!("\n  - {p}")).collect::<String>())]
pub struct BuildError {
    problems: Vec<BuildProblem>,
}

impl BuildError {
    /// Each problem found.
    pub fn problems(&self) -> &[BuildProblem] {
        &self.problems
    }
}

/// One problem found when building an app.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildProblem {
    /// A route's path pattern is malformed.
    #[error("route `{route}`: {error}")]
    Pattern {
        /// The route.
        route: String,
        /// What is wrong with its path.
        error: PatternError,
    },
    /// A route uses a method the router cannot serve.
    #[error("route `{0}`: only GET POST PUT PATCH DELETE HEAD OPTIONS can be routed")]
    UnsupportedMethod(String),
    /// Two routes answer the same method on the same path shape.
    #[error(
        "routes `{first}` and `{second}` can never be told apart: same method, same path shape"
    )]
    Conflict {
        /// The route registered first.
        first: String,
        /// The route registered second.
        second: String,
    },
}

/// A server address from the environment, for example
/// `addr_from_env("PORTICO_ADDR", "127.0.0.1:8080")`.
pub fn addr_from_env(var: &str, default: &str) -> Result<SocketAddr, crate::Error> {
    let text = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    text.parse().map_err(|_| crate::Error::Config {
        name: var.to_owned(),
        message: format!("`{text}` is not a socket address such as 127.0.0.1:8080"),
    })
}
