//! Starting and running the daemon: [`Daemon::start`] builds every channel and spawns every
//! task into one `JoinSet`; [`Daemon::run`] waits for the shutdown signal (or a critical
//! failure), then shuts down in order: producers and the control plane stop, the dispatcher
//! drains in-flight effects, workers finish, notifier queues stop. Sessions keep running in
//! tmux; the next start adopts them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use failover_core::{
    FailoverEngine, Input, Notification, NotificationKind, PersistedState, SessionBackend, Severity,
};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{ControlSettings, DaemonConfig, Env, ProcessEnv};
use crate::deps::Deps;
use crate::error::DaemonError;
use crate::handle::DaemonHandle;
use crate::http::{self, AppState};
use crate::ledger::LedgerJob;
use crate::metrics::Metrics;
use crate::notifiers::{NotifyHub, run_channel};
use crate::production::TranscriptPrompts;
use crate::state_store::{Loaded, StateStore};
use crate::tasks::switcher::SwitchTimeouts;
use crate::tasks::{self, DaemonFacts, Published, TaskExit, dispatcher};
use failover_queue::backend::{BackendDeliver, TranscriptLocator};
use failover_queue::{Delivery, FailedTask, Queue, QueueConfig, SessionsView};

/// How long in-flight effects may take to finish once shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How many events a slow SSE subscriber may fall behind before it misses some.
pub const EVENT_BUFFER: usize = 1024;

/// A started daemon.
#[derive(Debug)]
pub struct Daemon {
    tasks: JoinSet<TaskExit>,
    handle: DaemonHandle,
    shutdown: CancellationToken,
    notify_stop: CancellationToken,
    socket: http::BoundUnixIdentity,
}

/// Runs the daemon until `shutdown` resolves or a critical error happens.
pub async fn run(
    config: DaemonConfig,
    deps: Deps,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    Daemon::start(config, deps).await?.run(shutdown).await
}

impl Daemon {
    /// Loads the state, builds the engine, binds the control plane and spawns every task.
    pub async fn start(config: DaemonConfig, deps: Deps) -> Result<Self, DaemonError> {
        Self::start_with_env(config, deps, Arc::new(ProcessEnv)).await
    }

    /// Like [`start`](Self::start), reading reloaded configuration files with `env`.
    ///
    /// In three steps: `load_state` (the state file, the engine restored from it),
    /// `bind_control` (the control plane's listeners, so a bind failure stops the start
    /// before any task runs), `spawn_tasks` (every channel and task).
    pub async fn start_with_env(
        config: DaemonConfig,
        deps: Deps,
        env: Arc<dyn Env + Send + Sync>,
    ) -> Result<Self, DaemonError> {
        let started_at = deps.clock.now();
        let state = load_state(&config, started_at)?;
        let control = bind_control(&config.control).await?;
        spawn_tasks(config, deps, env, state, control, started_at)
    }

    /// A handle for reading status, subscribing to events and sending commands.
    pub fn handle(&self) -> DaemonHandle {
        self.handle.clone()
    }

    /// Runs until `shutdown` resolves or a task fails critically, then shuts down.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        tasks::systemd::notify_ready();
        let mut first_error = None;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!("shutdown requested");
                    break;
                }
                next = self.tasks.join_next() => match next {
                    None => break,
                    Some(Ok(("dispatcher", Ok(())))) => {
                        first_error = Some(DaemonError::Task { task: "dispatcher", reason: "stopped unexpectedly".into() });
                        break;
                    }
                    Some(Ok((name, Ok(())))) => tracing::debug!(task = name, "task finished"),
                    Some(Ok((name, Err(e)))) => {
                        tracing::error!(task = name, error = %e, "critical failure; shutting down");
                        first_error = Some(e);
                        break;
                    }
                    Some(Err(join)) => {
                        tracing::error!(error = %join, "a task panicked; shutting down");
                        first_error = Some(DaemonError::Panic(join.to_string()));
                        break;
                    }
                }
            }
        }
        tasks::systemd::notify_stopping();
        self.shutdown.cancel();
        let hard_stop = tokio::time::sleep(SHUTDOWN_GRACE + Duration::from_secs(10));
        tokio::pin!(hard_stop);
        loop {
            tokio::select! {
                next = self.tasks.join_next() => match next {
                    None => break,
                    Some(Ok((name, result))) => {
                        if name == "dispatcher" {
                            // Nothing new can be raised; stop the notifier queues.
                            self.notify_stop.cancel();
                        }
                        if let Err(e) = result {
                            tracing::error!(task = name, error = %e, "task failed while stopping");
                            first_error.get_or_insert(e);
                        }
                    }
                    Some(Err(join)) if join.is_panic() => {
                        first_error.get_or_insert(DaemonError::Panic(join.to_string()));
                    }
                    Some(Err(_)) => {}
                },
                () = &mut hard_stop => {
                    tracing::warn!(left = self.tasks.len(), "tasks did not stop in time; aborting them");
                    self.notify_stop.cancel();
                    self.tasks.abort_all();
                    while self.tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
        http::remove_socket_if_ours(&self.socket.path, self.socket.identity);
        tracing::info!("daemon stopped; sessions keep running in tmux");
        first_error.map_or(Ok(()), Err)
    }
}

/// What the state directory gave at start.
struct StartState {
    /// Where the engine's state is persisted.
    store: StateStore,
    /// The engine, restored from the state file or new.
    engine: FailoverEngine,
    /// The state it was restored from (empty on a first start).
    persisted: PersistedState,
    /// Why the state file could not be used, when it was corrupt (it is kept aside).
    alert: Option<String>,
}

/// Creates the state directory, loads the state file and builds the engine from it. A corrupt
/// state file is kept aside and the daemon starts empty, with an alert saying so.
fn load_state(
    config: &DaemonConfig,
    started_at: failover_core::UnixMillis,
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

/// The control plane's listeners, bound before any task starts.
struct BoundControl {
    /// The unix socket.
    unix: http::BoundUnix,
    /// The TCP listener and its bearer token, with `[control] tcp`.
    tcp: Option<(TcpListener, String)>,
}

/// Binds the unix socket and, when configured, the TCP listener.
async fn bind_control(control: &ControlSettings) -> Result<BoundControl, DaemonError> {
    let unix = http::bind_unix(&control.socket).await?;
    let tcp = match &control.tcp {
        Some(t) => Some(http::bind_tcp(t).await?),
        None => None,
    };
    Ok(BoundControl { unix, tcp })
}

/// Builds every channel and spawns every task into one `JoinSet`: the dispatcher owning the
/// engine, its workers, the producers feeding it, the notifier channels, the task queue and
/// the control plane.
fn spawn_tasks(
    config: DaemonConfig,
    deps: Deps,
    env: Arc<dyn Env + Send + Sync>,
    state: StartState,
    control: BoundControl,
    started_at: failover_core::UnixMillis,
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
    let StartState {
        store,
        engine,
        persisted,
        alert,
    } = state;
    let tcp_addr = control.tcp.as_ref().and_then(|(l, _)| l.local_addr().ok());

    let metrics = Arc::new(Metrics::default());
    let hub = Arc::new(NotifyHub::new(
        &channels,
        config.notify.queue_capacity,
        config.notify.dedup_window,
        metrics.clone(),
    ));
    if let Some(msg) = alert.clone() {
        hub.submit(
            Notification {
                severity: Severity::Critical,
                kind: NotificationKind::Message { text: msg.clone() },
                summary: msg,
                next_reset: None,
                dedup_key: "state-file-corrupt".into(),
                at: started_at,
            },
            started_at,
        );
    }

    let (inbox_tx, inbox_rx) = mpsc::channel(tasks::INBOX_CAPACITY);
    let (control_tx, control_rx) = mpsc::channel(tasks::CONTROL_CAPACITY);
    let (ckpt_tx, ckpt_rx) = mpsc::channel(tasks::WORKER_CAPACITY);
    let (switch_tx, switch_rx) = mpsc::channel(tasks::WORKER_CAPACITY);
    let (session_obs_tx, session_obs_rx) = mpsc::channel(tasks::WORKER_CAPACITY);
    let (observer_cmd_tx, observer_cmd_rx) = mpsc::channel(tasks::WORKER_CAPACITY);
    let (events_tx, _) = broadcast::channel(EVENT_BUFFER);
    let facts = DaemonFacts {
        started_at,
        config_file: config.file.as_ref().map(|f| f.display().to_string()),
        config_error: None,
        state_error: alert,
        notifications_dropped: 0,
        turns_started: Default::default(),
        ledger: None,
        program: config.claude.command.first().cloned(),
    };
    let (status_tx, status_rx) = watch::channel(Arc::new(Published {
        snapshot: engine.snapshot(),
        facts: facts.clone(),
    }));
    let config = Arc::new(config);
    let (config_tx, config_rx) = watch::channel(config.clone());
    let settings_check = crate::settings_check::SettingsCheck::new(config_rx.clone());

    let shutdown = CancellationToken::new();
    let notify_stop = CancellationToken::new();
    let mut set: JoinSet<TaskExit> = JoinSet::new();

    let ledger_tx = spawn_ledger(&mut set, &config, &inbox_tx, &control_tx, &shutdown)?;
    set.spawn(named(
        "dispatcher",
        dispatcher::run(dispatcher::DispatcherParts {
            engine,
            config: config.clone(),
            last_persisted: persisted.clone(),
            clock,
            inbox: inbox_rx,
            control: control_rx,
            checkpoints: ckpt_tx,
            switcher: switch_tx,
            observers: observer_cmd_tx,
            hub: hub.clone(),
            store,
            status: status_tx,
            config_out: config_tx,
            events: events_tx.clone(),
            metrics: metrics.clone(),
            facts,
            shutdown: shutdown.clone(),
            shutdown_grace: SHUTDOWN_GRACE,
            ledger: ledger_tx,
        }),
    ));
    set.spawn(named(
        "checkpoint worker",
        tasks::checkpoint::run(
            ckpt_rx,
            checkpointer.clone(),
            prompts.clone(),
            inbox_tx.clone(),
            clock,
        ),
    ));
    set.spawn(named(
        "account switcher",
        tasks::switcher::run(
            switch_rx,
            backend.clone(),
            prompts.clone(),
            inbox_tx.clone(),
            SwitchTimeouts::standard(),
        ),
    ));
    set.spawn(named(
        "quota monitor",
        tasks::quota_monitor::run(
            observations,
            metrics.clone(),
            inbox_tx.clone(),
            session_obs_tx,
            shutdown.clone(),
        ),
    ));
    set.spawn(named(
        "observers",
        tasks::observers::run(observers, observer_cmd_rx, observation_tx, shutdown.clone()),
    ));
    set.spawn(named(
        "usage poller",
        tasks::usage_poller::run(
            config.quota.clone(),
            config
                .engine
                .accounts
                .iter()
                .map(|a| (a.id.clone(), a.config_dir.clone()))
                .collect(),
            status_rx.clone(),
            inbox_tx.clone(),
            clock,
            shutdown.clone(),
        ),
    ));
    set.spawn(named(
        "session watcher",
        tasks::session_watcher::run(
            backend.clone(),
            records,
            config_rx.clone(),
            status_rx.clone(),
            persisted,
            session_obs_rx,
            inbox_tx,
            shutdown.clone(),
        ),
    ));
    set.spawn(named(
        "janitor",
        tasks::janitor::run(
            checkpointer,
            config_rx.clone(),
            hub.clone(),
            clock,
            shutdown.clone(),
        ),
    ));
    for (i, channel) in channels.into_iter().enumerate() {
        if let Some(queue) = hub.queue(i) {
            let (m, stop, attempts) = (
                metrics.clone(),
                notify_stop.clone(),
                config.notify.max_attempts,
            );
            set.spawn(async move {
                run_channel(queue, channel, attempts, m, stop).await;
                ("notifier", Ok(()))
            });
        }
    }
    if let Some(file) = config.file.clone() {
        set.spawn(named(
            "config watcher",
            tasks::config_watch::run(
                file,
                env,
                config.clone(),
                control_tx.clone(),
                shutdown.clone(),
            ),
        ));
    }
    if let Some(interval) = tasks::systemd::watchdog_interval() {
        set.spawn(named(
            "watchdog",
            tasks::systemd::watchdog(interval, control_tx.clone(), shutdown.clone()),
        ));
    }
    let tasks_rx = spawn_queue(
        &mut set,
        &config,
        QueueWiring {
            hub: hub.clone(),
            clock,
            backend,
            status: status_rx.clone(),
            config: config_rx,
            shutdown: shutdown.clone(),
        },
    );

    let handle = DaemonHandle {
        status: status_rx,
        events: events_tx,
        control: control_tx,
        metrics,
        clock,
        socket: control.unix.path.clone(),
        tcp: tcp_addr,
        settings: settings_check,
        tasks: tasks_rx,
    };
    let app = AppState {
        handle: handle.clone(),
        shutdown: shutdown.clone(),
    };
    let socket = serve_control(&mut set, control, app, &config, &shutdown);
    tracing::info!(socket = %handle.socket.display(), tcp = tcp_addr.map(|a| a.to_string()).as_deref(), "daemon started");
    Ok(Daemon {
        tasks: set,
        handle,
        shutdown,
        notify_stop,
        socket,
    })
}

/// With `[ledger]`: spawns the ledger worker and the task relaying its health to the
/// dispatcher, and returns the sender the dispatcher gives ledger effects to.
fn spawn_ledger(
    set: &mut JoinSet<TaskExit>,
    config: &DaemonConfig,
    inbox: &mpsc::Sender<Input>,
    control: &mpsc::Sender<tasks::ControlMsg>,
    shutdown: &CancellationToken,
) -> Result<Option<mpsc::Sender<LedgerJob>>, DaemonError> {
    let Some(settings) = &config.ledger else {
        return Ok(None);
    };
    let store = crate::ledger::LedgerStore::new(settings).map_err(|reason| DaemonError::Task {
        task: "ledger",
        reason,
    })?;
    let (jobs_tx, jobs_rx) = mpsc::channel(tasks::WORKER_CAPACITY);
    let (health_tx, mut health_rx) = mpsc::channel(4);
    let identities = crate::ledger::account_identities(&config.engine.accounts);
    set.spawn(named("ledger", {
        let inbox = inbox.clone();
        let shutdown = shutdown.clone();
        async move {
            crate::ledger::run(store, jobs_rx, inbox, health_tx, identities, shutdown).await;
            Ok(())
        }
    }));
    let control = control.clone();
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

/// What the task queue is wired to.
struct QueueWiring {
    hub: Arc<NotifyHub>,
    clock: Clock,
    backend: Arc<dyn SessionBackend>,
    status: watch::Receiver<Arc<Published>>,
    config: watch::Receiver<Arc<DaemonConfig>>,
    shutdown: CancellationToken,
}

/// Spawns the task queue and the view of the sessions it dispatches to; returns the tasks
/// each session is running, as the control plane shows them.
fn spawn_queue(
    set: &mut JoinSet<TaskExit>,
    config: &DaemonConfig,
    w: QueueWiring,
) -> watch::Receiver<failover_queue::runner::CurrentTasks> {
    let (tasks_tx, tasks_rx) = watch::channel(failover_queue::runner::CurrentTasks::new());
    let (view_tx, view_rx) = watch::channel(SessionsView::default());
    set.spawn(named(
        "queue view",
        tasks::queue_view::run(w.status.clone(), w.config, view_tx, w.shutdown.clone()),
    ));
    let queue = build_queue(config, w.hub, w.clock);
    let deliver = Arc::new(BackendDeliver::new(
        w.backend,
        Some(transcript_locator(config, w.status)),
    ));
    let stop = w.shutdown;
    set.spawn(named("task queue", async move {
        if let Err(e) = failover_queue::runner::run_publishing(
            queue,
            view_rx,
            deliver,
            tasks_tx,
            stop.cancelled_owned(),
        )
        .await
        {
            tracing::error!(error = %e, "the task queue stopped; sessions and failover keep working");
        }
        Ok(())
    }));
    tasks_rx
}

/// Serves the control plane on the bound listeners until shutdown; returns the unix
/// socket's identity, so that shutdown removes only the socket this daemon bound.
fn serve_control(
    set: &mut JoinSet<TaskExit>,
    control: BoundControl,
    app: AppState,
    config: &DaemonConfig,
    shutdown: &CancellationToken,
) -> http::BoundUnixIdentity {
    let BoundControl { unix, tcp } = control;
    let identity = http::BoundUnixIdentity {
        path: unix.path.clone(),
        identity: unix.identity,
    };
    {
        let router = http::router(app.clone());
        let stop = shutdown.clone();
        let listener = unix.listener;
        set.spawn(named("control socket", async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .map_err(|e| DaemonError::Task {
                    task: "control socket",
                    reason: e.to_string(),
                })
        }));
    }
    if let (Some((listener, token)), Some(settings)) = (tcp, &config.control.tcp) {
        let router = http::tcp_router(app, token);
        let stop = shutdown.clone();
        let limits = http::TcpLimits {
            max_connections: settings.max_connections,
            header_timeout: settings.header_timeout,
        };
        set.spawn(named("control tcp", async move {
            http::serve_tcp(listener, router, limits, stop)
                .await
                .map_err(|e| DaemonError::Task {
                    task: "control tcp",
                    reason: e.to_string(),
                })
        }));
    }
    identity
}

/// The task queue over the configured projects, notifying tasks that fail for good.
fn build_queue(config: &DaemonConfig, hub: Arc<NotifyHub>, clock: Clock) -> Queue {
    let mut qc = QueueConfig::new(config.queue.projects.clone());
    qc.max_task_bytes = config.queue.max_task_bytes;
    qc.default_max_attempts = config.queue.max_attempts;
    let queue = Queue::new(qc).with_clock(Arc::new(clock));
    queue.with_failure_hook(Arc::new(move |f: &FailedTask| {
        let at = clock.now();
        hub.submit(
            Notification {
                severity: Severity::Warning,
                kind: NotificationKind::TaskFailed {
                    task: f.task.clone(),
                    session: f.session.clone(),
                    reason: f.reason.clone(),
                },
                summary: format!(
                    "task {} in {} failed: {}",
                    f.task,
                    f.project.display(),
                    f.reason
                ),
                next_reset: None,
                dedup_key: format!("task-failed:{}:{}", f.project.display(), f.task),
                at,
            },
            at,
        );
    }))
}

/// Where the transcript of the conversation a delivery went to lives: the session's current
/// conversation (from the published status) in the shared projects tree.
fn transcript_locator(
    config: &DaemonConfig,
    status: watch::Receiver<Arc<Published>>,
) -> TranscriptLocator {
    let prompts = TranscriptPrompts::new(config.claude.shared_projects.clone());
    let dirs: Vec<_> = config
        .engine
        .sessions
        .iter()
        .map(|s| (s.id.clone(), s.dir.clone()))
        .collect();
    Arc::new(move |d: &Delivery| {
        let dir = dirs.iter().find(|(id, _)| *id == d.session)?.1.clone();
        let conv = status
            .borrow()
            .snapshot
            .sessions
            .iter()
            .find(|s| s.id == d.session)?
            .claude_session
            .clone()?;
        Some(prompts.transcript_path(&dir, &conv))
    })
}

async fn named(name: &'static str, fut: impl Future<Output = Result<(), DaemonError>>) -> TaskExit {
    (name, fut.await)
}
