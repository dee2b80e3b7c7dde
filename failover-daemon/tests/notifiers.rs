//! Notifiers against a local HTTP server (never the internet): Telegram and webhook
//! payloads, retries with backoff, the token never shown, dedup, drop-oldest, and a slow
//! channel that does not hold up the others.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use failover_core::testkit::RecordingNotifier;
use failover_core::{
    AccountId, Notification, NotificationKind, Notifier, NotifyError, Severity, UnixMillis,
};
use failover_daemon::config::{NotifySettings, SecretSource, TelegramSettings, WebhookSettings};
use failover_daemon::metrics::Metrics;
use failover_daemon::notifiers::{
    Channel, NotifyHub, TelegramNotifier, channels_from_settings, run_channel,
};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "123456:AAE-very-secret-token";

#[derive(Clone, Default)]
struct Server {
    /// Statuses to answer with, in order; 200 once exhausted.
    script: Arc<Mutex<Vec<u16>>>,
    hits: Arc<AtomicU32>,
    bodies: Arc<Mutex<Vec<(String, serde_json::Value, HeaderMap)>>>,
}

async fn handle(
    State(s): State<Server>,
    Path(path): Path<String>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> (StatusCode, Json<serde_json::Value>) {
    s.hits.fetch_add(1, Ordering::SeqCst);
    s.bodies.lock().unwrap().push((path, body, headers));
    let status = {
        let mut script = s.script.lock().unwrap();
        if script.is_empty() {
            200
        } else {
            script.remove(0)
        }
    };
    let code = StatusCode::from_u16(status).unwrap();
    (
        code,
        Json(serde_json::json!({"ok": code.is_success(), "description": format!("echo {TOKEN}")})),
    )
}

async fn serve(script: Vec<u16>) -> (String, Server) {
    let server = Server {
        script: Arc::new(Mutex::new(script)),
        ..Server::default()
    };
    let app = Router::new()
        .route("/{*path}", post(handle))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), server)
}

fn failover_note(key: &str) -> Notification {
    Notification {
        severity: Severity::Warning,
        kind: NotificationKind::Failover {
            from: AccountId::new("primary"),
            to: AccountId::new("backup"),
            reason: "five-hour window used up".into(),
        },
        summary: "failed over from primary to backup".into(),
        next_reset: Some(UnixMillis::from_secs(1_795_190_400)),
        dedup_key: key.into(),
        at: UnixMillis::from_secs(1_795_176_000),
    }
}

fn settings(
    telegram: Option<TelegramSettings>,
    webhook: Option<WebhookSettings>,
) -> NotifySettings {
    NotifySettings {
        telegram,
        webhook,
        log: false,
        dedup_window: Duration::from_secs(600),
        queue_capacity: 8,
        max_attempts: 4,
    }
}

#[tokio::test]
async fn telegram_posts_the_summary_and_the_next_reset() {
    let (base, server) = serve(vec![]).await;
    let t = TelegramNotifier::new(&base, TOKEN.into(), "4242".into()).unwrap();
    t.notify(&failover_note("k")).await.unwrap();
    let bodies = server.bodies.lock().unwrap();
    let (path, body, _) = &bodies[0];
    assert_eq!(path, &format!("bot{TOKEN}/sendMessage"));
    assert_eq!(body["chat_id"], "4242");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("[warning] failed over from primary to backup"),
        "{text}"
    );
    // In the local zone (the test's own, whatever it is).
    let local = "2026-11-20T16:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string();
    assert!(
        text.contains(&format!("next reset: {local} (in 4 h)")),
        "{text}"
    );
}

#[tokio::test]
async fn the_bot_token_never_shows_in_errors_or_debug() {
    let (base, _server) = serve(vec![400]).await;
    let t = TelegramNotifier::new(&base, TOKEN.into(), "1".into()).unwrap();
    let err = t.notify(&failover_note("k")).await.unwrap_err();
    assert!(matches!(err, NotifyError::Rejected { .. }), "{err}");
    for shown in [err.to_string(), format!("{err:?}"), format!("{t:?}")] {
        assert!(!shown.contains("very-secret"), "token leaked: {shown}");
    }
    // Unreachable server: the connection error does not carry the URL either.
    let t = TelegramNotifier::new("http://127.0.0.1:9", TOKEN.into(), "1".into()).unwrap();
    let err = t.notify(&failover_note("k")).await.unwrap_err();
    assert!(err.is_transient());
    assert!(!format!("{err} {err:?}").contains("very-secret"));
    let s = TelegramSettings {
        token: SecretSource::Inline(TOKEN.into()),
        chat_id: "1".into(),
        api_base: base,
    };
    assert!(!format!("{s:?}").contains("very-secret"));
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_backoff() {
    let (base, server) = serve(vec![500, 429, 502]).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    owner_only(&token_file);
    let channels = channels_from_settings(&settings(
        Some(TelegramSettings {
            token: SecretSource::File(token_file),
            chat_id: "7".into(),
            api_base: base,
        }),
        None,
    ))
    .unwrap();
    let metrics = Arc::new(Metrics::default());
    let hub = NotifyHub::new(&channels, 8, Duration::from_secs(600), metrics.clone());
    let (stop, worker) = deliver(&hub, &channels, &metrics, 4);
    let started = tokio::time::Instant::now();
    assert!(hub.submit(failover_note("k"), UnixMillis(0)));
    while metrics.notifications_sent.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never delivered"
        );
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 4);
    // Waited 1 s + 2 s + 4 s between the four attempts.
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    stop.cancel();
    worker.await.unwrap();
}

fn owner_only(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_bot_token_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let telegram = |file: &std::path::Path| {
        settings(
            Some(TelegramSettings {
                token: SecretSource::File(file.to_path_buf()),
                chat_id: "7".into(),
                api_base: "http://127.0.0.1:9".into(),
            }),
            None,
        )
    };
    for mode in [0o644, 0o640, 0o604, 0o620] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = channels_from_settings(&telegram(&token_file)).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("chmod 600"), "{mode:o}: {shown}");
        assert!(!shown.contains("very-secret"), "token leaked: {shown}");
    }
    owner_only(&token_file);
    assert_eq!(
        channels_from_settings(&telegram(&token_file))
            .unwrap()
            .len(),
        1
    );
}

/// Answers every POST with a redirect to `to`.
async fn redirect_to(to: String) -> String {
    let app = Router::new().route(
        "/{*path}",
        post(move || {
            let to = to.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [("location", to)]) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_webhook_does_not_follow_a_redirect_with_its_headers() {
    let (elsewhere, landed) = serve(vec![]).await;
    let base = redirect_to(format!("{elsewhere}/collect")).await;
    let webhook = WebhookSettings {
        url: format!("{base}/hook"),
        headers: [("X-Api-Key".to_owned(), "k-123".to_owned())].into(),
    };
    let channels = channels_from_settings(&settings(None, Some(webhook))).unwrap();
    let err = channels[0]
        .notifier
        .notify(&failover_note("k"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Rejected { .. }), "{err}");
    assert!(
        err.to_string().contains("redirects are not followed"),
        "{err}"
    );
    assert_eq!(
        landed.hits.load(Ordering::SeqCst),
        0,
        "the headers went where the redirect pointed"
    );
}

#[tokio::test]
async fn the_webhook_gets_json_and_its_headers() {
    let (base, server) = serve(vec![]).await;
    let webhook = WebhookSettings {
        url: format!("{base}/hook-T0SECRET-path"),
        headers: [("X-Api-Key".to_owned(), "k-123".to_owned())].into(),
    };
    assert!(
        !format!("{webhook:?}").contains("k-123"),
        "header values are not shown"
    );
    assert!(
        !format!("{webhook:?}").contains("T0SECRET"),
        "the URL is not shown"
    );
    let notifier = failover_daemon::notifiers::WebhookNotifier::from_settings(&webhook).unwrap();
    assert!(!format!("{notifier:?}").contains("T0SECRET"));
    let channels = channels_from_settings(&settings(None, Some(webhook))).unwrap();
    channels[0]
        .notifier
        .notify(&failover_note("k"))
        .await
        .unwrap();
    let bodies = server.bodies.lock().unwrap();
    let (path, body, headers) = &bodies[0];
    assert_eq!(path, "hook-T0SECRET-path");
    assert_eq!(headers["x-api-key"], "k-123");
    assert_eq!(body["api_version"], 1);
    assert_eq!(body["kind"], "failover");
    assert_eq!(body["severity"], "warning");
    assert_eq!(body["next_reset"], "2026-11-20T16:00:00Z");
    assert_eq!(body["details"]["to"], "backup");
    assert_eq!(body["dedup_key"], "k");
}

/// Starts delivering the first channel's queue, `attempts` tries a notification; cancel
/// the token to stop.
fn deliver(
    hub: &NotifyHub,
    channels: &[Channel],
    metrics: &Arc<Metrics>,
    attempts: u32,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let worker = tokio::spawn(run_channel(
        hub.queue(0).unwrap(),
        channels[0].clone(),
        attempts,
        metrics.clone(),
        stop.clone(),
    ));
    (stop, worker)
}

#[tokio::test(start_paused = true)]
async fn repeats_within_the_window_are_sent_once() {
    let rec = Arc::new(RecordingNotifier::new());
    let channels = vec![Channel::new("rec", rec.clone())];
    let metrics = Arc::new(Metrics::default());
    let hub = NotifyHub::new(&channels, 8, Duration::from_secs(600), metrics.clone());
    assert!(hub.submit(failover_note("same"), UnixMillis::from_secs(0)));
    assert!(!hub.submit(failover_note("same"), UnixMillis::from_secs(300)));
    assert!(hub.submit(failover_note("other"), UnixMillis::from_secs(301)));
    assert!(hub.submit(failover_note("same"), UnixMillis::from_secs(601)));
    assert_eq!(metrics.notifications_deduplicated.load(Ordering::SeqCst), 1);
    let (stop, worker) = deliver(&hub, &channels, &metrics, 3);
    while rec.received().len() < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let keys: Vec<_> = rec.received().into_iter().map(|n| n.dedup_key).collect();
    assert_eq!(keys, ["same", "other", "same"]);
    stop.cancel();
    worker.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_hub_as_a_notifier_queues_at_the_notifications_own_time() {
    let rec = Arc::new(RecordingNotifier::new());
    let channels = vec![Channel::new("rec", rec.clone())];
    let metrics = Arc::new(Metrics::default());
    let hub = NotifyHub::new(&channels, 8, Duration::from_secs(600), metrics.clone());
    let at = |secs| Notification {
        at: UnixMillis::from_secs(secs),
        ..failover_note("same")
    };
    // A repeat within the window (by the notifications' own times) is dropped, not refused.
    for secs in [0, 300, 601] {
        Notifier::notify(&hub, &at(secs)).await.unwrap();
    }
    assert_eq!(metrics.notifications_deduplicated.load(Ordering::SeqCst), 1);
    let (stop, worker) = deliver(&hub, &channels, &metrics, 3);
    while rec.received().len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let times: Vec<_> = rec.received().into_iter().map(|n| n.at).collect();
    assert_eq!(
        times,
        [UnixMillis::from_secs(0), UnixMillis::from_secs(601)]
    );
    stop.cancel();
    worker.await.unwrap();
}

/// A notifier that never answers.
struct Stuck;

#[async_trait]
impl Notifier for Stuck {
    async fn notify(&self, _: &Notification) -> Result<(), NotifyError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_stuck_channel_drops_its_oldest_and_never_holds_up_the_others() {
    let rec = Arc::new(RecordingNotifier::new());
    let channels = vec![
        Channel::new("stuck", Arc::new(Stuck)),
        Channel::new("rec", rec.clone()),
    ];
    let metrics = Arc::new(Metrics::default());
    let hub = NotifyHub::new(&channels, 3, Duration::from_secs(600), metrics.clone());
    let stop = CancellationToken::new();
    let workers: Vec<_> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            tokio::spawn(run_channel(
                hub.queue(i).unwrap(),
                c.clone(),
                3,
                metrics.clone(),
                stop.clone(),
            ))
        })
        .collect();
    // Submitting never waits, however stuck a channel is.
    for i in 0..10 {
        assert!(hub.submit(failover_note(&format!("n{i}")), UnixMillis(i)));
        tokio::task::yield_now().await;
    }
    while rec.received().len() < 10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The stuck channel holds one in flight and kept only the 3 newest waiting.
    let stuck = hub.queue(0).unwrap();
    assert_eq!(stuck.dropped(), 6);
    assert_eq!(metrics.notifications_dropped.load(Ordering::SeqCst), 6);
    assert_eq!(hub.queue(1).unwrap().dropped(), 0);
    stop.cancel();
    for w in workers {
        w.await.unwrap();
    }
}
