//! [`FakeBackend`]: sessions as entries in a map, with scripted failures.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::backend::{LaunchRequest, Launched, Liveness, SessionBackend};
use crate::checkpoint::{PromptSource, TranscriptSummary};
use crate::error::BackendError;
use crate::ids::{AccountId, ClaudeSessionId, SessionId};

/// A backend operation, for scripting failures and counting calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FakeOp {
    /// [`SessionBackend::launch`].
    Launch,
    /// [`SessionBackend::stop`].
    Stop,
    /// [`SessionBackend::send_input`].
    SendInput,
    /// [`SessionBackend::liveness`].
    Liveness,
}

/// A failure to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FakeFailure {
    /// [`BackendError::Unavailable`] (transient).
    Unavailable,
    /// [`BackendError::Timeout`] (transient).
    Timeout,
    /// [`BackendError::TranscriptMissing`] (the resume target is gone).
    TranscriptMissing,
    /// [`BackendError::DirMissing`].
    DirMissing,
    /// [`BackendError::InputRejected`] (transient).
    InputRejected,
    /// [`BackendError::Command`] (permanent).
    Command,
    /// [`BackendError::DraftInInputBox`] (transient; nothing was typed).
    DraftInInputBox,
}

impl FakeFailure {
    fn error(
        self,
        op: FakeOp,
        session: &SessionId,
        request: Option<&LaunchRequest>,
    ) -> BackendError {
        match self {
            Self::Unavailable => BackendError::Unavailable {
                reason: "scripted failure".to_owned(),
            },
            Self::Timeout => BackendError::Timeout {
                op: op_name(op),
                after: Duration::from_secs(10),
            },
            Self::TranscriptMissing => BackendError::TranscriptMissing {
                claude_session: request
                    .and_then(|r| r.resume.clone())
                    .unwrap_or_else(|| ClaudeSessionId::new("none")),
                account: request.map_or_else(|| AccountId::new("none"), |r| r.account.clone()),
                path: PathBuf::from("/nonexistent/transcript.jsonl"),
            },
            Self::DirMissing => BackendError::DirMissing(
                request.map_or_else(|| PathBuf::from("/nonexistent"), |r| r.dir.clone()),
            ),
            Self::InputRejected => BackendError::InputRejected {
                session: session.clone(),
                reason: "scripted failure".to_owned(),
            },
            Self::Command => BackendError::Command {
                op: op_name(op),
                detail: "scripted failure".to_owned(),
            },
            Self::DraftInInputBox => BackendError::DraftInInputBox {
                session: session.clone(),
                chars: 12,
            },
        }
    }
}

fn op_name(op: FakeOp) -> &'static str {
    match op {
        FakeOp::Launch => "launch",
        FakeOp::Stop => "stop",
        FakeOp::SendInput => "send_input",
        FakeOp::Liveness => "liveness",
    }
}

/// One fake session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeSession {
    /// The account it was launched on.
    pub account: AccountId,
    /// Its conversation.
    pub claude_session: ClaudeSessionId,
    /// Whether it runs.
    pub alive: bool,
    /// What its pane shows.
    pub pane: String,
    /// Every input it was sent, in order.
    pub inputs: Vec<String>,
    /// How many times it was launched.
    pub launches: u32,
}

#[derive(Debug, Default)]
struct State {
    sessions: BTreeMap<SessionId, FakeSession>,
    calls: BTreeMap<(FakeOp, SessionId), u32>,
    /// (op, session, 1-based call number) → failure.
    scripted: BTreeMap<(FakeOp, SessionId, u32), FakeFailure>,
    conversations: u64,
}

/// An in-memory [`SessionBackend`]. Sessions are map entries; every call is counted per
/// operation and session, and a failure can be scripted for any call ("fail the second
/// launch of `ccl-0` with a missing transcript").
#[derive(Debug, Default)]
pub struct FakeBackend {
    inner: Mutex<State>,
}

impl FakeBackend {
    /// No sessions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a running session (as if it had been started before the daemon).
    pub fn insert_running(
        &self,
        session: SessionId,
        account: AccountId,
        claude_session: ClaudeSessionId,
    ) {
        self.lock().sessions.insert(
            session,
            FakeSession {
                account,
                claude_session,
                alive: true,
                pane: String::new(),
                inputs: Vec::new(),
                launches: 0,
            },
        );
    }

    /// Makes call number `call` (1-based) of `op` on `session` fail with `failure`.
    pub fn script_failure(&self, op: FakeOp, session: SessionId, call: u32, failure: FakeFailure) {
        self.lock().scripted.insert((op, session, call), failure);
    }

    /// Sets what a session's pane shows.
    pub fn set_pane(&self, session: &SessionId, text: impl Into<String>) {
        if let Some(s) = self.lock().sessions.get_mut(session) {
            s.pane = text.into();
        }
    }

    /// Marks a session's process as exited.
    pub fn kill(&self, session: &SessionId) {
        if let Some(s) = self.lock().sessions.get_mut(session) {
            s.alive = false;
        }
    }

    /// A copy of one session.
    pub fn session(&self, session: &SessionId) -> Option<FakeSession> {
        self.lock().sessions.get(session).cloned()
    }

    /// The account a live session runs on.
    pub fn account_of(&self, session: &SessionId) -> Option<AccountId> {
        self.lock()
            .sessions
            .get(session)
            .filter(|s| s.alive)
            .map(|s| s.account.clone())
    }

    /// Every live session with its account and conversation.
    pub fn running(&self) -> Vec<(SessionId, AccountId, ClaudeSessionId)> {
        self.lock()
            .sessions
            .iter()
            .filter(|(_, s)| s.alive)
            .map(|(id, s)| (id.clone(), s.account.clone(), s.claude_session.clone()))
            .collect()
    }

    /// The last input a session was sent.
    pub fn last_input(&self, session: &SessionId) -> Option<String> {
        self.lock()
            .sessions
            .get(session)
            .and_then(|s| s.inputs.last().cloned())
    }

    /// How many times `op` was called for `session`.
    pub fn calls(&self, op: FakeOp, session: &SessionId) -> u32 {
        self.lock()
            .calls
            .get(&(op, session.clone()))
            .copied()
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the call; returns the scripted failure for it, if any.
    fn call(&self, op: FakeOp, session: &SessionId) -> Option<FakeFailure> {
        let mut inner = self.lock();
        let n = inner.calls.entry((op, session.clone())).or_insert(0);
        *n += 1;
        let n = *n;
        inner.scripted.remove(&(op, session.clone(), n))
    }
}

#[async_trait]
impl SessionBackend for FakeBackend {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, BackendError> {
        if let Some(f) = self.call(FakeOp::Launch, &request.session) {
            return Err(f.error(FakeOp::Launch, &request.session, Some(request)));
        }
        let mut inner = self.lock();
        if inner
            .sessions
            .get(&request.session)
            .is_some_and(|s| s.alive)
        {
            return Err(BackendError::SessionExists(request.session.clone()));
        }
        let claude_session = match &request.resume {
            Some(id) => id.clone(),
            None => {
                inner.conversations += 1;
                ClaudeSessionId::new(format!("conv-{}", inner.conversations))
            }
        };
        let previous = inner.sessions.remove(&request.session);
        let launches = previous.as_ref().map_or(0, |s| s.launches) + 1;
        let inputs = previous.map(|s| s.inputs).unwrap_or_default();
        inner.sessions.insert(
            request.session.clone(),
            FakeSession {
                account: request.account.clone(),
                claude_session: claude_session.clone(),
                alive: true,
                pane: String::new(),
                inputs,
                launches,
            },
        );
        Ok(Launched::new(claude_session))
    }

    async fn stop(&self, session: &SessionId, _grace: Duration) -> Result<(), BackendError> {
        if let Some(f) = self.call(FakeOp::Stop, session) {
            return Err(f.error(FakeOp::Stop, session, None));
        }
        if let Some(s) = self.lock().sessions.get_mut(session) {
            s.alive = false;
        }
        Ok(())
    }

    async fn send_input(&self, session: &SessionId, text: &str) -> Result<(), BackendError> {
        if let Some(f) = self.call(FakeOp::SendInput, session) {
            return Err(f.error(FakeOp::SendInput, session, None));
        }
        match self.lock().sessions.get_mut(session) {
            Some(s) if s.alive => {
                s.inputs.push(text.to_owned());
                Ok(())
            }
            _ => Err(BackendError::SessionNotFound(session.clone())),
        }
    }

    async fn liveness(&self, session: &SessionId) -> Result<Liveness, BackendError> {
        if let Some(f) = self.call(FakeOp::Liveness, session) {
            return Err(f.error(FakeOp::Liveness, session, None));
        }
        Ok(match self.lock().sessions.get(session) {
            Some(s) if s.alive => Liveness::Alive,
            Some(_) => Liveness::Exited { status: None },
            None => Liveness::Missing,
        })
    }

    async fn liveness_all(&self) -> Result<HashMap<SessionId, Liveness>, BackendError> {
        Ok(self
            .lock()
            .sessions
            .iter()
            .map(|(id, s)| {
                let live = if s.alive {
                    Liveness::Alive
                } else {
                    Liveness::Exited { status: None }
                };
                (id.clone(), live)
            })
            .collect())
    }
}

/// The fake's record of a conversation: the last input typed into the session running it
/// (as answered: the fake keeps no record of answers).
#[async_trait]
impl PromptSource for FakeBackend {
    async fn recall(
        &self,
        _dir: &std::path::Path,
        claude_session: &ClaudeSessionId,
    ) -> TranscriptSummary {
        let last_prompt = self
            .lock()
            .sessions
            .values()
            .find(|s| s.claude_session == *claude_session)
            .and_then(|s| s.inputs.last().cloned());
        TranscriptSummary {
            last_prompt,
            ..TranscriptSummary::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::block_on;

    #[test]
    fn scripted_failure_hits_only_its_call() {
        let backend = FakeBackend::new();
        let s = SessionId::new("s");
        backend.script_failure(FakeOp::Launch, s.clone(), 2, FakeFailure::TranscriptMissing);
        let req = LaunchRequest {
            session: s.clone(),
            dir: "/w".into(),
            account: "a".into(),
            config_dir: "/c".into(),
            resume: None,
        };
        assert!(block_on(backend.launch(&req)).is_ok());
        block_on(backend.stop(&s, Duration::ZERO)).unwrap();
        let err = block_on(backend.launch(&req)).unwrap_err();
        assert!(matches!(err, BackendError::TranscriptMissing { .. }));
        assert!(block_on(backend.launch(&req)).is_ok());
        assert_eq!(backend.calls(FakeOp::Launch, &s), 3);
        // A live session cannot be launched twice.
        assert!(matches!(
            block_on(backend.launch(&req)),
            Err(BackendError::SessionExists(_))
        ));
    }
}
