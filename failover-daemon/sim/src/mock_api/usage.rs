//! The OAuth usage endpoint (`GET /api/oauth/usage`): what each account's usage windows
//! look like, as Anthropic's endpoint reports them.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::mode::Mode;
use super::reply::error_json;
use super::server::{caller_token, json_response, record_simple};
use super::{Shared, now_secs};

/// What the usage endpoint answers for one account.
#[derive(Debug, Clone, PartialEq)]
pub enum UsageAnswer {
    /// 200 with this body (`five_hour`, `seven_day`, `seven_day_opus`, `seven_day_sonnet`,
    /// `extra_usage`, as the real endpoint).
    Body(Value),
    /// 429 with `retry-after: <secs>`.
    RateLimited {
        /// The `retry-after` value, seconds.
        retry_after_secs: u64,
    },
}

impl UsageAnswer {
    /// What the endpoint reports for an account in `mode` at `now_secs` when nothing else
    /// was set: the window an exhausted mode names at 100 %, a near-limit or usage mode's
    /// window at its utilization, every other window unused.
    pub fn from_mode(mode: Mode, now_secs: u64) -> Self {
        let Self::Body(mut body) = Self::unused() else {
            unreachable!("unused() is a body");
        };
        let (window, percent, resets_at) = match mode.effective(now_secs) {
            Mode::QuotaExhausted { window, resets_at } => (window, 100.0, resets_at),
            Mode::ExtraUsage { window, resets_at } => {
                body["extra_usage"]["is_enabled"] = json!(true);
                (window, 100.0, resets_at)
            }
            Mode::NearLimit {
                window,
                utilization,
                resets_at,
            }
            | Mode::Usage {
                window,
                utilization,
                resets_at,
            } => (window, utilization * 100.0, resets_at),
            _ => return Self::Body(body),
        };
        let resets = i64::try_from(resets_at)
            .ok()
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map(|t| t.to_string());
        body[window.claim()] = json!({"utilization": percent, "resets_at": resets});
        Self::Body(body)
    }

    /// The answer for an account nothing was set for: every window unused.
    pub fn unused() -> Self {
        Self::Body(json!({
            "five_hour": {"utilization": 0.0, "resets_at": null},
            "seven_day": {"utilization": 0.0, "resets_at": null},
            "seven_day_opus": null,
            "seven_day_sonnet": null,
            "extra_usage": {"is_enabled": false, "monthly_limit": null, "used_credits": null, "utilization": null}
        }))
    }
}

/// `GET /api/oauth/usage`: 401 without a bearer token or without the
/// `anthropic-beta: oauth-2025-04-20` header, else the account's [`UsageAnswer`].
pub(super) async fn oauth_usage(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let beta = headers
        .get("anthropic-beta")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|b| b.trim() == "oauth-2025-04-20"));
    let Some(token) = caller_token(&headers).filter(|_| beta) else {
        record_simple(&shared, &method, &uri, &headers, 401);
        return json_response(
            StatusCode::UNAUTHORIZED,
            &error_json(
                "authentication_error",
                "OAuth authentication is currently not supported.",
            ),
        );
    };
    let answer = shared
        .usage_answer(&token)
        .unwrap_or_else(|| UsageAnswer::from_mode(shared.account_for(&token).1, now_secs()));
    match answer {
        UsageAnswer::Body(body) => {
            record_simple(&shared, &method, &uri, &headers, 200);
            json_response(StatusCode::OK, &body)
        }
        UsageAnswer::RateLimited { retry_after_secs } => {
            record_simple(&shared, &method, &uri, &headers, 429);
            let mut response = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &error_json("rate_limit_error", "Rate limited. Please try again later."),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
    }
}
