//! A small HTTP/1.1 client for the daemon's control socket: `GET /v1/status`, the
//! `GET /v1/events` server-sent-event stream, and commands.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use failover_daemon::http::dto::{EventDto, StatusDto};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

/// One request on a fresh connection; `None` when the daemon does not answer.
pub(crate) async fn request(
    socket: &Path,
    method: &str,
    uri: &str,
    body: &str,
) -> Option<(u16, String)> {
    let io = tokio::net::UnixStream::connect(socket).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .ok()?;
    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .ok()?
        .ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// `GET /v1/status`, or `None` while the daemon is not answering.
pub(crate) async fn status(socket: &Path) -> Option<StatusDto> {
    let (code, body) = request(socket, "GET", "/v1/status", "").await?;
    (code == 200).then(|| serde_json::from_str(&body).ok())?
}

/// An event as collected, tagged with the daemon run it came from (0 for the first run,
/// 1 after the first restart, ...), since `seq` starts again at 1 in every run.
#[derive(Clone, Debug)]
pub(crate) struct Collected {
    /// Which daemon run streamed it.
    pub(crate) run: u32,
    /// The event.
    pub(crate) event: EventDto,
}

/// Follows `GET /v1/events` into a shared list, reconnecting whenever the daemon goes away
/// (a restarted daemon is a new run).
#[derive(Debug)]
pub(crate) struct EventLog {
    events: Arc<Mutex<Vec<Collected>>>,
    task: JoinHandle<()>,
}

impl EventLog {
    /// Starts following the daemon on `socket`.
    pub(crate) fn follow(socket: PathBuf) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let task = tokio::spawn(async move {
            let mut run = 0u32;
            let mut last_pid = None;
            loop {
                if let Some(pid) = status(&socket).await.map(|s| s.daemon.pid) {
                    if last_pid.is_some_and(|p| p != pid) {
                        run += 1;
                    }
                    last_pid = Some(pid);
                    stream_once(&socket, run, &sink).await;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Self { events, task }
    }

    /// Everything collected so far.
    pub(crate) fn all(&self) -> Vec<Collected> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one SSE connection until it ends.
async fn stream_once(socket: &Path, run: u32, sink: &Mutex<Vec<Collected>>) {
    let Ok(io) = tokio::net::UnixStream::connect(socket).await else {
        return;
    };
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await
    else {
        return;
    };
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let Ok(req) = Request::builder()
        .uri("/v1/events")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
    else {
        return;
    };
    let Ok(resp) = sender.send_request(req).await else {
        return;
    };
    let mut body = resp.into_body();
    let mut buf = String::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(json) = line.strip_prefix("data:") {
                    if let Ok(event) = serde_json::from_str::<EventDto>(json.trim_start()) {
                        sink.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(Collected { run, event });
                    }
                }
            }
        }
    }
}
