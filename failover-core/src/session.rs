//! Sessions: what the operator asked for, and where each one stands.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ids::SessionId;

/// A session the operator wants running: a name, a project directory, maybe a standing task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    /// The session's name (also its tmux session name).
    pub id: SessionId,
    /// The working directory Claude Code runs in.
    pub dir: PathBuf,
    /// A standing task prompt, sent once when the session first starts.
    pub task: Option<String>,
}

/// Whether a live session is waiting at its prompt or in the middle of a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// The prompt is ready; no turn in progress.
    Idle,
    /// A turn is in progress.
    Working,
}
