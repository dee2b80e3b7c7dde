//! The last step of a start: every task spawned into one `JoinSet`, one function per group
//! (the dispatcher, its effect worker, the producers feeding it, the notifier channels,
//! housekeeping, the shared ledger), over the channels [`Links`] made.

use std::sync::Arc;

use failover_core::{
    Checkpointer, Effect, Notification, NotificationKind, PersistedState, SessionBackend, Severity,
    UnixMillis,
};
use failover_queue::runner::CurrentTasks;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::control::{BoundControl, serve_control};
use super::links::{DispatcherEnds, Ends, Links};
use super::queue::spawn_queue;
use super::restore::StartState;
use super::{Daemon, SHUTDOWN_GRACE, named};
use crate::clock::Clock;
use crate::config::{DaemonConfig, Env};
use crate::deps::{Deps, SessionRecords};
use crate::error::DaemonError;
use crate::handle::DaemonHandle;
use crate::http::{self, AppState};
use crate::ledger::LedgerJob;
use crate::metrics::Metrics;
use crate::notifiers::{Channel, NotifyHub, run_channel};
use crate::observe::{ObserverEvent, Observers};
use crate::settings_check::SettingsCheck;
use crate::tasks::effects::{EffectPorts, TimeLimits};
use crate::tasks::{self, DaemonFacts, Published, TaskExit, dispatcher};

/// Builds every channel and spawns every task, then serves the control plane.
pub(super) fn spawn_tasks(
    config: DaemonConfig,
    deps: Deps,
    env: Arc<dyn Env + Send + Sync>,
    state: StartState,
    control: BoundControl,
    started_at: UnixMillis,
) -> Result<Daemon, DaemonError> {
    let Deps {
        backend,
        checkpointer,
        channels,
        observers,
        observation_tx,
        observations,
        prompts,
        records,
        clock,
    } = deps;
    let (links, ends, facts) = link(config, &state, &channels, clock, started_at);
    let Ends {
        dispatcher,
        effects,
        observer_cmds,
        session_events,
    } = ends;

    let mut set: JoinSet<TaskExit> = JoinSet::new();
    let producers = Producers {
        persisted: state.persisted.clone(),
        backend: backend.clone(),
        records,
        observers,
        observation_tx,
        observations,
        observer_cmds,
        session_events,
    };
    let ledger = spawn_ledger(&mut set, &links)?;
    spawn_dispatcher(&mut set, &links, dispatcher, state, facts, ledger);
    let ports = EffectPorts {
        backend: backend.clone(),
        checkpointer: checkpointer.clone(),
        prompts,
        notifier: links.hub.clone(),
        metrics: links.metrics.clone(),
    };
    spawn_effect_worker(&mut set, &links, effects, ports);
    spawn_producers(&mut set, &links, producers);
    spawn_housekeeping(&mut set, &links, checkpointer, env);
    spawn_standby_keeper(&mut set, &links, backend.clone());
    spawn_notifiers(&mut set, &links, channels);
    let tasks = spawn_queue(&mut set, &links, backend);

    let (handle, socket) = start_control(&mut set, &links, control, tasks);
    Ok(Daemon {
        tasks: set,
        handle,
        shutdown: links.shutdown,
        notify_stop: links.notify_stop,
        socket,
    })
}

/// Makes the notifier hub (raising the state file's alert, if any), the daemon facts at
/// start and every channel; returns the channels and the facts the dispatcher starts from.
fn link(
    config: DaemonConfig,
    state: &StartState,
    channels: &[Channel],
    clock: Clock,
    started_at: UnixMillis,
) -> (Links, Ends, DaemonFacts) {
    let metrics = Arc::new(Metrics::default());
    let hub = notify_hub(&config, channels, &metrics);
    if let Some(msg) = &state.alert {
        hub.submit(state_file_alert(msg, started_at), started_at);
    }
    let facts = initial_facts(&config, state.alert.clone(), started_at);
    let published = Published {
        snapshot: state.engine.snapshot(),
        facts: facts.clone(),
        standbys: Vec::new(),
    };
    let (links, ends) = Links::new(Arc::new(config), published, metrics, hub, clock);
    (links, ends, facts)
}

/// Serves the control plane over a handle on everything the tasks publish; returns the
/// handle and the unix socket's identity.
fn start_control(
    set: &mut JoinSet<TaskExit>,
    links: &Links,
    control: BoundControl,
    tasks: watch::Receiver<CurrentTasks>,
) -> (DaemonHandle, http::BoundUnixIdentity) {
    let tcp = control.tcp.as_ref().and_then(|(l, _)| l.local_addr().ok());
    let handle = DaemonHandle {
        status: links.status.clone(),
        events: links.events.clone(),
        control: links.control.clone(),
        metrics: links.metrics.clone(),
        clock: links.clock,
        socket: control.unix.path.clone(),
        tcp,
        settings: SettingsCheck::new(links.configs.clone()),
        tasks,
    };
    let app = AppState {
        handle: handle.clone(),
        shutdown: links.shutdown.clone(),
    };
    let socket = serve_control(set, control, app, &links.config, &links.shutdown);
    tracing::info!(socket = %handle.socket.display(), tcp = tcp.map(|a| a.to_string()).as_deref(), "daemon started");
    (handle, socket)
}

/// The notifier queues, one per channel.
fn notify_hub(
    config: &DaemonConfig,
    channels: &[Channel],
    metrics: &Arc<Metrics>,
) -> Arc<NotifyHub> {
    Arc::new(NotifyHub::new(
        channels,
        config.notify.queue_capacity,
        config.notify.dedup_window,
        metrics.clone(),
    ))
}

/// The critical notification that the state file was corrupt and set aside.
fn state_file_alert(msg: &str, at: UnixMillis) -> Notification {
    Notification {
        severity: Severity::Critical,
        kind: NotificationKind::Message {
            text: msg.to_owned(),
        },
        summary: msg.to_owned(),
        next_reset: None,
        dedup_key: "state-file-corrupt".into(),
        at,
    }
}

/// The daemon facts at start.
fn initial_facts(
    config: &DaemonConfig,
    state_error: Option<String>,
    started_at: UnixMillis,
) -> DaemonFacts {
    DaemonFacts {
        config_file: config.file.as_ref().map(|f| f.display().to_string()),
        state_error,
        program: config.claude.command.first().cloned(),
        ..DaemonFacts::started(started_at)
    }
}

/// The dispatcher, owning the engine restored at start.
fn spawn_dispatcher(
    set: &mut JoinSet<TaskExit>,
    links: &Links,
    ends: DispatcherEnds,
    state: StartState,
    facts: DaemonFacts,
    ledger: Option<mpsc::Sender<LedgerJob>>,
) {
    let StartState {
        store,
        engine,
        persisted,
        ..
    } = state;
    let parts = dispatcher::DispatcherParts {
        engine,
        config: links.config.clone(),
        last_persisted: persisted,
        clock: links.clock,
        inbox: ends.inbox,
        control: ends.control,
        effects: ends.effects,
        observers: ends.observers,
        hub: links.hub.clone(),
        store,
        status: ends.status,
        config_out: ends.config,
        events: links.events.clone(),
        metrics: links.metrics.clone(),
        facts,
        shutdown: links.shutdown.clone(),
        shutdown_grace: SHUTDOWN_GRACE,
        ledger,
    };
    set.spawn(named("dispatcher", dispatcher::run(parts)));
}

/// The worker carrying out the dispatcher's port effects.
fn spawn_effect_worker(
    set: &mut JoinSet<TaskExit>,
    links: &Links,
    effects: mpsc::Receiver<Effect>,
    ports: EffectPorts,
) {
    set.spawn(named(
        "effect worker",
        tasks::effects::run(
            effects,
            ports,
            links.inbox.clone(),
            links.clock,
            TimeLimits::standard(),
        ),
    ));
}

/// What the producers read from.
struct Producers {
    /// The state restored at start, for adopting the sessions it names.
    persisted: PersistedState,
    backend: Arc<dyn SessionBackend>,
    records: Arc<dyn SessionRecords>,
    observers: Arc<dyn Observers>,
    observation_tx: mpsc::Sender<ObserverEvent>,
    observations: mpsc::Receiver<ObserverEvent>,
    observer_cmds: mpsc::Receiver<tasks::observers::ObserverCmd>,
    session_events: (mpsc::Sender<ObserverEvent>, mpsc::Receiver<ObserverEvent>),
}

/// The tasks feeding the dispatcher what they observe: the observers and the quota monitor
/// reading them, the usage poller, the session watcher.
fn spawn_producers(set: &mut JoinSet<TaskExit>, links: &Links, p: Producers) {
    let (session_events_tx, session_events_rx) = p.session_events;
    let stop = &links.shutdown;
    set.spawn(named(
        "quota monitor",
        tasks::quota_monitor::run(
            p.observations,
            links.metrics.clone(),
            links.inbox.clone(),
            session_events_tx,
            stop.clone(),
        ),
    ));
    set.spawn(named(
        "observers",
        tasks::observers::run(p.observers, p.observer_cmds, p.observation_tx, stop.clone()),
    ));
    let accounts = (links.config.engine.accounts.iter())
        .map(|a| (a.id.clone(), a.config_dir.clone()))
        .collect();
    set.spawn(named(
        "usage poller",
        tasks::usage_poller::run(
            links.config.quota.clone(),
            accounts,
            links.status.clone(),
            links.inbox.clone(),
            links.clock,
            stop.clone(),
        ),
    ));
    set.spawn(named(
        "session watcher",
        tasks::session_watcher::run(
            p.backend,
            p.records,
            links.configs.clone(),
            links.status.clone(),
            p.persisted,
            session_events_rx,
            links.inbox.clone(),
            stop.clone(),
        ),
    ));
}

/// The standby keeper, getting programs ready ahead of the moves the engine sees coming.
fn spawn_standby_keeper(
    set: &mut JoinSet<TaskExit>,
    links: &Links,
    backend: Arc<dyn SessionBackend>,
) {
    set.spawn(named(
        "standby keeper",
        tasks::standby_keeper::run(
            backend,
            links.status.clone(),
            links.control.clone(),
            tasks::standby_keeper::KeeperSettings::standard(),
            links.shutdown.clone(),
        ),
    ));
}

/// Housekeeping: the janitor, the configuration file's watcher and the systemd watchdog.
fn spawn_housekeeping(
    set: &mut JoinSet<TaskExit>,
    links: &Links,
    checkpointer: Arc<dyn Checkpointer>,
    env: Arc<dyn Env + Send + Sync>,
) {
    set.spawn(named(
        "janitor",
        tasks::janitor::run(
            checkpointer,
            links.configs.clone(),
            links.hub.clone(),
            links.clock,
            links.shutdown.clone(),
        ),
    ));
    if let Some(file) = links.config.file.clone() {
        set.spawn(named(
            "config watcher",
            tasks::config_watch::run(
                file,
                env,
                links.config.clone(),
                links.control.clone(),
                links.shutdown.clone(),
            ),
        ));
    }
    if let Some(interval) = tasks::systemd::watchdog_interval() {
        set.spawn(named(
            "watchdog",
            tasks::systemd::watchdog(interval, links.control.clone(), links.shutdown.clone()),
        ));
    }
}

/// One task per notification channel, delivering what the hub queued for it; they stop on
/// `notify_stop`, after the dispatcher.
fn spawn_notifiers(set: &mut JoinSet<TaskExit>, links: &Links, channels: Vec<Channel>) {
    for (i, channel) in channels.into_iter().enumerate() {
        if let Some(queue) = links.hub.queue(i) {
            let (m, stop, attempts) = (
                links.metrics.clone(),
                links.notify_stop.clone(),
                links.config.notify.max_attempts,
            );
            set.spawn(async move {
                run_channel(queue, channel, attempts, m, stop).await;
                ("notifier", Ok(()))
            });
        }
    }
}

/// With `[ledger]`: spawns the ledger worker and the task relaying its health to the
/// dispatcher, and returns the sender the dispatcher gives ledger effects to.
fn spawn_ledger(
    set: &mut JoinSet<TaskExit>,
    links: &Links,
) -> Result<Option<mpsc::Sender<LedgerJob>>, DaemonError> {
    let Some(settings) = &links.config.ledger else {
        return Ok(None);
    };
    let store = crate::ledger::LedgerStore::new(settings).map_err(|reason| DaemonError::Task {
        task: "ledger",
        reason,
    })?;
    let (jobs_tx, jobs_rx) = mpsc::channel(tasks::WORKER_CAPACITY);
    let (health_tx, mut health_rx) = mpsc::channel(4);
    let identities = crate::ledger::account_identities(&links.config.engine.accounts);
    let (inbox, shutdown) = (links.inbox.clone(), links.shutdown.clone());
    set.spawn(named("ledger", async move {
        crate::ledger::run(store, jobs_rx, inbox, health_tx, identities, shutdown).await;
        Ok(())
    }));
    let control = links.control.clone();
    set.spawn(async move {
        while let Some(health) = health_rx.recv().await {
            if control
                .send(tasks::ControlMsg::Ledger(health))
                .await
                .is_err()
            {
                break;
            }
        }
        ("ledger health", Ok(()))
    });
    Ok(Some(jobs_tx))
}
