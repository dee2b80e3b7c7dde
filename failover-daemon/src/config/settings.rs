//! The resolved types the daemon runs with: every path expanded, every default applied,
//! every value checked.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use failover_core::EngineConfig;

/// Which tmux server sessions run on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TmuxTarget {
    /// `tmux -L <name>`.
    Socket(String),
    /// `tmux -S <path>`.
    Path(PathBuf),
}

/// How Claude Code is started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaudeSettings {
    /// argv prefix; `--resume <id>` and the like are appended.
    pub command: Vec<String>,
    /// Extra environment for every session.
    pub env: BTreeMap<String, String>,
    /// The shared `projects/` tree.
    pub shared_projects: PathBuf,
    /// The person's entries (`CLAUDE.md`, `commands`, ...) kept once under
    /// `<state_dir>/person/` and linked from every account's config dir; never one that
    /// holds credentials, identity or per-account state (refused when loading).
    pub share: Vec<String>,
    /// Whether the preferred account's `settings.json` is carried to the others at start
    /// (each keeps its own `statusLine`).
    pub sync_settings: bool,
}

/// The control plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlSettings {
    /// The unix socket.
    pub socket: PathBuf,
    /// The optional TCP listener.
    pub tcp: Option<TcpSettings>,
}

/// A TCP listener; always has a token file (the config refuses TCP without one), and a
/// non-loopback address only with `allow_remote`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSettings {
    /// Listen address.
    pub addr: SocketAddr,
    /// The bearer token file.
    pub token_file: PathBuf,
    /// A non-loopback address was explicitly allowed.
    pub allow_remote: bool,
    /// Connections beyond this many are closed at once.
    pub max_connections: usize,
    /// A connection that has not sent a request's headers within this time is closed.
    pub header_timeout: Duration,
}

/// Telegram Bot API settings. The token is read when the notifier is built.
#[derive(Clone, PartialEq, Eq)]
pub struct TelegramSettings {
    /// Where the bot token comes from.
    pub token: SecretSource,
    /// The chat to post to.
    pub chat_id: String,
    /// The Bot API base URL (default `https://api.telegram.org`).
    pub api_base: String,
}

impl fmt::Debug for TelegramSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramSettings")
            .field("token", &self.token)
            .field("chat_id", &self.chat_id)
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// Where a secret comes from. Never holds the secret itself except `Inline`, whose `Debug`
/// is redacted.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Read from this file.
    File(PathBuf),
    /// Taken from an environment variable when the config was loaded.
    Inline(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

/// A generic JSON webhook. `Debug` shows header names only (values may be credentials) and
/// hides the URL (a Slack or Discord hook URL is itself the credential).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Where to POST.
    pub url: String,
    /// Extra headers (e.g. an authorization header).
    pub headers: BTreeMap<String, String>,
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &"<redacted>")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Where notifications go and how hard to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifySettings {
    /// Telegram, if configured.
    pub telegram: Option<TelegramSettings>,
    /// A webhook, if configured.
    pub webhook: Option<WebhookSettings>,
    /// Whether notifications are also written to the log.
    pub log: bool,
    /// Repeats of the same `dedup_key` within this window are dropped.
    pub dedup_window: Duration,
    /// Per-channel queue length; when full, the oldest waiting notification is dropped.
    pub queue_capacity: usize,
    /// Delivery attempts per notification (first try included).
    pub max_attempts: u32,
}

/// Housekeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JanitorSettings {
    /// Checkpoints older than this are pruned.
    pub checkpoint_retention: Duration,
    /// How often the janitor runs.
    pub interval: Duration,
}

/// How long the backend waits on a standby (a program got ready ahead of a move), from
/// `[policy]`. The standby is ended and the launch starts cold when a wait runs out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandbySettings {
    /// How long a standby may take to start and show its idle prompt
    /// (`standby_timeout_secs`).
    pub timeout: Duration,
    /// How long a standby may take to load the conversation once `/resume <id>` is typed
    /// into it (`standby_resume_timeout_secs`).
    pub resume_timeout: Duration,
}

impl Default for StandbySettings {
    /// 20 s to get ready, 10 s to load the conversation.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            resume_timeout: Duration::from_secs(10),
        }
    }
}

/// The task queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// Project directories served besides the sessions' own.
    pub projects: Vec<PathBuf>,
    /// Bigger task files are rejected.
    pub max_task_bytes: u64,
    /// Deliveries allowed when a task does not say.
    pub max_attempts: u32,
    /// `done/` entries older than this are archived by the janitor.
    pub done_retention: Duration,
}

/// Reading idle accounts' usage from Anthropic's OAuth usage endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaSettings {
    /// Whether to read it at all (`[quota] poll_usage`).
    pub poll_usage: bool,
    /// The endpoint (`[quota] usage_url`).
    pub usage_url: String,
    /// At most one read per idle account per this long, jittered (`[quota] usage_poll`).
    pub usage_poll: Duration,
}

/// The checked, resolved configuration the daemon runs with.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonConfig {
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
    /// State file and checkpoints.
    pub state_dir: PathBuf,
    /// The tmux server.
    pub tmux: TmuxTarget,
    /// How Claude Code is started.
    pub claude: ClaudeSettings,
    /// The engine's policy, accounts and sessions (validated).
    pub engine: EngineConfig,
    /// The backend's waits on standbys (`[policy] standby_timeout_secs`,
    /// `standby_resume_timeout_secs`).
    pub standby: StandbySettings,
    /// The control plane.
    pub control: ControlSettings,
    /// Notifications.
    pub notify: NotifySettings,
    /// Housekeeping.
    pub janitor: JanitorSettings,
    /// The task queue.
    pub queue: QueueSettings,
    /// Reading idle accounts' usage.
    pub quota: QuotaSettings,
    /// The ledger shared with other hosts (`[ledger]`), if any.
    pub ledger: Option<crate::ledger::LedgerConfig>,
}
