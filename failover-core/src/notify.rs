//! The [`Notifier`] port: telling people what happened.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::NotifyError;
use crate::ids::{AccountId, SessionId};
use crate::time::UnixMillis;

/// How much attention a notification needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record.
    Info,
    /// Something degraded but handled.
    Warning,
    /// Work is stalled or lost until someone acts.
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        })
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotificationKind {
    /// Sessions moved from one account to another.
    Failover {
        /// From.
        from: AccountId,
        /// To.
        to: AccountId,
        /// Why, in words.
        reason: String,
    },
    /// Sessions went back to the preferred account.
    ReturnedToPreferred {
        /// From.
        from: AccountId,
        /// To.
        to: AccountId,
    },
    /// Every account is exhausted; sessions are parked until `resume_at`.
    AllExhausted {
        /// When the earliest account resets.
        resume_at: Option<UnixMillis>,
    },
    /// Parked sessions resumed.
    Resumed {
        /// On which account.
        account: AccountId,
    },
    /// An account needs a login and is skipped.
    NeedsLogin {
        /// The account.
        account: AccountId,
    },
    /// A session is unhealthy (died repeatedly, failed to launch).
    SessionDegraded {
        /// The session.
        session: SessionId,
        /// What is wrong.
        reason: String,
    },
    /// A queued task failed for good.
    TaskFailed {
        /// The task.
        task: String,
        /// The session that ran it, if any.
        session: Option<SessionId>,
        /// Why.
        reason: String,
    },
    /// Anything else worth telling.
    Message {
        /// The text.
        text: String,
    },
}

/// One notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// How urgent.
    pub severity: Severity,
    /// What happened.
    pub kind: NotificationKind,
    /// A one-line summary for people.
    pub summary: String,
    /// The next reset instant that matters, when known.
    pub next_reset: Option<UnixMillis>,
    /// Notifications with the same key within a short time are duplicates.
    pub dedup_key: String,
    /// When it was raised.
    pub at: UnixMillis,
}

/// Where notifications go (Telegram, a webhook, the log).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers one notification.
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError>;
}
