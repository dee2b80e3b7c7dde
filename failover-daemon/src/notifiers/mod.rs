//! Notifications: Telegram, a generic JSON webhook and the log, behind the core
//! [`Notifier`] port, fed through a [`NotifyHub`] that never makes the dispatcher wait.
//!
//! The dispatcher calls [`NotifyHub::submit`], which is synchronous and cheap: it drops
//! repeats of the same `dedup_key` within the dedup window, then pushes the notification onto
//! each channel's own bounded queue. When a queue is full its *oldest* waiting notification
//! is dropped and counted. One delivery task per channel ([`run_channel`]) retries transient
//! failures with exponential backoff, so a slow or dead Telegram never holds up the webhook,
//! the log, or a swap.

mod log;
mod telegram;
mod webhook;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failover_core::{Notification, Notifier, UnixMillis};
use tokio_util::sync::CancellationToken;

pub use self::log::LogNotifier;
pub use self::telegram::TelegramNotifier;
pub use self::webhook::WebhookNotifier;
use crate::config::NotifySettings;
use crate::error::DaemonError;
use crate::metrics::Metrics;

/// First retry delay; doubled per attempt up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A notifier with the name used in logs and metrics.
#[derive(Clone)]
pub struct Channel {
    /// `telegram`, `webhook`, `log`, or a test's name.
    pub name: String,
    /// The notifier.
    pub notifier: Arc<dyn Notifier>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel").field("name", &self.name).finish()
    }
}

impl Channel {
    /// Names a notifier.
    pub fn new(name: impl Into<String>, notifier: Arc<dyn Notifier>) -> Self {
        Self {
            name: name.into(),
            notifier,
        }
    }
}

/// Builds the channels the settings ask for (reads the Telegram token file).
pub fn channels_from_settings(settings: &NotifySettings) -> Result<Vec<Channel>, DaemonError> {
    let mut out = Vec::new();
    if settings.log {
        out.push(Channel::new("log", Arc::new(LogNotifier)));
    }
    if let Some(t) = &settings.telegram {
        out.push(Channel::new(
            "telegram",
            Arc::new(TelegramNotifier::from_settings(t)?),
        ));
    }
    if let Some(w) = &settings.webhook {
        out.push(Channel::new(
            "webhook",
            Arc::new(WebhookNotifier::from_settings(w)?),
        ));
    }
    Ok(out)
}

/// One channel's waiting notifications.
#[derive(Debug)]
pub struct ChannelQueue {
    name: String,
    capacity: usize,
    items: Mutex<VecDeque<Notification>>,
    wake: tokio::sync::Notify,
    dropped: AtomicU64,
}

impl ChannelQueue {
    fn new(name: String, capacity: usize) -> Self {
        Self {
            name,
            capacity: capacity.max(1),
            items: Mutex::new(VecDeque::new()),
            wake: tokio::sync::Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Adds to the back; drops the oldest if full. Returns whether one was dropped.
    fn push(&self, n: Notification) -> bool {
        let mut dropped = false;
        if let Ok(mut q) = self.items.lock() {
            if q.len() >= self.capacity {
                q.pop_front();
                dropped = true;
            }
            q.push_back(n);
        }
        if dropped {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.wake.notify_one();
        dropped
    }

    fn pop(&self) -> Option<Notification> {
        self.items.lock().ok().and_then(|mut q| q.pop_front())
    }

    /// How many this queue dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Deduplicates and fans notifications out to per-channel queues. Never blocks.
#[derive(Debug)]
pub struct NotifyHub {
    queues: Vec<Arc<ChannelQueue>>,
    last_sent: Mutex<HashMap<String, UnixMillis>>,
    window: Duration,
    metrics: Arc<Metrics>,
}

impl NotifyHub {
    /// A hub with one queue per channel name.
    pub fn new(
        channels: &[Channel],
        capacity: usize,
        window: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            queues: channels
                .iter()
                .map(|c| Arc::new(ChannelQueue::new(c.name.clone(), capacity)))
                .collect(),
            last_sent: Mutex::new(HashMap::new()),
            window,
            metrics,
        }
    }

    /// The queue of channel `i` (same order as the channels given to [`new`](Self::new)).
    pub fn queue(&self, i: usize) -> Option<Arc<ChannelQueue>> {
        self.queues.get(i).cloned()
    }

    /// Queues `n` on every channel unless it repeats a `dedup_key` seen within the window.
    /// Returns whether it was queued.
    pub fn submit(&self, n: Notification, now: UnixMillis) -> bool {
        if !n.dedup_key.is_empty() {
            if let Ok(mut seen) = self.last_sent.lock() {
                if let Some(prev) = seen.get(&n.dedup_key) {
                    if now.saturating_since(*prev) < self.window {
                        self.metrics
                            .notifications_deduplicated
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(key = %n.dedup_key, "duplicate notification suppressed");
                        return false;
                    }
                }
                seen.insert(n.dedup_key.clone(), now);
                let window = self.window;
                seen.retain(|_, at| now.saturating_since(*at) < window);
            }
        }
        for q in &self.queues {
            if q.push(n.clone()) {
                self.metrics
                    .notifications_dropped
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel = %q.name, "notification queue full: dropped the oldest");
            }
        }
        true
    }
}

/// The hub as a [`Notifier`]: queues the notification at its own time, as
/// [`submit`](NotifyHub::submit) does; a repeat is dropped, not an error. Delivery is the
/// channels'.
#[async_trait::async_trait]
impl Notifier for NotifyHub {
    async fn notify(&self, n: &Notification) -> Result<(), failover_core::NotifyError> {
        self.submit(n.clone(), n.at);
        Ok(())
    }
}

/// Delivers one channel's queue until `cancel`: each notification gets up to `max_attempts`
/// tries, transient failures waiting [`FIRST_BACKOFF`], doubled each time, between them.
pub async fn run_channel(
    queue: Arc<ChannelQueue>,
    channel: Channel,
    max_attempts: u32,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    loop {
        let n = loop {
            if let Some(n) = queue.pop() {
                break n;
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = queue.wake.notified() => {}
            }
        };
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let result = tokio::select! {
                () = cancel.cancelled() => return,
                r = channel.notifier.notify(&n) => r,
            };
            match result {
                Ok(()) => {
                    metrics.notifications_sent.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(e) if e.is_transient() && attempt < max_attempts => {
                    tracing::warn!(channel = %channel.name, attempt, error = %e, retry_in_ms = backoff.as_millis() as u64, "notification failed; will retry");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
                Err(e) => {
                    metrics.notifications_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(channel = %channel.name, attempt, error = %e, summary = %n.summary, "notification given up");
                    break;
                }
            }
        }
    }
}

/// The text people read: severity, summary, and the next reset when known, in the local
/// time zone (`TZ`, else `/etc/localtime`).
pub fn render_text(n: &Notification) -> String {
    render_text_in(n, &jiff::tz::TimeZone::system())
}

/// [`render_text`] with the reset shown in `zone`: `next reset: 2026-11-26 08:29 EST (in 4 h)`.
pub fn render_text_in(n: &Notification, zone: &jiff::tz::TimeZone) -> String {
    let mut text = format!("[{}] {}", n.severity, n.summary);
    if let Some(reset) = n.next_reset {
        let wait = reset.saturating_since(n.at);
        let local = reset.to_timestamp().map_or_else(
            || reset.to_string(),
            |t| {
                t.to_zoned(zone.clone())
                    .strftime("%Y-%m-%d %H:%M %Z")
                    .to_string()
            },
        );
        text.push_str(&format!(
            "\nnext reset: {local} (in {})",
            human_duration(wait)
        ));
    }
    text
}

fn human_duration(d: Duration) -> String {
    let mins = d.as_secs() / 60;
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// Replaces every occurrence of `secret` in `text` (error messages may echo a URL).
pub(crate) fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_reset_reads_in_the_local_zone() {
        let at = UnixMillis::from_timestamp("2026-11-26T13:29:00Z".parse().unwrap());
        let reset = UnixMillis::from_timestamp("2026-11-26T18:29:00Z".parse().unwrap());
        let n = Notification {
            severity: failover_core::Severity::Warning,
            kind: failover_core::NotificationKind::AllExhausted {
                resume_at: Some(reset),
            },
            summary: "all accounts exhausted".into(),
            next_reset: Some(reset),
            dedup_key: "all-exhausted".into(),
            at,
        };
        let ny = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let text = render_text_in(&n, &ny);
        assert!(
            text.ends_with("next reset: 2026-11-26 13:29 EST (in 5 h)"),
            "{text}"
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_secs(59)), "0 min");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 h");
        assert_eq!(
            human_duration(Duration::from_secs(3600 + 5 * 60)),
            "1 h 5 min"
        );
    }
}
