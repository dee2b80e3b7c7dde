//! The [`SessionBackend`] port: where sessions actually run (tmux, in `failover-tmux`).

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::BackendError;
use crate::ids::{AccountId, ClaudeSessionId, SessionId};

/// Everything needed to start (or resume) one session on one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchRequest {
    /// The session.
    pub session: SessionId,
    /// Its working directory.
    pub dir: PathBuf,
    /// The account to run on.
    pub account: AccountId,
    /// That account's `CLAUDE_CONFIG_DIR`.
    pub config_dir: PathBuf,
    /// The conversation to resume (`claude --resume <id>`); `None` starts a new one.
    pub resume: Option<ClaudeSessionId>,
}

/// What a launch produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launched {
    /// The conversation now running (the resumed one, or the id chosen for a new one).
    pub claude_session: ClaudeSessionId,
}

/// Whether a session is still there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Running.
    Alive,
    /// The process exited (the pane is dead); `status` when known.
    Exited {
        /// Exit status.
        status: Option<i32>,
    },
    /// No such session.
    Missing,
}

/// A capture of what a session shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaneCapture {
    /// The visible screen, lines joined where the terminal wrapped them.
    pub text: String,
    /// Width in columns.
    pub width: u16,
    /// Height in lines.
    pub height: u16,
}

/// Where sessions run. The engine never calls this; the embedder executes the engine's
/// effects through it.
#[async_trait]
pub trait SessionBackend: Send + Sync {
    /// Starts a session on an account, resuming `resume` when given. Must verify, before a
    /// resume, that the transcript and working directory exist.
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, BackendError>;

    /// Stops a session at a turn boundary: interrupt, ask it to exit, kill after `grace`.
    /// Returns once nothing of the session runs any more (a program still writing its
    /// transcript would race the copy resumed on the next account). Stopping a session that
    /// is not there succeeds.
    async fn stop(&self, session: &SessionId, grace: Duration) -> Result<(), BackendError>;

    /// Captures the visible screen.
    async fn capture(&self, session: &SessionId) -> Result<PaneCapture, BackendError>;

    /// Types `text` (may be several lines) and submits it, confirming it was accepted.
    async fn send_input(&self, session: &SessionId, text: &str) -> Result<(), BackendError>;

    /// Whether the session is alive.
    async fn liveness(&self, session: &SessionId) -> Result<Liveness, BackendError>;

    /// The sessions the backend holds.
    async fn list(&self) -> Result<Vec<SessionId>, BackendError>;
}
