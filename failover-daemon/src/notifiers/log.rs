//! The log channel: notifications as `tracing` events, at a level matching their severity.

use async_trait::async_trait;
use failover_core::{Notification, Notifier, NotifyError, Severity};

/// Writes notifications to the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let text = super::render_text(n);
        match n.severity {
            Severity::Info => {
                tracing::info!(target: "claude_failover::notify", key = %n.dedup_key, "{text}")
            }
            Severity::Warning => {
                tracing::warn!(target: "claude_failover::notify", key = %n.dedup_key, "{text}")
            }
            Severity::Critical => {
                tracing::error!(target: "claude_failover::notify", key = %n.dedup_key, "{text}")
            }
        }
        Ok(())
    }
}
