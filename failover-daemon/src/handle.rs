//! [`DaemonHandle`]: how the control plane and tests talk to a running daemon, without
//! touching its state: reads come from the published snapshot, commands go through the
//! dispatcher's control channel.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use failover_core::{Command, CommandReply};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::clock::Clock;
use crate::events::DaemonEvent;
use crate::metrics::Metrics;
use crate::tasks::{ControlMsg, Published};

/// How long a command may wait for the engine's answer.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a command got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The daemon is shutting down.
    #[error("the daemon is shutting down")]
    Unavailable,
    /// The engine did not answer in time.
    #[error("the daemon did not answer within {0:?}")]
    Timeout(Duration),
}

/// A cheap, cloneable handle on a running daemon.
#[derive(Clone, Debug)]
pub struct DaemonHandle {
    pub(crate) status: watch::Receiver<Arc<Published>>,
    pub(crate) events: broadcast::Sender<Arc<DaemonEvent>>,
    pub(crate) control: mpsc::Sender<ControlMsg>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Clock,
    pub(crate) socket: PathBuf,
    pub(crate) tcp: Option<SocketAddr>,
    pub(crate) settings: crate::settings_check::SettingsCheck,
    /// Which queued task each session holds (empty without a task queue).
    pub(crate) tasks: watch::Receiver<failover_queue::runner::CurrentTasks>,
}

impl DaemonHandle {
    /// Settings and MCP servers that differ between the accounts (reads files when they
    /// changed; call from a blocking context).
    pub fn setting_differences(&self) -> Vec<crate::http::dto::SettingDifferenceDto> {
        self.settings.differences()
    }

    /// The control plane's status: the published snapshot with each session's held task
    /// (the settings differences, which read files, are the route's to add).
    pub fn status(&self) -> crate::http::dto::StatusDto {
        let p = self.published();
        let mut dto = crate::http::convert::status_dto(&p.snapshot, &p.facts, self.clock.now());
        let tasks = self.current_tasks();
        for session in &mut dto.sessions {
            session.task = tasks
                .get(&failover_core::SessionId::new(session.name.as_str()))
                .cloned();
        }
        dto
    }

    /// Which queued task each session holds.
    pub fn current_tasks(&self) -> failover_queue::runner::CurrentTasks {
        self.tasks.borrow().clone()
    }

    /// The latest published status.
    pub fn published(&self) -> Arc<Published> {
        self.status.borrow().clone()
    }

    /// A receiver of status updates (for waiting on a condition).
    pub fn watch_status(&self) -> watch::Receiver<Arc<Published>> {
        self.status.clone()
    }

    /// Waits until `pred` holds for the published status, or `limit` passes.
    pub async fn wait_for(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&Published) -> bool,
    ) -> Result<Arc<Published>, Arc<Published>> {
        let mut rx = self.status.clone();
        let result = tokio::time::timeout(limit, async {
            loop {
                let current = rx.borrow_and_update().clone();
                if pred(&current) {
                    return Ok(current);
                }
                if rx.changed().await.is_err() {
                    return Err(current);
                }
            }
        })
        .await;
        match result {
            Ok(r) => r,
            Err(_) => Err(self.published()),
        }
    }

    /// Subscribes to every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<DaemonEvent>> {
        self.events.subscribe()
    }

    /// Sends an operator command and waits for the engine's answer.
    pub async fn command(&self, command: Command) -> Result<CommandReply, CommandError> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(ControlMsg::Command { command, reply: tx })
            .await
            .map_err(|_| CommandError::Unavailable)?;
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(CommandError::Unavailable),
            Err(_) => Err(CommandError::Timeout(COMMAND_TIMEOUT)),
        }
    }

    /// The daemon's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The daemon's clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The control socket path.
    pub fn socket(&self) -> &PathBuf {
        &self.socket
    }

    /// The TCP address actually bound, if any.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp
    }
}
