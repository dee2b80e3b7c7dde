//! The daemon's configuration: a TOML file read into [`RawConfig`] (exactly what the file
//! says, unknown keys refused), then checked and resolved into [`DaemonConfig`] (paths
//! expanded, defaults applied, directories verified, the engine's [`EngineConfig`] built and
//! validated).
//!
//! Every error names the file, the line and column, and the key:
//! `config.toml:12:1: unknown key 'acounts' (expected one of: ...)`,
//! `config.toml:9:14: accounts[1].config_dir: directory /home/me/.claude-b does not exist`.
//! `failover-daemon/CONFIG.md` documents every key; `config.example.toml` is a complete,
//! commented example that a test parses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use failover_core::{
    Account, AccountId, EngineConfig, PolicyMode, SessionId, SessionSpec, Strategy,
};
use serde::Deserialize;
use toml::Spanned;

/// A configuration the daemon refuses, located in its file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigFileError {
    /// The file, as it was named to the daemon.
    pub file: PathBuf,
    /// 1-based line, when the error has a place in the file.
    pub line: Option<usize>,
    /// 1-based column, when the error has a place in the file.
    pub column: Option<usize>,
    /// The key at fault (`accounts[1].config_dir`), when there is one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ConfigFileError {
    fn render(&self) -> String {
        let mut out = self.file.display().to_string();
        if let (Some(line), Some(col)) = (self.line, self.column) {
            out.push_str(&format!(":{line}:{col}"));
        }
        out.push_str(": ");
        match &self.key {
            Some(key) if !self.message.contains(&format!("'{key}'")) => {
                out.push_str(&format!("{key}: {}", self.message));
            }
            _ => out.push_str(&self.message),
        }
        out
    }
}

/// The file exactly as written. Every table refuses keys it does not know.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Where the state file and checkpoints live.
    pub state_dir: Option<Spanned<String>>,
    /// Which tmux server sessions run on.
    pub tmux: Option<Spanned<RawTmux>>,
    /// How Claude Code is started.
    pub claude: Option<RawClaude>,
    /// The failover policy.
    pub policy: Option<RawPolicy>,
    /// The accounts.
    #[serde(default)]
    pub accounts: Vec<RawAccount>,
    /// The sessions.
    #[serde(default)]
    pub sessions: Vec<RawSession>,
    /// The control plane.
    pub control: Option<RawControl>,
    /// Where notifications go.
    pub notify: Option<RawNotify>,
    /// Housekeeping.
    pub janitor: Option<RawJanitor>,
    /// Extra project directories whose task queues are served.
    #[serde(default)]
    pub projects: Vec<RawProject>,
    /// The task queue.
    pub queue: Option<RawQueue>,
    /// Reading idle accounts' usage.
    pub quota: Option<RawQuota>,
    /// A ledger shared with daemons on other hosts.
    pub ledger: Option<RawLedger>,
}

/// `[quota]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    /// Read idle accounts' usage from the OAuth usage endpoint (default true).
    pub poll_usage: Option<bool>,
    /// The endpoint.
    pub usage_url: Option<Spanned<String>>,
    /// At most one read per idle account per this long: seconds, or `"10m"`-style.
    pub usage_poll: Option<Spanned<RawDuration>>,
}

/// A duration: whole seconds, or a number with a unit (`"90s"`, `"10m"`, `"1h"`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum RawDuration {
    /// Seconds.
    Secs(u64),
    /// With a unit.
    Text(String),
}

impl RawDuration {
    fn resolve(&self) -> Result<Duration, String> {
        let text = match self {
            Self::Secs(s) => return Ok(Duration::from_secs(*s)),
            Self::Text(t) => t.trim(),
        };
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let n: u64 = number.parse().map_err(|_| {
            format!("{text:?} is not a duration (e.g. 600, \"90s\", \"10m\", \"1h\")")
        })?;
        let secs = match unit.trim() {
            "" | "s" => n,
            "m" => n.saturating_mul(60),
            "h" => n.saturating_mul(3600),
            _ => {
                return Err(format!(
                    "{text:?} has an unknown unit (use s, m or h, e.g. \"10m\")"
                ));
            }
        };
        Ok(Duration::from_secs(secs))
    }
}

/// `[ledger]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLedger {
    /// `redis://HOST:PORT[/DB]` or `rediss://…`.
    pub url: Spanned<String>,
    /// A file holding the Redis password.
    pub password_file: Option<Spanned<String>>,
    /// Prefix of every key (default `claude-failover`).
    pub key_prefix: Option<Spanned<String>>,
    /// This daemon's name in the ledger (default: the host name).
    pub host: Option<Spanned<String>>,
    /// Lifetime of the swap lease in seconds (default 120).
    pub lease_ttl_secs: Option<Spanned<u64>>,
}

/// `[[projects]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    /// The project directory (its queue is `<dir>/.agent-queue/`).
    pub dir: Spanned<String>,
}

/// `[queue]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueue {
    /// Bigger task files are rejected.
    pub max_task_bytes: Option<Spanned<u64>>,
    /// Deliveries allowed when a task does not say.
    pub max_attempts: Option<Spanned<u32>>,
    /// `done/` entries older than this many hours are archived.
    pub done_retention_hours: Option<u64>,
}

/// `[tmux]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTmux {
    /// `tmux -L <socket>`.
    pub socket: Option<String>,
    /// `tmux -S <path>`.
    pub path: Option<String>,
}

/// `[claude]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClaude {
    /// The argv prefix.
    pub command: Option<Spanned<Vec<String>>>,
    /// Extra environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The shared `projects/` tree every account links to.
    pub shared_projects: Option<Spanned<String>>,
    /// The person's entries of each config dir kept once and linked from every account.
    pub share: Option<Spanned<Vec<String>>>,
    /// Carry the preferred account's `settings.json` to the others.
    pub sync_settings: Option<bool>,
}

/// `[policy]`: the engine's knobs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// `single-active` or `spread`.
    pub mode: Option<PolicyMode>,
    /// Proactive failover threshold, percent.
    pub proactive_percent: Option<Spanned<f32>>,
    /// Pane observations needed to act.
    pub pane_confirmations: Option<Spanned<u32>>,
    /// Exhaustion assumed when no reset instant is known, seconds.
    pub unknown_reset_retry_secs: Option<u64>,
    /// Return to the preferred account after its reset.
    pub return_to_preferred: Option<bool>,
    /// How long an effect may go unanswered, seconds.
    pub effect_timeout_secs: Option<Spanned<u64>>,
    /// First relaunch delay, seconds.
    pub relaunch_backoff_secs: Option<u64>,
    /// Longest relaunch delay, seconds.
    pub relaunch_backoff_max_secs: Option<u64>,
    /// Deaths in a row before a session is reported degraded.
    pub degraded_after: Option<Spanned<u32>>,
    /// Grace given to a session to exit before it is killed, seconds.
    pub stop_grace_secs: Option<u64>,
    /// Sessions of a swap moved side by side.
    pub parallel_moves: Option<Spanned<usize>>,
    /// `preference`, `drain-soonest` or `most-headroom`.
    pub strategy: Option<Strategy>,
    /// Less room than this makes an account a last resort, percent.
    pub min_headroom_percent: Option<Spanned<f32>>,
    /// Whether an account on extra usage (paid) may be chosen.
    pub allow_extra_usage: Option<bool>,
    /// Move a session whose model's weekly window ran out.
    pub follow_model: Option<bool>,
    /// Room the preferred account needs before the pool goes back, percent.
    pub return_headroom_percent: Option<Spanned<f32>>,
    /// At most one return per this long: seconds, or `"30m"`-style.
    pub return_cooldown: Option<Spanned<RawDuration>>,
}

/// `[[accounts]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    /// The operator's name.
    pub name: Spanned<String>,
    /// Its `CLAUDE_CONFIG_DIR`.
    pub config_dir: Spanned<String>,
    /// Lower is preferred; default: the order in the file.
    pub preference: Option<u32>,
    /// This account's proactive threshold, percent (default: `[policy]`'s).
    pub proactive_percent: Option<Spanned<f32>>,
}

/// `[[sessions]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    /// The session's name (and tmux session name).
    pub name: Spanned<String>,
    /// Its working directory.
    pub dir: Spanned<String>,
    /// A standing task prompt sent once at first start.
    pub task: Option<String>,
}

/// `[control]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawControl {
    /// The unix socket path.
    pub socket: Option<String>,
    /// An optional TCP listen address.
    pub tcp: Option<Spanned<String>>,
    /// The bearer token file for TCP.
    pub token_file: Option<Spanned<String>>,
    /// Allow a TCP address that is not loopback (default false).
    pub allow_remote: Option<bool>,
    /// Simultaneous TCP connections at most (default 32).
    pub max_connections: Option<Spanned<usize>>,
    /// Seconds a TCP client has to send a request's headers (default 10).
    pub header_timeout_secs: Option<Spanned<u64>>,
}

/// `[notify]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// `[notify.telegram]`.
    pub telegram: Option<Spanned<RawTelegram>>,
    /// `[notify.webhook]`.
    pub webhook: Option<RawWebhook>,
    /// Log notifications (default true).
    pub log: Option<bool>,
    /// Suppress repeats of the same alert within this many seconds.
    pub dedup_window_secs: Option<u64>,
    /// Notifications kept waiting per channel before the oldest is dropped.
    pub queue_capacity: Option<Spanned<usize>>,
    /// Delivery attempts per notification.
    pub max_attempts: Option<Spanned<u32>>,
}

/// `[notify.telegram]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelegram {
    /// A file holding the bot token (else the env var).
    pub bot_token_file: Option<Spanned<String>>,
    /// The chat to post to.
    pub chat_id: Option<String>,
    /// The Bot API base URL.
    pub api_base: Option<String>,
}

/// `[notify.webhook]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    /// Where to POST.
    pub url: Spanned<String>,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `[janitor]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJanitor {
    /// Checkpoints older than this many hours are pruned.
    pub checkpoint_retention_hours: Option<u64>,
    /// How often the janitor runs, seconds.
    pub interval_secs: Option<Spanned<u64>>,
}

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

/// The default `[quota] usage_url`.
pub const DEFAULT_USAGE_URL: &str = "https://api.anthropic.com/api/oauth/usage";

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
    /// Grace given to a session to exit before it is killed.
    pub stop_grace: Duration,
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

/// What the loader may look up in the environment (tests pass their own).
pub trait Env {
    /// The variable's value, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The environment variable that may hold the Telegram bot token instead of a file.
pub const TELEGRAM_TOKEN_ENV: &str = "FAILOVER_TELEGRAM_BOT_TOKEN";
/// Default Telegram Bot API base.
pub const TELEGRAM_API_BASE: &str = "https://api.telegram.org";

impl DaemonConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read the configuration file: {e}"),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut cfg = Self::parse(&text, path, base, env)?;
        cfg.file = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Parses and checks `text`. `file` names it in errors; relative paths are resolved
    /// against `base_dir`.
    pub fn parse(
        text: &str,
        file: &Path,
        base_dir: &Path,
        env: &dyn Env,
    ) -> Result<Self, ConfigFileError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_col(text, s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            let (key, message) = describe_toml_error(e.message());
            ConfigFileError {
                file: file.to_path_buf(),
                line,
                column,
                key,
                message,
            }
        })?;
        Resolver {
            text,
            file,
            base_dir,
            env,
        }
        .resolve(raw)
    }
}

fn describe_toml_error(msg: &str) -> (Option<String>, String) {
    // serde's wording: "unknown field `acounts`, expected one of `a`, `b`".
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some((name, tail)) = rest.split_once('`') {
            let expected = tail
                .trim_start_matches(',')
                .trim()
                .trim_start_matches("expected one of ")
                .trim_start_matches("expected ")
                .replace('`', "");
            let message = if expected.is_empty() {
                format!("unknown key '{name}'")
            } else {
                format!("unknown key '{name}' (expected one of: {expected})")
            };
            return (Some(name.to_owned()), message);
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return (Some(name.to_owned()), format!("missing key '{name}'"));
        }
    }
    (None, msg.trim().to_owned())
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, col)
}

struct Resolver<'a> {
    text: &'a str,
    file: &'a Path,
    base_dir: &'a Path,
    env: &'a dyn Env,
}

impl Resolver<'_> {
    fn err(&self, span: Option<Range<usize>>, key: &str, message: String) -> ConfigFileError {
        let (line, column) = span
            .map(|s| line_col(self.text, s.start))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        ConfigFileError {
            file: self.file.to_path_buf(),
            line,
            column,
            key: Some(key.to_owned()),
            message,
        }
    }

    fn home(&self) -> Option<PathBuf> {
        self.env.var("HOME").map(PathBuf::from)
    }

    /// `~` and `~/…` → `$HOME/…`; relative → against the config file's directory.
    fn path(&self, raw: &str, span: Range<usize>, key: &str) -> Result<PathBuf, ConfigFileError> {
        if raw.trim().is_empty() {
            return Err(self.err(Some(span), key, "must not be empty".into()));
        }
        let expanded = if raw == "~" || raw.starts_with("~/") {
            let home = self.home().ok_or_else(|| {
                self.err(
                    Some(span.clone()),
                    key,
                    format!("cannot expand '~' in {raw:?}: HOME is not set"),
                )
            })?;
            home.join(raw.trim_start_matches('~').trim_start_matches('/'))
        } else if raw.starts_with('~') {
            return Err(self.err(
                Some(span),
                key,
                format!("{raw:?}: only '~' and '~/…' are expanded, not '~user'"),
            ));
        } else {
            PathBuf::from(raw)
        };
        Ok(if expanded.is_absolute() {
            expanded
        } else {
            self.base_dir.join(expanded)
        })
    }

    fn xdg(&self, var: &str, fallback: &str) -> Option<PathBuf> {
        self.env
            .var(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| self.home().map(|h| h.join(fallback)))
    }

    fn resolve(&self, raw: RawConfig) -> Result<DaemonConfig, ConfigFileError> {
        let state_dir = match &raw.state_dir {
            Some(s) => self.path(s.get_ref(), s.span(), "state_dir")?,
            None => self
                .xdg("XDG_STATE_HOME", ".local/state")
                .map(|p| p.join("claude-failover"))
                .ok_or_else(|| {
                    self.err(
                        None,
                        "state_dir",
                        "not set, and neither XDG_STATE_HOME nor HOME is set to default it".into(),
                    )
                })?,
        };

        let tmux = match &raw.tmux {
            None => TmuxTarget::Socket("claude-failover".into()),
            Some(t) => match (&t.get_ref().socket, &t.get_ref().path) {
                (Some(_), Some(_)) => {
                    return Err(self.err(
                        Some(t.span()),
                        "tmux",
                        "set either 'socket' or 'path', not both".into(),
                    ));
                }
                (Some(name), None) if name.is_empty() || name.contains('/') => {
                    return Err(self.err(
                        Some(t.span()),
                        "tmux.socket",
                        format!("{name:?} must be a plain name (use 'path' for a socket path)"),
                    ));
                }
                (Some(name), None) => TmuxTarget::Socket(name.clone()),
                (None, Some(p)) => TmuxTarget::Path(self.path(p, t.span(), "tmux.path")?),
                (None, None) => TmuxTarget::Socket("claude-failover".into()),
            },
        };

        let claude_raw = raw.claude.unwrap_or_default();
        let command = match &claude_raw.command {
            None => vec!["claude".to_owned()],
            Some(c) if c.get_ref().is_empty() || c.get_ref()[0].is_empty() => {
                return Err(self.err(
                    Some(c.span()),
                    "claude.command",
                    "must name a program, e.g. [\"claude\"]".into(),
                ));
            }
            Some(c) => c.get_ref().clone(),
        };
        let shared_projects = match &claude_raw.shared_projects {
            Some(s) => self.path(s.get_ref(), s.span(), "claude.shared_projects")?,
            None => self
                .xdg("XDG_DATA_HOME", ".local/share")
                .map(|p| p.join("claude-failover/projects"))
                .ok_or_else(|| {
                    self.err(
                        None,
                        "claude.shared_projects",
                        "not set, and neither XDG_DATA_HOME nor HOME is set to default it".into(),
                    )
                })?,
        };

        let share = match &claude_raw.share {
            None => failover_tmux::homes::DEFAULT_SHARE
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            Some(list) => {
                let mut seen = BTreeSet::new();
                for name in list.get_ref() {
                    if let Some(why) = failover_tmux::homes::refuse_share(name) {
                        return Err(self.err(
                            Some(list.span()),
                            "claude.share",
                            format!("{name:?} cannot be shared: it {why}"),
                        ));
                    }
                    if !seen.insert(name.trim_end_matches('/')) {
                        return Err(self.err(
                            Some(list.span()),
                            "claude.share",
                            format!("{name:?} is listed twice"),
                        ));
                    }
                }
                list.get_ref().clone()
            }
        };

        let mut accounts = Vec::new();
        let mut overrides = BTreeMap::new();
        let mut names = BTreeSet::new();
        for (i, a) in raw.accounts.iter().enumerate() {
            let key = format!("accounts[{i}]");
            let name = a.name.get_ref();
            check_name(name)
                .map_err(|m| self.err(Some(a.name.span()), &format!("{key}.name"), m))?;
            if !names.insert(name.clone()) {
                return Err(self.err(
                    Some(a.name.span()),
                    &format!("{key}.name"),
                    format!("account '{name}' is listed twice"),
                ));
            }
            let dir_key = format!("{key}.config_dir");
            let dir = self.path(a.config_dir.get_ref(), a.config_dir.span(), &dir_key)?;
            if !dir.is_dir() {
                return Err(self.err(
                    Some(a.config_dir.span()),
                    &dir_key,
                    format!(
                        "directory {} does not exist (create it and log in with CLAUDE_CONFIG_DIR={} claude)",
                        dir.display(),
                        dir.display()
                    ),
                ));
            }
            accounts.push(Account {
                id: AccountId::new(name.clone()),
                config_dir: dir,
                preference: a.preference.unwrap_or(u32::try_from(i).unwrap_or(u32::MAX)),
            });
            if let Some(p) = &a.proactive_percent {
                let pct = *p.get_ref();
                if !(pct > 0.0 && pct <= 100.0) {
                    return Err(self.err(
                        Some(p.span()),
                        &format!("{key}.proactive_percent"),
                        format!("{pct} is out of range: greater than 0 and at most 100"),
                    ));
                }
                overrides.insert(AccountId::new(name.clone()), pct);
            }
        }
        if accounts.is_empty() {
            return Err(self.err(
                Some(0..0),
                "accounts",
                "at least one [[accounts]] entry is required".into(),
            ));
        }

        let mut sessions = Vec::new();
        let mut names = BTreeSet::new();
        for (i, s) in raw.sessions.iter().enumerate() {
            let key = format!("sessions[{i}]");
            let name = s.name.get_ref();
            check_name(name)
                .map_err(|m| self.err(Some(s.name.span()), &format!("{key}.name"), m))?;
            if !names.insert(name.clone()) {
                return Err(self.err(
                    Some(s.name.span()),
                    &format!("{key}.name"),
                    format!("session '{name}' is listed twice"),
                ));
            }
            let dir_key = format!("{key}.dir");
            let dir = self.path(s.dir.get_ref(), s.dir.span(), &dir_key)?;
            if !dir.is_dir() {
                return Err(self.err(
                    Some(s.dir.span()),
                    &dir_key,
                    format!("directory {} does not exist", dir.display()),
                ));
            }
            sessions.push(SessionSpec {
                id: SessionId::new(name.clone()),
                dir,
                task: s.task.clone(),
            });
        }

        let mut engine = EngineConfig::new(accounts, sessions);
        let policy = raw.policy.unwrap_or_default();
        if let Some(m) = policy.mode {
            engine.mode = m;
        }
        if let Some(p) = &policy.proactive_percent {
            engine.proactive_percent = *p.get_ref();
        }
        if let Some(p) = &policy.pane_confirmations {
            engine.pane_confirmations = *p.get_ref();
        }
        if let Some(s) = policy.unknown_reset_retry_secs {
            engine.unknown_reset_retry = Duration::from_secs(s);
        }
        if let Some(b) = policy.return_to_preferred {
            engine.return_to_preferred = b;
        }
        if let Some(s) = &policy.effect_timeout_secs {
            if *s.get_ref() == 0 {
                return Err(self.err(
                    Some(s.span()),
                    "policy.effect_timeout_secs",
                    "must be at least 1".into(),
                ));
            }
            engine.effect_timeout = Duration::from_secs(*s.get_ref());
        }
        if let Some(s) = policy.relaunch_backoff_secs {
            engine.relaunch_backoff = Duration::from_secs(s);
        }
        if let Some(s) = policy.relaunch_backoff_max_secs {
            engine.relaunch_backoff_max = Duration::from_secs(s);
        }
        if let Some(d) = &policy.degraded_after {
            engine.degraded_after = *d.get_ref();
        }
        engine.parallel_moves = policy
            .parallel_moves
            .as_ref()
            .map_or_else(default_parallel_moves, |p| *p.get_ref());
        engine.proactive_overrides = overrides;
        if let Some(s) = policy.strategy {
            engine.strategy = s;
        }
        if let Some(p) = &policy.min_headroom_percent {
            engine.min_headroom_percent = *p.get_ref();
        }
        if let Some(b) = policy.allow_extra_usage {
            engine.allow_extra_usage = b;
        }
        if let Some(b) = policy.follow_model {
            engine.follow_model = b;
        }
        if let Some(p) = &policy.return_headroom_percent {
            engine.return_headroom_percent = *p.get_ref();
        }
        if let Some(d) = &policy.return_cooldown {
            engine.return_cooldown = d
                .get_ref()
                .resolve()
                .map_err(|m| self.err(Some(d.span()), "policy.return_cooldown", m))?;
        }
        let ledger = match &raw.ledger {
            Some(l) => Some(self.ledger(l)?),
            None => None,
        };
        engine.ledger = ledger
            .as_ref()
            .map(|l| failover_core::LedgerSettings::new(l.host.clone()));
        if let Err(e) = engine.validate() {
            let span = match &e {
                failover_core::ConfigError::OutOfRange { key, .. } => match *key {
                    "proactive_percent" => policy.proactive_percent.as_ref().map(|s| s.span()),
                    "pane_confirmations" => policy.pane_confirmations.as_ref().map(|s| s.span()),
                    "degraded_after" => policy.degraded_after.as_ref().map(|s| s.span()),
                    "parallel_moves" => policy.parallel_moves.as_ref().map(|s| s.span()),
                    "min_headroom_percent" => {
                        policy.min_headroom_percent.as_ref().map(|s| s.span())
                    }
                    "return_headroom_percent" => {
                        policy.return_headroom_percent.as_ref().map(|s| s.span())
                    }
                    _ => None,
                },
                _ => None,
            };
            let key = match &e {
                failover_core::ConfigError::OutOfRange { key, .. } => format!("policy.{key}"),
                _ => "policy".to_owned(),
            };
            return Err(self.err(span, &key, e.to_string()));
        }
        let stop_grace = Duration::from_secs(policy.stop_grace_secs.unwrap_or(10));

        let control_raw = raw.control.unwrap_or_default();
        let socket = match &control_raw.socket {
            Some(s) => self.path(s, 0..0, "control.socket")?,
            None => default_socket(self.env, &state_dir),
        };
        let tcp = match (&control_raw.tcp, &control_raw.token_file) {
            (None, None) => None,
            (None, Some(t)) => {
                return Err(self.err(
                    Some(t.span()),
                    "control.token_file",
                    "is only used with control.tcp".into(),
                ));
            }
            (Some(addr), None) => {
                return Err(self.err(
                    Some(addr.span()),
                    "control.tcp",
                    "a TCP listener is refused without control.token_file (its bearer token)"
                        .into(),
                ));
            }
            (Some(addr), Some(tok)) => {
                let parsed: SocketAddr = addr.get_ref().parse().map_err(|e| {
                    self.err(
                        Some(addr.span()),
                        "control.tcp",
                        format!(
                            "{:?} is not an address like 127.0.0.1:7411: {e}",
                            addr.get_ref()
                        ),
                    )
                })?;
                let allow_remote = control_raw.allow_remote.unwrap_or(false);
                if !parsed.ip().is_loopback() && !allow_remote {
                    return Err(self.err(
                        Some(addr.span()),
                        "control.tcp",
                        format!(
                            "{parsed} is reachable from other machines and the bearer token would cross the network in clear; listen on 127.0.0.1 (and tunnel), or set [control] allow_remote = true"
                        ),
                    ));
                }
                let max_connections = match &control_raw.max_connections {
                    None => 32,
                    Some(n) if *n.get_ref() >= 1 => *n.get_ref(),
                    Some(n) => {
                        return Err(self.err(
                            Some(n.span()),
                            "control.max_connections",
                            "must be at least 1".into(),
                        ));
                    }
                };
                let header_timeout = match &control_raw.header_timeout_secs {
                    None => Duration::from_secs(10),
                    Some(n) if *n.get_ref() >= 1 => Duration::from_secs(*n.get_ref()),
                    Some(n) => {
                        return Err(self.err(
                            Some(n.span()),
                            "control.header_timeout_secs",
                            "must be at least 1".into(),
                        ));
                    }
                };
                Some(TcpSettings {
                    addr: parsed,
                    token_file: self.path(tok.get_ref(), tok.span(), "control.token_file")?,
                    allow_remote,
                    max_connections,
                    header_timeout,
                })
            }
        };

        if tcp.is_none() {
            let stray = [
                control_raw
                    .allow_remote
                    .map(|_| ("control.allow_remote", None)),
                control_raw
                    .max_connections
                    .as_ref()
                    .map(|n| ("control.max_connections", Some(n.span()))),
                control_raw
                    .header_timeout_secs
                    .as_ref()
                    .map(|n| ("control.header_timeout_secs", Some(n.span()))),
            ];
            if let Some((key, span)) = stray.into_iter().flatten().next() {
                return Err(self.err(span, key, "is only used with control.tcp".into()));
            }
        }

        let notify_raw = raw.notify.unwrap_or_default();
        let telegram = match &notify_raw.telegram {
            None => None,
            Some(t) => {
                let span = t.span();
                let t = t.get_ref();
                let token = match &t.bot_token_file {
                    Some(f) => SecretSource::File(self.path(
                        f.get_ref(),
                        f.span(),
                        "notify.telegram.bot_token_file",
                    )?),
                    None => match self.env.var(TELEGRAM_TOKEN_ENV) {
                        Some(v) => SecretSource::Inline(v),
                        None => {
                            return Err(self.err(
                                Some(span),
                                "notify.telegram.bot_token_file",
                                format!(
                                    "the bot token is needed: set bot_token_file or the {TELEGRAM_TOKEN_ENV} environment variable"
                                ),
                            ));
                        }
                    },
                };
                let chat_id = t.chat_id.clone().filter(|c| !c.is_empty()).ok_or_else(|| {
                    self.err(
                        Some(span.clone()),
                        "notify.telegram.chat_id",
                        "missing key 'chat_id'".into(),
                    )
                })?;
                Some(TelegramSettings {
                    token,
                    chat_id,
                    api_base: t
                        .api_base
                        .clone()
                        .unwrap_or_else(|| TELEGRAM_API_BASE.to_owned())
                        .trim_end_matches('/')
                        .to_owned(),
                })
            }
        };
        let webhook = match &notify_raw.webhook {
            None => None,
            Some(w) => {
                let url = w.url.get_ref();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(self.err(
                        Some(w.url.span()),
                        "notify.webhook.url",
                        format!("{url:?} must start with http:// or https://"),
                    ));
                }
                Some(WebhookSettings {
                    url: url.clone(),
                    headers: w.headers.clone(),
                })
            }
        };
        let queue_capacity = match &notify_raw.queue_capacity {
            Some(c) if *c.get_ref() == 0 => {
                return Err(self.err(
                    Some(c.span()),
                    "notify.queue_capacity",
                    "must be at least 1".into(),
                ));
            }
            Some(c) => *c.get_ref(),
            None => 64,
        };
        let max_attempts = match &notify_raw.max_attempts {
            Some(c) if *c.get_ref() == 0 => {
                return Err(self.err(
                    Some(c.span()),
                    "notify.max_attempts",
                    "must be at least 1".into(),
                ));
            }
            Some(c) => *c.get_ref(),
            None => 5,
        };
        let notify = NotifySettings {
            telegram,
            webhook,
            log: notify_raw.log.unwrap_or(true),
            dedup_window: Duration::from_secs(notify_raw.dedup_window_secs.unwrap_or(600)),
            queue_capacity,
            max_attempts,
        };

        let janitor_raw = raw.janitor.unwrap_or_default();
        let interval = match &janitor_raw.interval_secs {
            Some(s) if *s.get_ref() == 0 => {
                return Err(self.err(
                    Some(s.span()),
                    "janitor.interval_secs",
                    "must be at least 1".into(),
                ));
            }
            Some(s) => Duration::from_secs(*s.get_ref()),
            None => Duration::from_secs(3600),
        };
        let janitor = JanitorSettings {
            checkpoint_retention: Duration::from_secs(
                janitor_raw.checkpoint_retention_hours.unwrap_or(24 * 7) * 3600,
            ),
            interval,
        };

        let mut projects = Vec::new();
        for (i, p) in raw.projects.iter().enumerate() {
            let key = format!("projects[{i}].dir");
            let dir = self.path(p.dir.get_ref(), p.dir.span(), &key)?;
            if !dir.is_dir() {
                return Err(self.err(
                    Some(p.dir.span()),
                    &key,
                    format!("directory {} does not exist", dir.display()),
                ));
            }
            projects.push(dir);
        }
        let queue_raw = raw.queue.unwrap_or_default();
        let max_task_bytes = match &queue_raw.max_task_bytes {
            Some(b) if *b.get_ref() == 0 => {
                return Err(self.err(
                    Some(b.span()),
                    "queue.max_task_bytes",
                    "must be at least 1".into(),
                ));
            }
            Some(b) => *b.get_ref(),
            None => 1024 * 1024,
        };
        let max_attempts_q = match &queue_raw.max_attempts {
            Some(a) if *a.get_ref() == 0 => {
                return Err(self.err(
                    Some(a.span()),
                    "queue.max_attempts",
                    "must be at least 1".into(),
                ));
            }
            Some(a) => *a.get_ref(),
            None => 3,
        };
        let queue = QueueSettings {
            projects,
            max_task_bytes,
            max_attempts: max_attempts_q,
            done_retention: Duration::from_secs(
                queue_raw.done_retention_hours.unwrap_or(24 * 7) * 3600,
            ),
        };

        let quota_raw = raw.quota.unwrap_or_default();
        let usage_url = match &quota_raw.usage_url {
            Some(u) => {
                let url = u.get_ref().trim();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(self.err(
                        Some(u.span()),
                        "quota.usage_url",
                        format!("{url:?} is not an http(s) URL"),
                    ));
                }
                url.to_owned()
            }
            None => DEFAULT_USAGE_URL.to_owned(),
        };
        let usage_poll = match &quota_raw.usage_poll {
            Some(d) => {
                let poll = d
                    .get_ref()
                    .resolve()
                    .map_err(|m| self.err(Some(d.span()), "quota.usage_poll", m))?;
                if poll < Duration::from_secs(60) {
                    return Err(self.err(
                        Some(d.span()),
                        "quota.usage_poll",
                        "must be at least 60 seconds (the endpoint allows about 30 reads an \
                         hour per account, shared with Claude Code)"
                            .into(),
                    ));
                }
                poll
            }
            None => Duration::from_secs(600),
        };
        let quota = QuotaSettings {
            poll_usage: quota_raw.poll_usage.unwrap_or(true),
            usage_url,
            usage_poll,
        };
        // The usage poller serves the engine's reads right before a choice.
        engine.read_usage_before_choosing = quota.poll_usage;

        Ok(DaemonConfig {
            file: None,
            state_dir,
            tmux,
            claude: ClaudeSettings {
                command,
                env: claude_raw.env,
                shared_projects,
                share,
                sync_settings: claude_raw.sync_settings.unwrap_or(false),
            },
            engine,
            stop_grace,
            control: ControlSettings { socket, tcp },
            notify,
            janitor,
            queue,
            quota,
            ledger,
        })
    }

    fn ledger(&self, raw: &RawLedger) -> Result<crate::ledger::LedgerConfig, ConfigFileError> {
        let url = raw.url.get_ref().trim().to_owned();
        crate::ledger::check_url(&url)
            .map_err(|why| self.err(Some(raw.url.span()), "ledger.url", why))?;
        let password_file = match &raw.password_file {
            Some(p) => {
                let path = self.path(p.get_ref(), p.span(), "ledger.password_file")?;
                crate::ledger::read_password(&path)
                    .map_err(|why| self.err(Some(p.span()), "ledger.password_file", why))?;
                Some(path)
            }
            None => None,
        };
        let key_prefix = match &raw.key_prefix {
            Some(k) => {
                let prefix = k.get_ref().clone();
                if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c == '*') {
                    return Err(self.err(
                        Some(k.span()),
                        "ledger.key_prefix",
                        format!("{prefix:?}: must be non-empty, without spaces or '*'"),
                    ));
                }
                prefix
            }
            None => "claude-failover".to_owned(),
        };
        let host = match &raw.host {
            Some(h) => {
                check_name(h.get_ref())
                    .map_err(|why| self.err(Some(h.span()), "ledger.host", why))?;
                h.get_ref().clone()
            }
            None => host_name().ok_or_else(|| {
                self.err(
                    None,
                    "ledger.host",
                    "the host name cannot be read; set ledger.host".into(),
                )
            })?,
        };
        let lease_ttl = match &raw.lease_ttl_secs {
            Some(t) if *t.get_ref() == 0 => {
                return Err(self.err(
                    Some(t.span()),
                    "ledger.lease_ttl_secs",
                    "must be at least 1".into(),
                ));
            }
            Some(t) => Duration::from_secs(*t.get_ref()),
            None => Duration::from_secs(120),
        };
        Ok(crate::ledger::LedgerConfig {
            url,
            password_file,
            key_prefix,
            host: failover_core::HostId::new(host),
            lease_ttl,
        })
    }
}

/// This machine's host name, if it can be read.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The default control socket: `$XDG_RUNTIME_DIR/claude-failover.sock`, else
/// `<state_dir>/control.sock`.
pub fn default_socket(env: &dyn Env, state_dir: &Path) -> PathBuf {
    env.var("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map_or_else(
            || state_dir.join("control.sock"),
            |d| d.join("claude-failover.sock"),
        )
}

/// The default of `[policy] parallel_moves`: the CPU cores this process may use (1 when
/// that cannot be told).
///
/// A move is mostly a cold start of Claude Code (about a CPU-second, CPU-bound); stopping
/// an idle session is quick. One move per core keeps every core busy, and more only makes
/// the cold starts contend: N sessions cannot come back faster than N cold starts' CPU
/// time divided by the cores. Memory is not the limit: a session's old process exits
/// before its new one starts.
pub fn default_parallel_moves() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The project directories whose task queues are served: the `[[projects]]` dirs only. A
/// session's own dir is served only when it is listed there, so a cloned repository's
/// committed `.agent-queue/inbox` never runs unasked. The one place this rule lives: the
/// janitor, the dispatcher's view and `claude-failover tasks` all ask here.
pub fn served_projects(projects: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::with_capacity(projects.len());
    for p in projects {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// The default config file: `$XDG_CONFIG_HOME/claude-failover/config.toml`, else
/// `~/.config/claude-failover/config.toml`.
pub fn default_config_file(env: &dyn Env) -> Option<PathBuf> {
    env.var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| env.var("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("claude-failover/config.toml"))
}

/// Account and session names become tmux session names and file names.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
    {
        return Err(format!(
            "{name:?} may only use letters, digits, '-' and '_' (found {c:?})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 3), (2, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn unknown_field_message_is_rewritten() {
        let (key, msg) =
            describe_toml_error("unknown field `acounts`, expected one of `state_dir`, `tmux`");
        assert_eq!(key.as_deref(), Some("acounts"));
        assert_eq!(
            msg,
            "unknown key 'acounts' (expected one of: state_dir, tmux)"
        );
    }

    #[test]
    fn names_are_restricted() {
        assert!(check_name("ccl-0").is_ok());
        assert!(check_name("a b").is_err());
        assert!(check_name("").is_err());
    }
}
