//! What the mock answers for one account: the [`Mode`] and the quota window names.

use serde::{Deserialize, Serialize};

use failover_core::LimitWindow;

/// A quota window as the server names it in `anthropic-ratelimit-unified-representative-claim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimWindow {
    /// The rolling five-hour window (`five_hour`).
    FiveHour,
    /// The weekly window across all models (`seven_day`).
    SevenDay,
    /// The weekly Opus window (`seven_day_opus`).
    SevenDayOpus,
    /// The weekly Sonnet window (`seven_day_sonnet`).
    SevenDaySonnet,
}

impl ClaimWindow {
    /// The claim string sent in `anthropic-ratelimit-unified-representative-claim`.
    pub const fn claim(self) -> &'static str {
        match self {
            Self::FiveHour => "five_hour",
            Self::SevenDay => "seven_day",
            Self::SevenDayOpus => "seven_day_opus",
            Self::SevenDaySonnet => "seven_day_sonnet",
        }
    }

    /// The short prefix of the per-window headers (`anthropic-ratelimit-unified-<prefix>-…`).
    ///
    /// The server sends per-window utilization only for `5h` and `7d`; the scoped weekly
    /// windows (Opus, Sonnet) show only through the representative claim.
    pub const fn header_prefix(self) -> Option<&'static str> {
        match self {
            Self::FiveHour => Some("5h"),
            Self::SevenDay => Some("7d"),
            Self::SevenDayOpus | Self::SevenDaySonnet => None,
        }
    }

    /// The engine's name for this window.
    pub const fn limit_window(self) -> LimitWindow {
        match self {
            Self::FiveHour => LimitWindow::FiveHour,
            Self::SevenDay => LimitWindow::Weekly,
            Self::SevenDayOpus => LimitWindow::WeeklyOpus,
            Self::SevenDaySonnet => LimitWindow::WeeklySonnet,
        }
    }
}

/// How the mock answers `POST /v1/messages` for one account.
///
/// Over HTTP a mode is a JSON object tagged by `"mode"`, e.g.
/// `{"mode":"quota_exhausted","window":"five_hour","resets_at":1767225600}`. Every field
/// named `resets_at` is a Unix epoch in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// 200 with a streamed reply `ACK: <first 40 chars of the last user text>`, status
    /// `allowed`, and low usage (5h 10 %, 7d 5 %) in the per-window headers, as a healthy
    /// subscription reports.
    Normal,
    /// 429 `rate_limit_error` with `anthropic-ratelimit-unified-status: rejected`, the reset
    /// epoch and the representative claim, like a subscription whose window ran out.
    ///
    /// When `resets_at` passes, the account answers as [`Mode::Normal`] again (the window
    /// reset), so a short `resets_at` models a shortened reset.
    QuotaExhausted {
        /// The window that ran out.
        window: ClaimWindow,
        /// When it resets (Unix seconds).
        resets_at: u64,
    },
    /// 200 with a normal reply, plus `anthropic-ratelimit-unified-status: allowed_warning`
    /// and the window's utilization (0.0 to 1.0).
    NearLimit {
        /// The window close to its limit.
        window: ClaimWindow,
        /// Share used, 0.0 to 1.0 (0.92 = 92 %).
        utilization: f64,
        /// When the window resets (Unix seconds).
        resets_at: u64,
    },
    /// 200 with a normal reply and this window's utilization, status `allowed` (no
    /// warning): usage climbing below the server's warning threshold.
    Usage {
        /// The window reported.
        window: ClaimWindow,
        /// Share used, 0.0 to 1.0.
        utilization: f64,
        /// When the window resets (Unix seconds).
        resets_at: u64,
    },
    /// 200 with a normal reply, while the window has run out and extra usage (usage
    /// credits) pays: `anthropic-ratelimit-unified-status: rejected` with
    /// `anthropic-ratelimit-unified-overage-status: allowed`, the reset and the claim. This
    /// is what Claude Code reads as "using extra usage" (`isUsingOverage`) and announces
    /// with its `You're now using extra usage` notice.
    ///
    /// When `resets_at` passes, the account answers as [`Mode::Normal`] again.
    ExtraUsage {
        /// The window that ran out.
        window: ClaimWindow,
        /// When it resets (Unix seconds).
        resets_at: u64,
    },
    /// 500 `api_error` on every message request.
    ServerError,
    /// 529 `overloaded_error` on every message request.
    Overloaded,
    /// 429 `rate_limit_error` with `retry-after` and no unified quota headers: a short
    /// throttle, not a quota.
    Throttled {
        /// Seconds sent in `retry-after`.
        retry_after_secs: u64,
    },
    /// 401 `authentication_error`: the token is rejected.
    Unauthorized,
    /// 200 like [`Mode::Normal`], but a conversation turn (a request that offers tools)
    /// gets a reply that quotes Claude Code's limit messages, one a paragraph, before the
    /// usual `ACK: …` line ([`limit_quotes`](super::limit_quotes)): a person talking about
    /// limits with Claude. No limit is reached.
    QuoteLimits,
    /// 200 like [`Mode::Normal`], but a conversation turn that offers the `Bash` tool gets
    /// a `Bash` tool call whose command `printf`s Claude Code's limit messages
    /// ([`print_limits_command`](super::print_limits_command)); the request carrying the
    /// tool's result gets the usual `ACK: …` reply to the prompt, after `hold_answer_secs`.
    /// Claude Code folds a finished shell call into `Ran 1 shell command` once the turn
    /// ends; the hold keeps the output drawn meanwhile. Allow the command in the account's
    /// `settings.json` (`Bash(printf:*)`) so the CLI runs it without asking.
    PrintLimits {
        /// Seconds the answer after the tool's result waits.
        hold_answer_secs: u64,
    },
}

impl Mode {
    /// The mode that applies at `now` (Unix seconds): an exhausted window whose reset has
    /// passed is [`Mode::Normal`] again.
    pub fn effective(self, now_secs: u64) -> Self {
        match self {
            Self::QuotaExhausted { resets_at, .. } | Self::ExtraUsage { resets_at, .. }
                if now_secs >= resets_at =>
            {
                Self::Normal
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhausted_flips_back_at_reset() {
        let m = Mode::QuotaExhausted {
            window: ClaimWindow::FiveHour,
            resets_at: 100,
        };
        assert_eq!(m.effective(99), m);
        assert_eq!(m.effective(100), Mode::Normal);
    }

    #[test]
    fn mode_json_is_tagged() {
        let m: Mode = serde_json::from_str(
            r#"{"mode":"quota_exhausted","window":"seven_day_opus","resets_at":5}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            Mode::QuotaExhausted {
                window: ClaimWindow::SevenDayOpus,
                resets_at: 5
            }
        );
        let t: Mode = serde_json::from_str(r#"{"mode":"throttled","retry_after_secs":3}"#).unwrap();
        assert_eq!(
            t,
            Mode::Throttled {
                retry_after_secs: 3
            }
        );
    }
}
