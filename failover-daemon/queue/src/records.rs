//! The JSON records the queue keeps on disk. Each carries `"version": 1`; readers refuse other
//! versions rather than guess.

use failover_core::{AccountId, ClaudeSessionId, SessionId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The one record version this code writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// `claimed/<session>/<stem>.claim.json`: the write-ahead log of one claim.
///
/// Its life: written right after the claim rename (`delivered_at: null`); rewritten with
/// `delivered_at` set *before* the prompt is sent; rewritten with `outcome` set before the
/// task file moves on; removed once it has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecordV1 {
    /// Always [`RECORD_VERSION`].
    pub version: u32,
    /// The task's file name.
    pub task: String,
    /// The session that claimed it.
    pub session: SessionId,
    /// Which delivery this is, from 1.
    pub attempt: u32,
    /// Deliveries allowed.
    pub max_attempts: u32,
    /// When the claim was made.
    pub claimed_at: Timestamp,
    /// Set before the prompt is sent: from then on the task is never sent again by this claim.
    pub delivered_at: Option<Timestamp>,
    /// The account the session ran on at delivery.
    pub account: Option<AccountId>,
    /// The conversation at delivery.
    pub claude_session: Option<ClaudeSessionId>,
    /// The decision, once made: finishing it is idempotent, so a crash mid-way is redone.
    pub outcome: Option<PendingOutcome>,
}

/// Where a claim is going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// To `done/`.
    Done,
    /// To `failed/`.
    Failed,
    /// Back to `inbox/`.
    Requeue,
}

/// A decided outcome, recorded before it is carried out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOutcome {
    /// Where to.
    pub kind: OutcomeKind,
    /// The file name it gets there (chosen once, so a redo uses the same).
    pub dest: String,
    /// Why (shown to people).
    pub reason: Option<String>,
    /// When it was decided.
    pub ended_at: Timestamp,
    /// Deliveries used so far (kept for a requeued task).
    pub attempts_used: u32,
    /// The account at the end.
    pub account: Option<AccountId>,
    /// The conversation at the end.
    pub claude_session: Option<ClaudeSessionId>,
}

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    /// The session worked on it and came back to its prompt.
    Done,
    /// It was rejected, ran out of attempts, or its outcome could not be known.
    Failed,
}

/// `done/<stem>.result.json` or `failed/<stem>.result.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRecordV1 {
    /// Always [`RECORD_VERSION`].
    pub version: u32,
    /// The task's file name (as it is beside this record).
    pub task: String,
    /// Done or failed.
    pub outcome: ResultKind,
    /// The session that ran it, if any did.
    pub session: Option<SessionId>,
    /// The account it finished on.
    pub account: Option<AccountId>,
    /// The conversation it ran in.
    pub claude_session: Option<ClaudeSessionId>,
    /// When it was delivered (or claimed, if never delivered).
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub ended_at: Timestamp,
    /// Deliveries made.
    pub attempts: u32,
    /// Why it failed, or a note on how completion was judged.
    pub reason: Option<String>,
}

impl ResultRecordV1 {
    /// The record of a task that failed before any session ran it (rejected, or found in
    /// `failed/` without its record), at `ended_at`, saying `reason`.
    pub fn failed_unrun(task: String, ended_at: Timestamp, reason: String) -> Self {
        Self {
            version: RECORD_VERSION,
            task,
            outcome: ResultKind::Failed,
            session: None,
            account: None,
            claude_session: None,
            started_at: None,
            ended_at,
            attempts: 0,
            reason: Some(reason),
        }
    }
}

/// `attempts/<stem>.attempts.json`: deliveries already used by a task sent back to the inbox.
/// Tied to the file's inode, so a new task reusing the name starts from zero.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptsRecordV1 {
    /// Always [`RECORD_VERSION`].
    pub version: u32,
    /// The task's file name in the inbox.
    pub task: String,
    /// Device of the task file.
    pub dev: u64,
    /// Inode of the task file.
    pub ino: u64,
    /// Deliveries used.
    pub attempts_used: u32,
    /// Why it came back.
    pub last_reason: Option<String>,
}
