//! The first step of a start: the state directory, the state file and the engine restored
//! from it.

use failover_core::{FailoverEngine, PersistedState, UnixMillis};

use crate::config::DaemonConfig;
use crate::error::DaemonError;
use crate::state_store::{Loaded, StateStore};

/// What the state directory gave at start.
pub(super) struct StartState {
    /// Where the engine's state is persisted.
    pub(super) store: StateStore,
    /// The engine, restored from the state file or new.
    pub(super) engine: FailoverEngine,
    /// The state it was restored from (empty on a first start).
    pub(super) persisted: PersistedState,
    /// Why the state file could not be used, when it was corrupt (it is kept aside).
    pub(super) alert: Option<String>,
}

/// Creates the state directory, loads the state file and builds the engine from it. A corrupt
/// state file is kept aside and the daemon starts empty, with an alert saying so.
pub(super) fn load_state(
    config: &DaemonConfig,
    started_at: UnixMillis,
) -> Result<StartState, DaemonError> {
    crate::state_store::create_private_dir(&config.state_dir)?;
    let store = StateStore::new(&config.state_dir);
    let mut alert = None;
    let persisted = match store.load(started_at)? {
        Loaded::Fresh => {
            tracing::info!(path = %store.path().display(), "no state file: first start");
            None
        }
        Loaded::State(s) => {
            tracing::info!(path = %store.path().display(), "state restored");
            Some(s)
        }
        Loaded::Corrupt { kept_at, reason } => {
            let msg = format!(
                "the state file {} {reason}; it was kept at {} and the daemon started from an empty state",
                store.path().display(),
                kept_at.display()
            );
            tracing::error!("{msg}");
            alert = Some(msg);
            None
        }
    };
    let engine = match &persisted {
        Some(s) => FailoverEngine::restore(config.engine.clone(), s.clone())?,
        None => FailoverEngine::new(config.engine.clone())?,
    };
    let persisted = persisted.unwrap_or_else(|| PersistedState {
        schema_version: PersistedState::SCHEMA_VERSION,
        ..PersistedState::default()
    });
    Ok(StartState {
        store,
        engine,
        persisted,
        alert,
    })
}
