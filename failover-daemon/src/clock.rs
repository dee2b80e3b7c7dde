//! The daemon's one clock: wall-clock [`UnixMillis`] for the engine, derived from tokio's
//! monotonic clock so that tests with a paused tokio clock control engine time too.

use std::time::Duration;

use failover_core::UnixMillis;
use tokio::time::Instant;

/// Maps tokio's monotonic [`Instant`] to wall-clock [`UnixMillis`] from a fixed origin.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin_unix: UnixMillis,
    origin: Instant,
}

impl Clock {
    /// A clock whose origin is the system's wall clock now.
    pub fn system() -> Self {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self::starting_at(UnixMillis(unix))
    }

    /// A clock that reads `unix` now (tests pick a fixed, readable origin).
    pub fn starting_at(unix: UnixMillis) -> Self {
        Self {
            origin_unix: unix,
            origin: Instant::now(),
        }
    }

    /// The current wall-clock time.
    pub fn now(&self) -> UnixMillis {
        self.origin_unix + self.origin.elapsed()
    }

    /// The tokio instant at which the clock will read `at` (now, if `at` is past).
    pub fn instant_at(&self, at: UnixMillis) -> Instant {
        let now = Instant::now();
        let ahead = at.saturating_since(self.now());
        now + ahead
    }

    /// How long ago `then` was (zero if it is in the future).
    pub fn since(&self, then: UnixMillis) -> Duration {
        self.now().saturating_since(then)
    }
}

/// The task queue records claims, deliveries and endings at the daemon's time.
impl failover_queue::Clock for Clock {
    fn now(&self) -> jiff::Timestamp {
        let ms = self.now().0.clamp(
            jiff::Timestamp::MIN.as_millisecond(),
            jiff::Timestamp::MAX.as_millisecond(),
        );
        jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }
}
