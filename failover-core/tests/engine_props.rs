//! Engine invariants over random input sequences (strategies from `failover_core::testkit`).
//!
//! - `handle` never panics, whatever arrives in whatever order;
//! - never two swaps in flight, and within the one in flight never more than
//!   `parallel_moves` sessions moving: the sessions in swap steps are exactly the swap's
//!   moving ones, and there are at most that many;
//! - no launch onto an account that is exhausted at that instant, needs a login or runs on
//!   extra usage (unless allowed; extra usage is seen in usage reports and in `extra_usage`
//!   verdicts from the screen and headers), nor onto one past its proactive threshold
//!   while a better one exists, whatever the strategy, thresholds, usage reports and
//!   whether usage is read right before choosing; and the pool's own choice (`best_for`),
//!   for sessions of no model and of each model-scoped window, is always of the best tier
//!   there is (headroom, then a used-up model window, then low headroom, then past the
//!   threshold);
//! - a transient verdict never causes anything a plain tick would not (so never a swap);
//! - the same inputs give the same effects;
//! - `next_deadline()` is never in the past after `handle`;
//! - no effect ever names a session that is not configured;
//! - `Persist` is emitted exactly when the persisted state changed; every command gets one
//!   reply;
//! - driven by the simulator (effects executed, results fed back), no session is ever
//!   launched while it already runs.

use std::time::Duration;

use failover_core::testkit::{self, Simulator, strategies};
use failover_core::{
    AccountId, Detection, Effect, EngineConfig, FailoverEngine, Input, LimitWindow, PolicyMode,
    SessionId, SessionState, SignalSource, Strategy as Pick, Subject, Tier, TransientKind,
    UnixMillis, Verdict,
};
use proptest::prelude::*;

const ACCOUNTS: [&str; 3] = ["a", "b", "c"];
const SESSIONS: [&str; 3] = ["s1", "s2", "s3"];
/// Reset instants and observations fall within the first two hours.
const HORIZON_SECS: i64 = 7200;

fn accounts() -> Vec<AccountId> {
    ACCOUNTS.iter().map(|a| AccountId::new(*a)).collect()
}

/// The configured sessions plus one that is not configured: inputs about it must be
/// ignored, and no effect may ever name it.
fn sessions() -> Vec<SessionId> {
    SESSIONS
        .iter()
        .chain(["ghost"].iter())
        .map(|s| SessionId::new(*s))
        .collect()
}

fn config(spread: bool, parallel: usize) -> EngineConfig {
    let mut config = testkit::config(&ACCOUNTS, &SESSIONS);
    if spread {
        config.mode = PolicyMode::Spread;
    }
    config.parallel_moves = parallel;
    config
}

/// The selection knobs: strategy, `min_headroom_percent`, a per-account threshold,
/// `allow_extra_usage`, `follow_model`, `read_usage_before_choosing`.
type Knobs = (Pick, f32, Option<f32>, bool, bool, bool);

fn knobs() -> impl Strategy<Value = Knobs> {
    (
        prop::sample::select(vec![
            Pick::Preference,
            Pick::DrainSoonest,
            Pick::MostHeadroom,
        ]),
        0.0f32..40.0,
        prop::option::of(50.0f32..100.0),
        prop::bool::ANY,
        prop::bool::ANY,
        prop::bool::ANY,
    )
}

fn tuned(spread: bool, parallel: usize, knobs: Knobs) -> EngineConfig {
    let (strategy, min_headroom, override_b, allow_extra, follow, read_usage) = knobs;
    let mut config = config(spread, parallel);
    config.strategy = strategy;
    config.min_headroom_percent = min_headroom;
    if let Some(pct) = override_b {
        config.proactive_overrides.insert(AccountId::new("b"), pct);
    }
    config.allow_extra_usage = allow_extra;
    config.follow_model = follow;
    config.read_usage_before_choosing = read_usage;
    config
}

/// How many sessions a swap may move at once: from strictly one by one to all of them.
fn parallel() -> impl Strategy<Value = usize> {
    1..=SESSIONS.len()
}

/// The sessions in a swap step are exactly the swap's moving ones, and never more than
/// `parallel_moves` (no swap, no session in a swap step).
fn check_moves(engine: &FailoverEngine) -> Result<(), String> {
    let stepping: Vec<SessionId> = engine
        .session_states()
        .filter(|(_, s)| s.is_swap_step())
        .map(|(id, _)| id.clone())
        .collect();
    let moving = engine.snapshot().swap.map(|s| s.moving).unwrap_or_default();
    if stepping != moving {
        return Err(format!(
            "sessions in swap steps {stepping:?}, swap moving {moving:?}"
        ));
    }
    let limit = engine.config().parallel_moves;
    if moving.len() > limit {
        return Err(format!("{} sessions moving, limit {limit}", moving.len()));
    }
    Ok(())
}

fn script() -> impl Strategy<Value = Vec<(Duration, Input)>> {
    // Adoption completes first in most scripts, so the interesting states are reached.
    (
        prop::bool::weighted(0.9),
        strategies::script(sessions(), accounts(), HORIZON_SECS, 400, 1..80),
    )
        .prop_map(|(adopt, mut script)| {
            if adopt {
                script.insert(0, (Duration::ZERO, Input::AdoptionComplete));
            }
            script
        })
}

/// Runs a script, checking the per-step invariants; returns every effect.
fn run_checked(engine: &mut FailoverEngine, script: &[(Duration, Input)]) -> Vec<Effect> {
    let mut now = UnixMillis::EPOCH;
    let mut all = Vec::new();
    let mut persisted = engine.persisted_state();
    for (gap, input) in script {
        now = now + *gap;
        let is_command = matches!(input, Input::Command { .. });
        let effects = engine.handle(now, input.clone());

        // One swap in flight, at most `parallel_moves` of its sessions moving.
        if let Err(e) = check_moves(engine) {
            panic!("{e}");
        }

        // Launches only onto accounts usable at this instant (not exhausted, no login
        // needed, not on extra usage unless allowed), and never onto one past its
        // proactive threshold while a better one exists.
        let pool = engine.accounts();
        let best_tier = pool
            .iter()
            .filter_map(|e| pool.tier(&e.account.id, now))
            .min();
        for effect in &effects {
            if let Effect::Launch { account, .. } = effect {
                let state = pool.state(account).cloned();
                assert!(
                    pool.is_usable(account, now),
                    "launch onto {account} in state {state:?} at {now}"
                );
                let tier = pool.tier(account, now);
                assert!(
                    tier != Some(Tier::NearLimit) || best_tier == Some(Tier::NearLimit),
                    "launch onto {account} past its threshold while a better one exists \
                     ({best_tier:?})"
                );
            }
        }
        // The pool's choice, for any models, is of the best tier there is.
        for models in [
            &[][..],
            &[LimitWindow::WeeklyOpus][..],
            &[LimitWindow::WeeklySonnet][..],
        ] {
            let best = pool.best_for(now, None, models);
            let best = best.and_then(|b| pool.tier_for(b, now, models));
            let min = pool
                .iter()
                .filter_map(|e| pool.tier_for(&e.account.id, now, models))
                .min();
            assert_eq!(best, min, "the pool chose an account of a worse tier");
            assert_eq!(best.is_some(), pool.any_usable(now));
        }

        // No effect for a session that is not configured.
        for effect in &effects {
            let session = match effect {
                Effect::Checkpoint { session, .. }
                | Effect::Stop { session, .. }
                | Effect::Launch { session, .. }
                | Effect::SendPrompt { session, .. } => Some(session),
                _ => None,
            };
            assert!(
                session.is_none_or(|s| s.as_str() != "ghost"),
                "effect for an unknown session"
            );
        }

        // Standbys: one per session at most, only for a session that runs and is not
        // moving, on a usable account other than its own, with its own dir, the account's
        // config dir and its conversation.
        let snapshot = engine.snapshot();
        let standbys = engine.standbys(now);
        let mut seen = std::collections::BTreeSet::new();
        for r in &standbys {
            assert!(seen.insert(&r.session), "two standbys for {}", r.session);
            let (_, state) = engine
                .session_states()
                .find(|(id, _)| **id == r.session)
                .expect("a configured session");
            let (SessionState::Running { account, .. } | SessionState::Prompting { account, .. }) =
                state
            else {
                panic!("standby for {} in state {state:?}", r.session);
            };
            assert_ne!(&r.account, account, "standby on the session's own account");
            assert!(
                pool.is_usable(&r.account, now),
                "standby on unusable {}",
                r.account
            );
            let entry = pool.get(&r.account).unwrap();
            assert_eq!(r.config_dir, entry.account.config_dir);
            let s = snapshot
                .sessions
                .iter()
                .find(|s| s.id == r.session)
                .unwrap();
            assert_eq!(r.resume, s.claude_session, "the session's conversation");
            let spec = engine
                .config()
                .sessions
                .iter()
                .find(|x| x.id == r.session)
                .unwrap();
            assert_eq!(r.dir, spec.dir);
        }
        if snapshot.paused || snapshot.draining || engine.config().standby_percent.is_none() {
            assert!(
                standbys.is_empty(),
                "standbys while paused, draining or off"
            );
        }

        // Deadlines are never in the past.
        if let Some(deadline) = engine.next_deadline() {
            assert!(deadline >= now, "deadline {deadline} before now {now}");
        }

        // Persist exactly when the persisted state changed; the latest one wins.
        let persists: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        let current = engine.persisted_state();
        match persists.last() {
            Some(last) => assert_eq!(last, &current),
            None => assert_eq!(
                persisted, current,
                "persisted state changed without Persist"
            ),
        }
        persisted = current;

        // Every command gets exactly one reply.
        let replies = effects
            .iter()
            .filter(|e| matches!(e, Effect::Reply { .. }))
            .count();
        assert_eq!(replies, usize::from(is_command));

        // Every effect that expects a reply is tracked by a session in a waiting state.
        for effect in &effects {
            if let Some(request) = effect.request() {
                assert!(
                    engine
                        .session_states()
                        .any(|(_, s)| s.pending_request().map(|(r, _)| r) == Some(request)),
                    "request {request} emitted but not awaited"
                );
            }
        }
        all.extend(effects);
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn invariants_hold_single_active(
        script in script(),
        parallel in parallel(),
        knobs in knobs(),
    ) {
        let mut engine = FailoverEngine::new(tuned(false, parallel, knobs)).unwrap();
        run_checked(&mut engine, &script);
    }

    #[test]
    fn invariants_hold_spread(script in script(), parallel in parallel(), knobs in knobs()) {
        let mut engine = FailoverEngine::new(tuned(true, parallel, knobs)).unwrap();
        run_checked(&mut engine, &script);
    }

    #[test]
    fn same_inputs_same_effects(
        script in script(),
        spread in prop::bool::ANY,
        parallel in parallel(),
    ) {
        let mut one = FailoverEngine::new(config(spread, parallel)).unwrap();
        let mut two = FailoverEngine::new(config(spread, parallel)).unwrap();
        let a = run_checked(&mut one, &script);
        let b = run_checked(&mut two, &script);
        prop_assert_eq!(a, b);
        prop_assert_eq!(one.snapshot(), two.snapshot());
    }

    /// At every point of a random run, a transient verdict (any source, any subject) yields
    /// exactly the effects a plain tick at the same instant would: it can veto, never act.
    #[test]
    fn transient_verdicts_never_cause_anything(
        script in script(),
        spread in prop::bool::ANY,
        subject_is_session in prop::bool::ANY,
        source in strategies::source(),
        kind in prop::sample::select(vec![
            TransientKind::ServerError, TransientKind::Overloaded,
            TransientKind::Throttled, TransientKind::Network,
        ]),
    ) {
        let mut engine = FailoverEngine::new(config(spread, 2)).unwrap();
        let mut now = UnixMillis::EPOCH;
        for (gap, input) in &script {
            now = now + *gap;
            for subject in [Subject::Session("s1".into()), Subject::Account("a".into())] {
                if subject_is_session != matches!(subject, Subject::Session(_)) {
                    continue;
                }
                let transient = Input::Detection {
                    subject,
                    source,
                    detection: Detection { verdict: Verdict::Transient { kind }, evidence: None },
                    observed_at: now,
                };
                let with_transient = engine.clone().handle(now, transient);
                let with_tick = engine.clone().handle(now, Input::Tick);
                prop_assert_eq!(with_transient, with_tick);
            }
            engine.handle(now, input.clone());
        }
    }
}

/// World events for the simulator run: what operators, detectors and crashing processes do;
/// effect replies come from the simulator itself.
#[derive(Clone, Debug)]
enum World {
    Detect(Input),
    Exit(SessionId),
    Prompt(SessionId),
    Command(Input),
    Wait(u64),
}

fn world() -> impl Strategy<Value = World> {
    let s = prop::sample::select(sessions());
    prop_oneof![
        4 => strategies::detection_input(sessions(), accounts(), HORIZON_SECS).prop_map(World::Detect),
        1 => s.clone().prop_map(World::Exit),
        2 => s.prop_map(World::Prompt),
        1 => (1000u64..2000, strategies::command(accounts())).prop_map(|(r, command)| {
            World::Command(Input::Command { id: failover_core::CommandId::new(r), command })
        }),
        4 => (1u64..900).prop_map(World::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// With effects really executed against the fakes: no session is launched while it
    /// runs, every running session sits on a configured account, and nothing panics.
    #[test]
    fn simulated_runs_never_launch_twice(
        events in prop::collection::vec(world(), 1..60),
        spread in prop::bool::ANY,
        parallel in parallel(),
    ) {
        let mut sim = Simulator::new(config(spread, parallel)).unwrap();
        sim.start();
        for event in events {
            match event {
                World::Detect(input) | World::Command(input) => sim.send(input),
                World::Exit(session) => {
                    sim.backend().kill(&session);
                    sim.send(Input::SessionExited { session, status: Some(1) });
                }
                World::Prompt(session) => {
                    let running = sim.engine().session_states().any(|(id, s)| {
                        *id == session && matches!(s, SessionState::Running { .. })
                    });
                    if running {
                        sim.type_prompt(&session, "keep going");
                    }
                }
                World::Wait(secs) => sim.advance(Duration::from_secs(secs)),
            }
            prop_assert_eq!(sim.launch_conflicts(), 0);
            if let Err(e) = check_moves(sim.engine()) {
                prop_assert!(false, "{}", e);
            }
        }
        sim.advance(Duration::from_secs(3 * 3600));
        prop_assert_eq!(sim.launch_conflicts(), 0);
    }
}

#[test]
fn a_structured_quota_verdict_in_a_simulated_run_moves_every_session() {
    let mut sim = Simulator::new(testkit::config(&["a", "b"], &["s1", "s2"])).unwrap();
    sim.start();
    sim.advance(Duration::from_secs(5));
    sim.type_prompt(&"s1".into(), "refactor the parser");
    sim.send(Input::Detection {
        subject: Subject::Session("s1".into()),
        source: SignalSource::Transcript,
        detection: Detection {
            verdict: Verdict::QuotaExhausted {
                window: LimitWindow::FiveHour,
                resets_at: None,
            },
            evidence: None,
        },
        observed_at: sim.now(),
    });
    sim.advance(Duration::from_secs(60));
    for s in ["s1", "s2"] {
        assert_eq!(sim.backend().account_of(&s.into()), Some("b".into()));
    }
    // The interrupted prompt was typed again on the new account.
    let s1 = sim.backend().session(&"s1".into()).unwrap();
    assert_eq!(s1.inputs, ["refactor the parser", "refactor the parser"]);
    assert_eq!(sim.engine().snapshot().swaps_completed, 1);
    assert_eq!(sim.launch_conflicts(), 0);
}
