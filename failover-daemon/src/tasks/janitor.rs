//! The janitor: every `janitor.interval_secs`, prunes checkpoints older than
//! `janitor.checkpoint_retention_hours`, and runs the task queue's janitor
//! ([`crate::queue::janitor::run_once`]): claims of sessions that are gone go back to the
//! inbox, `done/` entries older than `queue.done_retention_hours` are archived. A failure is
//! logged and tried again next time; a task that ran out of attempts is notified.

use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use failover_core::{Checkpointer, Notification, NotificationKind, Severity};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{DaemonConfig, JanitorSettings};
use crate::error::DaemonError;
use crate::notifiers::NotifyHub;
use crate::queue::janitor::{JanitorConfig, run_once};

/// Longest a prune may take.
pub const PRUNE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the queue's janitor works on.
#[derive(Clone, Debug)]
pub struct QueueWork {
    /// Every project directory (the extra projects and the sessions' own).
    pub projects: Vec<PathBuf>,
    /// The configured sessions and their directories.
    pub sessions: Vec<(failover_core::SessionId, PathBuf)>,
    /// Its settings.
    pub config: JanitorConfig,
}

impl QueueWork {
    /// From the daemon configuration.
    pub fn from_config(config: &DaemonConfig) -> Self {
        let projects = crate::config::served_projects(
            &config.queue.projects,
            config.engine.sessions.iter().map(|s| s.dir.as_path()),
        );
        Self {
            projects,
            sessions: config
                .engine
                .sessions
                .iter()
                .map(|s| (s.id.clone(), s.dir.clone()))
                .collect(),
            config: JanitorConfig::new(config.queue.done_retention),
        }
    }
}

/// Runs until `cancel`.
pub async fn run(
    checkpointer: Arc<dyn Checkpointer>,
    settings: JanitorSettings,
    queue: QueueWork,
    hub: Arc<NotifyHub>,
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
                    Err(_) => tracing::warn!(after_ms = PRUNE_TIMEOUT.as_millis() as u64, "pruning checkpoints timed out"),
                }
                let Some(now) = clock.now().to_timestamp() else { continue };
                let work = queue.clone();
                let report = tokio::task::spawn_blocking(move || {
                    run_once(now, &work.projects, &work.sessions, &work.config)
                })
                .await;
                match report {
                    Ok(Ok(r)) => {
                        if !(r.requeued.is_empty() && r.archived.is_empty()) {
                            tracing::info!(requeued = r.requeued.len(), archived = r.archived.len(), "queue janitor");
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
                    Ok(Err(e)) => tracing::warn!(error = %e, "queue janitor failed"),
                    Err(e) => tracing::error!(error = %e, "queue janitor panicked"),
                }
            }
        }
    }
}
