//! A generic JSON webhook: `POST <url>` with a [`NotificationDto`] body and the configured
//! extra headers (for example an `Authorization` header).
//!
//! Redirects are not followed: the headers (and the body) would go wherever the answer
//! points; a 3xx is reported as a rejection. The URL often carries a secret itself (a Slack or
//! Discord hook), so `Debug` and errors never show it.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use failover_core::{Notification, Notifier, NotifyError};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::render_text;
use crate::config::WebhookSettings;
use crate::error::DaemonError;
use crate::http::dto::NotificationDto;

const CHANNEL: &str = "webhook";

/// Posts notifications as JSON.
#[derive(Clone)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: String,
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("url", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// Builds from settings.
    pub fn from_settings(s: &WebhookSettings) -> Result<Self, DaemonError> {
        let mut headers = HeaderMap::new();
        for (k, v) in &s.headers {
            let name = HeaderName::try_from(k.as_str()).map_err(|e| DaemonError::Notifier {
                channel: CHANNEL,
                reason: format!("header name {k:?}: {e}"),
            })?;
            let mut value =
                HeaderValue::try_from(v.as_str()).map_err(|_| DaemonError::Notifier {
                    channel: CHANNEL,
                    reason: format!("header {k:?} has a value that is not valid in HTTP"),
                })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .map_err(|e| DaemonError::Notifier {
                channel: CHANNEL,
                reason: e.to_string(),
            })?;
        Ok(Self {
            client,
            url: s.url.clone(),
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = NotificationDto::from_notification(n, render_text(n));
        let resp = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| NotifyError::Unavailable {
                channel: CHANNEL.into(),
                reason: e.without_url().to_string(),
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let reason = if status.is_redirection() {
            format!(
                "HTTP {status}: redirects are not followed (they would carry the headers); configure the final URL"
            )
        } else {
            format!("HTTP {status}")
        };
        if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
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
