//! The sans-IO failover engine. (Being built; see issue "failover-core".)

mod effect;
mod input;
mod snapshot;

pub use effect::{CommandRefusal, CommandReply, Effect};
pub use input::{Command, EffectOutcome, Input, Subject};
pub use snapshot::{AccountStatus, SessionStatus, StatusSnapshot, SwapStatus};

use crate::config::{ConfigError, EngineConfig};
use crate::state::PersistedState;
use crate::time::UnixMillis;

/// The failover engine: a deterministic state machine. `handle(now, input)` returns the
/// effects to execute; `next_deadline()` says when to call it again with [`Input::Tick`].
#[derive(Debug)]
pub struct FailoverEngine {
    config: EngineConfig,
}

impl FailoverEngine {
    /// A fresh engine.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self { config })
    }

    /// An engine picking up from persisted state.
    pub fn restore(config: EngineConfig, _state: PersistedState) -> Result<Self, ConfigError> {
        Self::new(config)
    }

    /// Handles one input at `now`.
    pub fn handle(&mut self, _now: UnixMillis, _input: Input) -> Vec<Effect> {
        Vec::new()
    }

    /// When to call [`handle`](Self::handle) with [`Input::Tick`] next.
    pub fn next_deadline(&self) -> Option<UnixMillis> {
        None
    }

    /// A read-only view.
    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            active_account: None,
            paused: false,
            draining: false,
            accounts: Vec::new(),
            sessions: Vec::new(),
            swap: None,
            swaps_completed: 0,
            ignored_inputs: 0,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }
}
