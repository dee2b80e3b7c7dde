//! `demo`: a failover, offline, from scratch, in about a minute.
//!
//! 1. Builds a throwaway [`World`]: a temp dir with two or three accounts holding fake
//!    subscription logins that only the in-process mock Anthropic API accepts, one shared
//!    transcripts tree, a project dir per session, a daemon config naming a private tmux
//!    server (a unique `-L` socket).
//! 2. Picks what runs the sessions: the real Claude Code CLI when it is installed
//!    (`$CLAUDE_FAILOVER_REAL_CLAUDE`, else the path `scripts/setup.sh` recorded, else
//!    `claude` on `PATH` at the pinned version), else this binary's hidden `__standin`.
//! 3. Runs the daemon in-process with its control socket in the temp dir, and waits until
//!    every session runs on the first account and waits at its prompt.
//! 4. Sends each session a prompt and waits for the answers; flips the first account to
//!    "five-hour quota exhausted" in the mock; sends each session a second prompt, which
//!    hits the quota.
//! 5. Prints the daemon's decisions live (detection → checkpoint → stop → resume on the next
//!    account with the same conversation id → interrupted prompt re-sent) until every
//!    session's interrupted prompt was answered on the new account, then a summary.
//! 6. Cleans up (tmux server killed, temp dir removed), also on Ctrl-C; `--keep` leaves it
//!    all running until Ctrl-C and prints how to look around.

mod daemon;
mod world;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use failover_daemon::http::dto::{EventDto, EventKindDto, StatusDto};
use failover_sim::mock_api::{ClaimWindow, Mode, RecordedRequest, ack_text};

use crate::args::DemoArgs;
use crate::client::{Client, Endpoint};
use crate::commands::signals::Interrupts;
use crate::discover;
use crate::error::CliError;
use crate::render;

use self::world::{Claude, World};

/// How long the sessions may take to start (a cold start of the real CLI is about a second
/// of CPU each; a loaded machine is slower).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs the demo.
pub(crate) async fn run(args: &DemoArgs) -> Result<(), CliError> {
    // Catch Ctrl-C (and SIGTERM) from the very start, so that an interrupt at any point
    // still reaches the cleanup below instead of killing the process with the world left
    // behind; a signal that arrives while the world is built is acted on right after.
    let mut interrupts = Interrupts::new()?;
    let claude = pick_claude(args.stand_in).await?;
    say(&format!(
        "claude-failover demo: {} session(s), {} throwaway account(s), running {}",
        args.sessions,
        args.accounts,
        claude.describe()
    ));
    let mut world = World::build(args.accounts, args.sessions, &claude).await?;
    say(&format!(
        "  world      {} (tmux -L {})",
        world.root().display(),
        world.tmux_socket
    ));
    say(&format!("  mock API   {}", world.mock.base_url()));

    let mut daemon = daemon::start(&world.config_file).await?;
    let client = Client::new(
        Endpoint::Unix(world.control_socket.clone()),
        world.config_file.clone(),
    );

    let deadline = Duration::from_secs(args.deadline);
    let outcome = if args.top {
        in_dashboard(&world, &client, deadline, &mut daemon, &mut interrupts).await
    } else {
        tokio::select! {
            r = scenario(&world, &client, deadline) => r,
            r = daemon.exited() => Err(daemon_gone(r)),
            () = interrupts.recv() => Err(CliError::Interrupted),
        }
    };

    if args.keep && outcome.is_ok() {
        say(&keep_text(&world));
        interrupts.recv().await;
    }
    if args.keep && outcome.is_err() {
        daemon.stop().await;
        if let Some(dir) = world.keep() {
            errln!(
                "--keep: left {} and the sessions (tmux -L {} attach) in place for a look;                  remove them with: tmux -L {} kill-server; rm -rf {}",
                dir.display(),
                world.tmux_socket,
                world.tmux_socket,
                dir.display()
            );
        }
        return outcome;
    }
    say("cleaning up: stopping the daemon, killing the tmux server, removing the temp dir");
    daemon.stop().await;
    world.remove();
    outcome
}

fn daemon_gone(r: Result<(), CliError>) -> CliError {
    match r {
        Ok(()) => CliError::Other("the daemon stopped during the demo".into()),
        Err(e) => e,
    }
}

/// `--top`: the scenario runs behind the dashboard, its story going to the dashboard's feed;
/// the demo ends when the person quits the dashboard (its outcome is the scenario's, or
/// success when they quit before it ended).
async fn in_dashboard(
    world: &World,
    client: &Client,
    deadline: Duration,
    daemon: &mut daemon::RunningDaemon,
    interrupts: &mut Interrupts,
) -> Result<(), CliError> {
    let (tx, notes) = tokio::sync::mpsc::unbounded_channel();
    let _ = NOTES.set(tx);
    let scenario = scenario(world, client, deadline);
    tokio::pin!(scenario);
    let dashboard = super::top::dashboard(client.clone(), Some(notes));
    tokio::pin!(dashboard);
    let mut outcome = None;
    loop {
        tokio::select! {
            r = &mut scenario, if outcome.is_none() => {
                match &r {
                    Ok(()) => say("demo: failover complete; q leaves and cleans up"),
                    Err(e) => say(&format!("demo failed: {e}; q leaves and cleans up")),
                }
                outcome = Some(r);
            }
            r = &mut dashboard => return r.and(outcome.unwrap_or(Ok(()))),
            r = daemon.exited(), if outcome.is_none() => {
                let e = daemon_gone(r);
                say(&format!("demo failed: {e}; q leaves and cleans up"));
                outcome = Some(Err(e));
            }
            () = interrupts.recv() => return Err(CliError::Interrupted),
        }
    }
}

/// Where the story goes while the dashboard owns the terminal (`--top`).
static NOTES: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<String>> =
    std::sync::OnceLock::new();

fn say(line: &str) {
    if let Some(tx) = NOTES.get() {
        for l in line.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let _ = tx.send(l.to_owned());
        }
        return;
    }
    let _ = render::line(&render::wrap(line, render::COLUMNS));
}

async fn pick_claude(force_stand_in: bool) -> Result<Claude, CliError> {
    if !force_stand_in {
        if let Some((bin, version)) = discover::pinned_real_claude().await {
            return Ok(Claude::Real {
                path: bin.path,
                version,
                found_by: bin.found_by,
            });
        }
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Other(format!("cannot find this program's own path: {e}")))?;
    Ok(Claude::StandIn { exe })
}

fn keep_text(world: &World) -> String {
    let sock = world.control_socket.display();
    let first = world.sessions.first().map_or("ccl-0", |s| s.name.as_str());
    format!(
        "\n--keep: everything stays up until you press Ctrl-C.\n  \
         look at a session:   tmux -L {} attach -t {first}\n  \
         ask the daemon:      claude-failover --socket {sock} status\n  \
         follow decisions:    claude-failover --socket {sock} events\n  \
         swap back:           claude-failover --socket {sock} swap --to {}\n  \
         the world:           {}\n",
        world.tmux_socket,
        world.accounts.first().map_or("demo-a", |a| a.name.as_str()),
        world.root().display()
    )
}

/// What each session was doing before the quota hit.
#[derive(Debug, Clone)]
struct Before {
    conversation: String,
}

async fn scenario(world: &World, client: &Client, deadline: Duration) -> Result<(), CliError> {
    let first = world.accounts[0].name.clone();
    // 1. Every session running on the first account, waiting at its prompt.
    say(&format!(
        "  starting   {} session(s) on {first} ...",
        world.sessions.len()
    ));
    let started = Instant::now();
    let st = wait_status(client, STARTUP_TIMEOUT, "every session to start", |st| {
        st.sessions.len() == world.sessions.len()
            && st.sessions.iter().all(|s| {
                s.state == "running"
                    && s.account.as_deref() == Some(first.as_str())
                    && s.claude_session.is_some()
                    && s.activity.as_deref() == Some("idle")
            })
    })
    .await?;
    let before: BTreeMap<String, Before> = st
        .sessions
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                Before {
                    conversation: s.claude_session.clone().unwrap_or_default(),
                },
            )
        })
        .collect();
    say(&format!(
        "  started    in {:.1}s: {}",
        started.elapsed().as_secs_f64(),
        before
            .iter()
            .map(|(n, b)| format!("{n} (conversation {})", short(&b.conversation)))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // 2. A first prompt each, answered on the first account.
    // A session's program may still be drawing its first screen: typing is confirmed on
    // screen, and retried until it shows.
    for s in &world.sessions {
        daemon::send_prompt_when_ready(world, &s.name, &prompt(1, &s.name), STARTUP_TIMEOUT)
            .await?;
    }
    for s in &world.sessions {
        let conv = before[&s.name].conversation.clone();
        let marker = marker(1, &s.name);
        world
            .mock
            .wait_for_request(STARTUP_TIMEOUT, |r| {
                r.status == 200
                    && r.session_id.as_deref() == Some(conv.as_str())
                    && r.last_user_text
                        .as_deref()
                        .is_some_and(|t| t.contains(&marker))
            })
            .await
            .map_err(|_| {
                CliError::TimedOut(format!(
                    "{} did not get its first prompt answered within {}s",
                    s.name,
                    STARTUP_TIMEOUT.as_secs()
                ))
            })?;
    }
    // The turn is over when the reply is on screen and the session waits at its prompt
    // again; typing earlier would land in the middle of the redraw.
    for s in &world.sessions {
        let reply = ack_text(&prompt(1, &s.name));
        daemon::wait_screen(world, &s.name, &reply, STARTUP_TIMEOUT).await?;
    }
    wait_status(
        client,
        STARTUP_TIMEOUT,
        "every session to finish its turn",
        |st| {
            st.sessions
                .iter()
                .all(|s| s.activity.as_deref() == Some("idle"))
        },
    )
    .await?;
    say(&format!(
        "  answered   first prompt of every session, on {first}"
    ));

    // 3. The first account's five-hour window runs out; a second prompt each hits it.
    let mut events = client.events("/v1/events").await?;
    let resets_at = u64::try_from(jiff::Timestamp::now().as_second()).unwrap_or(0) + 5 * 3600;
    world.mock.set_mode(
        &first,
        Mode::QuotaExhausted {
            window: ClaimWindow::FiveHour,
            resets_at,
        },
    );
    let flipped = Instant::now();
    say(&format!(
        "\n>>> {first}'s five-hour quota is now exhausted (the mock answers 429); sending each session a second prompt\n"
    ));
    // All at once: the first 429 starts the swap, and its moves start side by side, so a
    // prompt typed one session after another could find its session already moving.
    let second: Vec<(String, String)> = world
        .sessions
        .iter()
        .map(|s| (s.name.clone(), prompt(2, &s.name)))
        .collect();
    futures_util::future::try_join_all(
        second
            .iter()
            .map(|(name, text)| daemon::send_prompt_into_swap(world, name, text, deadline)),
    )
    .await?;

    // 4. Follow the failover until every interrupted prompt is answered elsewhere.
    let end = tokio::time::Instant::now() + deadline;
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    let mut decision_ms: Option<i64> = None;
    let mut live = LiveView::default();
    let mut stream_open = true;
    let mut lost = LostPrompts::default();
    let target = loop {
        tokio::select! {
            () = tokio::time::sleep_until(end) => {
                let sessions = match client.get_json::<StatusDto>("/v1/status").await {
                    Ok(st) => render::sessions_table(&st.sessions, false),
                    Err(e) => format!("(no status: {e})\n"),
                };
                return Err(CliError::TimedOut(format!(
                    "no failover within {}s of the quota running out: {}; the sessions are:\n{sessions}",
                    deadline.as_secs(),
                    pending_report(world, &before, &first)
                )));
            }
            ev = events.next(), if stream_open => match ev? {
                None => stream_open = false,
                Some(ev) => {
                    if let Ok(dto) = serde_json::from_str::<EventDto>(&ev.data) {
                        if decision_ms.is_none() && is_decision(&dto.event) {
                            decision_ms = Some(dto.at_ms);
                        }
                        // The dashboard (`--top`) shows the decisions itself.
                        if let Some(line) = live.line(&dto, flipped.elapsed())
                            && NOTES.get().is_none()
                        {
                            say(&line);
                        }
                    }
                }
            },
            _ = poll.tick() => {
                if let Some(target) = all_answered_elsewhere(world, &before, &first) {
                    break target;
                }
                lost.retype(world, client, &before, &first, deadline).await?;
            }
        }
    };
    let done = flipped.elapsed();

    // 5. The summary.
    let st: StatusDto = client.get_json("/v1/status").await?;
    let requests = world.mock.requests();
    let first_429 = requests
        .iter()
        .filter(|r| r.status == 429 && r.account.as_deref() == Some(first.as_str()))
        .map(|r| r.at_ms)
        .min();
    say(&format!(
        "\nfailover complete: {} session(s) moved from {first} to {target}",
        world.sessions.len()
    ));
    if let (Some(q), Some(d)) = (first_429, decision_ms) {
        say(&format!(
            "  detection latency   {} ms  (the API's first 429 -> the engine's swap decision)",
            d - i64::try_from(q).unwrap_or(0)
        ));
    }
    if let Some(q) = first_429 {
        let last_answer = before
            .values()
            .filter_map(|b| answered_on(&requests, &b.conversation, 2, &first))
            .max();
        if let Some(a) = last_answer {
            say(&format!(
                "  failover wall time  {:.1} s  (the API's first 429 -> every interrupted prompt answered on {target})",
                (a.saturating_sub(q)) as f64 / 1000.0
            ));
        }
    }
    say(&format!(
        "  demo time           {:.1} s  since the quota ran out",
        done.as_secs_f64()
    ));
    if live.missed > 0 {
        say(&format!(
            "  (the live view fell behind the daemon's event stream and skipped {} event(s))",
            live.missed
        ));
    }
    for s in &st.sessions {
        let b = &before[&s.name];
        let same = s.claude_session.as_deref() == Some(b.conversation.as_str());
        say(&format!(
            "  {:<8} on {:<8} conversation {} ({}), {}",
            s.name,
            s.account.as_deref().unwrap_or("-"),
            short(&b.conversation),
            if same { "same id" } else { "NEW id" },
            if lost.retyped.contains(&s.name) {
                "second prompt typed again and answered"
            } else {
                "interrupted prompt answered"
            }
        ));
    }
    Ok(())
}

/// Second prompts typed as their session was being stopped: Claude Code never got them (no
/// request carries them, on any account), so there was nothing interrupted to replay. Once
/// the session has run idle on another account for a while, the demo types it again, as a
/// person would, and says so.
#[derive(Debug, Default)]
struct LostPrompts {
    /// Since when each session has been idle on another account with its prompt nowhere.
    idle_since: BTreeMap<String, Instant>,
    /// Sessions whose prompt was typed again.
    retyped: std::collections::BTreeSet<String>,
}

impl LostPrompts {
    /// How long the daemon gets to replay a prompt before the demo decides it was lost.
    const GRACE: Duration = Duration::from_secs(5);

    async fn retype(
        &mut self,
        world: &World,
        client: &Client,
        before: &BTreeMap<String, Before>,
        first: &str,
        deadline: Duration,
    ) -> Result<(), CliError> {
        let Ok(st) = client.get_json::<StatusDto>("/v1/status").await else {
            return Ok(());
        };
        if st.swap.is_some() {
            self.idle_since.clear();
            return Ok(());
        }
        let requests = world.mock.requests();
        for s in &st.sessions {
            let Some(b) = before.get(&s.name) else {
                continue;
            };
            let marker = marker(2, &s.name);
            let reached = requests.iter().any(|r| {
                r.session_id.as_deref() == Some(b.conversation.as_str())
                    && r.last_user_text
                        .as_deref()
                        .is_some_and(|t| t.contains(&marker))
            });
            let idle_elsewhere = s.state == "running"
                && s.activity.as_deref() == Some("idle")
                && s.account.as_deref().is_some_and(|a| a != first);
            if reached || !idle_elsewhere || self.retyped.contains(&s.name) {
                self.idle_since.remove(&s.name);
                continue;
            }
            let since = *self
                .idle_since
                .entry(s.name.clone())
                .or_insert_with(Instant::now);
            if since.elapsed() >= Self::GRACE {
                say(&format!(
                    "  {} never got its second prompt (it was typed as the session was being \
                     stopped); typing it again",
                    s.name
                ));
                daemon::send_prompt_when_ready(world, &s.name, &prompt(2, &s.name), deadline)
                    .await?;
                self.retyped.insert(s.name.clone());
            }
        }
        Ok(())
    }
}

/// The first decision the engine made about the quota: stopping or checkpointing a session.
fn is_decision(ev: &EventKindDto) -> bool {
    matches!(ev, EventKindDto::Effect { effect, .. } if effect == "checkpoint" || effect == "stop" || effect == "launch")
}

/// What the demo prints of the daemon's events: the decisions ([`render::Decisions`]), and
/// once that it fell behind the stream.
#[derive(Debug, Default)]
struct LiveView {
    decisions: render::Decisions,
    /// Events the stream dropped because this view fell behind.
    missed: u64,
    lag_reported: bool,
}

impl LiveView {
    /// The line for an event, or `None` for noise.
    fn line(&mut self, ev: &EventDto, since: Duration) -> Option<String> {
        let keep = match &ev.event {
            EventKindDto::Lagged { missed } => {
                self.missed += missed;
                !std::mem::replace(&mut self.lag_reported, true)
            }
            other => self.decisions.keep(other),
        };
        keep.then(|| {
            format!(
                "  [{:>5.1}s] {}",
                since.as_secs_f64(),
                render::describe(&ev.event)
            )
        })
    }
}

/// When every session's second prompt was answered (200) under its original conversation id
/// on an account other than the first, those accounts (one, unless the daemon moved on again).
fn all_answered_elsewhere(
    world: &World,
    before: &BTreeMap<String, Before>,
    first: &str,
) -> Option<String> {
    let requests = world.mock.requests();
    let mut accounts = std::collections::BTreeSet::new();
    for b in before.values() {
        let r = requests.iter().find(|r| {
            r.status == 200
                && r.account.as_deref().is_some_and(|a| a != first)
                && r.session_id.as_deref() == Some(b.conversation.as_str())
                && r.last_user_text
                    .as_deref()
                    .is_some_and(|t| t.contains("demo prompt 2"))
        })?;
        accounts.insert(r.account.clone()?);
    }
    Some(accounts.into_iter().collect::<Vec<_>>().join(" and "))
}

/// When (Unix ms) the prompt `n` of conversation `conv` was answered on an account other
/// than `first`.
fn answered_on(requests: &[RecordedRequest], conv: &str, n: u8, first: &str) -> Option<u64> {
    let m = format!("demo prompt {n}");
    requests
        .iter()
        .find(|r| {
            r.status == 200
                && r.account.as_deref().is_some_and(|a| a != first)
                && r.session_id.as_deref() == Some(conv)
                && r.last_user_text.as_deref().is_some_and(|t| t.contains(&m))
        })
        .map(|r| r.at_ms)
}

/// What had not happened yet when the deadline passed.
fn pending_report(world: &World, before: &BTreeMap<String, Before>, first: &str) -> String {
    let requests = world.mock.requests();
    let mut out = Vec::new();
    for (name, b) in before {
        let conv = Some(b.conversation.as_str());
        let answered = requests.iter().any(|r| {
            r.status == 200
                && r.account.as_deref().is_some_and(|a| a != first)
                && r.session_id.as_deref() == conv
                && r.last_user_text
                    .as_deref()
                    .is_some_and(|t| t.contains("demo prompt 2"))
        });
        if answered {
            continue;
        }
        let last = requests
            .iter()
            .rfind(|r| r.session_id.as_deref() == conv)
            .map_or_else(
                || "no request at all".to_owned(),
                |r| {
                    format!(
                        "its last request went to {} ({}) with {:?}",
                        r.account.as_deref().unwrap_or("?"),
                        r.status,
                        r.last_user_text.as_deref().unwrap_or("")
                    )
                },
            );
        out.push(format!(
            "{name}'s interrupted prompt was not answered on another account ({last})"
        ));
    }
    out.join("; ")
}

async fn wait_status(
    client: &Client,
    timeout: Duration,
    what: &str,
    mut ok: impl FnMut(&StatusDto) -> bool,
) -> Result<StatusDto, CliError> {
    let end = tokio::time::Instant::now() + timeout;
    let mut last: Option<StatusDto> = None;
    loop {
        match client.get_json::<StatusDto>("/v1/status").await {
            Ok(st) if ok(&st) => return Ok(st),
            Ok(st) => last = Some(st),
            // The control socket appears a moment after the daemon starts.
            Err(CliError::DaemonNotRunning { .. }) => {}
            Err(e) => return Err(e),
        }
        if tokio::time::Instant::now() >= end {
            let sessions = last
                .map(|st| render::sessions_table(&st.sessions, false))
                .unwrap_or_else(|| "(the daemon never answered)\n".into());
            return Err(CliError::TimedOut(format!(
                "waited {}s for {what}; the sessions were:\n{sessions}",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn marker(n: u8, session: &str) -> String {
    format!("demo prompt {n} for {session}")
}

fn prompt(n: u8, session: &str) -> String {
    match n {
        1 => format!("{}: say hello in five words", marker(n, session)),
        _ => format!("{}: list three prime numbers", marker(n, session)),
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
