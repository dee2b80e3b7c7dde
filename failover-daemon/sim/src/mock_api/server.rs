//! The axum routes of the mock API.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::mode::{ClaimWindow, Mode};
use super::reply::{
    ack_text, ends_with_tool_result, error_json, last_user_text, limit_quotes, message_json,
    offers_tool, print_limits_command, prompt_text, sse_frames, sse_tool_frames, tool_message_json,
};
use super::{RecordedRequest, Shared, now_ms, now_secs};

type AppState = Arc<Shared>;

/// Serves the mock until `shutdown` completes.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/api/hello", get(hello).head(hello))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/_mock/accounts", get(list_accounts))
        .route("/_mock/accounts/{account}/mode", post(set_mode))
        .route("/_mock/requests", get(list_requests))
        .route("/api/oauth/usage", get(super::usage::oauth_usage))
        .fallback(unknown)
        .with_state(shared);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// What a request carried that the recorder keeps.
struct Caller {
    token: Option<String>,
    session_id: Option<String>,
}

fn caller(headers: &HeaderMap) -> Caller {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim().to_owned());
    let session_id = headers
        .get("x-claude-code-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Caller {
        token: bearer.or(api_key).filter(|t| !t.is_empty()),
        session_id,
    }
}

/// The token a request carried (bearer or `x-api-key`), if any.
pub(super) fn caller_token(headers: &HeaderMap) -> Option<String> {
    caller(headers).token
}

pub(super) fn record_simple(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    status: u16,
) {
    let c = caller(headers);
    let account = c.token.as_deref().map(|t| shared.account_for(t).0);
    shared.record(RecordedRequest {
        seq: 0,
        at_ms: now_ms(),
        method: method.to_string(),
        path: uri.to_string(),
        token: c.token,
        account,
        session_id: c.session_id,
        status,
        last_user_text: None,
        model: None,
        message_count: None,
        seen: Vec::new(),
    });
}

async fn hello(
    State(shared): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> StatusCode {
    record_simple(&shared, &method, &uri, &headers, 200);
    StatusCode::OK
}

async fn unknown(
    State(shared): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    tracing::info!(%method, %uri, "mock API: unknown path");
    record_simple(&shared, &method, &uri, &headers, 404);
    json_response(
        StatusCode::NOT_FOUND,
        &error_json("not_found_error", "Not found"),
    )
}

async fn count_tokens(
    State(shared): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record_simple(&shared, &method, &uri, &headers, 200);
    let tokens = (body.len() as u64).div_ceil(4);
    json_response(
        StatusCode::OK,
        &serde_json::json!({ "input_tokens": tokens }),
    )
}

async fn list_accounts(State(shared): State<AppState>) -> Response {
    let views: Vec<super::AccountView> = shared
        .lock_accounts()
        .values()
        .map(|e| super::AccountView {
            name: e.name.clone(),
            mode: e.mode,
        })
        .collect();
    json_response(StatusCode::OK, &serde_json::json!(views))
}

async fn list_requests(State(shared): State<AppState>) -> Response {
    let requests = shared.lock_requests().clone();
    json_response(StatusCode::OK, &serde_json::json!(requests))
}

/// Parses a control-route mode body; `resets_in_secs` stands for `resets_at = now + secs`.
fn parse_mode(body: &[u8], now: u64) -> Result<Mode, String> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if let Some(obj) = value.as_object_mut() {
        if let Some(secs) = obj.remove("resets_in_secs") {
            let secs = secs
                .as_u64()
                .ok_or("resets_in_secs must be a non-negative integer")?;
            obj.insert("resets_at".into(), Value::from(now + secs));
        }
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

async fn set_mode(
    State(shared): State<AppState>,
    Path(account): Path<String>,
    body: Bytes,
) -> Response {
    match parse_mode(&body, now_secs()) {
        Ok(mode) => {
            tracing::info!(account, ?mode, "mock API: mode set");
            shared.set_mode(&account, mode);
            json_response(StatusCode::OK, &serde_json::json!(mode))
        }
        Err(e) => json_response(
            StatusCode::BAD_REQUEST,
            &error_json("invalid_request_error", &format!("bad mode: {e}")),
        ),
    }
}

async fn messages(
    State(shared): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let c = caller(&headers);
    let now = now_secs();
    let (account, mode) = match c.token.as_deref() {
        Some(t) => {
            let (name, mode) = shared.account_for(t);
            (Some(name), mode.effective(now))
        }
        None => (None, Mode::Unauthorized),
    };
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let seen = shared.seen_in(&body);
    let last_text = parsed.as_ref().and_then(last_user_text);
    let model = parsed
        .as_ref()
        .and_then(|b| b.get("model"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let message_count = parsed
        .as_ref()
        .and_then(|b| b.get("messages"))
        .and_then(Value::as_array)
        .map(Vec::len);
    let stream = parsed
        .as_ref()
        .and_then(|b| b.get("stream"))
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let response = match (&parsed, mode) {
        (None, _) => json_response(
            StatusCode::BAD_REQUEST,
            &error_json("invalid_request_error", "request body is not JSON"),
        ),
        (
            Some(request),
            Mode::Normal
            | Mode::Usage { .. }
            | Mode::NearLimit { .. }
            | Mode::ExtraUsage { .. }
            | Mode::QuoteLimits
            | Mode::PrintLimits { .. },
        ) => {
            let (mut delay, chunk) = delays(&shared);
            let answer = answer(mode, request, last_text.as_deref());
            if let (Mode::PrintLimits { hold_answer_secs }, Answer::Text(_)) = (mode, &answer) {
                if ends_with_tool_result(request) {
                    delay = delay.max(Duration::from_secs(hold_answer_secs));
                }
            }
            let mut r = success(
                &shared,
                model.as_deref(),
                answer,
                stream,
                body.len(),
                delay,
                chunk,
            )
            .await;
            usage_headers(r.headers_mut(), mode, now);
            r
        }
        (Some(_), Mode::QuotaExhausted { window, resets_at }) => {
            let mut r = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &error_json(
                    "rate_limit_error",
                    "This request would exceed your account's rate limit. Please try again later.",
                ),
            );
            exhausted_headers(r.headers_mut(), window, resets_at, now);
            r
        }
        (Some(_), Mode::ServerError) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &error_json("api_error", "Internal server error"),
        ),
        (Some(_), Mode::Overloaded) => json_response(
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            &error_json("overloaded_error", "Overloaded"),
        ),
        (Some(_), Mode::Throttled { retry_after_secs }) => {
            let mut r = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &error_json(
                    "rate_limit_error",
                    "Number of request tokens has exceeded your per-minute rate limit",
                ),
            );
            insert(
                r.headers_mut(),
                "retry-after",
                &retry_after_secs.to_string(),
            );
            r
        }
        (Some(_), Mode::Unauthorized) => json_response(
            StatusCode::UNAUTHORIZED,
            &error_json(
                "authentication_error",
                "OAuth token has expired. Please obtain a new token or refresh your existing token.",
            ),
        ),
    };
    shared.record(RecordedRequest {
        seq: 0,
        at_ms: now_ms(),
        method: "POST".into(),
        path: uri.to_string(),
        token: c.token,
        account,
        session_id: c.session_id,
        status: response.status().as_u16(),
        last_user_text: last_text,
        model,
        message_count,
        seen,
    });
    response
}

/// What a successful request is answered with.
enum Answer {
    /// A text reply.
    Text(String),
    /// A call of the `Bash` tool with this command.
    Bash(String),
}

/// The answer in `mode` to `request`, whose last user text is `last_text`.
fn answer(mode: Mode, request: &Value, last_text: Option<&str>) -> Answer {
    let ack = || ack_text(last_text.unwrap_or(""));
    match mode {
        Mode::QuoteLimits if offers_tool(request, None) => {
            Answer::Text(limit_quotes(last_text.unwrap_or("")))
        }
        Mode::PrintLimits { .. } if offers_tool(request, Some("Bash")) => {
            if ends_with_tool_result(request) {
                Answer::Text(ack_text(prompt_text(request).as_deref().unwrap_or("")))
            } else {
                Answer::Bash(print_limits_command())
            }
        }
        _ => Answer::Text(ack()),
    }
}

fn delays(shared: &Shared) -> (Duration, Duration) {
    *shared.delays.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A 200 answer, streamed as SSE or as one JSON message.
async fn success(
    shared: &Shared,
    model: Option<&str>,
    answer: Answer,
    stream: bool,
    body_len: usize,
    reply_delay: Duration,
    chunk_delay: Duration,
) -> Response {
    if !reply_delay.is_zero() {
        tokio::time::sleep(reply_delay).await;
    }
    let n = shared.lock_requests().len();
    let id = format!("msg_mock_{n:06}");
    let model = model.unwrap_or("claude-mock");
    let input_tokens = (body_len as u64).div_ceil(4);
    let tool_id = format!("toolu_mock_{n:06}");
    let bash_input =
        |cmd: &str| serde_json::json!({"command": cmd, "description": "Print the limit messages"});
    let mut response = if stream {
        let frames = match &answer {
            Answer::Text(text) => sse_frames(&id, model, text, input_tokens),
            Answer::Bash(cmd) => {
                sse_tool_frames(&id, model, &tool_id, "Bash", &bash_input(cmd), input_tokens)
            }
        };
        let body_stream = futures_util::stream::unfold(
            (frames.into_iter(), true),
            move |(mut it, first)| async move {
                let frame = it.next()?;
                if !first && !chunk_delay.is_zero() {
                    tokio::time::sleep(chunk_delay).await;
                }
                Some((Ok::<_, Infallible>(Bytes::from(frame)), (it, false)))
            },
        );
        let mut r = Response::new(Body::from_stream(body_stream));
        insert(r.headers_mut(), "content-type", "text/event-stream");
        insert(r.headers_mut(), "cache-control", "no-cache");
        r
    } else {
        let message = match &answer {
            Answer::Text(text) => message_json(&id, model, text, input_tokens),
            Answer::Bash(cmd) => {
                tool_message_json(&id, model, &tool_id, "Bash", &bash_input(cmd), input_tokens)
            }
        };
        json_response(StatusCode::OK, &message)
    };
    insert(
        response.headers_mut(),
        "request-id",
        &format!("req_mock_{n:06}"),
    );
    response
}

fn window_headers(h: &mut HeaderMap, prefix: &str, status: &str, utilization: f64, resets_at: u64) {
    insert(
        h,
        &format!("anthropic-ratelimit-unified-{prefix}-status"),
        status,
    );
    insert(
        h,
        &format!("anthropic-ratelimit-unified-{prefix}-utilization"),
        &utilization.to_string(),
    );
    insert(
        h,
        &format!("anthropic-ratelimit-unified-{prefix}-reset"),
        &resets_at.to_string(),
    );
}

/// The unified rate-limit headers of a successful answer in `mode`.
fn usage_headers(h: &mut HeaderMap, mode: Mode, now: u64) {
    match mode {
        Mode::Usage {
            window,
            utilization,
            resets_at,
        } => {
            insert(h, "anthropic-ratelimit-unified-status", "allowed");
            if let Some(p) = window.header_prefix() {
                window_headers(h, p, "allowed", utilization, resets_at);
            }
        }
        Mode::NearLimit {
            window,
            utilization,
            resets_at,
        } => {
            insert(h, "anthropic-ratelimit-unified-status", "allowed_warning");
            insert(
                h,
                "anthropic-ratelimit-unified-reset",
                &resets_at.to_string(),
            );
            insert(
                h,
                "anthropic-ratelimit-unified-representative-claim",
                window.claim(),
            );
            if let Some(p) = window.header_prefix() {
                window_headers(h, p, "allowed_warning", utilization, resets_at);
                insert(
                    h,
                    &format!("anthropic-ratelimit-unified-{p}-surpassed-threshold"),
                    &utilization.to_string(),
                );
            }
        }
        Mode::ExtraUsage { window, resets_at } => {
            // The window is spent; extra usage carries the request.
            exhausted_headers(h, window, resets_at, now);
            // An answer that went through: nothing to retry.
            h.remove("retry-after");
            insert(h, "anthropic-ratelimit-unified-overage-status", "allowed");
        }
        _ => {
            insert(h, "anthropic-ratelimit-unified-status", "allowed");
            window_headers(h, "5h", "allowed", 0.1, now + 5 * 3600);
            window_headers(h, "7d", "allowed", 0.05, now + 7 * 24 * 3600);
        }
    }
}

fn exhausted_headers(h: &mut HeaderMap, window: ClaimWindow, resets_at: u64, now: u64) {
    insert(h, "anthropic-ratelimit-unified-status", "rejected");
    insert(
        h,
        "anthropic-ratelimit-unified-reset",
        &resets_at.to_string(),
    );
    insert(
        h,
        "anthropic-ratelimit-unified-representative-claim",
        window.claim(),
    );
    if let Some(p) = window.header_prefix() {
        window_headers(h, p, "rejected", 1.0, resets_at);
    }
    insert(h, "retry-after", &resets_at.saturating_sub(now).to_string());
}

fn insert(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        header::HeaderName::try_from(name),
        HeaderValue::from_str(value),
    ) {
        h.insert(name, value);
    }
}

pub(super) fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut r = (status, value.to_string()).into_response();
    insert(r.headers_mut(), "content-type", "application/json");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_in_secs_becomes_absolute() {
        let m = parse_mode(
            br#"{"mode":"quota_exhausted","window":"five_hour","resets_in_secs":30}"#,
            1000,
        )
        .unwrap();
        assert_eq!(
            m,
            Mode::QuotaExhausted {
                window: ClaimWindow::FiveHour,
                resets_at: 1030
            }
        );
        assert!(parse_mode(b"{\"mode\":\"nope\"}", 0).is_err());
        assert!(parse_mode(b"not json", 0).is_err());
    }
}
