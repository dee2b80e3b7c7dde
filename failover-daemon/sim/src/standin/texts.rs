//! The texts the stand-in shows, worded as Claude Code 2.1.328 words them (see
//! `sim/README.md`).

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The limit's name as the CLI words it, by representative claim.
pub fn limit_label(claim: &str) -> &'static str {
    match claim {
        "five_hour" => "5-hour limit",
        "seven_day" => "weekly limit",
        "seven_day_opus" => "Opus limit",
        "seven_day_sonnet" => "Sonnet limit",
        _ => "usage limit",
    }
}

/// A reset instant as the CLI shows it: `1:20am` within a day, else `Nov 30, 10:34pm`.
pub fn reset_when(resets_at: i64, now: i64, tz: &TimeZone) -> String {
    let Ok(ts) = Timestamp::from_second(resets_at) else {
        return resets_at.to_string();
    };
    let z = ts.to_zoned(tz.clone());
    let hour = z.hour();
    let (h12, ampm) = match hour {
        0 => (12, "am"),
        1..=11 => (hour, "am"),
        12 => (12, "pm"),
        _ => (hour - 12, "pm"),
    };
    let time = format!("{h12}:{:02}{ampm}", z.minute());
    if resets_at - now < 24 * 3600 {
        time
    } else {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month = MONTHS[usize::try_from(z.month() - 1).unwrap_or(0) % 12];
        format!("{month} {}, {time}", z.day())
    }
}

/// The zone's name as shown in parentheses (`UTC`, `Europe/Warsaw`).
pub fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name().unwrap_or("UTC").to_owned()
}

/// `You've hit your 5-hour limit · resets 1:20am (UTC)`
pub fn quota_line(claim: &str, resets_at: i64, now: i64, tz: &TimeZone) -> String {
    format!(
        "You've hit your {} · resets {} ({})",
        limit_label(claim),
        reset_when(resets_at, now, tz),
        zone_name(tz)
    )
}

/// `Usage limit reached · continuing automatically at 1:20am · esc to cancel`
pub fn auto_continue_line(resets_at: i64, now: i64, tz: &TimeZone) -> String {
    format!(
        "Usage limit reached · continuing automatically at {} · esc to cancel",
        reset_when(resets_at, now, tz)
    )
}

/// `You've used 92% of your 5-hour limit · resets 1:21am (UTC) · /upgrade to keep using Claude Code`
pub fn near_limit_line(
    claim: &str,
    percent: u32,
    resets_at: i64,
    now: i64,
    tz: &TimeZone,
) -> String {
    format!(
        "You've used {percent}% of your {} · resets {} ({}) · /upgrade to keep using Claude Code",
        limit_label(claim),
        reset_when(resets_at, now, tz),
        zone_name(tz)
    )
}

/// The name of a retried failure on the spinner line (`500 Internal server error`).
pub fn retry_name(status: Option<u16>) -> String {
    match status {
        Some(500) => "500 Internal server error".into(),
        Some(529) => "529 Overloaded".into(),
        Some(s @ 502..=504) => format!("{s} Server error"),
        _ => "API error".into(),
    }
}

/// The final text once retries ran out.
pub fn final_error(status: Option<u16>, message: &str, host: &str) -> String {
    let gateway = format!(
        "This is a server-side issue, usually temporary — try again in a moment. If it persists, check your inference gateway ({host})."
    );
    match status {
        Some(500) => format!("API Error: 500 Internal server error. {gateway}"),
        Some(529) => format!("API Error: 529 Overloaded. {gateway}"),
        Some(429) => format!(
            "API Error: Server is temporarily limiting requests (not your usage limit) · {message}"
        ),
        Some(s) => format!("API Error: {s} {message}"),
        None => format!("API Error: Unable to connect to API ({message})"),
    }
}

/// What a rejected login shows.
pub fn auth_error(message: &str) -> String {
    format!("Please run /login · API Error: 401 {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_times_read_like_the_cli() {
        let utc = TimeZone::UTC;
        // 2026-11-27T01:20:00Z, seen from 22:20 the day before.
        let reset = 1_795_742_400;
        assert_eq!(reset_when(reset, reset - 3 * 3600, &utc), "1:20am");
        assert_eq!(reset_when(reset, reset - 4 * 86400, &utc), "Nov 27, 1:20am");
        assert_eq!(
            quota_line("five_hour", reset, reset - 3600, &utc),
            "You've hit your 5-hour limit · resets 1:20am (UTC)"
        );
        let noon = 1_795_694_400; // 2026-11-26T12:00:00Z
        assert_eq!(reset_when(noon, noon - 60, &utc), "12:00pm");
    }
}
