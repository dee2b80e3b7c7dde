//! Idle accounts' usage from the OAuth usage endpoint, against the mock API: one read with
//! the account's token (in memory only), the read budget, and a running daemon that reads
//! an idle account spent elsewhere and so fails over past it.

use crate::support as common;

use std::path::Path;
use std::time::Duration;

use common::http::{self as client};
use common::*;
use failover_core::testkit;
use failover_core::{
    AccountId, AccountState, FailoverEngine, Input, LimitWindow, SessionId, UnixMillis,
};
use failover_daemon::Daemon;
use failover_daemon::http::dto::StatusDto;
use failover_daemon::tasks::usage_poller::UsageSchedule;
use failover_daemon::usage::{DEFAULT_RETRY_AFTER, UsageRead, read_usage};
use failover_sim::mock_api::{MockAccount, MockApi, MockApiConfig, UsageAnswer};
use serde_json::json;
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_secs(20);
/// 2100-01-01: an access token that does not expire during the test.
const FAR: i64 = 4_102_444_800_000;

fn write_credentials(dir: &Path, token: &str, expires_at: i64) -> String {
    let text = json!({"claudeAiOauth": {
        "accessToken": token,
        "refreshToken": format!("refresh-{token}"),
        "expiresAt": expires_at,
        "scopes": ["user:inference", "user:profile"],
        "subscriptionType": "max"
    }})
    .to_string();
    std::fs::write(dir.join(".credentials.json"), &text).unwrap();
    text
}

fn usage_url(api: &MockApi) -> String {
    format!("{}/api/oauth/usage", api.base_url())
}

#[tokio::test]
async fn one_read_uses_the_accounts_token_in_memory_and_respects_its_expiry_and_429() {
    let api = MockApi::start(MockApiConfig::local(vec![
        MockAccount::new("tok-a", "a"),
        MockAccount::new("tok-b", "b"),
    ]))
    .await
    .unwrap();
    let tree = Tree::new(&["a", "b", "c"], &[]);
    let dir = |n: &str| tree.path().join("accounts").join(n);
    let before = write_credentials(&dir("a"), "tok-a", FAR);
    write_credentials(&dir("b"), "tok-b", T0.0 - 1);
    api.set_usage(
        "a",
        UsageAnswer::Body(json!({
            "five_hour": null,
            "seven_day": {"utilization": 100.0, "resets_at": "2026-11-22T12:00:00Z"},
            "seven_day_opus": {"utilization": 12.5, "resets_at": null},
            "extra_usage": {"is_enabled": true, "monthly_limit": 5000, "used_credits": 120.0, "utilization": 2.4}
        })),
    );
    let http = reqwest::Client::new();
    let url = usage_url(&api);

    let read = read_usage(&http, &url, &dir("a"), T0).await;
    let UsageRead::Report(report) = read else {
        panic!("expected a report, got {read:?}");
    };
    // A weekly-only plan on extra usage: the week is spent, and the account goes on paying.
    let windows: Vec<_> = report
        .windows
        .iter()
        .map(|w| (w.window, w.used_percent, w.resets_at))
        .collect();
    assert_eq!(
        windows,
        vec![
            (
                LimitWindow::Weekly,
                100.0,
                Some(UnixMillis(1_795_348_800_000))
            ),
            (LimitWindow::WeeklyOpus, 12.5, None),
        ]
    );
    assert!(report.extra_usage);
    let served = api.requests();
    assert_eq!(served.len(), 1);
    // Asked with the grants' status query (a read, never a claim).
    assert_eq!(served[0].method, "GET");
    assert_eq!(served[0].path, "/api/oauth/usage?cedar_ember=1");
    assert_eq!(served[0].token.as_deref(), Some("tok-a"));
    // The mock answers 401 without the beta header: 200 means it was sent.
    assert_eq!(served[0].status, 200);
    // The credentials file is read, never rewritten.
    assert_eq!(
        std::fs::read_to_string(dir("a").join(".credentials.json")).unwrap(),
        before
    );

    // An expired token is "unknown", and nothing is sent (no refresh, no request).
    assert!(matches!(
        read_usage(&http, &url, &dir("b"), T0).await,
        UsageRead::Unknown(_)
    ));
    // No login at all: the same.
    assert!(matches!(
        read_usage(&http, &url, &dir("c"), T0).await,
        UsageRead::Unknown(_)
    ));
    assert_eq!(api.requests().len(), 1);

    // 429: its retry-after is passed on; without one, an hour.
    api.set_usage(
        "a",
        UsageAnswer::RateLimited {
            retry_after_secs: 1800,
        },
    );
    assert_eq!(
        read_usage(&http, &url, &dir("a"), T0).await,
        UsageRead::RetryAfter(Duration::from_secs(1800))
    );
    assert_eq!(DEFAULT_RETRY_AFTER, Duration::from_secs(3600));
    api.shutdown().await.unwrap();
}

/// The snapshot of an engine whose one session runs on `a`, with `a` in `state`.
fn snapshot_with(a_state: AccountState) -> failover_core::StatusSnapshot {
    let mut engine = FailoverEngine::new(testkit::config(&["a", "b", "c"], &["s1"])).unwrap();
    engine.handle(
        T0,
        Input::SessionStarted {
            session: SessionId::new("s1"),
            claude_session: None,
            account: Some(AccountId::new("a")),
        },
    );
    engine.handle(T0, Input::AdoptionComplete);
    engine.handle(T0, testkit::account_seen("a", a_state, T0));
    engine.snapshot()
}

#[test]
fn the_budget_reads_idle_accounts_once_per_period_and_once_more_before_a_choice() {
    let ids = |v: &[&str]| v.iter().map(|s| AccountId::new(*s)).collect::<Vec<_>>();
    let period = Duration::from_secs(600);
    let t0 = Instant::now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    let calm = snapshot_with(AccountState::Available);
    let mut schedule = UsageSchedule::new(period, ids(&["a", "b", "c"]), t0);

    assert_eq!(schedule.due(at(0), &calm), ids(&[]));
    // a runs the session (its statusline reports it): never read. b and c once each.
    assert_eq!(schedule.due(at(5), &calm), ids(&["b", "c"]));
    assert_eq!(schedule.due(at(6), &calm), ids(&[]));
    // Not again within the period; again within the period plus its jitter (a tenth).
    assert_eq!(schedule.due(at(5 + 599), &calm), ids(&[]));
    assert_eq!(schedule.due(at(5 + 661), &calm), ids(&["b", "c"]));

    // b's endpoint said 429 for half an hour: c is read, b is not until it is over.
    schedule.hold(&AccountId::new("b"), at(666 + 1800));
    assert_eq!(schedule.due(at(666 + 661), &calm), ids(&["c"]));
    // c's period comes round again; b is still held.
    assert_eq!(schedule.due(at(666 + 1799), &calm), ids(&["c"]));
    assert_eq!(schedule.due(at(666 + 1800), &calm), ids(&["b"]));

    // a turns near its limit: the engine is about to choose a destination. Reads younger
    // than a minute are not repeated...
    let hot = snapshot_with(AccountState::NearLimit {
        window: LimitWindow::FiveHour,
        used_percent: 96.0,
        resets_at: None,
    });
    assert_eq!(schedule.due(at(666 + 1830), &hot), ids(&[]));
    // ...older ones are, once per turn of a's state, not again while it stays there.
    let spent = snapshot_with(AccountState::Exhausted {
        window: LimitWindow::FiveHour,
        until: UnixMillis(FAR),
    });
    assert_eq!(schedule.due(at(666 + 1870), &spent), ids(&["b", "c"]));
    assert_eq!(schedule.due(at(666 + 1871), &spent), ids(&[]));
    assert_eq!(schedule.due(at(666 + 1999), &spent), ids(&[]));
}

#[tokio::test]
async fn a_running_daemon_reads_idle_accounts_and_fails_over_past_one_spent_elsewhere() {
    let api = MockApi::start(MockApiConfig::local(vec![
        MockAccount::new("tok-primary", "primary"),
        MockAccount::new("tok-backup", "backup"),
        MockAccount::new("tok-spare", "spare"),
    ]))
    .await
    .unwrap();
    // backup (preferred over spare) was used up on a laptop; spare has room.
    api.set_usage(
        "backup",
        UsageAnswer::Body(json!({
            "five_hour": {"utilization": 100.0, "resets_at": "2026-11-20T15:00:00Z"},
            "seven_day": {"utilization": 35.0, "resets_at": "2026-11-25T12:00:00Z"}
        })),
    );
    api.set_usage(
        "spare",
        UsageAnswer::Body(json!({
            "five_hour": {"utilization": 20.0, "resets_at": "2026-11-20T16:00:00Z"},
            "seven_day": {"utilization": 10.0, "resets_at": "2026-11-26T12:00:00Z"}
        })),
    );
    let accounts = ["primary", "backup", "spare"];
    let sessions = ["ccl-0"];
    let tree = Tree::new(&accounts, &sessions);
    for a in accounts {
        write_credentials(
            &tree.path().join("accounts").join(a),
            &format!("tok-{a}"),
            FAR,
        );
    }
    let fakes = Fakes::new();
    let (deps, obs) = fakes.deps(&tree);
    let extra = format!(
        "[quota]\nusage_url = \"{}\"\nusage_poll = \"10m\"\n",
        usage_url(&api)
    );
    let daemon = Daemon::start(tree.config(&accounts, &sessions, &extra), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let task = tokio::spawn(daemon.run(std::future::pending()));
    eventually(LIMIT, "session running on primary", || {
        fakes.accounts_of(&sessions) == vec![Some("primary".into())]
    })
    .await;

    // Both idle accounts are read; backup is known spent before anything happens.
    handle
        .wait_for(LIMIT, |p| {
            let state = |id: &str| {
                p.snapshot
                    .accounts
                    .iter()
                    .find(|a| a.id.as_str() == id)
                    .map(|a| a.state.name())
            };
            state("backup") == Some("exhausted") && state("spare") == Some("available")
        })
        .await
        .unwrap();
    let status: StatusDto = serde_json::from_str(
        &client::unix(&tree.socket(), "GET", "/v1/status", "")
            .await
            .body,
    )
    .unwrap();
    let choice = |name: &str| {
        status
            .accounts
            .iter()
            .find(|a| a.name == name)
            .map(|a| (a.choice.next, a.choice.reason.clone()))
            .unwrap()
    };
    assert_eq!(
        choice("primary"),
        (false, "active: the pool runs on it".to_owned())
    );
    assert_eq!(
        choice("backup"),
        (
            false,
            "not next: five_hour used up until 2026-11-20T15:00:00Z".to_owned()
        )
    );
    assert!(choice("spare").0, "{:?}", choice("spare"));
    let spare = status.accounts.iter().find(|a| a.name == "spare").unwrap();
    assert_eq!(spare.windows.len(), 2);
    assert_eq!(spare.windows[0].window, "five_hour");
    assert_eq!(spare.windows[0].used_percent, 20.0);
    // primary runs the session: its usage is never read.
    let tokens: Vec<_> = api.requests().into_iter().filter_map(|r| r.token).collect();
    assert!(!tokens.iter().any(|t| t == "tok-primary"), "{tokens:?}");
    assert!(tokens.iter().any(|t| t == "tok-backup"), "{tokens:?}");

    // primary runs out: the session goes to spare, not to the preferred but spent backup.
    let now = handle.clock().now();
    obs.send(quota_exhausted("ccl-0", UnixMillis(FAR), now))
        .await
        .unwrap();
    eventually(LIMIT, "session moved to spare", || {
        fakes.accounts_of(&sessions) == vec![Some("spare".into())]
    })
    .await;

    task.abort();
    api.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_mock_reports_the_usage_its_mode_implies() {
    let api = MockApi::start(MockApiConfig::local(vec![MockAccount::new("tok-a", "a")]))
        .await
        .unwrap();
    let tree = Tree::new(&["a"], &[]);
    let dir = tree.path().join("accounts").join("a");
    write_credentials(&dir, "tok-a", FAR);
    let http = reqwest::Client::new();
    let url = usage_url(&api);
    let resets = 4_102_444_800u64;
    api.set_mode(
        "a",
        failover_sim::mock_api::Mode::QuotaExhausted {
            window: failover_sim::mock_api::ClaimWindow::SevenDay,
            resets_at: resets,
        },
    );
    let UsageRead::Report(report) = read_usage(&http, &url, &dir, T0).await else {
        panic!("expected a report");
    };
    let weekly = report
        .windows
        .iter()
        .find(|w| w.window == LimitWindow::Weekly)
        .unwrap();
    assert_eq!(weekly.used_percent, 100.0);
    assert_eq!(weekly.resets_at, Some(UnixMillis::from_secs(resets as i64)));
    let five = report
        .windows
        .iter()
        .find(|w| w.window == LimitWindow::FiveHour)
        .unwrap();
    assert_eq!(five.used_percent, 0.0);
    api.shutdown().await.unwrap();
}

#[test]
fn usage_reports_and_models_show_in_the_event_stream() {
    use failover_core::{UsageReport, WindowUsage};
    use failover_daemon::events::{DaemonEvent, DaemonEventKind};
    use failover_daemon::http::convert::event_dto;
    use failover_daemon::http::dto::EventKindDto;
    let event = |input: Input| {
        event_dto(&DaemonEvent {
            seq: 1,
            at: T0,
            kind: DaemonEventKind::Input {
                input,
                latency_ms: None,
            },
        })
        .unwrap()
        .event
    };
    let usage = event(Input::UsageObserved {
        account: AccountId::new("spare"),
        report: UsageReport {
            windows: vec![WindowUsage {
                window: LimitWindow::FiveHour,
                used_percent: 100.0,
                resets_at: None,
            }],
            extra_usage: true,
            grants: Vec::new(),
        },
    });
    let EventKindDto::Effect {
        effect,
        account,
        detail,
        ..
    } = usage
    else {
        panic!("{usage:?}");
    };
    assert_eq!(
        (effect.as_str(), account.as_deref(), detail.as_str()),
        (
            "usage_observed",
            Some("spare"),
            "five_hour 100%, extra usage"
        )
    );
    let model = event(Input::SessionModel {
        session: SessionId::new("ccl-0"),
        model: "claude-opus-4-1-20250805".into(),
    });
    assert!(
        matches!(&model, EventKindDto::Effect { effect, detail, .. }
            if effect == "session_model" && detail == "claude-opus-4-1-20250805"),
        "{model:?}"
    );
}

/// One-time usage-reset grants the endpoint offers are shown in `accounts` / `status
/// --json` (a new `grants` field), and never spent: the daemon only ever reads.
#[tokio::test]
async fn usage_reset_grants_are_shown_never_spent() {
    let api = MockApi::start(MockApiConfig::local(vec![MockAccount::new("tok-a", "a")]))
        .await
        .unwrap();
    let tree = Tree::new(&["a"], &[]);
    let dir = tree.path().join("accounts").join("a");
    write_credentials(&dir, "tok-a", FAR);
    api.set_usage(
        "a",
        UsageAnswer::Body(json!({
            "five_hour": {"utilization": 100.0, "resets_at": "2100-01-01T05:00:00Z"},
            "seven_day": {"utilization": 61.0, "resets_at": "2100-01-05T00:00:00Z"},
            "extra_usage": {"is_enabled": false},
            "cedar_ember": {
                "eligible": true,
                "at_limit": true,
                "exhausted": ["five_hour"],
                "next_grant_id": "grant_01",
                "grants": [
                    {"id": "grant_01", "label": "Session reset", "type": "session",
                     "resets_total": 3, "resets_left": 2, "starts_at": null,
                     "ends_at": "2100-01-20T00:00:00Z", "clears": ["five_hour"],
                     "paused": false, "usable_now": true, "use_requires_limit": true,
                     "percent_used": {}, "blocking": []},
                    {"id": "grant_02", "label": "Weekly reset", "type": "weekly",
                     "resets_total": 1, "resets_left": 0, "clears": ["seven_day"],
                     "paused": false, "usable_now": false}
                ]
            }
        })),
    );
    let http = reqwest::Client::new();
    let read = read_usage(&http, &usage_url(&api), &dir, T0).await;
    let UsageRead::Report(report) = read else {
        panic!("expected a report, got {read:?}");
    };
    // The grant with resets left; the used-up one is not offered any more.
    assert_eq!(
        report.grants,
        vec![failover_core::ResetGrant {
            label: "Session reset".into(),
            kind: Some("session".into()),
            resets_left: 2,
            resets_total: 3,
            ends_at: Some(UnixMillis(4_104_086_400_000)),
            usable_now: true,
            paused: false,
        }]
    );

    // Through the engine to the status the control plane serves.
    let mut engine = FailoverEngine::new(testkit::config(&["a"], &[])).unwrap();
    engine.handle(
        T0,
        Input::UsageObserved {
            account: AccountId::new("a"),
            report,
        },
    );
    let facts = failover_daemon::tasks::DaemonFacts::started(T0);
    let status = failover_daemon::http::convert::status_dto(&engine.snapshot(), &facts, T0);
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(
        json["accounts"][0]["grants"],
        json!([{
            "label": "Session reset",
            "kind": "session",
            "resets_left": 2,
            "resets_total": 3,
            "ends_at": "2100-01-20T00:00:00Z",
            "ends_at_ms": 4_104_086_400_000_i64,
            "usable_now": true,
            "paused": false
        }])
    );
    // The grant counts for nothing: the account is exhausted until its window resets.
    assert_eq!(json["accounts"][0]["state"], "exhausted");

    // Only reads reached the endpoint: nothing that could spend a grant.
    let served = api.requests();
    assert!(!served.is_empty());
    assert!(
        served
            .iter()
            .all(|r| r.method == "GET" && r.path.starts_with("/api/oauth/usage")),
        "{served:?}"
    );
    api.shutdown().await.unwrap();
}

/// The engine asks for one usage read right before choosing a destination (the accounts no
/// session runs on, known for over a minute or not at all), and the poller serves it at
/// once: an account whose usage was unknown until the choice and turns out spent elsewhere
/// is skipped.
#[tokio::test]
async fn a_read_right_before_choosing_skips_an_account_spent_elsewhere() {
    let api = MockApi::start(MockApiConfig::local(vec![
        MockAccount::new("tok-primary", "primary"),
        MockAccount::new("tok-backup", "backup"),
        MockAccount::new("tok-spare", "spare"),
    ]))
    .await
    .unwrap();
    api.set_usage(
        "spare",
        UsageAnswer::Body(json!({
            "five_hour": {"utilization": 20.0, "resets_at": "2100-01-01T16:00:00Z"},
            "seven_day": {"utilization": 10.0, "resets_at": "2100-01-06T12:00:00Z"}
        })),
    );
    let accounts = ["primary", "backup", "spare"];
    let sessions = ["ccl-0"];
    let tree = Tree::new(&accounts, &sessions);
    let dir = |a: &str| tree.path().join("accounts").join(a);
    // backup has no login yet when the daemon starts: its usage cannot be read then.
    for a in ["primary", "spare"] {
        write_credentials(&dir(a), &format!("tok-{a}"), FAR);
    }
    let fakes = Fakes::new();
    let (deps, obs) = fakes.deps(&tree);
    // By preference, backup would be next while nothing is known of it.
    let extra = format!(
        "[policy]\nstrategy = \"preference\"\n[quota]\nusage_url = \"{}\"\nusage_poll = \"1h\"\n",
        usage_url(&api)
    );
    let daemon = Daemon::start(tree.config(&accounts, &sessions, &extra), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let task = tokio::spawn(daemon.run(std::future::pending()));
    eventually(LIMIT, "session running on primary", || {
        fakes.accounts_of(&sessions) == vec![Some("primary".into())]
    })
    .await;
    // The startup reads are over: spare is known, backup is not.
    handle
        .wait_for(LIMIT, |p| {
            p.snapshot
                .accounts
                .iter()
                .any(|a| a.id.as_str() == "spare" && a.state.name() == "available")
        })
        .await
        .unwrap();
    eventually(LIMIT, "backup's startup read attempted", || {
        api.requests().iter().filter(|r| r.token.is_some()).count() >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let backup_state = |p: &failover_daemon::tasks::Published| {
        p.snapshot
            .accounts
            .iter()
            .find(|a| a.id.as_str() == "backup")
            .map(|a| a.state.name())
    };
    assert_eq!(backup_state(&handle.published()), Some("unknown"));

    // Meanwhile backup was logged in and used up on a laptop.
    write_credentials(&dir("backup"), "tok-backup", FAR);
    api.set_usage(
        "backup",
        UsageAnswer::Body(json!({
            "five_hour": {"utilization": 100.0, "resets_at": "2100-01-01T15:00:00Z"},
            "seven_day": {"utilization": 35.0, "resets_at": "2100-01-05T12:00:00Z"}
        })),
    );
    let asked_before = api
        .requests()
        .iter()
        .filter(|r| r.token.as_deref() == Some("tok-backup"))
        .count();
    assert_eq!(asked_before, 0);

    // primary runs out: backup is read right before the choice, and skipped.
    let now = handle.clock().now();
    obs.send(quota_exhausted("ccl-0", UnixMillis(FAR), now))
        .await
        .unwrap();
    eventually(LIMIT, "session moved to spare", || {
        fakes.accounts_of(&sessions) == vec![Some("spare".into())]
    })
    .await;
    let backup_reads = api
        .requests()
        .iter()
        .filter(|r| r.token.as_deref() == Some("tok-backup"))
        .count();
    assert_eq!(backup_reads, 1);
    assert_eq!(backup_state(&handle.published()), Some("exhausted"));
    // spare was read at startup, well under a minute before: not read again.
    let spare_reads = api
        .requests()
        .iter()
        .filter(|r| r.token.as_deref() == Some("tok-spare"))
        .count();
    assert_eq!(spare_reads, 1);

    task.abort();
    api.shutdown().await.unwrap();
}
