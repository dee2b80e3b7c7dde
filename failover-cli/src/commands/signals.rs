//! SIGINT and SIGTERM for the long-running subcommands (`demo`, `top`), so that they clean
//! up (the demo's world, the dashboard's terminal) instead of dying mid-way.

use crate::error::CliError;

/// SIGINT and SIGTERM, registered once.
#[derive(Debug)]
pub(crate) struct Interrupts {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Registers both (needs a tokio runtime).
    pub(crate) fn new() -> Result<Self, CliError> {
        use tokio::signal::unix::{SignalKind, signal};
        let io = |e| CliError::Other(format!("cannot catch Ctrl-C: {e}"));
        Ok(Self {
            int: signal(SignalKind::interrupt()).map_err(io)?,
            term: signal(SignalKind::terminate()).map_err(io)?,
        })
    }

    /// Waits for either.
    pub(crate) async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
