//! The TOML shapes: the file exactly as written, every table refusing keys it does not
//! know. Nothing here checks or defaults a value; [`super::resolve`] does.

use std::collections::BTreeMap;
use std::time::Duration;

use failover_core::{PolicyMode, Strategy};
use serde::Deserialize;
use toml::Spanned;

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
    pub(super) fn resolve(&self) -> Result<Duration, String> {
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
    /// Get a program ready on the next account ahead of a move.
    pub standby: Option<bool>,
    /// Window use at which that program is got ready, percent.
    pub standby_percent: Option<Spanned<f32>>,
    /// The most standbys at once.
    pub standby_max: Option<Spanned<usize>>,
    /// How long a standby may take to show its idle prompt, seconds.
    pub standby_timeout_secs: Option<Spanned<u64>>,
    /// How long a standby may take to load the conversation it is given, seconds.
    pub standby_resume_timeout_secs: Option<Spanned<u64>>,
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
