//! The checkpoint worker: executes [`Effect::Checkpoint`](failover_core::Effect::Checkpoint)
//! through the [`Checkpointer`] port and replies with the last prompt found, so the engine
//! can replay an interrupted turn after the session moves.

use std::sync::Arc;
use std::time::Duration;

use failover_core::{
    Checkpoint, Checkpointer, EffectOutcome, FailureKind, Input, TranscriptSummary,
};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::CheckpointJob;
use crate::clock::Clock;
use crate::error::DaemonError;
use failover_core::PromptSource;

/// How long recalling the last prompt from a transcript may take.
pub const RECALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long saving or loading a checkpoint may take.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs until the dispatcher drops its sender and every job in flight has replied.
pub async fn run(
    jobs: mpsc::Receiver<CheckpointJob>,
    checkpointer: Arc<dyn Checkpointer>,
    prompts: Arc<dyn PromptSource>,
    inbox: mpsc::Sender<Input>,
    clock: Clock,
) -> Result<(), DaemonError> {
    super::worker::run(jobs, inbox, move |job| {
        let span =
            tracing::info_span!("checkpoint", session = %job.session, request = %job.request);
        let (c, p) = (checkpointer.clone(), prompts.clone());
        async move { checkpoint(job, &*c, &*p, clock).await }.instrument(span)
    })
    .await
}

async fn checkpoint(
    job: CheckpointJob,
    checkpointer: &dyn Checkpointer,
    prompts: &dyn PromptSource,
    clock: Clock,
) -> EffectOutcome {
    let mut recall = match &job.claude_session {
        Some(cs) => tokio::time::timeout(RECALL_TIMEOUT, prompts.recall(&job.dir, cs))
            .await
            .unwrap_or_else(|_| {
                tracing::warn!("recalling the last prompt timed out");
                TranscriptSummary::default()
            }),
        None => TranscriptSummary::default(),
    };
    if recall.last_prompt.is_none() {
        // The transcript may not have it (not flushed yet); the previous checkpoint of the
        // same conversation may.
        if let Ok(Ok(Some(prev))) =
            tokio::time::timeout(STORE_TIMEOUT, checkpointer.load(&job.session)).await
        {
            if prev.claude_session == job.claude_session {
                recall.last_prompt = prev.last_prompt;
                recall.unanswered = false;
                recall.last_tool_call = recall.last_tool_call.or(prev.last_tool_call);
            }
        }
    }
    let cp = Checkpoint {
        session: job.session,
        claude_session: job.claude_session,
        account: job.account,
        dir: job.dir,
        task: job.task,
        last_prompt: recall.last_prompt.clone(),
        last_tool_call: recall.last_tool_call,
        taken_at: clock.now(),
    };
    match tokio::time::timeout(STORE_TIMEOUT, checkpointer.save(&cp)).await {
        Ok(Ok(())) => {
            tracing::info!(has_prompt = cp.last_prompt.is_some(), "checkpoint saved");
            EffectOutcome::Checkpointed {
                last_prompt: recall.last_prompt,
                unanswered: recall.unanswered,
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "checkpoint failed");
            EffectOutcome::Failed {
                kind: FailureKind::from(&e),
                detail: e.to_string(),
            }
        }
        Err(_) => EffectOutcome::Failed {
            kind: FailureKind::Transient,
            detail: format!("saving the checkpoint timed out after {STORE_TIMEOUT:?}"),
        },
    }
}
