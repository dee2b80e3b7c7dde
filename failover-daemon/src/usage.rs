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

use std::path::Path;
use std::time::Duration;

use failover_core::{LimitWindow, UnixMillis, UsageReport, WindowUsage};
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
    })
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
}
