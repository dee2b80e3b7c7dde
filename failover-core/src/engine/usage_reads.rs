//! One usage read right before choosing a destination.
//!
//! When sessions must leave an account (single-active: the active account is unusable or
//! past its proactive threshold; spread: an account sessions run on is), the engine is
//! about to choose where they go. With [`EngineConfig::read_usage_before_choosing`] it
//! first asks ([`Effect::ReadUsage`]) for the accounts no session runs on (sessions feed
//! their own account's statusline) that are not waiting for a login and whose last read
//! (or ask) is older than [`USAGE_READ_FRESH`], and holds the choice until every report
//! arrived or [`USAGE_READ_WAIT`] passed. It asks once per episode: only when the need for
//! a destination appears, not on every input while it lasts, so a pool that stays near its
//! limit with nowhere better to go does not spend the endpoint's budget.
//!
//! [`EngineConfig::read_usage_before_choosing`]: crate::EngineConfig::read_usage_before_choosing

use std::collections::{BTreeMap, BTreeSet};

use crate::account::AccountState;
use crate::config::{PolicyMode, USAGE_READ_FRESH, USAGE_READ_WAIT};
use crate::engine::{Effect, FailoverEngine};
use crate::ids::AccountId;
use crate::pool::Tier;
use crate::time::UnixMillis;

/// What the engine asked for and when.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct UsageReads {
    /// The last read (or ask) of each account.
    last: BTreeMap<AccountId, UnixMillis>,
    /// The reads a choice waits for, and until when.
    waiting: Option<(UnixMillis, BTreeSet<AccountId>)>,
    /// A destination was wanted at the last look (asks happen when this turns true).
    wanted: bool,
}

impl UsageReads {
    /// A report about `account` arrived at `now`.
    pub(crate) fn read(&mut self, account: &AccountId, now: UnixMillis) {
        self.last.insert(account.clone(), now);
        if let Some((_, waiting)) = &mut self.waiting {
            waiting.remove(account);
            if waiting.is_empty() {
                self.waiting = None;
            }
        }
    }

    /// Ends a wait whose time is over (whatever the engine was doing meanwhile: paused,
    /// draining, adopting).
    pub(crate) fn expire(&mut self, now: UnixMillis) {
        if self
            .waiting
            .as_ref()
            .is_some_and(|(until, _)| *until <= now)
        {
            self.waiting = None;
        }
    }

    /// When the wait ends, while the engine waits.
    pub(crate) fn deadline(&self) -> Option<UnixMillis> {
        self.waiting.as_ref().map(|(until, _)| *until)
    }

    /// The accounts still waited for.
    pub(crate) fn wanted(&self) -> Vec<AccountId> {
        self.waiting
            .as_ref()
            .map(|(_, w)| w.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl FailoverEngine {
    /// Whether the choice of a destination waits for usage reads: asks for them when a
    /// destination just became wanted, and holds until they are in or the wait is over.
    pub(super) fn hold_for_usage_reads(&mut self) -> bool {
        if !self.config.read_usage_before_choosing {
            return false;
        }
        let now = self.now;
        if let Some((until, _)) = &self.usage_reads.waiting {
            if now < *until {
                return true;
            }
            // The endpoint was too slow: choose with what is known.
            self.usage_reads.waiting = None;
            return false;
        }
        let wanted = self.destination_wanted();
        let turned = wanted && !self.usage_reads.wanted;
        self.usage_reads.wanted = wanted;
        if !turned {
            return false;
        }
        let fresh = USAGE_READ_FRESH;
        let stale: Vec<AccountId> = self
            .pool
            .iter()
            .filter(|e| e.state != AccountState::NeedsLogin)
            .map(|e| &e.account.id)
            .filter(|a| self.index.load_of(a) == 0)
            .filter(|a| {
                self.usage_reads
                    .last
                    .get(*a)
                    .is_none_or(|t| now >= *t + fresh)
            })
            .cloned()
            .collect();
        if stale.is_empty() {
            return false;
        }
        for a in &stale {
            self.usage_reads.last.insert(a.clone(), now);
        }
        self.out.push(Effect::ReadUsage {
            accounts: stale.clone(),
        });
        self.usage_reads.waiting = Some((now + USAGE_READ_WAIT, stale.into_iter().collect()));
        true
    }

    /// Whether sessions are about to need a destination: the active account (single-active)
    /// or an account sessions run on (spread) is unusable or past its proactive threshold,
    /// and no swap is under way.
    fn destination_wanted(&self) -> bool {
        if self.swap.is_some() {
            return false;
        }
        let now = self.now;
        let leaving = |a: &AccountId| {
            !self.pool.is_usable(a, now) || self.pool.tier(a, now) == Some(Tier::NearLimit)
        };
        match self.config.mode {
            PolicyMode::SingleActive => self.active.as_ref().is_some_and(leaving),
            PolicyMode::Spread => self.index.load.keys().any(leaving),
        }
    }
}
