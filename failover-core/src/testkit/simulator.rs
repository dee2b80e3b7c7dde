//! [`Simulator`]: a [`FailoverEngine`] wired to the fakes on a fake clock.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::backend::{LaunchRequest, SessionBackend};
use crate::checkpoint::{Checkpoint, Checkpointer};
use crate::config::{ConfigError, EngineConfig};
use crate::engine::{CommandReply, Effect, EffectOutcome, FailoverEngine, Input};
use crate::error_kind::FailureKind;
use crate::ids::{RequestId, SessionId};
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

/// Drives a [`FailoverEngine`] the way a daemon would, but in memory and on a fake clock:
/// effects run against [`FakeBackend`], [`MemCheckpointer`] and [`RecordingNotifier`], their
/// results come back as inputs after [`latency`](Self::set_latency), and the engine is woken
/// at its [`next_deadline`](FailoverEngine::next_deadline).
///
/// The simulated Claude Code is simple: a launched session is idle once its launch reply
/// arrives, and a prompt makes it work for [`turn`](Self::set_turn) and go idle again.
#[derive(Debug)]
pub struct Simulator {
    engine: FailoverEngine,
    now: UnixMillis,
    backend: FakeBackend,
    checkpointer: MemCheckpointer,
    notifier: RecordingNotifier,
    latency: Duration,
    turn: Duration,
    drop_replies: u32,
    /// (due, sequence) → input.
    queue: BTreeMap<(UnixMillis, u64), Input>,
    seq: u64,
    trace: Vec<TraceEntry>,
    persisted: Option<PersistedState>,
    replies: Vec<(RequestId, CommandReply)>,
    launch_conflicts: u32,
}

impl Simulator {
    /// A fresh engine for `config`, no sessions running, the clock at the epoch.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        Ok(Self::with_parts(
            FailoverEngine::new(config)?,
            FakeBackend::new(),
            UnixMillis::EPOCH,
        ))
    }

    /// An engine (fresh or restored) with a backend that may already hold sessions.
    pub fn with_parts(engine: FailoverEngine, backend: FakeBackend, now: UnixMillis) -> Self {
        Self {
            engine,
            now,
            backend,
            checkpointer: MemCheckpointer::new(),
            notifier: RecordingNotifier::new(),
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

    /// Adopts every session the backend runs, then completes adoption: the startup
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

    /// An operator types a prompt into a session: it is recorded by the backend (so a
    /// checkpoint finds it) and the session starts working; it goes idle after a turn.
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

    /// The fake backend.
    pub fn backend(&self) -> &FakeBackend {
        &self.backend
    }

    /// The fake checkpoint store.
    pub fn checkpointer(&self) -> &MemCheckpointer {
        &self.checkpointer
    }

    /// The recording notifier.
    pub fn notifier(&self) -> &RecordingNotifier {
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
    pub fn replies(&self) -> &[(RequestId, CommandReply)] {
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
        let failed = |kind: FailureKind, detail: String| EffectOutcome::Failed { kind, detail };
        match effect {
            Effect::Checkpoint {
                request,
                session,
                account,
                claude_session,
                dir,
                task,
            } => {
                let last_prompt = self.backend.last_input(&session);
                let checkpoint = Checkpoint {
                    session,
                    claude_session,
                    account,
                    dir,
                    task,
                    last_prompt: last_prompt.clone(),
                    last_tool_call: None,
                    taken_at: self.now,
                };
                let outcome = match block_on(self.checkpointer.save(&checkpoint)) {
                    Ok(()) => EffectOutcome::Checkpointed {
                        last_prompt,
                        unanswered: false,
                    },
                    Err(e) => failed(FailureKind::from(&e), e.to_string()),
                };
                self.reply(request, outcome);
            }
            Effect::Stop { request, session } => {
                let outcome = match block_on(self.backend.stop(&session, Duration::from_secs(10))) {
                    Ok(()) => EffectOutcome::Stopped,
                    Err(e) => failed(FailureKind::from(&e), e.to_string()),
                };
                self.reply(request, outcome);
            }
            Effect::Launch {
                request,
                session,
                account,
                config_dir,
                dir,
                resume,
            } => {
                let launch = LaunchRequest {
                    session: session.clone(),
                    dir,
                    account,
                    config_dir,
                    resume,
                };
                match block_on(self.backend.launch(&launch)) {
                    Ok(launched) => {
                        let outcome = EffectOutcome::Launched {
                            claude_session: launched.claude_session,
                            unanswered_prompt: None,
                        };
                        if self.drop_replies == 0 {
                            // The reply, then the prompt is ready.
                            self.reply(request, outcome);
                            self.schedule(
                                self.latency,
                                Input::SessionActivity {
                                    session,
                                    activity: Activity::Idle,
                                },
                            );
                        } else {
                            self.reply(request, outcome);
                        }
                    }
                    Err(e) => {
                        if matches!(e, crate::error::BackendError::SessionExists(_)) {
                            self.launch_conflicts += 1;
                        }
                        self.reply(request, failed(FailureKind::from(&e), e.to_string()));
                    }
                }
            }
            Effect::SendPrompt {
                request,
                session,
                text,
            } => match block_on(self.backend.send_input(&session, &text)) {
                Ok(()) => {
                    self.reply(request, EffectOutcome::PromptSent);
                    self.schedule(
                        self.latency + self.turn,
                        Input::SessionActivity {
                            session,
                            activity: Activity::Idle,
                        },
                    );
                }
                Err(e) => self.reply(request, failed(FailureKind::from(&e), e.to_string())),
            },
            Effect::Notify(notification) => {
                // Delivery failures are the notifier task's business, not the engine's.
                let _ = block_on(self.notifier.notify(&notification));
            }
            Effect::Persist(state) => self.persisted = Some(state),
            Effect::Reply { request, reply } => self.replies.push((request, reply)),
            Effect::DetectionVetoed { .. } => {}
            // The simulator runs one engine and no shared ledger: the lease is always free.
            Effect::AcquireLease { request } => self.reply(
                request,
                EffectOutcome::Lease(crate::ledger::LeaseOutcome::Granted),
            ),
            // The simulator has no usage endpoint: the engine chooses once its wait is over.
            Effect::PublishAccount(_)
            | Effect::PublishActive(_)
            | Effect::ReleaseLease
            | Effect::ReadUsage { .. } => {}
        }
    }
}
