//! The claude-failover daemon as a library: everything `claude-failoverd` runs, with its
//! dependencies injected so tests drive it with fakes and a paused clock.
//!
//! # Theory of Operation
//!
//! One task, the [dispatcher](tasks::dispatcher), owns the sans-IO
//! [`FailoverEngine`](failover_core::FailoverEngine). Every other task either produces
//! [`Input`](failover_core::Input)s (the quota monitor classifies what the session observers
//! see; the session watcher adopts and watches sessions; the control plane and the config
//! watcher send [`ControlMsg`](tasks::ControlMsg)s) or executes the
//! [`Effect`](failover_core::Effect)s the dispatcher routes to it (the
//! [effect worker](tasks::effects), through [`failover_core::execute`]; the notifier
//! channels; the ledger worker) and reports back with
//! [`Input::EffectFinished`](failover_core::Input::EffectFinished). Channels are bounded;
//! nothing but the dispatcher touches engine state; the dispatcher never awaits a session
//! backend. State that must survive a crash is written by the dispatcher, in order, on every
//! [`Effect::Persist`](failover_core::Effect::Persist) ([`state_store`]).
//!
//! [`run`] takes the configuration, the [`Deps`] and a shutdown future; [`Daemon::start`]
//! gives tests a [`DaemonHandle`] as well. The library never installs a logger.

pub mod clock;
pub mod config;
mod daemon;
pub mod deps;
pub mod error;
pub mod events;
pub mod handle;
pub mod http;
pub mod ledger;
pub mod lock;
pub mod metrics;
pub mod notifiers;
pub mod observe;
pub mod production;
pub mod secret_file;
pub mod settings_check;
pub mod state_store;
pub mod tasks;
pub mod usage;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use clock::Clock;
pub use config::{ConfigFileError, DaemonConfig};
pub use daemon::{Daemon, EVENT_BUFFER, SHUTDOWN_GRACE, run};
pub use deps::{Deps, NoRecords, Recorded, SessionRecords, observation_channel};
pub use error::DaemonError;
pub use handle::{CommandError, DaemonHandle};
pub use observe::{NoObservers, ObserverEvent, Observers};
