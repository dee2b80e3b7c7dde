//! The standby keeper: keeps the programs the backend has ready ahead of a move
//! ([`SessionBackend::prepare`]) equal to the ones the engine wants
//! ([`FailoverEngine::standbys`](failover_core::FailoverEngine::standbys), published by the
//! dispatcher with every status as [`Published::standbys`]).
//!
//! - It follows the published status: it acts when the status changes, and otherwise
//!   sleeps until a retry is due.
//! - One backend call at a time: a prepare is a program's cold start (about a CPU-second),
//!   so standbys come one after the other, and never while a move is under way (a swap in
//!   flight, or a session checkpointing, stopping or launching) nor for
//!   [`KeeperSettings::settle`] after it was seen over: the move's own programs need the
//!   CPU.
//! - Standbys no longer wanted are ended first ([`SessionBackend::discard_prepared`]);
//!   one a launch took over (the session was launched since, as the dispatcher counts in
//!   [`DaemonFacts::launches`](crate::tasks::DaemonFacts)) is only forgotten: the launch
//!   used it, or ended it when it did not match.
//! - A failed prepare is logged (session, account, error), the program it may have left is
//!   ended, and it is tried again after a delay doubling from [`KeeperSettings::retry_first`]
//!   up to [`KeeperSettings::retry_max`]; a failed discard likewise.
//! - The sessions whose standby is ready, and on which account, go to the dispatcher
//!   ([`ControlMsg::Standbys`]), which shows them in the status.
//! - At shutdown every standby is ended (within one call limit in all).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use failover_core::{
    AccountId, LaunchRequest, SessionBackend, SessionId, SessionStateKind, StatusSnapshot,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::DaemonError;
use crate::tasks::{ControlMsg, Published};

/// The keeper's timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeeperSettings {
    /// The longest a prepare or discard may take before it counts as failed.
    pub call_limit: Duration,
    /// The first delay before a failed call is tried again; doubled on each failure in a
    /// row.
    pub retry_first: Duration,
    /// The longest delay between tries.
    pub retry_max: Duration,
    /// How long after the last move was seen under way before a prepare starts.
    pub settle: Duration,
}

impl KeeperSettings {
    /// The daemon's: 2 min per call, retries after 10 s doubling up to 10 min, 3 s of
    /// settling after a move.
    pub const fn standard() -> Self {
        Self {
            call_limit: Duration::from_secs(120),
            retry_first: Duration::from_secs(10),
            retry_max: Duration::from_secs(600),
            settle: Duration::from_secs(3),
        }
    }
}

/// A program the backend holds ready for a session.
#[derive(Clone, Debug)]
struct Held {
    request: LaunchRequest,
    /// The session's launches ([`DaemonFacts::launches`](crate::tasks::DaemonFacts)) when
    /// it was asked for: one more means a launch took it over.
    launches: u64,
}

/// What failed for a session, and when to try again.
#[derive(Clone, Debug)]
struct Retry {
    /// The prepare that failed, or `None` for a discard.
    request: Option<LaunchRequest>,
    failures: u32,
    not_before: Instant,
}

/// The next thing to do.
#[derive(Debug)]
enum Step {
    /// The session was launched since its standby was prepared: the backend no longer
    /// holds it.
    Forget(SessionId),
    /// End the session's standby.
    Discard(SessionId),
    /// Get this program ready (the session had `launches` launches then).
    Prepare(LaunchRequest, u64),
    /// Nothing now: wait for a status change, or until this instant.
    Wait(Option<Instant>),
}

/// The keeper's bookkeeping; plain sync code over instants.
#[derive(Debug, Default)]
struct Keeper {
    held: BTreeMap<SessionId, Held>,
    retries: BTreeMap<SessionId, Retry>,
    /// A move was under way at the last look.
    moving: bool,
    /// No prepare before this: the last move seen was over only then.
    settled_at: Option<Instant>,
}

/// Whether a move is under way: a swap in flight, or a session checkpointing, stopping or
/// launching.
fn moving(snapshot: &StatusSnapshot) -> bool {
    snapshot.swap.is_some()
        || snapshot.sessions.iter().any(|s| {
            matches!(
                s.state,
                SessionStateKind::Checkpointing
                    | SessionStateKind::Stopping
                    | SessionStateKind::Launching
            )
        })
}

impl Keeper {
    fn next_step(
        &mut self,
        published: &Published,
        settings: &KeeperSettings,
        now: Instant,
    ) -> Step {
        let snapshot = &published.snapshot;
        if moving(snapshot) {
            self.moving = true;
            return Step::Wait(None);
        }
        if std::mem::take(&mut self.moving) {
            self.settled_at = Some(now + settings.settle);
        }
        let wanted: BTreeMap<&SessionId, &LaunchRequest> =
            published.standbys.iter().map(|r| (&r.session, r)).collect();
        let launches = |sid: &SessionId| published.facts.launches.get(sid).copied().unwrap_or(0);
        let mut wake: Option<Instant> = None;
        let mut wake_at = |at: Instant| wake = Some(wake.map_or(at, |w| w.min(at)));
        // Retries of something no longer wanted are dropped.
        self.retries.retain(|sid, r| match &r.request {
            Some(request) => wanted.get(sid) == Some(&request),
            None => !wanted.contains_key(sid),
        });
        for (sid, held) in &self.held {
            if launches(sid) != held.launches {
                return Step::Forget(sid.clone());
            }
            if wanted.contains_key(sid) {
                continue;
            }
            match self.retries.get(sid) {
                Some(r) if r.request.is_none() && r.not_before > now => wake_at(r.not_before),
                _ => return Step::Discard(sid.clone()),
            }
        }
        if let Some(settled) = self.settled_at {
            if settled > now {
                wake_at(settled);
                return Step::Wait(wake);
            }
        }
        for (sid, request) in &wanted {
            if self.held.get(*sid).is_some_and(|h| h.request == **request) {
                continue;
            }
            if let Some(r) = self.retries.get(*sid) {
                if r.not_before > now {
                    wake_at(r.not_before);
                    continue;
                }
            }
            return Step::Prepare((*request).clone(), launches(sid));
        }
        Step::Wait(wake)
    }

    /// Records a failure for `session` at `now` (`request` for a prepare, `None` for a
    /// discard); returns the delay before the next try.
    fn failed(
        &mut self,
        session: &SessionId,
        request: Option<LaunchRequest>,
        settings: &KeeperSettings,
        now: Instant,
    ) -> Duration {
        let failures = self
            .retries
            .get(session)
            .filter(|r| r.request == request)
            .map_or(1, |r| r.failures + 1);
        let delay = settings
            .retry_first
            .saturating_mul(1 << (failures - 1).min(16))
            .min(settings.retry_max);
        self.retries.insert(
            session.clone(),
            Retry {
                request,
                failures,
                not_before: now + delay,
            },
        );
        delay
    }

    /// Where each ready standby is.
    fn ready(&self) -> BTreeMap<SessionId, AccountId> {
        self.held
            .iter()
            .map(|(sid, h)| (sid.clone(), h.request.account.clone()))
            .collect()
    }
}

/// Runs the keeper until `stop`, then ends every standby it holds.
pub async fn run(
    backend: Arc<dyn SessionBackend>,
    mut status: watch::Receiver<Arc<Published>>,
    control: mpsc::Sender<ControlMsg>,
    settings: KeeperSettings,
    stop: CancellationToken,
) -> Result<(), DaemonError> {
    let mut keeper = Keeper::default();
    let mut reported = BTreeMap::new();
    loop {
        if stop.is_cancelled() {
            break;
        }
        let published = status.borrow_and_update().clone();
        let now = Instant::now();
        match keeper.next_step(&published, &settings, now) {
            Step::Wait(until) => {
                let sleep = async {
                    match until {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = stop.cancelled() => break,
                    changed = status.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    () = sleep => {}
                }
            }
            Step::Forget(sid) => {
                tracing::debug!(session = %sid, "standby taken over by the session's launch");
                keeper.held.remove(&sid);
            }
            Step::Discard(sid) => discard(&*backend, &mut keeper, &sid, &settings).await,
            Step::Prepare(request, launches) => {
                prepare(&*backend, &mut keeper, request, launches, &settings).await;
            }
        }
        let ready = keeper.ready();
        if ready != reported {
            reported.clone_from(&ready);
            if control.send(ControlMsg::Standbys(ready)).await.is_err() {
                break;
            }
        }
    }
    // At shutdown, one call limit for them all: a stuck backend must not hold the exit up.
    let end_all = async {
        for sid in keeper.held.keys() {
            if let Err(e) = backend.discard_prepared(sid).await {
                tracing::warn!(session = %sid, error = %e, "could not end the session's standby at shutdown");
            }
        }
    };
    if tokio::time::timeout(settings.call_limit, end_all)
        .await
        .is_err()
    {
        tracing::warn!("ending the standbys at shutdown timed out; some may be left running");
    }
    Ok(())
}

async fn discard(
    backend: &dyn SessionBackend,
    keeper: &mut Keeper,
    sid: &SessionId,
    settings: &KeeperSettings,
) {
    let outcome = tokio::time::timeout(settings.call_limit, backend.discard_prepared(sid)).await;
    match outcome {
        Ok(Ok(())) => {
            tracing::info!(session = %sid, "standby ended: the move it was for is no longer coming");
            keeper.held.remove(sid);
            keeper.retries.remove(sid);
        }
        Ok(Err(e)) => {
            let delay = keeper.failed(sid, None, settings, Instant::now());
            tracing::warn!(session = %sid, error = %e, retry_in = ?delay, "could not end a standby");
        }
        Err(_) => {
            let delay = keeper.failed(sid, None, settings, Instant::now());
            tracing::warn!(session = %sid, limit = ?settings.call_limit, retry_in = ?delay, "ending a standby timed out");
        }
    }
}

async fn prepare(
    backend: &dyn SessionBackend,
    keeper: &mut Keeper,
    request: LaunchRequest,
    launches: u64,
    settings: &KeeperSettings,
) {
    let sid = request.session.clone();
    let started = Instant::now();
    let outcome = tokio::time::timeout(settings.call_limit, backend.prepare(&request)).await;
    let error = match outcome {
        Ok(Ok(())) => {
            tracing::info!(
                session = %sid,
                account = %request.account,
                took_ms = started.elapsed().as_millis() as u64,
                "standby ready"
            );
            keeper.retries.remove(&sid);
            keeper.held.insert(sid, Held { request, launches });
            return;
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {:?}", settings.call_limit),
    };
    let account = request.account.clone();
    let delay = keeper.failed(&sid, Some(request), settings, Instant::now());
    tracing::warn!(session = %sid, account = %account, error = %error, retry_in = ?delay, "could not get a standby ready");
    // Whatever the failed attempt left (it replaced any earlier standby of the session).
    keeper.held.remove(&sid);
    let ended = tokio::time::timeout(settings.call_limit, backend.discard_prepared(&sid)).await;
    if !matches!(ended, Ok(Ok(()))) {
        tracing::warn!(session = %sid, "could not end what a failed standby left");
    }
}
