//! Standbys: a Claude Code program started ahead of a move, so that the move skips the
//! program's cold start (the largest part of it).
//!
//! [`SessionBackend::prepare`](failover_core::SessionBackend::prepare) starts the program
//! for the destination account in the session's working directory, with the environment a
//! launch gives it but no conversation (`claude` alone: the conversation still runs on the
//! other account and is not touched), in a tmux session of its own named
//! [`wire::standby_session`] (`failover standby <session>`), and waits until it shows its
//! idle prompt. A launch of the session on that account, in that directory, resuming a
//! conversation, then puts that program in the session's place (into the session's window
//! with `swap-pane` when the session is still there, its pane dead; by renaming the
//! standby's session when it is gone) and types `/resume <id>` into it, which loads the
//! conversation in about a third of a cold start (Claude Code 2.1.328). Anything unexpected
//! ends the standby and the launch starts cold: a standby never makes a launch fail.
//!
//! Claude Code runs its statusline command as soon as it starts, about the throwaway
//! conversation it opens: the standby sets [`STANDBY_ENV`] to the conversation it is for,
//! and the statusline hook files a document of any other conversation as unattached (see
//! [`crate::statusline::hook_script`]), so that nothing is said about the session before
//! the program runs its conversation.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use failover_core::quota::{activity_from_screen, has_draft};
use failover_core::{
    AccountId, Activity, BackendError, ClaudeSessionId, LaunchRequest, Launched, SessionId,
};
use tokio::time::Instant;

use crate::backend::TmuxBackend;
use crate::error::TmuxError;
use crate::ops::{self, NewSession};
use crate::pacer::Pacer;
use crate::process_group::Group;
use crate::wire;

/// Environment variable set in a standby: the conversation the program is prepared to
/// resume. The statusline hook speaks for the session only about that conversation.
pub const STANDBY_ENV: &str = "FAILOVER_STANDBY_FOR";

/// How often the waits here look at the screen again on the clock (with the observers'
/// control client running: after the pane printed something, no more often than this; see
/// [`Pacer`]).
const RECHECK: Duration = Duration::from_millis(20);
/// How long an ended standby gets to exit after its terminal is closed, before SIGKILL.
const HANGUP_GRACE: Duration = Duration::from_millis(1000);

/// A program prepared for a session.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Its tmux session ([`wire::standby_session`]).
    name: String,
    account: AccountId,
    dir: PathBuf,
    config_dir: PathBuf,
    /// The conversation it is prepared to resume (its [`STANDBY_ENV`]).
    conversation: ClaudeSessionId,
    /// Its process group, recorded once it ran (`None`: it exited at once).
    group: Option<Group>,
}

impl Prepared {
    fn matches(&self, request: &LaunchRequest) -> bool {
        self.account == request.account
            && self.dir == request.dir
            && self.config_dir == request.config_dir
            && request.resume.as_ref() == Some(&self.conversation)
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Prepared>>>;

/// The programs prepared by one backend, at most one per session. Each session's slot is
/// locked for the whole of a prepare, so a launch that comes meanwhile waits for it and
/// uses what it made.
#[derive(Debug, Default)]
pub(crate) struct Standbys {
    slots: Mutex<HashMap<SessionId, Slot>>,
}

impl Standbys {
    fn slot(&self, session: &SessionId) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slots.entry(session.clone()).or_default())
    }
}

/// Why a standby was not used, for the log.
type Unused = String;

impl TmuxBackend {
    /// [`SessionBackend::prepare`](failover_core::SessionBackend::prepare).
    pub(crate) async fn prepare_standby(
        &self,
        request: &LaunchRequest,
    ) -> Result<(), BackendError> {
        let session = request.session.as_str();
        ops::validate_name(session)?;
        if !request.dir.is_dir() {
            return Err(BackendError::DirMissing(request.dir.clone()));
        }
        if request.dir.to_str().is_none() || request.config_dir.to_str().is_none() {
            return Err(BackendError::Command {
                op: "prepare",
                detail: "working and config directories must be valid UTF-8".to_owned(),
            });
        }
        let Some(id) = &request.resume else {
            return Err(BackendError::Command {
                op: "prepare",
                detail: format!(
                    "{session}: no conversation to resume; a launch that starts a fresh one starts cold, so nothing is prepared for it"
                ),
            });
        };
        let slot = self.standbys().slot(&request.session);
        let mut held = slot.lock().await;
        if let Some(prepared) = held.take() {
            if prepared.matches(request) && self.ready(&prepared).await.is_ok() {
                *held = Some(prepared);
                return Ok(());
            }
            tracing::debug!(
                session,
                account = %prepared.account,
                "replacing the prepared program"
            );
            self.end(&prepared).await;
        }
        let name = wire::standby_session(session);
        // One left under this name by a process that ended, or by this one before a
        // failed call: it is not in the slot, so it is not ours to keep.
        self.end_named(&name).await;
        self.carry_trust(request).await;
        let mut env = self.session_env(request, false);
        env.insert(
            env.len() - self.config().env.len(),
            (STANDBY_ENV.to_owned(), id.to_string()),
        );
        // Sized like the session's window, so the swap leaves its layout as it was.
        let (width, height) = match ops::pane_size(self.transport(), session).await {
            Ok(size) => size,
            Err(_) => (self.config().width, self.config().height),
        };
        // A caller that gives up on the prepare (its deadline) drops this future: what it
        // started goes with it.
        let mut guard = EndOnDrop {
            transport: self.transport().clone(),
            name: name.clone(),
            group: None,
            armed: true,
        };
        ops::new_session(
            self.transport(),
            &NewSession {
                name: &name,
                dir: &request.dir,
                width,
                height,
                env: &env,
                argv: &self.config().claude_command,
                account: request.account.as_str(),
                conversation: "",
                config_dir: &request.config_dir.to_string_lossy(),
                resume_mark: None,
            },
        )
        .await?;
        let owner = std::process::id().to_string();
        let group = match ops::pane_state(self.transport(), &name).await {
            Ok(p) if !p.dead => p.pid.map(Group::led_by),
            _ => None,
        };
        guard.group = group;
        let prepared = Prepared {
            name,
            account: request.account.clone(),
            dir: request.dir.clone(),
            config_dir: request.config_dir.clone(),
            conversation: id.clone(),
            group,
        };
        if let Err(e) = ops::set_option(
            self.transport(),
            &prepared.name,
            wire::STANDBY_OWNER_OPTION,
            &owner,
        )
        .await
        {
            self.end(&prepared).await;
            return Err(e.into());
        }
        let until = Instant::now() + self.config().standby_timeout;
        let ready = self.wait_ready(&prepared, until).await;
        guard.armed = false;
        match ready {
            Ok(()) => {
                tracing::info!(session, account = %request.account, "a program is ready to take the session over");
                *held = Some(prepared);
                Ok(())
            }
            Err(why) => {
                self.end(&prepared).await;
                Err(BackendError::Command {
                    op: "prepare",
                    detail: format!(
                        "the program prepared for {session} on account {} {why}; ended it",
                        request.account
                    ),
                })
            }
        }
    }

    /// [`SessionBackend::discard_prepared`](failover_core::SessionBackend::discard_prepared).
    pub(crate) async fn discard_standby(&self, session: &SessionId) -> Result<(), BackendError> {
        ops::validate_name(session.as_str())?;
        let slot = self.standbys().slot(session);
        let mut held = slot.lock().await;
        if let Some(prepared) = held.take() {
            self.end(&prepared).await;
            tracing::debug!(%session, account = %prepared.account, "discarded the prepared program");
        }
        // Also one this backend does not know of (left by a process that ended).
        self.end_named(&wire::standby_session(session.as_str()))
            .await;
        Ok(())
    }

    /// The program prepared for the session `request` launches, taken out of its slot: the
    /// launch uses it or ends it. One prepared for another account, dir or conversation is
    /// ended now, and so is any for a launch that starts a fresh conversation.
    pub(crate) async fn take_standby(&self, request: &LaunchRequest) -> Option<Prepared> {
        let slot = self.standbys().slot(&request.session);
        let prepared = slot.lock().await.take()?;
        if prepared.matches(request) {
            return Some(prepared);
        }
        tracing::debug!(
            session = request.session.as_str(),
            prepared_for = %prepared.account,
            account = %request.account,
            "the prepared program does not fit the launch; ending it"
        );
        self.end(&prepared).await;
        None
    }

    /// Puts `prepared` in the session's place and has it load the conversation `request`
    /// resumes; `session_there`: the session still exists (its pane dead). Only a
    /// conversation with a transcript where the account looks for it, holding a turn, is
    /// resumed this way (the cold path handles the others). On failure everything it
    /// started is ended (the standby, and the session when the standby was already in its
    /// place), so the caller can start cold.
    pub(crate) async fn launch_from_standby(
        &self,
        request: &LaunchRequest,
        prepared: Prepared,
        session_there: bool,
    ) -> Result<Launched, Unused> {
        let session = request.session.as_str();
        let Some(id) = request.resume.as_ref() else {
            self.end(&prepared).await;
            return Err("a fresh conversation starts cold".to_owned());
        };
        let projects = request.config_dir.join(crate::homes::PROJECTS);
        let summary = match crate::paths::find_transcript(&projects, &request.dir, id) {
            Ok(path) if !crate::transcript::holds_no_conversation(&path).unwrap_or(false) => {
                crate::transcript::summarize(&path).ok()
            }
            _ => {
                self.end(&prepared).await;
                return Err("the conversation has no transcript with a turn to resume".to_owned());
            }
        };
        // The previous program has stopped: the transcript is final. A typed prompt nothing
        // answered is the one to replay (`/resume` never takes it up by itself).
        let unanswered_prompt = summary
            .as_ref()
            .and_then(|s| s.unanswered_prompt().map(str::to_owned));
        if let Err(why) = self.ready(&prepared).await {
            self.end(&prepared).await;
            return Err(format!("the prepared program {why}"));
        }
        let placed = if session_there {
            // Into the session's window, where the person may be looking; the session's
            // dead pane goes to the standby's session, which is ended with it.
            match ops::swap_pane(self.transport(), &prepared.name, session).await {
                Ok(()) => {
                    let _ = ops::kill_session(self.transport(), &prepared.name).await;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        } else {
            ops::rename_session(self.transport(), &prepared.name, session).await
        };
        if let Err(e) = placed {
            self.end(&prepared).await;
            return Err(format!("could not be put in the session's place: {e}"));
        }
        let fail = async |why: String| {
            self.end_in_place(session, &prepared).await;
            Err(why)
        };
        if let Err(e) = ops::set_launch_record(
            self.transport(),
            session,
            request.account.as_str(),
            id.as_str(),
            &request.config_dir.to_string_lossy(),
        )
        .await
        {
            return fail(format!("could not record the launch: {e}")).await;
        }
        self.record_leader(session).await;
        match self.type_resume(&request.session, id).await {
            Ok(()) => {
                tracing::info!(
                    session,
                    account = %request.account,
                    claude_session = %id,
                    tmux_clients = self.transport().clients_started(),
                    "launched from the prepared program"
                );
                Ok(Launched {
                    claude_session: id.clone(),
                    unanswered_prompt,
                    standby_fallback: None,
                })
            }
            Err(why) => fail(why).await,
        }
    }

    /// Types `/resume <id>` (the text, then Enter as a separate key) and waits until the
    /// conversation is loaded: Claude Code then clears the screen and draws the
    /// conversation, so the typed command is no longer on screen, and shows its idle
    /// prompt; seen on two looks in a row, so a screen caught between two writes of one
    /// redraw is not taken for it. A conversation it cannot find is answered below the
    /// command (`Session <id> was not found.`), which fails at once. Screens are compared
    /// without whitespace: in a narrow pane the input box wraps the command.
    async fn type_resume(&self, session: &SessionId, id: &ClaudeSessionId) -> Result<(), Unused> {
        let name = session.as_str();
        let command = format!("/resume {id}");
        let typed = squashed(&command);
        let until = Instant::now() + self.config().standby_resume_timeout;
        // One watch of the pane for both waits below.
        let mut pace = Pacer::new(self.transport(), name, RECHECK);
        ops::send_literal(self.transport(), name, &command)
            .await
            .map_err(|e| format!("/resume could not be typed: {e}"))?;
        self.wait_until(session, until, &mut pace, |s| squashed(s).contains(&typed))
            .await
            .map_err(|why| format!("{why} (waiting for the typed /resume to show)"))?;
        ops::send_keys(self.transport(), name, &["Enter"])
            .await
            .map_err(|e| format!("/resume could not be sent: {e}"))?;
        let not_found = squashed(&format!("{id} was not found"));
        let loaded = |s: &str| {
            !squashed(s).contains(&typed) && activity_from_screen(s) == Some(Activity::Idle)
        };
        let seen = std::sync::atomic::AtomicBool::new(false);
        let screen = self
            .wait_until(session, until, &mut pace, |s| {
                if squashed(s).contains(&not_found) {
                    return true;
                }
                let now = loaded(s);
                // Twice in a row.
                seen.swap(now, std::sync::atomic::Ordering::Relaxed) && now
            })
            .await
            .map_err(|why| format!("{why} (waiting for the conversation to load)"))?;
        if squashed(&screen).contains(&not_found) {
            return Err(format!("/resume did not find conversation {id}"));
        }
        Ok(())
    }

    /// Waits until the screen satisfies `pred`; fails when the program exits or `until`
    /// passes.
    async fn wait_until(
        &self,
        session: &SessionId,
        until: Instant,
        pace: &mut Pacer<'_>,
        pred: impl Fn(&str) -> bool,
    ) -> Result<String, Unused> {
        loop {
            // The screen and whether the program runs, in one look.
            let (screen, p) = ops::capture_state(self.transport(), session.as_str(), false)
                .await
                .map_err(|e| format!("the session went: {e}"))?;
            if pred(&screen) {
                return Ok(screen);
            }
            if p.dead {
                return Err(format!("the program exited (status {:?})", p.status));
            }
            if Instant::now() >= until {
                return Err("timed out".to_owned());
            }
            pace.pause(until).await;
        }
    }

    /// Whether the standby runs and shows its idle prompt with an empty input box; why not.
    async fn ready(&self, prepared: &Prepared) -> Result<(), Unused> {
        let screen = match ops::capture_state(self.transport(), &prepared.name, false).await {
            Ok((_, p)) if p.dead => return Err(format!("exited (status {:?})", p.status)),
            Ok((screen, _)) => screen,
            Err(e) => return Err(format!("is gone ({e})")),
        };
        if prepared.group.is_some_and(|g| !g.alive()) {
            return Err("is no longer running".to_owned());
        }
        match activity_from_screen(&screen) {
            Some(Activity::Idle)
                if !has_draft(&self.standby_screen(&prepared.name, true).await?) =>
            {
                Ok(())
            }
            Some(Activity::Idle) => Err("has text in its input box".to_owned()),
            Some(Activity::Working) => Err("is busy".to_owned()),
            Some(Activity::WaitingForTrust) => Err("shows the folder-trust dialog".to_owned()),
            None => Err("does not show its idle prompt".to_owned()),
        }
    }

    /// Waits until a standby just started shows its idle prompt; fails at once on what it
    /// will not get past by itself (its exit, a login or trust screen).
    async fn wait_ready(&self, prepared: &Prepared, until: Instant) -> Result<(), Unused> {
        let mut pace = Pacer::new(self.transport(), &prepared.name, RECHECK);
        loop {
            // Whether it runs and what it shows, in one look.
            let screen = match ops::capture_state(self.transport(), &prepared.name, false).await {
                Ok((_, p)) if p.dead => {
                    return Err(format!("exited at start (status {:?})", p.status));
                }
                Ok((screen, _)) => screen,
                Err(e @ (TmuxError::NoSession { .. } | TmuxError::ServerDown { .. })) => {
                    return Err(format!("went at start ({e})"));
                }
                Err(e) => return Err(format!("cannot be looked at ({e})")),
            };
            if shows_login(&screen) {
                return Err("shows a login screen (the account is not logged in)".to_owned());
            }
            match activity_from_screen(&screen) {
                Some(Activity::Idle) => return Ok(()),
                Some(Activity::WaitingForTrust) => {
                    return Err("shows the folder-trust dialog".to_owned());
                }
                Some(Activity::Working) | None => {}
            }
            if Instant::now() >= until {
                return Err(format!(
                    "did not show its idle prompt within {:?}",
                    self.config().standby_timeout
                ));
            }
            pace.pause(until).await;
        }
    }

    async fn standby_screen(&self, name: &str, ansi: bool) -> Result<String, Unused> {
        ops::capture(self.transport(), name, ansi)
            .await
            .map(|(text, _, _)| text)
            .map_err(|e| format!("cannot be looked at ({e})"))
    }

    /// Ends a standby still in its own session: closes its terminal (Claude Code exits on
    /// the hangup), then kills what is left of its process group.
    async fn end(&self, prepared: &Prepared) {
        match ops::kill_session(self.transport(), &prepared.name).await {
            Ok(()) | Err(TmuxError::NoSession { .. } | TmuxError::ServerDown { .. }) => {}
            Err(e) => {
                tracing::warn!(standby = %prepared.name, error = %e, "cannot close a prepared program's session")
            }
        }
        if let Some(group) = prepared.group {
            end_group(group).await;
        }
    }

    /// Ends a standby already put in session `session`'s place: the session goes with it
    /// (the caller starts it again, cold).
    async fn end_in_place(&self, session: &str, prepared: &Prepared) {
        let _ = ops::kill_session(self.transport(), session).await;
        if let Some(group) = prepared.group {
            end_group(group).await;
        }
    }

    /// Ends the standby session `name` if there is one, knowing only its name.
    async fn end_named(&self, name: &str) {
        let group = match ops::pane_state(self.transport(), name).await {
            Ok(p) if !p.dead => p.pid.map(Group::led_by),
            Ok(_) => None,
            Err(_) => return,
        };
        let _ = ops::kill_session(self.transport(), name).await;
        if let Some(group) = group {
            end_group(group).await;
        }
    }

    /// Ends the standbys on the server that belong to no running backend: those whose
    /// recorded owner process is gone (a daemon that was killed), or, with `ours`, this
    /// process's too (a daemon shutting down). Only sessions named as standbys are touched.
    pub(crate) async fn end_standbys(&self, ours: bool) -> Result<usize, TmuxError> {
        let me = std::process::id();
        let standbys = match ops::standby_owners(self.transport()).await {
            Ok(s) => s,
            Err(TmuxError::ServerDown { .. }) => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut ended = 0;
        for (name, owner) in standbys {
            let stale = match owner {
                Some(pid) if pid == me => ours,
                Some(pid) => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                None => true,
            };
            if stale {
                tracing::info!(standby = %name, "ending a prepared program its backend left");
                self.end_named(&name).await;
                ended += 1;
            }
        }
        if ours {
            let slots: Vec<Slot> = self
                .standbys()
                .slots
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned()
                .collect();
            for slot in slots {
                slot.lock().await.take();
            }
        }
        Ok(ended)
    }
}

/// Ends a standby whose prepare was abandoned midway (its future dropped), unless disarmed.
struct EndOnDrop {
    transport: crate::transport::Transport,
    name: String,
    group: Option<Group>,
    armed: bool,
}

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            if let Some(group) = self.group {
                group.kill();
            }
            return;
        };
        let (transport, name, group) = (self.transport.clone(), self.name.clone(), self.group);
        runtime.spawn(async move {
            let _ = ops::kill_session(&transport, &name).await;
            if let Some(group) = group {
                end_group(group).await;
            }
        });
    }
}

/// Closes nothing itself: waits for the group to go after its terminal was closed, then
/// SIGKILLs what is left.
async fn end_group(group: Group) {
    if !group.wait_gone(Instant::now() + HANGUP_GRACE).await {
        group.kill();
        let _ = group.wait_gone(Instant::now() + HANGUP_GRACE).await;
    }
}

/// Whether the screen is Claude Code's login screen or its "not logged in" notice.
fn shows_login(screen: &str) -> bool {
    screen.contains("Not logged in") || screen.contains("Select login method")
}

/// `text` without its whitespace.
fn squashed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}
