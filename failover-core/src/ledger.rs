//! The shared ledger's data: what the engines of several hosts running the same accounts
//! tell each other (the protocol is on [`LedgerSettings`]).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::account::AccountState;
use crate::ids::AccountId;
use crate::time::UnixMillis;

/// The name a host goes by in the shared ledger (its host name, typically).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HostId(String);

impl HostId {
    /// A host id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The engine's part in a shared ledger ([`EngineConfig::ledger`](crate::EngineConfig::ledger)):
/// what the engines of several hosts running the same accounts tell each other.
///
/// The engine stays sans-IO: news from other hosts arrives as [`Input::AccountNews`] and
/// [`Input::ActiveAccountNews`], the engine's own findings leave as
/// [`Effect::PublishAccount`] and [`Effect::PublishActive`], and the swap lease is asked
/// for with [`Effect::AcquireLease`], answered by
/// [`EffectOutcome::Lease`](crate::EffectOutcome::Lease) through
/// [`Input::EffectFinished`], and given back with [`Effect::ReleaseLease`]. An embedder
/// without a shared store leaves [`EngineConfig::ledger`](crate::EngineConfig::ledger)
/// unset and none of these effects is ever emitted.
///
/// Merging rule: for each account the newest evidence wins (by [`AccountNews::seen_at`]);
/// news older than (or as old as) what the engine already knows is dropped, so an account
/// exhausted until a future instant is never made usable again by older "available" news.
/// Nothing here carries a secret: account names, quota states, host ids and instants only.
///
/// [`Input::AccountNews`]: crate::Input::AccountNews
/// [`Input::ActiveAccountNews`]: crate::Input::ActiveAccountNews
/// [`Input::EffectFinished`]: crate::Input::EffectFinished
/// [`Effect::PublishAccount`]: crate::Effect::PublishAccount
/// [`Effect::PublishActive`]: crate::Effect::PublishActive
/// [`Effect::AcquireLease`]: crate::Effect::AcquireLease
/// [`Effect::ReleaseLease`]: crate::Effect::ReleaseLease
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerSettings {
    /// This host's name in the ledger: the `seen_by` of what its engine publishes.
    pub host: HostId,
    /// After a denied lease, ask again this long later (default 2 s).
    pub lease_retry: Duration,
}

impl LedgerSettings {
    /// Settings with the default retry.
    pub fn new(host: HostId) -> Self {
        Self {
            host,
            lease_retry: Duration::from_secs(2),
        }
    }
}

/// One account's state with its evidence: who saw it, and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountNews {
    /// The account, matched across hosts by name.
    pub account: AccountId,
    /// What was seen.
    pub state: AccountState,
    /// The host that saw it.
    pub seen_by: HostId,
    /// When the evidence was produced.
    pub seen_at: UnixMillis,
}

/// The account a host's pool moved to under `single-active`, by its own decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveNews {
    /// The account.
    pub account: AccountId,
    /// The host that chose it.
    pub seen_by: HostId,
    /// When.
    pub seen_at: UnixMillis,
}

/// The answer to [`Effect::AcquireLease`](crate::Effect::AcquireLease).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// This host holds the swap lease: the swap may start.
    Granted,
    /// Another host holds it: the swap waits and the lease is asked for again after
    /// [`LedgerSettings::lease_retry`].
    Denied,
    /// The ledger cannot be reached: the engine goes on with its local view.
    Unavailable,
}
