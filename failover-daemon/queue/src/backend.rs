//! [`BackendDeliver`]: the [`Deliver`] the daemon uses, sending prompts through a
//! [`SessionBackend`] and answering probes from transcripts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use failover_core::{Activity, BackendError, SessionBackend, SessionId};

use crate::probe::TranscriptTail;
use crate::{Deliver, DeliverError, Delivery, Probe};

/// Finds the transcript of the conversation a delivery went to (the daemon knows each
/// session's account config dir and Claude session id); `None` when it cannot.
pub type TranscriptLocator = Arc<dyn Fn(&Delivery) -> Option<PathBuf> + Send + Sync>;

/// Delivers with [`SessionBackend::send_input`]; probes with the session's transcript.
#[derive(Clone)]
pub struct BackendDeliver {
    backend: Arc<dyn SessionBackend>,
    transcripts: Option<TranscriptLocator>,
    /// Per session, the transcript read so far for its delivery (one at a time).
    tails: Arc<Mutex<HashMap<SessionId, TranscriptTail>>>,
}

impl std::fmt::Debug for BackendDeliver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendDeliver")
            .field("transcripts", &self.transcripts.is_some())
            .finish_non_exhaustive()
    }
}

impl BackendDeliver {
    /// Sends through `backend`; without a locator every probe answers [`Probe::Unknown`].
    pub fn new(backend: Arc<dyn SessionBackend>, transcripts: Option<TranscriptLocator>) -> Self {
        Self {
            backend,
            transcripts,
            tails: Arc::default(),
        }
    }
}

/// Whether a failed `send_input` certainly left the session without the prompt, and
/// whether it can be sent later as it is.
pub fn classify(err: BackendError) -> DeliverError {
    match err {
        // Nothing typed: a draft in the input box is in the way until someone sends or
        // clears it.
        BackendError::DraftInInputBox { .. } => DeliverError::NotNow(err.to_string()),
        // Nothing reached the session: no server, no session, or it refused the input.
        BackendError::Unavailable { .. }
        | BackendError::SessionNotFound(_)
        | BackendError::DirMissing(_)
        | BackendError::InputRejected { .. } => DeliverError::NotDelivered(err.to_string()),
        // Typing may have started (or even been submitted) before it failed.
        other => DeliverError::Unknown(other.to_string()),
    }
}

#[async_trait]
impl Deliver for BackendDeliver {
    async fn deliver(&self, delivery: &Delivery) -> Result<(), DeliverError> {
        self.backend
            .send_input(&delivery.session, &delivery.prompt)
            .await
            .map_err(classify)
    }

    async fn probe(&self, delivery: &Delivery) -> Probe {
        let Some(path) = self.transcript_of(delivery) else {
            return Probe::Unknown;
        };
        let (prompt, since) = (&delivery.prompt, delivery.recorded_at);
        let kept = self
            .tails
            .lock()
            .ok()
            .and_then(|mut t| t.remove(&delivery.session))
            .filter(|t| t.follows(&path, prompt, since));
        let mut tail = kept.unwrap_or_else(|| TranscriptTail::new(path, prompt, since));
        let Ok((tail, answer)) = tokio::task::spawn_blocking(move || {
            let answer = tail.probe();
            (tail, answer)
        })
        .await
        else {
            return Probe::Unknown;
        };
        if let Ok(mut tails) = self.tails.lock() {
            tails.insert(delivery.session.clone(), tail);
        }
        answer
    }

    fn transcript_of(&self, delivery: &Delivery) -> Option<PathBuf> {
        self.transcripts
            .as_ref()
            .and_then(|locate| locate(delivery))
    }

    async fn idle_now(&self, session: &SessionId) -> bool {
        matches!(
            self.backend.activity_now(session).await,
            Ok(Some(Activity::Idle))
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use failover_core::SessionId;

    use super::*;

    #[test]
    fn only_certain_failures_count_as_not_delivered() {
        let s = SessionId::new("s");
        assert!(matches!(
            classify(BackendError::InputRejected {
                session: s.clone(),
                reason: "copy mode".into()
            }),
            DeliverError::NotDelivered(_)
        ));
        assert!(matches!(
            classify(BackendError::DraftInInputBox {
                session: s.clone(),
                chars: 3
            }),
            DeliverError::NotNow(_)
        ));
        assert!(matches!(
            classify(BackendError::SessionNotFound(s)),
            DeliverError::NotDelivered(_)
        ));
        assert!(matches!(
            classify(BackendError::Timeout {
                op: "send-keys",
                after: Duration::from_secs(5)
            }),
            DeliverError::Unknown(_)
        ));
    }
}
