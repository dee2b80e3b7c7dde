//! Versioned JSON types of the control plane: the only types the daemon serializes over HTTP.
//!
//! Every path is under `/v1/`; within version 1 fields are only ever *added*, never renamed or
//! removed, so a client built against an older copy of this file keeps working (unknown fields
//! are ignored by serde's default). Instants are given twice: RFC 3339 UTC text for people
//! (`resets_at`) and Unix milliseconds for programs (`resets_at_ms`).
//!
//! | Method | Path         | Request body      | Success                | Errors (body: [`ErrorDto`]) |
//! |--------|--------------|-------------------|------------------------|-----------------------------|
//! | GET    | `/v1/status` |                   | 200 [`StatusDto`]      |                             |
//! | GET    | `/v1/events` |                   | 200 SSE of [`EventDto`] (event name `decision`) |  |
//! | POST   | `/v1/swap`   | [`SwapRequestDto`] (optional) | 202 [`CommandResponseDto`] | 404 unknown account, 409 swap in progress / paused, 422 account unusable / no usable account |
//! | POST   | `/v1/pause`  |                   | 200 [`CommandResponseDto`] | 409 not running        |
//! | POST   | `/v1/resume` |                   | 200 [`CommandResponseDto`] | 409 not running        |
//! | GET    | `/metrics`   |                   | 200 Prometheus text    |                             |
//!
//! Over TCP every request needs `Authorization: Bearer <token>` (401 [`ErrorDto`] otherwise).

use serde::{Deserialize, Serialize};

/// The API version these types describe; also the `/v1/` path prefix.
pub const API_VERSION: u32 = 1;

/// `GET /v1/status`: the whole picture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusDto {
    /// Always [`API_VERSION`].
    pub api_version: u32,
    /// The account the pool runs on (single-active mode), if any.
    pub active_account: Option<String>,
    /// Paused by an operator: no swaps, relaunches or dispatch.
    pub paused: bool,
    /// Draining: finishing in-flight work, starting nothing new.
    pub draining: bool,
    /// The swap in flight, if any.
    pub swap: Option<SwapDto>,
    /// Swaps completed since the daemon started.
    pub swaps_completed: u64,
    /// Every configured account, most preferred first.
    pub accounts: Vec<AccountDto>,
    /// Every configured session.
    pub sessions: Vec<SessionDto>,
    /// About the daemon process itself.
    pub daemon: DaemonDto,
    /// Settings and MCP servers not the same on every account: a session moved between
    /// them behaves differently. Empty when they all agree.
    #[serde(default)]
    pub setting_differences: Vec<SettingDifferenceDto>,
}

/// One setting (`settings.json` key such as `model`, `permissions.allow`, `hooks.Stop`,
/// `env.NAME`) or user-scope MCP server (`mcpServers.NAME`) that differs between accounts.
/// Values are never included (they may hold keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingDifferenceDto {
    /// The flattened key.
    pub key: String,
    /// Accounts that set it, grouped by equal value.
    pub groups: Vec<Vec<String>>,
    /// Accounts that do not set it.
    pub missing: Vec<String>,
    /// One line for people, e.g. `MCP server 'github' only on main (missing on work)`.
    pub summary: String,
}

/// One account in [`StatusDto`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountDto {
    /// The operator's name for it.
    pub name: String,
    /// Lower is preferred.
    pub preference: u32,
    /// `unknown`, `available`, `near_limit`, `exhausted` or `needs_login`.
    pub state: String,
    /// Whether sessions may be placed on it now.
    pub usable: bool,
    /// The highest used percentage seen for it (0–100), when known.
    pub used_percent: Option<f32>,
    /// The window the state is about (`five_hour`, `weekly`, ...), when any.
    pub window: Option<String>,
    /// When that window resets (RFC 3339, UTC), when known.
    pub resets_at: Option<String>,
    /// The same instant in Unix milliseconds.
    pub resets_at_ms: Option<i64>,
    /// Every window read for it (usage endpoint, model-scoped limits).
    #[serde(default)]
    pub windows: Vec<WindowDto>,
    /// It runs on extra usage (paid usage credits).
    #[serde(default)]
    pub extra_usage: bool,
    /// Why it is or is not the next choice.
    #[serde(default)]
    pub choice: ChoiceDto,
    /// One-time usage-reset grants it holds, as its usage endpoint last showed them
    /// (shown for people; never spent).
    #[serde(default)]
    pub grants: Vec<GrantDto>,
}

/// One usage-reset grant of an account in [`AccountDto`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantDto {
    /// The offer's label.
    pub label: String,
    /// What a reset clears (`session`, `weekly`, `full`), when said.
    pub kind: Option<String>,
    /// Resets left to use.
    pub resets_left: u32,
    /// Resets the grant came with.
    pub resets_total: u32,
    /// When it expires (RFC 3339, UTC), when said.
    pub ends_at: Option<String>,
    /// The same instant in Unix milliseconds.
    pub ends_at_ms: Option<i64>,
    /// Whether a reset could be used right now.
    pub usable_now: bool,
    /// Whether the grant is paused.
    pub paused: bool,
}

/// Whether an account is the next choice (where sessions go on the next failover, or the
/// next launch under `spread`), and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceDto {
    /// It is the next choice.
    pub next: bool,
    /// Why it is or is not, e.g. `not next: weekly used up until 2026-11-28T09:00:00Z`.
    pub reason: String,
}

/// One window of an account in [`AccountDto`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowDto {
    /// `five_hour`, `weekly`, `weekly_opus`, `weekly_sonnet` or `other`.
    pub window: String,
    /// How much of it is used, 0–100.
    pub used_percent: f32,
    /// When it resets (RFC 3339, UTC), when known.
    pub resets_at: Option<String>,
    /// The same instant in Unix milliseconds.
    pub resets_at_ms: Option<i64>,
}

/// One session in [`StatusDto`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionDto {
    /// The session's name (also its tmux session name).
    pub name: String,
    /// The account it runs on, if any.
    pub account: Option<String>,
    /// Its Claude Code conversation id, when known.
    pub claude_session: Option<String>,
    /// The engine's name for its state (`running`, `stopping`, `launching`, `parked`, ...).
    pub state: String,
    /// `idle`, `working`, or `waiting_for_trust` (stopped at Claude Code's folder-trust
    /// dialog: no account has trusted the folder, and it is never answered for the person),
    /// when running and known.
    pub activity: Option<String>,
    /// The queued task it holds (`.agent-queue`), if any.
    #[serde(default)]
    pub task: Option<String>,
    /// Why it last exited, while it has not worked since: `exit 127: claude not found`.
    #[serde(default)]
    pub last_exit: Option<String>,
    /// The account on which a program is ready to take it over ahead of a move (its
    /// standby, `[policy] standby`), or null. Absent from answers of daemons without
    /// standbys; read as null then.
    #[serde(default)]
    pub standby: Option<String>,
}

/// The swap in flight, in [`StatusDto`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwapDto {
    /// The account sessions are leaving, if any.
    pub from: Option<String>,
    /// The account they are moving to.
    pub to: String,
    /// Sessions not yet moved (those moving included).
    pub pending: Vec<String>,
    /// Sessions whose move (checkpoint, stop, relaunch) is under way, at most
    /// `[policy] parallel_moves` of them. Absent from answers of daemons that moved one
    /// session at a time; read as empty then.
    #[serde(default)]
    pub moving: Vec<String>,
    /// When the swap started (RFC 3339, UTC).
    pub started_at: String,
    /// The same instant in Unix milliseconds.
    pub started_at_ms: i64,
}

/// About the daemon process, in [`StatusDto`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DaemonDto {
    /// The daemon's version.
    pub version: String,
    /// Its process id.
    pub pid: u32,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The configuration file it runs with, when it was read from one.
    pub config_file: Option<String>,
    /// Why the last configuration reload was refused, if it was (the old one stays in force).
    pub config_error: Option<String>,
    /// Notifications dropped because a channel's queue was full.
    pub notifications_dropped: u64,
    /// Launches since the daemon started that started the program cold because the one
    /// prepared for them (a standby) could not be used; the daemon's log says why for each.
    /// Anything but 0 is worth a look: moves then lose what standbys are for.
    #[serde(default)]
    pub standby_fallbacks: u64,
    /// Why the last state write failed, if it did (cleared by the next good write).
    pub state_error: Option<String>,
    /// The ledger shared with other hosts (`[ledger]`): `ok`, or `degraded` while Redis is
    /// unreachable (the daemon goes on with its local view). Absent without `[ledger]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<String>,
}

/// `POST /v1/swap` body; an empty body or `{}` means "the best other account".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapRequestDto {
    /// The account to move to.
    #[serde(default)]
    pub to: Option<String>,
}

/// The answer to an accepted command (`swap`, `pause`, `resume`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResponseDto {
    /// Always true in a success response.
    pub accepted: bool,
    /// The command, as the daemon understood it (`swap`, `swap_to`, `pause`, `resume`).
    pub command: String,
    /// The account asked for, for `swap_to`.
    pub to: Option<String>,
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDto {
    /// The error.
    pub error: ErrorBody,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable snake_case code, one of the `ERR_*` constants in this module.
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

/// No account of that name (404).
pub const ERR_UNKNOWN_ACCOUNT: &str = "unknown_account";
/// The account cannot take sessions now (422).
pub const ERR_ACCOUNT_UNUSABLE: &str = "account_unusable";
/// No other account can take the sessions (422).
pub const ERR_NO_USABLE_ACCOUNT: &str = "no_usable_account";
/// A swap is already running (409).
pub const ERR_SWAP_IN_PROGRESS: &str = "swap_in_progress";
/// The engine is paused or draining (409).
pub const ERR_NOT_RUNNING: &str = "not_running";
/// The request body could not be understood (400).
pub const ERR_BAD_REQUEST: &str = "bad_request";
/// Missing or wrong bearer token on the TCP listener (401).
pub const ERR_UNAUTHORIZED: &str = "unauthorized";
/// The daemon did not answer in time (504).
pub const ERR_TIMEOUT: &str = "timeout";
/// The daemon is shutting down (503).
pub const ERR_UNAVAILABLE: &str = "unavailable";
/// No such path (404).
pub const ERR_NOT_FOUND: &str = "not_found";

/// One decision or observation, as streamed by `GET /v1/events` (SSE event name `decision`,
/// data: this object as JSON, SSE id: `seq`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventDto {
    /// Increases by one per event since the daemon started; a gap means events were missed.
    pub seq: u64,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    /// The same instant in Unix milliseconds.
    pub at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub event: EventKindDto,
}

/// What an [`EventDto`] is about. Tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKindDto {
    /// A detector classified evidence and the engine was told.
    Detection {
        /// `session` or `account`.
        subject_kind: String,
        /// The session or account name.
        subject: String,
        /// `pane`, `transcript`, `statusline` or `headers`.
        source: String,
        /// `clear`, `near_limit`, `quota_exhausted`, `transient` or `auth_required`.
        verdict: String,
        /// The window, for quota verdicts.
        window: Option<String>,
        /// Used percentage, for near-limit verdicts.
        used_percent: Option<f32>,
        /// Reset instant (RFC 3339), when the verdict carries one.
        resets_at: Option<String>,
        /// The line the verdict relied on.
        evidence: Option<String>,
        /// Milliseconds from the evidence being produced to the engine receiving it.
        latency_ms: Option<u64>,
    },
    /// The engine asked for something (`checkpoint`, `stop`, `launch`, `send_prompt`,
    /// `notify`, `persist`, `reply`), or recorded a decision (`detection_vetoed`: pane
    /// evidence a structured source contradicts, not acted on).
    Effect {
        /// Which effect.
        effect: String,
        /// Its request id, for effects that expect a reply.
        request: Option<u64>,
        /// The session it is about, if any.
        session: Option<String>,
        /// The account it is about, if any.
        account: Option<String>,
        /// A short human description.
        detail: String,
    },
    /// An effect finished (`checkpointed`, `stopped`, `launched`, `prompt_sent`,
    /// `resumed_turn_over`, `failed`).
    EffectFinished {
        /// The request id the effect carried.
        request: u64,
        /// How it went.
        outcome: String,
        /// Details (the failure, the conversation launched).
        detail: Option<String>,
    },
    /// A session was found running, exited, or changed activity.
    Session {
        /// The session.
        session: String,
        /// `started`, `exited`, `idle`, `working`, `claude_session` or `corroboration` (a
        /// structured "all is well" fact: `ordinary_reply`, `prompt_written`, or the
        /// statusline's use per window, in `detail`).
        change: String,
        /// Details (exit status, conversation id, account).
        detail: Option<String>,
    },
    /// An operator command reached the engine (`swap`, `swap_to`, `pause`, `resume`, `drain`).
    Command {
        /// The command.
        command: String,
        /// The target account of `swap_to`.
        to: Option<String>,
    },
    /// The engine answered a command.
    Reply {
        /// Accepted or not.
        accepted: bool,
        /// The refusal, when not accepted.
        reason: Option<String>,
    },
    /// The configuration file was reloaded (`ok`) or the reload was refused (`error` says why;
    /// the old configuration stays in force).
    ConfigReload {
        /// Whether the new configuration is in force.
        ok: bool,
        /// Why it was refused.
        error: Option<String>,
    },
    /// Writing the state file failed; the previous file is intact.
    StateWriteFailed {
        /// Why.
        error: String,
    },
    /// A notification was raised.
    Notification {
        /// `info`, `warning` or `critical`.
        severity: String,
        /// The one-line summary.
        summary: String,
    },
    /// This SSE subscriber fell behind and missed events.
    Lagged {
        /// How many.
        missed: u64,
    },
}

/// The body the webhook notifier POSTs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationDto {
    /// Always [`API_VERSION`].
    pub api_version: u32,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// `failover`, `returned_to_preferred`, `all_exhausted`, `resumed`, `needs_login`,
    /// `session_degraded`, `task_failed`, `message`, ...
    pub kind: String,
    /// The one-line summary.
    pub summary: String,
    /// The full text as sent to chat channels (summary and next reset).
    pub text: String,
    /// The next reset that matters (RFC 3339, UTC), when known.
    pub next_reset: Option<String>,
    /// The same instant in Unix milliseconds.
    pub next_reset_ms: Option<i64>,
    /// Repeats with the same key within the dedup window are not sent.
    pub dedup_key: String,
    /// When it was raised (RFC 3339, UTC).
    pub at: String,
    /// The same instant in Unix milliseconds.
    pub at_ms: i64,
    /// The kind's own fields (`from`, `to`, `reason`, `account`, ...).
    pub details: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_answer_without_moving_sessions_still_reads() {
        // What a daemon that moved one session at a time answered.
        let old = r#"{"from":"primary","to":"backup","pending":["ccl-0","ccl-1"],
            "started_at":"2026-11-26T10:00:00Z","started_at_ms":1795687200000}"#;
        let swap: SwapDto = serde_json::from_str(old).unwrap();
        assert_eq!(swap.pending, ["ccl-0", "ccl-1"]);
        assert!(swap.moving.is_empty());

        let now = SwapDto {
            moving: vec!["ccl-0".into(), "ccl-1".into()],
            ..swap
        };
        let json = serde_json::to_value(&now).unwrap();
        assert_eq!(json["moving"], serde_json::json!(["ccl-0", "ccl-1"]));
        assert_eq!(json["pending"], serde_json::json!(["ccl-0", "ccl-1"]));
        assert_eq!(json["to"], "backup");
    }
}
