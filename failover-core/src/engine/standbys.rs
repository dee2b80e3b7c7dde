//! Which sessions should have a program ready ahead of a move, and on which account:
//! [`FailoverEngine::standbys`]. A question about the engine's state; it changes nothing.

use std::collections::BTreeMap;

use crate::backend::LaunchRequest;
use crate::config::PolicyMode;
use crate::engine::FailoverEngine;
use crate::ids::{AccountId, SessionId};
use crate::pool::Tier;
use crate::session::SessionState;
use crate::time::UnixMillis;

impl FailoverEngine {
    /// The programs worth having ready at `now`, one per session at most, in session name
    /// order: what an embedder asks its backend to
    /// [`prepare`](crate::SessionBackend::prepare) so that a coming move skips the
    /// destination program's cold start.
    ///
    /// A session gets one when it runs (running or being prompted; not while it moves, nor
    /// when stopped, parked, dead or halted) on an account a move is coming from: the
    /// account has used [`EngineConfig::standby_percent`](crate::EngineConfig::standby_percent)
    /// of a window that meters the whole account, or is past its proactive threshold, or
    /// cannot be used (out of quota, waiting for a login, on extra usage not allowed), or
    /// a swap not yet at this session is taking its sessions away. The account is the one
    /// the move would go to now, by the same choice the moves make: the swap's destination,
    /// else under single-active the active account (when the session is elsewhere) or the
    /// best other one for the pool's models, under spread the best other one for the
    /// session's model and the load (each standby counted as a session there, as launches
    /// are). No usable destination, no standby. `resume` is the session's conversation.
    ///
    /// A session whose conversation is not known gets none (there is nothing to resume).
    /// At most [`EngineConfig::standby_max`](crate::EngineConfig::standby_max), the first
    /// in session name order.
    ///
    /// Empty while standbys are off (`standby_percent` is `None`), before adoption
    /// completes, and while the engine is paused or draining (nothing moves then).
    pub fn standbys(&self, now: UnixMillis) -> Vec<LaunchRequest> {
        let Some(percent) = self.config.standby_percent else {
            return Vec::new();
        };
        if self.adopting || self.paused || self.draining {
            return Vec::new();
        }
        let pool_models = self.pool_models();
        // Spread: standbys already placed count as load, as each launch does.
        let mut placed: BTreeMap<AccountId, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for (sid, m) in &self.sessions {
            if out.len() >= self.config.standby_max {
                break;
            }
            let Some(conversation) = &m.claude_session else {
                continue;
            };
            let (SessionState::Running { account, .. } | SessionState::Prompting { account, .. }) =
                &m.state
            else {
                continue;
            };
            let in_swap = self
                .swap
                .as_ref()
                .filter(|s| s.from == *account && s.pending.contains(sid));
            if in_swap.is_some_and(|s| s.moving.contains(sid)) {
                continue;
            }
            let to = match in_swap {
                Some(swap) => Some(swap.to.clone()).filter(|to| self.pool.is_usable(to, now)),
                None if self.move_foreseen(account, now, percent) => {
                    self.standby_destination(sid, account, now, &pool_models, &placed)
                }
                None => None,
            };
            let Some(to) = to else {
                continue;
            };
            let Some(entry) = self.pool.get(&to) else {
                continue;
            };
            *placed.entry(to.clone()).or_default() += 1;
            out.push(LaunchRequest {
                session: sid.clone(),
                dir: m.spec.dir.clone(),
                account: to,
                config_dir: entry.account.config_dir.clone(),
                resume: Some(conversation.clone()),
            });
        }
        out
    }

    /// Whether a move off `account` is foreseeable: a whole-account window at `percent` or
    /// more, past the proactive threshold (or on allowed extra usage), or unusable.
    fn move_foreseen(&self, account: &AccountId, now: UnixMillis, percent: f32) -> bool {
        let used = self
            .pool
            .get(account)
            .and_then(crate::pool::AccountEntry::binding)
            .is_some_and(|b| b.used_percent >= percent);
        used || matches!(self.pool.tier(account, now), None | Some(Tier::NearLimit))
    }

    /// Where session `sid`, on `from`, would go if it moved now (outside a swap).
    fn standby_destination(
        &self,
        sid: &SessionId,
        from: &AccountId,
        now: UnixMillis,
        pool_models: &[crate::account::LimitWindow],
        placed: &BTreeMap<AccountId, usize>,
    ) -> Option<AccountId> {
        match self.config.mode {
            PolicyMode::SingleActive => {
                let active = self
                    .active
                    .as_ref()
                    .filter(|a| *a != from && self.pool.is_usable(a, now));
                active
                    .or_else(|| self.pool.best_for(now, Some(from), pool_models))
                    .cloned()
            }
            PolicyMode::Spread => {
                let models = self.session_models(sid);
                let load =
                    |a: &AccountId| self.index.load_of(a) + placed.get(a).copied().unwrap_or(0);
                self.pool
                    .best_spread(now, Some(from), &models, load)
                    .cloned()
            }
        }
    }
}
