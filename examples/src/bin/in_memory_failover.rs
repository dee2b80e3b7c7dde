//! Embeds `failover-core` the way a daemon does, with the in-memory backend of its testkit,
//! and prints the failover the engine drives.
//!
//! Run it with `cargo run -p failover-examples --bin in_memory_failover`.
//!
//! The loop below is the whole embedding contract: feed each input to
//! `FailoverEngine::handle` with the current time, execute every effect through a port,
//! feed each result back as `Input::EffectFinished`, and wake the engine at
//! `next_deadline()`. A real daemon does the same with tmux, files and a real clock.

use std::collections::BTreeMap;
use std::time::Duration;

use failover_core::testkit::{self, FakeBackend, MemCheckpointer, RecordingNotifier, block_on};
use failover_core::{
    Activity, Checkpoint, Checkpointer, ClaudeSessionId, Detection, Effect, EffectOutcome,
    FailoverEngine, FailureKind, Input, LaunchRequest, LimitWindow, Notifier, PersistedState,
    SessionBackend, SessionId, SignalSource, Subject, UnixMillis, Verdict,
};

/// How long every port call takes in this simulation.
const LATENCY: Duration = Duration::from_millis(800);

struct Embedder {
    engine: FailoverEngine,
    backend: FakeBackend,
    checkpoints: MemCheckpointer,
    notifier: RecordingNotifier,
    now: UnixMillis,
    start: UnixMillis,
    /// Inputs that arrive later (effect results, sessions becoming idle), by time.
    inbox: BTreeMap<(UnixMillis, u64), Input>,
    seq: u64,
    /// The last persisted state (a real daemon writes it to disk, crash-safely).
    stored: Option<PersistedState>,
}

impl Embedder {
    fn later(&mut self, after: Duration, input: Input) {
        self.seq += 1;
        self.inbox.insert((self.now + after, self.seq), input);
    }

    fn handle(&mut self, input: Input) {
        let effects = self.engine.handle(self.now, input);
        for effect in effects {
            let secs = self.now.saturating_since(self.start).as_secs_f64();
            println!("[{secs:7.1}s] {}", testkit::render_effect(&effect));
            self.execute(effect);
        }
    }

    /// Routes one effect to the port that executes it.
    fn execute(&mut self, effect: Effect) {
        let failed = |kind, detail| EffectOutcome::Failed { kind, detail };
        match effect {
            Effect::Checkpoint {
                request,
                session,
                account,
                claude_session,
                dir,
                task,
            } => {
                let last_prompt = self.backend.last_input(&session);
                let checkpoint = Checkpoint {
                    session,
                    claude_session,
                    account,
                    dir,
                    task,
                    last_prompt: last_prompt.clone(),
                    last_tool_call: None,
                    taken_at: self.now,
                };
                let outcome = match block_on(self.checkpoints.save(&checkpoint)) {
                    Ok(()) => EffectOutcome::Checkpointed {
                        last_prompt,
                        unanswered: false,
                    },
                    Err(e) => failed(FailureKind::from(&e), e.to_string()),
                };
                self.later(LATENCY, Input::EffectFinished { request, outcome });
            }
            Effect::Stop { request, session } => {
                let outcome = match block_on(self.backend.stop(&session, Duration::from_secs(5))) {
                    Ok(()) => EffectOutcome::Stopped,
                    Err(e) => failed(FailureKind::from(&e), e.to_string()),
                };
                self.later(LATENCY, Input::EffectFinished { request, outcome });
            }
            Effect::Launch {
                request,
                session,
                account,
                config_dir,
                dir,
                resume,
            } => {
                let launch = LaunchRequest {
                    session: session.clone(),
                    dir,
                    account,
                    config_dir,
                    resume,
                };
                let outcome = match block_on(self.backend.launch(&launch)) {
                    Ok(launched) => {
                        // Claude Code draws its prompt a moment after it starts.
                        let idle = Input::SessionActivity {
                            session,
                            activity: Activity::Idle,
                        };
                        self.later(LATENCY * 2, idle);
                        EffectOutcome::Launched {
                            claude_session: launched.claude_session,
                            unanswered_prompt: None,
                        }
                    }
                    Err(e) => failed(FailureKind::from(&e), e.to_string()),
                };
                self.later(LATENCY, Input::EffectFinished { request, outcome });
            }
            Effect::SendPrompt {
                request,
                session,
                text,
            } => {
                let outcome = match block_on(self.backend.send_input(&session, &text)) {
                    Ok(()) => EffectOutcome::PromptSent,
                    Err(e) => failed(FailureKind::from(&e), e.to_string()),
                };
                self.later(LATENCY, Input::EffectFinished { request, outcome });
            }
            Effect::Notify(notification) => {
                let _ = block_on(self.notifier.notify(&notification));
            }
            Effect::Persist(state) => self.stored = Some(state),
            Effect::Reply { request, reply } => println!("          reply to {request}: {reply:?}"),
            Effect::DetectionVetoed {
                session, reason, ..
            } => println!("          pane evidence about {session} vetoed: {reason}"),
            // One host, no shared ledger configured: the engine never asks for these.
            Effect::PublishAccount(_)
            | Effect::PublishActive(_)
            | Effect::AcquireLease { .. }
            | Effect::ReadUsage { .. }
            | Effect::ReleaseLease => {}
        }
    }

    /// Runs the clock forward, delivering inputs and deadline ticks in time order.
    fn run_for(&mut self, span: Duration) {
        let until = self.now + span;
        loop {
            let queued = self.inbox.keys().next().map(|(at, _)| *at);
            let next = match (queued, self.engine.next_deadline()) {
                (Some(q), Some(d)) => q.min(d),
                (q, d) => match q.or(d) {
                    Some(at) => at,
                    None => break,
                },
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            match self.inbox.first_key_value() {
                Some((&(at, _), _)) if at <= self.now => {
                    let (_, input) = self.inbox.pop_first().expect("just seen");
                    self.handle(input);
                }
                _ => self.handle(Input::Tick),
            }
        }
        self.now = until;
    }

    fn say(&self, text: &str) {
        let secs = self.now.saturating_since(self.start).as_secs_f64();
        println!("[{secs:7.1}s] -- {text}");
    }
}

fn pane_verdict(session: &str, verdict: Verdict, at: UnixMillis) -> Input {
    Input::Detection {
        subject: Subject::Session(SessionId::new(session)),
        source: SignalSource::Pane,
        detection: Detection {
            verdict,
            evidence: Some("You've hit your 5-hour limit".to_owned()),
        },
        observed_at: at,
    }
}

fn main() {
    let config = testkit::config(&["work", "personal"], &["ccl-0", "ccl-1"]);
    let start = UnixMillis::from_secs(1_795_683_600); // 2026-11-26T09:00:00Z
    let mut app = Embedder {
        engine: FailoverEngine::new(config).expect("valid configuration"),
        backend: FakeBackend::new(),
        checkpoints: MemCheckpointer::new(),
        notifier: RecordingNotifier::new(),
        now: start,
        start,
        inbox: BTreeMap::new(),
        seq: 0,
        stored: None,
    };

    // ccl-0 was already running on `work` when the daemon started: it is adopted, not
    // relaunched. ccl-1 is not running: the engine launches it.
    app.backend.insert_running(
        "ccl-0".into(),
        "work".into(),
        ClaudeSessionId::new("5f1e-aaaa"),
    );
    app.say("startup: adopt what runs, then let the engine launch the rest");
    for (session, account, claude_session) in app.backend.running() {
        app.handle(Input::SessionStarted {
            session,
            claude_session: Some(claude_session),
            account: Some(account),
        });
    }
    app.handle(Input::AdoptionComplete);
    app.run_for(Duration::from_secs(5));

    app.say("ccl-0 gets a prompt and starts working");
    block_on(
        app.backend
            .send_input(&"ccl-0".into(), "port the parser to nom 8"),
    )
    .ok();
    app.handle(Input::SessionActivity {
        session: "ccl-0".into(),
        activity: Activity::Working,
    });
    app.run_for(Duration::from_secs(60));

    // The quota monitor captures ccl-0's pane every few seconds; a pane verdict needs two
    // consecutive observations before the engine acts.
    let resets = start + Duration::from_secs(2 * 3600);
    let exhausted = Verdict::QuotaExhausted {
        window: LimitWindow::FiveHour,
        resets_at: Some(resets),
    };
    app.say("the pane of ccl-0 shows the five-hour limit (first capture)");
    app.handle(pane_verdict("ccl-0", exhausted.clone(), app.now));
    app.run_for(Duration::from_secs(5));
    app.say("... and again on the next capture: confirmed");
    app.handle(pane_verdict("ccl-0", exhausted, app.now));
    app.run_for(Duration::from_secs(60));

    app.say("two hours later the `work` window resets");
    app.run_for(resets.saturating_since(app.now) + Duration::from_secs(60));

    app.say("ccl-0 is mid-turn, so it stays until its turn completes");
    app.handle(Input::SessionActivity {
        session: "ccl-0".into(),
        activity: Activity::Idle,
    });
    app.run_for(Duration::from_secs(30));

    println!();
    for (session, account, claude_session) in app.backend.running() {
        let inputs = app
            .backend
            .session(&session)
            .map(|s| s.inputs)
            .unwrap_or_default();
        println!(
            "{session}: on {account}, conversation {claude_session}, prompts typed: {inputs:?}"
        );
    }
    println!("notifications:");
    for n in app.notifier.received() {
        println!("  {} [{}] {}", n.severity, n.dedup_key, n.summary);
    }
    let stored = app.stored.as_ref().and_then(|s| s.active_account.clone());
    println!(
        "persisted active account: {}",
        stored.map_or("-".to_owned(), |a| a.to_string())
    );
}
