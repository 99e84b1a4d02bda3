//! `Error`: what can go wrong building, configuring or serving an app.

use crate::app::BuildError;

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
