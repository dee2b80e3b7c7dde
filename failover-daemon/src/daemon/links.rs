//! The channels between the dispatcher and the tasks around it, made before any task starts:
//! [`Links`] holds what several tasks share, [`Ends`] what exactly one task takes.

use std::sync::Arc;

use failover_core::{Effect, Input};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::EVENT_BUFFER;
use crate::clock::Clock;
use crate::config::DaemonConfig;
use crate::events::DaemonEvent;
use crate::metrics::Metrics;
use crate::notifiers::NotifyHub;
use crate::observe::ObserverEvent;
use crate::tasks::observers::ObserverCmd;
use crate::tasks::{self, ControlMsg, Published};

/// What the tasks share; each clones the pieces it needs.
pub(super) struct Links {
    /// The configuration the daemon started with.
    pub(super) config: Arc<DaemonConfig>,
    /// The dispatcher's inbox of engine inputs.
    pub(super) inbox: mpsc::Sender<Input>,
    /// The dispatcher's control messages.
    pub(super) control: mpsc::Sender<ControlMsg>,
    /// What the dispatcher publishes.
    pub(super) status: watch::Receiver<Arc<Published>>,
    /// The configuration in force, reloads included.
    pub(super) configs: watch::Receiver<Arc<DaemonConfig>>,
    /// Every decision and observation, for event subscribers.
    pub(super) events: broadcast::Sender<Arc<DaemonEvent>>,
    /// Counters.
    pub(super) metrics: Arc<Metrics>,
    /// The notifier queues.
    pub(super) hub: Arc<NotifyHub>,
    /// The clock.
    pub(super) clock: Clock,
    /// Stops the producers and the control plane, then the dispatcher.
    pub(super) shutdown: CancellationToken,
    /// Stops the notifier queues, once the dispatcher can raise nothing new.
    pub(super) notify_stop: CancellationToken,
}

/// The ends of the channels that exactly one task takes.
pub(super) struct Ends {
    /// The dispatcher's.
    pub(super) dispatcher: DispatcherEnds,
    /// The effect worker's effects.
    pub(super) effects: mpsc::Receiver<Effect>,
    /// The observer supervisor's commands.
    pub(super) observer_cmds: mpsc::Receiver<ObserverCmd>,
    /// Session events the quota monitor passes on to the session watcher.
    pub(super) session_events: (mpsc::Sender<ObserverEvent>, mpsc::Receiver<ObserverEvent>),
}

/// What only the dispatcher receives, and the senders only it holds.
pub(super) struct DispatcherEnds {
    /// Engine inputs.
    pub(super) inbox: mpsc::Receiver<Input>,
    /// Control messages.
    pub(super) control: mpsc::Receiver<ControlMsg>,
    /// To the effect worker.
    pub(super) effects: mpsc::Sender<Effect>,
    /// To the observer supervisor.
    pub(super) observers: mpsc::Sender<ObserverCmd>,
    /// The published status.
    pub(super) status: watch::Sender<Arc<Published>>,
    /// The published configuration.
    pub(super) config: watch::Sender<Arc<DaemonConfig>>,
}

impl Links {
    /// Makes every channel; `published` is the status readers see until the dispatcher's first.
    pub(super) fn new(
        config: Arc<DaemonConfig>,
        published: Published,
        metrics: Arc<Metrics>,
        hub: Arc<NotifyHub>,
        clock: Clock,
    ) -> (Self, Ends) {
        let (inbox_tx, inbox_rx) = mpsc::channel(tasks::INBOX_CAPACITY);
        let (control_tx, control_rx) = mpsc::channel(tasks::CONTROL_CAPACITY);
        let (effects_tx, effects_rx) = mpsc::channel(tasks::WORKER_CAPACITY);
        let (observer_cmd_tx, observer_cmd_rx) = mpsc::channel(tasks::WORKER_CAPACITY);
        let (status_tx, status_rx) = watch::channel(Arc::new(published));
        let (config_tx, config_rx) = watch::channel(config.clone());
        let (events_tx, _) = broadcast::channel(EVENT_BUFFER);
        let links = Self {
            config,
            inbox: inbox_tx,
            control: control_tx,
            status: status_rx,
            configs: config_rx,
            events: events_tx,
            metrics,
            hub,
            clock,
            shutdown: CancellationToken::new(),
            notify_stop: CancellationToken::new(),
        };
        let ends = Ends {
            dispatcher: DispatcherEnds {
                inbox: inbox_rx,
                control: control_rx,
                effects: effects_tx,
                observers: observer_cmd_tx,
                status: status_tx,
                config: config_tx,
            },
            effects: effects_rx,
            observer_cmds: observer_cmd_rx,
            session_events: mpsc::channel(tasks::WORKER_CAPACITY),
        };
        (links, ends)
    }
}
