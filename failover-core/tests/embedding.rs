//! Embedding the engine the way the crate docs teach: effects run through
//! [`failover_core::execute`] against an embedder's own ports, and the activity contract on
//! `Effect::Launch` (a replayed prompt goes out once the launched session is reported idle).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use failover_core::testkit::{self, FakeBackend, MemCheckpointer, RecordingNotifier, Simulator};
use failover_core::testkit::{FakeOp, block_on};
use failover_core::{
    Activity, BackendError, ClaudeSessionId, Detection, Effect, FailoverEngine, Input,
    LaunchRequest, Launched, LimitWindow, Liveness, Ports, PromptSource, SessionBackend, SessionId,
    SignalSource, Subject, TranscriptSummary, UnixMillis, Verdict, execute,
};

/// An embedder's own backend: the fake underneath, every stop's grace written down, and a
/// record of conversations that says which prompt went unanswered.
#[derive(Default)]
struct OwnBackend {
    inner: FakeBackend,
    graces: Mutex<Vec<Duration>>,
    unanswered: Mutex<HashMap<ClaudeSessionId, String>>,
}

#[async_trait]
impl SessionBackend for OwnBackend {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, BackendError> {
        self.inner.launch(request).await
    }
    async fn stop(&self, session: &SessionId, grace: Duration) -> Result<(), BackendError> {
        self.graces.lock().unwrap().push(grace);
        self.inner.stop(session, grace).await
    }
    async fn send_input(&self, session: &SessionId, text: &str) -> Result<(), BackendError> {
        self.inner.send_input(session, text).await
    }
    async fn liveness(&self, session: &SessionId) -> Result<Liveness, BackendError> {
        self.inner.liveness(session).await
    }
    async fn liveness_all(&self) -> Result<HashMap<SessionId, Liveness>, BackendError> {
        self.inner.liveness_all().await
    }
}

#[async_trait]
impl PromptSource for OwnBackend {
    async fn recall(&self, dir: &Path, claude_session: &ClaudeSessionId) -> TranscriptSummary {
        let mut summary = self.inner.recall(dir, claude_session).await;
        if let Some(text) = self.unanswered.lock().unwrap().get(claude_session) {
            summary.last_prompt = Some(text.clone());
            summary.unanswered = true;
        }
        summary
    }
}

fn exhausted(session: &str, at: UnixMillis) -> Input {
    Input::Detection {
        subject: Subject::Session(SessionId::new(session)),
        source: SignalSource::Transcript,
        detection: Detection {
            verdict: Verdict::QuotaExhausted {
                window: LimitWindow::FiveHour,
                resets_at: Some(at + Duration::from_secs(3 * 3600)),
            },
            evidence: None,
        },
        observed_at: at,
    }
}

#[test]
fn the_simulator_runs_an_embedders_own_ports_with_the_engines_stop_grace() {
    let mut config = testkit::config(&["primary", "backup"], &["ccl-0"]);
    config.stop_grace = Duration::from_secs(7);
    let backend = Arc::new(OwnBackend::default());
    let mut sim = Simulator::with_ports(
        FailoverEngine::new(config).unwrap(),
        backend.clone(),
        Arc::new(MemCheckpointer::new()),
        Arc::new(RecordingNotifier::new()),
        backend.clone(),
        Simulator::START,
    );
    sim.start_empty();
    sim.advance(Duration::from_secs(5));
    let s = SessionId::new("ccl-0");
    assert_eq!(backend.inner.account_of(&s).unwrap().as_str(), "primary");

    // A prompt the API refused: the record shows it unanswered.
    sim.type_prompt(&s, "port the parser to nom 8");
    let conversation = backend.inner.session(&s).unwrap().claude_session;
    backend
        .unanswered
        .lock()
        .unwrap()
        .insert(conversation, "port the parser to nom 8".into());
    sim.send(exhausted("ccl-0", sim.now()));
    sim.advance(Duration::from_secs(10));

    assert_eq!(backend.inner.account_of(&s).unwrap().as_str(), "backup");
    assert_eq!(*backend.graces.lock().unwrap(), [Duration::from_secs(7)]);
    // Typed once by the operator and once by the replay, on the backup account.
    assert_eq!(backend.inner.calls(FakeOp::SendInput, &s), 2);
    assert!(sim.trace().iter().any(|e| matches!(
        &e.effect,
        Effect::SendPrompt { text, .. } if text == "port the parser to nom 8"
    )));
}

#[test]
fn a_replayed_prompt_goes_out_once_the_launched_session_is_reported_idle() {
    let config = testkit::config(&["primary", "backup"], &["ccl-0"]);
    let mut engine = FailoverEngine::new(config).unwrap();
    let backend = FakeBackend::new();
    let (checkpoints, notifier) = (MemCheckpointer::new(), RecordingNotifier::new());
    let ports = Ports {
        backend: &backend,
        checkpointer: &checkpoints,
        notifier: &notifier,
        prompts: &backend,
    };
    let s = SessionId::new("ccl-0");
    let mut now = Simulator::START;
    // The loop of `execute`'s docs, minus the idle reports: every reply is fed back at once.
    let run = |engine: &mut FailoverEngine, now: UnixMillis, first: Input| {
        let mut inputs = vec![first];
        let mut sent = Vec::new();
        while let Some(input) = inputs.pop() {
            for effect in engine.handle(now, input) {
                if let Effect::SendPrompt { text, .. } = &effect {
                    sent.push(text.clone());
                }
                inputs.extend(block_on(execute(effect, &ports, now)));
            }
        }
        sent
    };
    run(&mut engine, now, Input::AdoptionComplete);
    run(
        &mut engine,
        now,
        Input::SessionActivity {
            session: s.clone(),
            activity: Activity::Idle,
        },
    );
    block_on(backend.send_input(&s, "port the parser to nom 8")).unwrap();
    run(
        &mut engine,
        now,
        Input::SessionActivity {
            session: s.clone(),
            activity: Activity::Working,
        },
    );

    now = now + Duration::from_secs(60);
    let sent = run(&mut engine, now, exhausted("ccl-0", now));
    assert_eq!(backend.account_of(&s).unwrap().as_str(), "backup");
    assert!(
        sent.is_empty(),
        "nothing typed before the idle report: {sent:?}"
    );
    assert_eq!(backend.calls(FakeOp::SendInput, &s), 1);

    // The launched session shows its prompt: the interrupted one is replayed.
    let sent = run(
        &mut engine,
        now,
        Input::SessionActivity {
            session: s.clone(),
            activity: Activity::Idle,
        },
    );
    assert_eq!(sent, ["port the parser to nom 8"]);
    assert_eq!(backend.calls(FakeOp::SendInput, &s), 2);
    assert_eq!(
        backend.last_input(&s).as_deref(),
        Some("port the parser to nom 8")
    );
}
