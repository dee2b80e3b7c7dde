//! proptest strategies for engine inputs over a small, fixed cast of accounts and sessions
//! (so random inputs collide with real state instead of missing it).

use std::time::Duration;

use proptest::prelude::*;

use crate::account::{AccountState, LimitWindow, UsageReport, WindowUsage};
use crate::engine::{Command, EffectOutcome, Input, Subject};
use crate::error_kind::FailureKind;
use crate::ids::{AccountId, ClaudeSessionId, CommandId, RequestId, SessionId};
use crate::ledger::{AccountNews, HostId};
use crate::quota::{AuthReason, Detection, SignalSource, TransientKind, Verdict};
use crate::session::Activity;
use crate::time::UnixMillis;

/// Any limit window.
pub fn window() -> impl Strategy<Value = LimitWindow> {
    prop::sample::select(LimitWindow::ALL.to_vec())
}

/// Any source.
pub fn source() -> impl Strategy<Value = SignalSource> {
    prop::sample::select(SignalSource::ALL.to_vec())
}

/// An instant within the first `horizon_secs` seconds after the epoch.
pub fn instant(horizon_secs: i64) -> impl Strategy<Value = UnixMillis> {
    (0..horizon_secs.max(1) * 1000).prop_map(UnixMillis)
}

/// A transient verdict.
pub fn transient_verdict() -> impl Strategy<Value = Verdict> {
    prop::sample::select(vec![
        TransientKind::ServerError,
        TransientKind::Overloaded,
        TransientKind::Throttled,
        TransientKind::Network,
    ])
    .prop_map(|kind| Verdict::Transient { kind })
}

/// Any verdict; reset instants fall within `horizon_secs`.
pub fn verdict(horizon_secs: i64) -> impl Strategy<Value = Verdict> {
    prop_oneof![
        2 => Just(Verdict::Clear),
        2 => (window(), 0.0f32..=100.0, prop::option::of(instant(horizon_secs))).prop_map(
            |(window, used_percent, resets_at)| Verdict::NearLimit { window, used_percent, resets_at }
        ),
        3 => (window(), prop::option::of(instant(horizon_secs)))
            .prop_map(|(window, resets_at)| Verdict::QuotaExhausted { window, resets_at }),
        1 => (window(), prop::option::of(instant(horizon_secs)))
            .prop_map(|(window, resets_at)| Verdict::ExtraUsage { window, resets_at }),
        2 => transient_verdict(),
        1 => prop::sample::select(vec![AuthReason::NotLoggedIn, AuthReason::Expired, AuthReason::Rejected])
            .prop_map(|reason| Verdict::AuthRequired { reason }),
    ]
}

/// Any account state; reset instants fall within `horizon_secs`.
pub fn account_state(horizon_secs: i64) -> impl Strategy<Value = AccountState> {
    prop_oneof![
        Just(AccountState::Unknown),
        Just(AccountState::Available),
        (
            window(),
            0.0f32..=100.0,
            prop::option::of(instant(horizon_secs))
        )
            .prop_map(
                |(window, used_percent, resets_at)| AccountState::NearLimit {
                    window,
                    used_percent,
                    resets_at
                }
            ),
        (window(), instant(horizon_secs))
            .prop_map(|(window, until)| AccountState::Exhausted { window, until }),
        Just(AccountState::NeedsLogin),
    ]
}

/// News from another host's ledger about one of `accounts`, in any state.
pub fn account_news(
    accounts: Vec<AccountId>,
    horizon_secs: i64,
) -> impl Strategy<Value = AccountNews> {
    (
        prop::sample::select(accounts),
        account_state(horizon_secs),
        prop::sample::select(vec![HostId::new("other-host"), HostId::new("third-host")]),
        instant(horizon_secs),
    )
        .prop_map(|(account, state, seen_by, seen_at)| AccountNews {
            account,
            state,
            seen_by,
            seen_at,
        })
}

/// Any usage report (windows at any use, sometimes past 100 %, sometimes on extra usage);
/// reset instants fall within `horizon_secs`.
pub fn usage_report(horizon_secs: i64) -> impl Strategy<Value = UsageReport> {
    (
        prop::collection::vec(
            (
                window(),
                0.0f32..=110.0,
                prop::option::of(instant(horizon_secs)),
            )
                .prop_map(|(window, used_percent, resets_at)| WindowUsage {
                    window,
                    used_percent,
                    resets_at,
                }),
            0..4,
        ),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(windows, extra_usage)| UsageReport {
            windows,
            extra_usage,
            grants: Vec::new(),
        })
}

/// A model id: Opus, Sonnet, or another family.
pub fn model() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "claude-opus-4-1-20250805".to_owned(),
        "claude-sonnet-4-5-20250929".to_owned(),
        "claude-haiku-4-5".to_owned(),
    ])
}

/// Any operator command about `accounts` (plus one unknown account).
pub fn command(accounts: Vec<AccountId>) -> impl Strategy<Value = Command> {
    let mut targets = accounts;
    targets.push(AccountId::new("no-such-account"));
    prop_oneof![
        Just(Command::SwapNow),
        prop::sample::select(targets).prop_map(Command::SwapTo),
        Just(Command::Pause),
        Just(Command::Resume),
        Just(Command::Drain),
    ]
}

/// Any effect outcome.
pub fn outcome() -> impl Strategy<Value = EffectOutcome> {
    prop_oneof![
        (prop::option::of("[a-z ]{1,12}"), any::<bool>()).prop_map(|(last_prompt, unanswered)| {
            EffectOutcome::Checkpointed {
                last_prompt,
                unanswered,
            }
        }),
        Just(EffectOutcome::Stopped),
        ("[a-z0-9]{4}", prop::option::of("[a-z ]{1,12}")).prop_map(|(id, unanswered_prompt)| {
            EffectOutcome::Launched {
                claude_session: ClaudeSessionId::new(id),
                unanswered_prompt,
            }
        }),
        Just(EffectOutcome::PromptSent),
        Just(EffectOutcome::ResumedTurnOver),
        prop::sample::select(vec![
            FailureKind::Transient,
            FailureKind::ResumeImpossible,
            FailureKind::Permanent
        ])
        .prop_map(|kind| EffectOutcome::Failed {
            kind,
            detail: "random failure".to_owned()
        }),
    ]
}

/// A detection about one of `sessions` or `accounts`.
pub fn detection_input(
    sessions: Vec<SessionId>,
    accounts: Vec<AccountId>,
    horizon_secs: i64,
) -> impl Strategy<Value = Input> {
    let subject = prop_oneof![
        3 => prop::sample::select(sessions).prop_map(Subject::Session),
        1 => prop::sample::select(accounts).prop_map(Subject::Account),
    ];
    (
        subject,
        source(),
        verdict(horizon_secs),
        instant(horizon_secs),
    )
        .prop_map(|(subject, source, verdict, observed_at)| Input::Detection {
            subject,
            source,
            detection: Detection {
                verdict,
                evidence: None,
            },
            observed_at,
        })
}

/// A structured reading about one of `accounts` (the statusline's, or response headers'):
/// trusted on one observation, it sets the account's state at once.
pub fn account_reading(
    accounts: Vec<AccountId>,
    horizon_secs: i64,
) -> impl Strategy<Value = Input> {
    (
        prop::sample::select(accounts),
        prop::sample::select(vec![SignalSource::Statusline, SignalSource::Headers]),
        verdict(horizon_secs),
        instant(horizon_secs),
    )
        .prop_map(|(account, source, verdict, observed_at)| Input::Detection {
            subject: Subject::Account(account),
            source,
            detection: Detection {
                verdict,
                evidence: None,
            },
            observed_at,
        })
}

/// Any input about `sessions` and `accounts`. Request ids are small, so that random replies
/// often answer real outstanding effects.
pub fn input(
    sessions: Vec<SessionId>,
    accounts: Vec<AccountId>,
    horizon_secs: i64,
) -> impl Strategy<Value = Input> {
    let s = prop::sample::select(sessions.clone());
    let a = prop::sample::select(accounts.clone());
    prop_oneof![
        6 => detection_input(sessions.clone(), accounts.clone(), horizon_secs),
        2 => (s.clone(), prop::option::of("[a-z0-9]{4}"), prop::option::of(a.clone())).prop_map(
            |(session, claude, account)| Input::SessionStarted {
                session,
                claude_session: claude.map(ClaudeSessionId::new),
                account,
            }
        ),
        2 => (s.clone(), prop::option::of(0i32..3))
            .prop_map(|(session, status)| Input::SessionExited { session, status }),
        4 => (s.clone(), prop::bool::ANY).prop_map(|(session, idle)| Input::SessionActivity {
            session,
            activity: if idle { Activity::Idle } else { Activity::Working },
        }),
        1 => (s.clone(), "[a-z0-9]{4}").prop_map(|(session, id)| Input::ClaudeSessionLearned {
            session,
            claude_session: ClaudeSessionId::new(id),
        }),
        1 => account_reading(accounts.clone(), horizon_secs),
        1 => account_news(accounts.clone(), horizon_secs).prop_map(Input::AccountNews),
        2 => (a, usage_report(horizon_secs))
            .prop_map(|(account, report)| Input::UsageObserved { account, report }),
        1 => (s, model()).prop_map(|(session, model)| Input::SessionModel { session, model }),
        6 => (1u64..40, outcome())
            .prop_map(|(r, outcome)| Input::EffectFinished { request: RequestId::for_tests(r), outcome }),
        3 => Just(Input::Tick),
        2 => (1000u64..1100, command(accounts))
            .prop_map(|(r, command)| Input::Command { id: CommandId::new(r), command }),
        1 => Just(Input::AdoptionComplete),
    ]
}

/// A script: inputs with the delay before each (up to `max_gap_secs`).
pub fn script(
    sessions: Vec<SessionId>,
    accounts: Vec<AccountId>,
    horizon_secs: i64,
    max_gap_secs: u64,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<(Duration, Input)>> {
    prop::collection::vec(
        (
            (0..=max_gap_secs * 1000).prop_map(Duration::from_millis),
            input(sessions, accounts, horizon_secs),
        ),
        len,
    )
}
