//! Standbys: the keeper task on its own (its status fed from a real engine, a backend
//! double recording prepares and discards), then the daemon end to end showing them in its
//! status. All on a paused tokio clock.

use crate::support as common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use failover_core::testkit::{self, FakeBackend};
use failover_core::{
    AccountId, AccountState, BackendError, ClaudeSessionId, Detection, Effect, EffectOutcome,
    EngineConfig, FailoverEngine, Input, LaunchRequest, Launched, LimitWindow, Liveness, RequestId,
    SessionBackend, SessionId, SignalSource, Subject, UnixMillis, Verdict,
};
use failover_daemon::tasks::standby_keeper::{self, KeeperSettings};
use failover_daemon::tasks::{ControlMsg, DaemonFacts, Published};
use failover_daemon::{Daemon, ObserverEvent};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(120);
/// How long the double takes to get a program ready (a cold start).
const PREPARE_TAKES: Duration = Duration::from_secs(1);

// ----- a backend double recording prepares and discards -----

#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Prepare { session: String, account: String },
    Discard { session: String },
}

#[derive(Default)]
struct Record {
    calls: Vec<(Instant, Call)>,
    in_flight: usize,
    most_in_flight: usize,
}

/// The fake backend, plus prepare and discard recorded (each prepare taking
/// [`PREPARE_TAKES`]), the first `failing` prepares failing, launches onto `hold_on`
/// waiting for `release` (a swap caught half done), and launches onto `cold_on` reporting
/// that they could not use their standby.
struct Standbys {
    inner: Arc<FakeBackend>,
    record: Mutex<Record>,
    failing: AtomicU32,
    hold_on: Option<AccountId>,
    release: Notify,
    held: Notify,
    cold_on: Option<AccountId>,
}

impl Standbys {
    fn new(inner: Arc<FakeBackend>) -> Self {
        Self {
            inner,
            record: Mutex::new(Record::default()),
            failing: AtomicU32::new(0),
            hold_on: None,
            release: Notify::new(),
            held: Notify::new(),
            cold_on: None,
        }
    }

    fn calls(&self) -> Vec<Call> {
        let r = self.record.lock().unwrap();
        r.calls.iter().map(|(_, c)| c.clone()).collect()
    }

    fn prepares(&self) -> Vec<(Instant, String, String)> {
        let r = self.record.lock().unwrap();
        r.calls
            .iter()
            .filter_map(|(at, c)| match c {
                Call::Prepare { session, account } => Some((*at, session.clone(), account.clone())),
                Call::Discard { .. } => None,
            })
            .collect()
    }

    fn most_in_flight(&self) -> usize {
        self.record.lock().unwrap().most_in_flight
    }

    fn begin(&self, call: Call) {
        let mut r = self.record.lock().unwrap();
        r.calls.push((Instant::now(), call));
        r.in_flight += 1;
        r.most_in_flight = r.most_in_flight.max(r.in_flight);
    }

    fn end(&self) {
        self.record.lock().unwrap().in_flight -= 1;
    }
}

#[async_trait]
impl SessionBackend for Standbys {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, BackendError> {
        if self.hold_on.as_ref() == Some(&request.account) {
            self.held.notify_one();
            self.release.notified().await;
        }
        let mut launched = self.inner.launch(request).await?;
        if self.cold_on.as_ref() == Some(&request.account) {
            launched.standby_fallback = Some("the prepared program is busy".to_owned());
        }
        Ok(launched)
    }
    async fn stop(&self, session: &SessionId, grace: Duration) -> Result<(), BackendError> {
        self.inner.stop(session, grace).await
    }
    async fn send_input(&self, session: &SessionId, text: &str) -> Result<(), BackendError> {
        self.inner.send_input(session, text).await
    }
    async fn prepare(&self, request: &LaunchRequest) -> Result<(), BackendError> {
        self.begin(Call::Prepare {
            session: request.session.to_string(),
            account: request.account.to_string(),
        });
        tokio::time::sleep(PREPARE_TAKES).await;
        self.end();
        let fail = self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(BackendError::Unavailable {
                reason: "the program did not come up".into(),
            });
        }
        Ok(())
    }
    async fn discard_prepared(&self, session: &SessionId) -> Result<(), BackendError> {
        self.begin(Call::Discard {
            session: session.to_string(),
        });
        self.end();
        Ok(())
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

fn prepare(session: &str, account: &str) -> Call {
    Call::Prepare {
        session: session.into(),
        account: account.into(),
    }
}

fn discard(session: &str) -> Call {
    Call::Discard {
        session: session.into(),
    }
}

// ----- the keeper on its own, fed from a real engine -----

const SETTINGS: KeeperSettings = KeeperSettings {
    call_limit: Duration::from_secs(30),
    retry_first: Duration::from_secs(10),
    retry_max: Duration::from_secs(40),
    settle: Duration::from_secs(3),
};

/// A real engine whose status the test publishes to the keeper after each input, and the
/// keeper's reports.
struct World {
    engine: FailoverEngine,
    secs: i64,
    status: watch::Sender<Arc<Published>>,
    reports: mpsc::Receiver<ControlMsg>,
    ready: BTreeMap<SessionId, AccountId>,
    /// Launches per session, as the dispatcher counts them.
    launches: BTreeMap<SessionId, u64>,
    backend: Arc<Standbys>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn facts() -> DaemonFacts {
    DaemonFacts::started(T0)
}

impl World {
    /// `sessions` running on `a` (conversations `c1`, `c2`, ...) of accounts `accounts`.
    fn start(config: EngineConfig, sessions: &[&str], backend: Standbys) -> Self {
        let mut engine = FailoverEngine::new(config).unwrap();
        for (i, s) in sessions.iter().enumerate() {
            engine.handle(
                UnixMillis::from_secs(0),
                Input::SessionStarted {
                    session: (*s).into(),
                    claude_session: Some(ClaudeSessionId::new(format!("c{}", i + 1))),
                    account: Some("a".into()),
                },
            );
        }
        engine.handle(UnixMillis::from_secs(0), Input::AdoptionComplete);
        let published = Published {
            snapshot: engine.snapshot(),
            facts: facts(),
            standbys: engine.standbys(UnixMillis::from_secs(0)),
        };
        let (status, status_rx) = watch::channel(Arc::new(published));
        let (reports_tx, reports) = mpsc::channel(64);
        let backend = Arc::new(backend);
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (backend, stop) = (backend.clone(), stop.clone());
            async move {
                standby_keeper::run(backend, status_rx, reports_tx, SETTINGS, stop)
                    .await
                    .unwrap();
            }
        });
        Self {
            engine,
            secs: 0,
            status,
            reports,
            ready: BTreeMap::new(),
            launches: BTreeMap::new(),
            backend,
            stop,
            task,
        }
    }

    /// Feeds `input` to the engine at `secs` and publishes its status, counting its
    /// launches as the dispatcher does.
    fn feed(&mut self, secs: i64, input: Input) {
        self.secs = secs;
        let now = UnixMillis::from_secs(secs);
        for effect in self.engine.handle(now, input) {
            if let Effect::Launch { session, .. } = effect {
                *self.launches.entry(session).or_default() += 1;
            }
        }
        let mut facts = facts();
        facts.launches.clone_from(&self.launches);
        self.status.send_replace(Arc::new(Published {
            snapshot: self.engine.snapshot(),
            facts,
            standbys: self.engine.standbys(now),
        }));
    }

    /// Waits until the keeper reports `expect` ready (session → account).
    async fn ready_until(&mut self, expect: &[(&str, &str)]) {
        let expect: BTreeMap<SessionId, AccountId> = expect
            .iter()
            .map(|(s, a)| (SessionId::new(*s), AccountId::new(*a)))
            .collect();
        let deadline = Instant::now() + LIMIT;
        while self.ready != expect {
            let msg = tokio::time::timeout_at(deadline, self.reports.recv())
                .await
                .unwrap_or_else(|_| panic!("still {:?}, waiting for {expect:?}", self.ready));
            if let Some(ControlMsg::Standbys(ready)) = msg {
                self.ready = ready;
            }
        }
    }

    async fn shut(self) -> Arc<Standbys> {
        self.stop.cancel();
        self.task.await.unwrap();
        self.backend
    }
}

fn used(account: &str, percent: f32, secs: i64, resets: Option<i64>) -> Input {
    testkit::account_seen(
        account,
        AccountState::NearLimit {
            window: LimitWindow::FiveHour,
            used_percent: percent,
            resets_at: resets.map(UnixMillis::from_secs),
        },
        UnixMillis::from_secs(secs),
    )
}

fn exhausted(account: &str, secs: i64) -> Input {
    testkit::account_seen(
        account,
        AccountState::Exhausted {
            window: LimitWindow::FiveHour,
            until: UnixMillis::from_secs(secs + 3600),
        },
        UnixMillis::from_secs(secs),
    )
}

fn finished(request: u64, outcome: EffectOutcome) -> Input {
    Input::EffectFinished {
        request: RequestId::for_tests(request),
        outcome,
    }
}

/// Lets every task run until the runtime is idle for `d` of virtual time.
async fn quiet_for(d: Duration) {
    tokio::time::sleep(d).await;
}

#[tokio::test(start_paused = true)]
async fn crossing_the_percent_prepares_one_standby_at_a_time_and_reports_them_ready() {
    let config = testkit::config(&["a", "b"], &["s1", "s2"]);
    let mut w = World::start(
        config,
        &["s1", "s2"],
        Standbys::new(Arc::new(FakeBackend::new())),
    );

    w.feed(10, used("a", 79.0, 10, None));
    quiet_for(Duration::from_secs(10)).await;
    assert_eq!(w.backend.calls(), [], "nothing below the percent");

    w.feed(20, used("a", 85.0, 20, None));
    w.ready_until(&[("s1", "b"), ("s2", "b")]).await;
    assert_eq!(w.backend.calls(), [prepare("s1", "b"), prepare("s2", "b")]);
    assert_eq!(w.backend.most_in_flight(), 1, "one prepare at a time");
    let at: Vec<Instant> = w.backend.prepares().iter().map(|p| p.0).collect();
    assert!(at[1] - at[0] >= PREPARE_TAKES, "the second after the first");

    // The same wish again changes nothing.
    w.feed(30, used("a", 86.0, 30, None));
    quiet_for(Duration::from_secs(10)).await;
    assert_eq!(w.backend.calls().len(), 2);
    w.shut().await;
}

#[tokio::test(start_paused = true)]
async fn standbys_are_ended_when_the_account_resets_and_at_shutdown() {
    let config = testkit::config(&["a", "b"], &["s1", "s2"]);
    let mut w = World::start(
        config,
        &["s1", "s2"],
        Standbys::new(Arc::new(FakeBackend::new())),
    );
    w.feed(10, used("a", 85.0, 10, Some(100)));
    w.ready_until(&[("s1", "b"), ("s2", "b")]).await;

    // The window resets: no move is coming any more.
    w.feed(100, Input::Tick);
    w.ready_until(&[]).await;
    assert_eq!(
        w.backend.calls()[2..],
        [discard("s1"), discard("s2")],
        "both ended"
    );

    // Near the limit again: ready again, and ended when the daemon stops.
    w.feed(200, used("a", 85.0, 200, None));
    w.ready_until(&[("s1", "b"), ("s2", "b")]).await;
    let backend = w.shut().await;
    assert_eq!(
        backend.calls()[6..],
        [discard("s1"), discard("s2")],
        "ended at shutdown"
    );
}

#[tokio::test(start_paused = true)]
async fn standbys_turned_off_by_a_reload_are_ended() {
    let config = testkit::config(&["a", "b"], &["s1"]);
    let mut w = World::start(
        config.clone(),
        &["s1"],
        Standbys::new(Arc::new(FakeBackend::new())),
    );
    w.feed(10, used("a", 85.0, 10, None));
    w.ready_until(&[("s1", "b")]).await;
    let mut off = config;
    off.standby_percent = None;
    w.feed(20, Input::ConfigChanged(Ok(off)));
    w.ready_until(&[]).await;
    assert_eq!(w.backend.calls(), [prepare("s1", "b"), discard("s1")]);
    w.shut().await;
}

#[tokio::test(start_paused = true)]
async fn a_destination_gone_bad_gets_the_standby_moved_to_the_next_one() {
    let config = testkit::config(&["a", "b", "c"], &["s1"]);
    let mut w = World::start(config, &["s1"], Standbys::new(Arc::new(FakeBackend::new())));
    w.feed(10, used("a", 85.0, 10, None));
    w.ready_until(&[("s1", "b")]).await;
    // b runs out: the move would now go to c. Preparing there replaces the one on b.
    w.feed(20, exhausted("b", 20));
    w.ready_until(&[("s1", "c")]).await;
    assert_eq!(w.backend.calls(), [prepare("s1", "b"), prepare("s1", "c")]);
    w.shut().await;
}

#[tokio::test(start_paused = true)]
async fn nothing_is_prepared_or_ended_while_a_swap_is_under_way_and_moved_sessions_are_forgotten() {
    let mut config = testkit::config(&["a", "b"], &["s1", "s2"]);
    config.parallel_moves = 1;
    let mut w = World::start(
        config,
        &["s1", "s2"],
        Standbys::new(Arc::new(FakeBackend::new())),
    );
    w.feed(10, used("a", 85.0, 10, None));
    w.ready_until(&[("s1", "b")]).await;
    // The quota runs out (s2's prepare may be under way: it is not interrupted).
    let swap_began = Instant::now();
    w.feed(11, exhausted("a", 11));
    let swap = w.engine.snapshot().swap.expect("a swap a->b");
    assert_eq!(swap.moving, [SessionId::new("s1")]);
    assert_eq!(
        w.engine.standbys(UnixMillis::from_secs(11)).len(),
        1,
        "s2 still waits in the swap and wants its standby"
    );
    quiet_for(Duration::from_secs(30)).await;
    let calls = w.backend.calls().len();
    assert!(
        w.backend.prepares().iter().all(|p| p.0 <= swap_began),
        "nothing began during the swap: {:?}",
        w.backend.calls()
    );

    // s1 lands on b: its standby was taken over. s2 then moves.
    w.feed(
        12,
        finished(
            1,
            EffectOutcome::Checkpointed {
                last_prompt: None,
                unanswered: false,
            },
        ),
    );
    w.feed(12, finished(2, EffectOutcome::Stopped));
    w.feed(
        12,
        finished(
            3,
            EffectOutcome::Launched {
                claude_session: ClaudeSessionId::new("c1"),
                unanswered_prompt: None,
            },
        ),
    );
    quiet_for(Duration::from_secs(30)).await;
    assert_eq!(w.backend.calls().len(), calls, "nothing while s2 moves");
    w.feed(
        13,
        finished(
            4,
            EffectOutcome::Checkpointed {
                last_prompt: None,
                unanswered: false,
            },
        ),
    );
    w.feed(13, finished(5, EffectOutcome::Stopped));
    w.feed(
        13,
        finished(
            6,
            EffectOutcome::Launched {
                claude_session: ClaudeSessionId::new("c2"),
                unanswered_prompt: None,
            },
        ),
    );
    assert!(w.engine.snapshot().swap.is_none(), "the swap is over");
    w.ready_until(&[]).await;
    quiet_for(Duration::from_secs(30)).await;
    assert_eq!(
        w.backend.calls().len(),
        calls,
        "moved sessions' standbys are forgotten, not ended: their launch took them"
    );
    w.shut().await;
}

#[tokio::test(start_paused = true)]
async fn a_session_relaunched_in_place_has_its_standby_made_again() {
    let config = testkit::config(&["a", "b"], &["s1"]);
    let mut w = World::start(config, &["s1"], Standbys::new(Arc::new(FakeBackend::new())));
    w.feed(10, used("a", 85.0, 10, None));
    w.ready_until(&[("s1", "b")]).await;
    // The program dies and is relaunched on a before the keeper looks again (it sees
    // s1 running on a, as before): the launch took the standby over (ended it, as it did
    // not match), so it is made again.
    w.feed(
        20,
        Input::SessionExited {
            session: "s1".into(),
            status: Some(1),
        },
    );
    w.feed(25, Input::Tick);
    w.feed(
        25,
        finished(
            1,
            EffectOutcome::Launched {
                claude_session: ClaudeSessionId::new("c1"),
                unanswered_prompt: None,
            },
        ),
    );
    assert_eq!(w.launches[&SessionId::new("s1")], 1, "relaunched");
    w.ready_until(&[]).await;
    w.ready_until(&[("s1", "b")]).await;
    assert_eq!(w.backend.calls(), [prepare("s1", "b"), prepare("s1", "b")]);
    w.shut().await;
}

#[tokio::test(start_paused = true)]
async fn the_keeper_waits_for_a_move_to_settle_before_preparing() {
    let mut config = testkit::config(&["a", "b", "c"], &["s1"]);
    config.parallel_moves = 1;
    let mut w = World::start(config, &["s1"], Standbys::new(Arc::new(FakeBackend::new())));
    // a runs out before any standby: s1 moves to b.
    w.feed(1, exhausted("a", 1));
    quiet_for(Duration::from_secs(5)).await;
    assert_eq!(w.backend.calls(), [], "not during the swap");
    w.feed(
        2,
        finished(
            1,
            EffectOutcome::Checkpointed {
                last_prompt: None,
                unanswered: false,
            },
        ),
    );
    w.feed(2, finished(2, EffectOutcome::Stopped));
    w.feed(
        2,
        finished(
            3,
            EffectOutcome::Launched {
                claude_session: ClaudeSessionId::new("c1"),
                unanswered_prompt: None,
            },
        ),
    );
    // On b, near its limit at once: the standby on c comes once the move settled.
    let moved = Instant::now();
    w.feed(2, used("b", 85.0, 2, None));
    w.ready_until(&[("s1", "c")]).await;
    let prepared_at = w.backend.prepares()[0].0;
    assert!(
        prepared_at - moved >= SETTINGS.settle,
        "prepared {:?} after the move",
        prepared_at - moved
    );
    w.shut().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_prepare_is_tried_again_after_a_doubling_delay() {
    let config = testkit::config(&["a", "b"], &["s1"]);
    let backend = Standbys::new(Arc::new(FakeBackend::new()));
    backend.failing.store(3, Ordering::SeqCst);
    let mut w = World::start(config, &["s1"], backend);
    w.feed(10, used("a", 85.0, 10, None));
    w.ready_until(&[("s1", "b")]).await;
    let prepares = w.backend.prepares();
    assert_eq!(prepares.len(), 4, "three failures, then ready");
    let gaps: Vec<Duration> = prepares.windows(2).map(|p| p[1].0 - p[0].0).collect();
    // Each try takes PREPARE_TAKES; the delays after it are 10 s, 20 s, 40 s (capped).
    let delays: Vec<Duration> = gaps.iter().map(|g| *g - PREPARE_TAKES).collect();
    assert_eq!(
        delays,
        [
            Duration::from_secs(10),
            Duration::from_secs(20),
            Duration::from_secs(40)
        ]
    );
    // What each failure may have left was ended.
    let discards = w
        .backend
        .calls()
        .iter()
        .filter(|c| **c == discard("s1"))
        .count();
    assert_eq!(discards, 3);
    w.shut().await;
}

// ----- the daemon end to end -----

const SESSIONS: [&str; 2] = ["ccl-0", "ccl-1"];
const ACCOUNTS: [&str; 2] = ["primary", "backup"];

fn statusline(account: &str, percent: f32, resets_at: UnixMillis, at: UnixMillis) -> ObserverEvent {
    ObserverEvent::Observation {
        subject: Subject::Account(AccountId::new(account)),
        source: SignalSource::Statusline,
        detection: Detection {
            verdict: Verdict::NearLimit {
                window: LimitWindow::FiveHour,
                used_percent: percent,
                resets_at: Some(resets_at),
            },
            evidence: None,
        },
        observed_at: at,
    }
}

/// Each session's `standby` in the status JSON.
fn standby_json(handle: &failover_daemon::DaemonHandle) -> Vec<serde_json::Value> {
    let json = serde_json::to_value(handle.status()).unwrap();
    json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["standby"].clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_daemon_keeps_standbys_and_shows_them_in_its_status() {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let fakes = Fakes::new();
    let backend = Arc::new(Standbys::new(fakes.backend.clone()));
    let (deps, obs) = fakes.deps_with(&tree, backend.clone());
    let config = tree.config(&ACCOUNTS, &SESSIONS, "[policy]\nstandby_percent = 75\n");
    let daemon = Daemon::start(config, deps).await.unwrap();
    let handle = daemon.handle();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let running = tokio::spawn(daemon.run(async {
        let _ = stop_rx.await;
    }));
    eventually(LIMIT, "all sessions on primary", || {
        fakes.accounts_of(&SESSIONS) == vec![Some("primary".into()); 2]
    })
    .await;
    assert_eq!(
        standby_json(&handle),
        [const { serde_json::Value::Null }; 2]
    );

    let now = handle.clock().now();
    let reset = now + Duration::from_secs(600);
    obs.send(statusline("primary", 76.0, reset, now))
        .await
        .unwrap();
    eventually(LIMIT, "both standbys ready on backup", || {
        standby_json(&handle) == vec![serde_json::json!("backup"); 2]
    })
    .await;
    assert_eq!(
        backend.calls(),
        [prepare("ccl-0", "backup"), prepare("ccl-1", "backup")]
    );

    // The window resets (the engine's own deadline): both are ended.
    tokio::time::advance(Duration::from_secs(601)).await;
    eventually(LIMIT, "standbys ended after the reset", || {
        standby_json(&handle) == [const { serde_json::Value::Null }; 2]
    })
    .await;
    assert_eq!(backend.calls()[2..], [discard("ccl-0"), discard("ccl-1")]);

    stop_tx.send(()).unwrap();
    running.await.unwrap().unwrap();
}

/// A move whose launches could not use their standbys (the backend started them cold) is
/// counted in the status (`daemon.standby_fallbacks`) and the metrics; the sessions moved.
#[tokio::test(start_paused = true)]
async fn launches_that_fell_back_to_a_cold_start_are_counted_in_the_status() {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let fakes = Fakes::new();
    let mut backend = Standbys::new(fakes.backend.clone());
    backend.cold_on = Some(AccountId::new("backup"));
    let backend = Arc::new(backend);
    let (deps, obs) = fakes.deps_with(&tree, backend.clone());
    let config = tree.config(&ACCOUNTS, &SESSIONS, "");
    let daemon = Daemon::start(config, deps).await.unwrap();
    let handle = daemon.handle();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let running = tokio::spawn(daemon.run(async {
        let _ = stop_rx.await;
    }));
    let fallbacks =
        || serde_json::to_value(handle.status()).unwrap()["daemon"]["standby_fallbacks"].clone();
    eventually(LIMIT, "all sessions on primary", || {
        fakes.accounts_of(&SESSIONS) == vec![Some("primary".into()); 2]
    })
    .await;
    assert_eq!(
        fallbacks(),
        serde_json::json!(0),
        "the field is there from the start"
    );

    let now = handle.clock().now();
    obs.send(quota_exhausted(
        "ccl-0",
        now + Duration::from_secs(3600),
        now,
    ))
    .await
    .unwrap();
    eventually(LIMIT, "both sessions moved to backup", || {
        fakes.accounts_of(&SESSIONS) == vec![Some("backup".into()); 2]
    })
    .await;
    eventually(LIMIT, "both cold launches counted", || {
        fallbacks() == serde_json::json!(2)
    })
    .await;
    let metrics = handle.metrics().render(&handle.published().snapshot);
    assert!(
        metrics.contains("claude_failover_standby_fallbacks_total 2"),
        "{metrics}"
    );

    stop_tx.send(()).unwrap();
    running.await.unwrap().unwrap();
}
