//! Where the queue reads the time it records: when a task was claimed, delivered, ended or
//! rejected. The daemon passes its own clock, so a test that controls the daemon's time
//! controls these records too.
//!
//! Two readings stay on other clocks on purpose: timers (settling, probing, retrying) run on
//! tokio's monotonic clock, and a file's age is measured against the system clock that
//! stamped its modification time.

use jiff::Timestamp;

/// The wall-clock time of the process running the queue.
///
/// It should follow the system's wall clock closely in production: a delivery's recorded time
/// is compared with the timestamps Claude Code writes in its transcript
/// ([`transcript_probe`](crate::probe::transcript_probe)).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock: what [`Queue::new`](crate::Queue::new) uses until
/// [`Queue::with_clock`](crate::Queue::with_clock) says otherwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
