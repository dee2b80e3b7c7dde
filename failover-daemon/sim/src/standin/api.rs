//! The stand-in's Messages API client: one streamed request, read into an [`Outcome`].

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// Usage of one window as the unified headers report it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowUsage {
    /// 0 to 100.
    pub used_percentage: f64,
    /// Unix seconds.
    pub resets_at: i64,
}

/// What the unified rate-limit headers of one response said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateInfo {
    /// `anthropic-ratelimit-unified-status` (`allowed`, `allowed_warning`, `rejected`).
    pub status: Option<String>,
    /// `anthropic-ratelimit-unified-representative-claim`.
    pub claim: Option<String>,
    /// `anthropic-ratelimit-unified-reset`.
    pub reset: Option<i64>,
    /// Per statusline window name (`five_hour`, `seven_day`).
    pub windows: BTreeMap<&'static str, WindowUsage>,
}

impl RateInfo {
    /// Reads the unified headers.
    pub fn from_headers(h: &HeaderMap) -> Self {
        let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let num = |name: &str| get(name).and_then(|v| v.trim().parse::<f64>().ok());
        let mut windows = BTreeMap::new();
        for (prefix, window) in [("5h", "five_hour"), ("7d", "seven_day")] {
            let util = num(&format!("anthropic-ratelimit-unified-{prefix}-utilization"));
            let reset = num(&format!("anthropic-ratelimit-unified-{prefix}-reset"));
            if let (Some(u), Some(r)) = (util, reset) {
                windows.insert(
                    window,
                    WindowUsage {
                        used_percentage: (u * 100.0).round(),
                        resets_at: r as i64,
                    },
                );
            }
        }
        Self {
            status: get("anthropic-ratelimit-unified-status"),
            claim: get("anthropic-ratelimit-unified-representative-claim"),
            reset: num("anthropic-ratelimit-unified-reset").map(|r| r as i64),
            windows,
        }
    }
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A complete reply.
    Reply {
        /// The text of the reply.
        text: String,
        /// The message id.
        id: String,
        /// The model that answered.
        model: String,
        /// The `request-id` header.
        request_id: Option<String>,
        /// The rate-limit headers.
        rate: RateInfo,
    },
    /// An HTTP error answer.
    Error {
        /// The status.
        status: u16,
        /// `error.type` of the body.
        kind: String,
        /// `error.message` of the body.
        message: String,
        /// The rate-limit headers.
        rate: RateInfo,
    },
    /// No HTTP answer at all.
    Network(String),
}

/// A Messages API client for one account and session.
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    session_id: String,
}

impl ApiClient {
    /// A client for `base` (`http://127.0.0.1:PORT`), sending `token` as bearer.
    pub fn new(base: &str, token: Option<String>, session_id: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            session_id: session_id.to_owned(),
        }
    }

    /// The `host:port` of the base URL, as error texts show it.
    pub fn host(&self) -> &str {
        self.base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, rest)| rest)
    }

    /// `HEAD /api/hello`, as the CLI does at start; failures are ignored.
    pub async fn hello(&self) {
        let _ = self
            .http
            .head(format!("{}/api/hello", self.base))
            .send()
            .await;
    }

    /// Sends the conversation (`messages`, ending with the new user turn) and reads the
    /// streamed answer.
    pub async fn send(&self, messages: &[Value], max_tokens: u32) -> Outcome {
        let body = json!({
            "model": super::MODEL_ID,
            "max_tokens": max_tokens,
            "stream": true,
            "messages": messages,
        });
        let mut req = self
            .http
            .post(format!("{}/v1/messages?beta=true", self.base))
            .header("anthropic-version", "2023-06-01")
            .header("anthropic-beta", "oauth-2025-04-20")
            .header("x-claude-code-session-id", &self.session_id)
            .json(&body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Network(network_reason(&e)),
        };
        let status = resp.status().as_u16();
        let rate = RateInfo::from_headers(resp.headers());
        let request_id = resp
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut raw = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => raw.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return Outcome::Network(network_reason(&e)),
            }
        }
        let text = String::from_utf8_lossy(&raw);
        if status != 200 {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Outcome::Error {
                status,
                kind: v["error"]["type"]
                    .as_str()
                    .unwrap_or("api_error")
                    .to_owned(),
                message: v["error"]["message"]
                    .as_str()
                    .unwrap_or(text.trim())
                    .to_owned(),
                rate,
            };
        }
        match parse_sse(&text) {
            Some((id, model, reply)) => Outcome::Reply {
                text: reply,
                id,
                model,
                request_id,
                rate,
            },
            None => Outcome::Network("Stream ended without receiving any events".into()),
        }
    }
}

fn network_reason(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "ConnectionRefused".into()
    } else if e.is_timeout() {
        "Request timed out".into()
    } else {
        e.to_string()
    }
}

/// Reassembles a streamed reply: `(message id, model, text)`, or `None` when the stream
/// did not reach `message_stop`.
pub fn parse_sse(stream: &str) -> Option<(String, String, String)> {
    let (mut id, mut model, mut text, mut done) =
        (String::new(), String::new(), String::new(), false);
    for line in stream.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(data.trim()) else {
            continue;
        };
        match v["type"].as_str() {
            Some("message_start") => {
                id = v["message"]["id"].as_str().unwrap_or_default().to_owned();
                model = v["message"]["model"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
            }
            Some("content_block_delta") => {
                if let Some(t) = v["delta"]["text"].as_str() {
                    text.push_str(t);
                }
            }
            Some("message_stop") => done = true,
            _ => {}
        }
    }
    done.then_some((id, model, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_needs_message_stop() {
        let s = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"model\":\"x\"}}\n\n\
                 data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"AC\"}}\n\n\
                 data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"K\"}}\n\n";
        assert_eq!(parse_sse(s), None);
        let full = format!("{s}data: {{\"type\":\"message_stop\"}}\n\n");
        assert_eq!(
            parse_sse(&full),
            Some(("m1".into(), "x".into(), "ACK".into()))
        );
    }
}
