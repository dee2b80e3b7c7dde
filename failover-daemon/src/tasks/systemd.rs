//! systemd integration: `READY=1` once serving, `STOPPING=1` on shutdown, and `WATCHDOG=1`
//! at half of `WATCHDOG_USEC`, sent only while the dispatcher answers a ping. Without
//! `NOTIFY_SOCKET` (not under systemd) every call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::ControlMsg;
use crate::error::DaemonError;

/// Tells systemd the daemon is ready.
pub fn notify_ready() {
    if let Err(e) = sd_notify::notify(false, &[NotifyState::Ready]) {
        tracing::warn!(error = %e, "cannot notify systemd of readiness");
    }
}

/// Tells systemd the daemon is stopping.
pub fn notify_stopping() {
    if let Err(e) = sd_notify::notify(false, &[NotifyState::Stopping]) {
        tracing::debug!(error = %e, "cannot notify systemd of stopping");
    }
}

/// The watchdog interval systemd asked for, if any.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec))
}

/// Pings systemd at half of `interval` while the dispatcher answers within a quarter of it.
/// A dispatcher that stops answering stops the pings, and systemd restarts the service.
pub async fn watchdog(
    interval: Duration,
    control: mpsc::Sender<ControlMsg>,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    let period = interval / 2;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            _ = tick.tick() => {
                let (tx, rx) = oneshot::channel();
                if control.try_send(ControlMsg::Ping(tx)).is_err() {
                    tracing::warn!("dispatcher control queue full; skipping a watchdog ping");
                    continue;
                }
                match tokio::time::timeout(interval / 4, rx).await {
                    Ok(Ok(())) => {
                        if let Err(e) = sd_notify::notify(false, &[NotifyState::Watchdog]) {
                            tracing::warn!(error = %e, "cannot ping the systemd watchdog");
                        }
                    }
                    _ => tracing::error!("dispatcher did not answer the watchdog ping"),
                }
            }
        }
    }
}
