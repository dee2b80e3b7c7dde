//! [`Deps`]: everything the daemon runs *on*, injected so tests can substitute fakes
//! (`failover_core::testkit`) and production wires tmux, files and HTTP notifiers.

use std::fmt;
use std::sync::Arc;

use failover_core::{Checkpointer, QuotaDetector, SessionBackend};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::notifiers::Channel;
use crate::observe::Observation;
use crate::prompts::PromptSource;

/// How many observations may wait for the quota monitor before producers must wait or drop.
pub const OBSERVATION_CAPACITY: usize = 1024;

/// The daemon's dependencies.
pub struct Deps {
    /// Where sessions run.
    pub backend: Arc<dyn SessionBackend>,
    /// Where checkpoints are stored.
    pub checkpointer: Arc<dyn Checkpointer>,
    /// Where notifications go (see [`channels_from_settings`](crate::notifiers::channels_from_settings)).
    pub channels: Vec<Channel>,
    /// One detector per evidence source; evidence with no detector is ignored.
    pub detectors: Vec<Arc<dyn QuotaDetector>>,
    /// What the session observers report (the sending half goes to the observers).
    pub observations: mpsc::Receiver<Observation>,
    /// Recalls a conversation's last prompt and tool call for checkpoints.
    pub prompts: Arc<dyn PromptSource>,
    /// The clock (tests start it at a fixed instant, under a paused tokio clock).
    pub clock: Clock,
    /// The zone for reset texts that name none.
    pub local_zone: jiff::tz::TimeZone,
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps")
            .field("channels", &self.channels)
            .field("detectors", &self.detectors.len())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// A bounded observation channel of the standard capacity.
pub fn observation_channel() -> (mpsc::Sender<Observation>, mpsc::Receiver<Observation>) {
    mpsc::channel(OBSERVATION_CAPACITY)
}
