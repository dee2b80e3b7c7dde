//! Starting and running the daemon: [`Daemon::start`] builds every channel and spawns every
//! task into one `JoinSet`; [`Daemon::run`] waits for the shutdown signal (or a critical
//! failure), then shuts down in order: producers and the control plane stop, the dispatcher
//! drains in-flight effects, workers finish, notifier queues stop. Sessions keep running in
//! tmux; the next start adopts them.

mod control;
mod links;
mod queue;
mod restore;
mod spawn;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{DaemonConfig, Env, ProcessEnv};
use crate::deps::Deps;
use crate::error::DaemonError;
use crate::handle::DaemonHandle;
use crate::http;
use crate::tasks::{self, TaskExit};
use control::bind_control;
use restore::load_state;
use spawn::spawn_tasks;

/// How long in-flight effects may take to finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How many events a slow SSE subscriber may fall behind before it misses some.
pub const EVENT_BUFFER: usize = 1024;

/// A started daemon.
#[derive(Debug)]
pub struct Daemon {
    tasks: JoinSet<TaskExit>,
    handle: DaemonHandle,
    shutdown: CancellationToken,
    notify_stop: CancellationToken,
    socket: http::BoundUnixIdentity,
}

/// Runs the daemon until `shutdown` resolves or a critical error happens.
pub async fn run(
    config: DaemonConfig,
    deps: Deps,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    Daemon::start(config, deps).await?.run(shutdown).await
}

impl Daemon {
    /// Loads the state, builds the engine, binds the control plane and spawns every task.
    pub async fn start(config: DaemonConfig, deps: Deps) -> Result<Self, DaemonError> {
        Self::start_with_env(config, deps, Arc::new(ProcessEnv)).await
    }

    /// Like [`start`](Self::start), reading reloaded configuration files with `env`.
    ///
    /// In three steps: `load_state` (the state file, the engine restored from it),
    /// `bind_control` (the control plane's listeners, so a bind failure stops the start
    /// before any task runs), `spawn_tasks` (every channel and task).
    pub async fn start_with_env(
        config: DaemonConfig,
        deps: Deps,
        env: Arc<dyn Env + Send + Sync>,
    ) -> Result<Self, DaemonError> {
        let started_at = deps.clock.now();
        let state = load_state(&config, started_at)?;
        let control = bind_control(&config.control).await?;
        spawn_tasks(config, deps, env, state, control, started_at)
    }

    /// A handle for reading status, subscribing to events and sending commands.
    pub fn handle(&self) -> DaemonHandle {
        self.handle.clone()
    }

    /// Runs until `shutdown` resolves or a task fails critically, then shuts down.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        tasks::systemd::notify_ready();
        let first_error = self.until_stop(shutdown).await;
        tasks::systemd::notify_stopping();
        self.shutdown.cancel();
        let first_error = self.stop_tasks(first_error).await;
        http::remove_socket_if_ours(&self.socket.path, self.socket.identity);
        tracing::info!("daemon stopped; sessions keep running in tmux");
        first_error.map_or(Ok(()), Err)
    }

    /// Waits for `shutdown` or the first task to fail (or the dispatcher to stop, which it
    /// never does by itself); returns that failure.
    async fn until_stop(&mut self, shutdown: impl Future<Output = ()>) -> Option<DaemonError> {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("shutdown requested");
                    return None;
                }
                next = self.tasks.join_next() => match next {
                    None => return None,
                    Some(Ok(("dispatcher", Ok(())))) => {
                        return Some(DaemonError::Task { task: "dispatcher", reason: "stopped unexpectedly".into() });
                    }
                    Some(Ok((name, Ok(())))) => tracing::debug!(task = name, "task finished"),
                    Some(Ok((name, Err(e)))) => {
                        tracing::error!(task = name, error = %e, "critical failure; shutting down");
                        return Some(e);
                    }
                    Some(Err(join)) => {
                        tracing::error!(error = %join, "a task panicked; shutting down");
                        return Some(DaemonError::Panic(join.to_string()));
                    }
                }
            }
        }
    }

    /// Once shutdown is signalled: waits for every task, stopping the notifier queues when the
    /// dispatcher is done, and aborts what is still running after the grace. Returns the
    /// first failure, `first_error` included.
    async fn stop_tasks(&mut self, mut first_error: Option<DaemonError>) -> Option<DaemonError> {
        let hard_stop = tokio::time::sleep(SHUTDOWN_GRACE + Duration::from_secs(10));
        tokio::pin!(hard_stop);
        loop {
            tokio::select! {
                next = self.tasks.join_next() => match next {
                    None => break,
                    Some(Ok((name, result))) => {
                        if name == "dispatcher" {
                            // Nothing new can be raised; stop the notifier queues.
                            self.notify_stop.cancel();
                        }
                        if let Err(e) = result {
                            tracing::error!(task = name, error = %e, "task failed while stopping");
                            first_error.get_or_insert(e);
                        }
                    }
                    Some(Err(join)) if join.is_panic() => {
                        first_error.get_or_insert(DaemonError::Panic(join.to_string()));
                    }
                    Some(Err(_)) => {}
                },
                () = &mut hard_stop => {
                    tracing::warn!(left = self.tasks.len(), "tasks did not stop in time; aborting them");
                    self.notify_stop.cancel();
                    self.tasks.abort_all();
                    while self.tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
        first_error
    }
}

async fn named(name: &'static str, fut: impl Future<Output = Result<(), DaemonError>>) -> TaskExit {
    (name, fut.await)
}
