//! The demo's daemon, run in-process, and how the demo types into its sessions.

use std::path::Path;
use std::process::Stdio;

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

/// Types `text` into a session and submits it (text and Enter as two separate key sends, as
/// Claude Code needs).
pub(crate) async fn send_prompt(world: &World, session: &str, text: &str) -> Result<(), CliError> {
    for keys in [&["-l", text][..], &["Enter"][..]] {
        let status = tokio::process::Command::new("tmux")
            .args(["-L", &world.tmux_socket, "send-keys", "-t", session])
            .args(keys)
            .stdin(Stdio::null())
            .status()
            .await
            .map_err(|e| CliError::io("cannot run", "tmux", e))?;
        if !status.success() {
            return Err(CliError::Other(format!(
                "tmux could not type into {session}"
            )));
        }
    }
    Ok(())
}
