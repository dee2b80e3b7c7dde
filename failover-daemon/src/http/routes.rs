//! The routes of the control plane and the bearer-token check of the TCP listener.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use failover_core::{AccountId, Command, CommandReply};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::CancellationToken;

use super::convert::{command_parts, error_dto, event_dto, refusal_status};
use super::dto::*;
use crate::handle::{CommandError, DaemonHandle};

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The daemon.
    pub handle: DaemonHandle,
    /// Ends event streams at shutdown (so graceful shutdown does not wait for them).
    pub shutdown: CancellationToken,
}

/// The routes, without authentication (the unix socket is owner-only).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/events", get(events))
        .route("/v1/swap", post(swap))
        .route("/v1/pause", post(pause))
        .route("/v1/resume", post(resume))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

/// The routes behind a bearer-token check, for the TCP listener.
pub fn tcp_router(state: AppState, token: String) -> Router {
    router(state).layer(middleware::from_fn_with_state(
        std::sync::Arc::new(token),
        require_bearer,
    ))
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(error_dto(code, message))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, ERR_NOT_FOUND, "no such endpoint")
}

async fn require_bearer(
    State(token): State<std::sync::Arc<String>>,
    req: Request,
    next: Next,
) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => next.run(req).await,
        _ => {
            let mut resp = error(
                StatusCode::UNAUTHORIZED,
                ERR_UNAUTHORIZED,
                "a valid 'Authorization: Bearer <token>' header is required",
            );
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            resp
        }
    }
}

/// Compares in time independent of where the inputs differ (the length is not secret).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn status(State(s): State<AppState>) -> Json<StatusDto> {
    let mut dto = s.handle.status();
    let handle = s.handle.clone();
    dto.setting_differences = tokio::task::spawn_blocking(move || handle.setting_differences())
        .await
        .unwrap_or_default();
    Json(dto)
}

async fn metrics(State(s): State<AppState>) -> Response {
    let p = s.handle.published();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.handle.metrics().render(&p.snapshot),
    )
        .into_response()
}

async fn events(State(s): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.handle.subscribe();
    let clock = s.handle.clock();
    let stream = BroadcastStream::new(rx)
        .filter_map(move |item| {
            let dto = match item {
                Ok(ev) => event_dto(&ev),
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    let now = clock.now();
                    Some(EventDto {
                        seq: 0,
                        at: now.to_string(),
                        at_ms: now.0,
                        event: EventKindDto::Lagged { missed },
                    })
                }
            };
            std::future::ready(dto.map(|d| {
                let data = serde_json::to_string(&d).unwrap_or_else(|_| "{}".into());
                let mut ev = Event::default().event("decision").data(data);
                if d.seq > 0 {
                    ev = ev.id(d.seq.to_string());
                }
                Ok(ev)
            }))
        })
        .take_until(s.shutdown.clone().cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn swap(State(s): State<AppState>, body: Bytes) -> Response {
    let req: SwapRequestDto = if body.iter().all(u8::is_ascii_whitespace) {
        SwapRequestDto::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    ERR_BAD_REQUEST,
                    format!("the body must be {{}} or {{\"to\":\"<account>\"}}: {e}"),
                );
            }
        }
    };
    let command = match req.to {
        Some(to) => Command::SwapTo(AccountId::new(to)),
        None => Command::SwapNow,
    };
    run_command(&s, command, StatusCode::ACCEPTED).await
}

async fn pause(State(s): State<AppState>) -> Response {
    run_command(&s, Command::Pause, StatusCode::OK).await
}

async fn resume(State(s): State<AppState>) -> Response {
    run_command(&s, Command::Resume, StatusCode::OK).await
}

async fn run_command(s: &AppState, command: Command, ok: StatusCode) -> Response {
    let (name, to) = command_parts(&command);
    match s.handle.command(command).await {
        Ok(CommandReply::Accepted) => (
            ok,
            Json(CommandResponseDto {
                accepted: true,
                command: name.to_owned(),
                to,
            }),
        )
            .into_response(),
        Ok(CommandReply::Refused(r)) => {
            let (status, code) = refusal_status(&r);
            error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::CONFLICT),
                code,
                r.to_string(),
            )
        }
        Err(e @ CommandError::Unavailable) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            ERR_UNAVAILABLE,
            e.to_string(),
        ),
        Err(e @ CommandError::Timeout(_)) => {
            error(StatusCode::GATEWAY_TIMEOUT, ERR_TIMEOUT, e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
