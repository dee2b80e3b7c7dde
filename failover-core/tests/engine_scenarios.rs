//! Data-driven engine scenarios: a script of timed inputs → the expected effect trace.
//!
//! Each test is one `check(setup, script, expect)` call. The script lists `(seconds, input)`
//! pairs fed to a fresh engine; the expectation is the rendered trace, one
//! `t=<seconds> <effect>` line per effect (see `failover_core::testkit::render_effect`).
//! Effect replies are part of the script, so request ids (`#1`, `#2`, ...) are deterministic.

use failover_core::quota::{PaneDetector, WRAP_UP_PERCENT};
use failover_core::testkit::{self, render_effect};
use failover_core::{
    AccountNews, AccountState, Activity, AuthReason, ClaudeSessionId, Command, CommandId,
    ConfigError, Corroboration, Detection, Effect, EffectOutcome, EngineConfig, FailoverEngine,
    FailureKind, HostId, Input, LeaseOutcome, LedgerSettings, LimitWindow, PersistedState,
    PolicyMode, RequestId, SessionState, SignalSource, Strategy, Subject, TransientKind,
    UnixMillis, UsageReport, Verdict, WindowUsage,
};
use failover_core::{DetectContext, QuotaDetector};

// ----- the harness -----

enum Setup {
    Fresh(EngineConfig),
    Restored(EngineConfig, PersistedState),
}

fn check(setup: Setup, script: Vec<(i64, Input)>, expect: &str) {
    let mut engine = match setup {
        Setup::Fresh(config) => FailoverEngine::new(config).unwrap(),
        Setup::Restored(config, state) => FailoverEngine::restore(config, state).unwrap(),
    };
    let mut actual = String::new();
    for (secs, input) in script {
        for effect in engine.handle(UnixMillis::from_secs(secs), input) {
            actual.push_str(&format!("t={secs} {}\n", render_effect(&effect)));
        }
    }
    let expect: String = expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        actual == expect,
        "trace differs\n--- expected\n{expect}--- actual\n{actual}"
    );
}

fn two() -> Setup {
    Setup::Fresh(testkit::config(&["a", "b"], &["s1"]))
}

fn cfg(accounts: &[&str], sessions: &[&str]) -> EngineConfig {
    testkit::config(accounts, sessions)
}

/// A configuration whose swaps move at most `parallel` sessions at once.
fn cfg_parallel(accounts: &[&str], sessions: &[&str], parallel: usize) -> EngineConfig {
    let mut config = testkit::config(accounts, sessions);
    config.parallel_moves = parallel;
    config
}

// ----- input shorthands -----

fn started(s: &str, conv: &str, account: &str) -> Input {
    Input::SessionStarted {
        session: s.into(),
        claude_session: Some(ClaudeSessionId::new(conv)),
        account: Some(account.into()),
    }
}

fn adopted() -> Input {
    Input::AdoptionComplete
}

fn detect(subject: Subject, source: SignalSource, verdict: Verdict, observed: i64) -> Input {
    Input::Detection {
        subject,
        source,
        detection: Detection {
            verdict,
            evidence: None,
        },
        observed_at: UnixMillis::from_secs(observed),
    }
}

fn pane(s: &str, verdict: Verdict, observed: i64) -> Input {
    detect(
        Subject::Session(s.into()),
        SignalSource::Pane,
        verdict,
        observed,
    )
}

fn transcript(s: &str, verdict: Verdict, observed: i64) -> Input {
    detect(
        Subject::Session(s.into()),
        SignalSource::Transcript,
        verdict,
        observed,
    )
}

fn statusline(account: &str, verdict: Verdict, observed: i64) -> Input {
    detect(
        Subject::Account(account.into()),
        SignalSource::Statusline,
        verdict,
        observed,
    )
}

fn fact(s: &str, fact: Corroboration, observed: i64) -> Input {
    Input::Corroboration {
        session: s.into(),
        fact,
        observed_at: UnixMillis::from_secs(observed),
    }
}

fn replied(s: &str, observed: i64) -> Input {
    fact(s, Corroboration::OrdinaryReply, observed)
}

fn prompt_written(s: &str, observed: i64) -> Input {
    fact(s, Corroboration::PromptWritten, observed)
}

fn statusline_usage(s: &str, used_percent: f32, observed: i64) -> Input {
    fact(
        s,
        Corroboration::Usage(vec![WindowUsage {
            window: LimitWindow::FiveHour,
            used_percent,
            resets_at: None,
        }]),
        observed,
    )
}

fn exhausted(resets: Option<i64>) -> Verdict {
    Verdict::QuotaExhausted {
        window: LimitWindow::FiveHour,
        resets_at: resets.map(UnixMillis::from_secs),
    }
}

fn near(used: f32, resets: Option<i64>) -> Verdict {
    Verdict::NearLimit {
        window: LimitWindow::FiveHour,
        used_percent: used,
        resets_at: resets.map(UnixMillis::from_secs),
    }
}

fn transient() -> Verdict {
    Verdict::Transient {
        kind: TransientKind::Overloaded,
    }
}

/// `account` seen in `state` at `at` seconds, as an embedder reports it: the statusline's
/// reading, or a 401 in the response headers for a login matter.
fn observed(at: i64, account: &str, state: AccountState) -> Input {
    testkit::account_seen(account, state, UnixMillis::from_secs(at))
}

fn exhausted_until(secs: i64) -> AccountState {
    AccountState::Exhausted {
        window: LimitWindow::Weekly,
        until: UnixMillis::from_secs(secs),
    }
}

fn activity(s: &str, activity: Activity) -> Input {
    Input::SessionActivity {
        session: s.into(),
        activity,
    }
}

fn idle(s: &str) -> Input {
    activity(s, Activity::Idle)
}

fn working(s: &str) -> Input {
    activity(s, Activity::Working)
}

fn exited(s: &str) -> Input {
    Input::SessionExited {
        session: s.into(),
        status: Some(1),
    }
}

fn done(request: u64, outcome: EffectOutcome) -> Input {
    Input::EffectFinished {
        request: RequestId::for_tests(request),
        outcome,
    }
}

fn checkpointed(prompt: Option<&str>) -> EffectOutcome {
    EffectOutcome::Checkpointed {
        last_prompt: prompt.map(str::to_owned),
        unanswered: false,
    }
}

fn launched(conv: &str) -> EffectOutcome {
    EffectOutcome::Launched {
        claude_session: ClaudeSessionId::new(conv),
        unanswered_prompt: None,
    }
}

fn failed(kind: FailureKind) -> EffectOutcome {
    EffectOutcome::Failed {
        kind,
        detail: "boom".to_owned(),
    }
}

fn cmd(id: u64, command: Command) -> Input {
    Input::Command {
        id: CommandId::new(id),
        command,
    }
}

fn tick() -> Input {
    Input::Tick
}

// ----- startup -----

#[test]
fn startup_launches_sessions_on_the_preferred_account() {
    check(
        Setup::Fresh(cfg(&["a", "b"], &["s1", "s2"])),
        vec![(0, adopted()), (1, done(1, launched("c1")))],
        "
        t=0 launch #1 s1 on a new
        t=0 launch #2 s2 on a new
        t=0 persist active=a
        t=1 persist active=a
        ",
    );
}

#[test]
fn startup_adopts_running_sessions_and_launches_only_the_others() {
    check(
        Setup::Fresh(cfg(&["a", "b"], &["s1", "s2"])),
        vec![(0, started("s1", "c1", "a")), (0, adopted())],
        "
        t=0 persist active=-
        t=0 launch #1 s2 on a new
        t=0 persist active=a
        ",
    );
}

#[test]
fn startup_skips_an_exhausted_preferred_account() {
    check(
        two(),
        vec![(0, observed(0, "a", exhausted_until(3600))), (0, adopted())],
        "
        t=0 persist active=- accounts=a:exhausted
        t=0 launch #1 s1 on b new
        t=0 persist active=b accounts=a:exhausted
        ",
    );
}

#[test]
fn nothing_is_launched_before_adoption_completes() {
    check(
        two(),
        vec![(0, tick()), (5, tick()), (9, cmd(100, Command::SwapNow))],
        "
        t=9 reply #100 refused: the engine is starting up
        ",
    );
}

// ----- confirmed quota verdicts -----

#[test]
fn structured_verdict_swaps_and_replays_the_interrupted_prompt() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (10, working("s1")),
            (20, transcript("s1", exhausted(Some(18000)), 20)),
            (21, done(1, checkpointed(Some("fix the bug")))),
            (22, done(2, EffectOutcome::Stopped)),
            (25, done(3, launched("c1"))),
            (27, idle("s1")),
            (28, done(4, EffectOutcome::PromptSent)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=20 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T05:00:00Z (next reset 1970-01-01T05:00:00Z)
        t=20 checkpoint #1 s1 on a
        t=20 persist active=b accounts=a:exhausted swap=a->b[s1]
        t=21 stop #2 s1
        t=21 persist active=b accounts=a:exhausted swap=a->b[s1] prompts=[s1]
        t=22 launch #3 s1 on b resume=c1
        t=22 persist active=b accounts=a:exhausted swap=a->b[s1] prompts=[s1]
        t=25 persist active=b accounts=a:exhausted prompts=[s1]
        t=27 prompt #4 s1 \"fix the bug\"
        t=28 persist active=b accounts=a:exhausted
        ",
    );
}

/// The account runs out while the session looks idle: its prompt was typed a moment before
/// the move began, and no activity was seen yet. The checkpoint's record shows the prompt
/// unanswered, so it is replayed on the next account; an answered one is not.
#[test]
fn a_prompt_the_record_shows_unanswered_is_replayed_though_the_session_looked_idle() {
    for (unanswered, replayed) in [(true, "t=27 prompt #4 s1 \"just typed\"\n"), (false, "")] {
        let prompts = if unanswered { " prompts=[s1]" } else { "" };
        // The pending prompt is new state, written before the stop.
        let kept = if unanswered {
            "t=21 persist active=b accounts=a:exhausted swap=a->b[s1] prompts=[s1]"
        } else {
            ""
        };
        check(
            two(),
            vec![
                (0, started("s1", "c1", "a")),
                (0, adopted()),
                (5, idle("s1")),
                (20, statusline("a", exhausted(Some(18000)), 20)),
                (
                    21,
                    done(
                        1,
                        EffectOutcome::Checkpointed {
                            last_prompt: Some("just typed".into()),
                            unanswered,
                        },
                    ),
                ),
                (22, done(2, EffectOutcome::Stopped)),
                (25, done(3, launched("c1"))),
                (27, idle("s1")),
            ],
            &format!(
                "
                t=0 persist active=-
                t=0 persist active=a
                t=20 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T05:00:00Z (next reset 1970-01-01T05:00:00Z)
                t=20 checkpoint #1 s1 on a
                t=20 persist active=b accounts=a:exhausted swap=a->b[s1]
                t=21 stop #2 s1
                {kept}
                t=22 launch #3 s1 on b resume=c1
                t=22 persist active=b accounts=a:exhausted swap=a->b[s1]{prompts}
                t=25 persist active=b accounts=a:exhausted{prompts}
                {replayed}"
            ),
        );
    }
}

/// The checkpoint missed the prompt (the transcript had not been written yet), but the
/// transcript read after the stop shows it unanswered: the resumed launch reports it and
/// the engine replays it, in place of a prompt recalled earlier from the unfinished record.
#[test]
fn a_resumed_launch_that_reports_an_unanswered_prompt_gets_it_replayed() {
    for (from_checkpoint, replayed) in [(None, "typed late"), (Some("older"), "typed late")] {
        let held = if from_checkpoint.is_some() {
            "t=21 persist active=b accounts=a:exhausted swap=a->b[s1] prompts=[s1]\n"
        } else {
            ""
        };
        check(
            two(),
            vec![
                (0, started("s1", "c1", "a")),
                (0, adopted()),
                (5, working("s1")),
                (20, transcript("s1", exhausted(Some(18000)), 20)),
                (21, done(1, checkpointed(from_checkpoint))),
                (22, done(2, EffectOutcome::Stopped)),
                (
                    25,
                    done(
                        3,
                        EffectOutcome::Launched {
                            claude_session: ClaudeSessionId::new("c1"),
                            unanswered_prompt: Some("typed late".into()),
                        },
                    ),
                ),
                (27, idle("s1")),
            ],
            &format!(
                "
                t=0 persist active=-
                t=0 persist active=a
                t=20 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T05:00:00Z (next reset 1970-01-01T05:00:00Z)
                t=20 checkpoint #1 s1 on a
                t=20 persist active=b accounts=a:exhausted swap=a->b[s1]
                t=21 stop #2 s1
                {held}
                t=22 launch #3 s1 on b resume=c1
                t=22 persist active=b accounts=a:exhausted swap=a->b[s1]{prompts}
                t=25 persist active=b accounts=a:exhausted prompts=[s1]
                t=27 prompt #4 s1 \"{replayed}\"
                ",
                prompts = if from_checkpoint.is_some() { " prompts=[s1]" } else { "" },
            ),
        );
    }
}

#[test]
fn pane_verdict_needs_consecutive_confirmations() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (10, pane("s1", exhausted(None), 10)),
            (15, pane("s1", exhausted(None), 15)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=15 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T01:00:15Z (next reset 1970-01-01T01:00:15Z)
        t=15 checkpoint #1 s1 on a
        t=15 persist active=b accounts=a:exhausted swap=a->b[s1]
        ",
    );
}

#[test]
fn transient_verdict_vetoes_and_restarts_the_pane_count() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (10, pane("s1", exhausted(None), 10)),
            (11, pane("s1", transient(), 11)),
            (12, pane("s1", exhausted(None), 12)),
            (13, statusline("a", transient(), 13)),
            (14, transcript("s1", transient(), 14)),
            (15, pane("s1", exhausted(None), 15)),
            (16, pane("s1", exhausted(None), 16)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=16 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T01:00:16Z (next reset 1970-01-01T01:00:16Z)
        t=16 checkpoint #1 s1 on a
        t=16 persist active=b accounts=a:exhausted swap=a->b[s1]
        ",
    );
}

// ----- corroboration: structured facts veto pane text -----

#[test]
fn a_pane_limit_after_an_ordinary_reply_is_vetoed_counted_and_never_swaps() {
    // The reply quotes a limit message: the pane shows it, the transcript shows the turn
    // ended in an ordinary assistant message.
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (5, working("s1")),
            (5, prompt_written("s1", 5)),
            (6, replied("s1", 6)),
            (6, pane("s1", exhausted(None), 6)),
            (7, pane("s1", exhausted(None), 7)),
            (8, idle("s1")),
            (9, pane("s1", exhausted(None), 9)),
            (
                10,
                pane(
                    "s1",
                    Verdict::AuthRequired {
                        reason: AuthReason::NotLoggedIn,
                    },
                    10,
                ),
            ),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=6 vetoed s1 on a quota_exhausted (transcript_ordinary_reply)
        t=7 vetoed s1 on a quota_exhausted (transcript_ordinary_reply)
        t=9 vetoed s1 on a quota_exhausted (transcript_ordinary_reply)
        t=10 vetoed s1 on a auth_required (transcript_ordinary_reply)
        ",
    );
}

#[test]
fn a_pane_limit_the_statusline_shows_under_100_percent_is_vetoed() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (5, statusline_usage("s1", 40.0, 5)),
            (6, pane("s1", exhausted(None), 6)),
            (7, pane("s1", exhausted(None), 7)),
            // Nor is a near-limit notice the statusline puts far under the floor.
            (8, pane("s1", near(92.0, None), 8)),
            (9, pane("s1", near(92.0, None), 9)),
            // A window the statusline does not report is not contradicted.
            (
                10,
                pane(
                    "s1",
                    Verdict::QuotaExhausted {
                        window: LimitWindow::Weekly,
                        resets_at: None,
                    },
                    10,
                ),
            ),
            (
                11,
                pane(
                    "s1",
                    Verdict::QuotaExhausted {
                        window: LimitWindow::Weekly,
                        resets_at: None,
                    },
                    11,
                ),
            ),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=6 vetoed s1 on a quota_exhausted (statusline_below_limit)
        t=7 vetoed s1 on a quota_exhausted (statusline_below_limit)
        t=8 vetoed s1 on a near_limit (statusline_below_limit)
        t=9 vetoed s1 on a near_limit (statusline_below_limit)
        t=11 notify warning [failover:a:b] failing over from a to b: a exhausted its weekly window until 1970-01-01T01:00:11Z (next reset 1970-01-01T01:00:11Z)
        t=11 checkpoint #1 s1 on a
        t=11 persist active=b accounts=a:exhausted swap=a->b[s1]
        ",
    );
}

#[test]
fn pane_evidence_still_swaps_after_confirmations_when_the_transcript_has_no_reply() {
    // A new prompt ends the previous reply's word; the transcript lags (or the version
    // writes no error line): the pane alone decides, on its second sighting.
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (2, replied("s1", 2)),
            (5, working("s1")),
            (5, prompt_written("s1", 5)),
            (6, pane("s1", exhausted(None), 6)),
            (7, pane("s1", exhausted(None), 7)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=7 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T01:00:07Z (next reset 1970-01-01T01:00:07Z)
        t=7 checkpoint #1 s1 on a
        t=7 persist active=b accounts=a:exhausted swap=a->b[s1]
        ",
    );
}

#[test]
fn a_429_in_the_transcript_swaps_even_after_an_ordinary_reply_and_lifts_the_veto() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (2, replied("s1", 2)),
            (3, pane("s1", exhausted(None), 3)),
            (5, transcript("s1", exhausted(Some(7200)), 5)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=3 vetoed s1 on a quota_exhausted (transcript_ordinary_reply)
        t=5 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:00:00Z (next reset 1970-01-01T02:00:00Z)
        t=5 checkpoint #1 s1 on a
        t=5 persist active=b accounts=a:exhausted swap=a->b[s1]
        ",
    );
    // An error line that is no quota (a throttle) still ends the reply's word: the pane
    // then counts again.
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (2, replied("s1", 2)),
            (
                4,
                transcript(
                    "s1",
                    Verdict::Transient {
                        kind: TransientKind::Throttled,
                    },
                    4,
                ),
            ),
            (5, pane("s1", exhausted(None), 5)),
            (6, pane("s1", exhausted(None), 6)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=6 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T01:00:06Z (next reset 1970-01-01T01:00:06Z)
        t=6 checkpoint #1 s1 on a
        t=6 persist active=b accounts=a:exhausted swap=a->b[s1]
        ",
    );
}

#[test]
fn evidence_from_before_the_last_completed_turn_never_counts() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (5, working("s1")),
            (10, idle("s1")),
            (11, transcript("s1", exhausted(None), 3)),
            (12, pane("s1", exhausted(None), 4)),
            (13, pane("s1", exhausted(None), 4)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        ",
    );
}

// ----- proactive failover, destination choice -----

#[test]
fn proactive_failover_at_the_threshold_waits_for_a_turn_boundary() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (5, working("s1")),
            (10, statusline("a", near(89.0, None), 10)),
            (20, statusline("a", near(96.0, Some(9000)), 20)),
            (30, idle("s1")),
            (31, done(1, checkpointed(Some("last")))),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 persist active=a accounts=a:near_limit
        t=20 notify info [failover:a:b] failing over from a to b: a used 96% of its five_hour window (next reset 1970-01-01T02:30:00Z)
        t=20 persist active=b accounts=a:near_limit swap=a->b[s1]
        t=30 checkpoint #1 s1 on a
        t=31 stop #2 s1
        ",
    );
}

#[test]
fn the_wrap_up_notice_moves_the_session_at_the_next_turn_boundary() {
    // Past its wrap-up threshold Claude Code 2.1.3xx tells the model to wrap up the current
    // step and says so on screen; the model goes on working. That notice, read by the pane
    // detector, is near_limit evidence at or above the default proactive threshold: the
    // session moves once its turn ends, not in the middle of it.
    let screen = "❯ Refactor the parser module and run the tests\n\n\
        ● Bash(cargo test)\n  ⎿  test result: ok. 40 passed\n\n\
        ● Approaching your 5-hour usage limit — Claude will wrap up the current step.\n\n\
        ● Finishing the lexer split now.\n\n\
        ────────────────────────────────────────────────────────────\n❯ \n\
        ────────────────────────────────────────────────────────────\n\
          ⏵⏵ auto mode on (shift+tab to cycle)\n";
    let config = cfg(&["a", "b"], &["s1"]);
    // The default threshold moves sessions before the CLI starts wrapping up.
    assert!(config.proactive_percent < WRAP_UP_PERCENT);
    let seen = |at: i64| {
        let detection =
            PaneDetector::new().detect(screen, &DetectContext::utc(UnixMillis::from_secs(at)));
        assert!(
            matches!(detection.verdict, Verdict::NearLimit { used_percent, .. } if used_percent >= config.proactive_percent),
            "{detection:?}"
        );
        pane("s1", detection.verdict, at)
    };
    check(
        Setup::Fresh(config.clone()),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (5, working("s1")),
            (10, seen(10)),
            (12, seen(12)),
            (20, working("s1")),
            (30, idle("s1")),
            (31, done(1, checkpointed(Some("last")))),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=12 notify info [failover:a:b] failing over from a to b: a used 95% of its five_hour window
        t=12 persist active=b accounts=a:near_limit swap=a->b[s1]
        t=30 checkpoint #1 s1 on a
        t=31 stop #2 s1
        ",
    );
}

#[test]
fn a_proactive_swap_moves_only_idle_sessions_side_by_side() {
    // Three slots, but only sessions at a turn boundary move: s2 and s3 at once, s1 when
    // its turn ends.
    check(
        Setup::Fresh(cfg_parallel(&["a", "b"], &["s1", "s2", "s3"], 3)),
        vec![
            (0, started("s1", "c1", "a")),
            (0, started("s2", "c2", "a")),
            (0, started("s3", "c3", "a")),
            (0, adopted()),
            (5, working("s1")),
            (5, idle("s2")),
            (5, idle("s3")),
            (20, statusline("a", near(96.0, Some(9000)), 20)),
            (30, idle("s1")),
        ],
        "
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=a
        t=20 notify info [failover:a:b] failing over from a to b: a used 96% of its five_hour window (next reset 1970-01-01T02:30:00Z)
        t=20 checkpoint #1 s2 on a
        t=20 checkpoint #2 s3 on a
        t=20 persist active=b accounts=a:near_limit swap=a->b[s1,s2,s3]
        t=30 checkpoint #3 s1 on a
        ",
    );
}

#[test]
fn never_moves_onto_a_near_limit_account_when_a_better_one_exists() {
    check(
        Setup::Fresh(cfg(&["a", "b", "c"], &["s1"])),
        vec![
            (0, started("s1", "c1", "a")),
            (0, observed(0, "b", AccountState::NearLimit {
                window: LimitWindow::FiveHour,
                used_percent: 97.0,
                resets_at: None,
            })),
            (0, adopted()),
            (10, transcript("s1", exhausted(Some(600)), 10)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:near_limit
        t=0 persist active=a accounts=b:near_limit
        t=10 notify warning [failover:a:c] failing over from a to c: a exhausted its five_hour window until 1970-01-01T00:10:00Z (next reset 1970-01-01T00:10:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=c accounts=a:exhausted,b:near_limit swap=a->c[s1]
        ",
    );
}

#[test]
fn auth_required_marks_needs_login_notifies_and_moves_sessions() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (
                10,
                transcript(
                    "s1",
                    Verdict::AuthRequired {
                        reason: AuthReason::Expired,
                    },
                    10,
                ),
            ),
            (11, cmd(100, Command::SwapTo("a".into()))),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [needs-login:a] account a needs a login (Expired); it is skipped until then
        t=10 notify warning [failover:a:b] failing over from a to b: a needs a login
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=a:needs_login swap=a->b[s1]
        t=11 reply #100 refused: a swap is already in progress
        ",
    );
}

/// The CLI being stopped writes its exit bookkeeping to the transcript; read as `Clear`,
/// it must not make the account that needs a login usable again (the session would be
/// sent straight back to it).
#[test]
fn a_clear_line_from_a_session_being_moved_off_does_not_restore_a_login() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (
                10,
                transcript(
                    "s1",
                    Verdict::AuthRequired {
                        reason: AuthReason::Expired,
                    },
                    10,
                ),
            ),
            (11, done(1, checkpointed(Some("p")))),
            (12, transcript("s1", Verdict::Clear, 12)),
            (13, done(2, EffectOutcome::Stopped)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [needs-login:a] account a needs a login (Expired); it is skipped until then
        t=10 notify warning [failover:a:b] failing over from a to b: a needs a login
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=a:needs_login swap=a->b[s1]
        t=11 stop #2 s1
        t=11 persist active=b accounts=a:needs_login swap=a->b[s1] prompts=[s1]
        t=13 launch #3 s1 on b resume=c1
        t=13 persist active=b accounts=a:needs_login swap=a->b[s1] prompts=[s1]
        ",
    );
}

// ----- one swap at a time, its sessions side by side -----

#[test]
fn sessions_move_one_at_a_time() {
    check(
        Setup::Fresh(cfg_parallel(&["a", "b"], &["s1", "s2"], 1)),
        vec![
            (0, started("s1", "c1", "a")),
            (0, started("s2", "c2", "a")),
            (0, adopted()),
            (10, statusline("a", exhausted(Some(7200)), 10)),
            (11, done(1, checkpointed(None))),
            (12, done(2, EffectOutcome::Stopped)),
            (13, done(3, launched("c1"))),
            (14, done(4, checkpointed(None))),
            (15, done(5, EffectOutcome::Stopped)),
            (16, done(6, launched("c2"))),
        ],
        "
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:00:00Z (next reset 1970-01-01T02:00:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1,s2]
        t=11 stop #2 s1
        t=12 launch #3 s1 on b resume=c1
        t=12 persist active=b accounts=a:exhausted swap=a->b[s1,s2]
        t=13 checkpoint #4 s2 on a
        t=13 persist active=b accounts=a:exhausted swap=a->b[s2]
        t=14 stop #5 s2
        t=15 launch #6 s2 on b resume=c2
        t=15 persist active=b accounts=a:exhausted swap=a->b[s2]
        t=16 persist active=b accounts=a:exhausted
        ",
    );
}

#[test]
fn a_swap_moves_at_most_parallel_moves_sessions_at_once() {
    // Two slots: s1 and s2 start together; s3 starts only once s1's launch is done, not
    // when it is merely asked for; s4 and s5 follow as slots free up.
    check(
        Setup::Fresh(cfg_parallel(
            &["a", "b"],
            &["s1", "s2", "s3", "s4", "s5"],
            2,
        )),
        vec![
            (0, started("s1", "c1", "a")),
            (0, started("s2", "c2", "a")),
            (0, started("s3", "c3", "a")),
            (0, started("s4", "c4", "a")),
            (0, started("s5", "c5", "a")),
            (0, adopted()),
            (10, statusline("a", exhausted(Some(7200)), 10)),
            (11, done(1, checkpointed(None))),
            (12, done(3, EffectOutcome::Stopped)),
            (13, done(2, checkpointed(None))),
            (14, done(4, launched("c1"))),
            (15, done(5, EffectOutcome::Stopped)),
            (16, done(6, checkpointed(None))),
            (17, done(7, launched("c2"))),
            (18, done(8, EffectOutcome::Stopped)),
            (19, done(9, checkpointed(None))),
            (20, done(10, launched("c3"))),
            (21, done(11, EffectOutcome::Stopped)),
            (22, done(12, checkpointed(None))),
            (23, done(14, EffectOutcome::Stopped)),
            (24, done(13, launched("c4"))),
            (25, done(15, launched("c5"))),
        ],
        "
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:00:00Z (next reset 1970-01-01T02:00:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 checkpoint #2 s2 on a
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4,s5]
        t=11 stop #3 s1
        t=12 launch #4 s1 on b resume=c1
        t=12 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4,s5]
        t=13 stop #5 s2
        t=14 checkpoint #6 s3 on a
        t=14 persist active=b accounts=a:exhausted swap=a->b[s2,s3,s4,s5]
        t=15 launch #7 s2 on b resume=c2
        t=15 persist active=b accounts=a:exhausted swap=a->b[s2,s3,s4,s5]
        t=16 stop #8 s3
        t=17 checkpoint #9 s4 on a
        t=17 persist active=b accounts=a:exhausted swap=a->b[s3,s4,s5]
        t=18 launch #10 s3 on b resume=c3
        t=18 persist active=b accounts=a:exhausted swap=a->b[s3,s4,s5]
        t=19 stop #11 s4
        t=20 checkpoint #12 s5 on a
        t=20 persist active=b accounts=a:exhausted swap=a->b[s4,s5]
        t=21 launch #13 s4 on b resume=c4
        t=21 persist active=b accounts=a:exhausted swap=a->b[s4,s5]
        t=22 stop #14 s5
        t=23 launch #15 s5 on b resume=c5
        t=23 persist active=b accounts=a:exhausted swap=a->b[s4,s5]
        t=24 persist active=b accounts=a:exhausted swap=a->b[s5]
        t=25 persist active=b accounts=a:exhausted
        ",
    );
}

#[test]
fn a_failed_stop_holds_its_session_and_frees_its_slot_for_the_next() {
    // s1's stop fails: s1 stays on a under a hold, s2 goes on, and s3 takes s1's slot at
    // once. s1 moves after its hold.
    check(
        Setup::Fresh(cfg_parallel(&["a", "b"], &["s1", "s2", "s3"], 2)),
        vec![
            (0, started("s1", "c1", "a")),
            (0, started("s2", "c2", "a")),
            (0, started("s3", "c3", "a")),
            (0, adopted()),
            (10, statusline("a", exhausted(Some(7200)), 10)),
            (11, done(1, checkpointed(None))),
            (11, done(2, checkpointed(None))),
            (12, done(3, failed(FailureKind::Transient))),
            (13, done(4, EffectOutcome::Stopped)),
            (14, done(6, launched("c2"))),
            (20, tick()),
            (21, done(5, checkpointed(None))),
            (22, done(7, checkpointed(None))),
            (23, done(8, EffectOutcome::Stopped)),
            (24, done(9, EffectOutcome::Stopped)),
            (25, done(10, launched("c3"))),
            (26, done(11, launched("c1"))),
        ],
        "
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:00:00Z (next reset 1970-01-01T02:00:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 checkpoint #2 s2 on a
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3]
        t=11 stop #3 s1
        t=11 stop #4 s2
        t=12 notify warning [stop-failed:s1] could not stop s1 (boom); it stays on a, next try at 1970-01-01T00:00:17Z
        t=12 checkpoint #5 s3 on a
        t=13 launch #6 s2 on b resume=c2
        t=13 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3]
        t=14 persist active=b accounts=a:exhausted swap=a->b[s1,s3]
        t=20 checkpoint #7 s1 on a
        t=21 stop #8 s3
        t=22 stop #9 s1
        t=23 launch #10 s3 on b resume=c3
        t=23 persist active=b accounts=a:exhausted swap=a->b[s1,s3]
        t=24 launch #11 s1 on b resume=c1
        t=24 persist active=b accounts=a:exhausted swap=a->b[s1,s3]
        t=25 persist active=b accounts=a:exhausted swap=a->b[s1]
        t=26 persist active=b accounts=a:exhausted
        ",
    );
}

#[test]
fn a_destination_lost_mid_swap_lets_the_moves_in_flight_land_then_aborts() {
    // Two of four sessions are stopping when b runs out too: they land on c, nothing new
    // starts towards b, and once they are up the swap is dropped and a new one (a -> c)
    // takes the rest.
    check(
        Setup::Fresh(cfg_parallel(&["a", "b", "c"], &["s1", "s2", "s3", "s4"], 2)),
        vec![
            (0, started("s1", "c1", "a")),
            (0, started("s2", "c2", "a")),
            (0, started("s3", "c3", "a")),
            (0, started("s4", "c4", "a")),
            (0, adopted()),
            (10, statusline("a", exhausted(Some(7200)), 10)),
            (11, done(1, checkpointed(None))),
            (11, done(2, checkpointed(None))),
            (12, statusline("b", exhausted(Some(9000)), 12)),
            (13, done(3, EffectOutcome::Stopped)),
            (13, done(4, EffectOutcome::Stopped)),
            (14, done(5, launched("c1"))),
            (15, done(6, launched("c2"))),
        ],
        "
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:00:00Z (next reset 1970-01-01T02:00:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 checkpoint #2 s2 on a
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4]
        t=11 stop #3 s1
        t=11 stop #4 s2
        t=12 notify warning [failover:b:c] failing over from b to c: b exhausted its five_hour window until 1970-01-01T02:30:00Z (next reset 1970-01-01T02:30:00Z)
        t=12 persist active=c accounts=a:exhausted,b:exhausted swap=a->b[s1,s2,s3,s4]
        t=13 launch #5 s1 on c resume=c1
        t=13 persist active=c accounts=a:exhausted,b:exhausted swap=a->b[s1,s2,s3,s4]
        t=13 launch #6 s2 on c resume=c2
        t=13 persist active=c accounts=a:exhausted,b:exhausted swap=a->b[s1,s2,s3,s4]
        t=14 persist active=c accounts=a:exhausted,b:exhausted swap=a->b[s2,s3,s4]
        t=15 checkpoint #7 s3 on a
        t=15 checkpoint #8 s4 on a
        t=15 persist active=c accounts=a:exhausted,b:exhausted swap=a->c[s3,s4]
        ",
    );
}

#[test]
fn evidence_read_while_a_session_stops_has_its_transcript_read_again() {
    // s1's transcript moves all four at once, before the others' own evidence is read.
    // Their checkpoints read transcripts that do not hold the prompt that hit the limit
    // yet: s2 looked idle (nothing to replay), s4 was working (an older prompt would be
    // replayed). Their transcript lines land while they stop: once stopped their
    // transcripts are read again and the prompts found then are replayed. Nothing ever
    // shows s3's turn cut short: its prompt (perhaps answered long ago) is not typed again.
    check(
        Setup::Fresh(cfg_parallel(&["a", "b"], &["s1", "s2", "s3", "s4"], 4)),
        vec![
            (0, started("s1", "c1", "a")),
            (0, started("s2", "c2", "a")),
            (0, started("s3", "c3", "a")),
            (0, started("s4", "c4", "a")),
            (0, adopted()),
            (5, working("s4")),
            (10, transcript("s1", exhausted(Some(7200)), 10)),
            (11, done(1, checkpointed(Some("p1")))),
            (11, done(2, checkpointed(Some("answered before")))),
            (11, done(3, checkpointed(Some("p3")))),
            (11, done(4, checkpointed(Some("older")))),
            (11, transcript("s2", exhausted(Some(7200)), 11)),
            (11, transcript("s4", exhausted(Some(7200)), 11)),
            (12, done(5, EffectOutcome::Stopped)),
            (12, done(6, EffectOutcome::Stopped)),
            (12, done(7, EffectOutcome::Stopped)),
            (12, done(8, EffectOutcome::Stopped)),
            (13, done(10, checkpointed(Some("p2")))),
            (13, done(12, checkpointed(Some("p4")))),
            (14, done(9, launched("c1"))),
            (14, done(11, launched("c3"))),
            (14, done(13, launched("c2"))),
            (14, done(14, launched("c4"))),
            (15, idle("s1")),
            (15, idle("s2")),
            (15, idle("s3")),
            (15, idle("s4")),
        ],
        "
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:00:00Z (next reset 1970-01-01T02:00:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 checkpoint #2 s2 on a
        t=10 checkpoint #3 s3 on a
        t=10 checkpoint #4 s4 on a
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4]
        t=11 stop #5 s1
        t=11 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4] prompts=[s1]
        t=11 stop #6 s2
        t=11 stop #7 s3
        t=11 stop #8 s4
        t=11 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4] prompts=[s1,s4]
        t=12 launch #9 s1 on b resume=c1
        t=12 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4] prompts=[s1,s4]
        t=12 checkpoint #10 s2 on a
        t=12 launch #11 s3 on b resume=c3
        t=12 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4] prompts=[s1,s4]
        t=12 checkpoint #12 s4 on a
        t=13 launch #13 s2 on b resume=c2
        t=13 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4] prompts=[s1,s2,s4]
        t=13 launch #14 s4 on b resume=c4
        t=13 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4] prompts=[s1,s2,s4]
        t=14 persist active=b accounts=a:exhausted swap=a->b[s2,s3,s4] prompts=[s1,s2,s4]
        t=14 persist active=b accounts=a:exhausted swap=a->b[s2,s4] prompts=[s1,s2,s4]
        t=14 persist active=b accounts=a:exhausted swap=a->b[s4] prompts=[s1,s2,s4]
        t=14 persist active=b accounts=a:exhausted prompts=[s1,s2,s4]
        t=15 prompt #15 s1 \"p1\"
        t=15 prompt #16 s2 \"p2\"
        t=15 prompt #17 s4 \"p4\"
        ",
    );
}

#[test]
fn parallel_moves_takes_effect_on_reload() {
    // Raised mid-swap: a second session starts moving at once. Lowered: the moves under
    // way finish, and a new one starts only when fewer than the new bound are left.
    let sessions = ["s1", "s2", "s3", "s4"];
    let with = |parallel| Input::ConfigChanged(Ok(cfg_parallel(&["a", "b"], &sessions, parallel)));
    check(
        Setup::Fresh(cfg_parallel(&["a", "b"], &sessions, 1)),
        vec![
            (0, started("s1", "c1", "a")),
            (0, started("s2", "c2", "a")),
            (0, started("s3", "c3", "a")),
            (0, started("s4", "c4", "a")),
            (0, adopted()),
            (10, statusline("a", exhausted(Some(7200)), 10)),
            (11, with(2)),
            (12, with(1)),
            (13, done(1, checkpointed(None))),
            (14, done(3, EffectOutcome::Stopped)),
            (15, done(4, launched("c1"))),
            (16, done(2, checkpointed(None))),
            (17, done(5, EffectOutcome::Stopped)),
            (18, done(6, launched("c2"))),
        ],
        "
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:00:00Z (next reset 1970-01-01T02:00:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4]
        t=11 checkpoint #2 s2 on a
        t=13 stop #3 s1
        t=14 launch #4 s1 on b resume=c1
        t=14 persist active=b accounts=a:exhausted swap=a->b[s1,s2,s3,s4]
        t=15 persist active=b accounts=a:exhausted swap=a->b[s2,s3,s4]
        t=16 stop #5 s2
        t=17 launch #6 s2 on b resume=c2
        t=17 persist active=b accounts=a:exhausted swap=a->b[s2,s3,s4]
        t=18 checkpoint #7 s3 on a
        t=18 persist active=b accounts=a:exhausted swap=a->b[s3,s4]
        ",
    );
}

// ----- return to the preferred account -----

#[test]
fn returns_to_the_preferred_account_after_its_reset_at_a_turn_boundary() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "b")),
            (0, observed(0, "a", exhausted_until(100))),
            (0, adopted()),
            (50, working("s1")),
            (100, tick()),
            (110, idle("s1")),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=a:exhausted
        t=0 persist active=b accounts=a:exhausted
        t=100 notify info [returned:b:a] a has quota again: returning from b at the next turn boundaries
        t=100 persist active=a accounts=a:available swap=b->a[s1]
        t=110 checkpoint #1 s1 on b
        ",
    );
}

#[test]
fn operator_swap_is_not_undone_by_return_to_preferred() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (5, idle("s1")),
            (10, cmd(100, Command::SwapTo("b".into()))),
            (11, done(1, checkpointed(Some("p")))),
            (12, done(2, EffectOutcome::Stopped)),
            (13, done(3, launched("c1"))),
            (14, idle("s1")),
            (60, tick()),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify info [failover:a:b] swapping from a to b on operator request
        t=10 reply #100 accepted
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b swap=a->b[s1]
        t=11 stop #2 s1
        t=12 launch #3 s1 on b resume=c1
        t=12 persist active=b swap=a->b[s1]
        t=13 persist active=b
        ",
    );
}

// ----- every account exhausted -----

#[test]
fn all_exhausted_parks_every_session_and_resumes_at_the_earliest_reset() {
    check(
        Setup::Fresh(cfg(&["a", "b"], &["s1", "s2"])),
        vec![
            (0, started("s1", "c1", "a")),
            (0, observed(0, "b", exhausted_until(7200))),
            (0, adopted()),
            (1, done(1, launched("c2"))),
            (10, working("s1")),
            (20, statusline("a", exhausted(Some(3600)), 20)),
            (21, done(2, checkpointed(Some("go on")))),
            (21, done(3, checkpointed(None))),
            (22, done(4, EffectOutcome::Stopped)),
            (22, done(5, EffectOutcome::Stopped)),
            (3600, tick()),
            (3601, done(6, launched("c1"))),
            (3601, done(7, launched("c2"))),
            (3605, idle("s1")),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:exhausted
        t=0 launch #1 s2 on a new
        t=0 persist active=a accounts=b:exhausted
        t=1 persist active=a accounts=b:exhausted
        t=20 checkpoint #2 s1 on a
        t=20 checkpoint #3 s2 on a
        t=20 notify critical [all-exhausted:3600000] every account is exhausted or needs a login: 2 sessions parked; resuming automatically at 1970-01-01T01:00:00Z (next reset 1970-01-01T01:00:00Z)
        t=20 persist active=a accounts=a:exhausted,b:exhausted
        t=21 stop #4 s1
        t=21 persist active=a accounts=a:exhausted,b:exhausted prompts=[s1]
        t=21 stop #5 s2
        t=22 persist active=a accounts=a:exhausted,b:exhausted parked=[s1] prompts=[s1]
        t=22 persist active=a accounts=a:exhausted,b:exhausted parked=[s1,s2] prompts=[s1]
        t=3600 launch #6 s1 on a resume=c1
        t=3600 launch #7 s2 on a resume=c2
        t=3600 notify info [resumed:a] a has quota again: parked sessions resume on it
        t=3600 persist active=a accounts=a:available,b:exhausted prompts=[s1]
        t=3605 prompt #8 s1 \"go on\"
        ",
    );
}

// ----- spread -----

#[test]
fn spread_puts_each_session_on_its_own_account_and_moves_one_off_an_exhausted_account() {
    let mut config = cfg(&["a", "b", "c"], &["s1", "s2"]);
    config.mode = PolicyMode::Spread;
    check(
        Setup::Fresh(config),
        vec![
            (0, adopted()),
            (1, done(1, launched("c1"))),
            (1, done(2, launched("c2"))),
            (5, idle("s1")),
            (5, idle("s2")),
            (10, statusline("a", exhausted(Some(600)), 10)),
            (11, cmd(100, Command::SwapNow)),
        ],
        "
        t=0 launch #1 s1 on a new
        t=0 launch #2 s2 on b new
        t=0 persist active=-
        t=1 persist active=-
        t=1 persist active=-
        t=10 notify warning [failover:a:c] failing over from a to c: a exhausted its five_hour window until 1970-01-01T00:10:00Z (next reset 1970-01-01T00:10:00Z)
        t=10 checkpoint #3 s1 on a
        t=10 persist active=- accounts=a:exhausted swap=a->c[s1]
        t=11 reply #100 refused: swap-now and swap-to need the single-active policy; under spread every session has its own account
        ",
    );
}

// ----- operator commands -----

#[test]
fn operator_commands_are_answered_and_refused_with_reasons() {
    check(
        Setup::Fresh(cfg(&["a", "b", "c"], &["s1"])),
        vec![
            (0, started("s1", "c1", "a")),
            (0, observed(0, "c", AccountState::NeedsLogin)),
            (0, adopted()),
            (1, cmd(100, Command::SwapTo("zzz".into()))),
            (2, cmd(101, Command::SwapTo("c".into()))),
            (3, cmd(102, Command::SwapTo("a".into()))),
            (4, cmd(103, Command::Pause)),
            (5, cmd(104, Command::SwapNow)),
            (6, cmd(105, Command::Resume)),
            (7, cmd(106, Command::Drain)),
            (8, cmd(107, Command::SwapNow)),
            (9, cmd(108, Command::Resume)),
            (10, cmd(109, Command::SwapNow)),
        ],
        "
        t=0 persist active=-
        t=0 notify warning [needs-login:c] account c needs a login (Rejected); it is skipped until then
        t=0 persist active=- accounts=c:needs_login
        t=0 persist active=a accounts=c:needs_login
        t=1 reply #100 refused: unknown account zzz
        t=2 reply #101 refused: account c is not usable: needs_login
        t=3 reply #102 accepted
        t=4 reply #103 accepted
        t=4 persist active=a accounts=c:needs_login paused
        t=5 reply #104 refused: the engine is paused
        t=6 reply #105 accepted
        t=6 persist active=a accounts=c:needs_login
        t=7 reply #106 accepted
        t=8 reply #107 refused: the engine is draining
        t=9 reply #108 accepted
        t=10 notify info [failover:a:b] swapping from a to b on operator request
        t=10 reply #109 accepted
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=c:needs_login swap=a->b[s1]
        ",
    );
}

// ----- dead sessions, failures, timeouts -----

#[test]
fn dead_sessions_are_relaunched_with_backoff_and_reported_degraded() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (10, exited("s1")),
            (15, tick()),
            (16, done(1, launched("c1"))),
            (20, exited("s1")),
            (30, tick()),
            (31, done(2, launched("c1"))),
            (40, exited("s1")),
            (60, tick()),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=15 launch #1 s1 on a resume=c1
        t=30 launch #2 s1 on a resume=c1
        t=40 notify warning [degraded:s1] s1 failed 3 times in a row (last: exited with 1); next attempt at 1970-01-01T00:01:00Z
        t=60 launch #3 s1 on a resume=c1
        ",
    );
}

#[test]
fn a_lost_reply_times_out_instead_of_wedging_the_engine() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (10, transcript("s1", exhausted(Some(9000)), 10)),
            (130, tick()),
            (131, done(1, checkpointed(Some("late")))),
            (131, done(2, EffectOutcome::Stopped)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:30:00Z (next reset 1970-01-01T02:30:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1]
        t=130 notify warning [checkpoint-failed:s1] checkpoint of s1 failed (no reply within 120s); moving it anyway: its conversation resumes, but an interrupted prompt cannot be replayed
        t=130 stop #2 s1
        t=131 launch #3 s1 on b resume=c1
        t=131 persist active=b accounts=a:exhausted swap=a->b[s1]
        ",
    );
}

#[test]
fn a_failed_stop_keeps_the_session_where_it_is_and_retries_later() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (10, transcript("s1", exhausted(Some(9000)), 10)),
            (11, done(1, checkpointed(None))),
            (12, done(2, failed(FailureKind::Transient))),
            (17, tick()),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:30:00Z (next reset 1970-01-01T02:30:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1]
        t=11 stop #2 s1
        t=12 notify warning [stop-failed:s1] could not stop s1 (boom); it stays on a, next try at 1970-01-01T00:00:17Z
        t=17 checkpoint #3 s1 on a
        ",
    );
}

#[test]
fn a_resume_that_is_impossible_halts_the_session_until_an_operator_resumes() {
    check(
        two(),
        vec![
            (0, Input::ClaudeSessionLearned {
                session: "s1".into(),
                claude_session: ClaudeSessionId::new("c1"),
            }),
            (0, adopted()),
            (1, done(1, failed(FailureKind::ResumeImpossible))),
            (500, tick()),
            (600, cmd(100, Command::Resume)),
        ],
        "
        t=0 persist active=-
        t=0 launch #1 s1 on a resume=c1
        t=0 persist active=a
        t=1 notify critical [halted:s1] s1 cannot be resumed (boom); not starting a blank conversation in its place. Fix it, then resume the engine
        t=600 reply #100 accepted
        t=600 launch #2 s1 on a resume=c1
        ",
    );
}

#[test]
fn a_conversation_that_never_completed_a_turn_is_started_anew_instead_of_halting() {
    // s1 was launched fresh (the launch chose c1) and its first turn never completed: the
    // CLI wrote no transcript, so the resume after the swap is refused. That is no loss:
    // s1 starts a new conversation, and the interrupted prompt is replayed in it.
    check(
        two(),
        vec![
            (0, adopted()),
            (1, done(1, launched("c1"))),
            (2, working("s1")),
            (3, transcript("s1", exhausted(Some(18000)), 3)),
            (4, done(2, checkpointed(Some("fix the bug")))),
            (5, done(3, EffectOutcome::Stopped)),
            (6, done(4, failed(FailureKind::ResumeImpossible))),
            (60, tick()),
            (61, done(5, launched("c2"))),
            (62, idle("s1")),
            (63, done(6, EffectOutcome::PromptSent)),
        ],
        "
        t=0 launch #1 s1 on a new
        t=0 persist active=a
        t=1 persist active=a
        t=3 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T05:00:00Z (next reset 1970-01-01T05:00:00Z)
        t=3 checkpoint #2 s1 on a
        t=3 persist active=b accounts=a:exhausted swap=a->b[s1]
        t=4 stop #3 s1
        t=4 persist active=b accounts=a:exhausted swap=a->b[s1] prompts=[s1]
        t=5 launch #4 s1 on b resume=c1
        t=5 persist active=b accounts=a:exhausted swap=a->b[s1] prompts=[s1]
        t=6 persist active=b accounts=a:exhausted prompts=[s1]
        t=60 launch #5 s1 on b new
        t=61 persist active=b accounts=a:exhausted prompts=[s1]
        t=62 prompt #6 s1 \"fix the bug\"
        t=63 persist active=b accounts=a:exhausted
        ",
    );
}

#[test]
fn a_conversation_with_a_completed_turn_still_halts_when_its_transcript_is_gone() {
    check(
        two(),
        vec![
            (0, adopted()),
            (1, done(1, launched("c1"))),
            (2, working("s1")),
            (3, idle("s1")),
            (4, exited("s1")),
            (60, tick()),
            (61, done(2, failed(FailureKind::ResumeImpossible))),
        ],
        "
        t=0 launch #1 s1 on a new
        t=0 persist active=a
        t=1 persist active=a
        t=60 launch #2 s1 on a resume=c1
        t=61 notify critical [halted:s1] s1 cannot be resumed (boom); not starting a blank conversation in its place. Fix it, then resume the engine
        ",
    );
}

// ----- restart -----

fn swap_in_flight() -> PersistedState {
    let mut state = PersistedState {
        schema_version: PersistedState::SCHEMA_VERSION,
        active_account: Some("b".into()),
        ..PersistedState::default()
    };
    state.accounts.insert("a".into(), exhausted_until(7200));
    for (s, conv, account) in [("s1", "c1", "b"), ("s2", "c2", "a"), ("s3", "c3", "a")] {
        state.sessions.insert(
            s.into(),
            failover_core::PersistedSession {
                account: Some(account.into()),
                claude_session: Some(ClaudeSessionId::new(conv)),
                pending_prompt: None,
                parked: false,
            },
        );
    }
    state.swap = Some(failover_core::PersistedSwap {
        from: Some("a".into()),
        to: "b".into(),
        pending: vec!["s2".into(), "s3".into()],
        started_at: UnixMillis::from_secs(0),
    });
    state
}

#[test]
fn restore_finishes_a_swap_in_flight_without_launching_twice() {
    // s1 had moved; s2 was stopped before the crash; s3 still runs on a.
    check(
        Setup::Restored(cfg(&["a", "b"], &["s1", "s2", "s3"]), swap_in_flight()),
        vec![
            (100, started("s1", "c1", "b")),
            (100, started("s3", "c3", "a")),
            (100, adopted()),
        ],
        "
        t=100 launch #1 s2 on b resume=c2
        t=100 checkpoint #2 s3 on a
        t=100 persist active=b accounts=a:exhausted swap=a->b[s3]
        ",
    );
}

/// After a restart mid-swap, s1 (launched on b by the previous run) still shows a's limit
/// message from before its move: pane text about it is history until a turn runs on b.
/// Without this, two sightings would mark b exhausted too and park every session.
#[test]
fn restore_takes_a_moved_session_s_screen_for_history_until_its_first_turn() {
    let adopted_then = |script: Vec<(i64, Input)>| {
        let mut all = vec![
            (100, started("s1", "c1", "b")),
            (100, started("s3", "c3", "a")),
            (100, adopted()),
            (101, done(1, launched("c2"))),
            (102, done(2, checkpointed(None))),
            (103, done(3, EffectOutcome::Stopped)),
            (104, done(4, launched("c3"))),
        ];
        all.extend(script);
        all
    };
    let moved = "
        t=100 launch #1 s2 on b resume=c2
        t=100 checkpoint #2 s3 on a
        t=100 persist active=b accounts=a:exhausted swap=a->b[s3]
        t=102 stop #3 s3
        t=103 launch #4 s3 on b resume=c3
        t=103 persist active=b accounts=a:exhausted swap=a->b[s3]
        t=104 persist active=b accounts=a:exhausted
    ";
    let setup = || Setup::Restored(cfg(&["a", "b"], &["s1", "s2", "s3"]), swap_in_flight());
    check(
        setup(),
        adopted_then(vec![
            (110, pane("s1", exhausted(None), 110)),
            (111, pane("s1", exhausted(None), 111)),
        ]),
        moved,
    );
    // Once a turn runs on b, the same message is news.
    check(
        setup(),
        adopted_then(vec![
            (110, working("s1")),
            (111, pane("s1", exhausted(None), 111)),
            (112, pane("s1", exhausted(None), 112)),
        ]),
        &format!(
            "{moved}
            t=112 checkpoint #5 s1 on b
            t=112 checkpoint #6 s2 on b
            t=112 checkpoint #7 s3 on b
            t=112 notify critical [all-exhausted:3712000] every account is exhausted or needs a login: 3 sessions parked; resuming automatically at 1970-01-01T01:01:52Z (next reset 1970-01-01T01:01:52Z)
            t=112 persist active=b accounts=a:exhausted,b:exhausted
            "
        ),
    );
}

#[test]
fn restore_rolls_back_a_swap_whose_destination_became_unusable() {
    let mut state = swap_in_flight();
    state.accounts.insert("b".into(), exhausted_until(9000));
    state.accounts.insert("a".into(), AccountState::Available);
    check(
        Setup::Restored(cfg(&["a", "b"], &["s1", "s2", "s3"]), state),
        vec![
            (100, started("s1", "c1", "b")),
            (100, started("s3", "c3", "a")),
            (100, adopted()),
        ],
        "
        t=100 notify warning [swap-rolled-back:a:b] the swap from a to b in flight at the last stop was rolled back: b is exhausted
        t=100 notify warning [failover:b:a] failing over from b to a: b exhausted its weekly window until 1970-01-01T02:30:00Z (next reset 1970-01-01T02:30:00Z)
        t=100 launch #1 s2 on a resume=c2
        t=100 checkpoint #2 s1 on b
        t=100 persist active=a accounts=a:available,b:exhausted swap=b->a[s1]
        ",
    );
}

// ----- configuration reload -----

#[test]
fn config_reload_rejects_bad_files_and_takes_new_sessions() {
    let mut bigger = cfg(&["a", "b"], &["s1", "s2"]);
    bigger.proactive_percent = 90.0;
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (10, Input::ConfigChanged(Err(ConfigError::NoAccounts))),
            (11, Input::ConfigChanged(Ok(cfg(&["a"], &["s1"])))),
            (12, Input::ConfigChanged(Ok(bigger))),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [config-rejected] configuration reload rejected (at least one account is required); the previous configuration stays in force
        t=11 notify warning [config-rejected] configuration reload rejected (account b was removed; removing needs a restart); the previous configuration stays in force
        t=12 launch #1 s2 on a new
        t=12 persist active=a
        ",
    );
}

// ----- more policy corners -----

fn spread(accounts: &[&str], sessions: &[&str]) -> Setup {
    let mut config = cfg(accounts, sessions);
    config.mode = PolicyMode::Spread;
    Setup::Fresh(config)
}

#[test]
fn spread_balances_sessions_by_load_then_headroom() {
    check(
        spread(&["a", "b", "c"], &["s1", "s2", "s3"]),
        vec![
            (
                0,
                observed(
                    0,
                    "b",
                    AccountState::NearLimit {
                        window: LimitWindow::FiveHour,
                        used_percent: 60.0,
                        resets_at: None,
                    },
                ),
            ),
            (0, adopted()),
        ],
        "
        t=0 persist active=- accounts=b:near_limit
        t=0 launch #1 s1 on a new
        t=0 launch #2 s2 on c new
        t=0 launch #3 s3 on b new
        t=0 persist active=- accounts=b:near_limit
        ",
    );
}

#[test]
fn spread_moves_an_idle_session_onto_an_account_that_reset() {
    check(
        spread(&["a", "b"], &["s1", "s2"]),
        vec![
            (0, started("s1", "c1", "b")),
            (0, started("s2", "c2", "b")),
            (0, observed(0, "a", exhausted_until(100))),
            (0, adopted()),
            (50, working("s1")),
            (50, working("s2")),
            (100, tick()),
            (120, idle("s2")),
        ],
        "
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=- accounts=a:exhausted
        t=100 persist active=- accounts=a:available
        t=120 checkpoint #1 s2 on b
        t=120 persist active=- accounts=a:available swap=b->a[s2]
        ",
    );
}

#[test]
fn near_limit_without_a_better_account_keeps_working_there() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, observed(0, "b", exhausted_until(9000))),
            (0, adopted()),
            (5, idle("s1")),
            (10, statusline("a", near(98.0, None), 10)),
            (20, tick()),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:exhausted
        t=0 persist active=a accounts=b:exhausted
        t=10 persist active=a accounts=a:near_limit,b:exhausted
        ",
    );
}

#[test]
fn drain_finishes_the_move_in_flight_and_starts_nothing_new() {
    check(
        Setup::Fresh(cfg_parallel(&["a", "b"], &["s1", "s2"], 1)),
        vec![
            (0, started("s1", "c1", "a")),
            (0, started("s2", "c2", "a")),
            (0, adopted()),
            (10, statusline("a", exhausted(Some(7200)), 10)),
            (11, cmd(100, Command::Drain)),
            (12, done(1, checkpointed(None))),
            (13, done(2, EffectOutcome::Stopped)),
            (14, done(3, launched("c1"))),
            (15, exited("s1")),
            (60, tick()),
        ],
        "
        t=0 persist active=-
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:00:00Z (next reset 1970-01-01T02:00:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1,s2]
        t=11 reply #100 accepted
        t=12 stop #2 s1
        t=13 launch #3 s1 on b resume=c1
        t=13 persist active=b accounts=a:exhausted swap=a->b[s1,s2]
        t=14 persist active=b accounts=a:exhausted swap=a->b[s2]
        ",
    );
}

#[test]
fn a_launch_seen_running_before_its_reply_is_not_relaunched() {
    check(
        two(),
        vec![
            (0, adopted()),
            (1, started("s1", "c9", "a")),
            (2, done(1, launched("c9"))),
            (200, tick()),
        ],
        "
        t=0 launch #1 s1 on a new
        t=0 persist active=a
        t=1 persist active=a
        ",
    );
}

#[test]
fn restore_resumes_parked_sessions_and_replays_their_prompts() {
    let mut state = PersistedState {
        schema_version: PersistedState::SCHEMA_VERSION,
        active_account: Some("a".into()),
        ..PersistedState::default()
    };
    state.accounts.insert("a".into(), exhausted_until(50));
    state.accounts.insert("b".into(), exhausted_until(7200));
    state.sessions.insert(
        "s1".into(),
        failover_core::PersistedSession {
            account: Some("a".into()),
            claude_session: Some(ClaudeSessionId::new("c1")),
            pending_prompt: Some("finish the migration".into()),
            parked: true,
        },
    );
    check(
        Setup::Restored(cfg(&["a", "b"], &["s1"]), state),
        vec![
            (10, adopted()),
            (50, tick()),
            (51, done(1, launched("c1"))),
            (53, idle("s1")),
            (54, done(2, failed(FailureKind::Transient))),
            (60, working("s1")),
            (90, idle("s1")),
            (91, done(3, failed(FailureKind::Permanent))),
        ],
        "
        t=50 launch #1 s1 on a resume=c1
        t=50 notify info [resumed:a] a has quota again: parked sessions resume on it
        t=50 persist active=a accounts=a:available,b:exhausted prompts=[s1]
        t=53 prompt #2 s1 \"finish the migration\"
        t=90 prompt #3 s1 \"finish the migration\"
        t=91 notify warning [prompt-dropped:s1] the interrupted prompt of s1 could not be replayed (boom); send it again by hand if needed: finish the migration
        t=91 persist active=a accounts=a:available,b:exhausted
        ",
    );
}

#[test]
fn a_restored_login_counts_as_recovery_and_sessions_return() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "b")),
            (0, observed(0, "a", AccountState::NeedsLogin)),
            (0, adopted()),
            (5, idle("s1")),
            (30, observed(30, "a", AccountState::Available)),
        ],
        "
        t=0 persist active=-
        t=0 notify warning [needs-login:a] account a needs a login (Rejected); it is skipped until then
        t=0 persist active=- accounts=a:needs_login
        t=0 persist active=b accounts=a:needs_login
        t=30 notify info [returned:b:a] a has quota again: returning from b at the next turn boundaries
        t=30 checkpoint #1 s1 on b
        t=30 persist active=a accounts=a:available swap=b->a[s1]
        ",
    );
}

#[test]
fn a_lost_launch_reply_times_out_and_the_session_is_relaunched() {
    check(
        two(),
        vec![
            (0, adopted()),
            (120, tick()),
            (125, tick()),
            (126, done(1, launched("late"))),
            (127, done(2, failed(FailureKind::Permanent))),
            (137, tick()),
        ],
        "
        t=0 launch #1 s1 on a new
        t=0 persist active=a
        t=125 launch #2 s1 on a new
        t=137 launch #3 s1 on a new
        ",
    );
}

#[test]
fn a_limit_hit_that_ended_the_turn_still_counts_and_its_prompt_is_replayed() {
    // The turn started at 5 and failed at 8 with the limit; the prompt came back at 10; the
    // transcript line (written at 8) is read at 11.
    check(
        two(),
        moved_to_b_with_prompt_replayed_at_16(),
        MOVED_TO_B_WITH_PROMPT_REPLAYED_AT_16,
    );
}

/// The trace of [`moved_to_b_with_prompt_replayed_at_16`].
const MOVED_TO_B_WITH_PROMPT_REPLAYED_AT_16: &str = "
    t=0 persist active=-
    t=0 persist active=a
    t=11 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:30:00Z (next reset 1970-01-01T02:30:00Z)
    t=11 checkpoint #1 s1 on a
    t=11 persist active=b accounts=a:exhausted swap=a->b[s1]
    t=12 stop #2 s1
    t=12 persist active=b accounts=a:exhausted swap=a->b[s1] prompts=[s1]
    t=13 launch #3 s1 on b resume=c1
    t=13 persist active=b accounts=a:exhausted swap=a->b[s1] prompts=[s1]
    t=14 persist active=b accounts=a:exhausted prompts=[s1]
    t=16 prompt #4 s1 \"add tests\"
";

/// A limit on `a` at 11 moves `s1` to `b`, where its prompt (`#4`) is typed at 16.
fn moved_to_b_with_prompt_replayed_at_16() -> Vec<(i64, Input)> {
    vec![
        (0, started("s1", "c1", "a")),
        (0, adopted()),
        (5, working("s1")),
        (10, idle("s1")),
        (11, transcript("s1", exhausted(Some(9000)), 8)),
        (12, done(1, checkpointed(Some("add tests")))),
        (13, done(2, EffectOutcome::Stopped)),
        (14, done(3, launched("c1"))),
        (16, idle("s1")),
    ]
}

/// The hold after a failed stop belongs to the running session, through the replay of its
/// interrupted prompt: typing the prompt does not lift it early.
#[test]
fn a_failed_stop_s_hold_survives_the_replay_of_the_prompt() {
    let mut engine = FailoverEngine::new(testkit::config(&["a", "b"], &["s1"])).unwrap();
    let script = [
        (0, started("s1", "c1", "a")),
        (0, adopted()),
        (5, working("s1")),
        (10, idle("s1")),
        (11, transcript("s1", exhausted(Some(9000)), 8)),
        (12, done(1, checkpointed(Some("add tests")))),
        (13, done(2, failed(FailureKind::Transient))),
    ];
    for (secs, input) in script {
        engine.handle(UnixMillis::from_secs(secs), input);
    }
    let hold = UnixMillis::from_secs(13) + engine.config().relaunch_backoff;
    let s1_state = |engine: &FailoverEngine| engine.session_states().next().unwrap().1.clone();
    assert_eq!(s1_state(&engine).stop_held_until(), Some(hold));
    let effects = engine.handle(UnixMillis::from_secs(14), idle("s1"));
    let Some(Effect::SendPrompt { request, .. }) = effects
        .iter()
        .find(|e| matches!(e, Effect::SendPrompt { .. }))
    else {
        panic!("the prompt is replayed at the idle report: {effects:?}");
    };
    let request = *request;
    assert_eq!(s1_state(&engine).stop_held_until(), Some(hold));
    let effects = engine.handle(
        UnixMillis::from_secs(15),
        Input::EffectFinished {
            request,
            outcome: EffectOutcome::PromptSent,
        },
    );
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Checkpoint { .. })),
        "no new stop before the hold ends: {effects:?}"
    );
    assert!(matches!(
        s1_state(&engine),
        SessionState::Running { stop_held_until: Some(h), .. } if h == hold
    ));
    assert_eq!(engine.next_deadline(), Some(hold));
}

/// The status shows a prompt waiting to be replayed from the move until its typing is
/// confirmed: the launched session must be reported idle before it goes out.
#[test]
fn the_status_shows_a_replay_pending_until_the_prompt_is_typed() {
    let mut engine = FailoverEngine::new(testkit::config(&["a", "b"], &["s1"])).unwrap();
    let replay_pending = |engine: &FailoverEngine| engine.snapshot().sessions[0].replay_pending;
    let mut script = moved_to_b_with_prompt_replayed_at_16();
    let idle_at_16 = script.pop().unwrap();
    for (secs, input) in script {
        engine.handle(UnixMillis::from_secs(secs), input);
    }
    // Launched on b, the prompt found by the checkpoint not typed yet: nothing goes out
    // until the session is reported idle.
    assert!(replay_pending(&engine));
    let effects = engine.handle(UnixMillis::from_secs(idle_at_16.0), idle_at_16.1);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::SendPrompt { text, .. } if text == "add tests")),
        "{effects:?}"
    );
    assert!(replay_pending(&engine), "typed, not confirmed yet");
    engine.handle(
        UnixMillis::from_secs(17),
        done(4, EffectOutcome::PromptSent),
    );
    assert!(!replay_pending(&engine));
}

/// Typed is not drawn: right after a replayed prompt is typed, a resumed CLI still shows
/// the old limit message from `a` (its new turn is drawn a moment later). Until the CLI
/// reports the turn working, pane text is history and not charged to `b`.
#[test]
fn a_replayed_prompt_s_screen_is_history_until_the_cli_reports_its_turn() {
    let mut script = moved_to_b_with_prompt_replayed_at_16();
    script.extend([
        (17, done(4, EffectOutcome::PromptSent)),
        (18, pane("s1", exhausted(None), 18)),
        (19, pane("s1", exhausted(None), 19)),
    ]);
    check(
        two(),
        script,
        &format!(
            "{MOVED_TO_B_WITH_PROMPT_REPLAYED_AT_16}t=17 persist active=b accounts=a:exhausted\n"
        ),
    );
}

/// A replayed prompt answered so fast that the CLI's working and idle reports both came
/// while the engine was still waiting to hear the typing was done: the session is idle
/// once it hears, not working forever (the observer reports changes only, so no further
/// report would come).
#[test]
fn a_replayed_prompt_answered_before_the_typing_is_confirmed_leaves_the_session_idle() {
    let activity_after = |reports: &[(i64, Input)]| {
        let mut engine = FailoverEngine::new(testkit::config(&["a", "b"], &["s1"])).unwrap();
        let mut script = moved_to_b_with_prompt_replayed_at_16();
        script.extend(reports.iter().cloned());
        script.push((18, done(4, EffectOutcome::PromptSent)));
        script.sort_by_key(|(t, _)| *t);
        for (secs, input) in script {
            engine.handle(UnixMillis::from_secs(secs), input);
        }
        let snapshot = engine.snapshot();
        let s1 = &snapshot.sessions[0];
        (s1.state.as_str(), s1.activity)
    };
    let running = |a| ("running", Some(a));
    // Both reports while the prompt was being typed: the turn is over.
    assert_eq!(
        activity_after(&[(17, working("s1")), (17, idle("s1"))]),
        running(Activity::Idle)
    );
    // Only the working report so far: working, until the idle one.
    assert_eq!(
        activity_after(&[(17, working("s1"))]),
        running(Activity::Working)
    );
    assert_eq!(
        activity_after(&[(17, working("s1")), (19, idle("s1"))]),
        running(Activity::Idle)
    );
    // No report yet: the typed prompt is taken to be at work.
    assert_eq!(activity_after(&[]), running(Activity::Working));
    // An idle report with no working one before it was the screen before the typing (the
    // replay waited for the resumed CLI first): the prompt is at work all the same.
    assert_eq!(
        activity_after(&[(17, idle("s1"))]),
        running(Activity::Working)
    );
    assert_eq!(
        activity_after(&[(17, idle("s1")), (17, working("s1")), (17, idle("s1"))]),
        running(Activity::Idle)
    );
}

/// A resumed CLI that took its interrupted turn up by itself and finished it before the
/// replay was asked (it went straight on with the turn and showed idle only after it): the
/// backend answers `ResumedTurnOver`, and the session is idle at once. Taken for a turn
/// just started, it would wait for an idle report the observer has no reason to send (the
/// screen no longer changes), and the move would not be over until then.
#[test]
fn a_turn_the_resumed_cli_took_up_and_finished_leaves_the_session_idle() {
    let activity_after = |outcome: EffectOutcome, reports: &[(i64, Input)]| {
        let mut engine = FailoverEngine::new(testkit::config(&["a", "b"], &["s1"])).unwrap();
        let mut script = moved_to_b_with_prompt_replayed_at_16();
        script.extend(reports.iter().cloned());
        script.push((18, done(4, outcome)));
        script.sort_by_key(|(t, _)| *t);
        for (secs, input) in script {
            engine.handle(UnixMillis::from_secs(secs), input);
        }
        let snapshot = engine.snapshot();
        let s1 = &snapshot.sessions[0];
        (s1.state.as_str(), s1.activity, s1.replay_pending)
    };
    assert_eq!(
        activity_after(EffectOutcome::ResumedTurnOver, &[]),
        ("running", Some(Activity::Idle), false)
    );
    // The backend looked last: a working report from before its look does not win.
    assert_eq!(
        activity_after(EffectOutcome::ResumedTurnOver, &[(17, working("s1"))]),
        ("running", Some(Activity::Idle), false)
    );
    // Typed (or taken up and still under way): at work until the idle report.
    assert_eq!(
        activity_after(EffectOutcome::PromptSent, &[]),
        ("running", Some(Activity::Working), false)
    );
}

/// The replayed prompt's turn is a turn: what it ends with counts. Here the prompt replayed
/// on `b` meets a 401 there; the transcript line (written at 20, during the turn) is read
/// after the session went idle, and the pane showed the error during the turn. Either must
/// mark `b` as needing a login; the working report the CLI gives for the replayed prompt may
/// come before the engine heard the prompt was typed, or after.
#[test]
fn the_turn_of_a_replayed_prompt_counts_its_evidence() {
    let expired = || Verdict::AuthRequired {
        reason: AuthReason::Expired,
    };
    let prefix = moved_to_b_with_prompt_replayed_at_16();
    let trace = format!(
        "{MOVED_TO_B_WITH_PROMPT_REPLAYED_AT_16}t=17 persist active=b accounts=a:exhausted\n"
    );
    let needs_login = |t: i64| {
        format!(
            "
            t={t} notify warning [needs-login:b] account b needs a login (Expired); it is skipped until then
            t={t} checkpoint #5 s1 on b
            t={t} notify critical [all-exhausted:9000000] every account is exhausted or needs a login: 1 session parked; resuming automatically at 1970-01-01T02:30:00Z (next reset 1970-01-01T02:30:00Z)
            t={t} persist active=b accounts=a:exhausted,b:needs_login
            "
        )
    };
    // The working report before the typing is confirmed or after it.
    for working_first in [true, false] {
        let mut script = prefix.clone();
        let (sent, working) = (
            (17, done(4, EffectOutcome::PromptSent)),
            (17, working("s1")),
        );
        if working_first {
            script.extend([working, sent]);
        } else {
            script.extend([sent, working]);
        }
        // Read from the transcript after the turn ended.
        let mut from_transcript = script.clone();
        from_transcript.extend([(22, idle("s1")), (23, transcript("s1", expired(), 20))]);
        check(
            two(),
            from_transcript,
            &format!("{trace}{}", needs_login(23)),
        );
        // Seen on the pane during the turn.
        let mut from_pane = script;
        from_pane.extend([
            (20, pane("s1", expired(), 20)),
            (21, pane("s1", expired(), 21)),
        ]);
        check(two(), from_pane, &format!("{trace}{}", needs_login(21)));
    }
}

#[test]
fn late_evidence_from_before_a_move_is_not_charged_to_the_new_account() {
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (10, statusline("a", exhausted(Some(9000)), 10)),
            (11, done(1, checkpointed(None))),
            (12, done(2, EffectOutcome::Stopped)),
            (13, done(3, launched("c1"))),
            // The transcript watcher lags: the line written on `a` arrives after the move.
            (20, transcript("s1", exhausted(Some(9000)), 9)),
            (21, pane("s1", exhausted(None), 11)),
            (22, pane("s1", exhausted(None), 11)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T02:30:00Z (next reset 1970-01-01T02:30:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1]
        t=11 stop #2 s1
        t=12 launch #3 s1 on b resume=c1
        t=12 persist active=b accounts=a:exhausted swap=a->b[s1]
        t=13 persist active=b accounts=a:exhausted
        ",
    );
}

#[test]
fn a_launched_session_s_pane_is_history_until_its_first_turn() {
    // A resumed Claude Code redraws the old conversation, including the error that ended
    // it: before the first turn on the new launch, pane text is not news. Once a turn has
    // started, the same message on screen counts again.
    check(
        Setup::Fresh(cfg(&["a", "b"], &["s1"])),
        vec![
            (0, adopted()),
            (1, done(1, launched("c1"))),
            (5, pane("s1", exhausted(None), 5)),
            (6, pane("s1", exhausted(None), 6)),
            (7, working("s1")),
            (10, pane("s1", exhausted(None), 10)),
            (11, pane("s1", exhausted(None), 11)),
        ],
        "
        t=0 launch #1 s1 on a new
        t=0 persist active=a
        t=1 persist active=a
        t=11 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T01:00:11Z (next reset 1970-01-01T01:00:11Z)
        t=11 checkpoint #2 s1 on a
        t=11 persist active=b accounts=a:exhausted swap=a->b[s1]
        ",
    );
}

// ----- choosing the next account (strategy, headroom, models, extra usage, usage reports) -----

fn usage(account: &str, windows: &[(LimitWindow, f32, Option<i64>)], extra_usage: bool) -> Input {
    Input::UsageObserved {
        account: account.into(),
        report: UsageReport {
            windows: windows
                .iter()
                .map(|(window, used_percent, resets)| WindowUsage {
                    window: *window,
                    used_percent: *used_percent,
                    resets_at: resets.map(UnixMillis::from_secs),
                })
                .collect(),
            extra_usage,
            grants: Vec::new(),
        },
    }
}

fn model(s: &str, model: &str) -> Input {
    Input::SessionModel {
        session: s.into(),
        model: model.to_owned(),
    }
}

/// Three accounts, one session, with `tune` applied to the default configuration.
fn three(tune: impl FnOnce(&mut EngineConfig)) -> Setup {
    let mut config = cfg(&["a", "b", "c"], &["s1"]);
    tune(&mut config);
    Setup::Fresh(config)
}

const H5: LimitWindow = LimitWindow::FiveHour;
const WEEK: LimitWindow = LimitWindow::Weekly;
const OPUS: LimitWindow = LimitWindow::WeeklyOpus;

/// b's five-hour window resets in two hours, c's in one; both at 30 %.
fn b_and_c_at_30() -> Vec<(i64, Input)> {
    vec![
        (0, started("s1", "c1", "a")),
        (0, usage("b", &[(H5, 30.0, Some(7200))], false)),
        (0, usage("c", &[(H5, 30.0, Some(3600))], false)),
        (0, adopted()),
        (10, transcript("s1", exhausted(Some(600)), 10)),
    ]
}

#[test]
fn drain_soonest_is_the_default_and_fails_over_to_the_window_that_resets_first() {
    check(
        three(|_| {}),
        b_and_c_at_30(),
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:available
        t=0 persist active=- accounts=b:available,c:available
        t=0 persist active=a accounts=b:available,c:available
        t=10 notify warning [failover:a:c] failing over from a to c: a exhausted its five_hour window until 1970-01-01T00:10:00Z (next reset 1970-01-01T00:10:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=c accounts=a:exhausted,b:available,c:available swap=a->c[s1]
        ",
    );
}

#[test]
fn the_preference_strategy_fails_over_by_preference() {
    check(
        three(|c| c.strategy = Strategy::Preference),
        b_and_c_at_30(),
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:available
        t=0 persist active=- accounts=b:available,c:available
        t=0 persist active=a accounts=b:available,c:available
        t=10 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T00:10:00Z (next reset 1970-01-01T00:10:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=a:exhausted,b:available,c:available swap=a->b[s1]
        ",
    );
}

#[test]
fn most_headroom_fails_over_to_the_emptiest_account() {
    check(
        three(|c| c.strategy = Strategy::MostHeadroom),
        vec![
            (0, started("s1", "c1", "a")),
            (0, usage("b", &[(H5, 60.0, Some(3600))], false)),
            (0, usage("c", &[(H5, 20.0, Some(7200))], false)),
            (0, adopted()),
            (10, transcript("s1", exhausted(Some(600)), 10)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:available
        t=0 persist active=- accounts=b:available,c:available
        t=0 persist active=a accounts=b:available,c:available
        t=10 notify warning [failover:a:c] failing over from a to c: a exhausted its five_hour window until 1970-01-01T00:10:00Z (next reset 1970-01-01T00:10:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=c accounts=a:exhausted,b:available,c:available swap=a->c[s1]
        ",
    );
}

#[test]
fn never_lands_on_an_account_under_min_headroom_when_a_better_one_exists() {
    // b has 8 % left and resets in 40 minutes: drain-soonest alone would pick it.
    check(
        three(|_| {}),
        vec![
            (0, started("s1", "c1", "a")),
            (0, usage("b", &[(H5, 92.0, Some(2400))], false)),
            (0, usage("c", &[(H5, 50.0, Some(7200))], false)),
            (0, adopted()),
            (10, transcript("s1", exhausted(Some(600)), 10)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:available
        t=0 persist active=- accounts=b:available,c:available
        t=0 persist active=a accounts=b:available,c:available
        t=10 notify warning [failover:a:c] failing over from a to c: a exhausted its five_hour window until 1970-01-01T00:10:00Z (next reset 1970-01-01T00:10:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=c accounts=a:exhausted,b:available,c:available swap=a->c[s1]
        ",
    );
}

#[test]
fn a_per_account_proactive_percent_overrides_the_pools() {
    let script = vec![
        (0, started("s1", "c1", "a")),
        (0, adopted()),
        (5, idle("s1")),
        (10, statusline("a", near(85.0, Some(9000)), 10)),
    ];
    // The pool's 95 % lets a run on at 85 %.
    check(
        two(),
        script.clone(),
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 persist active=a accounts=a:near_limit
        ",
    );
    let mut config = cfg(&["a", "b"], &["s1"]);
    config.proactive_overrides.insert("a".into(), 80.0);
    check(Setup::Fresh(config), script, "
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify info [failover:a:b] failing over from a to b: a used 85% of its five_hour window (next reset 1970-01-01T02:30:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=b accounts=a:near_limit swap=a->b[s1]
        ");
}

#[test]
fn a_weekly_opus_cap_marks_that_window_not_the_whole_account() {
    check(
        three(|_| {}),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (1, model("s1", "claude-opus-4-1-20250805")),
            (5, working("s1")),
            (
                10,
                transcript(
                    "s1",
                    Verdict::QuotaExhausted {
                        window: OPUS,
                        resets_at: Some(UnixMillis::from_secs(86_400)),
                    },
                    10,
                ),
            ),
            (20, idle("s1")),
            (30, tick()),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        ",
    );
}

#[test]
fn claude_codes_fallback_to_sonnet_is_no_reason_to_swap_unless_follow_model() {
    let script = vec![
        (0, started("s1", "c1", "a")),
        (0, adopted()),
        (1, model("s1", "claude-opus-4-1-20250805")),
        (5, working("s1")),
        (
            10,
            statusline(
                "a",
                Verdict::QuotaExhausted {
                    window: OPUS,
                    resets_at: Some(UnixMillis::from_secs(86_400)),
                },
                10,
            ),
        ),
        // Claude Code goes on with Sonnet by itself.
        (11, model("s1", "claude-sonnet-4-5-20250929")),
        (20, idle("s1")),
    ];
    check(
        three(|_| {}),
        script.clone(),
        "
        t=0 persist active=-
        t=0 persist active=a
        ",
    );
    check(three(|c| c.follow_model = true), script, "
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify info [failover:a:b] failing over from a to b: a used up its weekly_opus window (next reset 1970-01-02T00:00:00Z)
        t=10 persist active=b swap=a->b[s1]
        t=20 checkpoint #1 s1 on a
        ");
}

#[test]
fn a_session_whose_model_is_known_goes_where_that_model_has_room() {
    // b is preferred over c, but its Opus week is used up: the Opus session goes to c.
    check(
        three(|_| {}),
        vec![
            (0, started("s1", "c1", "a")),
            (0, usage("b", &[(H5, 10.0, Some(3600)), (OPUS, 100.0, Some(86_400))], false)),
            (0, adopted()),
            (1, model("s1", "claude-opus-4-1-20250805")),
            (10, transcript("s1", exhausted(Some(600)), 10)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:available
        t=0 persist active=a accounts=b:available
        t=10 notify warning [failover:a:c] failing over from a to c: a exhausted its five_hour window until 1970-01-01T00:10:00Z (next reset 1970-01-01T00:10:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=c accounts=a:exhausted,b:available swap=a->c[s1]
        ",
    );
}

#[test]
fn an_account_on_extra_usage_counts_as_exhausted_unless_allowed() {
    let script = vec![
        (0, started("s1", "c1", "a")),
        (0, observed(0, "b", exhausted_until(3600))),
        (0, adopted()),
        (10, usage("a", &[(H5, 100.0, Some(1800))], true)),
    ];
    // No surprise spend: every account is out, so the session is parked.
    check(two(), script.clone(), "
        t=0 persist active=-
        t=0 persist active=- accounts=b:exhausted
        t=0 persist active=a accounts=b:exhausted
        t=10 checkpoint #1 s1 on a
        t=10 notify critical [all-exhausted:1800000] every account is exhausted or needs a login: 1 session parked; resuming automatically at 1970-01-01T00:30:00Z (next reset 1970-01-01T00:30:00Z)
        t=10 persist active=a accounts=a:exhausted,b:exhausted
        ");
    let mut config = cfg(&["a", "b"], &["s1"]);
    config.allow_extra_usage = true;
    check(
        Setup::Fresh(config),
        script,
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:exhausted
        t=0 persist active=a accounts=b:exhausted
        t=10 persist active=a accounts=a:exhausted,b:exhausted
        ",
    );
}

#[test]
fn an_idle_account_spent_elsewhere_is_skipped_from_its_usage_report() {
    check(
        three(|_| {}),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (5, usage("b", &[(H5, 100.0, Some(3600)), (WEEK, 40.0, Some(400_000))], false)),
            (10, transcript("s1", exhausted(Some(600)), 10)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=5 persist active=a accounts=b:exhausted
        t=10 notify warning [failover:a:c] failing over from a to c: a exhausted its five_hour window until 1970-01-01T00:10:00Z (next reset 1970-01-01T00:10:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=c accounts=a:exhausted,b:exhausted swap=a->c[s1]
        ",
    );
}

#[test]
fn plans_with_only_a_weekly_window_are_handled() {
    check(
        three(|_| {}),
        vec![
            (0, started("s1", "c1", "a")),
            (0, usage("b", &[(WEEK, 40.0, Some(200_000))], false)),
            (0, usage("c", &[(WEEK, 40.0, Some(100_000))], false)),
            (0, adopted()),
            (10, usage("a", &[(WEEK, 100.0, Some(300_000))], false)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:available
        t=0 persist active=- accounts=b:available,c:available
        t=0 persist active=a accounts=b:available,c:available
        t=10 notify warning [failover:a:c] failing over from a to c: a exhausted its weekly window until 1970-01-04T11:20:00Z (next reset 1970-01-04T11:20:00Z)
        t=10 checkpoint #1 s1 on a
        t=10 persist active=c accounts=a:exhausted,b:available,c:available swap=a->c[s1]
        ",
    );
}

#[test]
fn going_back_waits_for_return_headroom_percent() {
    // a resets at 100 s, but its week is 70 % used: 30 % room is short of the 50 % asked.
    check(
        two(),
        vec![
            (0, started("s1", "c1", "b")),
            (0, observed(0, "a", exhausted_until(100))),
            (0, adopted()),
            (5, idle("s1")),
            (50, usage("a", &[(WEEK, 70.0, Some(400_000))], false)),
            (100, tick()),
            (200, usage("a", &[(H5, 5.0, Some(18_000)), (WEEK, 40.0, Some(400_000))], false)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=a:exhausted
        t=0 persist active=b accounts=a:exhausted
        t=100 persist active=b accounts=a:available
        t=200 notify info [returned:b:a] a has quota again: returning from b at the next turn boundaries
        t=200 checkpoint #1 s1 on b
        t=200 persist active=a accounts=a:available swap=b->a[s1]
        ",
    );
}

#[test]
fn going_back_happens_at_most_once_per_return_cooldown() {
    let mut config = cfg(&["a", "b"], &["s1"]);
    config.return_cooldown = std::time::Duration::from_secs(1000);
    check(
        Setup::Fresh(config),
        vec![
            (0, started("s1", "c1", "b")),
            (0, observed(0, "a", exhausted_until(100))),
            (0, adopted()),
            (5, idle("s1")),
            // Back to a at its reset; the session moves at once (idle).
            (100, tick()),
            (101, done(1, checkpointed(None))),
            (102, done(2, EffectOutcome::Stopped)),
            (103, done(3, launched("c1"))),
            (104, idle("s1")),
            // a runs hot again: off to b.
            (150, statusline("a", near(96.0, Some(300)), 150)),
            (151, done(4, checkpointed(None))),
            (152, done(5, EffectOutcome::Stopped)),
            (153, done(6, launched("c1"))),
            (154, idle("s1")),
            // a's window resets at 300: no return before 1100.
            (300, tick()),
            (1099, tick()),
            (1100, tick()),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=a:exhausted
        t=0 persist active=b accounts=a:exhausted
        t=100 notify info [returned:b:a] a has quota again: returning from b at the next turn boundaries
        t=100 checkpoint #1 s1 on b
        t=100 persist active=a accounts=a:available swap=b->a[s1]
        t=101 stop #2 s1
        t=102 launch #3 s1 on a resume=c1
        t=102 persist active=a accounts=a:available swap=b->a[s1]
        t=103 persist active=a accounts=a:available
        t=150 notify info [failover:a:b] failing over from a to b: a used 96% of its five_hour window (next reset 1970-01-01T00:05:00Z)
        t=150 checkpoint #4 s1 on a
        t=150 persist active=b accounts=a:near_limit swap=a->b[s1]
        t=151 stop #5 s1
        t=152 launch #6 s1 on b resume=c1
        t=152 persist active=b accounts=a:near_limit swap=a->b[s1]
        t=153 persist active=b accounts=a:near_limit
        t=300 persist active=b accounts=a:available
        t=1100 notify info [returned:b:a] a has quota again: returning from b at the next turn boundaries
        t=1100 checkpoint #7 s1 on b
        t=1100 persist active=a accounts=a:available swap=b->a[s1]
        ",
    );
}

#[test]
fn status_says_why_each_account_is_or_is_not_the_next_choice() {
    let mut config = cfg(&["a", "b", "c", "d", "e"], &["s1"]);
    config.proactive_overrides.insert("e".into(), 50.0);
    let mut engine = FailoverEngine::new(config).unwrap();
    let at = UnixMillis::from_secs;
    engine.handle(at(0), started("s1", "c1", "a"));
    engine.handle(at(0), observed(0, "b", AccountState::NeedsLogin));
    engine.handle(at(0), usage("c", &[(H5, 100.0, Some(3600))], true));
    engine.handle(at(0), usage("d", &[(H5, 30.0, Some(3600))], false));
    engine.handle(at(0), usage("e", &[(H5, 60.0, Some(1800))], false));
    engine.handle(at(0), adopted());
    let choices: Vec<String> = engine
        .snapshot()
        .accounts
        .iter()
        .map(|a| format!("{}: {} ({})", a.id, a.choice, a.choice.is_next()))
        .collect();
    assert_eq!(
        choices,
        [
            "a: active: the pool runs on it (false)",
            "b: not next: needs a login (false)",
            "c: not next: running on extra usage (paid); allow_extra_usage is off (false)",
            "d: next: has headroom; first by drain-soonest among the best (true)",
            "e: not next: past its proactive threshold; d ranks ahead (false)",
        ]
    );
}

/// The README's example ("Choosing the next account"): where each strategy sends the pool
/// when `primary` runs out.
#[test]
fn the_readme_example_holds_for_every_strategy() {
    let destination = |strategy: Strategy, backup_used: f32| {
        let mut config = cfg(&["primary", "backup", "spare", "laptop"], &["s1"]);
        config.strategy = strategy;
        let mut engine = FailoverEngine::new(config).unwrap();
        let at = UnixMillis::from_secs;
        engine.handle(at(0), started("s1", "c1", "primary"));
        engine.handle(
            at(0),
            usage("backup", &[(H5, backup_used, Some(2400))], false),
        );
        engine.handle(at(0), usage("spare", &[(H5, 50.0, Some(10_800))], false));
        engine.handle(at(0), usage("laptop", &[(H5, 100.0, Some(2400))], false));
        engine.handle(at(0), adopted());
        engine.handle(at(10), transcript("s1", exhausted(Some(8000)), 10));
        engine.snapshot().active_account.unwrap().to_string()
    };
    for strategy in [
        Strategy::DrainSoonest,
        Strategy::MostHeadroom,
        Strategy::Preference,
    ] {
        assert_eq!(destination(strategy, 92.0), "spare", "{strategy:?}");
    }
    assert_eq!(destination(Strategy::DrainSoonest, 70.0), "backup");
    assert_eq!(destination(Strategy::Preference, 70.0), "backup");
    assert_eq!(destination(Strategy::MostHeadroom, 70.0), "spare");
}

// ----- a ledger shared by two hosts -----

/// Two accounts, one session, sharing a ledger as `host`.
fn shared_cfg(host: &str) -> EngineConfig {
    let mut config = cfg(&["a", "b"], &["s1"]);
    config.ledger = Some(LedgerSettings::new(HostId::new(host)));
    config
}

/// One host in a two-host test: its engine, and the trace of everything it did.
struct Host {
    engine: FailoverEngine,
    trace: String,
    /// What it published, not yet delivered to the other host.
    outbox: Vec<Input>,
}

impl Host {
    fn new(name: &str) -> Self {
        Self {
            engine: FailoverEngine::new(shared_cfg(name)).unwrap(),
            trace: String::new(),
            outbox: Vec::new(),
        }
    }

    fn feed(&mut self, secs: i64, input: Input) {
        for effect in self.engine.handle(UnixMillis::from_secs(secs), input) {
            self.trace
                .push_str(&format!("t={secs} {}\n", render_effect(&effect)));
            match effect {
                Effect::PublishAccount(news) => self.outbox.push(Input::AccountNews(news)),
                Effect::PublishActive(news) => self.outbox.push(Input::ActiveAccountNews(news)),
                _ => {}
            }
        }
    }

    /// Delivers what `from` published to this host at `secs`.
    fn receive(&mut self, secs: i64, from: &mut Host) {
        for input in std::mem::take(&mut from.outbox) {
            self.feed(secs, input);
        }
    }

    fn take_trace(&mut self) -> String {
        std::mem::take(&mut self.trace)
    }
}

fn lines(expect: &str) -> String {
    expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

fn lease(request: u64, outcome: LeaseOutcome) -> Input {
    done(request, EffectOutcome::Lease(outcome))
}

/// Both hosts run `s1` on `a` (conversations `c1`, `c2`); host 1's traces are dropped.
fn two_hosts() -> (Host, Host) {
    let (mut h1, mut h2) = (Host::new("host1"), Host::new("host2"));
    h1.feed(0, started("s1", "c1", "a"));
    h1.feed(0, adopted());
    h2.feed(0, started("s1", "c2", "a"));
    h2.feed(0, adopted());
    h2.receive(0, &mut h1);
    h1.receive(0, &mut h2);
    h1.take_trace();
    (h1, h2)
}

#[test]
fn a_host_moves_off_an_account_another_host_saw_exhausted_without_a_request_on_it() {
    let (mut h1, mut h2) = two_hosts();
    assert_eq!(
        h2.take_trace(),
        lines(
            "t=0 persist active=-
             t=0 publish active a by host2 at 1970-01-01T00:00:00Z
             t=0 persist active=a"
        ),
    );
    // Only host 1's session meets the limit.
    h1.feed(10, transcript("s1", exhausted(Some(3600)), 10));
    let published = h1.take_trace();
    assert!(
        published.contains(
            "t=10 publish a exhausted seen by host1 at 1970-01-01T00:00:10Z \
             until 1970-01-01T01:00:00Z\n"
        ) && published.contains("t=10 publish active b by host1 at 1970-01-01T00:00:10Z\n"),
        "{published}"
    );
    // Host 2 hears of it and moves its session to b under the lease, though nothing it
    // saw itself said a word about a.
    h2.receive(11, &mut h1);
    h2.feed(12, lease(1, LeaseOutcome::Granted));
    h2.feed(13, done(2, checkpointed(None)));
    h2.feed(14, done(3, EffectOutcome::Stopped));
    h2.feed(20, done(4, launched("c2")));
    assert_eq!(
        h2.take_trace(),
        lines(
            "
            t=11 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T01:00:00Z (next reset 1970-01-01T01:00:00Z)
            t=11 lease #1
            t=11 publish active b by host2 at 1970-01-01T00:00:11Z
            t=11 persist active=b accounts=a:exhausted
            t=12 checkpoint #2 s1 on a
            t=12 persist active=b accounts=a:exhausted swap=a->b[s1]
            t=13 stop #3 s1
            t=14 launch #4 s1 on b resume=c2
            t=14 persist active=b accounts=a:exhausted swap=a->b[s1]
            t=20 release lease
            t=20 persist active=b accounts=a:exhausted
            "
        ),
    );
    // What host 2 learnt from another host is not published back as its own evidence.
    assert!(
        h2.outbox
            .iter()
            .all(|i| !matches!(i, Input::AccountNews(_))),
        "{:?}",
        h2.outbox
    );
}

#[test]
fn a_denied_lease_holds_the_swap_until_it_is_granted() {
    let (mut h1, mut h2) = two_hosts();
    h2.take_trace();
    h1.feed(10, transcript("s1", exhausted(Some(3600)), 10));
    h2.receive(11, &mut h1);
    h2.feed(11, lease(1, LeaseOutcome::Denied));
    // Nothing moves while another host holds the lease; the engine asks again later.
    assert!(!h2.trace.contains("checkpoint"), "{}", h2.trace);
    let retry = h2.engine.next_deadline().unwrap();
    assert_eq!(retry, UnixMillis::from_secs(13));
    h2.feed(12, tick());
    assert!(!h2.trace.contains("lease #5"), "{}", h2.trace);
    h2.feed(13, tick());
    h2.feed(14, lease(2, LeaseOutcome::Granted));
    assert_eq!(
        h2.take_trace(),
        lines(
            "
            t=11 notify warning [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T01:00:00Z (next reset 1970-01-01T01:00:00Z)
            t=11 lease #1
            t=11 publish active b by host2 at 1970-01-01T00:00:11Z
            t=11 persist active=b accounts=a:exhausted
            t=13 lease #2
            t=14 checkpoint #3 s1 on a
            t=14 persist active=b accounts=a:exhausted swap=a->b[s1]
            "
        ),
    );
}

#[test]
fn an_operator_swap_waits_for_the_lease_too() {
    let (_h1, mut h2) = two_hosts();
    h2.take_trace();
    h2.feed(10, cmd(7, Command::SwapTo("b".into())));
    let trace = h2.take_trace();
    assert!(
        trace.contains("lease #"),
        "the lease is asked for first:\n{trace}"
    );
    assert!(
        !trace.contains("checkpoint"),
        "nothing moves without it:\n{trace}"
    );
    h2.feed(11, lease(1, LeaseOutcome::Denied));
    assert!(!h2.take_trace().contains("checkpoint"));
    h2.feed(13, tick());
    h2.feed(14, lease(2, LeaseOutcome::Granted));
    assert!(
        h2.take_trace().contains("t=14 checkpoint"),
        "the swap starts once the lease is held"
    );
}

#[test]
fn an_unreachable_ledger_never_holds_a_swap() {
    let (mut h1, mut h2) = two_hosts();
    h2.take_trace();
    h1.feed(10, transcript("s1", exhausted(Some(3600)), 10));
    h2.receive(11, &mut h1);
    h2.feed(12, lease(1, LeaseOutcome::Unavailable));
    h2.feed(13, done(2, checkpointed(None)));
    h2.feed(14, done(3, EffectOutcome::Stopped));
    h2.feed(20, done(4, launched("c2")));
    let trace = h2.take_trace();
    assert!(trace.contains("t=12 checkpoint #2 s1 on a\n"), "{trace}");
    assert!(
        trace.contains("t=14 launch #4 s1 on b resume=c2\n"),
        "{trace}"
    );
    // A lease the store never granted is not given back to it.
    assert!(!trace.contains("release lease"), "{trace}");
}

#[test]
fn older_available_news_never_undoes_a_future_exhausted_until() {
    let (mut h1, mut h2) = two_hosts();
    h1.feed(10, transcript("s1", exhausted(Some(3600)), 10));
    h2.receive(11, &mut h1);
    let news = |state: AccountState, at: i64| {
        Input::AccountNews(AccountNews {
            account: "a".into(),
            state,
            seen_by: HostId::new("host3"),
            seen_at: UnixMillis::from_secs(at),
        })
    };
    let state_of_a = |h: &Host| h.engine.accounts().state(&"a".into()).cloned().unwrap();
    // Delayed news (a third host, back from a partition) from before the exhaustion.
    h2.feed(12, news(AccountState::Available, 5));
    assert_eq!(
        state_of_a(&h2),
        AccountState::Exhausted {
            window: LimitWindow::FiveHour,
            until: UnixMillis::from_secs(3600)
        }
    );
    // As old as the exhaustion: still not newer.
    h2.feed(12, news(AccountState::Available, 10));
    assert!(matches!(state_of_a(&h2), AccountState::Exhausted { .. }));
    // News seen after it wins: the newest evidence decides.
    h2.feed(13, news(AccountState::Available, 12));
    assert_eq!(state_of_a(&h2), AccountState::Available);
    // The same holds for the host that saw the exhaustion itself.
    h1.feed(14, news(AccountState::Available, 9));
    assert!(matches!(state_of_a(&h1), AccountState::Exhausted { .. }));
}

#[test]
fn ledger_news_is_ignored_without_a_ledger() {
    let mut engine = FailoverEngine::new(cfg(&["a", "b"], &["s1"])).unwrap();
    engine.handle(UnixMillis::from_secs(0), started("s1", "c1", "a"));
    engine.handle(UnixMillis::from_secs(0), adopted());
    let effects = engine.handle(
        UnixMillis::from_secs(5),
        Input::AccountNews(AccountNews {
            account: "a".into(),
            state: exhausted_until(3600),
            seen_by: HostId::new("host1"),
            seen_at: UnixMillis::from_secs(5),
        }),
    );
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(engine.snapshot().ignored_inputs, 1);
    // And a local verdict publishes nothing and takes no lease.
    let effects = engine.handle(
        UnixMillis::from_secs(6),
        transcript("s1", exhausted(Some(3600)), 6),
    );
    assert!(
        effects
            .iter()
            .all(|e| !matches!(e, Effect::PublishAccount(_) | Effect::AcquireLease { .. })),
        "{effects:?}"
    );
}

#[test]
fn an_unanswered_lease_request_counts_as_an_unreachable_ledger() {
    let (mut h1, mut h2) = two_hosts();
    h2.take_trace();
    h1.feed(10, transcript("s1", exhausted(Some(3600)), 10));
    h2.receive(11, &mut h1);
    // The default effect timeout is two minutes: the swap waits that long at most.
    assert_eq!(h2.engine.next_deadline(), Some(UnixMillis::from_secs(131)));
    h2.feed(130, tick());
    assert!(!h2.trace.contains("checkpoint"), "{}", h2.trace);
    h2.feed(131, tick());
    let trace = h2.take_trace();
    assert!(trace.contains("t=131 checkpoint #2 s1 on a\n"), "{trace}");
    // A reply that comes after that changes nothing.
    h2.feed(132, lease(1, LeaseOutcome::Denied));
    assert_eq!(
        h2.engine.snapshot().swap.map(|s| s.to.to_string()),
        Some("b".into())
    );
}

// ----- extra usage seen by the session itself (screen notice, response headers) -----

fn headers_of(account: &str, verdict: Verdict, observed: i64) -> Input {
    detect(
        Subject::Account(account.into()),
        SignalSource::Headers,
        verdict,
        observed,
    )
}

/// The plan's five-hour window ran out at t=10 and extra usage took over until t=1800.
fn extra_usage(resets: i64) -> Verdict {
    Verdict::ExtraUsage {
        window: H5,
        resets_at: Some(UnixMillis::from_secs(resets)),
    }
}

#[test]
fn extra_usage_on_screen_moves_the_session_at_its_turn_boundary_not_mid_turn() {
    // Claude Code's own footer notice, read by the pane detector, twice (pane evidence
    // needs confirming). The session keeps working (paid): it finishes its turn, then moves.
    let screen = include_str!("fixtures/quota/wordings/v2.1-now-using-extra-usage-footer.txt");
    let seen = |at: i64| {
        let detection =
            PaneDetector::new().detect(screen, &DetectContext::utc(UnixMillis::from_secs(at)));
        assert!(
            matches!(
                detection.verdict,
                Verdict::ExtraUsage {
                    window: LimitWindow::FiveHour,
                    ..
                }
            ),
            "{detection:?}"
        );
        pane("s1", detection.verdict, at)
    };
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (5, working("s1")),
            (10, seen(10)),
            (12, seen(12)),
            (20, working("s1")),
            (30, idle("s1")),
            (31, done(1, checkpointed(Some("last")))),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=12 notify warning [failover:a:b] failing over from a to b: a runs on extra usage (paid) and allow_extra_usage is off (next reset 1970-01-01T15:00:00Z)
        t=12 persist active=b accounts=a:exhausted swap=a->b[s1]
        t=30 checkpoint #1 s1 on a
        t=31 stop #2 s1
        ",
    );
}

#[test]
fn extra_usage_in_the_headers_when_allowed_moves_only_to_an_account_with_headroom() {
    let script = vec![
        (0, started("s1", "c1", "a")),
        (0, adopted()),
        (5, working("s1")),
        (10, headers_of("a", extra_usage(1800), 10)),
        (20, idle("s1")),
    ];
    // Allowed, it is a last resort like an account past its threshold: the session moves to
    // b, which has headroom, at its turn boundary.
    check(
        Setup::Fresh({
            let mut c = cfg(&["a", "b"], &["s1"]);
            c.allow_extra_usage = true;
            c
        }),
        script.clone(),
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 notify info [failover:a:b] failing over from a to b: a exhausted its five_hour window until 1970-01-01T00:30:00Z (next reset 1970-01-01T00:30:00Z)
        t=10 persist active=b accounts=a:exhausted swap=a->b[s1]
        t=20 checkpoint #1 s1 on a
        ",
    );
    // Allowed, with nowhere better to go (b is exhausted): the session stays and pays.
    let mut only_a = script;
    only_a.insert(1, (0, observed(0, "b", exhausted_until(3600))));
    check(
        Setup::Fresh({
            let mut c = cfg(&["a", "b"], &["s1"]);
            c.allow_extra_usage = true;
            c
        }),
        only_a,
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:exhausted
        t=0 persist active=a accounts=b:exhausted
        t=10 persist active=a accounts=a:exhausted,b:exhausted
        ",
    );
}

#[test]
fn extra_usage_with_nowhere_else_to_go_parks_the_session_once_its_turn_ends() {
    // No surprise spend: every other account is out, so the session is parked: after the
    // turn it is working on (cutting it would throw that work away), not in the middle.
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, observed(0, "b", exhausted_until(3600))),
            (0, adopted()),
            (5, working("s1")),
            (10, headers_of("a", extra_usage(1800), 10)),
            (20, tick()),
            (30, idle("s1")),
        ],
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:exhausted
        t=0 persist active=a accounts=b:exhausted
        t=10 notify critical [all-exhausted:1800000] every account is exhausted or needs a login: 1 session parked; resuming automatically at 1970-01-01T00:30:00Z (next reset 1970-01-01T00:30:00Z)
        t=10 persist active=a accounts=a:exhausted,b:exhausted
        t=30 checkpoint #1 s1 on a
        ",
    );
}

#[test]
fn extra_usage_the_statusline_contradicts_is_vetoed() {
    // A notice on screen about the five-hour window while the statusline reads it at 40 %:
    // history, not news (a resumed screen, a stale footer).
    check(
        two(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (5, working("s1")),
            (6, statusline_usage("s1", 40.0, 6)),
            (10, pane("s1", extra_usage(1800), 10)),
            (12, pane("s1", extra_usage(1800), 12)),
            (30, idle("s1")),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 vetoed s1 on a extra_usage (statusline_below_limit)
        t=12 vetoed s1 on a extra_usage (statusline_below_limit)
        ",
    );
}

// ----- one usage read right before choosing a destination -----

/// Three accounts; the embedder serves usage reads on request.
fn three_reading() -> Setup {
    three(|c| c.read_usage_before_choosing = true)
}

#[test]
fn the_engine_reads_idle_accounts_right_before_choosing_and_skips_one_spent_elsewhere() {
    // Nothing is known of b and c when a runs out. The engine asks for their usage first
    // (not a's: its session feeds its statusline); b turns out spent on a laptop, so the
    // session goes to c, not to b as preference and drain-soonest alone would have it.
    check(
        three_reading(),
        vec![
            (0, started("s1", "c1", "a")),
            (0, adopted()),
            (10, transcript("s1", exhausted(Some(600)), 10)),
            (11, usage("b", &[(H5, 100.0, Some(3600))], false)),
            (11, usage("c", &[(H5, 30.0, Some(7200))], false)),
        ],
        "
        t=0 persist active=-
        t=0 persist active=a
        t=10 read usage b,c
        t=10 persist active=a accounts=a:exhausted
        t=11 persist active=a accounts=a:exhausted,b:exhausted
        t=11 notify warning [failover:a:c] failing over from a to c: a exhausted its five_hour window until 1970-01-01T00:10:00Z (next reset 1970-01-01T00:10:00Z)
        t=11 checkpoint #1 s1 on a
        t=11 persist active=c accounts=a:exhausted,b:exhausted,c:available swap=a->c[s1]
        ",
    );
}

#[test]
fn a_slow_usage_endpoint_holds_the_choice_two_seconds_at_most_and_fresh_reads_are_not_repeated() {
    // b was read a few seconds ago: only c is asked for. c never answers: at the end of the
    // wait the engine chooses with what it knows.
    let mut engine = FailoverEngine::new({
        let mut c = cfg(&["a", "b", "c"], &["s1"]);
        c.read_usage_before_choosing = true;
        c
    })
    .unwrap();
    let at = UnixMillis::from_secs;
    engine.handle(at(0), started("s1", "c1", "a"));
    engine.handle(at(0), adopted());
    engine.handle(at(5), usage("b", &[(H5, 20.0, Some(7200))], false));
    let asked = engine.handle(at(10), transcript("s1", exhausted(Some(600)), 10));
    assert!(
        asked.contains(&Effect::ReadUsage {
            accounts: vec!["c".into()]
        }),
        "{asked:?}"
    );
    assert_eq!(engine.snapshot().usage_wanted, vec!["c".into()]);
    assert!(!asked.iter().any(|e| matches!(e, Effect::Checkpoint { .. })));
    // The wait is a deadline the embedder wakes the engine at.
    assert_eq!(engine.next_deadline(), Some(at(12)));
    let before = engine.handle(at(11), tick());
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, Effect::Checkpoint { .. }))
    );
    let after = engine.handle(at(12), tick());
    assert!(
        after
            .iter()
            .any(|e| matches!(e, Effect::Checkpoint { account, .. } if account.as_str() == "a")),
        "{after:?}"
    );
    assert_eq!(engine.snapshot().active_account, Some("b".into()));
    assert!(engine.snapshot().usage_wanted.is_empty());
}

#[test]
fn usage_reads_before_choosing_are_asked_once_per_episode() {
    // a stays past its threshold with nowhere better to go: one ask, not one per input.
    let script = vec![
        (0, started("s1", "c1", "a")),
        (0, observed(0, "b", exhausted_until(7200))),
        (0, adopted()),
        (5, working("s1")),
        (10, statusline("a", near(96.0, Some(9000)), 10)),
        (11, usage("b", &[(H5, 100.0, Some(7200))], false)),
        (20, statusline("a", near(97.0, Some(9000)), 20)),
        (30, idle("s1")),
        (100, statusline("a", near(98.0, Some(9000)), 100)),
    ];
    check(
        Setup::Fresh({
            let mut c = cfg(&["a", "b"], &["s1"]);
            c.read_usage_before_choosing = true;
            c
        }),
        script,
        "
        t=0 persist active=-
        t=0 persist active=- accounts=b:exhausted
        t=0 persist active=a accounts=b:exhausted
        t=10 read usage b
        t=10 persist active=a accounts=a:near_limit,b:exhausted
        t=20 persist active=a accounts=a:near_limit,b:exhausted
        t=100 persist active=a accounts=a:near_limit,b:exhausted
        ",
    );
}
