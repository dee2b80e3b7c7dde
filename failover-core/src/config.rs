//! [`EngineConfig`]: the validated policy the engine runs with.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::ids::AccountId;
use crate::ledger::LedgerSettings;
use crate::session::SessionSpec;

/// How sessions are spread over accounts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyMode {
    /// The whole pool runs on one account at a time (how operators run today).
    #[default]
    SingleActive,
    /// Each session on its own account, balancing headroom.
    Spread,
}

/// How the next account is chosen among those that qualify equally (same [`Tier`]).
///
/// [`Tier`]: crate::Tier
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The operator's preference order, then the name.
    Preference,
    /// The account whose binding window (the one closest to its cap) resets first, then
    /// preference. Quota left in a window at its reset is lost, so spending the window
    /// that resets soonest first wastes the least and keeps the others for later. The
    /// default.
    #[default]
    DrainSoonest,
    /// The account with the most room left in its binding window, then preference.
    MostHeadroom,
}

impl Strategy {
    /// The kebab-case name used in the configuration (`drain-soonest`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Preference => "preference",
            Self::DrainSoonest => "drain-soonest",
            Self::MostHeadroom => "most-headroom",
        }
    }
}

/// A configuration the engine refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No accounts.
    #[error("at least one account is required")]
    NoAccounts,
    /// Two accounts share a name.
    #[error("account {0} is listed twice")]
    DuplicateAccount(String),
    /// Two sessions share a name.
    #[error("session {0} is listed twice")]
    DuplicateSession(String),
    /// A persisted state written by a newer version (added for
    /// [`FailoverEngine::restore`](crate::FailoverEngine::restore)).
    #[error("persisted state has schema version {0}, newer than this version understands")]
    UnsupportedStateVersion(u32),
    /// A value is out of range.
    #[error("{key} = {value} is out of range: {expected}")]
    OutOfRange {
        /// The setting.
        key: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
}

/// The engine's configuration. Build with [`EngineConfig::new`] (defaults a user would
/// pick), adjust the public fields, and [`validate`](EngineConfig::validate).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// The accounts, any order; [`Account::preference`] orders them.
    pub accounts: Vec<Account>,
    /// The sessions to keep running.
    pub sessions: Vec<SessionSpec>,
    /// Single-active or spread.
    pub mode: PolicyMode,
    /// Fail over before exhaustion once a window's use reaches this percentage (default 90).
    ///
    /// The default sits below the 95 % at which Claude Code 2.1.3xx tells the model to wrap
    /// up the current step (0.95 for most plans, 0.99 and 0.9975 for the Max tiers): moving
    /// at the next turn boundary before that keeps a person's work from being cut short.
    pub proactive_percent: f32,
    /// Consecutive pane observations with the same quota verdict needed to act (default 2).
    /// Structured sources (transcript, statusline, headers) need one.
    pub pane_confirmations: u32,
    /// When a quota verdict carries no reset instant, treat the account as exhausted for
    /// this long (default 1 h), then try it again.
    pub unknown_reset_retry: Duration,
    /// Go back to the most preferred account once its window resets (default true).
    pub return_to_preferred: bool,
    /// How long an effect may stay unanswered before the engine gives up on it (default 2 min).
    pub effect_timeout: Duration,
    /// How long a stopped session's program gets to exit by itself before it is killed
    /// (default 10 s): carried by every [`Effect::Stop`](crate::Effect::Stop). Keep it well
    /// under [`effect_timeout`](Self::effect_timeout), which bounds the whole stop.
    pub stop_grace: Duration,
    /// Delay before relaunching a session that died (default 5 s), doubled on each death in
    /// a row up to [`relaunch_backoff_max`](Self::relaunch_backoff_max).
    pub relaunch_backoff: Duration,
    /// Upper bound of the relaunch delay (default 5 min).
    pub relaunch_backoff_max: Duration,
    /// After this many deaths in a row a session is reported degraded (default 3).
    pub degraded_after: u32,
    /// How many sessions of a swap may be moving (checkpoint, stop, launch) at once
    /// (default 4, at least 1).
    ///
    /// Only one swap (one move from an account to another) is ever in flight; this bounds
    /// the sessions of that swap whose steps are outstanding together. Each step waits on
    /// the CLI (its exit, then its cold start), so moving sessions side by side brings a
    /// pool back in about `sessions / parallel_moves` move times instead of one per
    /// session, as far as the machine's cores allow (default 4; the number of CPU cores is a
    /// good choice); 1 moves sessions strictly one after the other.
    pub parallel_moves: usize,
    /// How to rank accounts that qualify equally (default [`Strategy::DrainSoonest`]).
    pub strategy: Strategy,
    /// An account with less room than this in its binding window is chosen only when no
    /// account with more exists (default 10).
    pub min_headroom_percent: f32,
    /// Per-account [`proactive_percent`](Self::proactive_percent) overrides.
    pub proactive_overrides: BTreeMap<AccountId, f32>,
    /// Whether an account spending extra usage (paid usage credits) may still be chosen
    /// (default false: it counts as exhausted).
    pub allow_extra_usage: bool,
    /// Whether a session whose model's weekly window ran out moves to an account with room
    /// for that model (default false: Claude Code falls back to another model by itself,
    /// which is no reason to move).
    pub follow_model: bool,
    /// Going back to a more preferred account waits until it has this much room in its
    /// binding window (default 50).
    pub return_headroom_percent: f32,
    /// At most one return to a more preferred account per this long (default 30 min), so
    /// sessions never bounce between two accounts.
    pub return_cooldown: Duration,
    /// Whether the embedder reads idle accounts' usage on request (Anthropic's OAuth usage
    /// endpoint; default false). When set, the engine asks with
    /// [`Effect::ReadUsage`](crate::Effect::ReadUsage) right before it chooses a destination
    /// for sessions leaving an account (exhausted, near its limit, logged out), for the
    /// accounts no session runs on whose last read is older than [`USAGE_READ_FRESH`], and
    /// waits for the answers at most [`USAGE_READ_WAIT`].
    ///
    /// Added for choosing the next account.
    pub read_usage_before_choosing: bool,
    /// A ledger shared with the engines of other hosts (default none: nothing is shared and
    /// the engine emits no ledger effect). When set, the engine publishes what its own
    /// evidence changes, follows news from other hosts, and asks for the swap lease before
    /// starting a swap (see [`LedgerSettings`]).
    pub ledger: Option<LedgerSettings>,
    /// Have a program ready ahead of a move once the account a session runs on has used
    /// this percentage of a window (default 80; `None`: never). It is what
    /// [`FailoverEngine::standbys`](crate::FailoverEngine::standbys) answers from; an
    /// account near its limit or out of quota counts whatever this is, and `None` turns
    /// standbys off altogether. A reading under the statusline's and headers' near-limit
    /// floor ([`NEAR_LIMIT_FLOOR_PERCENT`](crate::quota::NEAR_LIMIT_FLOOR_PERCENT)) is
    /// known only from usage reports ([`Input::UsageObserved`](crate::Input::UsageObserved)).
    ///
    /// Added for faster failover: a prepared program takes its cold start off the move.
    pub standby_percent: Option<f32>,
    /// The most standbys [`FailoverEngine::standbys`](crate::FailoverEngine::standbys)
    /// asks for at once (default 8, at least 1): each is a whole idle program (about
    /// 125 MiB PSS with Claude Code 2.1.328), so a large pool gets them for its first sessions
    /// only, in session name order.
    ///
    /// Added with `standby_percent`, to bound what standbys cost.
    pub standby_max: usize,
}

/// A usage read younger than this is not repeated before choosing a destination.
pub const USAGE_READ_FRESH: Duration = Duration::from_secs(60);

/// How long a choice waits for the usage reads it asked for: a slow or unreachable
/// endpoint holds a swap up no longer than this.
pub const USAGE_READ_WAIT: Duration = Duration::from_secs(2);

impl EngineConfig {
    /// A configuration with the default policy.
    pub fn new(accounts: Vec<Account>, sessions: Vec<SessionSpec>) -> Self {
        Self {
            accounts,
            sessions,
            mode: PolicyMode::SingleActive,
            proactive_percent: 90.0,
            pane_confirmations: 2,
            unknown_reset_retry: Duration::from_secs(3600),
            return_to_preferred: true,
            effect_timeout: Duration::from_secs(120),
            stop_grace: Duration::from_secs(10),
            relaunch_backoff: Duration::from_secs(5),
            relaunch_backoff_max: Duration::from_secs(300),
            degraded_after: 3,
            parallel_moves: 4,
            strategy: Strategy::DrainSoonest,
            min_headroom_percent: 10.0,
            proactive_overrides: BTreeMap::new(),
            allow_extra_usage: false,
            follow_model: false,
            return_headroom_percent: 50.0,
            return_cooldown: Duration::from_secs(1800),
            read_usage_before_choosing: false,
            ledger: None,
            standby_percent: Some(80.0),
            standby_max: 8,
        }
    }

    /// The proactive threshold of `account`: its override, or the pool's.
    pub fn proactive_percent_of(&self, account: &AccountId) -> f32 {
        self.proactive_overrides
            .get(account)
            .copied()
            .unwrap_or(self.proactive_percent)
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.accounts.is_empty() {
            return Err(ConfigError::NoAccounts);
        }
        let mut seen = BTreeSet::new();
        for a in &self.accounts {
            if !seen.insert(a.id.as_str()) {
                return Err(ConfigError::DuplicateAccount(a.id.to_string()));
            }
        }
        let mut seen = BTreeSet::new();
        for s in &self.sessions {
            if !seen.insert(s.id.as_str()) {
                return Err(ConfigError::DuplicateSession(s.id.to_string()));
            }
        }
        if !(self.proactive_percent > 0.0 && self.proactive_percent <= 100.0) {
            return Err(ConfigError::OutOfRange {
                key: "proactive_percent",
                value: self.proactive_percent.to_string(),
                expected: "greater than 0 and at most 100",
            });
        }
        for (account, pct) in &self.proactive_overrides {
            if !(*pct > 0.0 && *pct <= 100.0) {
                return Err(ConfigError::OutOfRange {
                    key: "proactive_percent",
                    value: format!("{pct} (account {account})"),
                    expected: "greater than 0 and at most 100",
                });
            }
        }
        if let Some(pct) = self.standby_percent {
            if !(pct > 0.0 && pct <= 100.0) {
                return Err(ConfigError::OutOfRange {
                    key: "standby_percent",
                    value: pct.to_string(),
                    expected: "greater than 0 and at most 100",
                });
            }
        }
        for (key, value) in [
            ("min_headroom_percent", self.min_headroom_percent),
            ("return_headroom_percent", self.return_headroom_percent),
        ] {
            if !(0.0..=100.0).contains(&value) {
                return Err(ConfigError::OutOfRange {
                    key,
                    value: value.to_string(),
                    expected: "between 0 and 100",
                });
            }
        }
        if self.pane_confirmations == 0 {
            return Err(ConfigError::OutOfRange {
                key: "pane_confirmations",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if self.unknown_reset_retry.is_zero() {
            return Err(ConfigError::OutOfRange {
                key: "unknown_reset_retry",
                value: "0s".into(),
                expected: "greater than zero",
            });
        }
        if self.effect_timeout.is_zero() {
            return Err(ConfigError::OutOfRange {
                key: "effect_timeout",
                value: "0s".into(),
                expected: "greater than zero",
            });
        }
        if self.relaunch_backoff > self.relaunch_backoff_max {
            return Err(ConfigError::OutOfRange {
                key: "relaunch_backoff",
                value: format!("{:?}", self.relaunch_backoff),
                expected: "at most relaunch_backoff_max",
            });
        }
        if self.degraded_after == 0 {
            return Err(ConfigError::OutOfRange {
                key: "degraded_after",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if self.standby_max == 0 {
            return Err(ConfigError::OutOfRange {
                key: "standby_max",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if self.parallel_moves == 0 {
            return Err(ConfigError::OutOfRange {
                key: "parallel_moves",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if self
            .ledger
            .as_ref()
            .is_some_and(|l| l.lease_retry.is_zero())
        {
            return Err(ConfigError::OutOfRange {
                key: "lease_retry",
                value: "0s".into(),
                expected: "greater than zero",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::ids::{AccountId, SessionId};

    fn config() -> EngineConfig {
        let account = |id: &str| Account {
            id: AccountId::new(id),
            config_dir: PathBuf::from("/c"),
            preference: 0,
        };
        let session = SessionSpec {
            id: SessionId::new("s"),
            dir: PathBuf::from("/w"),
            task: None,
        };
        EngineConfig::new(vec![account("a"), account("b")], vec![session])
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(config().validate(), Ok(()));
        assert_eq!(config().proactive_percent, 90.0);
        assert_eq!(config().mode, PolicyMode::SingleActive);
    }

    #[test]
    fn bad_values_are_named() {
        let key = |c: EngineConfig| match c.validate() {
            Err(ConfigError::OutOfRange { key, .. }) => key,
            other => panic!("expected out of range, got {other:?}"),
        };
        let mut c = config();
        c.proactive_percent = 0.0;
        assert_eq!(key(c), "proactive_percent");
        let mut c = config();
        c.proactive_percent = f32::NAN;
        assert_eq!(key(c), "proactive_percent");
        let mut c = config();
        c.pane_confirmations = 0;
        assert_eq!(key(c), "pane_confirmations");
        let mut c = config();
        c.effect_timeout = Duration::ZERO;
        assert_eq!(key(c), "effect_timeout");
        let mut c = config();
        c.unknown_reset_retry = Duration::ZERO;
        assert_eq!(key(c), "unknown_reset_retry");
        let mut c = config();
        c.relaunch_backoff = Duration::from_secs(600);
        assert_eq!(key(c), "relaunch_backoff");
        let mut c = config();
        c.degraded_after = 0;
        assert_eq!(key(c), "degraded_after");
        let mut c = config();
        c.parallel_moves = 0;
        assert_eq!(key(c), "parallel_moves");
        let mut c = config();
        c.min_headroom_percent = 101.0;
        assert_eq!(key(c), "min_headroom_percent");
        let mut c = config();
        c.return_headroom_percent = f32::NAN;
        assert_eq!(key(c), "return_headroom_percent");
        let mut c = config();
        c.proactive_overrides.insert(AccountId::new("a"), 0.0);
        assert_eq!(key(c), "proactive_percent");
        let mut c = config();
        c.standby_percent = Some(0.0);
        assert_eq!(key(c), "standby_percent");
        let mut c = config();
        c.standby_percent = Some(100.5);
        assert_eq!(key(c), "standby_percent");
        let mut c = config();
        c.standby_percent = None;
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn duplicates_and_empty_pools_are_refused() {
        let mut c = config();
        c.accounts[1].id = AccountId::new("a");
        assert_eq!(c.validate(), Err(ConfigError::DuplicateAccount("a".into())));
        let mut c = config();
        c.sessions.push(c.sessions[0].clone());
        assert_eq!(c.validate(), Err(ConfigError::DuplicateSession("s".into())));
        let mut c = config();
        c.accounts.clear();
        assert_eq!(c.validate(), Err(ConfigError::NoAccounts));
    }
}
