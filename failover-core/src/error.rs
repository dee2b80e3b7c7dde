//! Errors of the ports. Concrete enums, so `dyn` ports work and callers can match; each has
//! `is_transient()` so policy decides retries from data, never from message text.

use std::path::PathBuf;
use std::time::Duration;

use crate::ids::{AccountId, ClaudeSessionId, SessionId};

/// A boxed error from an implementation, kept as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A [`SessionBackend`](crate::SessionBackend) failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend (e.g. the tmux server) is not running or not reachable.
    #[error("session backend unavailable: {reason}")]
    Unavailable {
        /// What was tried and what happened.
        reason: String,
    },
    /// An operation took longer than its deadline.
    #[error("{op} timed out after {after:?}")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The deadline it missed.
        after: Duration,
    },
    /// No such session.
    #[error("no session named {0}")]
    SessionNotFound(SessionId),
    /// A session of that name already runs.
    #[error("session {0} already exists")]
    SessionExists(SessionId),
    /// A resume was asked for, but the transcript is not where the target account would
    /// look for it: resuming would silently start a blank conversation.
    #[error("transcript of {claude_session} not found for account {account} at {path}")]
    TranscriptMissing {
        /// The conversation.
        claude_session: ClaudeSessionId,
        /// The account it was to resume on.
        account: AccountId,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The session's working directory does not exist.
    #[error("working directory {0} does not exist")]
    DirMissing(PathBuf),
    /// Input was sent but the session did not take it.
    #[error("session {session} did not accept input: {reason}")]
    InputRejected {
        /// The session.
        session: SessionId,
        /// What was seen.
        reason: String,
    },
    /// The session's input box holds text typed but not sent (a person's draft, or another
    /// prompt): typing would add to it and Enter would send both, so nothing was typed.
    /// Retry once the box is empty.
    #[error(
        "session {session} has a draft of {chars} characters in its input box; nothing was typed"
    )]
    DraftInInputBox {
        /// The session.
        session: SessionId,
        /// The draft's length (its text is the person's and is not repeated here).
        chars: usize,
    },
    /// A command the backend ran failed.
    #[error("{op} failed: {detail}")]
    Command {
        /// The operation.
        op: &'static str,
        /// Its error output or status.
        detail: String,
    },
    /// Anything else.
    #[error(transparent)]
    Other(BoxError),
}

impl BackendError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. }
                | Self::Timeout { .. }
                | Self::InputRejected { .. }
                | Self::DraftInInputBox { .. }
        )
    }
}

/// A [`Checkpointer`](crate::Checkpointer) failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing the store failed.
    #[error("checkpoint store I/O at {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A stored record could not be understood.
    #[error("checkpoint record {path} is corrupt: {reason}")]
    Corrupt {
        /// The record.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A record from a newer version.
    #[error("checkpoint record {path} has unsupported schema version {version}")]
    UnsupportedVersion {
        /// The record.
        path: PathBuf,
        /// Its version.
        version: u32,
    },
    /// An operation took longer than its deadline (an embedder's own time limit).
    #[error("{op} timed out after {after:?}")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The deadline it missed.
        after: Duration,
    },
    /// Anything else.
    #[error(transparent)]
    Other(BoxError),
}

impl CheckpointError {
    /// Whether retrying later may succeed (I/O and a timeout may; a corrupt record will not).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Io { .. } | Self::Timeout { .. })
    }
}

/// A [`Notifier`](crate::Notifier) failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The channel could not be reached, or answered with a retryable status.
    #[error("notification channel {channel} unavailable: {reason}")]
    Unavailable {
        /// Which channel (`telegram`, `webhook`, ...).
        channel: String,
        /// What happened.
        reason: String,
    },
    /// The channel refused the notification for good (bad token, bad chat id, 4xx).
    #[error("notification channel {channel} rejected the message: {reason}")]
    Rejected {
        /// Which channel.
        channel: String,
        /// What it said.
        reason: String,
    },
    /// Anything else.
    #[error(transparent)]
    Other(BoxError),
}

impl NotifyError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}
