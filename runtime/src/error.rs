//! What can go wrong building, configuring or serving an app: [`Error`],
//! and the problems [`BuildError`] lists.

use crate::inject::InjectProblem;
use crate::router::PatternError;

/// An error from building, configuring or serving an app.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The app failed its checks.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The listener could not be bound.
    #[error("cannot bind the listener: {0}")]
    Bind(#[source] std::io::Error),
    /// The shutdown signal handlers could not be installed.
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signals(#[source] std::io::Error),
    /// A setting has a value that cannot be used.
    #[error("setting {name}: {message}")]
    Config {
        /// The setting (an environment variable, a builder option).
        name: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Everything wrong with an app, found by `App::build`.
#[derive(Debug, thiserror::Error)]
#[error("the app cannot be built:{}", self.problems.iter().map(|p| format!("\n  - {p}")).collect::<String>())]
pub struct BuildError {
    pub(crate) problems: Vec<BuildProblem>,
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
    /// A problem with the dependencies.
    #[error(transparent)]
    Inject(InjectProblem),
    /// A task needs a request-scoped value: a task runs outside any request.
    #[error("task `{task}` needs a request-scoped dependency; a task runs outside any request")]
    TaskNeedsRequest {
        /// The task's name.
        task: String,
    },
}
