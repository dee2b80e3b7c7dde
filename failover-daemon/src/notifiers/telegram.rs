//! Telegram Bot API: `POST {api_base}/bot<token>/sendMessage`.
//!
//! The token is part of the URL, so it never appears in logs: `Debug` is redacted, errors
//! are built from reqwest errors stripped of their URL and scrubbed of the token.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use failover_core::{Notification, Notifier, NotifyError};

use super::{redact, render_text};
use crate::config::{SecretSource, TelegramSettings};
use crate::error::DaemonError;

const CHANNEL: &str = "telegram";

/// Posts notifications to a Telegram chat.
#[derive(Clone)]
pub struct TelegramNotifier {
    client: reqwest::Client,
    api_base: String,
    token: String,
    chat_id: String,
}

impl fmt::Debug for TelegramNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramNotifier")
            .field("api_base", &self.api_base)
            .field("token", &"<redacted>")
            .field("chat_id", &self.chat_id)
            .finish()
    }
}

impl TelegramNotifier {
    /// A notifier for `chat_id` with `token`, talking to `api_base`.
    pub fn new(api_base: &str, token: String, chat_id: String) -> Result<Self, DaemonError> {
        if token.trim().is_empty() {
            return Err(DaemonError::Notifier {
                channel: CHANNEL,
                reason: "the bot token is empty".into(),
            });
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| DaemonError::Notifier {
                channel: CHANNEL,
                reason: e.to_string(),
            })?;
        Ok(Self {
            client,
            api_base: api_base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
            chat_id,
        })
    }

    /// Builds from settings, reading the token file if that is where the token is (refused
    /// when others can read it).
    pub fn from_settings(s: &TelegramSettings) -> Result<Self, DaemonError> {
        let token = match &s.token {
            SecretSource::Inline(t) => t.clone(),
            SecretSource::File(p) => {
                crate::secret_file::read_private(p).map_err(|e| DaemonError::Notifier {
                    channel: CHANNEL,
                    reason: format!("bot_token_file: {e}"),
                })?
            }
        };
        Self::new(&s.api_base, token, s.chat_id.clone())
    }
}

#[async_trait]
impl Notifier for TelegramNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let url = format!("{}/bot{}/sendMessage", self.api_base, self.token);
        let body = serde_json::json!({
            "chat_id": self.chat_id,
            "text": render_text(n),
            "disable_web_page_preview": true,
        });
        let resp = self
            .client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| NotifyError::Unavailable {
                channel: CHANNEL.into(),
                reason: redact(&e.without_url().to_string(), &self.token),
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let reason = redact(
            &format!(
                "HTTP {status}: {}",
                text.chars().take(300).collect::<String>()
            ),
            &self.token,
        );
        if status.as_u16() == 429 || status.is_server_error() {
            Err(NotifyError::Unavailable {
                channel: CHANNEL.into(),
                reason,
            })
        } else {
            Err(NotifyError::Rejected {
                channel: CHANNEL.into(),
                reason,
            })
        }
    }
}
