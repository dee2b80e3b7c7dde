//! [`AccountPool`]: what the engine knows of every account, and the selection policy that
//! picks where a session may run.

use std::collections::{BTreeMap, BTreeSet};

use crate::account::{Account, AccountState, LimitWindow, ResetGrant, UsageReport, WindowUsage};
use crate::config::{EngineConfig, Strategy};
use crate::ids::AccountId;
use crate::time::UnixMillis;

/// How good a usable account is as a destination. Lower is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Below the proactive threshold with at least `min_headroom_percent` left (or nothing
    /// known yet).
    Headroom,
    /// Room left, but the weekly window of a model the sessions use is used up there
    /// (Claude Code would fall back to another model).
    ModelCapped,
    /// Below the proactive threshold, but with less than `min_headroom_percent` left.
    LowHeadroom,
    /// A window is at or past the proactive threshold (or, when allowed, the account runs
    /// on extra usage).
    NearLimit,
}

impl Tier {
    /// What the tier means, for people.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Headroom => "has headroom",
            Self::ModelCapped => "a model's weekly window is used up",
            Self::LowHeadroom => "less than min_headroom_percent left",
            Self::NearLimit => "past its proactive threshold",
        }
    }
}

/// The selection rules of an [`EngineConfig`] the pool applies.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// How equally good accounts are ranked.
    pub strategy: Strategy,
    /// The proactive threshold.
    pub proactive_percent: f32,
    /// Per-account thresholds.
    pub proactive_overrides: BTreeMap<AccountId, f32>,
    /// Less room than this makes an account a last resort.
    pub min_headroom_percent: f32,
    /// Whether an account on extra usage may be chosen.
    pub allow_extra_usage: bool,
}

impl Rules {
    /// The rules of `config`.
    pub(crate) fn from_config(config: &EngineConfig) -> Self {
        Self {
            strategy: config.strategy,
            proactive_percent: config.proactive_percent,
            proactive_overrides: config.proactive_overrides.clone(),
            min_headroom_percent: config.min_headroom_percent,
            allow_extra_usage: config.allow_extra_usage,
        }
    }

    fn threshold(&self, id: &AccountId) -> f32 {
        self.proactive_overrides
            .get(id)
            .copied()
            .unwrap_or(self.proactive_percent)
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self::from_config(&EngineConfig::new(Vec::new(), Vec::new()))
    }
}

/// One account and what is known of it.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountEntry {
    /// The configured account.
    pub account: Account,
    /// Its quota state.
    pub state: AccountState,
    /// The latest reading of each window (usage reports, model-scoped evidence); a reading
    /// is dropped when its window resets.
    pub usage: BTreeMap<LimitWindow, WindowUsage>,
    /// It is spending extra usage (paid usage credits).
    pub extra_usage: bool,
    /// The one-time usage-reset grants its latest usage report showed (never spent).
    pub grants: Vec<ResetGrant>,
}

impl AccountEntry {
    fn new(account: Account) -> Self {
        Self {
            account,
            state: AccountState::Unknown,
            usage: BTreeMap::new(),
            extra_usage: false,
            grants: Vec::new(),
        }
    }

    /// The window closest to its cap among those that meter the whole account (the state's
    /// near-limit reading and the usage readings), if any is known.
    pub fn binding(&self) -> Option<WindowUsage> {
        let from_state = match &self.state {
            AccountState::NearLimit {
                window,
                used_percent,
                resets_at,
            } if !window.is_model_scoped() => Some(WindowUsage {
                window: *window,
                used_percent: *used_percent,
                resets_at: *resets_at,
            }),
            _ => None,
        };
        from_state
            .into_iter()
            .chain(
                self.usage
                    .values()
                    .filter(|u| !u.window.is_model_scoped())
                    .copied(),
            )
            .max_by(|a, b| a.used_percent.total_cmp(&b.used_percent))
    }

    /// Whether `window` (a model-scoped one) is used up at `now`.
    pub fn model_capped(&self, window: LimitWindow, now: UnixMillis) -> bool {
        self.usage
            .get(&window)
            .is_some_and(|u| u.used_percent >= 100.0 && u.resets_at.is_none_or(|at| at > now))
    }
}

/// Every configured account, kept in preference order (then by name), and the selection
/// policy that picks where a session may run.
///
/// The policy: a session only ever goes to a *usable* account (not exhausted at that
/// instant, not waiting for a login, not spending extra usage unless that is allowed), and
/// among usable accounts the best [`Tier`] wins: room left beats a used-up model window,
/// which beats less than `min_headroom_percent` left, which beats an account past its
/// proactive threshold. Within a tier the [`Strategy`] ranks them (drain-soonest,
/// most-headroom or preference), and ties go to the operator's preference order, then the
/// name.
///
/// An embedder reads it through [`FailoverEngine::accounts`](crate::FailoverEngine::accounts);
/// only the engine changes it, from the inputs it is given:
///
/// ```compile_fail
/// let mut pool = failover_core::AccountPool::new(&[]);
/// pool.set_state(&"a".into(), failover_core::AccountState::NeedsLogin);
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AccountPool {
    entries: Vec<AccountEntry>,
    /// Accounts that went from unusable (or near the limit) back to full headroom since the
    /// engine last looked; a trigger for returning to the preferred account.
    recovered: BTreeSet<AccountId>,
    rules: Rules,
}

impl AccountPool {
    /// A pool of `accounts`, every one in [`AccountState::Unknown`], with the default rules.
    pub(crate) fn new(accounts: &[Account]) -> Self {
        let mut entries: Vec<AccountEntry> =
            accounts.iter().cloned().map(AccountEntry::new).collect();
        entries.sort_by(|a, b| {
            (a.account.preference, &a.account.id).cmp(&(b.account.preference, &b.account.id))
        });
        Self {
            entries,
            recovered: BTreeSet::new(),
            rules: Rules::default(),
        }
    }

    /// Replaces the selection rules.
    pub(crate) fn set_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    /// The selection rules in force.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Takes a new account list (configuration reload): known accounts keep their state,
    /// new ones start [`AccountState::Unknown`], the order follows the new preferences.
    /// Accounts missing from `accounts` are kept (removing one needs a restart).
    pub(crate) fn reconfigure(&mut self, accounts: &[Account]) {
        for a in accounts {
            match self.entries.iter_mut().find(|e| e.account.id == a.id) {
                Some(e) => e.account = a.clone(),
                None => self.entries.push(AccountEntry::new(a.clone())),
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
    pub(crate) fn set_state(&mut self, id: &AccountId, state: AccountState) -> bool {
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
        if matches!(entry.state, AccountState::Exhausted { .. })
            && !matches!(state, AccountState::Exhausted { .. })
        {
            // The spent window is back: no longer on paid usage.
            entry.extra_usage = false;
        }
        entry.state = state;
        true
    }

    /// Records one window's reading for `id` (a model-scoped window's evidence); returns
    /// whether anything changed.
    pub(crate) fn record_window(&mut self, id: &AccountId, usage: WindowUsage) -> bool {
        let Some(entry) = self.entries.iter_mut().find(|e| &e.account.id == id) else {
            return false;
        };
        entry.usage.insert(usage.window, usage) != Some(usage)
    }

    /// Takes a usage report for `id`: its readings replace the previous ones, and its
    /// extra-usage flag is set. The account's state is the engine's business. Returns
    /// whether anything changed.
    pub(crate) fn record_report(&mut self, id: &AccountId, report: &UsageReport) -> bool {
        let Some(entry) = self.entries.iter_mut().find(|e| &e.account.id == id) else {
            return false;
        };
        let usage: BTreeMap<LimitWindow, WindowUsage> =
            report.windows.iter().map(|u| (u.window, *u)).collect();
        let changed = entry.usage != usage
            || entry.extra_usage != report.extra_usage
            || entry.grants != report.grants;
        entry.usage = usage;
        entry.extra_usage = report.extra_usage;
        entry.grants.clone_from(&report.grants);
        changed
    }

    /// Marks `id` as spending extra usage (or not); returns whether anything changed. The
    /// mark ends with the exhaustion it came with (the plan's window reset) or with a usage
    /// report that says otherwise.
    pub fn set_extra_usage(&mut self, id: &AccountId, on: bool) -> bool {
        let Some(entry) = self.entries.iter_mut().find(|e| &e.account.id == id) else {
            return false;
        };
        std::mem::replace(&mut entry.extra_usage, on) != on
    }

    /// Whether sessions on `id` are held up at `now`: it is not usable, and not because it
    /// runs on extra usage (there the sessions keep working, at a cost, and move at a turn
    /// boundary).
    pub fn stalls(&self, id: &AccountId, now: UnixMillis) -> bool {
        self.get(id).is_some_and(|e| {
            let paying = e.extra_usage && e.state != AccountState::NeedsLogin;
            !paying && !self.entry_usable(e, now)
        })
    }

    /// Whether a session may be placed on `id` at `now`: not exhausted, not waiting for a
    /// login, and not spending extra usage unless that is allowed (an account on extra
    /// usage whose window is out is usable only then).
    pub fn is_usable(&self, id: &AccountId, now: UnixMillis) -> bool {
        self.get(id).is_some_and(|e| self.entry_usable(e, now))
    }

    fn entry_usable(&self, e: &AccountEntry, now: UnixMillis) -> bool {
        if e.extra_usage {
            return self.rules.allow_extra_usage && e.state != AccountState::NeedsLogin;
        }
        e.state.is_usable(now)
    }

    /// How good `id` is as a destination at `now` for sessions of no particular model;
    /// `None` when it is not usable.
    pub fn tier(&self, id: &AccountId, now: UnixMillis) -> Option<Tier> {
        self.tier_for(id, now, &[])
    }

    /// How good `id` is as a destination at `now` for sessions whose models are metered by
    /// `models` (model-scoped windows); `None` when it is not usable.
    pub fn tier_for(
        &self,
        id: &AccountId,
        now: UnixMillis,
        models: &[LimitWindow],
    ) -> Option<Tier> {
        self.get(id).and_then(|e| self.rank(e, now, models))
    }

    fn rank(&self, e: &AccountEntry, now: UnixMillis, models: &[LimitWindow]) -> Option<Tier> {
        if !self.entry_usable(e, now) {
            return None;
        }
        if e.extra_usage {
            return Some(Tier::NearLimit);
        }
        let used = e.binding().map_or(0.0, |b| b.used_percent);
        Some(if used >= self.rules.threshold(&e.account.id) {
            Tier::NearLimit
        } else if 100.0 - used < self.rules.min_headroom_percent {
            Tier::LowHeadroom
        } else if models.iter().any(|w| e.model_capped(*w, now)) {
            Tier::ModelCapped
        } else {
            Tier::Headroom
        })
    }

    /// The strategy's order within a tier: lower first.
    fn strategy_key(&self, e: &AccountEntry) -> i64 {
        match self.rules.strategy {
            Strategy::Preference => 0,
            Strategy::DrainSoonest => e
                .binding()
                .and_then(|b| b.resets_at)
                .map_or(i64::MAX, |t| t.0),
            // Tenths of a percent are precise enough to rank on, and keep the key `Ord`.
            Strategy::MostHeadroom => e
                .binding()
                .map_or(0, |b| (b.used_percent.clamp(0.0, 100.0) * 10.0) as i64),
        }
    }

    /// Whether any account is usable at `now`.
    pub fn any_usable(&self, now: UnixMillis) -> bool {
        self.entries.iter().any(|e| self.entry_usable(e, now))
    }

    /// The best usable account other than `exclude`: best tier, then the strategy, then
    /// preference.
    pub fn best(&self, now: UnixMillis, exclude: Option<&AccountId>) -> Option<&AccountId> {
        self.best_for(now, exclude, &[])
    }

    /// [`best`](Self::best) for sessions whose models are metered by `models`.
    pub fn best_for(
        &self,
        now: UnixMillis,
        exclude: Option<&AccountId>,
        models: &[LimitWindow],
    ) -> Option<&AccountId> {
        self.entries
            .iter()
            .filter(|e| Some(&e.account.id) != exclude)
            .filter_map(|e| {
                self.rank(e, now, models)
                    .map(|t| ((t, self.strategy_key(e)), e))
            })
            // `min_by_key` keeps the first of equals: entries are in preference order.
            .min_by_key(|(k, _)| *k)
            .map(|(_, e)| &e.account.id)
    }

    /// The best usable account for one more session under the `spread` policy: best tier,
    /// then fewest sessions (`load`), then the strategy, then lowest used percentage, then
    /// preference.
    pub fn best_spread(
        &self,
        now: UnixMillis,
        exclude: Option<&AccountId>,
        models: &[LimitWindow],
        load: impl Fn(&AccountId) -> usize,
    ) -> Option<&AccountId> {
        /// Tier, load, the strategy's key, used percent.
        type Key = (Tier, usize, i64, u32);
        let mut best: Option<(Key, &AccountId)> = None;
        for e in &self.entries {
            if Some(&e.account.id) == exclude {
                continue;
            }
            let Some(tier) = self.rank(e, now, models) else {
                continue;
            };
            // Whole percent is precise enough to balance on, and keeps the key `Ord`.
            let used = e
                .binding()
                .map_or(0, |b| b.used_percent.clamp(0.0, 100.0) as u32);
            let key = (tier, load(&e.account.id), self.strategy_key(e), used);
            // Entries are in preference order, so a strict `<` keeps the preferred one on ties.
            if best.as_ref().is_none_or(|(k, _)| key < *k) {
                best = Some((key, &e.account.id));
            }
        }
        best.map(|(_, id)| id)
    }

    /// How much room `id`'s binding window has left, 0–100 (100 when nothing is known).
    pub fn headroom(&self, id: &AccountId) -> f32 {
        self.get(id)
            .and_then(AccountEntry::binding)
            .map_or(100.0, |b| (100.0 - b.used_percent).clamp(0.0, 100.0))
    }

    /// Turns windows whose reset instant has passed back into [`AccountState::Available`],
    /// and drops readings of windows that reset. Returns whether anything changed.
    pub(crate) fn expire(&mut self, now: UnixMillis) -> bool {
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
            let usage = &mut self.entries[i].usage;
            let before = usage.len();
            usage.retain(|_, u| u.resets_at.is_none_or(|at| at > now));
            changed |= usage.len() != before;
        }
        changed
    }

    /// The earliest instant at which an account's state changes by itself (a reset).
    pub fn next_reset(&self) -> Option<UnixMillis> {
        self.entries
            .iter()
            .flat_map(|e| {
                let state = match &e.state {
                    AccountState::Exhausted { until, .. } => Some(*until),
                    AccountState::NearLimit { resets_at, .. } => *resets_at,
                    _ => None,
                };
                state
                    .into_iter()
                    .chain(e.usage.values().filter_map(|u| u.resets_at))
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
    pub(crate) fn take_recovered(&mut self) -> BTreeSet<AccountId> {
        std::mem::take(&mut self.recovered)
    }
}

/// The used percentage a state records: the near-limit reading, or 100 when exhausted.
pub(crate) fn used_percent(state: &AccountState) -> Option<f32> {
    match state {
        AccountState::NearLimit { used_percent, .. } => Some(*used_percent),
        AccountState::Exhausted { .. } => Some(100.0),
        _ => None,
    }
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
        assert_eq!(p.best(now, None).unwrap().as_str(), "a");
        p.set_state(&"a".into(), near(97.0));
        assert_eq!(p.best(now, None).unwrap().as_str(), "b");
        p.set_state(&"b".into(), AccountState::NeedsLogin);
        p.set_state(
            &"c".into(),
            AccountState::Exhausted {
                window: LimitWindow::Weekly,
                until: UnixMillis(10),
            },
        );
        // Only the near-limit account is usable: it is still chosen.
        assert_eq!(p.best(now, None).unwrap().as_str(), "a");
        assert_eq!(p.best(now, Some(&"a".into())), None);
        // At the reset instant the exhausted one is usable again, and has headroom.
        assert_eq!(p.best(UnixMillis(10), None).unwrap().as_str(), "c");
    }

    #[test]
    fn spread_balances_load_then_usage() {
        let now = UnixMillis(0);
        let mut p = pool();
        let load = |id: &AccountId| usize::from(id.as_str() == "a");
        assert_eq!(p.best_spread(now, None, &[], load).unwrap().as_str(), "b");
        p.set_state(&"b".into(), near(50.0));
        assert_eq!(p.best_spread(now, None, &[], load).unwrap().as_str(), "c");
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
