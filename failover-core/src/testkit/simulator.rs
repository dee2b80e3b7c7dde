//! [`Simulator`]: a [`FailoverEngine`] wired to the fakes on a fake clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::SessionBackend;
use crate::checkpoint::{Checkpointer, PromptSource};
use crate::config::{ConfigError, EngineConfig};
use crate::engine::{CommandReply, Effect, EffectOutcome, FailoverEngine, Input};
use crate::error::BackendError;
use crate::execute::{Ports, execute};
use crate::ids::{CommandId, RequestId, SessionId};
use crate::notify::Notifier;
use crate::session::Activity;
use crate::state::PersistedState;
use crate::testkit::{FakeBackend, MemCheckpointer, RecordingNotifier, block_on};
use crate::time::UnixMillis;

/// One effect the engine emitted, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEntry {
    /// When it was emitted.
    pub at: UnixMillis,
    /// The effect.
    pub effect: Effect,
}

/// Drives a [`FailoverEngine`] the way a daemon would, but in memory and on a fake clock
/// that starts at [`Simulator::START`]: effects run through [`execute`] against the ports
/// (by default [`FakeBackend`], which is also the prompt source, [`MemCheckpointer`] and
/// [`RecordingNotifier`]; [`with_ports`](Self::with_ports) takes an embedder's own), their
/// results come back as inputs after [`latency`](Self::set_latency), and the engine is woken
/// at its [`next_deadline`](FailoverEngine::next_deadline).
///
/// The simulated Claude Code is simple, and keeps the activity contract of
/// [`Effect::Launch`]: a launched session reports [`Activity::Idle`] once its launch reply
/// arrives, and a prompt makes it work for [`turn`](Self::set_turn) and go idle again.
/// Port futures are run with [`block_on`]: ports that complete without a runtime (like the
/// fakes) or wake the calling thread themselves.
pub struct Simulator<B = FakeBackend, C = MemCheckpointer, N = RecordingNotifier, P = FakeBackend> {
    engine: FailoverEngine,
    now: UnixMillis,
    backend: Arc<B>,
    checkpointer: Arc<C>,
    notifier: Arc<N>,
    prompts: Arc<P>,
    latency: Duration,
    turn: Duration,
    drop_replies: u32,
    /// (due, sequence) → input.
    queue: BTreeMap<(UnixMillis, u64), Input>,
    seq: u64,
    trace: Vec<TraceEntry>,
    persisted: Option<PersistedState>,
    replies: Vec<(CommandId, CommandReply)>,
    launch_conflicts: u32,
}

impl<B, C, N, P> std::fmt::Debug for Simulator<B, C, N, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("engine", &self.engine)
            .field("now", &self.now)
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Where the fake clock of [`new`](Self::new) starts: 2026-11-26T09:00:00Z, a
    /// plausible present (reset instants, transcripts' timestamps and the engine's
    /// staleness rules all read wall-clock values).
    pub const START: UnixMillis = UnixMillis::from_secs(1_795_683_600);

    /// A fresh engine for `config`, no sessions running, the clock at [`Self::START`].
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        Ok(Self::with_parts(
            FailoverEngine::new(config)?,
            FakeBackend::new(),
            Self::START,
        ))
    }

    /// An engine (fresh or restored) with a backend that may already hold sessions.
    pub fn with_parts(engine: FailoverEngine, backend: FakeBackend, now: UnixMillis) -> Self {
        let backend = Arc::new(backend);
        Self::with_ports(
            engine,
            backend.clone(),
            Arc::new(MemCheckpointer::new()),
            Arc::new(RecordingNotifier::new()),
            backend,
            now,
        )
    }
}

impl<B, C, N, P> Simulator<B, C, N, P>
where
    B: SessionBackend,
    C: Checkpointer,
    N: Notifier,
    P: PromptSource,
{
    /// An engine run against an embedder's own ports, the clock at `now`.
    pub fn with_ports(
        engine: FailoverEngine,
        backend: Arc<B>,
        checkpointer: Arc<C>,
        notifier: Arc<N>,
        prompts: Arc<P>,
        now: UnixMillis,
    ) -> Self {
        Self {
            engine,
            now,
            backend,
            checkpointer,
            notifier,
            prompts,
            latency: Duration::from_secs(1),
            turn: Duration::from_secs(30),
            drop_replies: 0,
            queue: BTreeMap::new(),
            seq: 0,
            trace: Vec::new(),
            persisted: None,
            replies: Vec::new(),
            launch_conflicts: 0,
        }
    }

    /// How long effects take before their result comes back (default 1 s).
    pub fn set_latency(&mut self, latency: Duration) {
        self.latency = latency;
    }

    /// How long a simulated turn takes (default 30 s).
    pub fn set_turn(&mut self, turn: Duration) {
        self.turn = turn;
    }

    /// The results of the next `n` effects are lost (to exercise effect timeouts).
    pub fn drop_next_replies(&mut self, n: u32) {
        self.drop_replies = n;
    }

    /// Completes adoption with nothing running: the startup handshake of an embedder
    /// whose backend holds no session. With a [`FakeBackend`] holding sessions, use
    /// [`start`](Simulator::start).
    pub fn start_empty(&mut self) {
        self.send(Input::AdoptionComplete);
    }

    /// Feeds one input now and executes the effects.
    pub fn send(&mut self, input: Input) {
        let effects = self.engine.handle(self.now, input);
        for effect in effects {
            self.trace.push(TraceEntry {
                at: self.now,
                effect: effect.clone(),
            });
            self.execute(effect);
        }
    }

    /// Queues an input to arrive after `delay`.
    pub fn schedule(&mut self, delay: Duration, input: Input) {
        self.seq += 1;
        self.queue.insert((self.now + delay, self.seq), input);
    }

    /// An operator types a prompt into a session: it is recorded by the backend (the fake
    /// backend's prompt source finds it) and the session starts working; it goes idle
    /// after a turn.
    pub fn type_prompt(&mut self, session: &SessionId, text: &str) {
        if block_on(self.backend.send_input(session, text)).is_ok() {
            self.send(Input::SessionActivity {
                session: session.clone(),
                activity: Activity::Working,
            });
            self.schedule(
                self.turn,
                Input::SessionActivity {
                    session: session.clone(),
                    activity: Activity::Idle,
                },
            );
        }
    }

    /// Runs the clock forward by `by`, delivering queued inputs and waking the engine at its
    /// deadlines, in time order.
    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        // A bound on steps, so a bug that keeps the engine busy cannot hang a test.
        for _ in 0..100_000 {
            let queued = self.queue.keys().next().map(|(at, _)| *at);
            let deadline = self.engine.next_deadline();
            let next = match (queued, deadline) {
                (Some(q), Some(d)) => q.min(d),
                (Some(q), None) => q,
                (None, Some(d)) => d,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            if queued.is_some_and(|q| q <= self.now) {
                if let Some((_, input)) = self.queue.pop_first() {
                    self.send(input);
                }
            } else {
                self.send(Input::Tick);
            }
        }
        self.now = self.now.max(until);
    }

    /// The current fake time.
    pub fn now(&self) -> UnixMillis {
        self.now
    }

    /// The engine.
    pub fn engine(&self) -> &FailoverEngine {
        &self.engine
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The checkpoint store.
    pub fn checkpointer(&self) -> &C {
        &self.checkpointer
    }

    /// The notifier.
    pub fn notifier(&self) -> &N {
        &self.notifier
    }

    /// Every effect emitted so far.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// Takes the trace, leaving it empty.
    pub fn take_trace(&mut self) -> Vec<TraceEntry> {
        std::mem::take(&mut self.trace)
    }

    /// The last persisted state.
    pub fn persisted(&self) -> Option<&PersistedState> {
        self.persisted.as_ref()
    }

    /// How many launches the backend refused because the session was already running: a
    /// session launched twice. A correct engine keeps this at zero.
    pub fn launch_conflicts(&self) -> u32 {
        self.launch_conflicts
    }

    /// Every command reply so far.
    pub fn replies(&self) -> &[(CommandId, CommandReply)] {
        &self.replies
    }

    fn reply(&mut self, request: RequestId, outcome: EffectOutcome) {
        if self.drop_replies > 0 {
            self.drop_replies -= 1;
            return;
        }
        self.schedule(self.latency, Input::EffectFinished { request, outcome });
    }

    fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::Persist(state) => self.persisted = Some(state),
            Effect::Reply { id, reply } => self.replies.push((id, reply)),
            // The simulator runs one engine and no shared ledger: the lease is always free.
            Effect::AcquireLease { request } => self.reply(
                request,
                EffectOutcome::Lease(crate::ledger::LeaseOutcome::Granted),
            ),
            effect => {
                let launched = match &effect {
                    Effect::Launch { session, .. } => Some(session.clone()),
                    _ => None,
                };
                let prompted = match &effect {
                    Effect::SendPrompt { session, .. } => Some(session.clone()),
                    _ => None,
                };
                let ports = Ports {
                    backend: &*self.backend,
                    checkpointer: &*self.checkpointer,
                    notifier: &*self.notifier,
                    prompts: &*self.prompts,
                };
                let Some(Input::EffectFinished { request, outcome }) =
                    block_on(execute(effect, &ports, self.now))
                else {
                    return;
                };
                let dropped = self.drop_replies > 0;
                let idle_after = match (&outcome, launched, prompted) {
                    // The reply, then the prompt is ready (when the reply arrives at all).
                    (EffectOutcome::Launched { .. }, Some(session), _) if !dropped => {
                        Some((session, self.latency))
                    }
                    (EffectOutcome::PromptSent, _, Some(session)) => {
                        Some((session, self.latency + self.turn))
                    }
                    (EffectOutcome::Failed { detail, .. }, Some(session), _)
                        if *detail == BackendError::SessionExists(session.clone()).to_string() =>
                    {
                        self.launch_conflicts += 1;
                        None
                    }
                    _ => None,
                };
                self.reply(request, outcome);
                if let Some((session, after)) = idle_after {
                    self.schedule(
                        after,
                        Input::SessionActivity {
                            session,
                            activity: Activity::Idle,
                        },
                    );
                }
            }
        }
    }
}

impl Simulator {
    /// Adopts every session the fake backend runs, then completes adoption: the startup
    /// handshake a daemon performs.
    pub fn start(&mut self) {
        for (session, account, claude_session) in self.backend.running() {
            self.send(Input::SessionStarted {
                session,
                claude_session: Some(claude_session),
                account: Some(account),
            });
        }
        self.send(Input::AdoptionComplete);
    }
}
