//! The [`Checkpointer`] port and the versioned checkpoint record.

use std::path::{Path, PathBuf};

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

/// What a conversation's record (Claude Code's transcript) tells about where it stopped:
/// what a checkpoint keeps, and what a failover replays. A prompt source returns it
/// (`failover-tmux` reads it from the transcript file), and
/// [`EffectOutcome::Checkpointed`](crate::EffectOutcome::Checkpointed) carries its
/// `last_prompt` and `unanswered` back to the engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TranscriptSummary {
    /// The last prompt typed: the latest `last-prompt` record or typed user message,
    /// whichever comes last. The CLI's own user-role lines (slash commands and their
    /// output, reminders, the marker an interrupted turn leaves) are not prompts.
    pub last_prompt: Option<String>,
    /// The last tool call: `Name: {input…}` from the latest `tool_use` in assistant
    /// content, cut to 200 characters.
    pub last_tool_call: Option<String>,
    /// Whether the latest typed prompt has nothing from the model after it: no assistant
    /// line other than the CLI's own API-error notices (`isApiErrorMessage`, e.g. "You've
    /// hit your 5-hour limit"). Such a prompt was refused or is still in flight, so a
    /// failover must replay it even when the screen looked idle. A prompt followed by any
    /// real assistant content (text or a tool call) counts as answered.
    pub unanswered: bool,
    /// Whether the latest assistant line is one of the CLI's API-error notices (a turn
    /// refused by a usage limit, before or after tool calls).
    pub ended_in_error: bool,
    /// Whether the person cut the latest turn short (Escape leaves the CLI's
    /// `[Request interrupted by user]` marker after it).
    pub interrupted_by_user: bool,
}

impl TranscriptSummary {
    /// Whether the latest turn was cut short by something other than the person (refused,
    /// or its request in flight when its program stopped): the turn Claude Code, resumed
    /// with `CLAUDE_CODE_RESUME_INTERRUPTED_TURN=1`, takes up by itself.
    pub fn turn_cut_short(&self) -> bool {
        (self.unanswered || self.ended_in_error) && !self.interrupted_by_user
    }

    /// The last typed prompt when nothing answered it: the one to replay on the next
    /// account.
    pub fn unanswered_prompt(&self) -> Option<&str> {
        self.last_prompt.as_deref().filter(|_| self.unanswered)
    }
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

/// Where a conversation's last prompt can be found (`failover-tmux` reads Claude Code's
/// transcript in the shared projects tree). [`execute`](crate::execute) asks it when it
/// takes a checkpoint and after a launch that resumed a conversation.
#[async_trait]
pub trait PromptSource: Send + Sync {
    /// What is known of the conversation's last prompt and tool call; the default (nothing
    /// known) when there is no record or it cannot be read.
    async fn recall(&self, dir: &Path, claude_session: &ClaudeSessionId) -> TranscriptSummary;
}
