//! [`Deps`]: everything the daemon runs *on*, injected so tests can substitute fakes
//! (`failover_core::testkit`) while production wires tmux, files and HTTP notifiers
//! ([`crate::production`]).

use std::fmt;
use std::sync::Arc;

use failover_core::{Checkpointer, SessionBackend};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::notifiers::Channel;
use crate::observe::{ObserverEvent, Observers};
use crate::prompts::PromptSource;

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
