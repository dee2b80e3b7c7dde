//! The janitor: every `janitor.interval_secs`, prunes checkpoints older than
//! `janitor.checkpoint_retention_hours`. A failure is logged and tried again next time.

use std::sync::Arc;
use std::time::Duration;

use failover_core::Checkpointer;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::JanitorSettings;
use crate::error::DaemonError;

/// Longest a prune may take.
pub const PRUNE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs until `cancel`.
pub async fn run(
    checkpointer: Arc<dyn Checkpointer>,
    settings: JanitorSettings,
    clock: Clock,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    let mut tick = tokio::time::interval(settings.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            _ = tick.tick() => {
                let before = clock.now() - settings.checkpoint_retention;
                match tokio::time::timeout(PRUNE_TIMEOUT, checkpointer.prune(before)).await {
                    Ok(Ok(0)) => tracing::debug!("no checkpoint to prune"),
                    Ok(Ok(n)) => tracing::info!(pruned = n, %before, "pruned old checkpoints"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "pruning checkpoints failed"),
                    Err(_) => tracing::warn!(after = ?PRUNE_TIMEOUT, "pruning checkpoints timed out"),
                }
            }
        }
    }
}
