//! [`StatusSnapshot`]: a cheap, read-only view of the engine for status pages and the CLI.

use std::fmt;

use crate::account::{AccountState, LimitWindow, ResetGrant, WindowUsage};
use crate::config::Strategy;
use crate::ids::{AccountId, ClaudeSessionId, SessionId};
use crate::pool::Tier;
use crate::session::{Activity, SessionStateKind};
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
    /// The latest reading of each window it meters (usage reports, model-scoped
    /// evidence).
    pub windows: Vec<WindowUsage>,
    /// It is spending extra usage (paid usage credits).
    pub extra_usage: bool,
    /// One-time usage-reset grants it holds (shown, never spent).
    pub grants: Vec<ResetGrant>,
    /// Why it is or is not the next choice.
    pub choice: Choice,
}

/// Why an account is or is not the next choice: where sessions go on the next failover
/// (single-active) or the next launch (spread).
#[derive(Clone, Debug, PartialEq)]
pub enum Choice {
    /// The pool runs on it (single-active).
    Active,
    /// It is the next choice.
    Next {
        /// How good it is.
        tier: Tier,
        /// The strategy that ranked it first among equals.
        strategy: Strategy,
    },
    /// Usable, but another account ranks ahead.
    Behind {
        /// How good it is.
        tier: Tier,
        /// The account chosen before it.
        ahead: AccountId,
    },
    /// Out of quota until `until`.
    Exhausted {
        /// The window that ran out.
        window: LimitWindow,
        /// When it resets.
        until: UnixMillis,
    },
    /// Waiting for a login.
    NeedsLogin,
    /// Spending extra usage (paid), and `allow_extra_usage` is off: it counts as exhausted.
    ExtraUsage,
}

impl Choice {
    /// Whether the account is the next choice.
    pub const fn is_next(&self) -> bool {
        matches!(self, Self::Next { .. })
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Active => f.write_str("active: the pool runs on it"),
            Self::Next { tier, strategy } => write!(
                f,
                "next: {}; first by {} among the best",
                tier.describe(),
                strategy.as_str()
            ),
            Self::Behind { tier, ahead } => {
                write!(f, "not next: {}; {ahead} ranks ahead", tier.describe())
            }
            Self::Exhausted { window, until } => {
                write!(f, "not next: {window} used up until {until}")
            }
            Self::NeedsLogin => f.write_str("not next: needs a login"),
            Self::ExtraUsage => {
                f.write_str("not next: running on extra usage (paid); allow_extra_usage is off")
            }
        }
    }
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
    /// Which state it is in (`running`, `stopping`, `launching`, `parked`, ...).
    pub state: SessionStateKind,
    /// Idle or working, when running and known.
    pub activity: Option<Activity>,
    /// A prompt cut short by a move or a park waits to be typed again. It goes out once the
    /// session runs and is reported idle ([`Input::SessionActivity`](crate::Input::SessionActivity)
    /// with [`Activity::Idle`]): an embedder that never reports activity never gets it
    /// replayed.
    pub replay_pending: bool,
    /// The exit status of its last exit, while it has not worked since (why a session keeps
    /// dying), when known.
    pub last_exit: Option<i32>,
}

/// The swap in flight.
#[derive(Clone, Debug, PartialEq)]
pub struct SwapStatus {
    /// From.
    pub from: AccountId,
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
    /// Accounts whose usage the engine asked for ([`Effect::ReadUsage`](crate::Effect))
    /// and is waiting on before it chooses a destination; empty when it waits for none.
    ///
    /// Added for choosing the next account.
    pub usage_wanted: Vec<AccountId>,
    /// Inputs that did not apply in the state they arrived in.
    pub ignored_inputs: u64,
}
