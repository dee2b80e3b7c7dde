//! Shared helpers for the queue tests: a recording [`Deliver`], scripted session views, task
//! files dropped the way operators should (written aside, renamed in), and condition waits.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use failover_core::{AccountId, ClaudeSessionId, SessionId};
use failover_queue::{
    Deliver, DeliverError, Delivery, FailedTask, Probe, Queue, QueueConfig, QueueError,
    SessionView, SessionsView, runner,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// A session view: alive and idle on account `a`.
pub(crate) fn view(name: &str, dir: &Path) -> SessionView {
    SessionView {
        name: SessionId::new(name),
        dir: dir.to_path_buf(),
        account: Some(AccountId::new("a")),
        claude_session: Some(ClaudeSessionId::new(format!("{name}-conv"))),
        idle: true,
        mid_swap: false,
        alive: true,
        turns_started: 0,
    }
}

/// Writes `content` beside the inbox and renames it in (what `tasks add` does).
pub(crate) fn drop_task(project: &Path, name: &str, content: &[u8]) -> PathBuf {
    let inbox = project.join(".agent-queue/inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let tmp = project.join(format!(".drop-{}", name.len()));
    std::fs::write(&tmp, content).unwrap();
    let dest = inbox.join(name);
    std::fs::rename(&tmp, &dest).unwrap();
    dest
}

/// File names in a queue directory (records excluded), sorted.
pub(crate) fn tasks_in(project: &Path, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(project.join(".agent-queue").join(dir))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".result.json") && !n.ends_with(".claim.json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Reads a JSON file.
pub(crate) fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .unwrap()
}

/// Waits (polling, with a deadline) until `cond` holds; panics with `what` if it never does.
pub(crate) async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Records deliveries; answers probes as told; can feed deliveries to simulated sessions.
#[derive(Clone, Default)]
pub(crate) struct Recorder {
    pub(crate) delivered: Arc<Mutex<Vec<Delivery>>>,
    pub(crate) probe: Arc<Mutex<Option<Probe>>>,
    pub(crate) reject_next: Arc<Mutex<Option<String>>>,
    /// How many deliveries to refuse as [`DeliverError::NotNow`] (a draft in the box).
    pub(crate) not_now: Arc<Mutex<u32>>,
    /// Deliveries refused as not now.
    pub(crate) refused: Arc<Mutex<Vec<Delivery>>>,
    /// A transcript to probe (with the daemon's reader) instead of the recorded deliveries.
    pub(crate) transcript: Arc<Mutex<Option<PathBuf>>>,
    /// What [`Deliver::idle_now`] answers.
    pub(crate) idle_now: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) feed: Option<mpsc::UnboundedSender<Delivery>>,
}

impl Recorder {
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.delivered.lock().unwrap().clone()
    }
    pub(crate) fn tasks_delivered(&self) -> Vec<String> {
        self.deliveries().into_iter().map(|d| d.task).collect()
    }
}

#[async_trait]
impl Deliver for Recorder {
    async fn deliver(&self, delivery: &Delivery) -> Result<(), DeliverError> {
        if let Some(why) = self.reject_next.lock().unwrap().take() {
            return Err(DeliverError::NotDelivered(why));
        }
        {
            let mut not_now = self.not_now.lock().unwrap();
            if *not_now > 0 {
                *not_now -= 1;
                self.refused.lock().unwrap().push(delivery.clone());
                return Err(DeliverError::NotNow("a draft in the input box".into()));
            }
        }
        self.delivered.lock().unwrap().push(delivery.clone());
        if let Some(feed) = &self.feed {
            let _ = feed.send(delivery.clone());
        }
        Ok(())
    }

    async fn probe(&self, delivery: &Delivery) -> Probe {
        if let Some(p) = *self.probe.lock().unwrap() {
            return p;
        }
        if let Some(path) = self.transcript_of(delivery) {
            return failover_queue::probe::transcript_probe(
                &path,
                &delivery.prompt,
                delivery.recorded_at,
            );
        }
        if self
            .delivered
            .lock()
            .unwrap()
            .iter()
            .any(|d| d.task == delivery.task && d.session == delivery.session)
        {
            Probe::Received
        } else {
            Probe::NotReceived
        }
    }

    fn transcript_of(&self, _delivery: &Delivery) -> Option<PathBuf> {
        self.transcript.lock().unwrap().clone()
    }

    async fn idle_now(&self, _session: &SessionId) -> bool {
        self.idle_now.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Simulated sessions: each delivery makes its session work (`turns_started` + 1, not idle)
/// for `turn`, then idle again.
pub(crate) fn simulate_sessions(
    views: watch::Sender<SessionsView>,
    mut feed: mpsc::UnboundedReceiver<Delivery>,
    turn: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(d) = feed.recv().await {
            let set = |working: bool| {
                views.send_modify(|v| {
                    if let Some(s) = v.sessions.iter_mut().find(|s| s.name == d.session) {
                        s.idle = !working;
                        if working {
                            s.turns_started += 1;
                        }
                    }
                })
            };
            set(true);
            let views = views.clone();
            let session = d.session.clone();
            tokio::spawn(async move {
                tokio::time::sleep(turn).await;
                views.send_modify(|v| {
                    if let Some(s) = v.sessions.iter_mut().find(|s| s.name == session) {
                        s.idle = true;
                    }
                });
            });
        }
    })
}

/// A queue runner, running.
pub(crate) struct Running {
    pub(crate) views: watch::Sender<SessionsView>,
    pub(crate) recorder: Recorder,
    pub(crate) failed: Arc<Mutex<Vec<FailedTask>>>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), QueueError>>>,
}

/// Test configuration: no write settle, short probe wait.
pub(crate) fn config(projects: Vec<PathBuf>) -> QueueConfig {
    let mut c = QueueConfig::new(projects);
    c.write_settle = Duration::ZERO;
    c.unconfirmed_after = Duration::from_millis(300);
    c
}

impl Running {
    /// Starts the runner over `sessions`; with `turn`, sessions are simulated.
    pub(crate) fn start(
        config: QueueConfig,
        sessions: Vec<SessionView>,
        turn: Option<Duration>,
    ) -> Self {
        Self::start_queue(Queue::new(config), sessions, turn)
    }

    /// [`Running::start`] with a queue built by the caller (e.g. on a clock of its own).
    pub(crate) fn start_queue(
        queue: Queue,
        sessions: Vec<SessionView>,
        turn: Option<Duration>,
    ) -> Self {
        let (views, rx) = watch::channel(SessionsView { sessions });
        let mut recorder = Recorder::default();
        if let Some(turn) = turn {
            let (tx, feed) = mpsc::unbounded_channel();
            recorder.feed = Some(tx);
            simulate_sessions(views.clone(), feed, turn);
        }
        Self::run(queue, views, rx, recorder)
    }

    pub(crate) fn start_with(
        config: QueueConfig,
        views: watch::Sender<SessionsView>,
        rx: watch::Receiver<SessionsView>,
        recorder: Recorder,
    ) -> Self {
        Self::run(Queue::new(config), views, rx, recorder)
    }

    fn run(
        queue: Queue,
        views: watch::Sender<SessionsView>,
        rx: watch::Receiver<SessionsView>,
        recorder: Recorder,
    ) -> Self {
        let failed = Arc::new(Mutex::new(Vec::new()));
        let hook_failed = Arc::clone(&failed);
        let queue = queue.with_failure_hook(Arc::new(move |f: &FailedTask| {
            hook_failed.lock().unwrap().push(f.clone())
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let deliver: Arc<dyn Deliver> = Arc::new(recorder.clone());
        let handle = tokio::spawn(runner::run(queue, rx, deliver, async {
            let _ = stopped.await;
        }));
        Self {
            views,
            recorder,
            failed,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Changes one session's view.
    pub(crate) fn set(&self, name: &str, f: impl FnOnce(&mut SessionView)) {
        self.views.send_modify(|v| {
            if let Some(s) = v.sessions.iter_mut().find(|s| s.name.as_str() == name) {
                f(s);
            }
        });
    }

    /// Stops the runner and checks it ended cleanly.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

/// Runs `fut` with a generous overall timeout.
pub(crate) async fn within<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("test took too long")
}
