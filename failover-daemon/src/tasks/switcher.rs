//! The account switcher: executes `Stop`, `Launch` and `SendPrompt` through the
//! [`SessionBackend`], each under a timeout, several sessions at once, and replies with
//! [`Input::EffectFinished`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use failover_core::{EffectOutcome, FailureKind, Input, SessionBackend};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::SwitchJob;
use super::checkpoint::RECALL_TIMEOUT;
use crate::error::DaemonError;
use failover_core::PromptSource;

/// Time limits of the switcher's backend calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchTimeouts {
    /// Extra time, beyond the grace the engine's stop carries, a stop may take.
    pub stop_slack: Duration,
    /// How long a launch (a cold start) may take.
    pub launch: Duration,
    /// How long typing a prompt may take.
    pub send: Duration,
}

impl SwitchTimeouts {
    /// The standard timeouts.
    pub fn standard() -> Self {
        Self {
            stop_slack: Duration::from_secs(15),
            launch: Duration::from_secs(90),
            send: Duration::from_secs(30),
        }
    }
}

/// Runs until the dispatcher drops its sender and every job in flight has replied. After a
/// launch that resumes a conversation, `prompts` says whether its last prompt went
/// unanswered (see [`EffectOutcome::Launched`]).
pub async fn run(
    jobs: mpsc::Receiver<SwitchJob>,
    backend: Arc<dyn SessionBackend>,
    prompts: Arc<dyn PromptSource>,
    inbox: mpsc::Sender<Input>,
    timeouts: SwitchTimeouts,
) -> Result<(), DaemonError> {
    super::worker::run(jobs, inbox, move |job| {
        let (b, p) = (backend.clone(), prompts.clone());
        async move { execute(job, &*b, &*p, timeouts).await }
    })
    .await
}

/// Executes one job.
pub async fn execute(
    job: SwitchJob,
    backend: &dyn SessionBackend,
    prompts: &dyn PromptSource,
    t: SwitchTimeouts,
) -> EffectOutcome {
    match job {
        SwitchJob::Stop {
            request,
            session,
            grace,
        } => {
            let span = tracing::info_span!("stop", %session, %request);
            let limit = grace + t.stop_slack;
            outcome(
                "stop",
                limit,
                backend.stop(&session, grace).instrument(span),
                |()| EffectOutcome::Stopped,
            )
            .await
        }
        SwitchJob::Launch { request, launch } => {
            let span = tracing::info_span!("launch", session = %launch.session, account = %launch.account, %request);
            let launched = outcome(
                "launch",
                t.launch,
                backend.launch(&launch).instrument(span),
                |l| EffectOutcome::Launched {
                    claude_session: l.claude_session,
                    unanswered_prompt: l.unanswered_prompt,
                },
            )
            .await;
            match launched {
                EffectOutcome::Launched {
                    claude_session,
                    unanswered_prompt: None,
                } if launch.resume.as_ref() == Some(&claude_session) => {
                    // The previous program has stopped: its transcript is final.
                    let recall = tokio::time::timeout(
                        RECALL_TIMEOUT,
                        prompts.recall(&launch.dir, &claude_session),
                    )
                    .await
                    .unwrap_or_default();
                    EffectOutcome::Launched {
                        claude_session,
                        unanswered_prompt: recall.last_prompt.filter(|_| recall.unanswered),
                    }
                }
                other => other,
            }
        }
        SwitchJob::SendPrompt {
            request,
            session,
            text,
        } => {
            let span = tracing::info_span!("send_prompt", %session, %request);
            let replay = failover_core::replay_prompt(backend, &session, &text);
            outcome("send_prompt", t.send, replay.instrument(span), |o| o).await
        }
    }
}

async fn outcome<T>(
    op: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, failover_core::BackendError>>,
    ok: impl FnOnce(T) -> EffectOutcome,
) -> EffectOutcome {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => {
            tracing::info!(op, "done");
            ok(v)
        }
        Ok(Err(e)) => {
            tracing::warn!(op, error = %e, "failed");
            EffectOutcome::Failed {
                kind: FailureKind::from(&e),
                detail: e.to_string(),
            }
        }
        Err(_) => {
            tracing::warn!(op, limit_ms = limit.as_millis() as u64, "timed out");
            EffectOutcome::Failed {
                kind: FailureKind::Transient,
                detail: format!("{op} timed out after {limit:?}"),
            }
        }
    }
}
