//! [`RecordingNotifier`]: keeps every notification it is given.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::NotifyError;
use crate::notify::{Notification, Notifier};

/// A [`Notifier`] that records what it receives; it can be told to refuse the next ones.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    inner: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    received: Vec<Notification>,
    fail_next: u32,
}

impl RecordingNotifier {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every notification delivered so far, in order.
    pub fn received(&self) -> Vec<Notification> {
        self.lock().received.clone()
    }

    /// The next `n` deliveries fail with [`NotifyError::Unavailable`] (and are not recorded).
    pub fn fail_next(&self, n: u32) {
        self.lock().fail_next = n;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let mut inner = self.lock();
        if inner.fail_next > 0 {
            inner.fail_next -= 1;
            return Err(NotifyError::Unavailable {
                channel: "recording".to_owned(),
                reason: "scripted failure".to_owned(),
            });
        }
        inner.received.push(notification.clone());
        Ok(())
    }
}
