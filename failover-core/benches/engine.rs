//! `FailoverEngine::handle` at 1,000 sessions: the cost of one input in steady state, and of
//! the input that starts a failover (which also builds a `Persist` of the whole state).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use failover_core::{
    Account, AccountId, Activity, ClaudeSessionId, Detection, EngineConfig, FailoverEngine, Input,
    LimitWindow, SessionId, SessionSpec, SignalSource, Subject, UnixMillis, Verdict,
};

const SESSIONS: usize = 1_000;

fn engine() -> FailoverEngine {
    let accounts = ["a", "b", "c"]
        .iter()
        .zip(0u32..)
        .map(|(id, preference)| Account {
            id: AccountId::new(*id),
            config_dir: PathBuf::from(format!("/accounts/{id}")),
            preference,
        })
        .collect();
    let sessions = (0..SESSIONS)
        .map(|i| SessionSpec {
            id: SessionId::new(format!("ccl-{i}")),
            dir: PathBuf::from(format!("/work/{i}")),
            task: None,
        })
        .collect();
    let mut engine = FailoverEngine::new(EngineConfig::new(accounts, sessions)).unwrap();
    let now = UnixMillis::from_secs(1_000);
    for i in 0..SESSIONS {
        engine.handle(
            now,
            Input::SessionStarted {
                session: SessionId::new(format!("ccl-{i}")),
                claude_session: Some(ClaudeSessionId::new(format!("conv-{i}"))),
                account: Some(AccountId::new("a")),
            },
        );
    }
    engine.handle(now, Input::AdoptionComplete);
    engine
}

/// The inputs a daemon feeds most: pane verdicts, activity changes, ticks.
fn steady_inputs() -> Vec<Input> {
    let mut inputs = Vec::new();
    for i in 0..SESSIONS {
        let session = SessionId::new(format!("ccl-{i}"));
        inputs.push(Input::Detection {
            subject: Subject::Session(session.clone()),
            source: SignalSource::Pane,
            detection: Detection::clear(),
            observed_at: UnixMillis::from_secs(1_000),
        });
        let activity = if i % 2 == 0 {
            Activity::Working
        } else {
            Activity::Idle
        };
        inputs.push(Input::SessionActivity { session, activity });
        if i % 10 == 0 {
            inputs.push(Input::Tick);
        }
    }
    inputs
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("handle_1000_sessions");

    let mut steady = engine();
    let inputs = steady_inputs();
    let mut i = 0usize;
    let mut now = UnixMillis::from_secs(1_001);
    group.bench_function("steady_state_input", |b| {
        b.iter(|| {
            i = (i + 1) % inputs.len();
            now = now + std::time::Duration::from_millis(1);
            black_box(steady.handle(now, inputs[i].clone()))
        });
    });

    let base = engine();
    let exhausted = Input::Detection {
        subject: Subject::Account(AccountId::new("a")),
        source: SignalSource::Statusline,
        detection: Detection {
            verdict: Verdict::QuotaExhausted {
                window: LimitWindow::FiveHour,
                resets_at: Some(UnixMillis::from_secs(20_000)),
            },
            evidence: None,
        },
        observed_at: UnixMillis::from_secs(1_002),
    };
    group.bench_function("failover_start_input", |b| {
        b.iter_batched(
            || base.clone(),
            |mut engine| {
                let effects = engine.handle(UnixMillis::from_secs(1_002), exhausted.clone());
                // Returned, so dropping 1,000 sessions is not part of the measurement.
                (engine, black_box(effects))
            },
            BatchSize::LargeInput,
        );
    });
    // The part of the failover input that is proportional to the pool: the state record.
    group.bench_function("persisted_state", |b| {
        b.iter(|| black_box(base.persisted_state()));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
