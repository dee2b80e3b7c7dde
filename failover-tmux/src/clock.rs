//! The wall clock, read only here (the core never reads it).

use failover_core::UnixMillis;

/// Now, as milliseconds since the epoch.
pub(crate) fn now() -> UnixMillis {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    UnixMillis(ms)
}
