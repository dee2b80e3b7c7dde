//! [`Hub`]: the one tmux control-mode client the pane observers of a tmux server share.
//!
//! tmux sends a control client `%output` only for the panes of windows in the session it is
//! attached to, so the hub attaches to a session of its own ([`wire::observer_session`])
//! and links every observed session's window into it (`link-window`; a window may belong
//! to several sessions). One client then hears every observed pane: at 200 sessions one
//! process instead of 200 (about 3.6 MiB each), and one client for tmux's per-client
//! timers. The hub routes each notification to the observer of its pane or window. It also
//! attaches once per backend instead of once per launch: tmux 3.3a's server crashes when
//! anything changes while a control client attaches (tmux pull request 4980), and another
//! process's changes cannot be gated (`tests/stress.rs` counts the crashes of both designs).
//!
//! A linked window outlives the end of its own session (`kill-session` removes only that
//! session's link), which must not keep a program running: on every `%sessions-changed` the
//! hub looks for windows the observer session alone still holds, closes them (hanging up
//! their terminal, as the end of their session would have) and tells their observers the
//! session is gone. When the hub's client goes (the transport dropped, the process killed),
//! the observer session goes with it, and with it its links and every window only it still
//! held: a `client-detached` hook kills it, the dropped hub kills it too, and a hub that
//! starts kills the observer sessions no client is attached to (left by a process that
//! ended while its hook did not run). Never `destroy-unattached`: that crashes tmux 3.3a's
//! server (see [`ops::observer_client`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use crate::error::TmuxError;
use crate::ops;
use crate::transport::Transport;
use crate::wire::{self, ControlLine};

/// What the hub tells one observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HubEvent {
    /// The pane printed something (coalesced: at most one unread at a time).
    Output,
    /// The pane printed the [`wire::EXIT_NOTICE`].
    ExitNotice,
    /// The pane's window was renamed, resized or closed: worth a look at the pane.
    WindowChanged,
    /// The session the pane belonged to ended (its window was held by the observer session
    /// alone and is closed now), or the window left the observer session.
    Gone,
}

struct Route {
    pane: String,
    window: String,
    tx: UnboundedSender<HubEvent>,
    /// An [`HubEvent::Output`] is queued and not yet read.
    output_queued: Arc<AtomicBool>,
}

#[derive(Default)]
struct Routes {
    next_id: u64,
    by_id: HashMap<u64, Route>,
    /// Windows this hub linked into the observer session.
    linked: HashSet<String>,
    /// The client ended: no more events; every receiver has been dropped from here.
    closed: bool,
}

impl Routes {
    fn output(&self, pane: &str) {
        for r in self.by_id.values().filter(|r| r.pane == pane) {
            if !r.output_queued.swap(true, Ordering::AcqRel) {
                let _ = r.tx.send(HubEvent::Output);
            }
        }
    }

    fn to_pane(&self, pane: &str, event: HubEvent) {
        for r in self.by_id.values().filter(|r| r.pane == pane) {
            let _ = r.tx.send(event);
        }
    }

    /// Window `window`'s active pane is now `pane` (a program's pane swapped into the
    /// session's window, see `SessionBackend::launch` from a standby): the observers of
    /// the window follow it, as every operation targets a session's active pane.
    fn repoint(&mut self, window: &str, pane: &str) {
        for r in self.by_id.values_mut().filter(|r| r.window == window) {
            if r.pane != pane {
                r.pane = pane.to_owned();
                let _ = r.tx.send(HubEvent::WindowChanged);
            }
        }
    }

    fn to_window(&self, window: &str, event: HubEvent) {
        for r in self.by_id.values().filter(|r| r.window == window) {
            let _ = r.tx.send(event);
        }
    }
}

type SharedRoutes = Arc<Mutex<Routes>>;

fn lock(routes: &SharedRoutes) -> std::sync::MutexGuard<'_, Routes> {
    routes.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The control client shared by the pane observers of one [`Transport`], kept in it from the
/// first observer on; dropping the transport drops the hub, which ends the client.
pub(crate) struct Hub {
    transport: Transport,
    observer: String,
    routes: SharedRoutes,
    /// Held while a window is linked into the observer session or unlinked from it, with
    /// the decision to do so: a watch that ends and one that starts on the same window
    /// (a wait inside an operation, then the session's observer) cannot leave the window
    /// unlinked under the second.
    links: Arc<tokio::sync::Mutex<()>>,
    tasks: [JoinHandle<()>; 2],
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("observer", &self.observer)
            .finish_non_exhaustive()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        // The client's `client-detached` hook does this too, but not every time in tmux
        // 3.3a; `kill-session` is the safe way to end the session (see `ops::observer_client`).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let transport = self.transport.clone();
            let observer = self.observer.clone();
            runtime.spawn(async move {
                let _ = ops::kill_session(&transport, &observer).await;
            });
        }
    }
}

impl Hub {
    /// The transport's hub, started when there is none (or the last one's client ended). It
    /// stays until the transport (every clone of it) is dropped: one attach per server, not
    /// one whenever the observers come back after none ran (each attach is a moment in which
    /// tmux 3.3a's server crashes if a session comes or goes, see `Transport::attach_gate`).
    pub(crate) async fn get(transport: &Transport) -> Result<Arc<Hub>, TmuxError> {
        let slot = transport.observer_hub();
        let mut slot = slot.lock().await;
        if let Some(hub) = slot.as_ref() {
            if !lock(&hub.routes).closed {
                return Ok(Arc::clone(hub));
            }
        }
        let hub = Arc::new(Self::start(&transport.without_hub()).await?);
        *slot = Some(Arc::clone(&hub));
        Ok(hub)
    }

    /// The transport's hub if one runs (an observer started it and its client has not
    /// ended); never starts one (each start is an attach, see [`Hub::get`]). `None` too
    /// while one is being started.
    pub(crate) fn running(transport: &Transport) -> Option<Arc<Hub>> {
        let slot = transport.observer_hub().try_lock().ok()?;
        slot.as_ref()
            .filter(|hub| !lock(&hub.routes).closed)
            .map(Arc::clone)
    }

    async fn start(transport: &Transport) -> Result<Self, TmuxError> {
        const OP: &str = "new-session -C";
        static NEXT_HUB: AtomicU64 = AtomicU64::new(0);
        let observer =
            wire::observer_session(std::process::id(), NEXT_HUB.fetch_add(1, Ordering::Relaxed));
        // Observer sessions of processes that ended hold links (and perhaps windows whose
        // own session ended since): end them.
        match ops::unattached_observer_sessions(transport).await {
            Ok(stale) => {
                for name in stale.iter().filter(|n| **n != observer) {
                    if let Err(e) = ops::kill_session(transport, name).await {
                        tracing::debug!(session = %name, error = %e, "a stale observer session could not be killed");
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "listing stale observer sessions failed"),
        }
        // No session may be created or killed while the client attaches (see
        // `Transport::attach_gate`).
        let gate = transport.attach_gate().await;
        let mut child = ops::observer_client(transport, &observer)?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or_else(|| TmuxError::Spawn {
            op: OP,
            source: std::io::Error::other("no stdout pipe"),
        })?;
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        let attached = async {
            let mut answered = 0;
            let mut said = String::new();
            while answered < ops::OBSERVER_CLIENT_COMMANDS {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => return Err(format!("the client ended: {said}")),
                    Ok(_) if line.starts_with(b"%end") => answered += 1,
                    Ok(_) if line.starts_with(b"%error") => return Err(said),
                    Ok(_) if line.starts_with(b"%") => {}
                    Ok(_) => said.push_str(String::from_utf8_lossy(&line).trim_end()),
                }
            }
            Ok(())
        };
        let answered = tokio::time::timeout(transport.timeout(), attached).await;
        drop(gate);
        match answered {
            Ok(Ok(())) => {}
            Ok(Err(stderr)) => {
                return Err(match wire::classify_failure(&stderr) {
                    wire::Failure::ServerDown => TmuxError::ServerDown {
                        op: OP,
                        socket: transport.socket().label(),
                        stderr,
                    },
                    _ => TmuxError::NonZeroExit {
                        op: OP,
                        status: None,
                        stderr,
                    },
                });
            }
            Err(_) => {
                return Err(TmuxError::Timeout {
                    op: OP,
                    after: transport.timeout(),
                });
            }
        }
        let routes = SharedRoutes::default();
        let sweep = Arc::new(Notify::new());
        let read = {
            let routes = Arc::clone(&routes);
            let sweep = Arc::clone(&sweep);
            let wait_exit = transport.timeout();
            tokio::spawn(async move {
                // Owned here: ending the task ends the client (`kill_on_drop`), and its
                // stdin held open keeps it attached.
                let mut child = child;
                let _stdin = stdin;
                read_notifications(reader, &routes, &sweep).await;
                // A hub started in its place attaches only once this client has exited:
                // tmux 3.3a crashes when an attached client leaves while a control client
                // is still introducing itself (see `Transport::attach_gate`).
                let _ = tokio::time::timeout(wait_exit, child.wait()).await;
                let mut r = lock(&routes);
                r.closed = true;
                // Dropping the senders ends every observer's stream.
                r.by_id.clear();
            })
        };
        let sweeper = {
            let routes = Arc::clone(&routes);
            let transport = transport.clone();
            let observer = observer.clone();
            tokio::spawn(async move {
                loop {
                    sweep.notified().await;
                    close_orphans(&transport, &observer, &routes).await;
                }
            })
        };
        Ok(Self {
            transport: transport.clone(),
            observer,
            routes,
            links: Arc::default(),
            tasks: [read, sweeper],
        })
    }

    /// Starts routing `session`'s pane to the returned [`Watch`], linking its window into
    /// the observer session first ([`TmuxError::NoSession`] when the session is not there).
    /// Output printed before this returns is not reported: look at the pane afterwards.
    pub(crate) async fn watch(self: &Arc<Self>, session: &str) -> Result<Watch, TmuxError> {
        let (pane, window) = ops::pane_window(&self.transport, session).await?;
        // Until the route is in place (see `Hub::links`).
        let _links = self.links.lock().await;
        let link = lock(&self.routes).linked.insert(window.clone());
        if link {
            if let Err(e) = ops::link_window(&self.transport, &window, &self.observer).await {
                lock(&self.routes).linked.remove(&window);
                // The window went between the two calls: so did the session.
                return Err(match e {
                    TmuxError::NoSession { op, .. } => TmuxError::NoSession {
                        op,
                        session: failover_core::SessionId::new(session),
                    },
                    e => e,
                });
            }
        }
        let (tx, rx) = unbounded_channel();
        let output_queued = Arc::new(AtomicBool::new(false));
        let mut r = lock(&self.routes);
        if r.closed {
            return Err(TmuxError::NonZeroExit {
                op: "new-session -C",
                status: None,
                stderr: "the observers' control client ended".to_owned(),
            });
        }
        let id = r.next_id;
        r.next_id += 1;
        r.by_id.insert(
            id,
            Route {
                pane,
                window: window.clone(),
                tx,
                output_queued: Arc::clone(&output_queued),
            },
        );
        drop(r);
        Ok(Watch {
            hub: Arc::clone(self),
            id,
            window,
            rx,
            output_queued,
        })
    }
}

/// One observer's share of the [`Hub`]: the events of one pane. Dropping it unlinks the
/// window from the observer session (when no other watch needs it).
pub(crate) struct Watch {
    hub: Arc<Hub>,
    id: u64,
    window: String,
    rx: UnboundedReceiver<HubEvent>,
    output_queued: Arc<AtomicBool>,
}

impl Watch {
    /// The next event; `None` once the hub's client ended.
    pub(crate) async fn next(&mut self) -> Option<HubEvent> {
        let event = self.rx.recv().await;
        if event == Some(HubEvent::Output) {
            self.output_queued.store(false, Ordering::Release);
        }
        event
    }

    /// The next event if one is queued: `Ok(None)` when none is, `Err(())` once the hub's
    /// client ended.
    pub(crate) fn try_next(&mut self) -> Result<Option<HubEvent>, ()> {
        match self.rx.try_recv() {
            Ok(event) => {
                if event == HubEvent::Output {
                    self.output_queued.store(false, Ordering::Release);
                }
                Ok(Some(event))
            }
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => Err(()),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut r = lock(&self.hub.routes);
        r.by_id.remove(&self.id);
        let needed = r.by_id.values().any(|x| x.window == self.window);
        if needed || !r.linked.contains(&self.window) {
            return;
        }
        drop(r);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let transport = self.hub.transport.clone();
            let observer = self.hub.observer.clone();
            let routes = Arc::clone(&self.hub.routes);
            let links = Arc::clone(&self.hub.links);
            let window = self.window.clone();
            runtime.spawn(async move {
                // Decided again under the lock: a watch of the window may have started
                // since (then the window stays linked for it).
                let _links = links.lock().await;
                {
                    let mut r = lock(&routes);
                    let needed = r.by_id.values().any(|x| x.window == window);
                    if needed || !r.linked.remove(&window) {
                        return;
                    }
                }
                let _ = ops::unlink_window(&transport, &window, &observer).await;
            });
        }
    }
}

async fn read_notifications(
    mut reader: BufReader<tokio::process::ChildStdout>,
    routes: &SharedRoutes,
    sweep: &Notify,
) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\n');
        match wire::parse_control_line(text) {
            ControlLine::Output { pane } => lock(routes).output(&pane),
            ControlLine::ExitNotice { pane } => lock(routes).to_pane(&pane, HubEvent::ExitNotice),
            ControlLine::WindowChanged => {
                if let Some(window) = wire::control_line_window(text) {
                    lock(routes).to_window(window, HubEvent::WindowChanged);
                }
            }
            ControlLine::SessionChanged => {
                if let Some(window) = wire::control_line_window(text) {
                    lock(routes).to_window(window, HubEvent::WindowChanged);
                }
                sweep.notify_one();
            }
            ControlLine::ActivePaneChanged { window, pane } => {
                lock(routes).repoint(&window, &pane);
            }
            ControlLine::Exit => return,
            ControlLine::Subscription { .. } | ControlLine::Other => {}
        }
    }
}

/// Closes the windows the observer session alone still holds (their sessions ended) and
/// tells the observers of those, and of windows no longer there, that their session is gone.
async fn close_orphans(transport: &Transport, observer: &str, routes: &SharedRoutes) {
    // Only watches that existed before the listing can be judged by it: one registered
    // meanwhile linked its window after the listing was taken.
    let listed_before = lock(routes).next_id;
    let windows = match ops::observer_windows(transport, observer).await {
        Ok(w) => w,
        Err(e) => {
            tracing::debug!(error = %e, "observer session: listing its windows failed");
            return;
        }
    };
    let present: HashSet<&str> = windows.iter().map(|(id, _)| id.as_str()).collect();
    let orphans: Vec<String> = {
        let r = lock(routes);
        windows
            .iter()
            .filter(|(id, sessions)| *sessions <= 1 && r.linked.contains(id))
            .map(|(id, _)| id.clone())
            .collect()
    };
    for window in &orphans {
        if let Err(e) = ops::unlink_window(transport, window, observer).await {
            tracing::debug!(window, error = %e, "observer session: closing an orphaned window failed");
        }
    }
    let mut r = lock(routes);
    for window in &orphans {
        r.linked.remove(window);
    }
    let gone: Vec<String> = r
        .by_id
        .iter()
        .filter(|(id, _)| **id < listed_before)
        .map(|(_, route)| route)
        .filter(|route| orphans.contains(&route.window) || !present.contains(route.window.as_str()))
        .map(|route| route.window.clone())
        .collect();
    for window in gone {
        r.to_window(&window, HubEvent::Gone);
    }
}
