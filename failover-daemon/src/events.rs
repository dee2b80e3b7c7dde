//! [`DaemonEvent`]: every decision and observation the dispatcher handles, broadcast to
//! subscribers (the SSE endpoint, logs). Lossy by design: a slow subscriber misses events and
//! is told how many; the dispatcher never waits for one.

use failover_core::{Effect, Input, UnixMillis};

/// One event, numbered in the order the dispatcher saw it.
#[derive(Clone, Debug)]
pub struct DaemonEvent {
    /// 1, 2, 3, … since the daemon started.
    pub seq: u64,
    /// When it happened.
    pub at: UnixMillis,
    /// What happened.
    pub kind: DaemonEventKind,
}

/// What a [`DaemonEvent`] is about.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum DaemonEventKind {
    /// An input reached the engine (ticks are not broadcast).
    Input {
        /// The input.
        input: Input,
        /// For detections: from the evidence being produced to the engine receiving it.
        latency_ms: Option<u64>,
    },
    /// The engine asked for an effect.
    Effect(Effect),
    /// A configuration reload was applied (`error: None`) or refused.
    ConfigReload {
        /// Why it was refused; the old configuration stays in force.
        error: Option<String>,
    },
    /// Writing the state file failed; the previous file is intact.
    StateWriteFailed(String),
}
