//! [`Deps`]: everything the daemon runs *on*, injected so tests can substitute fakes
//! (`failover_core::testkit`) while production wires tmux, files and HTTP notifiers
//! ([`crate::production`]).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use failover_core::{AccountId, Checkpointer, ClaudeSessionId, SessionBackend, SessionId};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::notifiers::Channel;
use crate::observe::{ObserverEvent, Observers};
use failover_core::PromptSource;

/// How many observations may wait for the quota monitor.
pub const OBSERVATION_CAPACITY: usize = 1024;

/// The daemon's dependencies.
pub struct Deps {
    /// Where sessions run.
    pub backend: Arc<dyn SessionBackend>,
    /// Where checkpoints are stored.
    pub checkpointer: Arc<dyn Checkpointer>,
    /// Where notifications go (see [`channels_from_settings`](crate::notifiers::channels_from_settings)).
    pub channels: Vec<Channel>,
    /// Starts the session observers.
    pub observers: Arc<dyn Observers>,
    /// The sending half of the observation channel, handed to the observers the daemon
    /// starts (tests keep a clone and send events themselves).
    pub observation_tx: mpsc::Sender<ObserverEvent>,
    /// The receiving half, read by the quota monitor.
    pub observations: mpsc::Receiver<ObserverEvent>,
    /// Recalls a conversation's last prompt and tool call for checkpoints.
    pub prompts: Arc<dyn PromptSource>,
    /// What the backend recorded about sessions it launched, for adoption after a restart.
    pub records: Arc<dyn SessionRecords>,
    /// The clock (tests start it at a fixed instant, under a paused tokio clock).
    pub clock: Clock,
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps")
            .field("channels", &self.channels)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// A bounded observation channel of the standard capacity.
pub fn observation_channel() -> (mpsc::Sender<ObserverEvent>, mpsc::Receiver<ObserverEvent>) {
    mpsc::channel(OBSERVATION_CAPACITY)
}

/// What the backend itself recorded when it launched a session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The account it was launched on.
    pub account: Option<AccountId>,
    /// The conversation it runs.
    pub claude_session: Option<ClaudeSessionId>,
}

/// Reads what the backend recorded about a running session. At adoption this is preferred
/// to the state file: it is written by the launch itself, so it is right even when the daemon
/// died between a launch and the state write that would have recorded it.
#[async_trait]
pub trait SessionRecords: Send + Sync {
    /// The record of `session`, if the backend kept one.
    async fn recorded(&self, session: &SessionId) -> Option<Recorded>;
}

/// No records: adoption relies on the state file alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRecords;

#[async_trait]
impl SessionRecords for NoRecords {
    async fn recorded(&self, _session: &SessionId) -> Option<Recorded> {
        None
    }
}
