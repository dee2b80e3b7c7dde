//! The commands that talk to a running daemon: `status`, `accounts`, `sessions`, `swap`,
//! `pause`, `resume`, `events`. `--json` prints the daemon's own DTOs
//! (`failover_daemon::http::dto`), so scripts see one documented shape.

use std::time::{Duration, Instant};

use failover_daemon::http::dto::{CommandResponseDto, EventDto, StatusDto, SwapRequestDto};
use jiff::Timestamp;

use crate::args::SwapArgs;
use crate::client::{Client, EventStream};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::render;

fn out(e: std::io::Error) -> CliError {
    CliError::io("cannot write to", "stdout", e)
}

/// `status`.
pub(crate) async fn status(ctx: &Ctx, json: bool) -> Result<(), CliError> {
    let st: StatusDto = ctx.client.get_json("/v1/status").await?;
    if json {
        return render::json(&st).map_err(out);
    }
    render::print(&render::status_text(
        &st,
        Timestamp::now(),
        render::stdout_colour(),
    ))
    .map_err(out)
}

/// `accounts`.
pub(crate) async fn accounts(ctx: &Ctx, json: bool) -> Result<(), CliError> {
    let st: StatusDto = ctx.client.get_json("/v1/status").await?;
    if json {
        return render::json(&st.accounts).map_err(out);
    }
    render::print(&render::accounts_table(
        &st,
        Timestamp::now(),
        render::stdout_colour(),
    ))
    .map_err(out)
}

/// `sessions`.
pub(crate) async fn sessions(ctx: &Ctx, json: bool) -> Result<(), CliError> {
    let st: StatusDto = ctx.client.get_json("/v1/status").await?;
    if json {
        return render::json(&st.sessions).map_err(out);
    }
    render::print(&render::sessions_table(
        &st.sessions,
        render::stdout_colour(),
    ))
    .map_err(out)
}

/// `pause` (`pause == true`) and `resume`.
pub(crate) async fn pause(ctx: &Ctx, pause: bool, json: bool) -> Result<(), CliError> {
    let path = if pause { "/v1/pause" } else { "/v1/resume" };
    let st: StatusDto = ctx.client.get_json("/v1/status").await?;
    if st.paused == pause && !json {
        // Pausing (or resuming) twice is harmless: the daemon accepts it and nothing changes.
        let text = if pause {
            format!(
                "already paused: nothing changed (`{}` to undo)",
                render::cmd("resume")
            )
        } else {
            "not paused: nothing changed; the daemon makes decisions".to_owned()
        };
        return render::line(&text).map_err(out);
    }
    let reply: CommandResponseDto = ctx.client.post_json::<(), _>(path, None).await?;
    if json {
        return render::json(&reply).map_err(out);
    }
    let resume = format!("`{}`", render::cmd("resume"));
    render::line(&render::pause_reply(pause, &resume)).map_err(out)
}

/// `swap [--to NAME] [--no-wait]`.
pub(crate) async fn swap(ctx: &Ctx, args: &SwapArgs) -> Result<(), CliError> {
    let before: StatusDto = ctx.client.get_json("/v1/status").await?;
    if let Some(to) = args.to.as_deref() {
        if !before.accounts.iter().any(|a| a.name == to) {
            return Err(CliError::UnknownAccount {
                message: format!(
                    "no account named {to:?}; the accounts are: {}",
                    names(&before)
                ),
            });
        }
        let all_there = before
            .sessions
            .iter()
            .all(|s| s.account.as_deref() == Some(to));
        if before.active_account.as_deref() == Some(to) && all_there && before.swap.is_none() {
            if args.json {
                return render::json(&before).map_err(out);
            }
            return render::line(&format!(
                "{to} is already the active account and every session is on it: nothing to move"
            ))
            .map_err(out);
        }
    }
    // Subscribe before asking, so no event of this swap is missed.
    let mut events = if args.no_wait {
        None
    } else {
        Some(ctx.client.events("/v1/events").await?)
    };
    let body = SwapRequestDto {
        to: args.to.clone(),
    };
    let reply: CommandResponseDto = match ctx.client.post_json("/v1/swap", Some(&body)).await {
        Ok(r) => r,
        Err(CliError::Refused { message }) => {
            let now: StatusDto = ctx.client.get_json("/v1/status").await.unwrap_or(before);
            return Err(CliError::Refused {
                message: render::refusal_text(&message, &now, Timestamp::now()),
            });
        }
        Err(e) => return Err(e),
    };
    let Some(events) = events.as_mut() else {
        if args.json {
            return render::json(&reply).map_err(out);
        }
        return render::line(&format!(
            "{} (follow it with `{}`)",
            render::swap_accepted(&reply),
            render::cmd("events")
        ))
        .map_err(out);
    };
    let progress = !args.json;
    let done = follow_swap(
        &ctx.client,
        events,
        &before,
        args.to.as_deref(),
        Duration::from_secs(args.timeout),
        progress,
    )
    .await?;
    if args.json {
        return render::json(&done.status).map_err(out);
    }
    render::line(&render::swap_complete(&done.status, done.elapsed)).map_err(out)
}

/// The account names, for messages: `alpha, beta`.
fn names(st: &StatusDto) -> String {
    st.accounts
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a followed swap ended.
#[derive(Debug)]
pub(crate) struct SwapDone {
    /// The status once the swap was over.
    pub(crate) status: StatusDto,
    /// From the request to the end.
    pub(crate) elapsed: Duration,
}

/// Follows a swap that was just requested until the daemon reports it over (no swap in
/// flight, and either one more completed swap or every session on the target account),
/// printing one line per session step when `progress` is set.
pub(crate) async fn follow_swap(
    client: &Client,
    events: &mut EventStream,
    before: &StatusDto,
    target: Option<&str>,
    timeout: Duration,
    progress: bool,
) -> Result<SwapDone, CliError> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut poll = tokio::time::interval(Duration::from_millis(250));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut tracker = render::ProgressTracker::default();
    let mut stream_open = true;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                return Err(CliError::TimedOut(format!(
                    "the swap did not finish within {}s; `{}` shows where it stands",
                    timeout.as_secs(),
                    render::cmd("status")
                )));
            }
            ev = events.next(), if stream_open => {
                match ev? {
                    Some(ev) => {
                        if progress {
                            if let Some(line) = tracker.line(&ev.data, start.elapsed()) {
                                render::line(&line).map_err(out)?;
                            }
                        }
                    }
                    None => stream_open = false,
                }
            }
            _ = poll.tick() => {
                let st: StatusDto = client.get_json("/v1/status").await?;
                if let Some(swap) = &st.swap {
                    tracker.target.get_or_insert_with(|| swap.to.clone());
                    continue;
                }
                // The target: asked for, or seen in flight, or the new active account.
                let target = target
                    .map(str::to_owned)
                    .or_else(|| tracker.target.clone())
                    .or_else(|| {
                        st.active_account
                            .clone()
                            .filter(|a| before.active_account.as_ref() != Some(a))
                    });
                let all_moved = target.as_deref().is_some_and(|t| {
                    st.active_account.as_deref() == Some(t)
                        && st
                            .sessions
                            .iter()
                            .all(|s| s.account.as_deref() == Some(t) && s.state == "running")
                });
                if all_moved || st.swaps_completed > before.swaps_completed {
                    return Ok(SwapDone {
                        status: st,
                        elapsed: start.elapsed(),
                    });
                }
            }
        }
    }
}

/// `events`.
pub(crate) async fn events(ctx: &Ctx, json: bool) -> Result<(), CliError> {
    let mut stream = ctx.client.events("/v1/events").await?;
    loop {
        let ev = match stream.next().await {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                return Err(CliError::DaemonGone(
                    "it closed the event stream (stopped or restarting)".into(),
                ));
            }
            Err(e) => return Err(CliError::DaemonGone(display_root(&e))),
        };
        let text = if json {
            ev.data.clone()
        } else {
            match serde_json::from_str::<EventDto>(&ev.data) {
                Ok(dto) => render::event_line(&dto),
                // A kind this version does not know: show it as the daemon sent it.
                Err(_) => format!("{:<12}  {}  {}", "-", ev.event, ev.data),
            }
        };
        render::line(&text).map_err(out)?;
    }
}

/// The innermost cause of an error, for one-line messages.
fn display_root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
