//! The sans-IO failover engine: [`FailoverEngine`].
//!
//! The engine is a deterministic state machine in the style of `quinn-proto`: it never reads
//! a clock, never does I/O and never calls a port. The embedder feeds it [`Input`]s with the
//! current time, executes the [`Effect`]s it returns, feeds the results back as
//! [`Input::EffectFinished`], and wakes it with [`Input::Tick`] at
//! [`next_deadline`](FailoverEngine::next_deadline).
//!
//! The per-session state diagram and the transition table are in the repository's
//! `ARCHITECTURE.md` (section "The failover engine"); [`SessionState`] documents each
//! state.
//!
//! The code is split by concern, each file an `impl FailoverEngine` block:
//! - `evidence.rs`: detector verdicts → account states (confirmation, veto, staleness);
//! - `lifecycle.rs`: session started / exited / activity, effect replies, timeouts;
//! - `plan.rs`: the policy: active account, swaps, parking, launches, prompt replay;
//! - `commands.rs`: operator commands and configuration reload;
//! - `notes.rs`: the notifications the engine raises;
//! - `shared.rs`: the ledger shared with other hosts (news in and out, the swap lease);
//! - `usage_reads.rs`: the usage reads asked for right before choosing a destination;
//! - `standbys.rs`: which sessions should have a program ready ahead of a move, and where;
//! - `index.rs`: per-account load, stopped sessions and prompts to replay, kept up to date
//!   on every state change so that an input costs what it changes, not the pool's size.

mod commands;
mod effect;
mod evidence;
mod index;
mod input;
mod lifecycle;
mod machine;
mod notes;
mod plan;
mod shared;
mod snapshot;
mod standbys;
mod usage_reads;

use std::collections::{BTreeMap, BTreeSet};

pub use effect::{CommandRefusal, CommandReply, Effect, Standstill, Unsupported};
pub(crate) use evidence::PaneStreak;
pub use input::{Command, EffectOutcome, Input, Subject};
pub use snapshot::{AccountStatus, Choice, SessionStatus, StatusSnapshot, SwapStatus};

use crate::account::AccountState;
use crate::config::{ConfigError, EngineConfig};
use crate::ids::{AccountId, RequestId, SessionId};
use crate::pool::AccountPool;
use crate::session::{Activity, SessionState};
use crate::state::{PersistedSession, PersistedState, PersistedSwap};
use crate::time::UnixMillis;
use machine::SessionMachine;

/// The swap in flight: sessions on `from` move to `to`, up to
/// [`EngineConfig::parallel_moves`] of them at a time.
#[derive(Clone, Debug, PartialEq)]
struct Swap {
    from: AccountId,
    to: AccountId,
    /// Sessions that will move or are moving, in order. A session leaves the list when
    /// its move ends (launched, failed, parked) or when it no longer runs on `from`.
    pending: Vec<SessionId>,
    /// The sessions of `pending` whose checkpoint, stop or launch is outstanding; never
    /// more than [`EngineConfig::parallel_moves`] when they start. While it is not empty
    /// the swap is never dropped: those moves finish first.
    moving: BTreeSet<SessionId>,
    started_at: UnixMillis,
}

impl Swap {
    fn new(from: AccountId, to: AccountId, pending: Vec<SessionId>, now: UnixMillis) -> Self {
        Self {
            from,
            to,
            pending,
            moving: BTreeSet::new(),
            started_at: now,
        }
    }

    /// Whether a move of this swap is under way (such a swap is never dropped).
    fn is_moving(&self) -> bool {
        !self.moving.is_empty()
    }
}

/// The failover engine: a deterministic state machine. `handle(now, input)` returns the
/// effects to execute; `next_deadline()` says when to call it again with [`Input::Tick`].
///
/// It is `Clone` so that a caller (or a test) can ask "what would happen if" without
/// disturbing the real one.
#[derive(Clone, Debug)]
pub struct FailoverEngine {
    config: EngineConfig,
    pool: AccountPool,
    sessions: BTreeMap<SessionId, SessionMachine>,
    /// Outstanding requests → the session they belong to.
    requests: BTreeMap<RequestId, SessionId>,
    next_request: u64,
    /// Single-active: the account the pool runs on.
    active: Option<AccountId>,
    swap: Option<Swap>,
    /// Streaks of identical pane verdicts about accounts (evidence not tied to a session).
    account_streaks: BTreeMap<AccountId, PaneStreak>,
    /// Waiting for [`Input::AdoptionComplete`]: nothing is launched yet.
    adopting: bool,
    /// A swap found in the persisted state, resolved once adoption completes.
    restored_swap: Option<PersistedSwap>,
    paused: bool,
    draining: bool,
    /// An operator swap: sessions move off the old account mid-turn, not at turn boundaries.
    forced: bool,
    /// Every account is exhausted and that has been announced.
    parked_episode: bool,
    swaps_completed: u64,
    ignored: u64,
    /// Per-account load, stopped sessions, prompts to replay.
    index: index::Index,
    /// How many sessions have a retry hold (so the common case skips looking for them).
    holds: usize,
    /// Accounts that recovered and are more preferred than the active one when they
    /// recovered: the pool goes back to one once it has `return_headroom_percent` of room.
    return_wanted: BTreeSet<AccountId>,
    /// The last return to a more preferred account (at most one per `return_cooldown`).
    last_return: Option<UnixMillis>,
    /// The ledger shared with other hosts (unused without [`EngineConfig::ledger`]).
    ledger: shared::LedgerView,
    /// Usage reads before choosing (see `usage_reads.rs`).
    usage_reads: usage_reads::UsageReads,
    /// The persisted state changed during this `handle`.
    dirty: bool,
    now: UnixMillis,
    out: Vec<Effect>,
}

impl FailoverEngine {
    /// A fresh engine. It launches nothing until [`Input::AdoptionComplete`].
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut pool = AccountPool::new(&config.accounts);
        pool.set_rules(crate::pool::Rules::from_config(&config));
        let sessions = config
            .sessions
            .iter()
            .map(|s| (s.id.clone(), SessionMachine::new(s.clone())))
            .collect();
        let index = index::Index::build(&sessions);
        let mut engine = Self {
            config,
            pool,
            sessions,
            requests: BTreeMap::new(),
            next_request: 1,
            active: None,
            swap: None,
            account_streaks: BTreeMap::new(),
            adopting: true,
            restored_swap: None,
            paused: false,
            draining: false,
            forced: false,
            parked_episode: false,
            swaps_completed: 0,
            ignored: 0,
            index: index::Index::default(),
            holds: 0,
            return_wanted: BTreeSet::new(),
            last_return: None,
            ledger: shared::LedgerView::default(),
            usage_reads: usage_reads::UsageReads::default(),
            dirty: false,
            now: UnixMillis::EPOCH,
            out: Vec::new(),
        };
        engine.index = index;
        Ok(engine)
    }

    /// An engine picking up from persisted state.
    ///
    /// Account states, the active account, conversations, prompts to replay, parked sessions
    /// and the pause flag are taken over; entries for accounts or sessions no longer
    /// configured are dropped. A swap that was in flight is resolved when
    /// [`Input::AdoptionComplete`] arrives, once the engine knows which sessions still run:
    /// if its destination is still usable it is finished (sessions still on the old account
    /// move, sessions found stopped launch on the destination), otherwise it is rolled back
    /// and the policy decides afresh. Either way no session is launched twice (running ones
    /// are adopted, not relaunched) and none is launched onto an unusable account.
    pub fn restore(config: EngineConfig, state: PersistedState) -> Result<Self, ConfigError> {
        if state.schema_version > PersistedState::SCHEMA_VERSION {
            return Err(ConfigError::UnsupportedStateVersion(state.schema_version));
        }
        let mut engine = Self::new(config)?;
        for (id, account_state) in state.accounts {
            engine.pool.set_state(&id, account_state);
        }
        engine.pool.take_recovered();
        engine.active = state.active_account.filter(|a| engine.pool.contains(a));
        engine.paused = state.paused;
        for (id, persisted) in state.sessions {
            let Some(m) = engine.sessions.get_mut(&id) else {
                continue;
            };
            let PersistedSession {
                account,
                claude_session,
                pending_prompt,
                parked,
            } = persisted;
            m.claude_session = claude_session;
            m.pending_prompt = pending_prompt;
            m.state = if parked {
                engine.parked_episode = true;
                SessionState::Parked {
                    last_account: account,
                }
            } else {
                SessionState::Unstarted {
                    last_account: account,
                }
            };
        }
        engine.index = index::Index::build(&engine.sessions);
        engine.restored_swap = state
            .swap
            .filter(|s| engine.pool.contains(&s.to) && s.from.is_some());
        Ok(engine)
    }

    /// Handles one input at `now` and returns the effects to execute, in order. Never fails
    /// and never panics: an input that does not apply is ignored and counted in
    /// [`StatusSnapshot::ignored_inputs`].
    pub fn handle(&mut self, now: UnixMillis, input: Input) -> Vec<Effect> {
        self.now = now;
        self.expire();
        let active_before = self.active.clone();
        match input {
            Input::Detection {
                subject,
                source,
                detection,
                observed_at,
            } => {
                let before = self.ledger_states();
                self.on_detection(subject, source, detection, observed_at);
                if let Some(before) = before {
                    self.publish_changes(before, observed_at);
                }
            }
            Input::Corroboration {
                session,
                fact,
                observed_at,
            } => self.on_corroboration(&session, fact, observed_at),
            Input::SessionStarted {
                session,
                claude_session,
                account,
            } => self.on_started(&session, claude_session, account),
            Input::SessionExited { session, status } => self.on_exited(&session, status),
            Input::SessionActivity { session, activity } => self.on_activity(&session, activity),
            Input::ClaudeSessionLearned {
                session,
                claude_session,
            } => self.on_claude_session(&session, claude_session),
            Input::UsageObserved { account, report } => self.on_usage(&account, &report),
            Input::SessionModel { session, model } => self.on_model(&session, model),
            Input::AccountNews(news) => self.on_account_news(news),
            Input::ActiveAccountNews(news) => self.on_active_news(news),
            Input::EffectFinished {
                request,
                outcome: EffectOutcome::Lease(outcome),
            } => {
                if self.is_lease_request(request) {
                    self.on_lease(outcome);
                } else {
                    self.ignore("reply to a lease request that is no longer outstanding");
                }
            }
            Input::EffectFinished { request, outcome } => self.on_finished(request, outcome),
            Input::Tick => {}
            Input::Command { id, command } => self.on_command(id, command),
            Input::AdoptionComplete => self.on_adoption_complete(),
            Input::ConfigChanged(config) => self.on_config(config),
        }
        self.expire();
        self.time_out_requests();
        self.time_out_lease();
        self.plan();
        self.ledger_after(active_before);
        debug_assert_eq!(
            self.index,
            index::Index::build(&self.sessions),
            "stale index"
        );
        if std::mem::take(&mut self.dirty) {
            let state = self.persisted_state();
            self.out.push(Effect::Persist(state));
        }
        std::mem::take(&mut self.out)
    }

    /// When to call [`handle`](Self::handle) with [`Input::Tick`] next: the earliest
    /// outstanding effect deadline, relaunch, retry hold or account reset. After `handle`
    /// it is never earlier than that call's `now`.
    pub fn next_deadline(&self) -> Option<UnixMillis> {
        let relaunching = !self.adopting && !self.paused && !self.draining;
        let mut next = self.pool.next_reset();
        if let Some(at) = self.lease_deadline() {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        if let Some(at) = self.usage_reads.deadline() {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        let mut consider = |at: UnixMillis| {
            if next.is_none_or(|n| at < n) {
                next = Some(at);
            }
        };
        for m in self.sessions.values() {
            if let Some((_, deadline)) = m.state.pending_request() {
                consider(deadline);
            }
            if let Some(hold) = m.state.stop_held_until() {
                consider(hold);
            }
            if let SessionState::Dead { relaunch_at, .. } = &m.state {
                if relaunching {
                    // Relaunches wait while a choice waits for usage reads.
                    consider(match self.usage_reads.deadline() {
                        Some(wait) => (*relaunch_at).max(wait),
                        None => *relaunch_at,
                    });
                }
            }
        }
        next
    }

    /// A read-only view for status pages and the CLI. Costs one pass over the sessions.
    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            active_account: self.active.clone(),
            paused: self.paused,
            draining: self.draining,
            accounts: self
                .pool
                .iter()
                .map(|e| AccountStatus {
                    id: e.account.id.clone(),
                    preference: e.account.preference,
                    state: e.state.clone(),
                    used_percent: crate::pool::used_percent(&e.state)
                        .into_iter()
                        .chain(e.binding().map(|b| b.used_percent))
                        .reduce(f32::max),
                    windows: e.usage.values().copied().collect(),
                    extra_usage: e.extra_usage,
                    grants: e.grants.clone(),
                    choice: self.choice(&e.account.id),
                })
                .collect(),
            sessions: self
                .sessions
                .iter()
                .map(|(id, m)| SessionStatus {
                    id: id.clone(),
                    account: m.state.account().cloned(),
                    claude_session: m.claude_session.clone(),
                    state: m.state.kind(),
                    activity: match &m.state {
                        SessionState::Running { activity, .. } => *activity,
                        SessionState::Prompting { .. } => Some(Activity::Idle),
                        _ => None,
                    },
                    last_exit: m.last_exit,
                    replay_pending: m.pending_prompt.is_some(),
                })
                .collect(),
            swap: self.swap.as_ref().map(|s| SwapStatus {
                from: s.from.clone(),
                to: s.to.clone(),
                pending: s.pending.clone(),
                moving: s.moving.iter().cloned().collect(),
                started_at: s.started_at,
            }),
            swaps_completed: self.swaps_completed,
            usage_wanted: self.usage_reads.wanted(),
            ignored_inputs: self.ignored,
        }
    }

    /// Why `account` is or is not the next choice, as things stand.
    pub fn choice(&self, account: &AccountId) -> Choice {
        let now = self.now;
        let models = self.pool_models();
        let single = self.config.mode == crate::config::PolicyMode::SingleActive;
        let Some(entry) = self.pool.get(account) else {
            return Choice::NeedsLogin;
        };
        if single && self.active.as_ref() == Some(account) && self.pool.is_usable(account, now) {
            return Choice::Active;
        }
        let next = if single {
            self.pool.best_for(now, self.active.as_ref(), &models)
        } else {
            self.pool
                .best_spread(now, None, &models, |a| self.index.load_of(a))
        };
        match self.pool.tier_for(account, now, &models) {
            Some(tier) if next == Some(account) => Choice::Next {
                tier,
                strategy: self.config.strategy,
            },
            Some(tier) => Choice::Behind {
                tier,
                ahead: next
                    .or(self.active.as_ref())
                    .cloned()
                    .unwrap_or_else(|| account.clone()),
            },
            None if entry.extra_usage && entry.state != AccountState::NeedsLogin => {
                Choice::ExtraUsage
            }
            None => match &entry.state {
                AccountState::Exhausted { window, until } => Choice::Exhausted {
                    window: *window,
                    until: *until,
                },
                _ => Choice::NeedsLogin,
            },
        }
    }

    /// The state [`Effect::Persist`] would carry now. The engine emits `Persist` whenever
    /// this changes.
    pub fn persisted_state(&self) -> PersistedState {
        PersistedState {
            schema_version: PersistedState::SCHEMA_VERSION,
            active_account: self.active.clone(),
            accounts: self
                .pool
                .iter()
                .map(|e| (e.account.id.clone(), e.state.clone()))
                .collect(),
            sessions: self
                .sessions
                .iter()
                .map(|(id, m)| {
                    (
                        id.clone(),
                        PersistedSession {
                            account: m.state.home().cloned(),
                            claude_session: m.claude_session.clone(),
                            pending_prompt: m.pending_prompt.clone(),
                            parked: matches!(m.state, SessionState::Parked { .. }),
                        },
                    )
                })
                .collect(),
            swap: match &self.swap {
                Some(s) => Some(PersistedSwap {
                    from: Some(s.from.clone()),
                    to: s.to.clone(),
                    pending: s.pending.clone(),
                    started_at: s.started_at,
                }),
                None => self.restored_swap.clone(),
            },
            paused: self.paused,
        }
    }

    /// Every session's state, in name order (for status details and tests).
    pub fn session_states(&self) -> impl Iterator<Item = (&SessionId, &SessionState)> {
        self.sessions.iter().map(|(id, m)| (id, &m.state))
    }

    /// The account pool: every account's state, in preference order.
    pub fn accounts(&self) -> &AccountPool {
        &self.pool
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    // ----- helpers shared by the submodules -----

    fn ignore(&mut self, why: &'static str) {
        self.ignored += 1;
        tracing::debug!(why, "input ignored");
    }

    fn next_request(&mut self, session: &SessionId) -> RequestId {
        let id = RequestId::new(self.next_request);
        self.next_request += 1;
        self.requests.insert(id, session.clone());
        id
    }

    fn deadline(&self) -> UnixMillis {
        self.now + self.config.effect_timeout
    }

    /// Replaces a session's state, marking the persisted state dirty when what is persisted
    /// (its home account, whether it is parked) changes.
    fn set_state(&mut self, session: &SessionId, state: SessionState) {
        if let Some(m) = self.sessions.get_mut(session) {
            let parked = |s: &SessionState| matches!(s, SessionState::Parked { .. });
            if m.state.home() != state.home() || parked(&m.state) != parked(&state) {
                self.dirty = true;
            }
            match (m.state.stop_held_until(), state.stop_held_until()) {
                (None, Some(_)) => self.holds += 1,
                (Some(_), None) => self.holds -= 1,
                _ => {}
            }
            self.index.remove(session, m);
            m.state = state;
            self.index.add(session, m);
        }
    }

    /// The model-scoped windows metering the models `sid` uses (none when unknown).
    fn session_models(&self, sid: &SessionId) -> Vec<crate::account::LimitWindow> {
        self.sessions
            .get(sid)
            .and_then(|m| m.model.as_deref())
            .and_then(crate::account::LimitWindow::for_model)
            .into_iter()
            .collect()
    }

    /// The model-scoped windows metering the models the pool's sessions use.
    fn pool_models(&self) -> Vec<crate::account::LimitWindow> {
        let set: BTreeSet<crate::account::LimitWindow> = self
            .sessions
            .values()
            .filter_map(|m| m.model.as_deref())
            .filter_map(crate::account::LimitWindow::for_model)
            .collect();
        set.into_iter().collect()
    }

    /// Replaces a session's interrupted prompt.
    fn set_prompt(&mut self, session: &SessionId, prompt: Option<String>) -> Option<String> {
        let m = self.sessions.get_mut(session)?;
        if m.pending_prompt == prompt {
            return prompt;
        }
        self.dirty = true;
        let old = std::mem::replace(&mut m.pending_prompt, prompt);
        self.index.sync_prompt(session, m);
        old
    }

    /// Account resets that are due, and retry holds that are over.
    fn expire(&mut self) {
        let now = self.now;
        if self.pool.expire(now) {
            self.dirty = true;
        }
        self.usage_reads.expire(now);
        if self.holds > 0 {
            for m in self.sessions.values_mut() {
                if let SessionState::Running {
                    stop_held_until: hold,
                    ..
                }
                | SessionState::Prompting {
                    stop_held_until: hold,
                    ..
                } = &mut m.state
                {
                    if hold.is_some_and(|h| h <= now) {
                        *hold = None;
                        self.holds -= 1;
                    }
                }
            }
        }
    }
}
