//! Finding the prompt a session was last sent, so a turn interrupted by a failover can be
//! replayed on the next account.
//!
//! [`TranscriptPrompts`] reads the conversation's transcript in the shared projects tree
//! (where Claude Code puts it: [`failover_tmux::paths`]) and summarizes it
//! ([`failover_tmux::transcript::summarize`]: the latest typed prompt, whether it was
//! answered, the last tool call).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
pub use failover_core::PromptSource;
use failover_core::{ClaudeSessionId, TranscriptSummary};
use failover_tmux::paths::find_transcript;
use failover_tmux::transcript::summarize;

/// Reads transcripts from the shared projects tree.
#[derive(Clone, Debug)]
pub struct TranscriptPrompts {
    shared_projects: PathBuf,
}

impl TranscriptPrompts {
    /// Transcripts under `shared_projects`.
    pub fn new(shared_projects: PathBuf) -> Self {
        Self { shared_projects }
    }

    /// Where the transcript of `claude_session`, run in `dir`, lives (or will).
    pub fn transcript_path(&self, dir: &Path, claude_session: &ClaudeSessionId) -> PathBuf {
        find_transcript(&self.shared_projects, dir, claude_session).unwrap_or_else(|p| p)
    }
}

#[async_trait]
impl PromptSource for TranscriptPrompts {
    async fn recall(&self, dir: &Path, claude_session: &ClaudeSessionId) -> TranscriptSummary {
        let path = self.transcript_path(dir, claude_session);
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || summarize(&path)).await
        };
        match read {
            Ok(Ok(summary)) => summary,
            Ok(Err(e)) => {
                tracing::debug!(path = %path.display(), error = %e, "no transcript to recall from");
                TranscriptSummary::default()
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "reading the transcript failed");
                TranscriptSummary::default()
            }
        }
    }
}
