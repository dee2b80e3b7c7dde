//! One read of an account's usage from Anthropic's OAuth usage endpoint
//! (`GET /api/oauth/usage`, `[quota] usage_url`).
//!
//! The bearer token is the account's current `claudeAiOauth.accessToken`, read from its
//! `.credentials.json` into memory at the moment of the read and dropped after it: never
//! logged, copied, written or refreshed (Claude Code owns its login; two refreshers of one
//! login race). An expired token makes the usage "unknown": no request is sent.
//!
//! The answer holds `five_hour`, `seven_day`, `seven_day_opus`, `seven_day_sonnet` (each
//! `null` or `{"utilization": 0–100, "resets_at": RFC 3339 | null}`) and `extra_usage`
//! (`{"is_enabled": bool, ...}`). Windows a plan does not have are `null` or absent (a
//! weekly-only plan has no `five_hour`). The account is taken to run on extra usage when
//! extra usage is enabled and a whole-account window (`five_hour`, `seven_day`) is used up:
//! Claude Code then goes on at a cost.
//!
//! **Usage-reset grants.** Asked with `cedar_ember=1` (the query Claude Code's own
//! `/limit-reset` status read adds), the answer may also hold a `cedar_ember` block:
//! `{"eligible": bool, "grants": [{"id", "label", "type": "session"|"weekly"|"full",
//! "resets_left", "resets_total", "ends_at": RFC 3339, "usable_now", "paused", …}], …}`.
//! Grants with resets left are carried to `accounts` / `status --json` for people to see.
//! They are never spent: the only request ever sent is this `GET` (a claim is a separate
//! request Claude Code makes when a person asks for it).

use std::path::Path;
use std::time::Duration;

use failover_core::{LimitWindow, ResetGrant, UnixMillis, UsageReport, WindowUsage};
use serde_json::Value;

/// The beta header the endpoint requires.
pub const USAGE_BETA: &str = "oauth-2025-04-20";

/// How long a 429 holds reads back when it says nothing (`retry-after` absent).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What one read gave.
#[derive(Debug, PartialEq)]
pub enum UsageRead {
    /// The account's windows.
    Report(UsageReport),
    /// No read was possible without a login the CLI must renew: no credentials file, no
    /// access token, or an expired one. Nothing was sent.
    Unknown(&'static str),
    /// The endpoint answered 429: no read before this long.
    RetryAfter(Duration),
    /// Anything else (network, status, body); the next read is at the usual time.
    Failed(String),
}

/// Reads the usage of the account whose `CLAUDE_CONFIG_DIR` is `config_dir`, at `now`.
pub async fn read_usage(
    client: &reqwest::Client,
    url: &str,
    config_dir: &Path,
    now: UnixMillis,
) -> UsageRead {
    let token = match access_token(config_dir, now) {
        Ok(token) => token,
        Err(why) => return UsageRead::Unknown(why),
    };
    let sent = client
        .get(url)
        .bearer_auth(&token)
        .query(&[("cedar_ember", "1")])
        .header("anthropic-beta", USAGE_BETA)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    drop(token);
    let response = match sent {
        Ok(r) => r,
        // reqwest's error names the URL, never the headers.
        Err(e) => return UsageRead::Failed(format!("usage request failed: {e}")),
    };
    let status = response.status();
    if status.as_u16() == 429 {
        let retry = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
        return UsageRead::RetryAfter(retry);
    }
    if !status.is_success() {
        return UsageRead::Failed(format!("usage endpoint answered {status}"));
    }
    match response.json::<Value>().await {
        Ok(body) => match parse_usage(&body) {
            Some(report) => UsageRead::Report(report),
            None => UsageRead::Failed("usage answer is not a JSON object".into()),
        },
        Err(e) => UsageRead::Failed(format!("usage answer is not JSON: {e}")),
    }
}

/// The account's access token, in memory, when it has an unexpired one.
fn access_token(config_dir: &Path, now: UnixMillis) -> Result<String, &'static str> {
    let text = std::fs::read_to_string(config_dir.join(".credentials.json"))
        .map_err(|_| "no readable .credentials.json")?;
    let doc: Value = serde_json::from_str(&text).map_err(|_| ".credentials.json is not JSON")?;
    let oauth = doc.get("claudeAiOauth").ok_or("no claudeAiOauth login")?;
    if let Some(expires) = oauth.get("expiresAt").and_then(Value::as_i64) {
        if expires <= now.0 {
            return Err("access token expired (Claude Code renews it when it runs)");
        }
    }
    oauth
        .get("accessToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or("no access token")
}

/// Parses the endpoint's answer; `None` when it is not a JSON object.
pub fn parse_usage(body: &Value) -> Option<UsageReport> {
    let fields = body.as_object()?;
    let mut windows = Vec::new();
    for (name, window) in [
        ("five_hour", LimitWindow::FiveHour),
        ("seven_day", LimitWindow::Weekly),
        ("seven_day_opus", LimitWindow::WeeklyOpus),
        ("seven_day_sonnet", LimitWindow::WeeklySonnet),
    ] {
        let Some(entry) = fields.get(name).filter(|v| v.is_object()) else {
            continue;
        };
        let Some(used) = entry.get("utilization").and_then(Value::as_f64) else {
            continue;
        };
        let resets_at = entry
            .get("resets_at")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(UnixMillis::from_timestamp);
        windows.push(WindowUsage {
            window,
            used_percent: used as f32,
            resets_at,
        });
    }
    let extra_enabled = fields
        .get("extra_usage")
        .and_then(|e| e.get("is_enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let spent = windows
        .iter()
        .any(|w| !w.window.is_model_scoped() && w.used_percent >= 100.0);
    Some(UsageReport {
        windows,
        extra_usage: extra_enabled && spent,
        grants: parse_grants(body),
    })
}

/// The usage-reset grants with resets left in the answer's `cedar_ember` block (none when
/// the block is absent, malformed, or says the account is not eligible).
pub fn parse_grants(body: &Value) -> Vec<ResetGrant> {
    let Some(block) = body.get("cedar_ember").filter(|b| b.is_object()) else {
        return Vec::new();
    };
    if block.get("eligible").and_then(Value::as_bool) != Some(true) {
        return Vec::new();
    }
    let Some(grants) = block.get("grants").and_then(Value::as_array) else {
        return Vec::new();
    };
    let count = |g: &Value, field: &str| {
        g.get(field)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    let flag = |g: &Value, field: &str| g.get(field).and_then(Value::as_bool).unwrap_or(false);
    grants
        .iter()
        .filter(|g| g.is_object())
        .filter_map(|g| {
            let resets_left = count(g, "resets_left").filter(|n| *n > 0)?;
            Some(ResetGrant {
                label: g
                    .get("label")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                kind: g.get("type").and_then(Value::as_str).map(str::to_owned),
                resets_left,
                resets_total: count(g, "resets_total").unwrap_or(resets_left),
                ends_at: g
                    .get("ends_at")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                    .map(UnixMillis::from_timestamp),
                usable_now: flag(g, "usable_now"),
                paused: flag(g, "paused"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_windows_a_plan_has() {
        let body = serde_json::json!({
            "five_hour": null,
            "seven_day": {"utilization": 41.0, "resets_at": "2026-02-03T09:59:59.571468+00:00"},
            "seven_day_opus": {"utilization": 100.0, "resets_at": null},
            "seven_day_oauth_apps": null,
            "extra_usage": {"is_enabled": true, "monthly_limit": 5000, "used_credits": 0.0, "utilization": null}
        });
        let report = parse_usage(&body).unwrap();
        assert_eq!(report.windows.len(), 2);
        assert_eq!(report.windows[0].window, LimitWindow::Weekly);
        assert_eq!(report.windows[0].used_percent, 41.0);
        assert_eq!(
            report.windows[0].resets_at.map(|t| t.0),
            Some(1_770_112_799_571)
        );
        assert_eq!(report.windows[1].window, LimitWindow::WeeklyOpus);
        // Extra usage is enabled, but no whole-account window is used up: not in use.
        assert!(!report.extra_usage);
    }

    #[test]
    fn extra_usage_is_in_use_once_a_whole_account_window_is_used_up() {
        let body = serde_json::json!({
            "five_hour": {"utilization": 100.0, "resets_at": "2026-02-03T10:00:00Z"},
            "extra_usage": {"is_enabled": true}
        });
        assert!(parse_usage(&body).unwrap().extra_usage);
        let body = serde_json::json!({
            "five_hour": {"utilization": 100.0, "resets_at": "2026-02-03T10:00:00Z"},
            "extra_usage": {"is_enabled": false}
        });
        assert!(!parse_usage(&body).unwrap().extra_usage);
        assert_eq!(parse_usage(&serde_json::json!([1])), None);
    }

    #[test]
    fn grants_are_read_from_an_eligible_block_only() {
        let body = serde_json::json!({
            "five_hour": {"utilization": 100.0, "resets_at": null},
            "cedar_ember": {"eligible": true, "grants": [
                {"id": "grant_01", "label": "", "type": "full", "resets_left": 1},
                {"id": "grant_02", "label": "x", "resets_left": 0},
                "not an object"
            ]}
        });
        let grants = parse_grants(&body);
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].kind.as_deref(), Some("full"));
        assert_eq!((grants[0].resets_left, grants[0].resets_total), (1, 1));
        let ineligible = serde_json::json!({"cedar_ember": {"eligible": false, "grants": [
            {"id": "grant_01", "label": "x", "resets_left": 2}
        ]}});
        assert!(parse_grants(&ineligible).is_empty());
        assert!(parse_grants(&serde_json::json!({"five_hour": null})).is_empty());
    }
}
