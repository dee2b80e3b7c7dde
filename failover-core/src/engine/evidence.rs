//! Evidence in, account states out: confirmation, veto and staleness.
//!
//! - A structured source ([`SignalSource::is_structured`]) is trusted on one observation.
//! - Pane text must show the same verdict on `pane_confirmations` consecutive observations
//!   of the same subject; anything else in between (a different verdict, `Clear`) restarts
//!   the count.
//! - A `Transient` verdict (5xx, 529, throttle, network) from any source resets the count
//!   and changes nothing else: it can never cause a swap.
//! - Evidence about a session is stale, and never counts, when it was observed before the
//!   start of the session's last completed turn (a turn went through after it: history
//!   still on screen, an old transcript line), or before the session was launched on the
//!   account it is on now (it is about the previous placement, read late). Evidence
//!   observed *during* the last turn still counts: that turn may be the one the limit
//!   ended, with the prompt coming back before the transcript line was read.
//! - A `Clear` from a session being moved off its account (checkpoint, stop) does not
//!   prove the account works: the lines a stopping CLI writes are no API answer.
//! - Pane text about a session the engine launched counts only once the CLI reported a turn
//!   working in that launch (a prompt the engine typed is not drawn yet when the typing is
//!   done): a resumed Claude Code redraws the old conversation, the error that ended
//!   it included, so before the first turn the screen is history (a real failure on the new
//!   account shows up in the transcript at once, and on the pane with the first turn). The
//!   same holds for a session adopted after a restart on the destination of the swap the
//!   previous run was making, or with a prompt still to replay: that run launched it.

use crate::account::{AccountState, LimitWindow, UsageReport, WindowUsage};
use crate::engine::machine::SessionMachine;
use crate::engine::{Effect, FailoverEngine, Subject};
use crate::ids::{AccountId, SessionId};
use crate::notify::{NotificationKind, Severity};
use crate::quota::{
    Corroboration, Detection, NEAR_LIMIT_FLOOR_PERCENT, SignalSource, Verdict, VetoReason,
};
use crate::session::SessionState;
use crate::time::UnixMillis;

/// Consecutive identical pane verdicts about one subject.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PaneStreak {
    /// The verdict's name and window: what "the same verdict" means.
    key: (&'static str, Option<LimitWindow>),
    count: u32,
}

impl FailoverEngine {
    pub(super) fn on_detection(
        &mut self,
        subject: Subject,
        source: SignalSource,
        detection: Detection,
        observed_at: UnixMillis,
    ) {
        let Detection { verdict, evidence } = detection;
        let account = match &subject {
            Subject::Session(sid) => {
                let Some(m) = self.sessions.get(sid) else {
                    return self.ignore("detection for an unknown session");
                };
                if m.stale_before.is_some_and(|t| observed_at < t) {
                    return self.ignore("stale evidence (before the last turn or launch)");
                }
                if source == SignalSource::Pane
                    && m.pane_shows_history
                    && !matches!(verdict, Verdict::Clear)
                {
                    return self.ignore("pane history (no turn since the launch)");
                }
                let Some(account) = m.state.account().cloned() else {
                    return self.ignore("detection for a session on no account");
                };
                if source == SignalSource::Pane {
                    if let Some(reason) = veto(m, &verdict) {
                        return self.veto(sid, account, &verdict, evidence, reason);
                    }
                }
                if source == SignalSource::Transcript && !matches!(verdict, Verdict::Clear) {
                    // An API error written after the reply: the latest answer failed.
                    if let Some(m) = self.sessions.get_mut(sid) {
                        m.replied = false;
                    }
                }
                account
            }
            Subject::Account(account) => {
                if !self.pool.contains(account) {
                    return self.ignore("detection for an unknown account");
                }
                account.clone()
            }
        };

        let key = match &verdict {
            Verdict::Clear | Verdict::Transient { .. } => None,
            v => Some((v.name(), v.window())),
        };
        let threshold = self.config.pane_confirmations;
        let streak = match &subject {
            Subject::Session(sid) => self.sessions.get_mut(sid).map(|m| &mut m.streak),
            Subject::Account(a) => {
                // Kept only while counting, so the map stays as small as the evidence.
                let entry = self.account_streaks.remove(a);
                let mut slot = entry;
                let confirmed = count(&mut slot, key, source, threshold);
                if let Some(s) = slot {
                    self.account_streaks.insert(a.clone(), s);
                }
                return self.apply_verdict(
                    &subject,
                    &account,
                    verdict,
                    source,
                    confirmed,
                    observed_at,
                );
            }
        };
        let confirmed = match streak {
            Some(slot) => count(slot, key, source, threshold),
            None => false,
        };
        self.apply_verdict(&subject, &account, verdict, source, confirmed, observed_at);
    }

    /// Pane evidence a structured fact contradicts: not acted on, recorded, and the run of
    /// identical pane verdicts starts again.
    fn veto(
        &mut self,
        session: &SessionId,
        account: AccountId,
        verdict: &Verdict,
        evidence: Option<String>,
        reason: VetoReason,
    ) {
        if let Some(m) = self.sessions.get_mut(session) {
            m.streak = None;
        }
        self.out.push(Effect::DetectionVetoed {
            session: session.clone(),
            account,
            verdict: verdict.name(),
            evidence,
            reason,
        });
    }

    pub(super) fn on_corroboration(
        &mut self,
        session: &SessionId,
        fact: Corroboration,
        observed_at: UnixMillis,
    ) {
        let Some(m) = self.sessions.get_mut(session) else {
            return self.ignore("corroboration for an unknown session");
        };
        if m.launched_at.is_some_and(|t| observed_at < t) {
            // Read before the launch on the account it is on now: about the previous
            // placement.
            return self.ignore("stale corroboration (before the launch)");
        }
        match fact {
            Corroboration::OrdinaryReply => m.replied = true,
            Corroboration::PromptWritten => m.replied = false,
            Corroboration::Usage(usage) => m.usage = usage,
        }
    }

    fn apply_verdict(
        &mut self,
        subject: &Subject,
        account: &AccountId,
        verdict: Verdict,
        source: SignalSource,
        confirmed: bool,
        observed_at: UnixMillis,
    ) {
        let now = self.now;
        if matches!(verdict, Verdict::Clear) && source.is_structured() {
            // A clean structured answer proves the account works; but not one from a
            // session being moved off the account: what it writes while it is stopped (the
            // exit command and its bookkeeping) is no answer from the API.
            let leaving = match subject {
                Subject::Session(sid) => self.sessions.get(sid).is_some_and(|m| {
                    !matches!(
                        &m.state,
                        SessionState::Running { account: a, .. }
                            | SessionState::Prompting { account: a, .. } if a == account
                    )
                }),
                Subject::Account(_) => false,
            };
            if leaving {
                return;
            }
            if matches!(
                self.pool.state(account),
                Some(AccountState::Unknown | AccountState::NeedsLogin)
            ) {
                self.dirty |= self.pool.set_state(account, AccountState::Available);
            }
            return;
        }
        if !confirmed {
            return;
        }
        if matches!(
            verdict,
            Verdict::QuotaExhausted { .. } | Verdict::AuthRequired { .. }
        ) {
            if let Subject::Session(sid) = subject {
                if let Some(m) = self.sessions.get_mut(sid) {
                    m.quota_hit_at = m.quota_hit_at.max(Some(observed_at));
                }
            }
        }
        let current = self.pool.state(account).cloned();
        match verdict {
            Verdict::Clear | Verdict::Transient { .. } => {}
            Verdict::NearLimit {
                window,
                used_percent,
                resets_at,
            } if window.is_model_scoped() => {
                // One model family's weekly window: the account still serves the others.
                if used_percent.is_finite() {
                    self.pool.record_window(
                        account,
                        WindowUsage {
                            window,
                            used_percent: used_percent.clamp(0.0, 100.0),
                            resets_at: resets_at.filter(|t| *t > now),
                        },
                    );
                }
            }
            Verdict::QuotaExhausted { window, resets_at } if window.is_model_scoped() => {
                if resets_at.is_some_and(|t| t <= now) {
                    return;
                }
                let until = resets_at.unwrap_or(now + self.config.unknown_reset_retry);
                self.pool.record_window(
                    account,
                    WindowUsage {
                        window,
                        used_percent: 100.0,
                        resets_at: Some(until),
                    },
                );
            }
            Verdict::NearLimit {
                window,
                used_percent,
                resets_at,
            } => {
                if matches!(current, Some(AccountState::Exhausted { .. }))
                    || !used_percent.is_finite()
                {
                    return;
                }
                let state = AccountState::NearLimit {
                    window,
                    used_percent: used_percent.clamp(0.0, 100.0),
                    resets_at: resets_at.filter(|t| *t > now),
                };
                self.dirty |= self.pool.set_state(account, state);
            }
            Verdict::QuotaExhausted { window, resets_at } => {
                if resets_at.is_some_and(|t| t <= now) {
                    // The window it names has reset since: a replayed or lingering signal
                    // (an old statusline document, a resumed screen), not a new exhaustion.
                    return;
                }
                let until = resets_at
                    .filter(|t| *t > now)
                    .unwrap_or(now + self.config.unknown_reset_retry);
                if let Some(AccountState::Exhausted { until: known, .. }) = current {
                    if known >= until {
                        return;
                    }
                }
                let state = AccountState::Exhausted { window, until };
                self.dirty |= self.pool.set_state(account, state);
            }
            Verdict::ExtraUsage { window, resets_at } => {
                if resets_at.is_some_and(|t| t <= now) {
                    // The window it names has reset since: the plan pays again.
                    return;
                }
                // The plan's window is used up and the account goes on at a cost: it is
                // spending extra usage until that window resets (a model's own window
                // included: the session on it pays).
                let until = resets_at.unwrap_or(now + self.config.unknown_reset_retry);
                if window.is_model_scoped() {
                    self.pool.record_window(
                        account,
                        WindowUsage {
                            window,
                            used_percent: 100.0,
                            resets_at: Some(until),
                        },
                    );
                } else if current != Some(AccountState::NeedsLogin)
                    && !matches!(current, Some(AccountState::Exhausted { until: known, .. }) if known >= until)
                {
                    let state = AccountState::Exhausted { window, until };
                    self.dirty |= self.pool.set_state(account, state);
                }
                self.dirty |= self.pool.set_extra_usage(account, true);
            }
            Verdict::AuthRequired { reason } => {
                if current == Some(AccountState::NeedsLogin) {
                    return;
                }
                self.dirty |= self.pool.set_state(account, AccountState::NeedsLogin);
                self.notify(
                    Severity::Warning,
                    NotificationKind::NeedsLogin {
                        account: account.clone(),
                    },
                    format!(
                        "account {account} needs a login ({reason:?}); it is skipped until then"
                    ),
                    None,
                    format!("needs-login:{account}"),
                );
            }
        }
    }

    /// A usage report about `account` (the OAuth usage endpoint): readings replace the
    /// previous ones; a whole-account window at 100 % or more makes it exhausted until that
    /// window's reset; otherwise a reading that supersedes the near-limit state's window
    /// (or a first reading) makes it available. Model-scoped windows only mark themselves.
    /// An exhaustion the CLI reported stands until its reset, and a login matter is not
    /// one of usage.
    pub(super) fn on_usage(&mut self, account: &AccountId, report: &UsageReport) {
        if !self.pool.contains(account) {
            return self.ignore("usage of an unknown account");
        }
        let now = self.now;
        self.usage_reads.read(account, now);
        let report = UsageReport {
            windows: report
                .windows
                .iter()
                .filter(|u| u.used_percent.is_finite())
                .map(|u| WindowUsage {
                    used_percent: u.used_percent.clamp(0.0, 100.0),
                    resets_at: u.resets_at.filter(|t| *t > now),
                    ..*u
                })
                .collect(),
            extra_usage: report.extra_usage,
            grants: report.grants.clone(),
        };
        self.pool.record_report(account, &report);
        let current = self.pool.state(account).cloned();
        if current == Some(AccountState::NeedsLogin) {
            return;
        }
        let spent = report
            .windows
            .iter()
            .filter(|u| !u.window.is_model_scoped() && u.used_percent >= 100.0)
            .max_by_key(|u| u.resets_at);
        if let Some(spent) = spent {
            let until = spent
                .resets_at
                .unwrap_or(now + self.config.unknown_reset_retry);
            if let Some(AccountState::Exhausted { until: known, .. }) = current {
                if known >= until {
                    return;
                }
            }
            let state = AccountState::Exhausted {
                window: spent.window,
                until,
            };
            self.dirty |= self.pool.set_state(account, state);
            return;
        }
        let superseded = match &current {
            Some(AccountState::Unknown) => true,
            Some(AccountState::NearLimit { window, .. }) => {
                report.windows.iter().any(|u| u.window == *window)
            }
            _ => false,
        };
        if superseded {
            self.dirty |= self.pool.set_state(account, AccountState::Available);
        }
    }

    /// The model a session uses. A report of another family while the family it asked for
    /// is used up on its account is Claude Code's fallback: the session keeps asking for
    /// the first one (what `follow_model` goes by).
    pub(super) fn on_model(&mut self, sid: &SessionId, model: String) {
        let now = self.now;
        let Some(m) = self.sessions.get(sid) else {
            return self.ignore("model of an unknown session");
        };
        let wanted = m.model.as_deref().and_then(LimitWindow::for_model);
        let fallback = wanted.is_some_and(|w| {
            LimitWindow::for_model(&model) != Some(w)
                && m.state
                    .account()
                    .and_then(|a| self.pool.get(a))
                    .is_some_and(|e| e.model_capped(w, now))
        });
        if fallback {
            return;
        }
        if let Some(m) = self.sessions.get_mut(sid) {
            m.model = Some(model);
        }
    }
}

/// The structured fact that contradicts a pane verdict about session `m`, if any:
/// - an ordinary reply as the transcript's latest assistant message vetoes
///   `quota_exhausted` and `auth_required` (the API answered this login's turn);
/// - the statusline's reading of the verdict's window vetoes `quota_exhausted` under 100 %
///   and `near_limit` under [`NEAR_LIMIT_FLOOR_PERCENT`]. A window the statusline does not
///   report (or `other`) is not contradicted.
fn veto(m: &SessionMachine, verdict: &Verdict) -> Option<VetoReason> {
    let reading = |window: LimitWindow| {
        m.usage
            .iter()
            .find(|u| u.window == window && window != LimitWindow::Other)
            .map(|u| u.used_percent)
    };
    match verdict {
        Verdict::QuotaExhausted { window, .. } => {
            if m.replied {
                Some(VetoReason::OrdinaryReply)
            } else if reading(*window).is_some_and(|p| p < 100.0) {
                Some(VetoReason::StatuslineBelowLimit)
            } else {
                None
            }
        }
        // Extra usage starts where the plan's window ends: the statusline's reading of that
        // window under 100 % contradicts it (an ordinary reply does not: paid turns answer).
        Verdict::ExtraUsage { window, .. } => reading(*window)
            .is_some_and(|p| p < 100.0)
            .then_some(VetoReason::StatuslineBelowLimit),
        Verdict::AuthRequired { .. } => m.replied.then_some(VetoReason::OrdinaryReply),
        Verdict::NearLimit { window, .. } => reading(*window)
            .is_some_and(|p| p < NEAR_LIMIT_FLOOR_PERCENT)
            .then_some(VetoReason::StatuslineBelowLimit),
        Verdict::Clear | Verdict::Transient { .. } => None,
    }
}

/// Updates a streak with one observation; returns whether the verdict is confirmed.
fn count(
    slot: &mut Option<PaneStreak>,
    key: Option<(&'static str, Option<LimitWindow>)>,
    source: SignalSource,
    threshold: u32,
) -> bool {
    let Some(key) = key else {
        // Clear or Transient: the run of identical verdicts is broken (a veto for transient).
        *slot = None;
        return false;
    };
    if source.is_structured() {
        return true;
    }
    match slot {
        Some(s) if s.key == key => s.count = s.count.saturating_add(1),
        _ => *slot = Some(PaneStreak { key, count: 1 }),
    }
    slot.as_ref().is_some_and(|s| s.count >= threshold)
}
