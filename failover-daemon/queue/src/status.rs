//! `.agent-queue/status.json`: each session of the project, idle or working, and its task.
//! Written atomically, and only when it changes.

use serde::{Deserialize, Serialize};

use crate::records::RECORD_VERSION;

/// What a session is doing, as published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishedState {
    /// At its prompt.
    Idle,
    /// In a turn.
    Working,
    /// Moving to another account.
    Swapping,
    /// Not running.
    Dead,
}

/// One session in `status.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStatusV1 {
    /// The session.
    pub name: String,
    /// What it is doing.
    pub state: PublishedState,
    /// Its account.
    pub account: Option<String>,
    /// Its conversation.
    pub claude_session: Option<String>,
    /// The queued task it holds, if any.
    pub task: Option<String>,
}

/// The whole `status.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectStatusV1 {
    /// Always 1.
    pub version: u32,
    /// The project's sessions, by name.
    pub sessions: Vec<SessionStatusV1>,
}

impl ProjectStatusV1 {
    /// An empty status.
    pub fn new(sessions: Vec<SessionStatusV1>) -> Self {
        Self {
            version: RECORD_VERSION,
            sessions,
        }
    }
}
