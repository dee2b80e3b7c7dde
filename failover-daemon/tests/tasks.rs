//! Each worker task on its own, over the testkit fakes, on a paused tokio clock.

use crate::support as common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use failover_core::testkit::{
    FakeBackend, FakeFailure, FakeOp, MemCheckpointer, RecordingNotifier,
};
use failover_core::{
    AccountId, BackendError, Checkpoint, CheckpointError, Checkpointer, ClaudeSessionId, Effect,
    EffectOutcome, FailureKind, Input, LaunchRequest, Launched, Liveness, PersistedSession,
    PersistedState, PromptSource, RequestId, SessionBackend, SessionId, SignalSource,
    TranscriptSummary, UnixMillis,
};
use failover_daemon::Clock;
use failover_daemon::config::JanitorSettings;
use failover_daemon::metrics::Metrics;
use failover_daemon::production::TranscriptPrompts;
use failover_daemon::tasks::effects::{self, EffectPorts, TimeLimits};
use failover_daemon::tasks::quota_monitor::{Classified, classify};
use failover_daemon::tasks::{Published, janitor, session_watcher};
use tokio::sync::{Barrier, mpsc, watch};
use tokio_util::sync::CancellationToken;

fn cp(session: &str, taken_at: UnixMillis, prompt: Option<&str>) -> Checkpoint {
    Checkpoint {
        session: SessionId::new(session),
        claude_session: Some(ClaudeSessionId::new("conv-1")),
        account: AccountId::new("primary"),
        dir: PathBuf::from("/w"),
        task: None,
        last_prompt: prompt.map(str::to_owned),
        last_tool_call: None,
        taken_at,
    }
}

#[tokio::test(start_paused = true)]
async fn the_janitor_prunes_checkpoints_past_their_retention() {
    let store = Arc::new(MemCheckpointer::new());
    store
        .save(&cp("old", T0 - Duration::from_secs(2 * 3600), None))
        .await
        .unwrap();
    store.save(&cp("new", T0, None)).await.unwrap();
    let cancel = CancellationToken::new();
    let metrics = Arc::new(Metrics::default());
    let tree = Tree::new(&["primary"], &[]);
    let config = tree.config(
        &["primary"],
        &[],
        "[janitor]\ninterval_secs = 600\ncheckpoint_retention_hours = 1\n",
    );
    assert_eq!(
        config.janitor,
        JanitorSettings {
            checkpoint_retention: Duration::from_secs(3600),
            interval: Duration::from_secs(600),
        }
    );
    let (_config_tx, config_rx) = watch::channel(Arc::new(config));
    let task = tokio::spawn(janitor::run(
        store.clone(),
        config_rx,
        Arc::new(failover_daemon::notifiers::NotifyHub::new(
            &[],
            4,
            Duration::from_secs(60),
            metrics,
        )),
        Clock::starting_at(T0),
        cancel.clone(),
    ));
    eventually(Duration::from_secs(1), "the old one pruned", || {
        failover_core::testkit::block_on(store.list())
            .unwrap()
            .len()
            == 1
    })
    .await;
    let left = store.list().await.unwrap();
    assert_eq!(left[0].session.as_str(), "new");
    // An hour and a bit later the next runs prune the other one too.
    tokio::time::sleep(Duration::from_secs(3600 + 600)).await;
    assert!(store.list().await.unwrap().is_empty());
    cancel.cancel();
    task.await.unwrap().unwrap();
}

/// The drafts folder the daemon's backend keeps unsent drafts in: an old draft of a session
/// that is not configured is pruned by the janitor's pass; an old one of a configured
/// session, a fresh one of an unknown session and files that are not drafts are kept.
#[tokio::test]
async fn the_janitor_prunes_old_drafts_of_sessions_that_are_not_configured() {
    use std::fs::{File, FileTimes};
    use std::time::{SystemTime, UNIX_EPOCH};

    let tree = Tree::new(&["primary"], &["s0"]);
    let config = tree.config(
        &["primary"],
        &["s0"],
        "[janitor]\ninterval_secs = 600\ncheckpoint_retention_hours = 1\n",
    );
    let drafts = failover_daemon::production::draft_dir(&config);
    std::fs::create_dir_all(&drafts).unwrap();
    let now = SystemTime::now();
    let clock_now = now.duration_since(UNIX_EPOCH).unwrap();
    let clock = Clock::starting_at(UnixMillis(clock_now.as_millis() as i64));
    let write = |session: &str, age: Duration| {
        let stem = failover_tmux::paths::session_file_stem(&SessionId::new(session));
        let path = drafts.join(format!("{stem}.draft"));
        std::fs::write(&path, format!("unsent text of {session}")).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_times(FileTimes::new().set_modified(now - age))
            .unwrap();
        path
    };
    let two_hours = Duration::from_secs(2 * 3600);
    let gone = write("gone one", two_hours);
    let configured = write("s0", two_hours);
    let fresh = write("unknown", Duration::from_secs(600));
    let not_a_draft = drafts.join(".gone.draft.tmp-1");
    std::fs::write(&not_a_draft, "x").unwrap();
    File::options()
        .write(true)
        .open(&not_a_draft)
        .unwrap()
        .set_times(FileTimes::new().set_modified(now - two_hours))
        .unwrap();

    let (_config_tx, config_rx) = watch::channel(Arc::new(config));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(janitor::run(
        Arc::new(MemCheckpointer::new()),
        config_rx,
        Arc::new(failover_daemon::notifiers::NotifyHub::new(
            &[],
            4,
            Duration::from_secs(60),
            Arc::new(Metrics::default()),
        )),
        clock,
        cancel.clone(),
    ));
    eventually(
        Duration::from_secs(20),
        "the unknown session's old draft pruned",
        || !gone.exists(),
    )
    .await;
    // A pass runs to its end before the janitor sees the cancellation.
    cancel.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(
        std::fs::read_to_string(&configured).unwrap(),
        "unsent text of s0",
        "a configured session's draft waits for its next launch"
    );
    assert!(fresh.exists(), "a draft younger than the retention is kept");
    assert!(not_a_draft.exists(), "only draft files are pruned");
}

/// Launches wait until three are in flight at once; stops never return; typing is counted,
/// then refused. With `hung_turn_check`, asking whether a resumed program took its turn up
/// never returns either.
struct Slow {
    barrier: Barrier,
    hung_turn_check: bool,
    typed: std::sync::atomic::AtomicU32,
}

impl Slow {
    fn new(launches_at_once: usize, hung_turn_check: bool) -> Self {
        Self {
            barrier: Barrier::new(launches_at_once),
            hung_turn_check,
            typed: Default::default(),
        }
    }
}

#[async_trait]
impl SessionBackend for Slow {
    async fn launch(&self, r: &LaunchRequest) -> Result<Launched, BackendError> {
        self.barrier.wait().await;
        Ok(Launched::new(ClaudeSessionId::new(format!(
            "c-{}",
            r.session
        ))))
    }
    async fn stop(&self, _: &SessionId, _: Duration) -> Result<(), BackendError> {
        std::future::pending().await
    }
    async fn send_input(&self, s: &SessionId, _: &str) -> Result<(), BackendError> {
        self.typed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(BackendError::InputRejected {
            session: s.clone(),
            reason: "not ready".into(),
        })
    }
    async fn resumed_turn(
        &self,
        _: &SessionId,
        _: &str,
    ) -> Result<failover_core::ResumedTurn, BackendError> {
        if self.hung_turn_check {
            std::future::pending().await
        }
        Ok(failover_core::ResumedTurn::NotTakenUp)
    }
    async fn liveness(&self, _: &SessionId) -> Result<Liveness, BackendError> {
        Ok(Liveness::Alive)
    }
    async fn liveness_all(
        &self,
    ) -> Result<std::collections::HashMap<SessionId, Liveness>, BackendError> {
        Ok(Default::default())
    }
}

/// The effect worker's ports over `backend`, `checkpointer` and `prompts`.
fn ports(
    backend: Arc<dyn SessionBackend>,
    checkpointer: Arc<dyn Checkpointer>,
    prompts: Arc<dyn PromptSource>,
) -> EffectPorts {
    EffectPorts {
        backend,
        checkpointer,
        prompts,
        notifier: Arc::new(RecordingNotifier::new()),
        metrics: Arc::new(Metrics::default()),
    }
}

/// A checkpoint effect for a session of `tree` on `primary`.
fn checkpoint_effect(request: u64, tree: &Tree, session: &str, conv: Option<&str>) -> Effect {
    Effect::Checkpoint {
        request: RequestId::for_tests(request),
        session: SessionId::new(session),
        account: AccountId::new("primary"),
        claude_session: conv.map(ClaudeSessionId::new),
        dir: tree.work(session),
        task: Some("T-1".into()),
    }
}

#[tokio::test(start_paused = true)]
async fn the_effect_worker_runs_sessions_in_parallel_and_times_out_hung_calls() {
    let (jobs_tx, jobs_rx) = mpsc::channel(16);
    let (inbox_tx, mut inbox) = mpsc::channel(16);
    let timeouts = TimeLimits::standard();
    let task = tokio::spawn(effects::run(
        jobs_rx,
        ports(
            Arc::new(Slow::new(3, false)),
            Arc::new(MemCheckpointer::new()),
            Arc::new(TranscriptPrompts::new(
                std::env::temp_dir().join("no-transcripts-here"),
            )),
        ),
        inbox_tx,
        Clock::starting_at(T0),
        timeouts,
    ));
    let started = tokio::time::Instant::now();
    jobs_tx
        .send(Effect::Stop {
            request: RequestId::for_tests(1),
            session: SessionId::new("hung"),
            grace: Duration::from_secs(7),
        })
        .await
        .unwrap();
    for (i, s) in ["a", "b", "c"].iter().enumerate() {
        jobs_tx
            .send(Effect::Launch {
                request: RequestId::for_tests(10 + i as u64),
                session: SessionId::new(*s),
                dir: "/w".into(),
                account: AccountId::new("backup"),
                config_dir: "/c".into(),
                resume: None,
            })
            .await
            .unwrap();
    }
    jobs_tx
        .send(Effect::SendPrompt {
            request: RequestId::for_tests(20),
            session: SessionId::new("a"),
            text: "hello".into(),
        })
        .await
        .unwrap();
    let mut replies = BTreeMap::new();
    while replies.len() < 5 {
        match inbox.recv().await.unwrap() {
            Input::EffectFinished { request, outcome } => {
                replies.insert(request.get(), (outcome, started.elapsed()));
            }
            other => panic!("{other:?}"),
        }
    }
    // The three launches finished together, without waiting for the hung stop.
    for r in [10, 11, 12] {
        assert!(matches!(replies[&r].0, EffectOutcome::Launched { .. }));
        assert!(replies[&r].1 < Duration::from_secs(1));
    }
    assert_eq!(
        replies[&20].0,
        EffectOutcome::Failed {
            kind: FailureKind::Transient,
            detail: "session a did not accept input: not ready".into()
        }
    );
    let (stop, after) = &replies[&1];
    assert!(
        matches!(stop, EffectOutcome::Failed { kind: FailureKind::Transient, detail } if detail.contains("timed out")),
        "{stop:?}"
    );
    // The engine's grace, then the slack.
    assert_eq!(*after, Duration::from_secs(7) + timeouts.stop_slack);
    drop(jobs_tx);
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn checkpoints_carry_the_last_prompt_from_the_transcript_or_the_previous_checkpoint() {
    let tree = Tree::new(&["primary"], &["s0", "s1"]);
    tree.write_transcript("s0", "conv-0", "refactor the parser");
    let store = Arc::new(MemCheckpointer::new());
    // s1 has no transcript yet, but an earlier checkpoint of the same conversation.
    let mut earlier = cp("s1", T0 - Duration::from_secs(60), Some("write the docs"));
    earlier.claude_session = Some(ClaudeSessionId::new("conv-1"));
    store.save(&earlier).await.unwrap();

    let (jobs_tx, jobs_rx) = mpsc::channel(16);
    let (inbox_tx, mut inbox) = mpsc::channel(16);
    let task = tokio::spawn(effects::run(
        jobs_rx,
        ports(
            Arc::new(FakeBackend::new()),
            store.clone(),
            Arc::new(TranscriptPrompts::new(tree.shared())),
        ),
        inbox_tx,
        Clock::starting_at(T0),
        TimeLimits::standard(),
    ));
    for (i, (s, conv)) in [("s0", "conv-0"), ("s1", "conv-1")].iter().enumerate() {
        jobs_tx
            .send(checkpoint_effect(i as u64 + 1, &tree, s, Some(conv)))
            .await
            .unwrap();
    }
    let mut got = BTreeMap::new();
    while got.len() < 2 {
        if let Input::EffectFinished { request, outcome } = inbox.recv().await.unwrap() {
            got.insert(request.get(), outcome);
        }
    }
    assert_eq!(
        got[&1],
        EffectOutcome::Checkpointed {
            last_prompt: Some("refactor the parser".into()),
            // The transcript holds the prompt and nothing after it.
            unanswered: true,
        }
    );
    assert_eq!(
        got[&2],
        EffectOutcome::Checkpointed {
            last_prompt: Some("write the docs".into()),
            // From an older checkpoint: nothing says it went unanswered.
            unanswered: false,
        }
    );
    let saved = store.load(&SessionId::new("s0")).await.unwrap().unwrap();
    assert_eq!(saved.task.as_deref(), Some("T-1"));
    assert_eq!(saved.taken_at, T0);

    // A store that fails reports a transient failure, not a success.
    store.fail_next(1);
    jobs_tx
        .send(checkpoint_effect(3, &tree, "s0", None))
        .await
        .unwrap();
    match inbox.recv().await.unwrap() {
        Input::EffectFinished {
            request,
            outcome: EffectOutcome::Failed { kind, .. },
        } if request == RequestId::for_tests(3) => assert_eq!(kind, FailureKind::Transient),
        other => panic!("{other:?}"),
    }
    drop(jobs_tx);
    task.await.unwrap().unwrap();
}

/// A checkpoint store and a transcript reader that never answer.
struct Hung;

#[async_trait]
impl Checkpointer for Hung {
    async fn save(&self, _: &Checkpoint) -> Result<(), CheckpointError> {
        std::future::pending().await
    }
    async fn load(&self, _: &SessionId) -> Result<Option<Checkpoint>, CheckpointError> {
        std::future::pending().await
    }
    async fn list(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        Ok(Vec::new())
    }
    async fn prune(&self, _: UnixMillis) -> Result<usize, CheckpointError> {
        Ok(0)
    }
}

#[async_trait]
impl PromptSource for Hung {
    async fn recall(&self, _: &std::path::Path, _: &ClaudeSessionId) -> TranscriptSummary {
        std::future::pending().await
    }
}

/// The reply to request `request` whose `op` passed its limit `after`: worth retrying.
fn timed_out(request: u64, op: &str, after: Duration) -> Option<Input> {
    Some(Input::EffectFinished {
        request: RequestId::for_tests(request),
        outcome: EffectOutcome::Failed {
            kind: FailureKind::Transient,
            detail: format!("{op} timed out after {after:?}"),
        },
    })
}

#[tokio::test(start_paused = true)]
async fn a_checkpoint_whose_transcript_and_store_hang_fails_as_transient_at_their_limits() {
    let tree = Tree::new(&["primary"], &["s0"]);
    let limits = TimeLimits::standard();
    let ports = ports(Arc::new(FakeBackend::new()), Arc::new(Hung), Arc::new(Hung));
    let started = tokio::time::Instant::now();
    let effect = checkpoint_effect(1, &tree, "s0", Some("conv-0"));
    let reply = effects::execute(effect, &ports, limits, T0).await;
    // The recall knows nothing once its limit passed; the previous checkpoint's load is
    // given up at the store's limit, and the save fails at it.
    assert_eq!(started.elapsed(), limits.recall + limits.store * 2);
    assert_eq!(reply, timed_out(1, "saving the checkpoint", limits.store));
}

#[tokio::test(start_paused = true)]
async fn a_replay_whose_resumed_turn_check_hangs_types_nothing_and_fails_at_the_send_limit() {
    let limits = TimeLimits::standard();
    let backend = Arc::new(Slow::new(1, true));
    let ports = ports(backend.clone(), Arc::new(Hung), Arc::new(Hung));
    let started = tokio::time::Instant::now();
    let effect = Effect::SendPrompt {
        request: RequestId::for_tests(1),
        session: SessionId::new("s0"),
        text: "go on".into(),
    };
    let reply = effects::execute(effect, &ports, limits, T0).await;
    // The check and the typing share one limit: once it passed, nothing is typed.
    assert_eq!(started.elapsed(), limits.send);
    assert_eq!(backend.typed.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(reply, timed_out(1, "send_prompt", limits.send));
}

#[tokio::test(start_paused = true)]
async fn adoption_waits_until_every_session_is_known_and_uses_the_state_file() {
    let tree = Tree::new(&["primary", "backup"], &["s0", "s1"]);
    let config = tree.config(&["primary", "backup"], &["s0", "s1"], "");
    let backend = Arc::new(FakeBackend::new());
    backend.insert_running(
        SessionId::new("s0"),
        AccountId::new("backup"),
        ClaudeSessionId::new("conv-9"),
    );
    // The backend cannot tell about s1 twice (hung tmux): nothing may be launched meanwhile.
    backend.script_failure(
        FakeOp::Liveness,
        SessionId::new("s1"),
        1,
        FakeFailure::Timeout,
    );
    backend.script_failure(
        FakeOp::Liveness,
        SessionId::new("s1"),
        2,
        FakeFailure::Timeout,
    );
    let mut persisted = PersistedState::default();
    persisted.sessions.insert(
        SessionId::new("s0"),
        PersistedSession {
            account: Some(AccountId::new("backup")),
            claude_session: Some(ClaudeSessionId::new("conv-9")),
            pending_prompt: None,
            parked: false,
        },
    );
    let (_cfg_tx, cfg_rx) = watch::channel(Arc::new(config.clone()));
    let engine = failover_core::FailoverEngine::new(config.engine.clone()).unwrap();
    let (_status_tx, status_rx) = watch::channel(Arc::new(Published {
        snapshot: engine.snapshot(),
        facts: failover_daemon::tasks::DaemonFacts::started(T0),
        standbys: Vec::new(),
    }));
    let (_ev_tx, ev_rx) = mpsc::channel(4);
    let (inbox_tx, mut inbox) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let started = tokio::time::Instant::now();
    let task = tokio::spawn(session_watcher::run(
        backend.clone(),
        Arc::new(failover_daemon::NoRecords),
        cfg_rx,
        status_rx,
        persisted,
        ev_rx,
        inbox_tx,
        cancel.clone(),
    ));
    assert_eq!(
        inbox.recv().await.unwrap(),
        Input::SessionStarted {
            session: SessionId::new("s0"),
            claude_session: Some(ClaudeSessionId::new("conv-9")),
            account: Some(AccountId::new("backup")),
        }
    );
    assert_eq!(inbox.recv().await.unwrap(), Input::AdoptionComplete);
    assert!(started.elapsed() >= 2 * session_watcher::ADOPTION_RETRY);
    assert_eq!(backend.calls(FakeOp::Liveness, &SessionId::new("s1")), 3);
    cancel.cancel();
    task.await.unwrap().unwrap();
}

#[test]
fn the_quota_monitor_counts_detections_and_routes_session_events() {
    let metrics = Metrics::default();
    let now = T0;
    let e = quota_exhausted("s0", now, now);
    assert!(matches!(
        classify(e, &metrics),
        Classified::Input(Input::Detection { .. })
    ));
    assert_eq!(
        metrics.detections(SignalSource::Transcript, "quota_exhausted"),
        1
    );
    assert!(matches!(
        classify(activity("s0", true, now), &metrics),
        Classified::Session(_)
    ));
    assert_eq!(
        metrics.detections(SignalSource::Transcript, "quota_exhausted"),
        1
    );
}

#[tokio::test]
async fn a_resumed_launch_reports_a_prompt_its_transcript_shows_unanswered() {
    let tree = Tree::new(&["primary"], &["s0", "s1"]);
    // s0's transcript ends with a prompt and nothing after it; s1's prompt was answered.
    tree.write_transcript("s0", "conv-0", "refused prompt");
    tree.write_transcript("s1", "conv-1", "answered prompt");
    let answered = tree
        .shared()
        .join(failover_tmux::paths::project_folder_name(&tree.work("s1")))
        .join("conv-1.jsonl");
    let mut text = std::fs::read_to_string(&answered).unwrap();
    text.push_str(
        r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"done"}]}}"#,
    );
    text.push('\n');
    std::fs::write(&answered, text).unwrap();

    let backend = Arc::new(FakeBackend::new());
    let ports = ports(
        backend.clone(),
        Arc::new(MemCheckpointer::new()),
        Arc::new(TranscriptPrompts::new(tree.shared())),
    );
    let launch = |s: &str, resume: Option<&str>| Effect::Launch {
        request: RequestId::for_tests(1),
        session: SessionId::new(s),
        dir: tree.work(s),
        account: AccountId::new("primary"),
        config_dir: tree.path().join("primary"),
        resume: resume.map(ClaudeSessionId::new),
    };
    let execute = |effect| effects::execute(effect, &ports, TimeLimits::standard(), T0);
    let unanswered = |reply: Option<Input>| match reply {
        Some(Input::EffectFinished {
            outcome: EffectOutcome::Launched {
                unanswered_prompt, ..
            },
            ..
        }) => unanswered_prompt,
        other => panic!("not launched: {other:?}"),
    };
    let got = execute(launch("s0", Some("conv-0"))).await;
    assert_eq!(unanswered(got).as_deref(), Some("refused prompt"));
    let got = execute(launch("s1", Some("conv-1"))).await;
    assert_eq!(unanswered(got), None, "answered");
    backend
        .stop(&SessionId::new("s0"), Duration::ZERO)
        .await
        .unwrap();
    // A fresh launch has no history to look at.
    let got = execute(launch("s0", None)).await;
    assert_eq!(unanswered(got), None, "fresh");
}

/// A fake backend whose survey of every session gives a fixed answer, counted.
struct Survey {
    inner: Arc<FakeBackend>,
    all: std::collections::HashMap<SessionId, Liveness>,
    surveys: std::sync::atomic::AtomicU32,
}

#[async_trait]
impl SessionBackend for Survey {
    async fn launch(&self, r: &LaunchRequest) -> Result<Launched, BackendError> {
        self.inner.launch(r).await
    }
    async fn stop(&self, s: &SessionId, grace: Duration) -> Result<(), BackendError> {
        self.inner.stop(s, grace).await
    }
    async fn send_input(&self, s: &SessionId, text: &str) -> Result<(), BackendError> {
        self.inner.send_input(s, text).await
    }
    async fn liveness(&self, s: &SessionId) -> Result<Liveness, BackendError> {
        self.inner.liveness(s).await
    }
    async fn liveness_all(
        &self,
    ) -> Result<std::collections::HashMap<SessionId, Liveness>, BackendError> {
        self.surveys
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.all.clone())
    }
}

#[tokio::test(start_paused = true)]
async fn the_liveness_check_surveys_all_sessions_at_once_and_asks_only_the_others() {
    let names = ["s0", "s1", "s2"];
    let tree = Tree::new(&["primary"], &names);
    let config = tree.config(&["primary"], &names, "");
    let backend = Arc::new(FakeBackend::new());
    for s in names {
        backend.insert_running(
            SessionId::new(s),
            AccountId::new("primary"),
            ClaudeSessionId::new(format!("conv-{s}")),
        );
    }
    // The engine believes all three run.
    let mut engine = failover_core::FailoverEngine::new(config.engine.clone()).unwrap();
    for s in names {
        engine.handle(
            T0,
            Input::SessionStarted {
                session: SessionId::new(s),
                claude_session: Some(ClaudeSessionId::new(format!("conv-{s}"))),
                account: Some(AccountId::new("primary")),
            },
        );
    }
    engine.handle(T0, Input::AdoptionComplete);
    let snapshot = engine.snapshot();
    assert!(
        snapshot
            .sessions
            .iter()
            .all(|s| s.state == failover_core::SessionStateKind::Running),
        "{snapshot:?}"
    );
    let (_status_tx, status_rx) = watch::channel(Arc::new(Published {
        snapshot,
        facts: failover_daemon::tasks::DaemonFacts::started(T0),
        standbys: Vec::new(),
    }));
    // The survey sees s0 and s2 alive and does not show s1, whose program has exited.
    backend.kill(&SessionId::new("s1"));
    let survey = Arc::new(Survey {
        inner: backend.clone(),
        all: [("s0", Liveness::Alive), ("s2", Liveness::Alive)]
            .into_iter()
            .map(|(s, l)| (SessionId::new(s), l))
            .collect(),
        surveys: Default::default(),
    });
    let (_cfg_tx, cfg_rx) = watch::channel(Arc::new(config.clone()));
    let (_ev_tx, ev_rx) = mpsc::channel(4);
    let (inbox_tx, mut inbox) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(session_watcher::run(
        survey.clone(),
        Arc::new(failover_daemon::NoRecords),
        cfg_rx,
        status_rx,
        PersistedState::default(),
        ev_rx,
        inbox_tx,
        cancel.clone(),
    ));
    // Adoption asks each session (s1 is already gone then), once.
    let mut adopted = 0;
    loop {
        match inbox.recv().await.unwrap() {
            Input::AdoptionComplete => break,
            Input::SessionStarted { .. } => adopted += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(adopted, 2);
    let asked = |s: &str| backend.calls(FakeOp::Liveness, &SessionId::new(s));
    let before = names.map(asked);
    // The first check reports s1, from one survey and one call about s1 alone.
    assert_eq!(
        inbox.recv().await.unwrap(),
        Input::SessionExited {
            session: SessionId::new("s1"),
            status: None,
        }
    );
    assert_eq!(survey.surveys.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(asked("s0"), before[0], "s0 was seen alive in the survey");
    assert_eq!(asked("s2"), before[2], "s2 was seen alive in the survey");
    assert_eq!(asked("s1"), before[1] + 1);
    // Later checks survey again; s1 is not reported twice.
    tokio::time::sleep(3 * session_watcher::LIVENESS_INTERVAL).await;
    assert!(survey.surveys.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    assert!(inbox.try_recv().is_err());
    assert_eq!(asked("s0"), before[0]);
    cancel.cancel();
    task.await.unwrap().unwrap();
}
