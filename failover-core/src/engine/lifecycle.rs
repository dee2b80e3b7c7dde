//! Sessions coming and going, and the replies to the effects the engine asked for.

use std::time::Duration;

use crate::engine::{EffectOutcome, FailoverEngine, Swap};
use crate::error_kind::FailureKind;
use crate::ids::{AccountId, ClaudeSessionId, RequestId, SessionId};
use crate::notify::{NotificationKind, Severity};
use crate::session::{Activity, LaunchPurpose, SessionState, StopPurpose};

/// What a reply to a typed prompt needs of its [`SessionState::Prompting`] state.
struct Prompting {
    account: AccountId,
    reported: Option<Activity>,
    stop_held_until: Option<crate::time::UnixMillis>,
}

impl FailoverEngine {
    pub(super) fn on_started(
        &mut self,
        sid: &SessionId,
        claude_session: Option<ClaudeSessionId>,
        account: Option<AccountId>,
    ) {
        let Some(m) = self.sessions.get_mut(sid) else {
            return self.ignore("an unknown session started");
        };
        if claude_session.is_some() && m.claude_session != claude_session {
            m.conversation_unproven = false;
            m.claude_session = claude_session;
            self.dirty = true;
        }
        let home = match &m.state {
            SessionState::Unstarted { last_account } | SessionState::Parked { last_account } => {
                last_account.clone()
            }
            SessionState::Dead { account, .. } => Some(account.clone()),
            SessionState::Halted { account, .. } => account.clone(),
            SessionState::Launching {
                account: launched,
                request,
                purpose,
                ..
            } => {
                // The watcher saw our launch before its reply: the reply is no longer needed.
                let (launched, request, purpose) = (launched.clone(), *request, *purpose);
                self.requests.remove(&request);
                let account = account.unwrap_or(launched);
                self.set_state(
                    sid,
                    SessionState::Running {
                        account,
                        activity: None,
                        stop_held_until: None,
                    },
                );
                if purpose == LaunchPurpose::Swap {
                    self.swap_step_done(sid);
                }
                return;
            }
            SessionState::Running { .. }
            | SessionState::Prompting { .. }
            | SessionState::Checkpointing { .. }
            | SessionState::Stopping { .. } => return,
        };
        // Adopt it where it runs; when the backend cannot tell, where it last ran, else
        // where the pool runs, else the preferred account. Ignoring it instead would get it
        // launched a second time after adoption.
        let preferred = self.pool.iter().next().map(|e| e.account.id.clone());
        let Some(account) = account
            .or(home)
            .or_else(|| self.active.clone())
            .or(preferred)
        else {
            return self.ignore("a session started with no account configured");
        };
        // Found running after a restart on the destination of the swap the previous run
        // was making, or with a prompt still to replay: launched by that run, so its screen
        // shows the conversation's past, the error from the account it left included. As
        // after a launch, pane text counts from its first turn on (structured evidence,
        // transcript lines and statuslines, counts as ever).
        let moved_here = self
            .restored_swap
            .as_ref()
            .is_some_and(|swap| swap.to == account);
        if let Some(m) = self.sessions.get_mut(sid) {
            if moved_here || m.pending_prompt.is_some() {
                m.pane_shows_history = true;
            }
        }
        self.set_state(
            sid,
            SessionState::Running {
                account,
                activity: None,
                stop_held_until: None,
            },
        );
    }

    pub(super) fn on_exited(&mut self, sid: &SessionId, status: Option<i32>) {
        let Some(m) = self.sessions.get(sid) else {
            return self.ignore("an unknown session exited");
        };
        let account = match &m.state {
            SessionState::Running { account, .. } => account.clone(),
            SessionState::Prompting {
                account, request, ..
            } => {
                let (account, request) = (account.clone(), *request);
                self.requests.remove(&request);
                account
            }
            // Expected (stopping), or reported by the effect's own reply.
            _ => return self.ignore("exit of a session that is not running"),
        };
        let how = status.map_or_else(|| "exited".to_owned(), |s| format!("exited with {s}"));
        if let Some(m) = self.sessions.get_mut(sid) {
            m.last_exit = status;
        }
        self.death(sid, account, how);
    }

    pub(super) fn on_activity(&mut self, sid: &SessionId, activity: Activity) {
        let now = self.now;
        let Some(m) = self.sessions.get_mut(sid) else {
            return self.ignore("activity of an unknown session");
        };
        let current = match &mut m.state {
            SessionState::Running {
                activity: current, ..
            } => current,
            SessionState::Prompting { reported, .. } => {
                // Applied once the typing is confirmed (`PromptSent`). An idle report counts
                // only after a working one: before it, the screen may show the session idle
                // because nothing was typed yet (a replay waits up to seconds for a resumed
                // CLI to take its turn up before typing), and that idle, applied after the
                // typing, would show a session idle with its prompt not even sent. A turn
                // too quick for its working report is reported idle again once its screen
                // settles.
                *reported = match (activity, *reported) {
                    (Activity::Idle, None) => None,
                    (activity, _) => Some(activity),
                };
                return;
            }
            _ => return self.ignore("activity of a session that is not running"),
        };
        match (activity, *current) {
            (Activity::Working, Some(Activity::Working)) => {
                // The turn of a typed prompt, taken for under way when the typing was done,
                // now shows on screen: from here the screen is news.
                m.pane_shows_history = false;
            }
            (Activity::Working, _) => {
                m.turn_started_at = Some(now);
                m.last_exit = None;
                m.pane_shows_history = false;
            }
            (Activity::Idle, Some(Activity::Working)) => {
                // A completed turn. Evidence from before it started is history, unless the
                // turn itself hit the limit (evidence observed during it still counts), and
                // a session that completes turns is healthy.
                let started = m.turn_started_at.take().unwrap_or(now);
                m.stale_before = m.stale_before.max(Some(started));
                if m.quota_hit_at.is_some_and(|hit| hit < started) {
                    m.quota_hit_at = None;
                }
                m.deaths = 0;
                m.conversation_unproven = false;
            }
            (Activity::Idle, _) => {}
            // Shown as it is; the dialog is answered by a person, never by the engine.
            (Activity::WaitingForTrust, _) => {}
        }
        *current = Some(activity);
    }

    pub(super) fn on_claude_session(&mut self, sid: &SessionId, claude_session: ClaudeSessionId) {
        let Some(m) = self.sessions.get_mut(sid) else {
            return self.ignore("conversation of an unknown session");
        };
        if m.claude_session.as_ref() != Some(&claude_session) {
            // A conversation the CLI switched to on its own may well have a transcript.
            m.conversation_unproven = false;
            m.claude_session = Some(claude_session);
            self.dirty = true;
        }
    }

    pub(super) fn on_adoption_complete(&mut self) {
        if !self.adopting {
            return self.ignore("adoption completed twice");
        }
        self.adopting = false;
        let Some(restored) = self.restored_swap.take() else {
            return;
        };
        self.dirty = true;
        let Some(from) = restored.from else {
            return;
        };
        let to = restored.to;
        if !self.pool.is_usable(&to, self.now) {
            let state = self.pool.state(&to).map_or("unknown", |s| s.name());
            self.notify(
                Severity::Warning,
                NotificationKind::Message {
                    text: format!("swap {from} -> {to} rolled back at restart"),
                },
                format!(
                    "the swap from {from} to {to} in flight at the last stop was rolled back: \
                     {to} is {state}"
                ),
                None,
                format!("swap-rolled-back:{from}:{to}"),
            );
            return;
        }
        if self.config.mode == crate::config::PolicyMode::SingleActive {
            self.active = Some(to.clone());
        }
        let pending: Vec<SessionId> = restored
            .pending
            .into_iter()
            .filter(|s| {
                self.sessions
                    .get(s)
                    .is_some_and(|m| m.state.account() == Some(&from))
            })
            .collect();
        if !pending.is_empty() {
            self.swap = Some(Swap::new(from, to, pending, restored.started_at));
        }
    }

    pub(super) fn on_finished(&mut self, request: RequestId, outcome: EffectOutcome) {
        let Some(sid) = self.requests.get(&request).cloned() else {
            return self.ignore("reply to an unknown or expired request");
        };
        let Some(m) = self.sessions.get(&sid) else {
            self.requests.remove(&request);
            return self.ignore("reply for a removed session");
        };
        if m.state.pending_request().map(|(r, _)| r) != Some(request) {
            self.requests.remove(&request);
            return self.ignore("reply to a request that is no longer outstanding");
        }
        self.apply_outcome(&sid, outcome, false);
    }

    /// Effects unanswered past their deadline fail: a lost reply never wedges the engine.
    pub(super) fn time_out_requests(&mut self) {
        let now = self.now;
        // Only sessions with an outstanding request can time out: walk those, not all.
        let mut due: Vec<SessionId> = Vec::new();
        for (request, sid) in &self.requests {
            let expired = self.sessions.get(sid).is_some_and(|m| {
                m.state
                    .pending_request()
                    .is_some_and(|(r, d)| r == *request && d <= now)
            });
            if expired {
                due.push(sid.clone());
            }
        }
        if due.is_empty() {
            return;
        }
        let detail = format!(
            "no reply within {}s",
            self.config.effect_timeout.as_secs_f64()
        );
        for sid in due {
            let outcome = EffectOutcome::Failed {
                kind: FailureKind::Transient,
                detail: detail.clone(),
            };
            self.apply_outcome(&sid, outcome, true);
        }
    }

    /// A reply (or a timeout, `timed_out`) to the session's outstanding request: each state
    /// with a request outstanding has its own handler.
    fn apply_outcome(&mut self, sid: &SessionId, outcome: EffectOutcome, timed_out: bool) {
        let Some(m) = self.sessions.get(sid) else {
            return;
        };
        let state = m.state.clone();
        let answers = matches!(
            (&state, &outcome),
            (_, EffectOutcome::Failed { .. })
                | (
                    SessionState::Launching { .. },
                    EffectOutcome::Launched { .. }
                )
                | (
                    SessionState::Checkpointing { .. },
                    EffectOutcome::Checkpointed { .. }
                )
                | (SessionState::Stopping { .. }, EffectOutcome::Stopped)
                | (
                    SessionState::Prompting { .. },
                    EffectOutcome::PromptSent | EffectOutcome::ResumedTurnOver
                )
        );
        if !answers {
            return self.ignore("reply of the wrong kind for the request");
        }
        if let Some((request, _)) = state.pending_request() {
            self.requests.remove(&request);
        }
        match state {
            SessionState::Launching {
                account, purpose, ..
            } => self.on_launch_reply(sid, account, purpose, outcome),
            SessionState::Checkpointing {
                account,
                purpose,
                interrupted,
                after_stop,
                ..
            } => self.on_checkpoint_reply(sid, account, purpose, interrupted, after_stop, outcome),
            SessionState::Stopping {
                account,
                purpose,
                recheck_on_evidence,
                ..
            } => self.on_stop_reply(sid, account, purpose, recheck_on_evidence, outcome),
            SessionState::Prompting {
                account,
                reported,
                stop_held_until,
                ..
            } => {
                let prompting = Prompting {
                    account,
                    reported,
                    stop_held_until,
                };
                self.on_prompt_reply(sid, prompting, outcome, timed_out);
            }
            SessionState::Unstarted { .. }
            | SessionState::Running { .. }
            | SessionState::Parked { .. }
            | SessionState::Dead { .. }
            | SessionState::Halted { .. } => {}
        }
    }

    /// The launch's reply: running, or dead (or halted when it cannot be resumed).
    fn on_launch_reply(
        &mut self,
        sid: &SessionId,
        account: AccountId,
        purpose: LaunchPurpose,
        outcome: EffectOutcome,
    ) {
        match outcome {
            EffectOutcome::Launched {
                claude_session,
                unanswered_prompt,
            } => {
                let resumed = self
                    .sessions
                    .get(sid)
                    .is_some_and(|m| m.claude_session.as_ref() == Some(&claude_session));
                // The transcript read after the stop is final: the prompt it shows unanswered
                // wins over one recalled earlier (from a transcript not yet written).
                if resumed && unanswered_prompt.is_some() {
                    self.set_prompt(sid, unanswered_prompt);
                }
                if let Some(m) = self.sessions.get_mut(sid) {
                    if m.claude_session.as_ref() != Some(&claude_session) {
                        // No conversation before: the launch was fresh and chose this id.
                        m.conversation_unproven = m.claude_session.is_none();
                        m.claude_session = Some(claude_session);
                        self.dirty = true;
                    }
                }
                self.set_state(
                    sid,
                    SessionState::Running {
                        account,
                        activity: None,
                        stop_held_until: None,
                    },
                );
                if purpose == LaunchPurpose::Swap {
                    self.swap_step_done(sid);
                }
            }
            EffectOutcome::Failed { kind, detail } => {
                if purpose == LaunchPurpose::Swap {
                    self.swap_step_done(sid);
                }
                self.launch_failed(sid, account, kind, detail);
            }
            _ => {}
        }
    }

    /// The checkpoint's reply (written or not): the stop follows, or, for a checkpoint
    /// taken again once stopped, the rest of the move.
    fn on_checkpoint_reply(
        &mut self,
        sid: &SessionId,
        account: AccountId,
        purpose: StopPurpose,
        interrupted: bool,
        after_stop: bool,
        outcome: EffectOutcome,
    ) {
        // Evidence that the session's turn hit the quota may arrive while it is being
        // checkpointed (the transcript line often lands just after the account-wide signal
        // that started the swap): it counts as much as evidence seen before.
        let quota_hit = self
            .sessions
            .get(sid)
            .is_some_and(|m| m.quota_hit_at.is_some());
        let recheck_on_evidence = match outcome {
            EffectOutcome::Checkpointed {
                last_prompt,
                unanswered,
            } => {
                let cut_short = interrupted || quota_hit || unanswered;
                if cut_short && last_prompt.is_some() {
                    self.set_prompt(sid, last_prompt);
                }
                !quota_hit
            }
            EffectOutcome::Failed { detail, .. } => {
                self.notify_checkpoint_failed(sid, &detail);
                false
            }
            _ => return,
        };
        if after_stop {
            self.after_stop(sid, account, purpose);
        } else {
            self.begin_stop_step(sid, account, purpose, recheck_on_evidence);
        }
    }

    /// The stop's reply: on to the move's next step, or back to running (it may still run
    /// there) with a hold before the next try.
    fn on_stop_reply(
        &mut self,
        sid: &SessionId,
        account: AccountId,
        purpose: StopPurpose,
        recheck_on_evidence: bool,
        outcome: EffectOutcome,
    ) {
        match outcome {
            EffectOutcome::Stopped => {
                let recheck = recheck_on_evidence
                    && self
                        .sessions
                        .get(sid)
                        .is_some_and(|m| m.quota_hit_at.is_some());
                if recheck {
                    self.checkpoint_again(sid, account, purpose);
                } else {
                    self.after_stop(sid, account, purpose);
                }
            }
            EffectOutcome::Failed { detail, .. } => {
                // It may still run there: launching it elsewhere would run it twice.
                let hold = self.now + self.config.relaunch_backoff.max(Duration::from_secs(1));
                self.set_state(
                    sid,
                    SessionState::Running {
                        account: account.clone(),
                        activity: None,
                        stop_held_until: Some(hold),
                    },
                );
                if matches!(purpose, StopPurpose::Swap { .. }) {
                    // Still on the old account: it stays pending and is retried after the hold;
                    // its slot goes to the next session meanwhile.
                    if let Some(swap) = self.swap.as_mut() {
                        swap.moving.remove(sid);
                    }
                }
                self.notify_stop_failed(sid, &account, &detail, hold);
            }
            _ => {}
        }
    }

    /// The replayed prompt's reply: the turn is under way, or the prompt is kept for the
    /// next idle report (or dropped when retrying could type it twice).
    fn on_prompt_reply(
        &mut self,
        sid: &SessionId,
        prompting: Prompting,
        outcome: EffectOutcome,
        timed_out: bool,
    ) {
        let Prompting {
            account,
            reported,
            stop_held_until,
        } = prompting;
        match outcome {
            EffectOutcome::PromptSent | EffectOutcome::ResumedTurnOver => {
                let over = outcome == EffectOutcome::ResumedTurnOver;
                self.set_prompt(sid, None);
                // A turn is under way (started when the prompt was typed). The screen may
                // not show it yet (a resumed CLI draws it a moment later, below the old
                // error that ended its last turn): what it shows is news only from the CLI's
                // working report, applied here when it came during the typing.
                self.set_state(
                    sid,
                    SessionState::Running {
                        account,
                        activity: Some(Activity::Working),
                        stop_held_until,
                    },
                );
                if over {
                    // Not typed: the program took the turn up by itself and the backend saw
                    // it over, later than any report that came meanwhile. The screen stays
                    // as it is, so no observer would report the end again.
                    self.on_activity(sid, Activity::Idle);
                } else if let Some(activity) = reported {
                    // Reports that came during the typing. The prompt was typed into an
                    // idle session, so an idle one after a working one means the turn is
                    // already over.
                    self.on_activity(sid, activity);
                }
            }
            EffectOutcome::Failed { kind, detail } => {
                // A transient refusal is retried at the next idle report. A timed-out one is
                // not: the text may have been typed, and typing it twice is worse.
                if kind != FailureKind::Transient || timed_out {
                    let text = self.set_prompt(sid, None);
                    self.notify_prompt_dropped(sid, &detail, text.as_deref());
                }
                if let Some(m) = self.sessions.get_mut(sid) {
                    m.turn_started_at = None;
                }
                self.set_state(
                    sid,
                    SessionState::Running {
                        account,
                        activity: None,
                        stop_held_until,
                    },
                );
            }
            _ => {}
        }
    }

    /// After the checkpoint (written or not): ask for the stop.
    fn begin_stop_step(
        &mut self,
        sid: &SessionId,
        account: AccountId,
        purpose: StopPurpose,
        recheck_on_evidence: bool,
    ) {
        let request = self.next_request(sid);
        let deadline = self.deadline();
        self.out.push(crate::engine::Effect::Stop {
            request,
            session: sid.clone(),
            grace: self.config.stop_grace,
        });
        self.set_state(
            sid,
            SessionState::Stopping {
                account,
                request,
                deadline,
                purpose,
                recheck_on_evidence,
            },
        );
    }

    /// Stopped, and its own evidence of the quota arrived only after its checkpoint had
    /// read the transcript: read the now final transcript again for the prompt to replay
    /// (see [`SessionState::Stopping`]'s `recheck_on_evidence`).
    fn checkpoint_again(&mut self, sid: &SessionId, account: AccountId, purpose: StopPurpose) {
        self.emit_checkpoint(sid, account, purpose, true, true);
    }

    fn after_stop(&mut self, sid: &SessionId, from: AccountId, purpose: StopPurpose) {
        let parked = SessionState::Parked {
            last_account: Some(from),
        };
        let StopPurpose::Swap { to } = purpose else {
            return self.set_state(sid, parked);
        };
        // Keep the destination chosen when the move began unless it stopped being usable,
        // stopped being the active account, or fell behind an account with more headroom.
        let now = self.now;
        let models = self.session_models(sid);
        let best_tier = self
            .pool
            .best_for(now, None, &models)
            .and_then(|b| self.pool.tier_for(b, now, &models));
        let keep = self.pool.is_usable(&to, now)
            && self
                .pool
                .tier_for(&to, now, &models)
                .is_some_and(|t| Some(t) <= best_tier)
            && (self.config.mode == crate::config::PolicyMode::Spread
                || self.active.as_ref() == Some(&to));
        let target = if keep { Some(to) } else { self.target_for(sid) };
        match target {
            Some(target) => self.launch(sid, target, LaunchPurpose::Swap),
            None => {
                self.set_state(sid, parked);
                self.swap_step_done(sid);
            }
        }
    }

    fn launch_failed(
        &mut self,
        sid: &SessionId,
        account: AccountId,
        kind: FailureKind,
        detail: String,
    ) {
        let unproven = self
            .sessions
            .get(sid)
            .is_some_and(|m| m.claude_session.is_some() && m.conversation_unproven);
        if kind == FailureKind::ResumeImpossible && unproven {
            // The conversation was created by a launch that never got a turn through (the
            // CLI or its server died first), so it never wrote a transcript: nothing is
            // lost by starting a new one. The pending prompt stays for the replay.
            if let Some(m) = self.sessions.get_mut(sid) {
                m.claude_session = None;
                m.conversation_unproven = false;
                self.dirty = true;
            }
            self.death(
                sid,
                account,
                format!("{detail}; its conversation never completed a turn, starting a new one"),
            );
        } else if kind == FailureKind::ResumeImpossible {
            self.set_state(
                sid,
                SessionState::Halted {
                    account: Some(account),
                    reason: detail.clone(),
                },
            );
            self.notify_halted(sid, &detail);
        } else {
            self.death(sid, account, format!("launch failed: {detail}"));
        }
    }

    /// The session died (or could not be launched): relaunch it after a growing delay.
    fn death(&mut self, sid: &SessionId, account: AccountId, how: String) {
        let Some(m) = self.sessions.get_mut(sid) else {
            return;
        };
        m.deaths = m.deaths.saturating_add(1);
        let deaths = m.deaths;
        let base = self.config.relaunch_backoff;
        let factor = 1u32 << (deaths - 1).min(16);
        let backoff = base
            .checked_mul(factor)
            .unwrap_or(self.config.relaunch_backoff_max)
            .min(self.config.relaunch_backoff_max);
        let relaunch_at = self.now + backoff;
        self.set_state(
            sid,
            SessionState::Dead {
                account,
                relaunch_at,
            },
        );
        if deaths == self.config.degraded_after {
            self.notify_degraded(sid, deaths, &how, relaunch_at);
        }
    }

    /// One of the swap's moving sessions finished its move (or dropped out of it).
    pub(super) fn swap_step_done(&mut self, sid: &SessionId) {
        if let Some(swap) = self.swap.as_mut() {
            swap.moving.remove(sid);
            let before = swap.pending.len();
            swap.pending.retain(|s| s != sid);
            if swap.pending.len() != before {
                self.dirty = true;
            }
        }
    }
}
