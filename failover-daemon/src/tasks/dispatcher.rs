//! The dispatcher: the one task that owns the [`FailoverEngine`].
//!
//! It waits on three things (`select!`, biased in this order): shutdown, operator and
//! housekeeping messages ([`ControlMsg`]), engine inputs from every other task, and the
//! engine's next deadline. Each becomes one [`Input`]; the engine's effects are routed by the
//! plain function [`route`] to the worker that executes them. The dispatcher awaits nothing
//! but channel capacity and the state file (written in order, so a persisted state is on disk
//! before any later effect runs); session backends are only touched by workers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use failover_core::{
    Command, CommandId, CommandReply, Effect, EffectOutcome, FailoverEngine, Input, Notification,
    NotificationKind, PersistedState, RequestId, SessionId, Severity, VetoReason,
};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::observers::ObserverCmd;
use super::{ControlMsg, DaemonFacts, Published};
use crate::clock::Clock;
use crate::config::DaemonConfig;
use crate::error::DaemonError;
use crate::events::{DaemonEvent, DaemonEventKind};
use crate::ledger::{LedgerHealth, LedgerJob, Wire};
use crate::metrics::Metrics;
use crate::notifiers::NotifyHub;
use crate::state_store::StateStore;

/// Where an effect goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// To the effect worker, which carries it out through the ports and replies to
    /// `request`: `Checkpoint`, `Stop`, `Launch`, `SendPrompt`.
    Ports {
        /// The request its reply answers.
        request: RequestId,
        /// The effect.
        effect: Effect,
    },
    /// To the notifier hub.
    Notify(Notification),
    /// To the state file.
    Persist(PersistedState),
    /// Back to the operator who asked.
    Reply(CommandId, CommandReply),
    /// Counted (`/metrics`): pane evidence vetoed by a structured source.
    Vetoed(VetoReason),
    /// To the shared-ledger worker.
    Ledger(LedgerJob),
    /// Nowhere: the usage poller follows the published status, whose `usage_wanted` lists
    /// the same accounts, and reads them.
    UsagePoller,
}

/// Decides which worker executes `effect`. Pure, so tests can check the routing table.
pub fn route(effect: Effect) -> Route {
    match effect {
        effect @ (Effect::Checkpoint { request, .. }
        | Effect::Stop { request, .. }
        | Effect::Launch { request, .. }
        | Effect::SendPrompt { request, .. }) => Route::Ports { request, effect },
        Effect::Notify(n) => Route::Notify(n),
        Effect::Persist(s) => Route::Persist(s),
        Effect::Reply { id, reply } => Route::Reply(id, reply),
        Effect::DetectionVetoed { reason, .. } => Route::Vetoed(reason),
        Effect::PublishAccount(news) => Route::Ledger(LedgerJob::Publish(Wire::Account(news))),
        Effect::PublishActive(news) => Route::Ledger(LedgerJob::Publish(Wire::Active(news))),
        Effect::AcquireLease { request } => Route::Ledger(LedgerJob::Acquire { request }),
        Effect::ReleaseLease => Route::Ledger(LedgerJob::Release),
        Effect::ReadUsage { .. } => Route::UsagePoller,
    }
}

/// The dispatcher's channels and collaborators.
#[derive(Debug)]
pub struct DispatcherParts {
    /// The engine.
    pub engine: FailoverEngine,
    /// The configuration in force.
    pub config: Arc<DaemonConfig>,
    /// The state as last loaded or written.
    pub last_persisted: PersistedState,
    /// The clock.
    pub clock: Clock,
    /// Engine inputs.
    pub inbox: mpsc::Receiver<Input>,
    /// Control messages.
    pub control: mpsc::Receiver<ControlMsg>,
    /// The effect worker.
    pub effects: mpsc::Sender<Effect>,
    /// The observer supervisor.
    pub observers: mpsc::Sender<ObserverCmd>,
    /// Notifications.
    pub hub: Arc<NotifyHub>,
    /// The state file.
    pub store: StateStore,
    /// Published status.
    pub status: watch::Sender<Arc<Published>>,
    /// Published configuration (the session watcher follows it).
    pub config_out: watch::Sender<Arc<DaemonConfig>>,
    /// Events.
    pub events: broadcast::Sender<Arc<DaemonEvent>>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Daemon facts for the status page.
    pub facts: DaemonFacts,
    /// Ends the main loop.
    pub shutdown: CancellationToken,
    /// How long in-flight effects may take to finish after shutdown.
    pub shutdown_grace: Duration,
    /// The shared-ledger worker, when `[ledger]` is configured.
    pub ledger: Option<mpsc::Sender<LedgerJob>>,
}

struct Dispatcher {
    engine: FailoverEngine,
    config: Arc<DaemonConfig>,
    last_persisted: PersistedState,
    clock: Clock,
    effects: mpsc::Sender<Effect>,
    observers: mpsc::Sender<ObserverCmd>,
    hub: Arc<NotifyHub>,
    store: StateStore,
    status: watch::Sender<Arc<Published>>,
    config_out: watch::Sender<Arc<DaemonConfig>>,
    events: broadcast::Sender<Arc<DaemonEvent>>,
    metrics: Arc<Metrics>,
    facts: DaemonFacts,
    seq: u64,
    replies: HashMap<CommandId, oneshot::Sender<CommandReply>>,
    next_command: u64,
    outstanding: HashSet<RequestId>,
    launches: HashMap<RequestId, SessionId>,
    /// Replies wait until the snapshot they imply is published, so a client that reads the
    /// status after its command sees the command's effect.
    held_replies: Vec<(oneshot::Sender<CommandReply>, CommandReply)>,
    /// The last detection per subject and source. An identical one right after it still
    /// reaches the engine (pane evidence counts sightings) and the metrics, but is not
    /// broadcast again: a verdict repeated thousands of times made SSE readers fall behind.
    last_detections:
        HashMap<(failover_core::Subject, failover_core::SignalSource), failover_core::Detection>,
    ledger: Option<mpsc::Sender<LedgerJob>>,
}

/// Runs the dispatcher until `shutdown`, then drains: the engine is told to
/// [`Drain`](Command::Drain) and in-flight effects get `shutdown_grace` to finish.
pub async fn run(parts: DispatcherParts) -> Result<(), DaemonError> {
    let DispatcherParts {
        engine,
        config,
        last_persisted,
        clock,
        mut inbox,
        mut control,
        effects,
        observers,
        hub,
        store,
        status,
        config_out,
        events,
        metrics,
        facts,
        shutdown,
        shutdown_grace,
        ledger,
    } = parts;
    let mut d = Dispatcher {
        engine,
        config,
        last_persisted,
        clock,
        effects,
        observers,
        hub,
        store,
        status,
        config_out,
        events,
        metrics,
        facts,
        seq: 0,
        replies: HashMap::new(),
        next_command: 0,
        outstanding: HashSet::new(),
        launches: HashMap::new(),
        held_replies: Vec::new(),
        last_detections: HashMap::new(),
        ledger,
    };
    d.publish();
    loop {
        let deadline = d.engine.next_deadline().map(|t| d.clock.instant_at(t));
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(msg) = control.recv() => d.on_control(msg).await,
            Some(input) = inbox.recv() => d.on_input(input).await,
            () = sleep_until_opt(deadline) => d.on_input(Input::Tick).await,
        }
    }

    // Drain: finish what is in flight, start nothing new.
    tracing::info!(
        in_flight = d.outstanding.len(),
        "shutting down: draining in-flight effects"
    );
    let id = d.command_id();
    d.on_input(Input::Command {
        id,
        command: Command::Drain,
    })
    .await;
    let grace = tokio::time::sleep(shutdown_grace);
    tokio::pin!(grace);
    while !d.outstanding.is_empty() {
        let deadline = d.engine.next_deadline().map(|t| d.clock.instant_at(t));
        tokio::select! {
            biased;
            () = &mut grace => {
                tracing::warn!(left = d.outstanding.len(), "shutdown grace over; leaving effects unfinished (the state file lets the next start pick them up)");
                break;
            }
            Some(input) = inbox.recv() => d.on_input(input).await,
            () = sleep_until_opt(deadline) => d.on_input(Input::Tick).await,
        }
    }
    d.replies.clear();
    Ok(())
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Dispatcher {
    fn command_id(&mut self) -> CommandId {
        self.next_command += 1;
        CommandId::new(self.next_command)
    }

    fn emit(&mut self, kind: DaemonEventKind) {
        self.seq += 1;
        let _ = self.events.send(Arc::new(DaemonEvent {
            seq: self.seq,
            at: self.clock.now(),
            kind,
        }));
    }

    fn publish(&mut self) {
        self.facts.notifications_dropped =
            self.metrics.notifications_dropped.load(Ordering::Relaxed);
        self.facts.standby_fallbacks = self.metrics.standby_fallbacks.load(Ordering::Relaxed);
        let published = Published {
            snapshot: self.engine.snapshot(),
            facts: self.facts.clone(),
            standbys: self.engine.standbys(self.clock.now()),
        };
        self.status.send_replace(Arc::new(published));
        for (tx, reply) in self.held_replies.drain(..) {
            let _ = tx.send(reply);
        }
    }

    async fn on_control(&mut self, msg: ControlMsg) {
        match msg {
            ControlMsg::Command { command, reply } => {
                let id = self.command_id();
                self.replies.insert(id, reply);
                self.on_input(Input::Command { id, command }).await;
            }
            ControlMsg::Ping(tx) => {
                let _ = tx.send(());
            }
            ControlMsg::Reload(Err(e)) => {
                let why = e.to_string();
                tracing::warn!(error = %why, "configuration reload refused; keeping the configuration in force");
                self.metrics
                    .config_reload_failures
                    .fetch_add(1, Ordering::Relaxed);
                self.facts.config_error = Some(why.clone());
                self.emit(DaemonEventKind::ConfigReload {
                    error: Some(why.clone()),
                });
                let now = self.clock.now();
                self.hub.submit(
                    Notification {
                        severity: Severity::Warning,
                        kind: NotificationKind::Message {
                            text: format!("configuration reload refused: {why}"),
                        },
                        summary: format!(
                            "configuration reload refused, old configuration kept: {why}"
                        ),
                        next_reset: None,
                        dedup_key: format!("config-reload:{why}"),
                        at: now,
                    },
                    now,
                );
                self.publish();
            }
            ControlMsg::Reload(Ok(cfg)) => self.reload(Arc::from(cfg)).await,
            ControlMsg::Ledger(health) => {
                let code = if health == LedgerHealth::Degraded {
                    2
                } else {
                    1
                };
                self.metrics.ledger_state.store(code, Ordering::Relaxed);
                self.facts.ledger = Some(health.as_str().to_owned());
                self.publish();
            }
            ControlMsg::Standbys(ready) => {
                self.facts.standbys = ready;
                self.publish();
            }
        }
    }

    /// Hands a valid configuration to the engine and tells whether it took it (the engine
    /// refuses, with its own notification, changes that need a restart, such as removing
    /// an account).
    async fn reload(&mut self, cfg: Arc<DaemonConfig>) {
        let restart_needed = restart_only_changes(&self.config, &cfg);
        if !restart_needed.is_empty() {
            tracing::warn!(keys = %restart_needed.join(", "), "these configuration changes take effect at the next restart");
        }
        if cfg.engine != *self.engine.config() {
            self.on_input(Input::ConfigChanged(Ok(cfg.engine.clone())))
                .await;
            if *self.engine.config() != cfg.engine {
                let why = "the engine refused the new accounts or sessions (removing one needs a restart); the configuration in force is kept".to_owned();
                tracing::warn!("{why}");
                self.facts.config_error = Some(why.clone());
                self.emit(DaemonEventKind::ConfigReload { error: Some(why) });
                self.publish();
                return;
            }
        }
        tracing::info!("configuration reloaded");
        self.config = cfg.clone();
        self.config_out.send_replace(cfg);
        self.facts.config_error = None;
        self.emit(DaemonEventKind::ConfigReload { error: None });
        self.publish();
    }

    async fn on_input(&mut self, input: Input) {
        let span = tracing::debug_span!("input", kind = input.kind());
        async {
            let now = self.clock.now();
            self.observe(&input);
            if let Input::SessionActivity {
                session,
                activity: failover_core::Activity::Working,
            } = &input
            {
                let was_working = self.engine.snapshot().sessions.iter().any(|s| {
                    &s.id == session && s.activity == Some(failover_core::Activity::Working)
                });
                if !was_working {
                    *self.facts.turns_started.entry(session.clone()).or_default() += 1;
                }
            }
            if !matches!(input, Input::Tick) && !self.repeats_last_detection(&input) {
                let latency_ms = match &input {
                    Input::Detection { observed_at, .. } => {
                        let l = now.saturating_since(*observed_at);
                        self.metrics.record_latency(l);
                        Some(u64::try_from(l.as_millis()).unwrap_or(u64::MAX))
                    }
                    _ => None,
                };
                self.emit(DaemonEventKind::Input {
                    input: input.clone(),
                    latency_ms,
                });
            }
            let effects = self.engine.handle(now, input);
            for effect in effects {
                self.emit(DaemonEventKind::Effect(effect.clone()));
                self.execute(route(effect)).await;
            }
            self.publish();
        }
        .instrument(span)
        .await;
    }

    async fn execute(&mut self, route: Route) {
        match route {
            Route::Ports { request, effect } => {
                if let Effect::Launch { session, .. } = &effect {
                    self.launches.insert(request, session.clone());
                    *self.facts.launches.entry(session.clone()).or_default() += 1;
                }
                self.outstanding.insert(request);
                if self.effects.send(effect).await.is_err() {
                    self.worker_gone(request, "effect worker").await;
                }
            }
            Route::Notify(n) => {
                let now = self.clock.now();
                self.hub.submit(n, now);
            }
            Route::Persist(state) => self.persist(state).await,
            Route::Reply(id, reply) => match self.replies.remove(&id) {
                Some(tx) => self.held_replies.push((tx, reply)),
                None => tracing::debug!(command = %id, "reply for a command nobody waits for"),
            },
            Route::Vetoed(reason) => self.metrics.record_veto(reason),
            Route::UsagePoller => {}
            Route::Ledger(job) => {
                let acquire = match &job {
                    LedgerJob::Acquire { request } => Some(*request),
                    _ => None,
                };
                let sent = match &self.ledger {
                    Some(tx) => tx.send(job).await.is_ok(),
                    None => false,
                };
                if let (false, Some(request)) = (sent, acquire) {
                    // No worker to ask: the engine goes on with its local view.
                    let now = self.clock.now();
                    let effects = self.engine.handle(
                        now,
                        Input::EffectFinished {
                            request,
                            outcome: EffectOutcome::Lease(failover_core::LeaseOutcome::Unavailable),
                        },
                    );
                    for effect in effects {
                        self.emit(DaemonEventKind::Effect(effect.clone()));
                        Box::pin(self.execute(self::route(effect))).await;
                    }
                }
            }
        }
    }

    /// True when `input` is a detection identical to the last one about the same subject
    /// from the same source (whose latency is still recorded). Remembers it either way.
    fn repeats_last_detection(&mut self, input: &Input) -> bool {
        let Input::Detection {
            subject,
            source,
            detection,
            observed_at,
        } = input
        else {
            return false;
        };
        let previous = self
            .last_detections
            .insert((subject.clone(), *source), detection.clone());
        let repeat = previous.as_ref() == Some(detection);
        if repeat {
            let now = self.clock.now();
            self.metrics
                .record_latency(now.saturating_since(*observed_at));
        }
        repeat
    }

    /// Bookkeeping an input implies before the engine sees it: the request is no longer in
    /// flight, and a session that now runs (adopted or launched) gets a pane watcher.
    fn observe(&mut self, input: &Input) {
        let cmd = match input {
            Input::EffectFinished { request, outcome } => {
                self.outstanding.remove(request);
                let session = self.launches.remove(request);
                match (session, outcome) {
                    (Some(session), EffectOutcome::Launched { claude_session, .. }) => {
                        Some(ObserverCmd::Watch {
                            session,
                            claude_session: Some(claude_session.clone()),
                        })
                    }
                    _ => None,
                }
            }
            Input::SessionStarted {
                session,
                claude_session,
                ..
            } => Some(ObserverCmd::Watch {
                session: session.clone(),
                claude_session: claude_session.clone(),
            }),
            Input::ClaudeSessionLearned {
                session,
                claude_session,
            } => Some(ObserverCmd::Track {
                session: session.clone(),
                claude_session: claude_session.clone(),
            }),
            _ => None,
        };
        if let Some(cmd) = cmd {
            if let Err(e) = self.observers.try_send(cmd) {
                tracing::warn!(error = %e, "observer supervisor is behind; a session may go unwatched until its next launch");
            }
        }
    }

    /// A worker is gone (only during shutdown): its effect fails rather than hanging.
    async fn worker_gone(&mut self, request: RequestId, worker: &str) {
        tracing::warn!(%request, worker, "worker stopped; the effect is reported failed");
        self.outstanding.remove(&request);
        let now = self.clock.now();
        let effects = self.engine.handle(
            now,
            Input::EffectFinished {
                request,
                outcome: EffectOutcome::Failed {
                    kind: failover_core::FailureKind::Transient,
                    detail: format!("{worker} stopped"),
                },
            },
        );
        for effect in effects {
            self.emit(DaemonEventKind::Effect(effect.clone()));
            // Only non-worker effects can still be honoured; workers are gone.
            if let r @ (Route::Persist(_) | Route::Notify(_) | Route::Reply(..)) = route(effect) {
                Box::pin(self.execute(r)).await;
            }
        }
    }

    async fn persist(&mut self, state: PersistedState) {
        let store = self.store.clone();
        let to_write = state.clone();
        let result = tokio::task::spawn_blocking(move || store.save(&to_write)).await;
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some((e.to_string(), e.is_disk_full())),
            Err(join) => Some((format!("state writer panicked: {join}"), false)),
        };
        match error {
            None => {
                self.last_persisted = state;
                if self.facts.state_error.take().is_some() {
                    tracing::info!("state file written again");
                }
            }
            Some((why, disk_full)) => {
                self.metrics
                    .state_write_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %why, disk_full, "cannot write the state file; the previous one is intact and the daemon keeps running");
                let first = self.facts.state_error.is_none();
                self.facts.state_error = Some(why.clone());
                // The engine's view is still the truth in memory; remember it for reloads.
                self.last_persisted = state;
                self.emit(DaemonEventKind::StateWriteFailed(why.clone()));
                if first {
                    let now = self.clock.now();
                    self.hub.submit(
                        Notification {
                            severity: Severity::Critical,
                            kind: NotificationKind::Message { text: why.clone() },
                            summary: format!(
                                "cannot write the state file ({why}); a crash now would lose the latest state"
                            ),
                            next_reset: None,
                            dedup_key: "state-write-failed".into(),
                            at: now,
                        },
                        now,
                    );
                }
            }
        }
    }
}

/// The settings a running daemon cannot change without a restart, if they changed.
fn restart_only_changes(old: &DaemonConfig, new: &DaemonConfig) -> Vec<&'static str> {
    [
        (old.state_dir != new.state_dir, "state_dir"),
        (old.tmux != new.tmux, "tmux"),
        (old.claude != new.claude, "claude"),
        (old.control != new.control, "control"),
        (old.notify != new.notify, "notify"),
        (old.queue != new.queue, "queue"),
    ]
    .into_iter()
    .filter_map(|(changed, key)| changed.then_some(key))
    .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use failover_core::{AccountId, ClaudeSessionId, SessionId};

    use super::*;

    #[test]
    fn effects_go_to_the_worker_that_executes_them() {
        let s = SessionId::new("s");
        let a = AccountId::new("a");
        let port_effects = [
            Effect::Stop {
                request: RequestId::for_tests(1),
                session: s.clone(),
                grace: Duration::from_secs(3),
            },
            Effect::Launch {
                request: RequestId::for_tests(2),
                session: s.clone(),
                account: a.clone(),
                config_dir: PathBuf::from("/c"),
                dir: PathBuf::from("/d"),
                resume: Some(ClaudeSessionId::new("u")),
            },
            Effect::Checkpoint {
                request: RequestId::for_tests(3),
                session: s.clone(),
                account: a,
                claude_session: None,
                dir: PathBuf::from("/d"),
                task: None,
            },
            Effect::SendPrompt {
                request: RequestId::for_tests(4),
                session: s,
                text: "hi".into(),
            },
        ];
        for (i, effect) in port_effects.into_iter().enumerate() {
            assert_eq!(
                route(effect.clone()),
                Route::Ports {
                    request: RequestId::for_tests(i as u64 + 1),
                    effect
                }
            );
        }
        assert!(matches!(
            route(Effect::Persist(PersistedState::default())),
            Route::Persist(_)
        ));
        assert_eq!(
            route(Effect::Reply {
                id: CommandId::new(5),
                reply: CommandReply::Accepted
            }),
            Route::Reply(CommandId::new(5), CommandReply::Accepted)
        );
    }
}
