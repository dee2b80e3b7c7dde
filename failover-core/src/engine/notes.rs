//! The notifications the engine raises. Each has a stable `dedup_key` (the same event seen
//! twice gets the same key) and, when a reset matters, the next reset instant.

use crate::account::AccountState;
use crate::engine::{Effect, FailoverEngine};
use crate::ids::{AccountId, SessionId};
use crate::notify::{Notification, NotificationKind, Severity};
use crate::time::UnixMillis;

impl FailoverEngine {
    pub(super) fn notify(
        &mut self,
        severity: Severity,
        kind: NotificationKind,
        summary: String,
        next_reset: Option<UnixMillis>,
        dedup_key: String,
    ) {
        self.out.push(Effect::Notify(Notification {
            severity,
            kind,
            summary,
            next_reset,
            dedup_key,
            at: self.now,
        }));
    }

    /// Why `account` is being left, in words, and when it resets.
    fn leaving_reason(&self, account: &AccountId) -> (String, Option<UnixMillis>) {
        let entry = self.pool.get(account);
        if entry.is_some_and(|e| e.extra_usage) && !self.config.allow_extra_usage {
            return (
                format!("{account} runs on extra usage (paid) and allow_extra_usage is off"),
                self.pool.earliest_exhausted_reset(),
            );
        }
        let capped = entry.and_then(|e| {
            self.pool_models()
                .into_iter()
                .find(|w| e.model_capped(*w, self.now))
                .map(|w| (w, e.usage.get(&w).and_then(|u| u.resets_at)))
        });
        let binding = entry.and_then(|e| e.binding());
        match self.pool.state(account) {
            Some(AccountState::Exhausted { window, until }) => (
                format!("{account} exhausted its {window} window until {until}"),
                Some(*until),
            ),
            Some(AccountState::NeedsLogin) => (format!("{account} needs a login"), None),
            Some(AccountState::NearLimit {
                window,
                used_percent,
                resets_at,
            }) => (
                format!("{account} used {used_percent:.0}% of its {window} window"),
                *resets_at,
            ),
            _ => match (binding, capped) {
                (Some(b), _) if b.used_percent >= self.config.proactive_percent_of(account) => (
                    format!(
                        "{account} used {:.0}% of its {} window",
                        b.used_percent, b.window
                    ),
                    b.resets_at,
                ),
                (_, Some((window, resets_at))) => {
                    (format!("{account} used up its {window} window"), resets_at)
                }
                _ => (format!("{account} was left on request"), None),
            },
        }
    }

    pub(super) fn notify_failover(&mut self, from: &AccountId, to: &AccountId) {
        let (reason, next_reset) = self.leaving_reason(from);
        let severity = if self.pool.is_usable(from, self.now) {
            Severity::Info
        } else {
            Severity::Warning
        };
        self.notify(
            severity,
            NotificationKind::Failover {
                from: from.clone(),
                to: to.clone(),
                reason: reason.clone(),
            },
            format!("failing over from {from} to {to}: {reason}"),
            next_reset,
            format!("failover:{from}:{to}"),
        );
    }

    pub(super) fn notify_operator_swap(&mut self, from: &AccountId, to: &AccountId) {
        self.notify(
            Severity::Info,
            NotificationKind::Failover {
                from: from.clone(),
                to: to.clone(),
                reason: "operator request".to_owned(),
            },
            format!("swapping from {from} to {to} on operator request"),
            None,
            format!("failover:{from}:{to}"),
        );
    }

    pub(super) fn notify_returned(&mut self, from: &AccountId, to: &AccountId) {
        self.notify(
            Severity::Info,
            NotificationKind::ReturnedToPreferred {
                from: from.clone(),
                to: to.clone(),
            },
            format!("{to} has quota again: returning from {from} at the next turn boundaries"),
            None,
            format!("returned:{from}:{to}"),
        );
    }

    pub(super) fn notify_all_exhausted(&mut self) {
        let resume_at = self.pool.earliest_exhausted_reset();
        let when = resume_at.map_or_else(
            || "no reset known (accounts need a login)".to_owned(),
            |t| format!("resuming automatically at {t}"),
        );
        let key = resume_at.map_or_else(|| "none".to_owned(), |t| t.0.to_string());
        self.notify(
            Severity::Critical,
            NotificationKind::AllExhausted { resume_at },
            format!(
                "every account is exhausted or needs a login: {n} session{s} parked; {when}",
                n = self.sessions.len(),
                s = if self.sessions.len() == 1 { "" } else { "s" },
            ),
            resume_at,
            format!("all-exhausted:{key}"),
        );
    }

    pub(super) fn notify_resumed(&mut self, account: &AccountId) {
        self.notify(
            Severity::Info,
            NotificationKind::Resumed {
                account: account.clone(),
            },
            format!("{account} has quota again: parked sessions resume on it"),
            None,
            format!("resumed:{account}"),
        );
    }

    pub(super) fn notify_checkpoint_failed(&mut self, sid: &SessionId, detail: &str) {
        self.notify(
            Severity::Warning,
            NotificationKind::Message {
                text: format!("checkpoint of {sid} failed: {detail}"),
            },
            format!(
                "checkpoint of {sid} failed ({detail}); moving it anyway: its conversation \
                 resumes, but an interrupted prompt cannot be replayed"
            ),
            None,
            format!("checkpoint-failed:{sid}"),
        );
    }

    pub(super) fn notify_stop_failed(
        &mut self,
        sid: &SessionId,
        account: &AccountId,
        detail: &str,
        retry_at: UnixMillis,
    ) {
        self.notify(
            Severity::Warning,
            NotificationKind::SessionDegraded {
                session: sid.clone(),
                reason: format!("could not be stopped: {detail}"),
            },
            format!(
                "could not stop {sid} ({detail}); it stays on {account}, next try at {retry_at}"
            ),
            None,
            format!("stop-failed:{sid}"),
        );
    }

    pub(super) fn notify_prompt_dropped(
        &mut self,
        sid: &SessionId,
        detail: &str,
        text: Option<&str>,
    ) {
        let text = text.unwrap_or("");
        self.notify(
            Severity::Warning,
            NotificationKind::SessionDegraded {
                session: sid.clone(),
                reason: format!("interrupted prompt not replayed: {detail}"),
            },
            format!(
                "the interrupted prompt of {sid} could not be replayed ({detail}); \
                 send it again by hand if needed: {text}"
            ),
            None,
            format!("prompt-dropped:{sid}"),
        );
    }

    pub(super) fn notify_halted(&mut self, sid: &SessionId, detail: &str) {
        self.notify(
            Severity::Critical,
            NotificationKind::SessionDegraded {
                session: sid.clone(),
                reason: format!("cannot be resumed: {detail}"),
            },
            format!(
                "{sid} cannot be resumed ({detail}); not starting a blank conversation in its \
                 place. Fix it, then resume the engine"
            ),
            None,
            format!("halted:{sid}"),
        );
    }

    pub(super) fn notify_degraded(
        &mut self,
        sid: &SessionId,
        deaths: u32,
        how: &str,
        relaunch_at: UnixMillis,
    ) {
        self.notify(
            Severity::Warning,
            NotificationKind::SessionDegraded {
                session: sid.clone(),
                reason: format!("{deaths} failures in a row, last: {how}"),
            },
            format!(
                "{sid} failed {deaths} times in a row (last: {how}); next attempt at {relaunch_at}"
            ),
            None,
            format!("degraded:{sid}"),
        );
    }
}
