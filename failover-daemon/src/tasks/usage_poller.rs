//! The usage poller: reads the usage of accounts no session runs on (their sessions would
//! feed the statusline instead) from the OAuth usage endpoint, and hands each report to
//! the engine as [`Input::UsageObserved`].
//!
//! Budget (the endpoint allows about 30 reads an hour per account, shared with Claude
//! Code, and answers 429 with an hour-long `retry-after` when overdrawn):
//! - at most one read per idle account per `[quota] usage_poll` (default 10 min), each
//!   account's period jittered by up to a tenth so reads do not line up;
//! - one read of each account the engine asks for right before it chooses a destination
//!   ([`Effect::ReadUsage`](failover_core::Effect::ReadUsage), listed in the published
//!   status as `usage_wanted`: idle accounts whose last read is older than a minute),
//!   served at once; the engine waits for it two seconds at most;
//! - one extra read of the idle accounts whose last read is older than a minute when an
//!   account sessions run on turns near its limit, exhausted or logged out (for an engine
//!   that does not ask);
//! - none for an account while sessions run on it;
//! - after a 429, none before its `retry-after` is over.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use failover_core::{AccountId, Input, StatusSnapshot};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::QuotaSettings;
use crate::error::DaemonError;
use crate::tasks::Published;
use crate::usage::{UsageRead, read_usage};

/// A fresher read than this is not repeated before choosing a destination.
pub const FRESH: Duration = Duration::from_secs(60);

/// Per-account schedule.
#[derive(Debug)]
struct Slot {
    /// When the next periodic read is due.
    due: Instant,
    /// The last read sent (whatever its answer).
    last_read: Option<Instant>,
    /// No read before this (a 429's `retry-after`).
    hold_until: Option<Instant>,
}

/// The read budget: which accounts to read when. Plain sync code over instants, so the
/// budget is tested without a network or a clock.
#[derive(Debug)]
pub struct UsageSchedule {
    period: Duration,
    slots: BTreeMap<AccountId, Slot>,
    /// Accounts sessions run on that were near their limit (or worse) at the last look.
    pressed: BTreeMap<AccountId, &'static str>,
    /// The accounts the engine was waiting for at the last look.
    asked: BTreeSet<AccountId>,
    reads: u64,
}

impl UsageSchedule {
    /// A schedule reading every one of `accounts` once soon after `start` (a second apart),
    /// then at most once per `period` (jittered up to a tenth).
    pub fn new(
        period: Duration,
        accounts: impl IntoIterator<Item = AccountId>,
        start: Instant,
    ) -> Self {
        let slots = accounts
            .into_iter()
            .enumerate()
            .map(|(i, id)| {
                let slot = Slot {
                    due: start + Duration::from_secs(1 + i as u64),
                    last_read: None,
                    hold_until: None,
                };
                (id, slot)
            })
            .collect();
        Self {
            period,
            slots,
            pressed: BTreeMap::new(),
            asked: BTreeSet::new(),
            reads: 0,
        }
    }

    /// The accounts to read at `now`, as things stand in `snapshot`; each is counted as
    /// read at `now`. Accounts sessions run on are never read (their sessions feed the
    /// statusline), but their turn comes round again a period later.
    pub fn due(&mut self, now: Instant, snapshot: &StatusSnapshot) -> Vec<AccountId> {
        let busy = busy(snapshot);
        // An account sessions run on turned near its limit (or worse): the engine is about
        // to choose a destination, so idle accounts read over a minute ago are read now.
        let pressed = pressed(snapshot, &busy);
        let turned = pressed
            .iter()
            .any(|(id, state)| self.pressed.get(id) != Some(state));
        self.pressed = pressed;
        if turned {
            for (id, slot) in &mut self.slots {
                let stale = slot.last_read.is_none_or(|t| now >= t + FRESH);
                if !busy.contains(id) && stale {
                    slot.due = slot.due.min(now);
                }
            }
        }
        // Accounts the engine waits for before choosing: read now, once per ask (the engine
        // lists them until the report arrives or its wait is over, and asks for an account
        // at most once a minute).
        for id in &snapshot.usage_wanted {
            if self.asked.contains(id) || busy.contains(id) {
                continue;
            }
            if let Some(slot) = self.slots.get_mut(id) {
                slot.due = slot.due.min(now);
            }
        }
        self.asked = snapshot.usage_wanted.iter().cloned().collect();
        let mut out = Vec::new();
        for (id, slot) in &mut self.slots {
            if slot.due > now || slot.hold_until.is_some_and(|h| h > now) {
                continue;
            }
            self.reads += 1;
            slot.due = now + jittered(self.period, id, self.reads);
            if busy.contains(id) {
                continue;
            }
            slot.last_read = Some(now);
            out.push(id.clone());
        }
        out
    }

    /// The endpoint asked to wait (429 `retry-after`): no read of `id` before `until`.
    pub fn hold(&mut self, id: &AccountId, until: Instant) {
        if let Some(slot) = self.slots.get_mut(id) {
            slot.hold_until = Some(until);
            slot.due = slot.due.max(until);
        }
    }

    /// When the next read may be due (a change of state may bring one sooner).
    pub fn next_wake(&self) -> Option<Instant> {
        self.slots
            .values()
            .map(|s| s.hold_until.map_or(s.due, |h| s.due.max(h)))
            .min()
    }
}

/// The period of `account`'s `n`-th read: `usage_poll` plus up to a tenth, spread by the
/// account's name and the count so accounts drift apart.
fn jittered(period: Duration, account: &AccountId, n: u64) -> Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in account.as_str().bytes().chain(n.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let tenth = period.as_millis() as u64 / 10;
    period + Duration::from_millis(if tenth == 0 { 0 } else { h % tenth })
}

/// Accounts sessions run on in `snapshot`.
fn busy(snapshot: &StatusSnapshot) -> Vec<AccountId> {
    let mut out: Vec<AccountId> = snapshot
        .sessions
        .iter()
        .filter_map(|s| s.account.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The accounts sessions run on that are near their limit, exhausted or logged out.
fn pressed(snapshot: &StatusSnapshot, busy: &[AccountId]) -> BTreeMap<AccountId, &'static str> {
    snapshot
        .accounts
        .iter()
        .filter(|a| busy.contains(&a.id))
        .map(|a| (a.id.clone(), a.state.name()))
        .filter(|(_, s)| matches!(*s, "near_limit" | "exhausted" | "needs_login"))
        .collect()
}

/// Runs until `cancel`. `accounts` are the configured accounts and their config dirs.
pub async fn run(
    settings: QuotaSettings,
    accounts: Vec<(AccountId, PathBuf)>,
    mut status: watch::Receiver<Arc<Published>>,
    inbox: mpsc::Sender<Input>,
    clock: Clock,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    if !settings.poll_usage {
        cancel.cancelled().await;
        return Ok(());
    }
    let client = reqwest::Client::new();
    let dirs: BTreeMap<AccountId, PathBuf> = accounts.into_iter().collect();
    let mut schedule =
        UsageSchedule::new(settings.usage_poll, dirs.keys().cloned(), Instant::now());
    loop {
        let now = Instant::now();
        let snapshot = status.borrow().snapshot.clone();
        let due = schedule.due(now, &snapshot);
        for id in &due {
            let Some(dir) = dirs.get(id) else {
                continue;
            };
            match read_usage(&client, &settings.usage_url, dir, clock.now()).await {
                UsageRead::Report(report) => {
                    tracing::debug!(account = %id, windows = report.windows.len(), "usage read");
                    let input = Input::UsageObserved {
                        account: id.clone(),
                        report,
                    };
                    if inbox.send(input).await.is_err() {
                        return Ok(());
                    }
                }
                UsageRead::Unknown(why) => tracing::debug!(account = %id, why, "usage unknown"),
                UsageRead::RetryAfter(wait) => {
                    tracing::info!(account = %id, ?wait, "usage endpoint asked to wait");
                    schedule.hold(id, Instant::now() + wait);
                }
                UsageRead::Failed(why) => tracing::debug!(account = %id, %why, "usage read failed"),
            }
        }
        if !due.is_empty() {
            // Reads take time: look at the state again before sleeping.
            continue;
        }
        let next = schedule
            .next_wake()
            .unwrap_or_else(|| now + settings.usage_poll);
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            changed = status.changed() => {
                if changed.is_err() {
                    cancel.cancelled().await;
                    return Ok(());
                }
            }
            () = tokio::time::sleep_until(next) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_tenth_and_differs_by_account() {
        let period = Duration::from_secs(600);
        let a = AccountId::new("a");
        let b = AccountId::new("b");
        for n in 0..50 {
            let j = jittered(period, &a, n);
            assert!(j >= period && j < period + Duration::from_secs(60));
        }
        assert_ne!(
            (0..5).map(|n| jittered(period, &a, n)).collect::<Vec<_>>(),
            (0..5).map(|n| jittered(period, &b, n)).collect::<Vec<_>>()
        );
    }
}
