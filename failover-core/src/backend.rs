//! The [`SessionBackend`] port: where sessions actually run (tmux, in `failover-tmux`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::BackendError;
use crate::ids::{AccountId, ClaudeSessionId, SessionId};

/// Everything needed to start (or resume) one session on one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchRequest {
    /// The session.
    pub session: SessionId,
    /// Its working directory.
    pub dir: PathBuf,
    /// The account to run on.
    pub account: AccountId,
    /// That account's `CLAUDE_CONFIG_DIR`.
    pub config_dir: PathBuf,
    /// The conversation to resume (`claude --resume <id>`); `None` starts a new one.
    pub resume: Option<ClaudeSessionId>,
}

/// What a launch produced: what [`EffectOutcome::Launched`](crate::EffectOutcome::Launched)
/// reports to the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launched {
    /// The conversation now running (the resumed one, or the id chosen for a new one).
    pub claude_session: ClaudeSessionId,
    /// On a resume: the conversation's last typed prompt when its record shows nothing
    /// answered it. `None` when there is none, or when the backend does not read the
    /// conversation's record (then the embedder may fill it from a
    /// [`PromptSource`](crate::PromptSource), as [`execute`](crate::execute) does).
    pub unanswered_prompt: Option<String>,
    /// Why a program prepared ahead of this launch ([`SessionBackend::prepare`]) could not
    /// be used, when the launch then started the program cold instead (for example: it
    /// exited, or did not load the conversation in time). `None` when a prepared program
    /// was used, or none fitted the launch. A launch that keeps falling back this way loses
    /// what preparing was for, so an embedder may count these.
    pub standby_fallback: Option<String>,
}

impl Launched {
    /// A launch of `claude_session` with no unanswered prompt found, and no prepared program
    /// set aside.
    pub fn new(claude_session: ClaudeSessionId) -> Self {
        Self {
            claude_session,
            unanswered_prompt: None,
            standby_fallback: None,
        }
    }
}

/// What a program launched to resume its conversation did with the turn it was interrupted
/// in: [`SessionBackend::resumed_turn`]'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResumedTurn {
    /// It did not take the turn up, or the backend cannot tell: the prompt is typed.
    NotTakenUp,
    /// It took the turn up by itself; the turn is still under way.
    UnderWay,
    /// It took the turn up by itself and has finished it: the prompt is answered and the
    /// program waits at its prompt for the next one.
    Over,
}

/// Whether a session is still there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Running.
    Alive,
    /// The process exited (the pane is dead); `status` when known.
    Exited {
        /// Exit status.
        status: Option<i32>,
    },
    /// No such session.
    Missing,
}

/// Where sessions run. The engine never calls this; the embedder executes the engine's
/// [`Stop`](crate::Effect::Stop), [`Launch`](crate::Effect::Launch) and
/// [`SendPrompt`](crate::Effect::SendPrompt) effects through it ([`execute`](crate::execute)
/// does), and surveys liveness with it to report [`Input::SessionExited`](crate::Input::SessionExited).
///
/// Reading what a session shows is not part of the port: the engine never asks for it.
/// Observers do that (pane captures, transcripts) and report what they saw as
/// [`ObserverEvent`](crate::ObserverEvent)s, with the pure classifiers of [`crate::quota`].
#[async_trait]
pub trait SessionBackend: Send + Sync {
    /// Starts a session on an account, resuming `resume` when given. Must verify, before a
    /// resume, that the transcript and working directory exist.
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, BackendError>;

    /// Stops a session at a turn boundary: interrupt, ask it to exit, kill after `grace`.
    /// Returns once nothing of the session runs any more (a program still writing its
    /// transcript would race the copy resumed on the next account). Stopping a session that
    /// is not there succeeds.
    /// The grace is the one [`Effect::Stop`](crate::Effect::Stop) carries.
    async fn stop(&self, session: &SessionId, grace: Duration) -> Result<(), BackendError>;

    /// Types `text` (may be several lines) and submits it, confirming it was accepted.
    async fn send_input(&self, session: &SessionId, text: &str) -> Result<(), BackendError>;

    /// Gets a program ready, ahead of time, to take the session over on `request.account`
    /// in `request.dir`, so that a later [`launch`](Self::launch) of the same session on
    /// that account skips the program's cold start (the largest part of a move). The
    /// program must not touch the conversation now: the session still runs it on its
    /// current account; `request.resume` names the conversation the later launch resumes.
    /// A session holds at most one prepared program: preparing it for another account or
    /// dir replaces the one it had. `launch` uses a prepared program that matches its
    /// request (and falls back to a cold start when it cannot); one that does not match
    /// is discarded. Asked by embedders that see a move coming (an account near its
    /// limit); the default prepares nothing.
    async fn prepare(&self, request: &LaunchRequest) -> Result<(), BackendError> {
        let _ = request;
        Ok(())
    }

    /// Ends the program [`prepare`](Self::prepare) got ready for `session`, if any (the
    /// move it was for is no longer coming). The default does nothing.
    async fn discard_prepared(&self, session: &SessionId) -> Result<(), BackendError> {
        let _ = session;
        Ok(())
    }

    /// Whether the session's program, launched to resume its conversation, took up by
    /// itself the interrupted turn whose prompt is `prompt` (Claude Code does with
    /// `CLAUDE_CODE_RESUME_INTERRUPTED_TURN=1`): then a replay must not type the prompt
    /// again, or the turn would run twice. Asked before a replay is typed; may wait a
    /// short while for the program to do so. A turn taken up is [`ResumedTurn::Over`]
    /// when the program has already finished it (a replay is asked once the session shows
    /// idle, which a program that goes straight on with its turn does only after it), so
    /// that nobody waits for the end of a turn that ended before the question. The
    /// default: [`ResumedTurn::NotTakenUp`] (the prompt is typed).
    async fn resumed_turn(
        &self,
        session: &SessionId,
        prompt: &str,
    ) -> Result<ResumedTurn, BackendError> {
        let _ = (session, prompt);
        Ok(ResumedTurn::NotTakenUp)
    }

    /// What the session shows right now, in one look: [`Activity::Idle`](crate::Activity)
    /// only when its program waits at an empty prompt for the next one (not when it waits
    /// to continue by itself after a usage limit). `None` when the backend cannot tell
    /// (the default). The engine never asks it; a task queue asks it to hand the next task
    /// over as soon as a turn ends, without waiting for an observer's report.
    async fn activity_now(
        &self,
        session: &SessionId,
    ) -> Result<Option<crate::Activity>, BackendError> {
        let _ = session;
        Ok(None)
    }

    /// Whether the session is alive.
    async fn liveness(&self, session: &SessionId) -> Result<Liveness, BackendError>;

    /// The liveness of every session the backend holds, from one look; a session not in
    /// the map is [`Liveness::Missing`]. An embedder's periodic liveness check asks this
    /// once rather than [`liveness`](Self::liveness) once per session (a tmux server asked
    /// about 200 sessions one by one every few seconds stays busy). It may be less precise
    /// than `liveness` about a program that exited a moment ago (an exit status not yet
    /// recorded shows as `Exited { status: None }`); ask `liveness` about a session it does
    /// not show alive.
    async fn liveness_all(&self) -> Result<HashMap<SessionId, Liveness>, BackendError>;
}
