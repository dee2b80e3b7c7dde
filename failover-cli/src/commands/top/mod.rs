//! `top`: a live, full-screen dashboard of the daemon (ratatui on crossterm).
//!
//! Three sources feed one loop: the daemon's event stream (`/v1/events`, re-subscribed after
//! an outage), its status (`/v1/status`, fetched every second and right after each event, at
//! most one request in flight), and the keyboard (read on a thread of its own). The model
//! ([`app`]) is pure and the drawing ([`view`]) a function of it, so both are tested without
//! a terminal. The terminal is restored on `q`, Esc, Ctrl-C, SIGTERM, errors and panics.

mod app;
mod view;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use failover_daemon::http::dto::{CommandResponseDto, EventDto, StatusDto, SwapRequestDto};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tokio::sync::{Notify, mpsc};

use self::app::{Action, App, Key};
use crate::client::Client;
use crate::commands::Ctx;
use crate::commands::signals::Interrupts;
use crate::error::CliError;

/// How often the status is fetched when nothing happens (the countdowns tick with it).
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How long to wait before trying an unreachable daemon again.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// The least time between two status requests.
const STATUS_GAP: Duration = Duration::from_millis(150);

/// `claude-failover top`.
pub(crate) async fn run(ctx: &Ctx) -> Result<(), CliError> {
    // A wrong socket or a stopped daemon is said at once, with the usual hint, rather than
    // drawn as an outage the person did not expect.
    let _: StatusDto = ctx.client.get_json("/v1/status").await?;
    dashboard(ctx.client.clone(), None).await
}

/// What reaches the loop besides keys.
#[derive(Debug)]
enum Msg {
    Status(Box<StatusDto>),
    Event(Box<EventDto>),
    Lost(String),
    /// The answer to a command, or a line from whoever embeds the dashboard (the demo).
    Note(String),
}

/// Whether colours are wanted: not under `NO_COLOR` (any non-empty value).
fn colours() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Runs the dashboard against `client` until the person quits. Lines sent on `notes` appear
/// in the feed (the demo tells its story there).
pub(crate) async fn dashboard(
    client: Client,
    notes: Option<mpsc::UnboundedReceiver<String>>,
) -> Result<(), CliError> {
    if !std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "top draws a full-screen dashboard and needs a terminal; use `status --json` or \
             `events --json` in scripts"
                .into(),
        ));
    }
    let mut terminal = ratatui::try_init()
        .map_err(|e| CliError::Other(format!("cannot set up the terminal: {e}")))?;
    let _restore = Restore;
    let tz = TimeZone::system();
    let mut app = App::new(Timestamp::now(), colours());

    let (tx, mut rx) = mpsc::channel::<Msg>(256);
    let wake_status = Arc::new(Notify::new());
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(follow_events(
        client.clone(),
        tx.clone(),
        wake_status.clone(),
    ));
    tasks.spawn(poll_status(client.clone(), tx.clone(), wake_status.clone()));
    if let Some(mut notes) = notes {
        let tx = tx.clone();
        tasks.spawn(async move {
            while let Some(line) = notes.recv().await {
                if tx.send(Msg::Note(line)).await.is_err() {
                    break;
                }
            }
        });
    }
    let (keys, stop_keys) = read_keys();
    let mut keys = keys;
    // A Ctrl-C typed in raw mode arrives as a key; these are the signals sent from outside.
    let mut signals = Interrupts::new()?;
    let mut redraw = tokio::time::interval(Duration::from_millis(500));

    let result = loop {
        let now = Timestamp::now();
        if let Err(e) = terminal.draw(|f| view::draw(f, &app, now, &tz)) {
            break Err(CliError::Other(format!("cannot draw: {e}")));
        }
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Status(st)) => app.on_status(*st, Timestamp::now()),
                Some(Msg::Event(ev)) => app.on_event(&ev),
                Some(Msg::Lost(e)) => app.on_lost(e, Timestamp::now()),
                Some(Msg::Note(n)) => app.note(n, Timestamp::now()),
                None => break Ok(()),
            },
            key = keys.recv() => match key {
                Some(Some(key)) => match app.on_key(key) {
                    Action::None => {}
                    Action::Quit => break Ok(()),
                    action => send_command(&client, action, tx.clone()),
                },
                Some(None) => {} // a resize: redraw
                None => break Err(CliError::Other("lost the keyboard".into())),
            },
            () = signals.recv() => break Ok(()),
            _ = redraw.tick() => {}
        }
    };
    stop_keys.store(true, Ordering::Relaxed);
    tasks.abort_all();
    drop(terminal);
    result
}

/// Restores the terminal when dropped (also on an early return or an error).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Subscribes to the event stream, again after every outage.
async fn follow_events(client: Client, tx: mpsc::Sender<Msg>, wake: Arc<Notify>) {
    loop {
        let lost = match client.events("/v1/events").await {
            Err(e) => e.to_string(),
            Ok(mut stream) => {
                // Back: the status catches up with what happened meanwhile.
                wake.notify_one();
                loop {
                    match stream.next().await {
                        Ok(Some(ev)) => {
                            if let Ok(dto) = serde_json::from_str::<EventDto>(&ev.data) {
                                if tx.send(Msg::Event(Box::new(dto))).await.is_err() {
                                    return;
                                }
                                wake.notify_one();
                            }
                        }
                        Ok(None) => break "the daemon closed the event stream".to_owned(),
                        Err(e) => break e.to_string(),
                    }
                }
            }
        };
        if tx.send(Msg::Lost(lost)).await.is_err() {
            return;
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// Fetches the status every second, and soon after each event.
async fn poll_status(client: Client, tx: mpsc::Sender<Msg>, wake: Arc<Notify>) {
    loop {
        let msg = match client.get_json::<StatusDto>("/v1/status").await {
            Ok(st) => Msg::Status(Box::new(st)),
            Err(e) => Msg::Lost(e.to_string()),
        };
        if tx.send(msg).await.is_err() {
            return;
        }
        tokio::time::sleep(STATUS_GAP).await;
        let _ = tokio::time::timeout(STATUS_EVERY, wake.notified()).await;
    }
}

/// Sends a command to the daemon; its answer comes back as a note.
fn send_command(client: &Client, action: Action, tx: mpsc::Sender<Msg>) {
    let client = client.clone();
    tokio::spawn(async move {
        let note = match action {
            Action::Swap(to) => {
                let body = SwapRequestDto { to: to.clone() };
                match client
                    .post_json::<_, CommandResponseDto>("/v1/swap", Some(&body))
                    .await
                {
                    Ok(r) => format!(
                        "swap accepted{}",
                        r.to.or(to)
                            .map(|t| format!(" (to {t})"))
                            .unwrap_or_default()
                    ),
                    Err(e) => format!("swap refused: {e}"),
                }
            }
            Action::Pause | Action::Resume => {
                let (path, word) = if action == Action::Pause {
                    ("/v1/pause", "paused")
                } else {
                    ("/v1/resume", "resumed")
                };
                match client.post_json::<(), CommandResponseDto>(path, None).await {
                    Ok(_) => word.to_owned(),
                    Err(e) => format!("{path}: {e}"),
                }
            }
            Action::None | Action::Quit => return,
        };
        let _ = tx.send(Msg::Note(note)).await;
    });
}

/// Reads the keyboard on a thread of its own (crossterm's reads block). `Some(None)` is a
/// resize. The thread ends when the flag is set or the receiver is gone.
fn read_keys() -> (mpsc::Receiver<Option<Key>>, Arc<AtomicBool>) {
    let (tx, rx) = mpsc::channel(64);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => break,
            }
            let sent = match event::read() {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                    match key(k.code, k.modifiers) {
                        Some(k) => tx.blocking_send(Some(k)),
                        None => Ok(()),
                    }
                }
                Ok(Event::Resize(..)) => tx.blocking_send(None),
                Ok(_) => Ok(()),
                Err(_) => break,
            };
            if sent.is_err() {
                break;
            }
        }
    });
    (rx, stop)
}

fn key(code: KeyCode, mods: KeyModifiers) -> Option<Key> {
    Some(match code {
        KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => Key::Ctrl(c),
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Esc => Key::Esc,
        KeyCode::Enter => Key::Enter,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        _ => return None,
    })
}
