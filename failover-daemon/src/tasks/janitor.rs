//! The janitor: every `janitor.interval_secs`, prunes checkpoints older than
//! `janitor.checkpoint_retention_hours`, and the people's unsent drafts kept for a session
//! that is not configured (any more) and last written longer ago than that same retention
//! ([`crate::production::prune_drafts`]; a configured session's draft is kept for its next
//! launch however old it is), and runs the task queue's sweep
//! ([`failover_queue::sweep::run_once`]): claims of sessions that are gone go back to the
//! inbox, `done/` entries older than `queue.done_retention_hours` are archived. A failure is
//! logged and tried again next time; a task that ran out of attempts is notified.
//!
//! It follows configuration reloads: the next pass uses the new interval, retention,
//! sessions and projects.

use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use failover_core::{
    Checkpointer, Notification, NotificationKind, SessionId, Severity, UnixMillis,
};
use failover_queue::sweep::{SweepConfig, run_once};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{DaemonConfig, JanitorSettings};
use crate::error::DaemonError;
use crate::notifiers::NotifyHub;

/// Longest a prune may take.
pub const PRUNE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the queue's sweep works on.
#[derive(Clone, Debug)]
pub struct QueueWork {
    /// The served project directories (`[[projects]]`; a session's own dir only when listed
    /// there, so no queue folder is created in a directory that did not ask for one).
    pub projects: Vec<PathBuf>,
    /// The configured sessions and their directories.
    pub sessions: Vec<(SessionId, PathBuf)>,
    /// Its settings.
    pub config: SweepConfig,
}

impl QueueWork {
    /// From the daemon configuration.
    pub fn from_config(config: &DaemonConfig) -> Self {
        Self {
            projects: crate::config::served_projects(&config.queue.projects),
            sessions: config
                .engine
                .sessions
                .iter()
                .map(|s| (s.id.clone(), s.dir.clone()))
                .collect(),
            config: SweepConfig::new(config.queue.done_retention),
        }
    }
}

/// Runs until `cancel`, with the configuration in force from `config`.
pub async fn run(
    checkpointer: Arc<dyn Checkpointer>,
    mut config: watch::Receiver<Arc<DaemonConfig>>,
    hub: Arc<NotifyHub>,
    clock: Clock,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    let current = |c: &Arc<DaemonConfig>| (c.janitor.clone(), QueueWork::from_config(c), c.clone());
    let (mut settings, mut queue, mut in_force): (JanitorSettings, QueueWork, Arc<DaemonConfig>) =
        current(&config.borrow_and_update());
    let mut tick = tokio::time::interval(settings.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut following = true;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            changed = config.changed(), if following => {
                if changed.is_err() {
                    // No more reloads (the daemon is stopping): keep what is in force.
                    following = false;
                    continue;
                }
                let (new_settings, new_queue, new_config) = current(&config.borrow_and_update());
                if new_settings.interval != settings.interval {
                    // Next pass one new interval from now.
                    tick = tokio::time::interval_at(
                        tokio::time::Instant::now() + new_settings.interval,
                        new_settings.interval,
                    );
                    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
                }
                tracing::debug!(interval = ?new_settings.interval, "janitor follows the reloaded configuration");
                (settings, queue, in_force) = (new_settings, new_queue, new_config);
            }
            _ = tick.tick() => {
                let before = clock.now() - settings.checkpoint_retention;
                match tokio::time::timeout(PRUNE_TIMEOUT, checkpointer.prune(before)).await {
                    Ok(Ok(0)) => tracing::debug!("no checkpoint to prune"),
                    Ok(Ok(n)) => tracing::info!(pruned = n, %before, "pruned old checkpoints"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "pruning checkpoints failed"),
                    Err(_) => tracing::warn!(after_ms = PRUNE_TIMEOUT.as_millis() as u64, "pruning checkpoints timed out"),
                }
                prune_drafts(&in_force, before).await;
                let Some(now) = clock.now().to_timestamp() else { continue };
                let work = queue.clone();
                let report = tokio::task::spawn_blocking(move || {
                    run_once(now, &work.projects, &work.sessions, &work.config)
                })
                .await;
                match report {
                    Ok(Ok(r)) => {
                        if !(r.requeued.is_empty() && r.archived.is_empty()) {
                            tracing::info!(requeued = r.requeued.len(), archived = r.archived.len(), "queue sweep");
                        }
                        for (project, task) in r.failed {
                            let at = clock.now();
                            hub.submit(
                                Notification {
                                    severity: Severity::Warning,
                                    kind: NotificationKind::TaskFailed {
                                        task: task.clone(),
                                        session: None,
                                        reason: "its session is gone and it ran out of attempts".into(),
                                    },
                                    summary: format!("task {task} in {} failed for good: out of attempts", project.display()),
                                    next_reset: None,
                                    dedup_key: format!("task-failed:{}:{task}", project.display()),
                                    at,
                                },
                                at,
                            );
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "queue sweep failed"),
                    Err(e) => tracing::error!(error = %e, "queue sweep panicked"),
                }
            }
        }
    }
}

/// Prunes the drafts of sessions that are not configured, last written before `before`
/// (the daemon's clock), logging the sessions pruned (never the text).
async fn prune_drafts(config: &Arc<DaemonConfig>, before: UnixMillis) {
    let Ok(ms) = u64::try_from(before.0) else {
        return;
    };
    let before = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    let config = config.clone();
    let pruned = tokio::time::timeout(
        PRUNE_TIMEOUT,
        tokio::task::spawn_blocking(move || crate::production::prune_drafts(&config, before)),
    )
    .await;
    match pruned {
        Ok(Ok(Ok(sessions))) if sessions.is_empty() => tracing::debug!("no draft to prune"),
        Ok(Ok(Ok(sessions))) => {
            let names: Vec<&str> = sessions.iter().map(SessionId::as_str).collect();
            tracing::info!(
                pruned = sessions.len(),
                sessions = ?names,
                "pruned old unsent drafts of sessions that are not configured"
            );
        }
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "pruning drafts failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "pruning drafts panicked"),
        Err(_) => tracing::warn!(
            after_ms = PRUNE_TIMEOUT.as_millis() as u64,
            "pruning drafts timed out"
        ),
    }
}
