//! The shared ledger against a real redis-server: publish/subscribe, newest-wins storage,
//! the swap lease (NX, expiry), and the worker's degraded mode and reconciliation.

use crate::support::redis as redis_support;

use std::collections::BTreeMap;
use std::time::Duration;

use failover_core::{
    AccountNews, AccountState, ActiveNews, EffectOutcome, HostId, Input, LeaseOutcome, LimitWindow,
    RequestId, UnixMillis,
};
use failover_daemon::ledger::{LedgerConfig, LedgerHealth, LedgerJob, LedgerStore, Wire};
use futures_util::StreamExt;
use redis_support::RedisServer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn config(redis: &RedisServer, host: &str, lease_ttl: Duration) -> LedgerConfig {
    LedgerConfig {
        url: redis.url(),
        password_file: None,
        key_prefix: "test-ledger".into(),
        host: HostId::new(host),
        lease_ttl,
    }
}

fn exhausted_news(host: &str, seen_at: i64) -> AccountNews {
    AccountNews {
        account: "a".into(),
        state: AccountState::Exhausted {
            window: LimitWindow::FiveHour,
            until: UnixMillis::from_secs(seen_at + 3600),
        },
        seen_by: HostId::new(host),
        seen_at: UnixMillis::from_secs(seen_at),
    }
}

fn available_news(host: &str, seen_at: i64) -> AccountNews {
    AccountNews {
        account: "a".into(),
        state: AccountState::Available,
        seen_by: HostId::new(host),
        seen_at: UnixMillis::from_secs(seen_at),
    }
}

#[tokio::test]
async fn news_reaches_a_subscriber_within_a_second_and_the_newest_evidence_is_kept() {
    let redis = RedisServer::start();
    let h1 = LedgerStore::new(&config(&redis, "host1", Duration::from_secs(60))).unwrap();
    let h2 = LedgerStore::new(&config(&redis, "host2", Duration::from_secs(60))).unwrap();
    let mut news = Box::pin(h2.subscribe().await.unwrap());
    let mut con = h1.connect().await.unwrap();

    let verdict = Wire::Account(exhausted_news("host1", 100));
    let sent = std::time::Instant::now();
    assert!(h1.publish(&mut con, &verdict).await.unwrap());
    let got = tokio::time::timeout(Duration::from_secs(1), news.next())
        .await
        .expect("news within 1 s")
        .unwrap();
    assert_eq!(got, verdict);
    eprintln!("news delivered in {:?}", sent.elapsed());

    // Older "available" news loses: not stored, not announced.
    let stale = Wire::Account(available_news("host3", 50));
    assert!(!h1.publish(&mut con, &stale).await.unwrap());
    let active = Wire::Active(ActiveNews {
        account: "b".into(),
        seen_by: HostId::new("host1"),
        seen_at: UnixMillis::from_secs(100),
    });
    assert!(h1.publish(&mut con, &active).await.unwrap());
    let next = tokio::time::timeout(Duration::from_secs(1), news.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next, active, "the stale news must not have been announced");
    let mut stored = h2.read_all(&mut h2.connect().await.unwrap()).await.unwrap();
    stored.sort_by_key(|w| matches!(w, Wire::Active(_)));
    assert_eq!(stored, vec![verdict, active]);

    // Newer news wins.
    let newer = Wire::Account(available_news("host3", 200));
    assert!(h1.publish(&mut con, &newer).await.unwrap());
    let stored = h2.read_all(&mut h2.connect().await.unwrap()).await.unwrap();
    assert!(stored.contains(&newer), "{stored:?}");
}

#[tokio::test]
async fn the_swap_lease_is_exclusive_and_a_dead_holder_loses_it_when_it_expires() {
    let redis = RedisServer::start();
    let ttl = Duration::from_millis(600);
    let h1 = LedgerStore::new(&config(&redis, "host1", ttl)).unwrap();
    let h2 = LedgerStore::new(&config(&redis, "host2", ttl)).unwrap();
    let (mut c1, mut c2) = (h1.connect().await.unwrap(), h2.connect().await.unwrap());

    assert!(h1.acquire(&mut c1).await.unwrap());
    assert!(!h2.acquire(&mut c2).await.unwrap());
    assert_eq!(
        h2.lease_holder(&mut c2).await.unwrap().as_deref(),
        Some("host1")
    );
    // Host 2 cannot give back a lease it does not hold.
    h2.release(&mut c2).await.unwrap();
    assert_eq!(
        h2.lease_holder(&mut c2).await.unwrap().as_deref(),
        Some("host1")
    );
    // Host 1 "dies" holding it: host 2 gets it once it expires, not before.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let started = std::time::Instant::now();
    while !h2.acquire(&mut c2).await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert!(!h1.acquire(&mut c1).await.unwrap());
    h2.release(&mut c2).await.unwrap();
    assert_eq!(h2.lease_holder(&mut c2).await.unwrap(), None);
    assert!(h1.acquire(&mut c1).await.unwrap());
}

async fn health(rx: &mut mpsc::Receiver<LedgerHealth>, want: LedgerHealth) {
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {want:?} report within 10 s"))
        .unwrap();
    assert_eq!(got, want);
}

async fn next_input(rx: &mut mpsc::Receiver<Input>) -> Input {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an input within 10 s")
        .unwrap()
}

#[tokio::test]
async fn the_worker_degrades_without_redis_and_reconciles_when_it_returns() {
    let mut redis = RedisServer::start();
    let store = LedgerStore::new(&config(&redis, "host2", Duration::from_secs(60))).unwrap();
    let (jobs_tx, jobs_rx) = mpsc::channel(16);
    let (inbox_tx, mut inbox) = mpsc::channel(16);
    let (health_tx, mut health_rx) = mpsc::channel(4);
    let shutdown = CancellationToken::new();
    let identities = BTreeMap::from([("a".into(), "uuid-of-a".to_owned())]);
    let worker = tokio::spawn(failover_daemon::ledger::run(
        store,
        jobs_rx,
        inbox_tx,
        health_tx,
        identities,
        shutdown.clone(),
    ));
    health(&mut health_rx, LedgerHealth::Ok).await;

    // Another host's verdict reaches the engine's inbox as news.
    let other = LedgerStore::new(&config(&redis, "host1", Duration::from_secs(60))).unwrap();
    let verdict = exhausted_news("host1", 100);
    other
        .publish(
            &mut other.connect().await.unwrap(),
            &Wire::Account(verdict.clone()),
        )
        .await
        .unwrap();
    assert_eq!(next_input(&mut inbox).await, Input::AccountNews(verdict));
    jobs_tx
        .send(LedgerJob::Acquire {
            request: RequestId::for_tests(7),
        })
        .await
        .unwrap();
    assert_eq!(
        next_input(&mut inbox).await,
        Input::EffectFinished {
            request: RequestId::for_tests(7),
            outcome: EffectOutcome::Lease(LeaseOutcome::Granted)
        }
    );

    // Redis goes away: the worker reports it, answers lease requests "unavailable" at once,
    // and keeps what it is asked to publish.
    redis.kill();
    health(&mut health_rx, LedgerHealth::Degraded).await;
    jobs_tx
        .send(LedgerJob::Acquire {
            request: RequestId::for_tests(8),
        })
        .await
        .unwrap();
    assert_eq!(
        next_input(&mut inbox).await,
        Input::EffectFinished {
            request: RequestId::for_tests(8),
            outcome: EffectOutcome::Lease(LeaseOutcome::Unavailable)
        }
    );
    let mine = available_news("host2", 300);
    jobs_tx
        .send(LedgerJob::Publish(Wire::Account(mine.clone())))
        .await
        .unwrap();

    // It comes back (empty: no persistence): the worker reconnects and publishes what it kept.
    redis.restart();
    health(&mut health_rx, LedgerHealth::Ok).await;
    let mut con = other.connect().await.unwrap();
    let stored = other.read_all(&mut con).await.unwrap();
    assert_eq!(stored, vec![Wire::Account(mine)]);
    let ids = other.identities(&mut con, &"a".into()).await.unwrap();
    assert_eq!(ids.get("host2").map(String::as_str), Some("uuid-of-a"));

    shutdown.cancel();
    worker.await.unwrap();
}
