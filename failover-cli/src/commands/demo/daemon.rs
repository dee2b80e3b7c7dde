//! The demo's daemon, run in-process, and how the demo types into its sessions.

use std::path::Path;

use std::time::Duration;

use failover_core::{BackendError, SessionBackend, SessionId};
use failover_daemon::config::{DaemonConfig, ProcessEnv};
use failover_daemon::{Daemon, DaemonError, production};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::CliError;

use super::world::World;

/// How long the daemon may take to stop (it lets in-flight effects finish first).
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The daemon running in this process, on the production dependencies (tmux, files).
#[derive(Debug)]
pub(crate) struct RunningDaemon {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), DaemonError>>>,
}

/// Loads the demo's config the way `claude-failoverd` does and starts the daemon on it.
pub(crate) async fn start(config: &Path) -> Result<RunningDaemon, CliError> {
    let cfg = DaemonConfig::load(config, &ProcessEnv)
        .map_err(|e| CliError::library("the demo's daemon config was refused", e))?;
    let deps = production::deps(&cfg)
        .await
        .map_err(|e| CliError::library("cannot set up the daemon", e))?;
    let daemon = Daemon::start(cfg, deps)
        .await
        .map_err(|e| CliError::library("the daemon did not start", e))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(daemon.run(async move {
        let _ = stopped.await;
    }));
    Ok(RunningDaemon {
        stop: Some(stop),
        task: Some(task),
    })
}

impl RunningDaemon {
    /// Resolves when the daemon stops on its own (an error, or a clean exit).
    pub(crate) async fn exited(&mut self) -> Result<(), CliError> {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let result = task.await;
        self.task = None;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CliError::library("the daemon failed", e)),
            Err(e) => Err(CliError::Other(format!(
                "the daemon task ended abnormally: {e}"
            ))),
        }
    }

    /// Asks the daemon to stop and waits for it (bounded).
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(STOP_TIMEOUT, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the daemon stopped with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "the daemon task ended abnormally"),
                Err(_) => tracing::warn!("the daemon did not stop within {STOP_TIMEOUT:?}"),
            }
        }
    }
}

/// Types `text` into a session and submits it, confirming the session took it.
pub(crate) async fn send_prompt(world: &World, session: &str, text: &str) -> Result<(), CliError> {
    world
        .tmux
        .send_input(&SessionId::new(session), text)
        .await
        .map_err(|e| CliError::library(format!("cannot type into {session}"), e))
}

/// [`send_prompt`] for a prompt that should hit the exhausted account. When the session is
/// not there (the first 429 of another session started the swap, and this one is between
/// its stop and its launch), nothing was typed: it is typed once the session is back, on
/// the next account.
pub(crate) async fn send_prompt_into_swap(
    world: &World,
    session: &str,
    text: &str,
    timeout: Duration,
) -> Result<(), CliError> {
    match world.tmux.send_input(&SessionId::new(session), text).await {
        Err(BackendError::SessionNotFound(_)) => {
            tracing::debug!(session, "moving already; typing the prompt once it is back");
            send_prompt_when_ready(world, session, text, timeout).await
        }
        other => other.map_err(|e| CliError::library(format!("cannot type into {session}"), e)),
    }
}

/// [`send_prompt`], retried every half second until the session shows the text or `timeout`
/// passes (a program still starting up does not echo what is typed).
pub(crate) async fn send_prompt_when_ready(
    world: &World,
    session: &str,
    text: &str,
    timeout: Duration,
) -> Result<(), CliError> {
    let end = tokio::time::Instant::now() + timeout;
    loop {
        match send_prompt(world, session, text).await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= end => return Err(e),
            Err(e) => {
                tracing::debug!(session, error = %e, "not ready for input yet");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Waits until `session`'s screen shows `needle` (checked every 200 ms), or fails after
/// `timeout` naming what the screen showed last.
pub(crate) async fn wait_screen(
    world: &World,
    session: &str,
    needle: &str,
    timeout: Duration,
) -> Result<(), CliError> {
    let id = SessionId::new(session);
    let end = tokio::time::Instant::now() + timeout;
    loop {
        let screen = world.tmux.capture(&id).await.map(|c| c.text);
        if let Ok(text) = &screen {
            if text.contains(needle) {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() >= end {
            let last = screen.unwrap_or_else(|e| format!("(cannot capture: {e})"));
            return Err(CliError::TimedOut(format!(
                "{session} did not show {needle:?} within {}s; its screen:\n{last}",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
