//! The one support module of the daemon's tests (`http`: a control-plane client, `e2e`:
//! the real-CLI world, `queue`: queue helpers, `redis`: a private redis-server), and shared
//! fixtures: a temporary tree with account and session directories, a config
//! built from TOML text, and `Deps` over the `failover_core::testkit` fakes.

pub(crate) mod e2e;
pub(crate) mod http;
pub(crate) mod redis;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use failover_core::testkit::{FakeBackend, MemCheckpointer, RecordingNotifier};
use failover_core::{
    AccountId, BackendError, Checkpointer, ClaudeSessionId, Detection, LaunchRequest, Launched,
    LimitWindow, Liveness, SessionBackend, SessionId, SignalSource, Subject, UnixMillis, Verdict,
};
use failover_daemon::notifiers::Channel;
use failover_daemon::observe::{NoObservers, ObserverEvent};
use failover_daemon::production::TranscriptPrompts;
use failover_daemon::{Clock, DaemonConfig, Deps, observation_channel};
use failover_tmux::paths::project_folder_name;
use tokio::sync::{Notify, mpsc};

/// 2026-11-20T12:00:00Z: a readable origin for the daemon's clock.
pub(crate) const T0: UnixMillis = UnixMillis(1_795_176_000_000);

/// A temporary tree: `accounts/<name>`, `work/<session>`, `state/`, `shared/`, `ctl.sock`.
pub(crate) struct Tree {
    pub(crate) dir: tempfile::TempDir,
}

impl Tree {
    pub(crate) fn new(accounts: &[&str], sessions: &[&str]) -> Self {
        let dir = tempfile::Builder::new().prefix("cfd").tempdir().unwrap();
        for a in accounts {
            std::fs::create_dir_all(dir.path().join("accounts").join(a)).unwrap();
        }
        for s in sessions {
            std::fs::create_dir_all(dir.path().join("work").join(s)).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("shared")).unwrap();
        Self { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.path().join("ctl.sock")
    }

    pub(crate) fn shared(&self) -> PathBuf {
        self.path().join("shared")
    }

    pub(crate) fn work(&self, session: &str) -> PathBuf {
        self.path().join("work").join(session)
    }

    /// A config TOML naming every account and session of the tree, plus `extra`.
    pub(crate) fn toml(&self, accounts: &[&str], sessions: &[&str], extra: &str) -> String {
        let mut t = format!(
            "state_dir = \"{}\"\n[claude]\nshared_projects = \"{}\"\n[control]\nsocket = \"{}\"\n",
            self.state_dir().display(),
            self.shared().display(),
            self.socket().display()
        );
        t.push_str(extra);
        t.push('\n');
        for a in accounts {
            t.push_str(&format!(
                "[[accounts]]\nname = \"{a}\"\nconfig_dir = \"accounts/{a}\"\n"
            ));
        }
        for s in sessions {
            t.push_str(&format!(
                "[[sessions]]\nname = \"{s}\"\ndir = \"work/{s}\"\n"
            ));
        }
        t
    }

    pub(crate) fn config(&self, accounts: &[&str], sessions: &[&str], extra: &str) -> DaemonConfig {
        let text = self.toml(accounts, sessions, extra);
        let home = self.path().to_path_buf();
        let env = move |k: &str| (k == "HOME").then(|| home.display().to_string());
        DaemonConfig::parse(&text, Path::new("config.toml"), self.path(), &env).unwrap()
    }

    /// Writes a transcript for `conversation` of `session` whose last prompt is `prompt`.
    pub(crate) fn write_transcript(&self, session: &str, conversation: &str, prompt: &str) {
        let dir = self.shared().join(project_folder_name(&self.work(session)));
        std::fs::create_dir_all(&dir).unwrap();
        let line = serde_json::json!({
            "type": "user",
            "sessionId": conversation,
            "message": {"role": "user", "content": prompt},
        });
        std::fs::write(
            dir.join(format!("{conversation}.jsonl")),
            format!("{line}\n"),
        )
        .unwrap();
    }
}

/// The fakes a daemon runs on, kept by the test to look at.
pub(crate) struct Fakes {
    pub(crate) backend: Arc<FakeBackend>,
    pub(crate) checkpoints: Arc<MemCheckpointer>,
    pub(crate) notifier: Arc<RecordingNotifier>,
}

impl Fakes {
    pub(crate) fn new() -> Self {
        Self {
            backend: Arc::new(FakeBackend::new()),
            checkpoints: Arc::new(MemCheckpointer::new()),
            notifier: Arc::new(RecordingNotifier::new()),
        }
    }

    /// Deps over these fakes (or `backend` instead of the fake backend), and the sender
    /// the test uses to play the observers.
    pub(crate) fn deps_with(
        &self,
        tree: &Tree,
        backend: Arc<dyn SessionBackend>,
    ) -> (Deps, mpsc::Sender<ObserverEvent>) {
        let (tx, rx) = observation_channel();
        let checkpointer: Arc<dyn Checkpointer> = self.checkpoints.clone();
        (
            Deps {
                backend,
                checkpointer,
                channels: vec![Channel::new("recording", self.notifier.clone())],
                observers: Arc::new(NoObservers),
                observation_tx: tx.clone(),
                observations: rx,
                prompts: Arc::new(TranscriptPrompts::new(tree.shared())),
                records: Arc::new(failover_daemon::NoRecords),
                clock: Clock::starting_at(T0),
            },
            tx,
        )
    }

    pub(crate) fn deps(&self, tree: &Tree) -> (Deps, mpsc::Sender<ObserverEvent>) {
        self.deps_with(tree, self.backend.clone())
    }

    /// The account each given session runs on.
    pub(crate) fn accounts_of(&self, sessions: &[&str]) -> Vec<Option<String>> {
        sessions
            .iter()
            .map(|s| {
                self.backend
                    .account_of(&SessionId::new(*s))
                    .map(|a| a.to_string())
            })
            .collect()
    }

    pub(crate) fn conversation_of(&self, session: &str) -> Option<ClaudeSessionId> {
        self.backend
            .session(&SessionId::new(session))
            .map(|s| s.claude_session)
    }
}

/// Waits until `cond` holds, polling every 10 ms, for at most `limit` (tokio time).
pub(crate) async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) fn quota_exhausted(
    session: &str,
    resets_at: UnixMillis,
    at: UnixMillis,
) -> ObserverEvent {
    ObserverEvent::Observation {
        subject: Subject::Session(SessionId::new(session)),
        source: SignalSource::Transcript,
        detection: Detection {
            verdict: Verdict::QuotaExhausted {
                window: LimitWindow::FiveHour,
                resets_at: Some(resets_at),
            },
            evidence: Some("You've hit your 5-hour limit".into()),
        },
        observed_at: at,
    }
}

pub(crate) fn activity(session: &str, working: bool, at: UnixMillis) -> ObserverEvent {
    ObserverEvent::Activity {
        session: SessionId::new(session),
        activity: if working {
            failover_core::Activity::Working
        } else {
            failover_core::Activity::Idle
        },
        observed_at: at,
    }
}

/// A backend whose launches on one account wait until released: a swap can be caught
/// half done.
pub(crate) struct HeldLaunches {
    pub(crate) inner: Arc<FakeBackend>,
    pub(crate) hold_on: AccountId,
    pub(crate) release: Arc<Notify>,
    pub(crate) held: Arc<Notify>,
}

#[async_trait]
impl SessionBackend for HeldLaunches {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, BackendError> {
        if request.account == self.hold_on {
            self.held.notify_one();
            self.release.notified().await;
        }
        self.inner.launch(request).await
    }
    async fn stop(&self, session: &SessionId, grace: Duration) -> Result<(), BackendError> {
        self.inner.stop(session, grace).await
    }
    async fn send_input(&self, session: &SessionId, text: &str) -> Result<(), BackendError> {
        self.inner.send_input(session, text).await
    }
    async fn liveness(&self, session: &SessionId) -> Result<Liveness, BackendError> {
        self.inner.liveness(session).await
    }
    async fn liveness_all(
        &self,
    ) -> Result<std::collections::HashMap<SessionId, Liveness>, BackendError> {
        self.inner.liveness_all().await
    }
}
