//! Typing into a Claude Code session (real or stand-in) and knowing it was sent.

use std::time::{Duration, Instant};

use super::mock_api::{MockApi, MockApiError, RecordedRequest};
use super::tmux::{PrivateTmux, TmuxError};

/// Errors submitting a prompt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// tmux failed.
    #[error(transparent)]
    Tmux(#[from] TmuxError),
    /// The prompt never reached the mock API.
    #[error("the prompt {prompt:?} never reached the mock API within {waited:?}")]
    NotSent {
        /// The prompt.
        prompt: String,
        /// How long we waited.
        waited: Duration,
    },
}

/// Types `prompt` into `target`, presses Enter, and waits until the conversation request
/// carrying it (from `token`) reaches the mock API; returns that request.
///
/// A freshly started CLI on a loaded machine sometimes swallows the Enter while it is
/// still drawing; Enter is pressed again every few seconds until the request arrives or
/// `timeout` passes. tmux is driven with blocking calls: run this on a multi-threaded
/// runtime.
pub async fn submit_prompt(
    tmux: &PrivateTmux,
    target: &str,
    api: &MockApi,
    token: &str,
    prompt: &str,
    timeout: Duration,
) -> Result<RecordedRequest, DriveError> {
    let start = Instant::now();
    let since = api.requests().len() as u64;
    tmux.submit(target, prompt)?;
    loop {
        let found = api
            .wait_for_request(Duration::from_secs(3), |r| {
                r.seq >= since
                    && r.token.as_deref() == Some(token)
                    && r.last_user_text.as_deref() == Some(prompt)
            })
            .await;
        match found {
            Ok(req) => return Ok(req),
            Err(MockApiError::WaitTimedOut(_)) if start.elapsed() < timeout => {
                tmux.send_keys(target, &["Enter"])?;
            }
            Err(_) => {
                return Err(DriveError::NotSent {
                    prompt: prompt.to_owned(),
                    waited: start.elapsed(),
                });
            }
        }
    }
}
