//! [`PersistedState`]: what must survive a restart, as a versioned, serializable record.
//!
//! The engine never reads or writes it itself: it emits
//! [`Effect::Persist`](crate::Effect::Persist) and is built from it with
//! [`FailoverEngine::restore`](crate::FailoverEngine::restore). The same record can live in a
//! store shared by the engines of several hosts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::account::AccountState;
use crate::ids::{AccountId, ClaudeSessionId, SessionId};
use crate::time::UnixMillis;

/// Where one session stands, durably.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistedSession {
    /// The account it runs on (or last ran on).
    pub account: Option<AccountId>,
    /// Its conversation.
    pub claude_session: Option<ClaudeSessionId>,
    /// The prompt to replay after the next launch, if a turn was interrupted.
    pub pending_prompt: Option<String>,
    /// Parked (all accounts exhausted) rather than running.
    pub parked: bool,
}

/// A swap that was in flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistedSwap {
    /// From.
    pub from: Option<AccountId>,
    /// To.
    pub to: AccountId,
    /// Sessions not yet moved.
    pub pending: Vec<SessionId>,
    /// When it started.
    pub started_at: UnixMillis,
}

/// Everything the engine needs to pick up where it left off: what must survive a restart,
/// as a versioned, serializable record.
///
/// The engine never reads or writes it itself: it emits
/// [`Effect::Persist`](crate::Effect::Persist) and is built from it with
/// [`FailoverEngine::restore`](crate::FailoverEngine::restore). The same record can live in a
/// store shared by the engines of several hosts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PersistedState {
    /// Always [`PersistedState::SCHEMA_VERSION`] when written by this version.
    pub schema_version: u32,
    /// The account the pool runs on (single-active).
    pub active_account: Option<AccountId>,
    /// What is known of each account.
    pub accounts: BTreeMap<AccountId, AccountState>,
    /// Each session.
    pub sessions: BTreeMap<SessionId, PersistedSession>,
    /// The swap in flight, if any.
    pub swap: Option<PersistedSwap>,
    /// Paused by an operator.
    pub paused: bool,
}

impl PersistedState {
    /// The version this type reads and writes.
    pub const SCHEMA_VERSION: u32 = 1;
}
