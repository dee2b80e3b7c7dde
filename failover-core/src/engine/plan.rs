//! The policy: after every input the engine looks at where things stand and decides what to
//! start next. Nothing here waits; each decision emits effects and moves sessions into states
//! that wait for the replies.
//!
//! Order of decisions (each only when not adopting, paused or draining):
//! 1. No usable account at all: park every session (checkpoint, stop) and wait for the
//!    earliest reset.
//! 2. Single-active: keep the active account usable and as good as possible (fail over when
//!    it is exhausted or needs a login, proactively when it crossed the threshold and one
//!    with headroom exists, back to the preferred one after it recovered).
//! 3. Launch what is not running: unstarted sessions, parked ones, dead ones whose backoff
//!    expired.
//! 4. Advance the swap in flight, or start one: sessions not where the policy wants them
//!    move, up to `parallel_moves` side by side; urgently (mid-turn) when their account is unusable or an operator
//!    asked, otherwise at a turn boundary (idle).
//! 5. Replay interrupted prompts into idle sessions.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::PolicyMode;
use crate::engine::{Effect, FailoverEngine, Swap, shared};
use crate::ids::{AccountId, SessionId};
use crate::pool::Tier;
use crate::session::{Activity, LaunchPurpose, SessionState, StopPurpose};
use crate::time::UnixMillis;

impl FailoverEngine {
    pub(super) fn plan(&mut self) {
        if self.adopting || self.paused || self.draining {
            return;
        }
        if self.hold_for_usage_reads() {
            // A destination is about to be chosen: fresh usage first (a couple of seconds
            // at most). Moves already under way go on.
            self.advance_swap();
            self.replay_prompts();
            return;
        }
        if !self.pool.any_usable(self.now) {
            self.park_all();
            return;
        }
        if self.config.mode == PolicyMode::SingleActive {
            self.choose_active();
        } else {
            self.pool.take_recovered();
        }
        self.launch_stopped();
        self.advance_swap();
        if self.swap.is_none() {
            let (mark, dirty) = (self.out.len(), self.dirty);
            self.start_swap();
            if self.swap.is_some() && !self.lease_allows_swap_after(mark, dirty) {
                return self.replay_prompts();
            }
            self.advance_swap();
        }
        self.replay_prompts();
    }

    /// With a shared ledger, a swap just planned starts only under the swap lease: without
    /// it the plan is undone (its effects from `mark` on, the dirty flag) and the lease is
    /// asked for; the swap is planned afresh once the answer arrives.
    fn lease_allows_swap_after(&mut self, mark: usize, dirty: bool) -> bool {
        if self.config.ledger.is_none() {
            return true;
        }
        let held = matches!(self.ledger.lease, shared::Lease::Held { .. });
        if held {
            return true;
        }
        self.swap = None;
        self.out.truncate(mark);
        self.dirty = dirty;
        self.lease_allows_swap();
        false
    }

    fn choose_active(&mut self) {
        let now = self.now;
        let recovered = self.pool.take_recovered();
        let models = self.pool_models();
        let Some(best) = self.pool.best_for(now, None, &models).cloned() else {
            return;
        };
        let Some(active) = self.active.clone() else {
            // Start where most sessions already run when it is as good as the best: a
            // strategy's ranking among equals is no reason to move a running pool.
            let best_tier = self.pool.tier_for(&best, now, &models);
            let home = self
                .pool
                .iter()
                .map(|e| &e.account.id)
                .filter(|a| self.index.load_of(a) > 0)
                .filter(|a| self.pool.tier_for(a, now, &models) == best_tier)
                .max_by_key(|a| (self.index.load_of(a), std::cmp::Reverse(*a)))
                .cloned();
            self.set_active(home.unwrap_or(best));
            return;
        };
        // A recovery of an account more preferred than the active one is remembered until
        // the pool can go back to it.
        let preference = |id: &AccountId| self.pool.get(id).map(|e| e.account.preference);
        let wanted: Vec<AccountId> = recovered
            .into_iter()
            .filter(|a| preference(a) < preference(&active))
            .collect();
        self.return_wanted.extend(wanted);
        if best != active {
            if !self.pool.is_usable(&active, now) {
                self.leave_for(&active, best);
                return;
            }
            // A model's used-up weekly window is a reason to move only with `follow_model`:
            // otherwise Claude Code falls back to another model by itself.
            let follow: &[_] = if self.config.follow_model {
                &models
            } else {
                &[]
            };
            let active_tier = self.pool.tier_for(&active, now, follow);
            let best_tier = self.pool.tier_for(&best, now, &models);
            let leave = match active_tier {
                Some(Tier::NearLimit) => best_tier.is_some_and(|t| t < Tier::NearLimit),
                Some(Tier::ModelCapped) => best_tier == Some(Tier::Headroom),
                _ => false,
            };
            if leave {
                self.leave_for(&active, best);
                return;
            }
        }
        self.try_return(&active, &models);
    }

    /// Fails the pool over from `active` to `best`; `active` must recover anew before the
    /// pool goes back to it.
    fn leave_for(&mut self, active: &AccountId, best: AccountId) {
        self.return_wanted.remove(active);
        self.notify_failover(active, &best);
        self.set_active(best);
    }

    /// Goes back to the most preferred account that recovered, once it has
    /// `return_headroom_percent` of room for the pool's models, at most once per
    /// `return_cooldown` (the sessions then move at a turn boundary).
    fn try_return(&mut self, active: &AccountId, models: &[crate::account::LimitWindow]) {
        if !self.config.return_to_preferred {
            self.return_wanted.clear();
            return;
        }
        if self.return_wanted.is_empty() {
            return;
        }
        let now = self.now;
        if self
            .last_return
            .is_some_and(|t| now < t + self.config.return_cooldown)
        {
            return;
        }
        let pool = &self.pool;
        let active_pref = pool.get(active).map(|e| e.account.preference);
        self.return_wanted.retain(|a| {
            pool.get(a)
                .is_some_and(|e| Some(e.account.preference) < active_pref)
        });
        let target = pool
            .iter()
            .map(|e| &e.account.id)
            .filter(|a| self.return_wanted.contains(*a))
            .find(|a| {
                pool.tier_for(a, now, models) == Some(Tier::Headroom)
                    && pool.headroom(a) >= self.config.return_headroom_percent
            })
            .cloned();
        if let Some(target) = target {
            self.return_wanted.remove(&target);
            self.last_return = Some(now);
            self.notify_returned(active, &target);
            self.set_active(target);
        }
    }

    pub(super) fn set_active(&mut self, account: AccountId) {
        self.active = Some(account);
        self.forced = false;
        self.dirty = true;
        if self.swap.as_ref().is_some_and(|s| !s.is_moving()) {
            self.swap = None;
        }
    }

    /// Where a session that is not running should be launched, if anywhere.
    pub(super) fn target_for(&self, sid: &SessionId) -> Option<AccountId> {
        let now = self.now;
        let models = self.session_models(sid);
        match self.config.mode {
            PolicyMode::SingleActive => self
                .active
                .clone()
                .filter(|a| self.pool.is_usable(a, now))
                .or_else(|| self.pool.best_for(now, None, &models).cloned()),
            PolicyMode::Spread => {
                // Back where it ran, while that account still has headroom (for its model).
                let home = self.sessions.get(sid).and_then(|m| m.state.home());
                if let Some(home) = home {
                    if self.pool.tier_for(home, now, &models) == Some(Tier::Headroom) {
                        return Some(home.clone());
                    }
                }
                let load_of = |a: &AccountId| self.index.load_of(a);
                self.pool.best_spread(now, None, &models, load_of).cloned()
            }
        }
    }

    /// Launches unstarted, parked and due dead sessions.
    fn launch_stopped(&mut self) {
        let now = self.now;
        let due: Vec<SessionId> = self
            .index
            .stopped
            .iter()
            .filter(|id| {
                self.sessions.get(*id).is_some_and(|m| match &m.state {
                    SessionState::Dead { relaunch_at, .. } => *relaunch_at <= now,
                    _ => true,
                })
            })
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        let mut resumed = BTreeSet::new();
        for sid in due {
            // Each launch updates the load index, so spread balances as it goes.
            let Some(target) = self.target_for(&sid) else {
                continue;
            };
            let purpose = match self.sessions.get(&sid).map(|m| &m.state) {
                Some(SessionState::Parked { .. }) => {
                    resumed.insert(target.clone());
                    LaunchPurpose::Unpark
                }
                Some(SessionState::Dead { .. }) => LaunchPurpose::Relaunch,
                _ => LaunchPurpose::Start,
            };
            self.launch(&sid, target, purpose);
        }
        for account in resumed {
            self.notify_resumed(&account);
        }
        self.parked_episode = false;
    }

    /// Emits a launch. Every launch goes through here, and only to a usable account.
    pub(super) fn launch(&mut self, sid: &SessionId, account: AccountId, purpose: LaunchPurpose) {
        let (Some(m), Some(entry)) = (self.sessions.get(sid), self.pool.get(&account)) else {
            return;
        };
        debug_assert!(
            self.pool.is_usable(&account, self.now),
            "launch on unusable account"
        );
        let (config_dir, dir, resume) = (
            entry.account.config_dir.clone(),
            m.spec.dir.clone(),
            m.claude_session.clone(),
        );
        let request = self.next_request(sid);
        let deadline = self.deadline();
        if let Some(m) = self.sessions.get_mut(sid) {
            // A new placement: evidence from before it is about the previous one.
            m.stale_before = Some(self.now);
            m.turn_started_at = None;
            m.pane_shows_history = true;
            m.quota_hit_at = None;
            m.streak = None;
            m.replied = false;
            m.usage.clear();
            m.launched_at = Some(self.now);
        }
        self.out.push(Effect::Launch {
            request,
            session: sid.clone(),
            account: account.clone(),
            config_dir,
            dir,
            resume,
        });
        self.set_state(
            sid,
            SessionState::Launching {
                account,
                request,
                deadline,
                purpose,
            },
        );
    }

    /// Starts moving a running session off its account: checkpoint first.
    fn begin_checkpoint(&mut self, sid: &SessionId, purpose: StopPurpose) {
        let Some(m) = self.sessions.get(sid) else {
            return;
        };
        let SessionState::Running {
            account, activity, ..
        } = &m.state
        else {
            return;
        };
        // Replay only a turn known to be cut short: one in progress, or one that hit the
        // quota itself. An unknown activity is not enough (the last prompt may have been
        // answered long ago, and typing it again would redo that work).
        let interrupted = *activity == Some(Activity::Working) || m.quota_hit_at.is_some();
        let account = account.clone();
        self.emit_checkpoint(sid, account, purpose, interrupted, false);
    }

    /// Emits a checkpoint of the session on `account` and waits for it in `Checkpointing`.
    pub(super) fn emit_checkpoint(
        &mut self,
        sid: &SessionId,
        account: AccountId,
        purpose: StopPurpose,
        interrupted: bool,
        after_stop: bool,
    ) {
        let Some(m) = self.sessions.get(sid) else {
            return;
        };
        let (claude_session, dir, task) = (
            m.claude_session.clone(),
            m.spec.dir.clone(),
            m.spec.task.clone(),
        );
        let request = self.next_request(sid);
        let deadline = self.deadline();
        self.out.push(Effect::Checkpoint {
            request,
            session: sid.clone(),
            account: account.clone(),
            claude_session,
            dir,
            task,
        });
        self.set_state(
            sid,
            SessionState::Checkpointing {
                account,
                request,
                deadline,
                purpose,
                interrupted,
                after_stop,
            },
        );
    }

    /// Whether a running session is held up on an account other than `except` (see
    /// [`AccountPool::stalls`](crate::AccountPool::stalls)).
    fn urgent_elsewhere(&self, except: &AccountId) -> bool {
        let now = self.now;
        let suspect = self
            .index
            .load
            .keys()
            .any(|a| a != except && self.pool.stalls(a, now));
        suspect
            && self.sessions.values().any(|m| {
                matches!(&m.state, SessionState::Running { account, .. }
                if account != except && self.pool.stalls(account, self.now))
            })
    }

    /// Moves the swap on: drops the sessions that left `from`, completes the swap when
    /// none is left, aborts it when its destination or its reason went away, and otherwise
    /// starts moving pending sessions until [`EngineConfig::parallel_moves`] are under way.
    ///
    /// An abort never cuts a move short: while sessions are moving, no new one starts and
    /// the swap stays; each moving session lands where `after_stop` finds room (its
    /// destination re-chosen if that went unusable), and the swap is dropped once the
    /// last one is done.
    ///
    /// [`EngineConfig::parallel_moves`]: crate::EngineConfig::parallel_moves
    fn advance_swap(&mut self) {
        let now = self.now;
        let parallel = self.config.parallel_moves;
        let Some(swap) = self.swap.as_mut() else {
            return;
        };
        let from = swap.from.clone();
        let to = swap.to.clone();
        let sessions = &self.sessions;
        // A move whose session left its swap steps by a path that did not report it frees
        // its slot: a lost report must not wedge the swap.
        swap.moving
            .retain(|s| sessions.get(s).is_some_and(|m| m.state.is_swap_step()));
        let moving = &swap.moving;
        let before = swap.pending.len();
        swap.pending.retain(|s| {
            moving.contains(s)
                || sessions.get(s).is_some_and(|m| {
                    matches!(&m.state, SessionState::Running { account, .. }
                    | SessionState::Prompting { account, .. } if *account == from)
                })
        });
        if swap.pending.len() != before {
            self.dirty = true;
        }
        if swap.pending.is_empty() {
            self.swap = None;
            self.swaps_completed += 1;
            self.dirty = true;
            return;
        }
        let free = parallel.saturating_sub(swap.moving.len());
        if free == 0 {
            return;
        }
        let single = self.config.mode == PolicyMode::SingleActive;
        // Sessions held up on `from` move mid-turn; sessions there that keep working (on
        // extra usage, or merely near the limit) finish their turn first.
        let urgent = self.pool.stalls(&from, now) || self.forced;
        let abort = !self.pool.is_usable(&to, now)
            || (single && self.active.as_ref() != Some(&to))
            || (!urgent && self.urgent_elsewhere(&from));
        if abort {
            if self.swap.as_ref().is_some_and(|s| !s.is_moving()) {
                self.swap = None;
                self.dirty = true;
            }
            return;
        }
        let next: Vec<SessionId> = self.swap.as_ref().map_or_else(Vec::new, |swap| {
            swap.pending
                .iter()
                .filter(|s| !swap.moving.contains(*s))
                .filter(|s| {
                    self.sessions.get(*s).is_some_and(|m| {
                        m.stoppable()
                            && (urgent
                                || matches!(
                                    m.state,
                                    SessionState::Running {
                                        activity: Some(Activity::Idle),
                                        ..
                                    }
                                ))
                    })
                })
                .take(free)
                .cloned()
                .collect()
        });
        for sid in next {
            if let Some(swap) = self.swap.as_mut() {
                swap.moving.insert(sid.clone());
            }
            self.begin_checkpoint(&sid, StopPurpose::Swap { to: to.clone() });
        }
    }

    fn start_swap(&mut self) {
        let now = self.now;
        match self.config.mode {
            PolicyMode::SingleActive => {
                let Some(active) = self.active.clone() else {
                    return;
                };
                if self.index.load.keys().all(|a| *a == active) {
                    self.forced = false;
                    return;
                }
                // Sessions on an unusable account first, then any not on the active one.
                let mut from: Option<AccountId> = None;
                for m in self.sessions.values() {
                    let (SessionState::Running { account, .. }
                    | SessionState::Prompting { account, .. }) = &m.state
                    else {
                        continue;
                    };
                    if *account == active {
                        continue;
                    }
                    if !self.pool.is_usable(account, now) {
                        from = Some(account.clone());
                        break;
                    }
                    if from.is_none() {
                        from = Some(account.clone());
                    }
                }
                let Some(from) = from else {
                    self.forced = false;
                    return;
                };
                let pending = self.sessions_on(&from);
                self.swap = Some(Swap::new(from, active, pending, now));
                self.dirty = true;
            }
            PolicyMode::Spread => {
                let load = &self.index.load;
                let load_of = |a: &AccountId| load.get(a).copied().unwrap_or(0);
                let mut chosen: Option<(SessionId, AccountId, AccountId, bool)> = None;
                // Only walk the sessions when some loaded account calls for it.
                let loaded_unusable = load.keys().any(|a| !self.pool.is_usable(a, now));
                let follow = self.config.follow_model;
                let loaded_near = load.keys().any(|a| {
                    let tier = self.pool.tier(a, now);
                    tier == Some(Tier::NearLimit) || (follow && tier == Some(Tier::Headroom))
                });
                // Urgent: a session on an unusable account.
                for (sid, m) in self.sessions.iter().filter(|_| loaded_unusable) {
                    if let SessionState::Running { account, .. } = &m.state {
                        if !self.pool.is_usable(account, now) {
                            let models = self.session_models(sid);
                            if let Some(to) =
                                self.pool.best_spread(now, Some(account), &models, load_of)
                            {
                                chosen = Some((sid.clone(), account.clone(), to.clone(), true));
                                break;
                            }
                        }
                    }
                }
                // Proactive: a session on an account past the threshold (or, with
                // `follow_model`, where its model's weekly window is used up), when one with
                // headroom for it exists (at a turn boundary).
                if chosen.is_none() && loaded_near {
                    for (sid, m) in &self.sessions {
                        if let SessionState::Running { account, .. } = &m.state {
                            let models = self.session_models(sid);
                            let tier = self.pool.tier(account, now);
                            let capped = follow
                                && self.pool.tier_for(account, now, &models)
                                    == Some(Tier::ModelCapped);
                            if tier == Some(Tier::NearLimit) || capped {
                                let to =
                                    self.pool.best_spread(now, Some(account), &models, load_of);
                                if let Some(to) = to.filter(|to| {
                                    self.pool.tier_for(to, now, &models) == Some(Tier::Headroom)
                                }) {
                                    chosen =
                                        Some((sid.clone(), account.clone(), to.clone(), false));
                                    break;
                                }
                            }
                        }
                    }
                }
                // Rebalance: an idle session from the busiest account to an empty one.
                if chosen.is_none() && self.config.return_to_preferred {
                    chosen = self.rebalance_move(load);
                }
                let Some((sid, from, to, urgent)) = chosen else {
                    return;
                };
                if urgent {
                    self.notify_failover(&from, &to);
                }
                self.swap = Some(Swap::new(from, to, vec![sid], now));
                self.dirty = true;
            }
        }
    }

    fn rebalance_move(
        &self,
        load: &BTreeMap<AccountId, usize>,
    ) -> Option<(SessionId, AccountId, AccountId, bool)> {
        let now = self.now;
        let load_of = |a: &AccountId| load.get(a).copied().unwrap_or(0);
        let empty = self.pool.iter().find(|e| {
            load_of(&e.account.id) == 0
                && self.pool.tier(&e.account.id, now) == Some(Tier::Headroom)
        })?;
        let busiest = self
            .pool
            .iter()
            .filter(|e| load_of(&e.account.id) >= 2)
            .max_by_key(|e| load_of(&e.account.id))?;
        let from = busiest.account.id.clone();
        let sid = self.sessions.iter().find_map(|(sid, m)| match &m.state {
            SessionState::Running {
                account,
                activity: Some(Activity::Idle),
                stop_held_until: None,
            } if *account == from => Some(sid.clone()),
            _ => None,
        })?;
        Some((sid, from, empty.account.id.clone(), false))
    }

    fn sessions_on(&self, account: &AccountId) -> Vec<SessionId> {
        self.sessions
            .iter()
            .filter(|(_, m)| {
                matches!(&m.state, SessionState::Running { account: a, .. }
                    | SessionState::Prompting { account: a, .. } if a == account)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every account is unusable: stop every session and wait for the earliest reset.
    fn park_all(&mut self) {
        if self.swap.as_ref().is_some_and(|s| !s.is_moving()) {
            self.swap = None;
            self.dirty = true;
        }
        let ids: Vec<SessionId> = self.sessions.keys().cloned().collect();
        for sid in &ids {
            let Some(m) = self.sessions.get(sid) else {
                continue;
            };
            match &m.state {
                SessionState::Unstarted { last_account } => {
                    let last_account = last_account.clone();
                    self.set_state(sid, SessionState::Parked { last_account });
                }
                SessionState::Dead { account, .. } => {
                    let last_account = Some(account.clone());
                    self.set_state(sid, SessionState::Parked { last_account });
                }
                // A session working on extra usage finishes its turn first (it is not held
                // up); it is parked once idle.
                SessionState::Running {
                    account, activity, ..
                } if m.stoppable()
                    && (*activity != Some(Activity::Working)
                        || self.pool.stalls(account, self.now)) =>
                {
                    self.begin_checkpoint(sid, StopPurpose::Park);
                }
                _ => {}
            }
        }
        if !self.parked_episode {
            self.parked_episode = true;
            self.notify_all_exhausted();
        }
    }

    fn replay_prompts(&mut self) {
        let due: Vec<(SessionId, AccountId, String, Option<UnixMillis>)> = self
            .index
            .prompts
            .iter()
            .filter_map(|id| self.sessions.get(id).map(|m| (id, m)))
            .filter_map(|(id, m)| match (&m.state, &m.pending_prompt) {
                (
                    SessionState::Running {
                        account,
                        activity: Some(Activity::Idle),
                        stop_held_until,
                    },
                    Some(text),
                ) => Some((id.clone(), account.clone(), text.clone(), *stop_held_until)),
                _ => None,
            })
            .collect();
        for (sid, account, text, stop_held_until) in due {
            let request = self.next_request(&sid);
            let deadline = self.deadline();
            self.out.push(Effect::SendPrompt {
                request,
                session: sid.clone(),
                text,
            });
            if let Some(m) = self.sessions.get_mut(&sid) {
                // The replayed prompt's turn starts as it is typed: what it ends with
                // (written before the CLI's own working report, or after) is news.
                m.turn_started_at = Some(self.now);
            }
            self.set_state(
                &sid,
                SessionState::Prompting {
                    account,
                    request,
                    deadline,
                    reported: None,
                    stop_held_until,
                },
            );
        }
    }
}
