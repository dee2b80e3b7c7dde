//! What the queue needs to know about sessions, and how it hands them prompts. The daemon
//! adapts its engine snapshot into [`SessionsView`] and its backend into [`Deliver`].

use std::path::PathBuf;

use async_trait::async_trait;
use failover_core::{AccountId, ClaudeSessionId, SessionId};

/// One session as the queue sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    /// Its name.
    pub name: SessionId,
    /// Its working directory: the project whose queue it serves.
    pub dir: PathBuf,
    /// The account it runs on.
    pub account: Option<AccountId>,
    /// Its conversation.
    pub claude_session: Option<ClaudeSessionId>,
    /// At its prompt with no turn in progress.
    pub idle: bool,
    /// Being moved to another account: neither idle nor dead, whatever the other fields say.
    pub mid_swap: bool,
    /// Its process is running.
    pub alive: bool,
    /// How many turns the session has been seen to *start* (idle → working), as a counter that
    /// only grows while the daemon runs. It lets the queue notice a turn even when the
    /// `working` state came and went between two views. A source that cannot count leaves it
    /// at 0; completion then relies on seeing `idle: false`.
    pub turns_started: u64,
}

impl SessionView {
    /// Ready for a new task: alive, idle, not mid-swap.
    pub fn ready(&self) -> bool {
        self.alive && self.idle && !self.mid_swap
    }
}

/// Every session, as one value on a `tokio::sync::watch` channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionsView {
    /// The sessions.
    pub sessions: Vec<SessionView>,
}

/// One prompt to hand to one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The session.
    pub session: SessionId,
    /// The project directory the task came from.
    pub project: PathBuf,
    /// The task's file name (its identity within the project).
    pub task: String,
    /// Which delivery this is, from 1.
    pub attempt: u32,
    /// The text to send.
    pub prompt: String,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliverError {
    /// The session certainly did not get the prompt (e.g. it refused input).
    #[error("prompt not delivered: {0}")]
    NotDelivered(String),
    /// It may or may not have got it (e.g. a timeout mid-typing).
    #[error("delivery outcome unknown: {0}")]
    Unknown(String),
}

/// Whether a session received a prompt, asked after a restart when the session was found idle
/// and the queue never saw it work on the task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// It did (so it has finished: it is idle again).
    Received,
    /// It certainly did not: sending it now is the first delivery.
    NotReceived,
    /// Cannot tell.
    Unknown,
}

/// Sends prompts to sessions (the daemon maps this to `SessionBackend::send_input`).
#[async_trait]
pub trait Deliver: Send + Sync {
    /// Types and submits `delivery.prompt` into the session.
    async fn deliver(&self, delivery: &Delivery) -> Result<(), DeliverError>;

    /// Whether the session received `delivery` earlier. Only an authoritative source (such as
    /// the session's transcript) may answer other than [`Probe::Unknown`].
    async fn probe(&self, _delivery: &Delivery) -> Probe {
        Probe::Unknown
    }
}
