//! The shared ledger: news from other hosts in, the engine's own findings out, and the swap
//! lease (see [`crate::ledger`]). Nothing here runs without [`EngineConfig::ledger`].
//!
//! [`EngineConfig::ledger`]: crate::EngineConfig::ledger

use std::collections::BTreeMap;

use crate::account::AccountState;
use crate::config::PolicyMode;
use crate::engine::{Effect, FailoverEngine};
use crate::ids::{AccountId, RequestId};
use crate::ledger::{AccountNews, ActiveNews, HostId, LeaseOutcome};
use crate::time::UnixMillis;

/// Where the engine stands with the swap lease.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) enum Lease {
    /// Not held, not asked for.
    #[default]
    Free,
    /// Asked for; the answer is due by `deadline`.
    Asking {
        request: RequestId,
        deadline: UnixMillis,
    },
    /// Held (or the ledger was unreachable and the engine goes on alone): swaps may start.
    /// `shared` tells whether the store granted it (and so must get it back).
    Held { shared: bool },
    /// Another host holds it: ask again at this instant.
    Denied { retry_at: UnixMillis },
}

/// What the engine knows of the shared ledger.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct LedgerView {
    /// The evidence behind each account's current state: when it was seen, and by whom.
    evidence: BTreeMap<AccountId, (UnixMillis, HostId)>,
    /// When the active account was last chosen (here or on another host).
    active_at: Option<UnixMillis>,
    /// The active account taken over from another host during this input.
    followed: Option<AccountId>,
    pub(super) lease: Lease,
}

impl FailoverEngine {
    fn host(&self) -> Option<&HostId> {
        self.config.ledger.as_ref().map(|l| &l.host)
    }

    /// Every account's state, to compare before and after an input.
    pub(super) fn ledger_states(&self) -> Option<Vec<(AccountId, AccountState)>> {
        self.config.ledger.as_ref()?;
        Some(
            self.pool
                .iter()
                .map(|e| (e.account.id.clone(), e.state.clone()))
                .collect(),
        )
    }

    /// Publishes the accounts whose state the engine's own evidence (seen at `seen_at`)
    /// changed since `before`.
    pub(super) fn publish_changes(
        &mut self,
        before: Vec<(AccountId, AccountState)>,
        seen_at: UnixMillis,
    ) {
        let Some(host) = self.host().cloned() else {
            return;
        };
        for (account, old) in before {
            let Some(state) = self.pool.state(&account).cloned() else {
                continue;
            };
            if state == old {
                continue;
            }
            self.ledger
                .evidence
                .insert(account.clone(), (seen_at, host.clone()));
            self.out.push(Effect::PublishAccount(AccountNews {
                account,
                state,
                seen_by: host.clone(),
                seen_at,
            }));
        }
    }

    pub(super) fn on_account_news(&mut self, news: AccountNews) {
        if self.config.ledger.is_none() {
            return self.ignore("ledger news without a ledger");
        }
        if self.host() == Some(&news.seen_by) {
            return self.ignore("ledger news from this host");
        }
        let Some(current) = self.pool.state(&news.account).cloned() else {
            return self.ignore("ledger news about an unknown account");
        };
        if let Some((at, _)) = self.ledger.evidence.get(&news.account) {
            if news.seen_at <= *at {
                return self.ignore("ledger news older than what is known");
            }
        } else if matches!(current, AccountState::Exhausted { until, .. } if until > self.now)
            && news.state.is_usable(self.now)
        {
            // Exhausted on evidence of unknown age (restored from the state file): only
            // the reset, not news of unknown order, makes it usable again.
            return self.ignore("usable news about an account exhausted on older evidence");
        }
        if matches!(news.state, AccountState::Exhausted { until, .. } if until <= self.now) {
            return self.ignore("ledger news of a window that has reset since");
        }
        let Some(state) = news.state.sanitized() else {
            return self.ignore("near-limit news without a usable percentage");
        };
        self.ledger
            .evidence
            .insert(news.account.clone(), (news.seen_at, news.seen_by));
        self.dirty |= self.pool.set_state(&news.account, state);
    }

    pub(super) fn on_active_news(&mut self, news: ActiveNews) {
        if self.config.ledger.is_none() || self.config.mode != PolicyMode::SingleActive {
            return self.ignore("active-account news without a shared single-active ledger");
        }
        if self.host() == Some(&news.seen_by) {
            return self.ignore("active-account news from this host");
        }
        if !self.pool.contains(&news.account) {
            return self.ignore("active-account news about an unknown account");
        }
        if self.ledger.active_at.is_some_and(|t| news.seen_at <= t) {
            return self.ignore("active-account news older than the last choice");
        }
        self.ledger.active_at = Some(news.seen_at);
        if !self.pool.is_usable(&news.account, self.now) {
            return self.ignore("active-account news naming an account unusable here");
        }
        if self.active.as_ref() != Some(&news.account) {
            self.set_active(news.account.clone());
            self.ledger.followed = Some(news.account);
        }
    }

    /// After an input: publishes an active account this engine chose itself, and gives the
    /// lease back once no swap needs it.
    pub(super) fn ledger_after(&mut self, active_before: Option<AccountId>) {
        let Some(host) = self.host().cloned() else {
            return;
        };
        let followed = self.ledger.followed.take();
        if self.config.mode == PolicyMode::SingleActive
            && self.active != active_before
            && self.active != followed
        {
            if let Some(account) = self.active.clone() {
                self.ledger.active_at = Some(self.now);
                self.out.push(Effect::PublishActive(ActiveNews {
                    account,
                    seen_by: host,
                    seen_at: self.now,
                }));
            }
        }
        if let Lease::Held { shared } = self.ledger.lease {
            if self.swap.is_none() {
                self.ledger.lease = Lease::Free;
                if shared {
                    self.out.push(Effect::ReleaseLease);
                }
            }
        }
    }

    /// Whether a new swap may start now; asks for the lease when it is needed and free.
    pub(super) fn lease_allows_swap(&mut self) -> bool {
        if self.config.ledger.is_none() {
            return true;
        }
        match self.ledger.lease {
            Lease::Held { .. } => true,
            Lease::Asking { .. } => false,
            Lease::Denied { retry_at } if retry_at > self.now => false,
            Lease::Free | Lease::Denied { .. } => {
                let request = RequestId::new(self.next_request);
                self.next_request += 1;
                self.ledger.lease = Lease::Asking {
                    request,
                    deadline: self.deadline(),
                };
                self.out.push(Effect::AcquireLease { request });
                false
            }
        }
    }

    /// Whether `request` is the outstanding lease request.
    pub(super) fn is_lease_request(&self, request: RequestId) -> bool {
        matches!(self.ledger.lease, Lease::Asking { request: r, .. } if r == request)
    }

    pub(super) fn on_lease(&mut self, outcome: LeaseOutcome) {
        self.ledger.lease = match outcome {
            LeaseOutcome::Granted => Lease::Held { shared: true },
            LeaseOutcome::Unavailable => Lease::Held { shared: false },
            LeaseOutcome::Denied => Lease::Denied {
                retry_at: self.now
                    + self
                        .config
                        .ledger
                        .as_ref()
                        .map_or_else(|| std::time::Duration::from_secs(2), |l| l.lease_retry),
            },
        };
    }

    /// A lease request unanswered past its deadline counts as an unreachable ledger.
    pub(super) fn time_out_lease(&mut self) {
        if let Lease::Asking { deadline, .. } = self.ledger.lease {
            if deadline <= self.now {
                self.on_lease(LeaseOutcome::Unavailable);
            }
        }
    }

    /// When the lease needs the engine next: an answer's deadline, or a retry.
    pub(super) fn lease_deadline(&self) -> Option<UnixMillis> {
        match self.ledger.lease {
            Lease::Asking { deadline, .. } => Some(deadline),
            Lease::Denied { retry_at } => Some(retry_at),
            Lease::Free | Lease::Held { .. } => None,
        }
    }
}
