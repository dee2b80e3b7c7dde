//! A mock of the Anthropic Messages API, close enough to the real one that the real Claude
//! Code CLI runs against it offline.
//!
//! Start it in-process with [`MockApi::start`]; point a CLI at it with
//! `ANTHROPIC_BASE_URL=<MockApi::base_url>`. Accounts are told apart by their token
//! (`Authorization: Bearer <accessToken>`, or `x-api-key`); each account has a [`Mode`]
//! that can be switched live, in-process with [`MockApi::set_mode`] or over HTTP:
//!
//! | Route | What it does |
//! |---|---|
//! | `HEAD/GET /api/hello` | 200, the CLI's connectivity probe |
//! | `POST /v1/messages[?beta=true]` | answers by the account's mode (SSE when `"stream":true`) |
//! | `POST /v1/messages/count_tokens` | `{"input_tokens":n}` |
//! | `POST /_mock/accounts/<token-or-name>/mode` | body: a [`Mode`] as JSON; `resets_in_secs` may replace `resets_at` |
//! | `GET /_mock/accounts` | every known account and its mode |
//! | `GET /_mock/requests` | every request served so far ([`RecordedRequest`]) |
//! | `GET /api/oauth/usage` | the account's [`UsageAnswer`] (set with [`MockApi::set_usage`], else [`UsageAnswer::from_mode`]); 401 without `anthropic-beta: oauth-2025-04-20` |
//! | anything else | logged, recorded, answered 404 with an API error body |
//!
//! A token the mock has never heard of is served in [`Mode::Normal`] and registered under
//! its own token as name.
//!
//! ```
//! use failover_sim::mock_api::{ClaimWindow, MockAccount, MockApi, MockApiConfig, Mode};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let api = MockApi::start(MockApiConfig::local(vec![MockAccount::new("tok-a", "alice")])).await?;
//! // Start `claude` with ANTHROPIC_BASE_URL=<api.base_url()> on alice's account, then:
//! api.set_mode(
//!     "alice",
//!     Mode::QuotaExhausted { window: ClaimWindow::FiveHour, resets_at: 1_900_000_000 },
//! );
//! let reply = reqwest::Client::new()
//!     .post(format!("{}/v1/messages?beta=true", api.base_url()))
//!     .bearer_auth("tok-a")
//!     .json(&serde_json::json!({"messages": [{"role": "user", "content": "hi"}]}))
//!     .send()
//!     .await?;
//! assert_eq!(reply.status().as_u16(), 429);
//! assert_eq!(api.requests()[0].account.as_deref(), Some("alice"));
//! api.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod mode;
mod reply;
mod server;
mod usage;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use mode::{ClaimWindow, Mode};
pub use reply::{
    CONTINUATION_PROMPT, ECHO_CHARS, LIMIT_QUOTES, ack_text, last_user_text, limit_quotes,
    print_limits_command,
};
pub use usage::UsageAnswer;

/// Errors of the mock API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockApiError {
    /// The listening socket could not be bound.
    #[error("cannot bind the mock API to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An account list entry was not `token=name`.
    #[error("bad account entry {entry:?}: expected TOKEN=NAME")]
    BadAccount {
        /// The entry as given.
        entry: String,
    },
    /// Waiting for a request timed out.
    #[error("no matching request reached the mock API within {0:?}")]
    WaitTimedOut(Duration),
    /// The server task failed.
    #[error("the mock API server failed: {0}")]
    Server(#[source] std::io::Error),
}

/// One account the mock knows in advance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockAccount {
    /// The bearer token (the `accessToken` of the account's `.credentials.json`).
    pub token: String,
    /// A name for people and for the control routes.
    pub name: String,
}

impl MockAccount {
    /// An account with this token and name.
    pub fn new(token: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            name: name.into(),
        }
    }

    /// Parses `tok1=name1,tok2=name2` (the `--accounts` flag of the mock binary).
    pub fn parse_list(list: &str) -> Result<Vec<Self>, MockApiError> {
        list.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| match entry.split_once('=') {
                Some((t, n)) if !t.is_empty() && !n.is_empty() => Ok(Self::new(t, n)),
                _ => Err(MockApiError::BadAccount {
                    entry: entry.to_owned(),
                }),
            })
            .collect()
    }
}

/// How to start a [`MockApi`].
#[derive(Debug, Clone)]
pub struct MockApiConfig {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Accounts known from the start (all in [`Mode::Normal`]).
    pub accounts: Vec<MockAccount>,
    /// Pause before the first byte of every `/v1/messages` answer, so a client is seen
    /// "working" for a while.
    pub reply_delay: Duration,
    /// Pause between SSE events of a streamed reply.
    pub chunk_delay: Duration,
}

impl MockApiConfig {
    /// Listens on `127.0.0.1:0`, with these accounts, replying without delay.
    pub fn local(accounts: Vec<MockAccount>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            accounts,
            reply_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
        }
    }
}

/// One request the mock served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Order of arrival, from 0.
    pub seq: u64,
    /// Arrival, Unix milliseconds.
    pub at_ms: u64,
    /// HTTP method.
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// The token sent (bearer or `x-api-key`), if any.
    pub token: Option<String>,
    /// The account name the token maps to, if any token was sent.
    pub account: Option<String>,
    /// The `X-Claude-Code-Session-Id` header, if sent.
    pub session_id: Option<String>,
    /// The status the mock answered with.
    pub status: u16,
    /// For message requests: the last user text (see [`last_user_text`]).
    pub last_user_text: Option<String>,
    /// For message requests: the model asked for.
    pub model: Option<String>,
    /// For message requests: how many messages the conversation held (history length).
    pub message_count: Option<usize>,
    /// The texts given to [`MockApi::watch_for`] that appear anywhere in the request body
    /// (system prompt, memory, tools, messages).
    #[serde(default)]
    pub seen: Vec<String>,
}

/// An account as the mock currently sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    /// The name.
    pub name: String,
    /// The mode as set (an exhausted mode past its reset still shows here).
    pub mode: Mode,
}

#[derive(Debug)]
struct AccountEntry {
    name: String,
    mode: Mode,
}

#[derive(Debug)]
struct Shared {
    /// token → entry
    accounts: Mutex<BTreeMap<String, AccountEntry>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Number of recorded requests; tests wait on it.
    served: watch::Sender<u64>,
    delays: Mutex<(Duration, Duration)>,
    /// Texts to look for in request bodies (see [`RecordedRequest::seen`]).
    watched: Mutex<Vec<String>>,
    /// token → what the OAuth usage endpoint answers.
    usage: Mutex<BTreeMap<String, UsageAnswer>>,
}

impl Shared {
    fn lock_accounts(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AccountEntry>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The watched texts found in `body` (as sent, or with JSON string escaping).
    fn seen_in(&self, body: &[u8]) -> Vec<String> {
        let body = String::from_utf8_lossy(body);
        self.watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|t| {
                let escaped = serde_json::to_string(t.as_str()).unwrap_or_default();
                body.contains(t.as_str()) || body.contains(escaped.trim_matches('"'))
            })
            .cloned()
            .collect()
    }

    fn lock_requests(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token for a token-or-name; an unknown identifier becomes a new token.
    fn resolve(&self, id: &str) -> String {
        let accounts = self.lock_accounts();
        if accounts.contains_key(id) {
            return id.to_owned();
        }
        accounts
            .iter()
            .find(|(_, e)| e.name == id)
            .map_or_else(|| id.to_owned(), |(t, _)| t.clone())
    }

    fn set_mode(&self, id: &str, mode: Mode) {
        let token = self.resolve(id);
        let mut accounts = self.lock_accounts();
        accounts
            .entry(token.clone())
            .or_insert_with(|| AccountEntry {
                name: token,
                mode: Mode::Normal,
            })
            .mode = mode;
    }

    /// Name and mode for a token, registering unknown tokens in [`Mode::Normal`].
    fn account_for(&self, token: &str) -> (String, Mode) {
        let mut accounts = self.lock_accounts();
        let entry = accounts
            .entry(token.to_owned())
            .or_insert_with(|| AccountEntry {
                name: token.to_owned(),
                mode: Mode::Normal,
            });
        (entry.name.clone(), entry.mode)
    }

    fn usage_answer(&self, token: &str) -> Option<UsageAnswer> {
        self.usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    fn record(&self, mut req: RecordedRequest) {
        let mut requests = self.lock_requests();
        req.seq = requests.len() as u64;
        requests.push(req);
        let n = requests.len() as u64;
        drop(requests);
        self.served.send_replace(n);
    }
}

/// A running mock API. Dropping it stops the server too (as [`MockApi::shutdown`] does,
/// without waiting).
#[derive(Debug)]
pub struct MockApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl MockApi {
    /// Binds and starts serving in the background (needs a Tokio runtime).
    pub async fn start(config: MockApiConfig) -> Result<Self, MockApiError> {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| MockApiError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| MockApiError::Bind {
            addr: config.addr,
            source,
        })?;
        let accounts = config
            .accounts
            .into_iter()
            .map(|a| {
                (
                    a.token,
                    AccountEntry {
                        name: a.name,
                        mode: Mode::Normal,
                    },
                )
            })
            .collect();
        let shared = Arc::new(Shared {
            accounts: Mutex::new(accounts),
            requests: Mutex::new(Vec::new()),
            served: watch::channel(0).0,
            delays: Mutex::new((config.reply_delay, config.chunk_delay)),
            watched: Mutex::new(Vec::new()),
            usage: Mutex::new(BTreeMap::new()),
        });
        let cancel = CancellationToken::new();
        let task = tokio::spawn(server::serve(
            listener,
            Arc::clone(&shared),
            cancel.clone().cancelled_owned(),
        ));
        tracing::info!(%addr, "mock Anthropic API listening");
        Ok(Self {
            addr,
            shared,
            cancel,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, the value for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches an account (by token or name) to `mode`, from the next request on.
    pub fn set_mode(&self, account: &str, mode: Mode) {
        self.shared.set_mode(account, mode);
    }

    /// The mode an account (token or name) is set to; `None` for an unknown account.
    pub fn mode(&self, account: &str) -> Option<Mode> {
        let token = self.shared.resolve(account);
        self.shared.lock_accounts().get(&token).map(|e| e.mode)
    }

    /// What `GET /api/oauth/usage` answers for an account (token or name) from now on.
    pub fn set_usage(&self, account: &str, answer: UsageAnswer) {
        let token = self.shared.resolve(account);
        self.shared
            .usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, answer);
    }

    /// Every known account by name, with its mode.
    pub fn accounts(&self) -> Vec<AccountView> {
        self.shared
            .lock_accounts()
            .values()
            .map(|e| AccountView {
                name: e.name.clone(),
                mode: e.mode,
            })
            .collect()
    }

    /// Changes the pause before each reply and between SSE events.
    pub fn set_delays(&self, reply_delay: Duration, chunk_delay: Duration) {
        *self
            .shared
            .delays
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (reply_delay, chunk_delay);
    }

    /// From now on, notes in each recorded request whether `text` appears anywhere in its
    /// body ([`RecordedRequest::seen`]); bodies themselves are not kept.
    pub fn watch_for(&self, text: impl Into<String>) {
        self.shared
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(text.into());
    }

    /// Every request served so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock_requests().clone()
    }

    /// Waits until a recorded request satisfies `pred` (checking those already recorded
    /// first) and returns it, or fails after `timeout`.
    pub async fn wait_for_request(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&RecordedRequest) -> bool,
    ) -> Result<RecordedRequest, MockApiError> {
        let mut rx = self.shared.served.subscribe();
        let search = async {
            let mut checked = 0usize;
            loop {
                {
                    let requests = self.shared.lock_requests();
                    if let Some(found) = requests[checked..].iter().find(|r| pred(r)) {
                        return Some(found.clone());
                    }
                    checked = requests.len();
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        match tokio::time::timeout(timeout, search).await {
            Ok(Some(found)) => Ok(found),
            _ => Err(MockApiError::WaitTimedOut(timeout)),
        }
    }

    /// Stops accepting connections, lets in-flight answers finish, and waits for the server.
    pub async fn shutdown(mut self) -> Result<(), MockApiError> {
        self.cancel.cancel();
        match self.task.take() {
            Some(task) => match task.await {
                Ok(result) => result.map_err(MockApiError::Server),
                Err(join) => Err(MockApiError::Server(std::io::Error::other(join))),
            },
            None => Ok(()),
        }
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now_secs() -> u64 {
    now_ms() / 1000
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_account_list() {
        let list = MockAccount::parse_list("t1=a, t2=b").unwrap();
        assert_eq!(
            list,
            vec![MockAccount::new("t1", "a"), MockAccount::new("t2", "b")]
        );
        assert!(MockAccount::parse_list("t1").is_err());
        assert!(MockAccount::parse_list("=x").is_err());
    }
}
