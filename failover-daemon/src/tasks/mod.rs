//! The daemon's cooperating tasks. The dispatcher owns the engine; every other task sends it
//! typed messages over bounded channels and executes the effects it routes to them.
//!
//! ```text
//!  session_watcher ─┐                       ┌─► effect worker ──────┐
//!  quota_monitor  ──┤   mpsc<Input>         ├─► ledger worker ──────┤ replies come back as
//!  janitor (logs) ──┼──► DISPATCHER ────────┤                       │ Input::EffectFinished
//!  config_watch   ──┤   (owns the engine)   ├─► notifier channels   │ on the same inbox
//!  http, watchdog ──┘   mpsc<ControlMsg>    └─► state file (awaited, in order)
//!                            │
//!                            ├─► watch<Arc<Published>>    ──► GET /v1/status, /metrics
//!                            └─► broadcast<DaemonEvent>   ──► GET /v1/events
//! ```

pub mod config_watch;
pub mod dispatcher;
pub mod effects;
pub mod janitor;
pub mod job_loop;
pub mod observers;
pub mod queue_view;
pub mod quota_monitor;
pub mod session_watcher;
pub mod standby_keeper;
pub mod systemd;
pub mod usage_poller;

use failover_core::{
    AccountId, Command, CommandReply, LaunchRequest, SessionId, StatusSnapshot, UnixMillis,
};
use tokio::sync::oneshot;

use crate::config::{ConfigFileError, DaemonConfig};
use crate::error::DaemonError;

/// Capacity of the dispatcher's input inbox.
pub const INBOX_CAPACITY: usize = 1024;
/// Capacity of the control channel.
pub const CONTROL_CAPACITY: usize = 64;
/// Capacity of each worker's job channel.
pub const WORKER_CAPACITY: usize = 256;

/// What a task returns: its name and, for a critical failure, the error.
pub type TaskExit = (&'static str, Result<(), DaemonError>);

/// Messages to the dispatcher that are not engine inputs.
#[derive(Debug)]
pub enum ControlMsg {
    /// An operator command; the engine's reply is sent back.
    Command {
        /// The command.
        command: Command,
        /// Where the reply goes.
        reply: oneshot::Sender<CommandReply>,
    },
    /// Liveness probe (systemd watchdog): answered when the dispatcher loop is responsive.
    Ping(oneshot::Sender<()>),
    /// The configuration file changed: the new configuration, or why it was refused.
    Reload(Result<Box<DaemonConfig>, ConfigFileError>),
    /// The shared ledger became reachable or unreachable.
    Ledger(crate::ledger::LedgerHealth),
    /// The standby keeper's report: the sessions whose standby is ready, and on which
    /// account.
    Standbys(std::collections::BTreeMap<SessionId, AccountId>),
}

/// What the dispatcher publishes for readers (HTTP, the CLI, tests).
#[derive(Clone, Debug)]
pub struct Published {
    /// The engine's view.
    pub snapshot: StatusSnapshot,
    /// Daemon facts the engine does not know.
    pub facts: DaemonFacts,
    /// The programs the engine wants ready ahead of a move
    /// ([`FailoverEngine::standbys`](failover_core::FailoverEngine::standbys) at the time
    /// of publishing); the standby keeper follows it.
    pub standbys: Vec<LaunchRequest>,
}

/// Daemon facts that are not in the engine's snapshot, kept by the dispatcher (the control
/// plane renders them, the task queue's view reads `turns_started`).
#[derive(Clone, Debug)]
pub struct DaemonFacts {
    /// When the daemon started.
    pub started_at: UnixMillis,
    /// The config file.
    pub config_file: Option<String>,
    /// Why the last reload was refused.
    pub config_error: Option<String>,
    /// Why the last state write failed.
    pub state_error: Option<String>,
    /// Notifications dropped.
    pub notifications_dropped: u64,
    /// Launches that started cold because their standby could not be used, since the
    /// daemon started ([`Metrics::standby_fallbacks`](crate::metrics::Metrics::standby_fallbacks)).
    pub standby_fallbacks: u64,
    /// Turns each session was seen to start (idle or unknown → working) since the daemon
    /// started; the task queue uses it to notice a turn however briefly it showed.
    pub turns_started: std::collections::BTreeMap<SessionId, u64>,
    /// The shared ledger: `ok`, `degraded`, or `None` without `[ledger]` (or before the
    /// first connection attempt is over).
    pub ledger: Option<String>,
    /// The program sessions run (`[claude] command`'s first word), to say why one exited.
    pub program: Option<String>,
    /// Sessions whose standby is ready, and the account it is ready on (the standby
    /// keeper's last report).
    pub standbys: std::collections::BTreeMap<SessionId, AccountId>,
    /// Launches asked for each session since the daemon started; the standby keeper tells
    /// by it that a launch took a session's standby over (used it, or ended it).
    pub launches: std::collections::BTreeMap<SessionId, u64>,
}

impl DaemonFacts {
    /// The facts of a daemon started at `started_at`: no config file, no error, nothing
    /// counted, seen or ready yet.
    pub fn started(started_at: UnixMillis) -> Self {
        Self {
            started_at,
            config_file: None,
            config_error: None,
            state_error: None,
            notifications_dropped: 0,
            standby_fallbacks: 0,
            turns_started: Default::default(),
            ledger: None,
            program: None,
            standbys: Default::default(),
            launches: Default::default(),
        }
    }
}
