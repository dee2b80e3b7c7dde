//! Conversions from engine and daemon types to the wire types of [`dto`](super::dto).

use failover_core::{
    AccountState, Activity, Choice, Command, CommandRefusal, CommandReply, Corroboration, Effect,
    EffectOutcome, Input, Notification, StatusSnapshot, Subject, UnixMillis,
};

use super::dto::*;
use crate::events::{DaemonEvent, DaemonEventKind};
use crate::tasks::DaemonFacts;

/// A session program's exit status in words, as a shell reports it: `exit 127: claude not
/// found`, `exit 126: claude cannot be run`, `exit 137: killed by signal 9`.
pub fn exit_reason(code: i32, program: Option<&str>) -> String {
    let program = program.unwrap_or("the session program");
    match code {
        127 => format!("exit 127: {program} not found"),
        126 => format!("exit 126: {program} cannot be run (not executable)"),
        129..=192 => format!("exit {code}: killed by signal {}", code - 128),
        _ => format!("exit {code}"),
    }
}

fn instant(t: UnixMillis) -> String {
    t.to_string()
}

/// The status DTO from a snapshot.
pub fn status_dto(snap: &StatusSnapshot, facts: &DaemonFacts, now: UnixMillis) -> StatusDto {
    let mut accounts: Vec<_> = snap.accounts.iter().collect();
    accounts.sort_by(|a, b| a.preference.cmp(&b.preference).then(a.id.cmp(&b.id)));
    StatusDto {
        api_version: API_VERSION,
        active_account: snap.active_account.as_ref().map(ToString::to_string),
        paused: snap.paused,
        draining: snap.draining,
        swap: snap.swap.as_ref().map(|s| SwapDto {
            from: Some(s.from.to_string()),
            to: s.to.to_string(),
            pending: s.pending.iter().map(ToString::to_string).collect(),
            moving: s.moving.iter().map(ToString::to_string).collect(),
            started_at: instant(s.started_at),
            started_at_ms: s.started_at.0,
        }),
        swaps_completed: snap.swaps_completed,
        accounts: accounts
            .into_iter()
            .map(|a| {
                let (window, resets) = match &a.state {
                    AccountState::NearLimit {
                        window, resets_at, ..
                    } => (Some(window.as_str().to_owned()), *resets_at),
                    AccountState::Exhausted { window, until } => {
                        (Some(window.as_str().to_owned()), Some(*until))
                    }
                    _ => (None, None),
                };
                AccountDto {
                    name: a.id.to_string(),
                    preference: a.preference,
                    state: a.state.name().to_owned(),
                    // On extra usage it is usable only where that is allowed.
                    usable: if a.extra_usage {
                        !matches!(a.choice, Choice::ExtraUsage | Choice::NeedsLogin)
                    } else {
                        a.state.is_usable(now)
                    },
                    used_percent: a.used_percent,
                    window,
                    resets_at: resets.map(instant),
                    resets_at_ms: resets.map(|r| r.0),
                    windows: a
                        .windows
                        .iter()
                        .map(|w| WindowDto {
                            window: w.window.as_str().to_owned(),
                            used_percent: w.used_percent,
                            resets_at: w.resets_at.map(instant),
                            resets_at_ms: w.resets_at.map(|r| r.0),
                        })
                        .collect(),
                    extra_usage: a.extra_usage,
                    choice: ChoiceDto {
                        next: a.choice.is_next(),
                        reason: a.choice.to_string(),
                    },
                    grants: a
                        .grants
                        .iter()
                        .map(|g| GrantDto {
                            label: g.label.clone(),
                            kind: g.kind.clone(),
                            resets_left: g.resets_left,
                            resets_total: g.resets_total,
                            ends_at: g.ends_at.map(instant),
                            ends_at_ms: g.ends_at.map(|t| t.0),
                            usable_now: g.usable_now,
                            paused: g.paused,
                        })
                        .collect(),
                }
            })
            .collect(),
        sessions: snap
            .sessions
            .iter()
            .map(|s| SessionDto {
                name: s.id.to_string(),
                account: s.account.as_ref().map(ToString::to_string),
                claude_session: s.claude_session.as_ref().map(ToString::to_string),
                state: s.state.to_string(),
                activity: s.activity.map(|a| activity_name(a).to_owned()),
                task: None,
                last_exit: s
                    .last_exit
                    .map(|code| exit_reason(code, facts.program.as_deref())),
                standby: facts.standbys.get(&s.id).map(ToString::to_string),
            })
            .collect(),
        daemon: DaemonDto {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            started_at: instant(facts.started_at),
            config_file: facts.config_file.clone(),
            config_error: facts.config_error.clone(),
            notifications_dropped: facts.notifications_dropped,
            standby_fallbacks: facts.standby_fallbacks,
            state_error: facts.state_error.clone(),
            ledger: facts.ledger.clone(),
        },
        // Filled in by the status route from the account files.
        setting_differences: Vec::new(),
    }
}

fn activity_name(a: Activity) -> &'static str {
    match a {
        Activity::Idle => "idle",
        Activity::Working => "working",
        Activity::WaitingForTrust => "waiting_for_trust",
    }
}

/// The command's wire name and target.
pub fn command_parts(c: &Command) -> (&'static str, Option<String>) {
    match c {
        Command::SwapNow => ("swap", None),
        Command::SwapTo(a) => ("swap_to", Some(a.to_string())),
        Command::Pause => ("pause", None),
        Command::Resume => ("resume", None),
        Command::Drain => ("drain", None),
    }
}

/// The HTTP status and error code for a refusal.
pub fn refusal_status(r: &CommandRefusal) -> (u16, &'static str) {
    match r {
        CommandRefusal::UnknownAccount(_) => (404, ERR_UNKNOWN_ACCOUNT),
        CommandRefusal::AccountUnusable { .. } => (422, ERR_ACCOUNT_UNUSABLE),
        CommandRefusal::NoUsableAccount => (422, ERR_NO_USABLE_ACCOUNT),
        CommandRefusal::SwapInProgress => (409, ERR_SWAP_IN_PROGRESS),
        CommandRefusal::NotRunning(_) => (409, ERR_NOT_RUNNING),
        _ => (409, ERR_NOT_RUNNING),
    }
}

/// An error body.
pub fn error_dto(code: &str, message: impl Into<String>) -> ErrorDto {
    ErrorDto {
        error: ErrorBody {
            code: code.to_owned(),
            message: message.into(),
        },
    }
}

/// The event DTO of a daemon event; `None` for events not streamed.
pub fn event_dto(e: &DaemonEvent) -> Option<EventDto> {
    let event = match &e.kind {
        DaemonEventKind::Input { input, latency_ms } => input_event(input, *latency_ms)?,
        DaemonEventKind::Effect(effect) => effect_event(effect),
        DaemonEventKind::ConfigReload { error } => EventKindDto::ConfigReload {
            ok: error.is_none(),
            error: error.clone(),
        },
        DaemonEventKind::StateWriteFailed(error) => EventKindDto::StateWriteFailed {
            error: error.clone(),
        },
    };
    Some(EventDto {
        seq: e.seq,
        at: instant(e.at),
        at_ms: e.at.0,
        event,
    })
}

fn input_event(input: &Input, latency_ms: Option<u64>) -> Option<EventKindDto> {
    Some(match input {
        Input::Detection {
            subject,
            source,
            detection,
            ..
        } => {
            let (subject_kind, subject) = match subject {
                Subject::Session(s) => ("session", s.to_string()),
                Subject::Account(a) => ("account", a.to_string()),
            };
            let used_percent = match &detection.verdict {
                failover_core::Verdict::NearLimit { used_percent, .. } => Some(*used_percent),
                _ => None,
            };
            EventKindDto::Detection {
                subject_kind: subject_kind.to_owned(),
                subject,
                source: source.as_str().to_owned(),
                verdict: detection.verdict.name().to_owned(),
                window: detection.verdict.window().map(|w| w.as_str().to_owned()),
                used_percent,
                resets_at: detection.verdict.resets_at().map(instant),
                evidence: detection.evidence.clone(),
                latency_ms,
            }
        }
        Input::SessionStarted {
            session,
            claude_session,
            account,
        } => EventKindDto::Session {
            session: session.to_string(),
            change: "started".into(),
            detail: Some(format!(
                "account {}, conversation {}",
                account.as_ref().map_or("unknown", |a| a.as_str()),
                claude_session.as_ref().map_or("unknown", |c| c.as_str())
            )),
        },
        Input::SessionExited { session, status } => EventKindDto::Session {
            session: session.to_string(),
            change: "exited".into(),
            detail: status.map(|s| format!("status {s}")),
        },
        Input::SessionActivity { session, activity } => EventKindDto::Session {
            session: session.to_string(),
            change: activity_name(*activity).into(),
            detail: None,
        },
        Input::Corroboration { session, fact, .. } => EventKindDto::Session {
            session: session.to_string(),
            change: "corroboration".into(),
            detail: Some(match fact {
                Corroboration::Usage(usage) => usage
                    .iter()
                    .map(|u| format!("{}={}%", u.window.as_str(), u.used_percent))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.name().to_owned(),
            }),
        },
        Input::ClaudeSessionLearned {
            session,
            claude_session,
        } => EventKindDto::Session {
            session: session.to_string(),
            change: "claude_session".into(),
            detail: Some(claude_session.to_string()),
        },
        Input::EffectFinished { request, outcome } => {
            let (name, detail) = match outcome {
                EffectOutcome::Checkpointed {
                    last_prompt,
                    unanswered,
                } => (
                    "checkpointed",
                    Some(match (last_prompt.is_some(), unanswered) {
                        (true, true) => "last prompt found, unanswered".to_owned(),
                        (true, false) => "last prompt found".to_owned(),
                        (false, _) => "no last prompt".to_owned(),
                    }),
                ),
                EffectOutcome::Stopped => ("stopped", None),
                EffectOutcome::Launched {
                    claude_session,
                    unanswered_prompt,
                } => (
                    "launched",
                    Some(match unanswered_prompt {
                        Some(_) => format!("{claude_session}, last prompt unanswered"),
                        None => claude_session.to_string(),
                    }),
                ),
                EffectOutcome::PromptSent => ("prompt_sent", None),
                EffectOutcome::ResumedTurnOver => ("resumed_turn_over", None),
                EffectOutcome::Lease(outcome) => ("lease", Some(format!("{outcome:?}"))),
                EffectOutcome::Failed { kind, detail } => {
                    ("failed", Some(format!("{kind:?}: {detail}")))
                }
                // Outcomes added to the core after this daemon was written.
                other => ("other", Some(format!("{other:?}"))),
            };
            EventKindDto::EffectFinished {
                request: request.get(),
                outcome: name.into(),
                detail,
            }
        }
        Input::Command { command, .. } => {
            let (command, to) = command_parts(command);
            EventKindDto::Command {
                command: command.into(),
                to,
            }
        }
        Input::UsageObserved { account, report } => EventKindDto::Effect {
            effect: "usage_observed".into(),
            request: None,
            session: None,
            account: Some(account.to_string()),
            detail: report
                .windows
                .iter()
                .map(|w| format!("{} {:.0}%", w.window, w.used_percent))
                .chain(report.extra_usage.then(|| "extra usage".to_owned()))
                .collect::<Vec<_>>()
                .join(", "),
        },
        Input::SessionModel { session, model } => EventKindDto::Effect {
            effect: "session_model".into(),
            request: None,
            session: Some(session.to_string()),
            account: None,
            detail: model.clone(),
        },
        Input::AccountNews(n) => EventKindDto::Effect {
            effect: "ledger_news".into(),
            request: None,
            session: None,
            account: Some(n.account.to_string()),
            detail: format!("{} saw it {}", n.seen_by, n.state.name()),
        },
        Input::ActiveAccountNews(n) => EventKindDto::Effect {
            effect: "ledger_active_news".into(),
            request: None,
            session: None,
            account: Some(n.account.to_string()),
            detail: format!("{} runs its pool on it", n.seen_by),
        },
        Input::Tick => return None,
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

fn effect_event(effect: &Effect) -> EventKindDto {
    let e = |effect: &str, request, session: Option<String>, account: Option<String>, detail| {
        EventKindDto::Effect {
            effect: effect.into(),
            request,
            session,
            account,
            detail,
        }
    };
    match effect {
        Effect::Checkpoint {
            request,
            session,
            account,
            ..
        } => e(
            "checkpoint",
            Some(request.get()),
            Some(session.to_string()),
            Some(account.to_string()),
            format!("checkpoint {session}"),
        ),
        Effect::Stop {
            request, session, ..
        } => e(
            "stop",
            Some(request.get()),
            Some(session.to_string()),
            None,
            format!("stop {session}"),
        ),
        Effect::Launch {
            request,
            session,
            account,
            resume,
            ..
        } => e(
            "launch",
            Some(request.get()),
            Some(session.to_string()),
            Some(account.to_string()),
            match resume {
                Some(r) => format!("launch {session} on {account}, resuming {r}"),
                None => format!("launch {session} on {account}"),
            },
        ),
        Effect::SendPrompt {
            request, session, ..
        } => e(
            "send_prompt",
            Some(request.get()),
            Some(session.to_string()),
            None,
            format!("send the prompt to {session}"),
        ),
        Effect::Notify(n) => EventKindDto::Notification {
            severity: n.severity.to_string(),
            summary: n.summary.clone(),
        },
        Effect::Persist(_) => e("persist", None, None, None, "write the state file".into()),
        Effect::Reply { reply, .. } => match reply {
            CommandReply::Accepted => EventKindDto::Reply {
                accepted: true,
                reason: None,
            },
            CommandReply::Refused(r) => EventKindDto::Reply {
                accepted: false,
                reason: Some(r.to_string()),
            },
        },
        Effect::DetectionVetoed {
            session,
            account,
            verdict,
            evidence,
            reason,
        } => e(
            "detection_vetoed",
            None,
            Some(session.to_string()),
            Some(account.to_string()),
            match evidence {
                Some(text) => format!("pane {verdict} vetoed ({reason}): {text}"),
                None => format!("pane {verdict} vetoed ({reason})"),
            },
        ),
        Effect::PublishAccount(n) => e(
            "ledger_publish",
            None,
            None,
            Some(n.account.to_string()),
            format!("tell the other hosts {} is {}", n.account, n.state.name()),
        ),
        Effect::PublishActive(n) => e(
            "ledger_publish_active",
            None,
            None,
            Some(n.account.to_string()),
            format!("tell the other hosts the pool runs on {}", n.account),
        ),
        Effect::AcquireLease { request } => e(
            "ledger_lease",
            Some(request.get()),
            None,
            None,
            "take the swap lease".into(),
        ),
        Effect::ReleaseLease => e(
            "ledger_release",
            None,
            None,
            None,
            "give the swap lease back".into(),
        ),
        Effect::ReadUsage { accounts } => e(
            "read_usage",
            None,
            None,
            None,
            format!(
                "read the usage of {} before choosing",
                accounts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        #[allow(unreachable_patterns)]
        _ => e("other", None, None, None, format!("{effect:?}")),
    }
}

impl NotificationDto {
    /// The webhook body of a notification.
    pub fn from_notification(n: &Notification, text: String) -> Self {
        let details = serde_json::to_value(&n.kind).unwrap_or(serde_json::Value::Null);
        let kind = details
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("other")
            .to_owned();
        Self {
            api_version: API_VERSION,
            severity: n.severity.to_string(),
            kind,
            summary: n.summary.clone(),
            text,
            next_reset: n.next_reset.map(instant),
            next_reset_ms: n.next_reset.map(|r| r.0),
            dedup_key: n.dedup_key.clone(),
            at: instant(n.at),
            at_ms: n.at.0,
            details,
        }
    }
}
