//! Errors of this crate, and how they map onto the core port errors.

use std::path::PathBuf;
use std::time::Duration;

use failover_core::{BackendError, CheckpointError, SessionId};

/// A failed tmux invocation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TmuxError {
    /// The `tmux` program could not be started, or its pipes failed.
    #[error("could not run tmux for {op}: {source}")]
    Spawn {
        /// The operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// tmux did not answer before the deadline (a hung or stopped server).
    #[error("tmux {op} timed out after {after:?}")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The deadline it missed.
        after: Duration,
    },
    /// No tmux server listens on the socket (never started, killed, or exited).
    #[error("no tmux server on {socket} ({op}): {stderr}")]
    ServerDown {
        /// The operation.
        op: &'static str,
        /// The socket, as `-L name` or `-S path`.
        socket: String,
        /// What tmux said.
        stderr: String,
    },
    /// The target session does not exist.
    #[error("tmux {op}: no session {session}")]
    NoSession {
        /// The operation.
        op: &'static str,
        /// The session.
        session: SessionId,
    },
    /// A session of that name already exists.
    #[error("tmux {op}: session {session} already exists")]
    DuplicateSession {
        /// The operation.
        op: &'static str,
        /// The session.
        session: SessionId,
    },
    /// A name tmux would mangle (tmux turns `.` and `:` into `_`) or a shell could misread.
    #[error("{what} {value:?} is not allowed: {why}")]
    InvalidName {
        /// What kind of name.
        what: &'static str,
        /// The name.
        value: String,
        /// Which characters are allowed.
        why: &'static str,
    },
    /// tmux ran and failed for another reason.
    #[error("tmux {op} exited with status {status:?}: {stderr}")]
    NonZeroExit {
        /// The operation.
        op: &'static str,
        /// Its exit status (`None`: killed by a signal).
        status: Option<i32>,
        /// Its error output.
        stderr: String,
    },
    /// tmux answered with something the parser does not understand.
    #[error("could not parse tmux {op} output {line:?}")]
    Parse {
        /// The operation.
        op: &'static str,
        /// The offending line.
        line: String,
    },
}

impl TmuxError {
    /// Whether the error says the tmux server is gone.
    pub fn is_server_down(&self) -> bool {
        matches!(self, Self::ServerDown { .. })
    }
}

impl From<TmuxError> for BackendError {
    fn from(e: TmuxError) -> Self {
        match e {
            TmuxError::Spawn { .. } | TmuxError::ServerDown { .. } => BackendError::Unavailable {
                reason: e.to_string(),
            },
            TmuxError::Timeout { op, after } => BackendError::Timeout { op, after },
            TmuxError::NoSession { session, .. } => BackendError::SessionNotFound(session),
            TmuxError::DuplicateSession { session, .. } => BackendError::SessionExists(session),
            TmuxError::InvalidName { what, .. } => BackendError::Command {
                op: what,
                detail: e.to_string(),
            },
            TmuxError::NonZeroExit { op, .. } | TmuxError::Parse { op, .. } => {
                BackendError::Command {
                    op,
                    detail: e.to_string(),
                }
            }
        }
    }
}

/// A failure of the file-system side: account homes, statusline install, watchers,
/// checkpoints.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// An I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content could not be understood (e.g. `settings.json` is not a JSON object).
    #[error("{path} is not usable: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An account's `projects` is a link to somewhere other than the shared tree; it is
    /// left alone rather than guessed at.
    #[error("{path} links to {target}, not to the shared projects tree {shared}")]
    ForeignLink {
        /// The account's `projects`.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
        /// The shared tree.
        shared: PathBuf,
    },
    /// The file-system watcher could not be set up.
    #[error("watching {path}: {source}")]
    Watch {
        /// The watched path.
        path: PathBuf,
        /// The watcher error.
        #[source]
        source: notify::Error,
    },
    /// A blocking task panicked or was cancelled.
    #[error("background file task failed: {0}")]
    Join(String),
}

impl FsError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }
}

impl From<FsError> for CheckpointError {
    fn from(e: FsError) -> Self {
        match e {
            FsError::Io { path, source, .. } => CheckpointError::Io { path, source },
            FsError::Invalid { path, reason } => CheckpointError::Corrupt { path, reason },
            other => CheckpointError::Other(Box::new(other)),
        }
    }
}

/// A failure of an observer task.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// tmux failed.
    #[error(transparent)]
    Tmux(#[from] TmuxError),
    /// The file system or watcher failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}
