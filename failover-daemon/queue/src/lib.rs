//! The task queue: markdown files dropped into a project's `.agent-queue/inbox/` are handed
//! to idle sessions exactly once, across failovers, session deaths and daemon crashes.
//!
//! # Theory of operation
//!
//! Files are the source of truth; memory is a cache rebuilt at start. A task moves between
//! directories by `rename(2)`, which is atomic: `inbox/` → `claimed/<session>/` (the claim:
//! whoever renames first owns it) → `done/` or `failed/`, or back to `inbox/`. Beside a claim,
//! a write-ahead *claim record* says what has happened to it; it is rewritten (temp file,
//! `fsync`, rename) *before* each step it announces, most importantly before the prompt is
//! sent, so a restarted runner never sends a task twice. Every crash window and its
//! recovery is listed in `failover-daemon/queue/QUEUE.md`.
//!
//! - [`runner::run`] owns the queue while the daemon runs: it watches inboxes with
//!   `notify`, follows sessions through a `watch` channel of [`SessionsView`], and delivers
//!   prompts through a [`Deliver`].
//! - [`sweep::run_once`] sends back claims of sessions that are gone and archives old
//!   `done/` entries.
//! - [`ops`] lists, adds and retries tasks straight on the files, for the CLI (no daemon
//!   needed).
//! - [`backend::BackendDeliver`] is the [`Deliver`] for real sessions: `send_input` to type the
//!   prompt, [`probe::transcript_probe`] to tell after a restart whether it arrived.
//!
//! The runner does its file operations (renames, small record writes, `fsync`s) in line on
//! its own task, in `block_in_place` on a multi-thread runtime (so the worker thread's other
//! tasks move elsewhere first), rather than shipping them to a blocking pool: keeping them in
//! line keeps every step's order obvious. A very slow disk delays the queue, not the engine.
//!
//! What it deliberately does not do: run tasks itself, or decide anything about accounts (a
//! task interrupted by a failover stays claimed; the engine replays the prompt).

#![deny(missing_docs)]

pub mod backend;
mod fsio;
pub mod layout;
pub mod ops;
pub mod probe;
pub mod records;
pub mod runner;
mod session;
pub mod status;
mod store;
pub mod sweep;
pub mod task;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use session::{Deliver, DeliverError, Delivery, Probe, SessionView, SessionsView};
pub use task::{BadTask, TaskMeta};

/// The default size limit of a task file.
pub const DEFAULT_MAX_TASK_BYTES: u64 = 1024 * 1024;

/// How the queue behaves. Built by the daemon from its configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Project directories whose queues are served. Only these: a session whose `dir` is
    /// not listed takes no tasks (a cloned repository's committed inbox must not run unasked).
    pub projects: Vec<PathBuf>,
    /// Bigger task files are rejected (judged from metadata, never read).
    pub max_task_bytes: u64,
    /// Deliveries allowed when a task does not say (`max_attempts` in its front matter).
    pub default_max_attempts: u32,
    /// A file written in place (not renamed in) is left alone until it has been unchanged
    /// this long, so a half-written task is never taken.
    pub write_settle: Duration,
    /// A delivered task whose session stays idle this long without being seen to work is
    /// settled by asking [`Deliver::probe`] whether the prompt arrived.
    pub unconfirmed_after: Duration,
    /// A [`Deliver::deliver`] still running after this is abandoned, its outcome unknown (the
    /// claim is followed like any delivered one).
    pub deliver_timeout: Duration,
}

impl QueueConfig {
    /// Sensible values: 1 MiB, 3 attempts, 500 ms write settle, 60 s before probing, 60 s
    /// to deliver.
    pub fn new(projects: Vec<PathBuf>) -> Self {
        Self {
            projects,
            max_task_bytes: DEFAULT_MAX_TASK_BYTES,
            default_max_attempts: 3,
            write_settle: Duration::from_millis(500),
            unconfirmed_after: Duration::from_secs(60),
            deliver_timeout: Duration::from_secs(60),
        }
    }
}

/// The wall-clock time of the process running the queue: where it reads the time it records
/// (when a task was claimed, delivered, ended or rejected). The daemon passes its own clock,
/// so a test that controls the daemon's time controls these records too. Two readings stay
/// on other clocks on purpose: timers (settling, probing, retrying) run on tokio's monotonic
/// clock, and a file's age is measured against the system clock that stamped it.
///
/// It should follow the system's wall clock closely in production: a delivery's recorded time
/// is compared with the timestamps Claude Code writes in its transcript
/// ([`transcript_probe`](crate::probe::transcript_probe)).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> jiff::Timestamp;
}

/// The system's wall clock: what [`Queue::new`](crate::Queue::new) uses until
/// [`Queue::with_clock`](crate::Queue::with_clock) says otherwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}

/// A task that failed for good, as told to the failure hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedTask {
    /// The project.
    pub project: PathBuf,
    /// Its name in `failed/`.
    pub task: String,
    /// The session that last held it.
    pub session: Option<failover_core::SessionId>,
    /// Why.
    pub reason: String,
}

/// Called (on the runner's task; keep it quick, e.g. a `try_send`) when a task fails for
/// good.
pub type FailureHook = Arc<dyn Fn(&FailedTask) + Send + Sync>;

/// The queue: its configuration and hooks. Pass it to [`runner::run`].
#[derive(Clone)]
pub struct Queue {
    /// The configuration.
    pub config: QueueConfig,
    on_failed: Option<FailureHook>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("config", &self.config)
            .field("on_failed", &self.on_failed.is_some())
            .field("clock", &self.clock)
            .finish()
    }
}

impl Queue {
    /// A queue with no hooks, on the system clock.
    pub fn new(config: QueueConfig) -> Self {
        Self {
            config,
            on_failed: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads the time it records (claims, deliveries, endings, rejections) from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The time now, by its clock.
    pub(crate) fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// Calls `hook` whenever a claimed task fails for good (out of attempts or unknown
    /// outcome). Rejected files are not reported: they never ran.
    pub fn with_failure_hook(mut self, hook: FailureHook) -> Self {
        self.on_failed = Some(hook);
        self
    }

    pub(crate) fn report_failed(&self, failed: &FailedTask) {
        if let Some(hook) = &self.on_failed {
            hook(failed);
        }
    }
}

/// A queue operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be read or written.
    #[error("record {path}: {source}")]
    Record {
        /// The record.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The inbox watcher could not start.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The inbox.
        path: PathBuf,
        /// Why.
        #[source]
        source: notify::Error,
    },
    /// A task file that cannot be queued.
    #[error("{path}: {reason}")]
    BadTask {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: BadTask,
    },
    /// No task by that name.
    #[error("no task named {0:?} in failed/ of the given projects")]
    NotFound(String),
    /// A task id that is not a plain file name (empty, `.`, `..`, or holding a path separator
    /// or NUL): refused before any file is looked at.
    #[error("{id:?} is not a task name: {reason}")]
    InvalidId {
        /// The id given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Several tasks by that name.
    #[error("{id:?} names several failed tasks: {}", .candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Ambiguous {
        /// The name asked for.
        id: String,
        /// The matches.
        candidates: Vec<PathBuf>,
    },
    /// The on-disk state broke a rule of the protocol.
    #[error("queue protocol: {0}")]
    Protocol(String),
}
