//! Reset times as Claude Code prints them, turned into absolute instants.
//!
//! Claude Code tells the user when a window resets in several shapes, depending on the
//! version and on how far away the reset is:
//!
//! | Text | Meaning |
//! |---|---|
//! | `resets 9:38am (UTC)` | the next 9:38 in UTC |
//! | `resets Dec 2, 7pm (Europe/Moscow)` | the next Dec 2 at 19:00 in Moscow |
//! | `resets Dec 2, 2027, 7pm (Europe/Moscow)` | exactly that date |
//! | `resets 3pm` | the next 15:00 in the observer's zone ([`DetectContext::local_zone`]) |
//! | `Your limit will reset at 5pm (Europe/Warsaw)` | the next 17:00 in Warsaw |
//! | `continuing automatically at 9:38am` | the next 9:38 in the observer's zone |
//! | `resets in 2h 30m` | relative to the observation |
//! | `Claude AI usage limit reached\|1753452000` | epoch seconds (older versions) |
//!
//! A wall-clock time without a date is resolved to the **first such instant strictly after**
//! [`DetectContext::observed_at`], where a time whose minute is still running counts as that
//! minute's end (Claude Code cuts the reset to the minute: 9:38:40 shows as `9:38am`, and a
//! screen read at 9:38:20 means "in at most 40 s", not "tomorrow"): after midnight it rolls to
//! the next day, a date already
//! past this year rolls to the next year, `Feb 29` rolls to the next leap year. Local times
//! that fall into a DST gap are shifted forward by the gap (2:30 in a 2:00→3:00 gap is 3:30),
//! and repeated local times (DST fold) resolve to the earlier one (jiff's "compatible" strategy, the one JavaScript's
//! `Date` and Claude Code use). Zones are looked up in the time zone database bundled into
//! the binary, never in the system's: this module does no I/O.
//!
//! The parser is tolerant of missing spaces (a hard wrap may have glued two words) and of
//! spaces inside the parenthesised zone name.

use std::sync::OnceLock;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{Timestamp, ToSpan};
use regex::{Captures, Regex};

use super::DetectContext;
use crate::time::UnixMillis;

/// Finds and resolves reset times in text. Build it once; it holds compiled regexes.
#[derive(Debug, Clone)]
pub struct ResetParser {
    clock: Regex,
    relative: Regex,
    epoch: Regex,
}

/// The bundled time zone database, shared by every parser.
fn tz_db() -> &'static TimeZoneDatabase {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

/// Looks a zone name (`UTC`, `Europe/Moscow`, `GMT`) up in the bundled database.
pub fn lookup_zone(name: &str) -> Option<TimeZone> {
    let name: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    if name.is_empty() {
        return None;
    }
    tz_db().get(&name).ok()
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

impl Default for ResetParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ResetParser {
    /// Compiles the patterns.
    #[allow(clippy::missing_panics_doc)]
    pub fn new() -> Self {
        // The patterns are constants: a failure to compile is a bug caught by every test.
        #[allow(clippy::expect_used)]
        let compile = |p: &str| Regex::new(p).expect("reset pattern compiles");
        Self {
            clock: compile(
                r"(?ix)
                (?:\breset(?:s|ting)?|\bcontinuing\s*automatically|\bavailable\s*again)
                \s*(?:at|on)?\s*
                (?:
                    (?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s*
                    (?P<day>\d{1,2})(?:st|nd|rd|th)?
                    (?:\s*,\s*(?P<year>\d{4}))?
                    \s*(?:,|\bat\b)?\s*
                )?
                (?P<hour>\d{1,2})(?:\s*:\s*(?P<min>\d{2}))?\s*(?P<ampm>[ap]\.?\s*m\b\.?)?
                (?:\s*\(\s*(?P<tz>[A-Za-z_][A-Za-z0-9_+\-/\s]{0,63}?)\s*\))?
                ",
            ),
            relative: compile(
                r"(?ix)\breset(?:s|ting)?\s*in\s*
                (?:(?P<d>\d{1,3})\s*d(?:ays?)?\b\s*)?
                (?:(?P<h>\d{1,3})\s*h(?:ours?|rs?)?\b\s*)?
                (?:(?P<m>\d{1,3})\s*m(?:in(?:ute)?s?)?\b)?",
            ),
            epoch: compile(r"(?i)usage\s*limit\s*reached\s*\|\s*(?P<epoch>\d{9,13})\b"),
        }
    }

    /// Finds the first reset time in `text` and resolves it against `ctx`.
    ///
    /// Returns `None` when the text names no reset, names a zone the bundled database does
    /// not know, or names an instant that is not after `ctx.observed_at` (an epoch or an
    /// explicit year in the past). Never panics.
    pub fn find(&self, text: &str, ctx: &DetectContext) -> Option<UnixMillis> {
        if let Some(c) = self.epoch.captures(text) {
            let raw: i64 = c.name("epoch")?.as_str().parse().ok()?;
            // 13 digits are milliseconds, fewer are seconds.
            let millis = if raw >= 100_000_000_000 {
                raw
            } else {
                raw.checked_mul(1000)?
            };
            return (millis > ctx.observed_at.0).then_some(UnixMillis(millis));
        }
        if let Some(at) = self
            .clock
            .captures_iter(text)
            .find_map(|c| resolve_clock(&c, ctx))
        {
            return Some(at);
        }
        let c = self.relative.captures(text)?;
        let num = |n: &str| -> i64 {
            c.name(n)
                .and_then(|m| m.as_str().parse::<i64>().ok())
                .unwrap_or(0)
        };
        let minutes = num("d") * 24 * 60 + num("h") * 60 + num("m");
        (minutes > 0).then(|| UnixMillis(ctx.observed_at.0.saturating_add(minutes * 60_000)))
    }
}

/// Resolves one `clock` match; `None` when the match is not a usable time.
fn resolve_clock(c: &Captures<'_>, ctx: &DetectContext) -> Option<UnixMillis> {
    let mut hour: i8 = c.name("hour")?.as_str().parse().ok()?;
    let minute: i8 = match c.name("min") {
        Some(m) => m.as_str().parse().ok()?,
        None => 0,
    };
    match c.name("ampm") {
        Some(ampm) => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            let pm = ampm.as_str().starts_with(['p', 'P']);
            hour = match (hour, pm) {
                (12, false) => 0,
                (12, true) => 12,
                (h, false) => h,
                (h, true) => h + 12,
            };
        }
        // A bare number ("resets 3") is not a time; "17:00" is.
        None if c.name("min").is_none() => return None,
        None => {}
    }
    let time = Time::new(hour, minute, 0, 0).ok()?;
    let zone = match c.name("tz") {
        Some(name) => lookup_zone(name.as_str())?,
        None => ctx.local_zone.clone(),
    };
    let now = Timestamp::from_millisecond(ctx.observed_at.0).ok()?;
    let today = now.to_zoned(zone.clone()).date();

    let at = |date: Date| -> Option<Timestamp> {
        zone.to_ambiguous_timestamp(DateTime::from_parts(date, time))
            .compatible()
            .ok()
    };
    // Claude Code prints the reset cut to the minute (02:13:37 shows as "2:13am"), so a
    // shown time whose minute is still running is this minute's reset, not tomorrow's:
    // it resolves to the end of that minute, the first instant the reset has surely passed.
    let ahead = |ts: Timestamp| -> Option<UnixMillis> {
        if ts > now {
            return Some(UnixMillis(ts.as_millisecond()));
        }
        let end = ts.checked_add(1.minute()).ok()?;
        (end > now).then(|| UnixMillis(end.as_millisecond()))
    };

    match (c.name("mon"), c.name("day")) {
        (Some(mon), Some(day)) => {
            let month = month_number(mon.as_str())?;
            let day: i8 = day.as_str().parse().ok()?;
            if let Some(year) = c.name("year") {
                let year: i16 = year.as_str().parse().ok()?;
                let ts = at(Date::new(year, month, day).ok()?)?;
                return ahead(ts);
            }
            // The first year (this one or later) in which the date exists and lies ahead.
            (0..=8).find_map(|years: i16| {
                let year = today.year().checked_add(years)?;
                let ts = at(Date::new(year, month, day).ok()?)?;
                ahead(ts)
            })
        }
        _ => {
            // Today or the next days: the first day on which the time lies ahead. Two days
            // cover every DST transition.
            let mut date = today;
            for _ in 0..3 {
                if let Some(ms) = at(date).and_then(ahead) {
                    return Some(ms);
                }
                date = date.checked_add(1.day()).ok()?;
            }
            None
        }
    }
}

fn month_number(name: &str) -> Option<i8> {
    let lower = name.to_ascii_lowercase();
    let idx = MONTHS.iter().position(|m| lower.starts_with(m))?;
    i8::try_from(idx + 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(at: &str, zone: &str) -> DetectContext {
        let ts: Timestamp = at.parse().unwrap();
        DetectContext {
            observed_at: UnixMillis(ts.as_millisecond()),
            local_zone: lookup_zone(zone).unwrap(),
        }
    }

    fn parse(text: &str, c: &DetectContext) -> Option<String> {
        ResetParser::new()
            .find(text, c)
            .map(|m| Timestamp::from_millisecond(m.0).unwrap().to_string())
    }

    #[test]
    fn same_day_and_next_day() {
        let c = ctx("2026-11-26T08:00:00Z", "UTC");
        assert_eq!(
            parse("resets 9:38am (UTC)", &c).unwrap(),
            "2026-11-26T09:38:00Z"
        );
        let c = ctx("2026-11-26T10:00:00Z", "UTC");
        assert_eq!(
            parse("resets 9:38am (UTC)", &c).unwrap(),
            "2026-11-27T09:38:00Z"
        );
        // Seen within the minute it names: the reset (cut to the minute on screen) is this
        // minute's, so it lies at the latest at the minute's end; a minute later, tomorrow's.
        let c = ctx("2026-11-26T09:38:20Z", "UTC");
        assert_eq!(
            parse("resets 9:38am (UTC)", &c).unwrap(),
            "2026-11-26T09:39:00Z"
        );
        let c = ctx("2026-11-26T09:39:00Z", "UTC");
        assert_eq!(
            parse("resets 9:38am (UTC)", &c).unwrap(),
            "2026-11-27T09:38:00Z"
        );
    }

    #[test]
    fn month_and_year_end() {
        let c = ctx("2026-12-31T23:30:00Z", "UTC");
        assert_eq!(
            parse("resets 12am (UTC)", &c).unwrap(),
            "2027-01-01T00:00:00Z"
        );
        let c = ctx("2026-12-20T00:00:00Z", "UTC");
        assert_eq!(
            parse("resets Jan 2, 7pm (Europe/Moscow)", &c).unwrap(),
            "2027-01-02T16:00:00Z"
        );
        assert_eq!(
            parse("resets Dec 2, 2027, 7pm (Europe/Moscow)", &c).unwrap(),
            "2027-12-02T16:00:00Z"
        );
        assert_eq!(parse("resets Dec 2, 2025, 7pm (UTC)", &c), None);
    }

    #[test]
    fn local_zone_and_dst() {
        // 2026-03-29 is the spring-forward day in Warsaw (02:00 → 03:00).
        let c = ctx("2026-03-28T23:00:00Z", "Europe/Warsaw");
        // 2:30 does not exist that night: it is read as 3:30 CEST, like JavaScript does.
        assert_eq!(parse("resets 2:30am", &c).unwrap(), "2026-03-29T01:30:00Z");
        assert_eq!(parse("resets 3pm", &c).unwrap(), "2026-03-29T13:00:00Z");
        // The day before, 3pm was still CET (UTC+1).
        let c = ctx("2026-03-28T10:00:00Z", "Europe/Warsaw");
        assert_eq!(parse("resets 3pm", &c).unwrap(), "2026-03-28T14:00:00Z");
    }

    #[test]
    fn other_shapes() {
        let c = ctx("2026-07-25T10:00:00Z", "UTC");
        assert_eq!(
            parse("Your limit will reset at 5pm (Europe/Warsaw).", &c).unwrap(),
            "2026-07-25T15:00:00Z"
        );
        assert_eq!(
            parse("continuing automatically at 9:38am · esc", &c).unwrap(),
            "2026-07-26T09:38:00Z"
        );
        assert_eq!(
            parse("Claude AI usage limit reached|1785060000", &c).unwrap(),
            "2026-07-26T10:00:00Z"
        );
        assert_eq!(
            parse("resets in 2h 30m", &c).unwrap(),
            "2026-07-25T12:30:00Z"
        );
        assert_eq!(
            parse("resets Jul25,9pm(Europe/Mos\ncow)", &c).unwrap(),
            "2026-07-25T18:00:00Z"
        );
        assert_eq!(parse("resets 3 things", &c), None);
        assert_eq!(parse("resets 3pm (Mars/Olympus)", &c), None);
    }
}
