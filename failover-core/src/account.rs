//! Accounts: who can run sessions, and what the engine knows of each one's quota.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ids::AccountId;
use crate::time::UnixMillis;

/// One Anthropic subscription account, as Claude Code sees it: a `CLAUDE_CONFIG_DIR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The operator's name for it.
    pub id: AccountId,
    /// Its `CLAUDE_CONFIG_DIR` (holds `.credentials.json`, `settings.json`, `projects/`).
    pub config_dir: PathBuf,
    /// Lower is preferred. The engine returns to the most preferred usable account.
    pub preference: u32,
}

/// A usage window Anthropic meters separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitWindow {
    /// The rolling five-hour session window.
    FiveHour,
    /// The weekly cap across all models.
    Weekly,
    /// The weekly Opus cap.
    WeeklyOpus,
    /// The weekly Sonnet cap.
    WeeklySonnet,
    /// A window this version does not know by name.
    Other,
}

impl LimitWindow {
    /// Every window, in a fixed order.
    pub const ALL: [Self; 5] = [
        Self::FiveHour,
        Self::Weekly,
        Self::WeeklyOpus,
        Self::WeeklySonnet,
        Self::Other,
    ];

    /// The snake_case name used in JSON and on the command line (`five_hour`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FiveHour => "five_hour",
            Self::Weekly => "weekly",
            Self::WeeklyOpus => "weekly_opus",
            Self::WeeklySonnet => "weekly_sonnet",
            Self::Other => "other",
        }
    }
}

impl LimitWindow {
    /// Whether the window meters one model family only (the weekly Opus and Sonnet caps):
    /// when it runs out the account still serves other models.
    pub const fn is_model_scoped(self) -> bool {
        matches!(self, Self::WeeklyOpus | Self::WeeklySonnet)
    }

    /// The model-scoped window that meters `model` (a model id such as
    /// `claude-opus-4-1-20250805`, as the statusline's `model.id` and the transcript's
    /// `message.model` carry it), if any.
    pub fn for_model(model: &str) -> Option<Self> {
        let model = model.to_ascii_lowercase();
        if model.contains("opus") {
            Some(Self::WeeklyOpus)
        } else if model.contains("sonnet") {
            Some(Self::WeeklySonnet)
        } else {
            None
        }
    }
}

/// One reading of one window's use.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowUsage {
    /// The window.
    pub window: LimitWindow,
    /// How much of it is used, 0–100.
    pub used_percent: f32,
    /// When it resets, when known.
    pub resets_at: Option<UnixMillis>,
}

/// An account's usage as its usage report (Anthropic's OAuth usage endpoint) gives it:
/// every window it meters, and whether it is spending extra usage.
///
/// Plans without a five-hour window simply report none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    /// Each window the account has (absent windows are not metered).
    pub windows: Vec<WindowUsage>,
    /// The account is running on extra usage (paid usage credits): its plan's windows are
    /// used up and it goes on at a cost.
    pub extra_usage: bool,
    /// One-time usage-reset grants the account holds (shown to people; never spent).
    ///
    /// Added for choosing the next account.
    #[serde(default)]
    pub grants: Vec<ResetGrant>,
}

/// A one-time usage-reset grant an account holds: Anthropic may offer a subscriber a few
/// resets of a used-up window (Claude Code's `/limit-reset`). Shown for people to decide;
/// the engine never spends one and never counts one as headroom.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResetGrant {
    /// The offer's label, as the endpoint gives it.
    pub label: String,
    /// What a reset clears: `session`, `weekly` or `full`, when said.
    pub kind: Option<String>,
    /// Resets left to use.
    pub resets_left: u32,
    /// Resets the grant came with.
    pub resets_total: u32,
    /// When it expires, when said.
    pub ends_at: Option<UnixMillis>,
    /// Whether a reset could be used right now.
    pub usable_now: bool,
    /// Whether the grant is paused.
    pub paused: bool,
}

impl fmt::Display for LimitWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the engine believes about one account's quota.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountState {
    /// Nothing seen yet.
    Unknown,
    /// Usable, with headroom.
    Available,
    /// Usable, but a window is close to its cap.
    NearLimit {
        /// The window closest to its cap.
        window: LimitWindow,
        /// How much of it is used, 0–100.
        used_percent: f32,
        /// When that window resets, when known.
        resets_at: Option<UnixMillis>,
    },
    /// Out of quota until `until`.
    Exhausted {
        /// The window that ran out.
        window: LimitWindow,
        /// When it resets. When the real reset is unknown the engine picks a retry instant.
        until: UnixMillis,
    },
    /// Not logged in, or its token was rejected; skipped until an operator logs in.
    NeedsLogin,
}

impl AccountState {
    /// Whether a session may be placed on this account at `now`.
    pub fn is_usable(&self, now: UnixMillis) -> bool {
        match self {
            Self::Unknown | Self::Available | Self::NearLimit { .. } => true,
            Self::Exhausted { until, .. } => now >= *until,
            Self::NeedsLogin => false,
        }
    }

    /// The state with a near-limit percentage clamped to 0–100, or `None` when that
    /// percentage is not a number (such a report says nothing).
    pub(crate) fn sanitized(self) -> Option<Self> {
        match self {
            Self::NearLimit { used_percent, .. } if !used_percent.is_finite() => None,
            Self::NearLimit {
                window,
                used_percent,
                resets_at,
            } => Some(Self::NearLimit {
                window,
                used_percent: used_percent.clamp(0.0, 100.0),
                resets_at,
            }),
            s => Some(s),
        }
    }

    /// A short snake_case name for tables and metrics.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Available => "available",
            Self::NearLimit { .. } => "near_limit",
            Self::Exhausted { .. } => "exhausted",
            Self::NeedsLogin => "needs_login",
        }
    }
}
