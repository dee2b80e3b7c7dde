//! `FailoverEngine::standbys`: which sessions should have a program ready ahead of a move,
//! and on which account. Each test drives a fresh engine with a script of timed inputs,
//! then reads the query, rendered one `session->account(conversation)` per standby.

use std::path::PathBuf;

use failover_core::testkit;
use failover_core::{
    AccountState, ClaudeSessionId, Command, CommandId, EffectOutcome, EngineConfig, FailoverEngine,
    Input, LimitWindow, PolicyMode, RequestId, UnixMillis, UsageReport, WindowUsage,
};

/// Runs `script` (seconds, input) on a fresh engine of `config`; returns it.
fn run(config: EngineConfig, script: Vec<(i64, Input)>) -> FailoverEngine {
    let mut engine = FailoverEngine::new(config).unwrap();
    for (secs, input) in script {
        engine.handle(UnixMillis::from_secs(secs), input);
    }
    engine
}

/// The standbys at `secs`, rendered; also checks each request's directory and config dir
/// against the configuration's.
fn standbys(engine: &FailoverEngine, secs: i64) -> Vec<String> {
    engine
        .standbys(UnixMillis::from_secs(secs))
        .into_iter()
        .map(|r| {
            assert_eq!(r.dir, PathBuf::from(format!("/work/{}", r.session)));
            assert_eq!(
                r.config_dir,
                PathBuf::from(format!("/accounts/{}", r.account))
            );
            let conv = r.resume.as_ref().map_or("-", ClaudeSessionId::as_str);
            format!("{}->{}({conv})", r.session, r.account)
        })
        .collect()
}

fn started(s: &str, conv: &str, account: &str) -> Input {
    Input::SessionStarted {
        session: s.into(),
        claude_session: Some(ClaudeSessionId::new(conv)),
        account: Some(account.into()),
    }
}

/// `account` seen at `used` percent of its five-hour window (the statusline's reading).
fn used(at: i64, account: &str, used: f32) -> Input {
    testkit::account_seen(
        account,
        AccountState::NearLimit {
            window: LimitWindow::FiveHour,
            used_percent: used,
            resets_at: None,
        },
        UnixMillis::from_secs(at),
    )
}

fn exhausted(at: i64, account: &str) -> Input {
    testkit::account_seen(
        account,
        AccountState::Exhausted {
            window: LimitWindow::FiveHour,
            until: UnixMillis::from_secs(at + 3600),
        },
        UnixMillis::from_secs(at),
    )
}

fn cmd(id: u64, command: Command) -> Input {
    Input::Command {
        id: CommandId::new(id),
        command,
    }
}

/// Three accounts, `sessions` running on `a` with conversations `c<n>`, adoption over.
fn on_a(accounts: &[&str], sessions: &[&str]) -> (EngineConfig, Vec<(i64, Input)>) {
    let config = testkit::config(accounts, sessions);
    let mut script: Vec<(i64, Input)> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| (0, started(s, &format!("c{}", i + 1), "a")))
        .collect();
    script.push((0, Input::AdoptionComplete));
    (config, script)
}

#[test]
fn below_the_percent_no_standby_at_it_the_next_account() {
    let (config, mut script) = on_a(&["a", "b", "c"], &["s1", "s2"]);
    script.push((10, used(10, "a", 79.0)));
    let engine = run(config.clone(), script.clone());
    assert_eq!(standbys(&engine, 10), Vec::<String>::new());

    script.push((20, used(20, "a", 80.0)));
    let engine = run(config, script);
    assert_eq!(standbys(&engine, 20), ["s1->b(c1)", "s2->b(c2)"]);
}

#[test]
fn a_usage_report_under_the_near_limit_floor_counts_too() {
    let (mut config, mut script) = on_a(&["a", "b"], &["s1"]);
    config.standby_percent = Some(40.0);
    let report = |pct: f32| UsageReport {
        windows: vec![WindowUsage {
            window: LimitWindow::FiveHour,
            used_percent: pct,
            resets_at: None,
        }],
        extra_usage: false,
        grants: Vec::new(),
    };
    script.push((
        10,
        Input::UsageObserved {
            account: "a".into(),
            report: report(39.0),
        },
    ));
    assert!(standbys(&run(config.clone(), script.clone()), 10).is_empty());
    script.push((
        20,
        Input::UsageObserved {
            account: "a".into(),
            report: report(41.0),
        },
    ));
    assert_eq!(standbys(&run(config, script), 20), ["s1->b(c1)"]);
}

#[test]
fn an_exhausted_destination_is_skipped_and_none_left_means_no_standby() {
    let (config, mut script) = on_a(&["a", "b", "c"], &["s1"]);
    script.push((5, exhausted(5, "b")));
    script.push((10, used(10, "a", 85.0)));
    let engine = run(config.clone(), script.clone());
    assert_eq!(standbys(&engine, 10), ["s1->c(c1)"]);

    script.push((15, exhausted(15, "c")));
    let engine = run(config, script);
    assert_eq!(standbys(&engine, 15), Vec::<String>::new());
}

#[test]
fn a_destination_needing_a_login_is_skipped() {
    let (config, mut script) = on_a(&["a", "b", "c"], &["s1"]);
    script.push((
        5,
        testkit::account_seen("b", AccountState::NeedsLogin, UnixMillis::from_secs(5)),
    ));
    script.push((10, used(10, "a", 85.0)));
    assert_eq!(standbys(&run(config, script), 10), ["s1->c(c1)"]);
}

#[test]
fn sessions_moving_have_none_and_those_still_waiting_in_the_swap_keep_theirs() {
    let (mut config, mut script) = on_a(&["a", "b"], &["s1", "s2"]);
    config.parallel_moves = 1;
    script.push((10, used(10, "a", 85.0)));
    // The quota runs out: the swap a->b starts with s1 (checkpoint #1); s2 waits its turn.
    script.push((20, exhausted(20, "a")));
    let engine = run(config.clone(), script.clone());
    assert_eq!(standbys(&engine, 20), ["s2->b(c2)"]);

    // s1 lands on b (checkpointed, stopped, launched): s2 moves next, and has none either.
    for (request, outcome) in [
        (
            1,
            EffectOutcome::Checkpointed {
                last_prompt: None,
                unanswered: false,
            },
        ),
        (2, EffectOutcome::Stopped),
        (
            3,
            EffectOutcome::Launched {
                claude_session: ClaudeSessionId::new("c1"),
                unanswered_prompt: None,
            },
        ),
    ] {
        script.push((
            21,
            Input::EffectFinished {
                request: RequestId::for_tests(request),
                outcome,
            },
        ));
    }
    let engine = run(config, script);
    let moving: Vec<_> = engine.snapshot().swap.map(|s| s.moving).unwrap_or_default();
    assert_eq!(moving, ["s2".into()], "s2's move is under way");
    assert_eq!(standbys(&engine, 21), Vec::<String>::new());
}

#[test]
fn a_paused_or_draining_engine_has_none() {
    let (config, mut script) = on_a(&["a", "b"], &["s1"]);
    script.push((10, used(10, "a", 85.0)));
    let mut paused = script.clone();
    paused.push((11, cmd(1, Command::Pause)));
    assert_eq!(
        standbys(&run(config.clone(), paused.clone()), 11),
        Vec::<String>::new()
    );
    paused.push((12, cmd(2, Command::Resume)));
    assert_eq!(standbys(&run(config.clone(), paused), 12), ["s1->b(c1)"]);

    script.push((11, cmd(1, Command::Drain)));
    assert_eq!(standbys(&run(config, script), 11), Vec::<String>::new());
}

#[test]
fn off_means_none_and_before_adoption_none() {
    let (mut config, mut script) = on_a(&["a", "b"], &["s1"]);
    script.push((10, exhausted(10, "a")));
    config.standby_percent = None;
    assert_eq!(
        standbys(&run(config.clone(), script), 10),
        Vec::<String>::new()
    );

    config.standby_percent = Some(80.0);
    let early = vec![(0, started("s1", "c1", "a")), (1, used(1, "a", 95.0))];
    assert_eq!(standbys(&run(config, early), 1), Vec::<String>::new());
}

#[test]
fn past_the_proactive_threshold_counts_whatever_the_percent() {
    let (mut config, mut script) = on_a(&["a", "b"], &["s1"]);
    config.standby_percent = Some(99.0);
    config.proactive_percent = 90.0;
    // Working, so the proactive move waits for the turn's end.
    script.push((
        5,
        Input::SessionActivity {
            session: "s1".into(),
            activity: failover_core::Activity::Working,
        },
    ));
    script.push((10, used(10, "a", 92.0)));
    let engine = run(config, script);
    assert_eq!(standbys(&engine, 10), ["s1->b(c1)"]);
}

#[test]
fn single_active_sends_sessions_to_the_strategys_choice() {
    // Most headroom: c (30 %) beats b (60 %), though b is preferred.
    let (mut config, mut script) = on_a(&["a", "b", "c"], &["s1"]);
    config.strategy = failover_core::Strategy::MostHeadroom;
    script.push((5, used(5, "b", 60.0)));
    script.push((
        6,
        Input::UsageObserved {
            account: "c".into(),
            report: UsageReport {
                windows: vec![WindowUsage {
                    window: LimitWindow::FiveHour,
                    used_percent: 30.0,
                    resets_at: None,
                }],
                extra_usage: false,
                grants: Vec::new(),
            },
        },
    ));
    script.push((10, used(10, "a", 85.0)));
    assert_eq!(standbys(&run(config, script), 10), ["s1->c(c1)"]);
}

#[test]
fn spread_places_each_standby_where_the_load_is_lowest() {
    let (mut config, mut script) = on_a(&["a", "b", "c", "d"], &["s1", "s2", "s3"]);
    config.mode = PolicyMode::Spread;
    // d already runs s3: s1 and s2 go to b and c, one each.
    script[2] = (0, started("s3", "c3", "d"));
    script.push((10, used(10, "a", 85.0)));
    let engine = run(config, script);
    let got = standbys(&engine, 10);
    assert_eq!(got, ["s1->b(c1)", "s2->c(c2)"]);
}

#[test]
fn at_most_standby_max_the_first_in_name_order_and_none_without_a_conversation() {
    let (mut config, mut script) = on_a(&["a", "b"], &["s1", "s2", "s3", "s4"]);
    config.standby_max = 2;
    // s2's conversation is not known: nothing to resume, no standby for it.
    script[1].1 = Input::SessionStarted {
        session: "s2".into(),
        claude_session: None,
        account: Some("a".into()),
    };
    script.push((10, used(10, "a", 85.0)));
    let engine = run(config.clone(), script.clone());
    assert_eq!(standbys(&engine, 10), ["s1->b(c1)", "s3->b(c3)"]);

    config.standby_max = 8;
    let engine = run(config, script);
    assert_eq!(
        standbys(&engine, 10),
        ["s1->b(c1)", "s3->b(c3)", "s4->b(c4)"]
    );
}
