//! Wall-clock instants as plain values. The core never reads a clock: every instant arrives
//! as data, in an [`Input`](crate::Input) or as the `now` argument of
//! [`FailoverEngine::handle`](crate::FailoverEngine::handle).

use std::fmt;
use std::ops::{Add, Sub};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC): a wall-clock instant as a plain value. The core
/// never reads a clock: every instant arrives as data, in an [`Input`](crate::Input) or as
/// the `now` argument of [`FailoverEngine::handle`](crate::FailoverEngine::handle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// The epoch itself.
    pub const EPOCH: Self = Self(0);

    /// From whole seconds since the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Whole seconds since the epoch (rounded down).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// As a `jiff` timestamp, for formatting; `None` outside jiff's range.
    pub fn to_timestamp(self) -> Option<jiff::Timestamp> {
        jiff::Timestamp::from_millisecond(self.0).ok()
    }

    /// From a `jiff` timestamp.
    pub fn from_timestamp(ts: jiff::Timestamp) -> Self {
        Self(ts.as_millisecond())
    }
}

fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Add<Duration> for UnixMillis {
    type Output = Self;
    fn add(self, rhs: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(rhs)))
    }
}

impl Sub<Duration> for UnixMillis {
    type Output = Self;
    fn sub(self, rhs: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(rhs)))
    }
}

impl From<SystemTime> for UnixMillis {
    /// The instant a [`SystemTime`] stands for (read by the embedder, never by the core);
    /// one before the epoch is negative, and one out of range saturates.
    fn from(t: SystemTime) -> Self {
        match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => Self::EPOCH + after,
            Err(before) => Self::EPOCH - before.duration(),
        }
    }
}

impl fmt::Display for UnixMillis {
    /// RFC 3339 in UTC, e.g. `2026-11-26T09:38:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_timestamp() {
            Some(ts) => write!(f, "{ts}"),
            None => write!(f, "{}ms", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_system_time_converts_to_its_milliseconds() {
        let after = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(UnixMillis::from(after), UnixMillis(1_795_000_000_123));
        let before = SystemTime::UNIX_EPOCH - Duration::from_millis(1_500);
        assert_eq!(UnixMillis::from(before), UnixMillis(-1_500));
        assert_eq!(UnixMillis::from(SystemTime::UNIX_EPOCH), UnixMillis::EPOCH);
    }
}
