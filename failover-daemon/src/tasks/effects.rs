//! The effect worker: carries out the engine's port effects (`Checkpoint`, `Stop`, `Launch`,
//! `SendPrompt`) with [`failover_core::execute`], several at once, and replies with the
//! [`Input::EffectFinished`] it returns.
//!
//! `execute` holds what each effect does and how port results become outcomes, the same for
//! the daemon as for any embedder. The worker adds what a daemon needs around it: a time
//! limit on every port call ([`TimeLimits`]; a call past its limit fails as a transient
//! timeout, a recall past its limit knows nothing), a span per effect and a log line per
//! outcome.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use failover_core::{
    BackendError, Checkpoint, CheckpointError, Checkpointer, ClaudeSessionId, Effect,
    EffectOutcome, Input, LaunchRequest, Launched, Liveness, Notifier, Ports, PromptSource,
    SessionBackend, SessionId, TranscriptSummary, UnixMillis,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use crate::clock::Clock;
use crate::error::DaemonError;
use crate::metrics::Metrics;

/// The ports the worker carries effects out through.
#[derive(Clone)]
pub struct EffectPorts {
    /// Where sessions run: `Stop`, `Launch`, `SendPrompt`.
    pub backend: Arc<dyn SessionBackend>,
    /// Where checkpoints go: `Checkpoint`.
    pub checkpointer: Arc<dyn Checkpointer>,
    /// A conversation's last prompt, for checkpoints and resumed launches.
    pub prompts: Arc<dyn PromptSource>,
    /// What `execute` would give a `Notify` effect. The dispatcher hands notifications to the
    /// notifier hub itself (in order, deduplicated), so the worker never gets one; the
    /// daemon gives the same hub here.
    pub notifier: Arc<dyn Notifier>,
    /// Where a launch that could not use the program prepared for it is counted
    /// ([`Metrics::standby_fallbacks`]).
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for EffectPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EffectPorts").finish_non_exhaustive()
    }
}

/// Time limits of the worker's port calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeLimits {
    /// Extra time, beyond the grace the engine's stop carries, a stop may take.
    pub stop_slack: Duration,
    /// How long a launch (a cold start) may take.
    pub launch: Duration,
    /// How long replaying a prompt may take: asking whether the resumed program took its
    /// turn up by itself, then typing it.
    pub send: Duration,
    /// How long recalling a conversation's last prompt from its transcript may take.
    pub recall: Duration,
    /// How long saving or loading a checkpoint may take.
    pub store: Duration,
}

impl TimeLimits {
    /// The standard limits.
    pub fn standard() -> Self {
        Self {
            stop_slack: Duration::from_secs(15),
            launch: Duration::from_secs(90),
            send: Duration::from_secs(30),
            recall: Duration::from_secs(5),
            store: Duration::from_secs(15),
        }
    }
}

/// Runs until the dispatcher drops its sender and every effect in flight has replied.
pub async fn run(
    jobs: mpsc::Receiver<Effect>,
    ports: EffectPorts,
    inbox: mpsc::Sender<Input>,
    clock: Clock,
    limits: TimeLimits,
) -> Result<(), DaemonError> {
    let ports = Arc::new(ports);
    super::job_loop::run(jobs, inbox, move |effect| {
        let ports = ports.clone();
        async move { execute(effect, &ports, limits, clock.now()).await }
    })
    .await
}

/// Carries out one effect at `now` with [`failover_core::execute`], every port call under
/// its limit.
pub async fn execute(
    effect: Effect,
    ports: &EffectPorts,
    limits: TimeLimits,
    now: UnixMillis,
) -> Option<Input> {
    let span = span_of(&effect);
    let timed = Timed {
        ports,
        limits,
        send_by: Instant::now() + limits.send,
    };
    let through = Ports {
        backend: &timed,
        checkpointer: &timed,
        notifier: &*ports.notifier,
        prompts: &timed,
    };
    let reply = failover_core::execute(effect, &through, now)
        .instrument(span.clone())
        .await;
    span.in_scope(|| log(reply.as_ref()));
    reply
}

fn span_of(effect: &Effect) -> tracing::Span {
    match effect {
        Effect::Checkpoint {
            request, session, ..
        } => tracing::info_span!("checkpoint", %session, %request),
        Effect::Stop {
            request, session, ..
        } => tracing::info_span!("stop", %session, %request),
        Effect::Launch {
            request,
            session,
            account,
            ..
        } => tracing::info_span!("launch", %session, %account, %request),
        Effect::SendPrompt {
            request, session, ..
        } => tracing::info_span!("send_prompt", %session, %request),
        _ => tracing::info_span!("effect"),
    }
}

fn log(reply: Option<&Input>) {
    match reply {
        Some(Input::EffectFinished {
            outcome: EffectOutcome::Failed { detail, .. },
            ..
        }) => tracing::warn!(error = %detail, "failed"),
        Some(Input::EffectFinished {
            outcome: EffectOutcome::Checkpointed { last_prompt, .. },
            ..
        }) => tracing::info!(has_prompt = last_prompt.is_some(), "checkpoint saved"),
        Some(_) => tracing::info!("done"),
        None => {}
    }
}

/// The ports for one effect, each call under its limit. A replay's two calls share one
/// deadline, `send` after the effect started.
struct Timed<'a> {
    ports: &'a EffectPorts,
    limits: TimeLimits,
    send_by: Instant,
}

async fn within<T>(
    op: &'static str,
    after: Duration,
    call: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    tokio::time::timeout(after, call)
        .await
        .unwrap_or(Err(BackendError::Timeout { op, after }))
}

impl Timed<'_> {
    /// Runs `call` under what is left of the replay's deadline; once it has passed, starts
    /// nothing (the prompt is not typed).
    async fn before_send_by<T>(
        &self,
        call: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        let timeout = BackendError::Timeout {
            op: "send_prompt",
            after: self.limits.send,
        };
        if Instant::now() >= self.send_by {
            return Err(timeout);
        }
        tokio::time::timeout_at(self.send_by, call)
            .await
            .unwrap_or(Err(timeout))
    }

    async fn store<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, CheckpointError>>,
    ) -> Result<T, CheckpointError> {
        let after = self.limits.store;
        tokio::time::timeout(after, call)
            .await
            .unwrap_or(Err(CheckpointError::Timeout { op, after }))
    }
}

#[async_trait]
impl SessionBackend for Timed<'_> {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, BackendError> {
        let launched = within(
            "launch",
            self.limits.launch,
            self.ports.backend.launch(request),
        )
        .await;
        if let Ok(Launched {
            standby_fallback: Some(why),
            ..
        }) = &launched
        {
            // The backend logged it; counted for the status and the metrics.
            self.ports
                .metrics
                .standby_fallbacks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(reason = %why, "counted a launch that started cold beside its standby");
        }
        launched
    }

    async fn stop(&self, session: &SessionId, grace: Duration) -> Result<(), BackendError> {
        let limit = grace + self.limits.stop_slack;
        within("stop", limit, self.ports.backend.stop(session, grace)).await
    }

    async fn prepare(&self, request: &LaunchRequest) -> Result<(), BackendError> {
        within(
            "prepare",
            self.limits.launch,
            self.ports.backend.prepare(request),
        )
        .await
    }

    async fn discard_prepared(&self, session: &SessionId) -> Result<(), BackendError> {
        let limit = self.limits.stop_slack;
        within(
            "discard_prepared",
            limit,
            self.ports.backend.discard_prepared(session),
        )
        .await
    }

    async fn send_input(&self, session: &SessionId, text: &str) -> Result<(), BackendError> {
        self.before_send_by(self.ports.backend.send_input(session, text))
            .await
    }

    async fn resumed_turn(
        &self,
        session: &SessionId,
        prompt: &str,
    ) -> Result<failover_core::ResumedTurn, BackendError> {
        self.before_send_by(self.ports.backend.resumed_turn(session, prompt))
            .await
    }

    async fn activity_now(
        &self,
        session: &SessionId,
    ) -> Result<Option<failover_core::Activity>, BackendError> {
        self.ports.backend.activity_now(session).await
    }

    async fn liveness(&self, session: &SessionId) -> Result<Liveness, BackendError> {
        self.ports.backend.liveness(session).await
    }

    async fn liveness_all(&self) -> Result<HashMap<SessionId, Liveness>, BackendError> {
        self.ports.backend.liveness_all().await
    }
}

#[async_trait]
impl Checkpointer for Timed<'_> {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        self.store(
            "saving the checkpoint",
            self.ports.checkpointer.save(checkpoint),
        )
        .await
    }

    async fn load(&self, session: &SessionId) -> Result<Option<Checkpoint>, CheckpointError> {
        self.store(
            "loading the checkpoint",
            self.ports.checkpointer.load(session),
        )
        .await
    }

    async fn list(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        self.store("listing checkpoints", self.ports.checkpointer.list())
            .await
    }

    async fn prune(&self, before: UnixMillis) -> Result<usize, CheckpointError> {
        self.store("pruning checkpoints", self.ports.checkpointer.prune(before))
            .await
    }
}

#[async_trait]
impl PromptSource for Timed<'_> {
    async fn recall(&self, dir: &Path, claude_session: &ClaudeSessionId) -> TranscriptSummary {
        let recall = self.ports.prompts.recall(dir, claude_session);
        tokio::time::timeout(self.limits.recall, recall)
            .await
            .unwrap_or_else(|_| {
                tracing::warn!("recalling the last prompt timed out");
                TranscriptSummary::default()
            })
    }
}
