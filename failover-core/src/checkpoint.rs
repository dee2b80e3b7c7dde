//! The [`Checkpointer`] port and the versioned checkpoint record.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::CheckpointError;
use crate::ids::{AccountId, ClaudeSessionId, SessionId};
use crate::time::UnixMillis;

/// What is needed to resume a session's work on any account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The session.
    pub session: SessionId,
    /// Its conversation, when known.
    pub claude_session: Option<ClaudeSessionId>,
    /// The account it was on.
    pub account: AccountId,
    /// Its working directory.
    pub dir: PathBuf,
    /// The task it was working on (task id or title), if any.
    pub task: Option<String>,
    /// The last prompt sent to it.
    pub last_prompt: Option<String>,
    /// The last tool call it made (name and a short summary of its input).
    pub last_tool_call: Option<String>,
    /// When the checkpoint was taken.
    pub taken_at: UnixMillis,
}

/// The on-disk form of a [`Checkpoint`]: `schema_version` first, so a reader can refuse a
/// record from a newer version instead of misreading it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRecordV1 {
    /// Always [`CheckpointRecordV1::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The checkpoint.
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
}

impl CheckpointRecordV1 {
    /// The version this type reads and writes.
    pub const SCHEMA_VERSION: u32 = 1;

    /// Wraps a checkpoint.
    pub fn new(checkpoint: Checkpoint) -> Self {
        Self {
            schema_version: Self::SCHEMA_VERSION,
            checkpoint,
        }
    }
}

/// Durable checkpoints, one (the latest) per session.
#[async_trait]
pub trait Checkpointer: Send + Sync {
    /// Stores `checkpoint` crash-safely, replacing the session's previous one.
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError>;

    /// The session's latest checkpoint, if any.
    async fn load(&self, session: &SessionId) -> Result<Option<Checkpoint>, CheckpointError>;

    /// Every stored checkpoint.
    async fn list(&self) -> Result<Vec<Checkpoint>, CheckpointError>;

    /// Removes checkpoints taken before `before`; returns how many went.
    async fn prune(&self, before: UnixMillis) -> Result<usize, CheckpointError>;
}
