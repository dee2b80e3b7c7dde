//! [`DaemonError`]: the failures that end [`run`](crate::run). Everything else a task meets
//! is reported to the engine as an [`Input`](failover_core::Input), logged, or counted.

use std::path::PathBuf;

use crate::config::ConfigFileError;
use crate::state_store::StateError;

/// A critical failure: the daemon cannot (or can no longer) do its job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigFileError),
    /// The engine refused the configuration.
    #[error("the engine refused the configuration: {0}")]
    Engine(#[from] failover_core::ConfigError),
    /// The state file could not be read, or could not be set aside, or is from a newer version.
    #[error(transparent)]
    State(#[from] StateError),
    /// Another daemon already serves the control socket.
    #[error("another daemon is already listening on {0}; stop it first")]
    AlreadyRunning(PathBuf),
    /// A listener could not be set up.
    #[error("control plane: {what} {path}: {source}")]
    Listen {
        /// What was being done.
        what: &'static str,
        /// The socket path or address.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The TCP listener has no usable token.
    #[error("refusing to listen on TCP {addr}: {reason}")]
    TcpWithoutToken {
        /// The address.
        addr: String,
        /// Why the token is missing or unusable.
        reason: String,
    },
    /// A notifier could not be built from its settings.
    #[error("notifier {channel}: {reason}")]
    Notifier {
        /// Which channel.
        channel: &'static str,
        /// Why.
        reason: String,
    },
    /// A task ended with a critical error.
    #[error("task {task} failed: {reason}")]
    Task {
        /// Which task.
        task: &'static str,
        /// Why.
        reason: String,
    },
    /// A task panicked.
    #[error("task panicked: {0}")]
    Panic(String),
}
