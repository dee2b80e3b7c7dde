//! [`MemCheckpointer`]: checkpoints in a map.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::checkpoint::{Checkpoint, Checkpointer};
use crate::error::CheckpointError;
use crate::ids::SessionId;
use crate::time::UnixMillis;

/// A [`Checkpointer`] keeping the latest checkpoint of each session in memory.
#[derive(Debug, Default)]
pub struct MemCheckpointer {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    saved: BTreeMap<SessionId, Checkpoint>,
    saves: u64,
    fail_next: u32,
}

impl MemCheckpointer {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many saves succeeded.
    pub fn saves(&self) -> u64 {
        self.lock().saves
    }

    /// The next `n` saves fail with a transient I/O error.
    pub fn fail_next(&self, n: u32) {
        self.lock().fail_next = n;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Checkpointer for MemCheckpointer {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let mut inner = self.lock();
        if inner.fail_next > 0 {
            inner.fail_next -= 1;
            return Err(CheckpointError::Io {
                path: "memory".into(),
                source: std::io::Error::other("scripted failure"),
            });
        }
        inner.saves += 1;
        inner
            .saved
            .insert(checkpoint.session.clone(), checkpoint.clone());
        Ok(())
    }

    async fn load(&self, session: &SessionId) -> Result<Option<Checkpoint>, CheckpointError> {
        Ok(self.lock().saved.get(session).cloned())
    }

    async fn list(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        Ok(self.lock().saved.values().cloned().collect())
    }

    async fn prune(&self, before: UnixMillis) -> Result<usize, CheckpointError> {
        let mut inner = self.lock();
        let n = inner.saved.len();
        inner.saved.retain(|_, c| c.taken_at >= before);
        Ok(n - inner.saved.len())
    }
}
