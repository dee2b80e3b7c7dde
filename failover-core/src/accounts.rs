//! [`AccountPool`]: what the engine knows of every account, and the selection policy that
//! picks where a session may run.
//!
//! The policy in one sentence: a session only ever goes to a *usable* account (not exhausted
//! at that instant, not waiting for a login), and among usable accounts one with headroom
//! ([`Tier::Headroom`]) always beats one at or past the proactive threshold
//! ([`Tier::NearLimit`]); ties go to the operator's preference order, then the name.

use std::collections::BTreeSet;

use crate::account::{Account, AccountState};
use crate::ids::AccountId;
use crate::time::UnixMillis;

/// How good a usable account is as a destination. Lower is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Below the proactive threshold (or nothing known yet).
    Headroom,
    /// A window is at or past the proactive threshold.
    NearLimit,
}

/// One account and what is known of it.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountEntry {
    /// The configured account.
    pub account: Account,
    /// Its quota state.
    pub state: AccountState,
}

/// Every configured account, kept in preference order (then by name).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AccountPool {
    entries: Vec<AccountEntry>,
    /// Accounts that went from unusable (or near the limit) back to full headroom since the
    /// engine last looked; a trigger for returning to the preferred account.
    recovered: BTreeSet<AccountId>,
}

impl AccountPool {
    /// A pool of `accounts`, every one in [`AccountState::Unknown`].
    pub fn new(accounts: &[Account]) -> Self {
        let mut entries: Vec<AccountEntry> = accounts
            .iter()
            .map(|a| AccountEntry {
                account: a.clone(),
                state: AccountState::Unknown,
            })
            .collect();
        entries.sort_by(|a, b| {
            (a.account.preference, &a.account.id).cmp(&(b.account.preference, &b.account.id))
        });
        Self {
            entries,
            recovered: BTreeSet::new(),
        }
    }

    /// Takes a new account list (configuration reload): known accounts keep their state,
    /// new ones start [`AccountState::Unknown`], the order follows the new preferences.
    /// Accounts missing from `accounts` are kept (removing one needs a restart).
    pub fn reconfigure(&mut self, accounts: &[Account]) {
        for a in accounts {
            match self.entries.iter_mut().find(|e| e.account.id == a.id) {
                Some(e) => e.account = a.clone(),
                None => self.entries.push(AccountEntry {
                    account: a.clone(),
                    state: AccountState::Unknown,
                }),
            }
        }
        self.entries.sort_by(|a, b| {
            (a.account.preference, &a.account.id).cmp(&(b.account.preference, &b.account.id))
        });
    }

    /// Every entry, most preferred first.
    pub fn iter(&self) -> impl Iterator<Item = &AccountEntry> {
        self.entries.iter()
    }

    /// The entry of `id`.
    pub fn get(&self, id: &AccountId) -> Option<&AccountEntry> {
        self.entries.iter().find(|e| &e.account.id == id)
    }

    /// Whether `id` is configured.
    pub fn contains(&self, id: &AccountId) -> bool {
        self.get(id).is_some()
    }

    /// The state of `id`.
    pub fn state(&self, id: &AccountId) -> Option<&AccountState> {
        self.get(id).map(|e| &e.state)
    }

    /// Replaces the state of `id`; returns whether anything changed. A move from unusable or
    /// near-the-limit to full headroom is remembered as a recovery.
    pub fn set_state(&mut self, id: &AccountId, state: AccountState) -> bool {
        let Some(entry) = self.entries.iter_mut().find(|e| &e.account.id == id) else {
            return false;
        };
        if entry.state == state {
            return false;
        }
        // Full headroom, whatever the instant: an exhausted account whose reset is due is
        // not "good" until `expire` turns it into `Available`.
        let good = |s: &AccountState| matches!(s, AccountState::Unknown | AccountState::Available);
        if !good(&entry.state) && good(&state) {
            self.recovered.insert(id.clone());
        }
        entry.state = state;
        true
    }

    /// Whether a session may be placed on `id` at `now`. Unknown accounts are not usable.
    pub fn is_usable(&self, id: &AccountId, now: UnixMillis) -> bool {
        self.state(id).is_some_and(|s| s.is_usable(now))
    }

    /// How good `id` is as a destination at `now`; `None` when it is not usable.
    pub fn tier(&self, id: &AccountId, now: UnixMillis, proactive_percent: f32) -> Option<Tier> {
        let state = self.state(id)?;
        tier_of(state, now, proactive_percent)
    }

    /// Whether any account is usable at `now`.
    pub fn any_usable(&self, now: UnixMillis) -> bool {
        self.entries.iter().any(|e| e.state.is_usable(now))
    }

    /// The best usable account other than `exclude`: best tier, then preference.
    pub fn best(
        &self,
        now: UnixMillis,
        proactive_percent: f32,
        exclude: Option<&AccountId>,
    ) -> Option<&AccountId> {
        self.entries
            .iter()
            .filter(|e| Some(&e.account.id) != exclude)
            .filter_map(|e| tier_of(&e.state, now, proactive_percent).map(|t| (t, e)))
            .min_by_key(|(t, _)| *t)
            .map(|(_, e)| &e.account.id)
    }

    /// The best usable account for one more session under the `spread` policy: best tier,
    /// then fewest sessions (`load`), then lowest used percentage, then preference.
    pub fn best_spread(
        &self,
        now: UnixMillis,
        proactive_percent: f32,
        exclude: Option<&AccountId>,
        load: impl Fn(&AccountId) -> usize,
    ) -> Option<&AccountId> {
        let mut best: Option<((Tier, usize, u32), &AccountId)> = None;
        for e in &self.entries {
            if Some(&e.account.id) == exclude {
                continue;
            }
            let Some(tier) = tier_of(&e.state, now, proactive_percent) else {
                continue;
            };
            // Whole percent is precise enough to balance on, and keeps the key `Ord`.
            let used = used_percent(&e.state).map_or(0, |p| p.clamp(0.0, 100.0) as u32);
            let key = (tier, load(&e.account.id), used);
            // Entries are in preference order, so a strict `<` keeps the preferred one on ties.
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, &e.account.id));
            }
        }
        best.map(|(_, id)| id)
    }

    /// Turns windows whose reset instant has passed back into [`AccountState::Available`].
    /// Returns whether anything changed.
    pub fn expire(&mut self, now: UnixMillis) -> bool {
        let mut changed = false;
        for i in 0..self.entries.len() {
            let due = match &self.entries[i].state {
                AccountState::Exhausted { until, .. } => *until <= now,
                AccountState::NearLimit {
                    resets_at: Some(at),
                    ..
                } => *at <= now,
                _ => false,
            };
            if due {
                let id = self.entries[i].account.id.clone();
                changed |= self.set_state(&id, AccountState::Available);
            }
        }
        changed
    }

    /// The earliest instant at which an account's state changes by itself (a reset).
    pub fn next_reset(&self) -> Option<UnixMillis> {
        self.entries
            .iter()
            .filter_map(|e| match &e.state {
                AccountState::Exhausted { until, .. } => Some(*until),
                AccountState::NearLimit { resets_at, .. } => *resets_at,
                _ => None,
            })
            .min()
    }

    /// The earliest instant an exhausted account becomes usable again.
    pub fn earliest_exhausted_reset(&self) -> Option<UnixMillis> {
        self.entries
            .iter()
            .filter_map(|e| match &e.state {
                AccountState::Exhausted { until, .. } => Some(*until),
                _ => None,
            })
            .min()
    }

    /// Takes the set of accounts that recovered since the last call.
    pub fn take_recovered(&mut self) -> BTreeSet<AccountId> {
        std::mem::take(&mut self.recovered)
    }
}

/// The used percentage a state records: the near-limit reading, or 100 when exhausted.
pub fn used_percent(state: &AccountState) -> Option<f32> {
    match state {
        AccountState::NearLimit { used_percent, .. } => Some(*used_percent),
        AccountState::Exhausted { .. } => Some(100.0),
        _ => None,
    }
}

fn tier_of(state: &AccountState, now: UnixMillis, proactive_percent: f32) -> Option<Tier> {
    if !state.is_usable(now) {
        return None;
    }
    Some(match state {
        AccountState::NearLimit { used_percent, .. } if *used_percent >= proactive_percent => {
            Tier::NearLimit
        }
        _ => Tier::Headroom,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::account::LimitWindow;

    fn pool() -> AccountPool {
        let acct = |id: &str, preference| Account {
            id: AccountId::new(id),
            config_dir: PathBuf::from(format!("/cfg/{id}")),
            preference,
        };
        AccountPool::new(&[acct("c", 2), acct("a", 0), acct("b", 1)])
    }

    fn near(p: f32) -> AccountState {
        AccountState::NearLimit {
            window: LimitWindow::FiveHour,
            used_percent: p,
            resets_at: None,
        }
    }

    #[test]
    fn best_prefers_headroom_then_preference() {
        let now = UnixMillis(0);
        let mut p = pool();
        assert_eq!(p.best(now, 95.0, None).unwrap().as_str(), "a");
        p.set_state(&"a".into(), near(97.0));
        assert_eq!(p.best(now, 95.0, None).unwrap().as_str(), "b");
        p.set_state(&"b".into(), AccountState::NeedsLogin);
        p.set_state(
            &"c".into(),
            AccountState::Exhausted {
                window: LimitWindow::Weekly,
                until: UnixMillis(10),
            },
        );
        // Only the near-limit account is usable: it is still chosen.
        assert_eq!(p.best(now, 95.0, None).unwrap().as_str(), "a");
        assert_eq!(p.best(now, 95.0, Some(&"a".into())), None);
        // At the reset instant the exhausted one is usable again, and has headroom.
        assert_eq!(p.best(UnixMillis(10), 95.0, None).unwrap().as_str(), "c");
    }

    #[test]
    fn spread_balances_load_then_usage() {
        let now = UnixMillis(0);
        let mut p = pool();
        let load = |id: &AccountId| usize::from(id.as_str() == "a");
        assert_eq!(p.best_spread(now, 95.0, None, load).unwrap().as_str(), "b");
        p.set_state(&"b".into(), near(50.0));
        assert_eq!(p.best_spread(now, 95.0, None, load).unwrap().as_str(), "c");
    }

    #[test]
    fn expire_records_recovery() {
        let mut p = pool();
        p.set_state(
            &"a".into(),
            AccountState::Exhausted {
                window: LimitWindow::FiveHour,
                until: UnixMillis(5),
            },
        );
        p.take_recovered();
        assert!(!p.expire(UnixMillis(4)));
        assert!(p.expire(UnixMillis(5)));
        assert_eq!(p.state(&"a".into()), Some(&AccountState::Available));
        assert!(p.take_recovered().contains(&AccountId::new("a")));
    }
}
