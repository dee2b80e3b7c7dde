//! The ledger worker: executes the engine's ledger effects against Redis, feeds other
//! hosts' news to the engine, and keeps going (degraded) while Redis is unreachable.

use std::collections::BTreeMap;
use std::time::Duration;

use failover_core::{AccountId, EffectOutcome, Input, LeaseOutcome, RequestId};
use futures_util::{Stream, StreamExt};
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::store::{LedgerStore, Wire, seen_at};

/// How often Redis is probed while healthy, and retried while not.
const PROBE: Duration = Duration::from_secs(1);

/// A ledger effect for the worker.
#[derive(Clone, Debug, PartialEq)]
pub enum LedgerJob {
    /// Store and announce.
    Publish(Wire),
    /// Take the swap lease; the answer goes to the engine tagged with `request`.
    Acquire {
        /// Tags the reply.
        request: RequestId,
    },
    /// Give the swap lease back.
    Release,
}

/// Whether the ledger is reachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerHealth {
    /// Connected and answering.
    Ok,
    /// Unreachable: the daemon works with its local view.
    Degraded,
}

impl LedgerHealth {
    /// `ok` or `degraded`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded => "degraded",
        }
    }
}

type News = std::pin::Pin<Box<dyn Stream<Item = Wire> + Send>>;

struct Worker {
    store: LedgerStore,
    inbox: mpsc::Sender<Input>,
    health_tx: mpsc::Sender<LedgerHealth>,
    con: Option<MultiplexedConnection>,
    news: Option<News>,
    health: Option<LedgerHealth>,
    /// The newest thing this host published per key, kept to publish again after an
    /// outage (the store keeps whichever is newest).
    kept: BTreeMap<Option<AccountId>, Wire>,
    /// Account identities to record once connected.
    identities: BTreeMap<AccountId, String>,
}

/// Runs the worker until `shutdown`. `health` receives every change of reachability (the
/// first report comes once the first connection attempt is over). `identities` (account →
/// Anthropic account uuid) is recorded for `doctor`'s cross-host check.
pub async fn run(
    store: LedgerStore,
    mut jobs: mpsc::Receiver<LedgerJob>,
    inbox: mpsc::Sender<Input>,
    health: mpsc::Sender<LedgerHealth>,
    identities: BTreeMap<AccountId, String>,
    shutdown: CancellationToken,
) {
    let mut w = Worker {
        store,
        inbox,
        health_tx: health,
        con: None,
        news: None,
        health: None,
        kept: BTreeMap::new(),
        identities,
    };
    w.reconnect().await;
    let mut probe = tokio::time::interval(PROBE);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            job = jobs.recv() => match job {
                Some(job) => w.on_job(job).await,
                None => break,
            },
            wire = next_news(&mut w.news) => match wire {
                Some(wire) => w.deliver(wire).await,
                None => w.lost("the subscription ended").await,
            },
            _ = probe.tick() => w.probe().await,
        }
    }
    if let Some(con) = w.con.as_mut() {
        let _ = w.store.release(con).await;
    }
}

async fn next_news(news: &mut Option<News>) -> Option<Wire> {
    match news {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

impl Worker {
    async fn report(&mut self, health: LedgerHealth) {
        if self.health != Some(health) {
            self.health = Some(health);
            match health {
                LedgerHealth::Ok => tracing::info!("ledger: connected"),
                LedgerHealth::Degraded => {
                    tracing::warn!("ledger: unreachable; going on with the local view");
                }
            }
            let _ = self.health_tx.send(health).await;
        }
    }

    async fn lost(&mut self, why: &str) {
        if self.con.is_some() {
            tracing::warn!(why, "ledger: connection lost");
        }
        self.con = None;
        self.news = None;
        self.report(LedgerHealth::Degraded).await;
    }

    /// Connects, subscribes, then reconciles: publishes what was kept and feeds every stored
    /// entry to the engine (which keeps the newest).
    async fn reconnect(&mut self) {
        let attempt = async {
            let mut con = self.store.connect().await?;
            let news = self.store.subscribe().await?;
            for wire in self.kept.values() {
                self.store.publish(&mut con, wire).await?;
            }
            self.store
                .set_identities(&mut con, &self.identities)
                .await?;
            let stored = self.store.read_all(&mut con).await?;
            redis::RedisResult::Ok((con, news, stored))
        };
        match attempt.await {
            Ok((con, news, stored)) => {
                self.con = Some(con);
                self.news = Some(Box::pin(news));
                self.report(LedgerHealth::Ok).await;
                for wire in stored {
                    self.deliver(wire).await;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "ledger: connection attempt failed");
                self.lost("unreachable").await;
            }
        }
    }

    async fn probe(&mut self) {
        match self.con.as_mut() {
            Some(con) => {
                if let Err(e) = self.store.ping(con).await {
                    tracing::debug!(error = %e, "ledger: ping failed");
                    self.lost("no answer to a ping").await;
                }
            }
            None => self.reconnect().await,
        }
    }

    /// Hands another host's news to the engine.
    async fn deliver(&mut self, wire: Wire) {
        let input = match wire {
            Wire::Account(news) if news.seen_by != *self.store.host() => Input::AccountNews(news),
            Wire::Active(news) if news.seen_by != *self.store.host() => {
                Input::ActiveAccountNews(news)
            }
            _ => return,
        };
        let _ = self.inbox.send(input).await;
    }

    async fn on_job(&mut self, job: LedgerJob) {
        match job {
            LedgerJob::Publish(wire) => {
                let key = match &wire {
                    Wire::Account(n) => Some(n.account.clone()),
                    Wire::Active(_) => None,
                };
                let newer = self
                    .kept
                    .get(&key)
                    .is_none_or(|k| seen_at(k) <= seen_at(&wire));
                if newer {
                    self.kept.insert(key, wire.clone());
                }
                if let Some(con) = self.con.as_mut() {
                    if let Err(e) = self.store.publish(con, &wire).await {
                        tracing::debug!(error = %e, "ledger: publish failed; kept for later");
                        self.lost("publish failed").await;
                    }
                }
            }
            LedgerJob::Acquire { request } => {
                // The lease's outcome is this worker's to make: the core has no ledger port,
                // and `failover_core::execute` leaves ledger effects to the embedder.
                let outcome = match self.con.as_mut() {
                    None => LeaseOutcome::Unavailable,
                    Some(con) => match self.store.acquire(con).await {
                        Ok(true) => LeaseOutcome::Granted,
                        Ok(false) => LeaseOutcome::Denied,
                        Err(e) => {
                            tracing::debug!(error = %e, "ledger: lease request failed");
                            self.lost("lease request failed").await;
                            LeaseOutcome::Unavailable
                        }
                    },
                };
                tracing::debug!(?outcome, "ledger: swap lease");
                let _ = self
                    .inbox
                    .send(Input::EffectFinished {
                        request,
                        outcome: EffectOutcome::Lease(outcome),
                    })
                    .await;
            }
            LedgerJob::Release => {
                if let Some(con) = self.con.as_mut() {
                    if let Err(e) = self.store.release(con).await {
                        tracing::debug!(error = %e, "ledger: lease release failed");
                        self.lost("lease release failed").await;
                    }
                }
            }
        }
    }
}
