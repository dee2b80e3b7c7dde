//! The demo's daemon, run in-process, and how the demo types into its sessions.

use std::path::Path;

use failover_core::{SessionBackend, SessionId};

use crate::error::CliError;

use super::world::World;

/// The daemon running in this process.
#[derive(Debug)]
pub(crate) struct RunningDaemon {}

/// Starts the daemon on the demo's config.
pub(crate) async fn start(config: &Path) -> Result<RunningDaemon, CliError> {
    Err(CliError::Other(format!(
        "the daemon library cannot run {} yet",
        config.display()
    )))
}

impl RunningDaemon {
    /// Resolves when the daemon stops on its own (an error, or a clean exit).
    pub(crate) async fn exited(&mut self) -> Result<(), CliError> {
        std::future::pending().await
    }

    /// Asks the daemon to stop and waits for it.
    pub(crate) async fn stop(&mut self) {}
}

/// Types `text` into a session and submits it, confirming the session took it.
pub(crate) async fn send_prompt(world: &World, session: &str, text: &str) -> Result<(), CliError> {
    world
        .tmux
        .send_input(&SessionId::new(session), text)
        .await
        .map_err(|e| CliError::library(format!("cannot type into {session}"), e))
}
