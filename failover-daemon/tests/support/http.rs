//! A tiny HTTP/1.1 client over a unix socket or TCP, for the control-plane tests.

use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn send_on<S>(io: S, req: Request<Full<Bytes>>) -> Response<Incoming>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.unwrap()
}

fn request(method: &str, uri: &str, body: &str, auth: Option<&str>) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost");
    if !body.is_empty() {
        b = b.header("content-type", "application/json");
    }
    if let Some(token) = auth {
        b = b.header("authorization", format!("Bearer {token}"));
    }
    b.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

async fn finish(resp: Response<Incoming>) -> Reply {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub(crate) async fn unix(socket: &Path, method: &str, uri: &str, body: &str) -> Reply {
    let io = tokio::net::UnixStream::connect(socket).await.unwrap();
    finish(send_on(io, request(method, uri, body, None)).await).await
}

pub(crate) async fn tcp(
    addr: std::net::SocketAddr,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> Reply {
    let io = tokio::net::TcpStream::connect(addr).await.unwrap();
    finish(send_on(io, request(method, uri, "", token)).await).await
}

/// Opens `GET /v1/events` and returns the streaming response.
pub(crate) async fn events(socket: &Path) -> Response<Incoming> {
    let io = tokio::net::UnixStream::connect(socket).await.unwrap();
    send_on(io, request("GET", "/v1/events", "", None)).await
}

/// Reads SSE `data:` payloads from `resp` until `done` returns true for one of them.
pub(crate) async fn read_events_until(
    resp: &mut Response<Incoming>,
    mut done: impl FnMut(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    let mut buf = String::new();
    loop {
        let frame = resp
            .body_mut()
            .frame()
            .await
            .expect("the event stream ended")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.push_str(&String::from_utf8_lossy(&data));
        }
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(json) = line.strip_prefix("data:") {
                    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
                    let stop = done(&v);
                    seen.push(v);
                    if stop {
                        return seen;
                    }
                }
            }
        }
    }
}
