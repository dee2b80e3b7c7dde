//! [`StatusSnapshot`]: a cheap, read-only view of the engine for status pages and the CLI.

use crate::account::AccountState;
use crate::ids::{AccountId, ClaudeSessionId, SessionId};
use crate::session::Activity;
use crate::time::UnixMillis;

/// One account as the engine sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountStatus {
    /// The account.
    pub id: AccountId,
    /// Its preference (lower first).
    pub preference: u32,
    /// What is known of its quota.
    pub state: AccountState,
    /// The highest used percentage seen for it, when known.
    pub used_percent: Option<f32>,
}

/// One session as the engine sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionStatus {
    /// The session.
    pub id: SessionId,
    /// The account it runs on, if any.
    pub account: Option<AccountId>,
    /// Its conversation, when known.
    pub claude_session: Option<ClaudeSessionId>,
    /// The name of its state (`running`, `stopping`, `launching`, `parked`, ...).
    pub state: &'static str,
    /// Idle or working, when running and known.
    pub activity: Option<Activity>,
}

/// The swap in flight.
#[derive(Clone, Debug, PartialEq)]
pub struct SwapStatus {
    /// From.
    pub from: Option<AccountId>,
    /// To.
    pub to: AccountId,
    /// Sessions not yet moved (those moving included).
    pub pending: Vec<SessionId>,
    /// Sessions whose move (checkpoint, stop, launch) is under way, in name order: at
    /// most [`EngineConfig::parallel_moves`](crate::EngineConfig::parallel_moves) when
    /// each started.
    pub moving: Vec<SessionId>,
    /// When it started.
    pub started_at: UnixMillis,
}

/// The whole view.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusSnapshot {
    /// The account the pool runs on (single-active), if any.
    pub active_account: Option<AccountId>,
    /// Paused by an operator.
    pub paused: bool,
    /// Draining (finishing in-flight work, starting nothing new).
    pub draining: bool,
    /// Every account.
    pub accounts: Vec<AccountStatus>,
    /// Every session.
    pub sessions: Vec<SessionStatus>,
    /// The swap in flight.
    pub swap: Option<SwapStatus>,
    /// Swaps completed since start.
    pub swaps_completed: u64,
    /// Inputs that did not apply in the state they arrived in.
    pub ignored_inputs: u64,
}
