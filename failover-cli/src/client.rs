//! [`Client`]: talks HTTP/1.1 to the daemon's control plane, over its unix socket (the
//! default) or over TCP with a bearer token.
//!
//! One connection per request: the control plane is local and requests are rare, so there is
//! no pool to manage. Connection failures become the errors a person can act on
//! ([`CliError::DaemonNotRunning`], [`CliError::PermissionDenied`]); HTTP error statuses become
//! [`CliError::UnknownAccount`], [`CliError::Refused`] and friends.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::{TcpStream, UnixStream};

use failover_daemon::http::dto::{self, ErrorDto};

use crate::error::CliError;

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a whole (non-streaming) answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the control plane listens.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    /// A unix socket (owner-only).
    Unix(PathBuf),
    /// A TCP address, which the daemon only serves with a bearer token.
    Tcp {
        /// `host:port`.
        addr: String,
        /// The bearer token.
        token: String,
    },
}

/// A client of the daemon's control plane.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    endpoint: Endpoint,
    /// The config file to name in "start the daemon" hints.
    config_hint: PathBuf,
}

impl Client {
    /// A client for `endpoint`; `config_hint` is named when the daemon is not running.
    pub(crate) fn new(endpoint: Endpoint, config_hint: PathBuf) -> Self {
        Self {
            endpoint,
            config_hint,
        }
    }

    /// `GET path`, decoding a JSON answer.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let body = self.request(Method::GET, path, None).await?;
        self.decode(&body)
    }

    /// `POST path` with an optional JSON body, decoding a JSON answer.
    pub(crate) async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CliError> {
        let body = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| CliError::Other(e.to_string()))?),
            None => None,
        };
        let answer = self.request(Method::POST, path, body).await?;
        self.decode(&answer)
    }

    /// The socket path or TCP address, for messages.
    fn endpoint_name(&self) -> String {
        match &self.endpoint {
            Endpoint::Unix(p) => p.display().to_string(),
            Endpoint::Tcp { addr, .. } => addr.clone(),
        }
    }

    /// Decodes the daemon's JSON; anything else means something other than the daemon
    /// answered.
    fn decode<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, CliError> {
        serde_json::from_slice(body).map_err(|e| CliError::NotADaemon {
            endpoint: self.endpoint_name(),
            detail: format!("its answer is not the daemon's JSON: {e}"),
        })
    }

    /// A failed exchange: an answer that is not HTTP (or that came unasked, as an SSH
    /// banner does) means something else listens there.
    fn exchange_error(&self, e: hyper::Error) -> CliError {
        let mut foreign = false;
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = cur {
            if let Some(h) = err.downcast_ref::<hyper::Error>() {
                foreign |= h.is_parse() || h.is_parse_status() || h.is_parse_too_large();
                // hyper has no predicate for "received unexpected message".
                foreign |= !h.is_canceled()
                    && !h.is_incomplete_message()
                    && !h.is_closed()
                    && !h.is_timeout()
                    && !h.is_body_write_aborted()
                    && h.to_string().contains("unexpected message");
            }
            cur = err.source();
        }
        if foreign {
            CliError::NotADaemon {
                endpoint: self.endpoint_name(),
                detail: format!("its answer is not HTTP: {}", root(&e)),
            }
        } else {
            transport(e)
        }
    }

    /// The response, or the error its status means; an error status without the daemon's
    /// JSON error body means something other than the daemon answered.
    async fn check(&self, resp: Response<Incoming>) -> Result<Response<Incoming>, CliError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        if serde_json::from_slice::<ErrorDto>(&body).is_err()
            && !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.trim().chars().take(80).collect();
            return Err(CliError::NotADaemon {
                endpoint: self.endpoint_name(),
                detail: format!("it answered {status} {text}").trim_end().to_owned(),
            });
        }
        Err(status_error(status, &body))
    }

    /// `GET path` as a server-sent event stream.
    pub(crate) async fn events(&self, path: &str) -> Result<EventStream, CliError> {
        let mut conn = self.connect().await?;
        let req = self.build(Method::GET, path, None, "text/event-stream")?;
        let resp = conn.send(self, req).await?;
        let resp = self.check(resp).await?;
        Ok(EventStream {
            body: resp.into_body(),
            buf: Vec::new(),
            _sender: conn.sender,
        })
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, CliError> {
        let fut = async {
            let mut conn = self.connect().await?;
            let req = self.build(method, path, body, "application/json")?;
            let resp = conn.send(self, req).await?;
            let resp = self.check(resp).await?;
            let collected = resp.into_body().collect().await.map_err(transport)?;
            Ok(collected.to_bytes())
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| {
                CliError::TimedOut(format!(
                    "the daemon did not answer {path} within {}s",
                    REQUEST_TIMEOUT.as_secs()
                ))
            })?
    }

    fn build(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        accept: &str,
    ) -> Result<Request<Full<Bytes>>, CliError> {
        let host = match &self.endpoint {
            Endpoint::Unix(_) => "localhost",
            Endpoint::Tcp { addr, .. } => addr.as_str(),
        };
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host)
            .header(header::ACCEPT, accept)
            .header(
                header::USER_AGENT,
                concat!("claude-failover/", env!("CARGO_PKG_VERSION")),
            );
        if let Endpoint::Tcp { token, .. } = &self.endpoint {
            b = b.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(bytes) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        b.body(body)
            .map_err(|e| CliError::Usage(format!("bad request path {path}: {e}")))
    }

    async fn connect(&self) -> Result<Conn, CliError> {
        match &self.endpoint {
            Endpoint::Unix(path) => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(path))
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))
                    .and_then(|r| r)
                    .map_err(|e| self.unix_connect_error(path, e))?;
                handshake(TokioIo::new(stream)).await
            }
            Endpoint::Tcp { addr, .. } => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))
                    .and_then(|r| r)
                    .map_err(|source| CliError::TcpUnreachable {
                        addr: addr.clone(),
                        source,
                    })?;
                handshake(TokioIo::new(stream)).await
            }
        }
    }

    fn unix_connect_error(&self, path: &std::path::Path, e: io::Error) -> CliError {
        connect_error(path, &self.config_hint, e)
    }
}

/// Maps a failed unix-socket connection to the error a person can act on: no socket, a
/// stale socket, a file or directory that is no socket, or no permission.
pub(crate) fn connect_error(
    socket: &std::path::Path,
    config: &std::path::Path,
    e: io::Error,
) -> CliError {
    use std::os::unix::fs::FileTypeExt;
    if e.kind() == io::ErrorKind::PermissionDenied {
        return CliError::PermissionDenied {
            socket: socket.to_path_buf(),
            source: e,
        };
    }
    let kind = std::fs::metadata(socket).map(|m| m.file_type());
    let not_a_socket = |what| CliError::NotASocket {
        socket: socket.to_path_buf(),
        what,
    };
    match kind {
        Ok(t) if t.is_dir() => not_a_socket("a directory"),
        Ok(t) if t.is_file() => not_a_socket("a regular file"),
        Ok(t) if !t.is_socket() => not_a_socket("not a socket (a device or pipe)"),
        Ok(_) if e.kind() == io::ErrorKind::ConnectionRefused => CliError::StaleSocket {
            socket: socket.to_path_buf(),
            config: config.to_path_buf(),
            source: e,
        },
        _ if matches!(
            e.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
        ) =>
        {
            CliError::DaemonNotRunning {
                socket: socket.to_path_buf(),
                config: config.to_path_buf(),
                source: e,
            }
        }
        _ => CliError::Transport(Box::new(e)),
    }
}

async fn handshake<T>(io: T) -> Result<Conn, CliError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(transport)?;
    let fate = tokio::spawn(async move {
        match conn.await {
            Ok(()) => None,
            Err(e) => {
                tracing::debug!(error = %e, "control connection ended");
                Some(e)
            }
        }
    });
    Ok(Conn { sender, fate })
}

/// One connection: the request side, and the task driving it (which ends with the
/// connection's own error, if any).
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    fate: tokio::task::JoinHandle<Option<hyper::Error>>,
}

impl Conn {
    /// Sends `req`. When the request was cancelled because the connection broke first (an
    /// SSH server's banner arrives before the request goes out), the connection's own error
    /// says why.
    async fn send(
        &mut self,
        client: &Client,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, CliError> {
        match self.sender.send_request(req).await {
            Ok(resp) => Ok(resp),
            Err(e) if e.is_canceled() => {
                let fate = tokio::time::timeout(Duration::from_millis(500), &mut self.fate).await;
                match fate {
                    Ok(Ok(Some(conn_err))) => Err(client.exchange_error(conn_err)),
                    _ => Err(client.exchange_error(e)),
                }
            }
            Err(e) => Err(client.exchange_error(e)),
        }
    }
}

/// The innermost cause of an error.
fn root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn transport(e: impl std::error::Error + Send + Sync + 'static) -> CliError {
    CliError::Transport(Box::new(e))
}

/// The error for an HTTP error status and its body (an [`ErrorDto`] from the daemon, or any
/// text from something else listening there).
pub(crate) fn status_error(status: StatusCode, body: &[u8]) -> CliError {
    let (code, message) = match serde_json::from_slice::<ErrorDto>(body) {
        Ok(dto) => (Some(dto.error.code), dto.error.message),
        Err(_) => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            let text = if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_ascii_lowercase()
            } else {
                text
            };
            (None, text)
        }
    };
    match (status, code.as_deref()) {
        (_, Some(dto::ERR_UNKNOWN_ACCOUNT)) => CliError::UnknownAccount { message },
        (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => CliError::Unauthorized { message },
        (
            _,
            Some(
                dto::ERR_ACCOUNT_UNUSABLE
                | dto::ERR_NO_USABLE_ACCOUNT
                | dto::ERR_SWAP_IN_PROGRESS
                | dto::ERR_NOT_RUNNING,
            ),
        )
        | (StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY, _) => {
            CliError::Refused { message }
        }
        _ => CliError::Protocol {
            status: status.as_u16(),
            message,
        },
    }
}

/// One server-sent event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub(crate) event: String,
    /// The `data:` lines joined by newlines.
    pub(crate) data: String,
    /// The `id:` field.
    pub(crate) id: Option<String>,
}

/// A stream of server-sent events from the daemon.
#[derive(Debug)]
pub(crate) struct EventStream {
    body: Incoming,
    buf: Vec<u8>,
    /// Keeps the connection's request side alive while the stream is read.
    _sender: SendRequest<Full<Bytes>>,
}

impl EventStream {
    /// The next event; `None` when the daemon closed the stream.
    pub(crate) async fn next(&mut self) -> Result<Option<SseEvent>, CliError> {
        loop {
            if let Some(ev) = take_event(&mut self.buf) {
                if ev.data.is_empty() && ev.event.is_empty() {
                    continue; // a comment-only block (keep-alive)
                }
                return Ok(Some(ev));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(transport(e)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

/// Removes one complete event (up to a blank line) from `buf` and parses it.
fn take_event(buf: &mut Vec<u8>) -> Option<SseEvent> {
    let text = std::str::from_utf8(buf).ok()?;
    let (end, sep) = [("\n\n", 2), ("\r\n\r\n", 4)]
        .iter()
        .filter_map(|(s, n)| text.find(s).map(|i| (i, *n)))
        .min()?;
    let block = text[..end].to_owned();
    buf.drain(..end + sep);
    let mut ev = SseEvent::default();
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => ev.event = value.to_owned(),
            "data" => data.push(value),
            "id" => ev.id = Some(value.to_owned()),
            _ => {}
        }
    }
    ev.data = data.join("\n");
    if ev.event.is_empty() && !ev.data.is_empty() {
        ev.event = "message".into();
    }
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_parse_in_pieces() {
        let mut buf =
            b"event: swap\ndata: {\"a\":1}\nid: 7\n\n: keep-alive\n\ndata: x\ndata: y\n\npartial"
                .to_vec();
        let ev = take_event(&mut buf).unwrap();
        assert_eq!(ev.event, "swap");
        assert_eq!(ev.data, "{\"a\":1}");
        assert_eq!(ev.id.as_deref(), Some("7"));
        let ev = take_event(&mut buf).unwrap();
        assert_eq!(ev, SseEvent::default());
        let ev = take_event(&mut buf).unwrap();
        assert_eq!((ev.event.as_str(), ev.data.as_str()), ("message", "x\ny"));
        assert!(take_event(&mut buf).is_none());
        assert_eq!(buf, b"partial");
    }

    #[test]
    fn statuses_map_to_actionable_errors() {
        let body = |code: &str, msg: &str| {
            serde_json::to_vec(&ErrorDto {
                error: dto::ErrorBody {
                    code: code.into(),
                    message: msg.into(),
                },
            })
            .unwrap()
        };
        let e = status_error(
            StatusCode::NOT_FOUND,
            &body(dto::ERR_UNKNOWN_ACCOUNT, "unknown account nope"),
        );
        assert!(
            matches!(e, CliError::UnknownAccount { ref message } if message == "unknown account nope")
        );
        let e = status_error(
            StatusCode::CONFLICT,
            &body(dto::ERR_SWAP_IN_PROGRESS, "a swap is already in progress"),
        );
        assert!(matches!(e, CliError::Refused { .. }));
        assert_eq!(e.exit_code(), crate::error::exit::REFUSED);
        let e = status_error(StatusCode::UNPROCESSABLE_ENTITY, b"no usable account");
        assert!(matches!(e, CliError::Refused { ref message } if message == "no usable account"));
        let e = status_error(
            StatusCode::NOT_FOUND,
            &body(dto::ERR_NOT_FOUND, "no such path"),
        );
        assert!(matches!(e, CliError::Protocol { status: 404, .. }));
        let e = status_error(StatusCode::UNAUTHORIZED, b"");
        assert_eq!(e.exit_code(), crate::error::exit::PERMISSION_DENIED);
    }

    #[test]
    fn connection_failures_map_to_actionable_errors() {
        let s = std::path::Path::new("/run/x.sock");
        let c = std::path::Path::new("/etc/c.toml");
        let e = connect_error(s, c, io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(e.exit_code(), crate::error::exit::PERMISSION_DENIED);
        assert!(e.to_string().contains("/run/x.sock"));
        let e = connect_error(s, c, io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(e.exit_code(), crate::error::exit::DAEMON_NOT_RUNNING);
        assert!(
            e.to_string()
                .contains("claude-failoverd --config /etc/c.toml")
        );
        let e = connect_error(s, c, io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.exit_code(), crate::error::exit::DAEMON_NOT_RUNNING);
    }
}
