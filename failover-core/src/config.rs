//! [`EngineConfig`]: the validated policy the engine runs with.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::account::Account;
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
    /// Fail over before exhaustion once a window's use reaches this percentage (default 95).
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
    /// Delay before relaunching a session that died (default 5 s), doubled on each death in
    /// a row up to [`relaunch_backoff_max`](Self::relaunch_backoff_max).
    pub relaunch_backoff: Duration,
    /// Upper bound of the relaunch delay (default 5 min).
    pub relaunch_backoff_max: Duration,
    /// After this many deaths in a row a session is reported degraded (default 3).
    pub degraded_after: u32,
}

impl EngineConfig {
    /// A configuration with the default policy.
    pub fn new(accounts: Vec<Account>, sessions: Vec<SessionSpec>) -> Self {
        Self {
            accounts,
            sessions,
            mode: PolicyMode::SingleActive,
            proactive_percent: 95.0,
            pane_confirmations: 2,
            unknown_reset_retry: Duration::from_secs(3600),
            return_to_preferred: true,
            effect_timeout: Duration::from_secs(120),
            relaunch_backoff: Duration::from_secs(5),
            relaunch_backoff_max: Duration::from_secs(300),
            degraded_after: 3,
        }
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
        if self.pane_confirmations == 0 {
            return Err(ConfigError::OutOfRange {
                key: "pane_confirmations",
                value: "0".into(),
                expected: "at least 1",
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
        Ok(())
    }
}
