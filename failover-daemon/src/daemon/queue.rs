//! The task queue as the daemon wires it: over the configured projects, delivering to the
//! sessions the dispatcher publishes, notifying tasks that fail for good.

use std::sync::Arc;

use failover_core::{Notification, NotificationKind, SessionBackend, Severity};
use failover_queue::backend::{BackendDeliver, TranscriptLocator};
use failover_queue::runner::CurrentTasks;
use failover_queue::{Delivery, FailedTask, Queue, QueueConfig, SessionsView};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::links::Links;
use super::named;
use crate::clock::Clock;
use crate::config::DaemonConfig;
use crate::notifiers::NotifyHub;
use crate::production::TranscriptPrompts;
use crate::tasks::{self, Published, TaskExit};

/// Spawns the task queue and the view of the sessions it dispatches to; returns the tasks
/// each session is running, as the control plane shows them.
pub(super) fn spawn_queue(
    set: &mut JoinSet<TaskExit>,
    links: &Links,
    backend: Arc<dyn SessionBackend>,
) -> watch::Receiver<CurrentTasks> {
    let (tasks_tx, tasks_rx) = watch::channel(CurrentTasks::new());
    let (view_tx, view_rx) = watch::channel(SessionsView::default());
    set.spawn(named(
        "queue view",
        tasks::queue_view::run(
            links.status.clone(),
            links.configs.clone(),
            view_tx,
            links.shutdown.clone(),
        ),
    ));
    let queue = build_queue(&links.config, links.hub.clone(), links.clock);
    let deliver = Arc::new(BackendDeliver::new(
        backend,
        Some(transcript_locator(&links.config, links.status.clone())),
    ));
    let stop = links.shutdown.clone();
    set.spawn(named("task queue", async move {
        if let Err(e) = failover_queue::runner::run_publishing(
            queue,
            view_rx,
            deliver,
            tasks_tx,
            stop.cancelled_owned(),
        )
        .await
        {
            tracing::error!(error = %e, "the task queue stopped; sessions and failover keep working");
        }
        Ok(())
    }));
    tasks_rx
}

/// The task queue over the configured projects, notifying tasks that fail for good.
fn build_queue(config: &DaemonConfig, hub: Arc<NotifyHub>, clock: Clock) -> Queue {
    let mut qc = QueueConfig::new(config.queue.projects.clone());
    qc.max_task_bytes = config.queue.max_task_bytes;
    qc.default_max_attempts = config.queue.max_attempts;
    let queue = Queue::new(qc).with_clock(Arc::new(clock));
    queue.with_failure_hook(Arc::new(move |f: &FailedTask| {
        let at = clock.now();
        hub.submit(
            Notification {
                severity: Severity::Warning,
                kind: NotificationKind::TaskFailed {
                    task: f.task.clone(),
                    session: f.session.clone(),
                    reason: f.reason.clone(),
                },
                summary: format!(
                    "task {} in {} failed: {}",
                    f.task,
                    f.project.display(),
                    f.reason
                ),
                next_reset: None,
                dedup_key: format!("task-failed:{}:{}", f.project.display(), f.task),
                at,
            },
            at,
        );
    }))
}

/// Where the transcript of the conversation a delivery went to lives: the session's current
/// conversation (from the published status) in the shared projects tree.
fn transcript_locator(
    config: &DaemonConfig,
    status: watch::Receiver<Arc<Published>>,
) -> TranscriptLocator {
    let prompts = TranscriptPrompts::new(config.claude.shared_projects.clone());
    let dirs: Vec<_> = config
        .engine
        .sessions
        .iter()
        .map(|s| (s.id.clone(), s.dir.clone()))
        .collect();
    Arc::new(move |d: &Delivery| {
        let dir = dirs.iter().find(|(id, _)| *id == d.session)?.1.clone();
        let conv = status
            .borrow()
            .snapshot
            .sessions
            .iter()
            .find(|s| s.id == d.session)?
            .claude_session
            .clone()?;
        Some(prompts.transcript_path(&dir, &conv))
    })
}
