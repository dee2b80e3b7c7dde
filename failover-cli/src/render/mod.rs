//! Output for people: aligned tables, instants shown as local time plus "in 2h 13m",
//! coloured states on a terminal, and the command prefix hints repeat.

mod control;

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use jiff::{Timestamp, tz::TimeZone};

pub(crate) use control::{
    Decisions, ProgressTracker, accounts_table, describe, event_line, pause_reply, refusal_text,
    sessions_table, status_text, swap_accepted, swap_complete,
};

/// A table with a header row, columns padded to their widest cell.
#[derive(Debug, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as [`Table::render`] does, with the last column's long cells wrapped onto
    /// continuation lines under that column, so that no line is wider than `max` columns
    /// (unless the other columns alone are).
    pub(crate) fn render_fit(&self, max: usize) -> String {
        let cols = self.header.len();
        if cols == 0 {
            return self.render();
        }
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(width(c));
            }
        }
        let before: usize = widths[..cols - 1].iter().map(|w| w + 2).sum();
        let room = max.saturating_sub(before).max(16);
        let mut head = Table::new(&[]);
        head.header.clone_from(&self.header);
        let mut continuation: Vec<Option<Vec<String>>> = Vec::new();
        for r in &self.rows {
            let mut r = r.clone();
            r.resize(cols, String::new());
            let last = wrap(&r[cols - 1], room);
            let mut lines = last.lines().map(str::to_owned);
            r[cols - 1] = lines.next().unwrap_or_default();
            let rest: Vec<String> = lines.map(|l| l.trim_start().to_owned()).collect();
            head.rows.push(r);
            continuation.push((!rest.is_empty()).then_some(rest));
        }
        let text = head.render();
        let mut out = String::new();
        let mut lines = text.lines();
        if let Some(h) = lines.next() {
            out.push_str(h);
            out.push('\n');
        }
        for (line, more) in lines.zip(continuation) {
            out.push_str(line);
            out.push('\n');
            for m in more.into_iter().flatten() {
                out.push_str(&" ".repeat(before));
                out.push_str(&m);
                out.push('\n');
            }
        }
        out
    }

    /// Whether no rows were added.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, two spaces between columns, no trailing spaces.
    pub(crate) fn render(&self) -> String {
        let cols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(width(c));
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                let cell = r.get(i).map_or("", String::as_str);
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < cols {
                    line.extend(std::iter::repeat_n(' ', w.saturating_sub(width(cell))));
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }
}

/// How many columns `s` takes: characters, not counting ANSI colour sequences.
fn width(s: &str) -> usize {
    let mut n = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// An instant as local wall time, with the date when it is not today, and relative to `now`:
/// `15:38 (in 2h 13m)`, `Nov 28 09:00 (in 1d 17h)`, `14:02 (3m ago)`.
pub(crate) fn instant(at: Timestamp, now: Timestamp) -> String {
    instant_in(at, now, &TimeZone::system())
}

/// [`instant`] in a given zone (tests use a fixed one).
pub(crate) fn instant_in(at: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    let z = at.to_zoned(tz.clone());
    let today = now.to_zoned(tz.clone()).date();
    let wall = if z.date() == today {
        z.strftime("%H:%M").to_string()
    } else {
        z.strftime("%b %d %H:%M").to_string()
    };
    format!("{wall} ({})", relative(at, now))
}

/// `in 2h 13m`, `in 45s`, `3m ago`, `now`.
pub(crate) fn relative(at: Timestamp, now: Timestamp) -> String {
    let secs = at.as_second() - now.as_second();
    if secs == 0 {
        return "now".into();
    }
    let span = span(secs.unsigned_abs());
    if secs > 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A duration in seconds, in its two largest units: `1d 4h`, `2h 13m`, `5m 2s`, `45s`.
pub(crate) fn span(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) if s == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// A percentage for tables: `81%`, `-` when unknown.
pub(crate) fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "-".into(), |p| format!("{p:.0}%"))
}

/// An optional value for tables, `-` when absent.
pub(crate) fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// Lines for people fit this many columns.
pub(crate) const COLUMNS: usize = 100;

/// `text` with every line longer than `max` columns broken at spaces; continuation lines are
/// indented four columns past the line's own indentation (or its `[  0.1s] ` stamp).
pub(crate) fn wrap(text: &str, max: usize) -> String {
    let mut out = String::new();
    for line in text.split('\n') {
        if !out.is_empty() {
            out.push('\n');
        }
        if width(line) <= max {
            out.push_str(line);
            continue;
        }
        let lead = line.len() - line.trim_start().len();
        let stamp = line[lead..]
            .starts_with('[')
            .then(|| line[lead..].find("] ").map(|i| i + 2))
            .flatten()
            .unwrap_or(0);
        let indent = " ".repeat((lead + stamp).max(lead + 4).min(max / 2));
        let mut cur = String::new();
        for word in line.split(' ') {
            let room = if cur.trim().is_empty() {
                usize::MAX
            } else {
                max
            };
            if !cur.is_empty() && width(&cur) + 1 + width(word) > room {
                out.push_str(cur.trim_end());
                out.push('\n');
                cur = indent.clone();
            } else if !cur.is_empty() && !cur.ends_with(' ') {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        out.push_str(cur.trim_end());
    }
    out
}

/// Writes one line to stderr, ignoring a closed stream (`cmd 2>&1 | head -1` must not
/// panic the way `eprintln!` does).
pub(crate) fn err_line(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.write_all(b"\n");
    let _ = err.flush();
}

/// The flags that choose the daemon and its config (`--socket`, `--config`, `--tcp`,
/// `--token-file`), as given on this command line; [`cmd`] repeats them in hints.
static PREFIX: OnceLock<String> = OnceLock::new();

/// Records the flags hints must repeat (called once by `main`).
pub(crate) fn set_hint_flags(flags: &[(&str, &std::ffi::OsStr)]) {
    let mut s = String::from("claude-failover");
    for (flag, value) in flags {
        let _ = write!(s, " {flag} {}", shell_word(&value.to_string_lossy()));
    }
    let _ = PREFIX.set(s);
}

/// A command to suggest: `claude-failover [the flags given] <rest>`, e.g.
/// `claude-failover --socket /run/x.sock accounts`.
pub(crate) fn cmd(rest: &str) -> String {
    let prefix = PREFIX.get().map_or("claude-failover", String::as_str);
    format!("{prefix} {rest}")
}

/// `s` quoted for a POSIX shell when it holds anything but plain path characters.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:+=,@%~".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Whether stdout gets colour: a terminal, and `NO_COLOR` unset or empty.
pub(crate) fn stdout_colour() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether stderr gets colour (logs): a terminal, and `NO_COLOR` unset or empty.
pub(crate) fn stderr_colour() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// An account or session state, coloured when `colour` is set: red for states that stop
/// work (exhausted, needs login, dead), yellow for the ones on their way (near limit,
/// launching, stopping), green for working ones.
pub(crate) fn state(text: &str, colour: bool) -> String {
    if !colour {
        return text.to_owned();
    }
    let code = match text {
        "exhausted" | "needs_login" | "dead" | "halted" | "failed" => "31",
        "near_limit" | "launching" | "prompting" | "checkpointing" | "stopping" | "parked" => "33",
        "available" | "running" | "working" => "32",
        _ => return text.to_owned(),
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Writes `text` to stdout and flushes; a closed pipe comes back as an error the caller's
/// `main` treats as success.
pub(crate) fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes one line to stdout and flushes (for live output).
pub(crate) fn line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Pretty JSON to stdout.
pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    line(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_under_their_stamp() {
        let line = format!("   [  0.1s] detection   {}", "word ".repeat(30));
        let text = wrap(line.trim_end(), 60);
        for l in text.lines() {
            assert!(l.chars().count() <= 60, "{text}");
        }
        let second = text.lines().nth(1).unwrap();
        assert!(second.starts_with(&" ".repeat(12)), "{text}");
        assert!(!second.starts_with(&" ".repeat(13)), "{text}");
        assert_eq!(wrap("short", 60), "short");
    }

    #[test]
    fn fitted_tables_wrap_the_last_column_under_itself() {
        let mut t = Table::new(&["A", "NOTE"]);
        t.row(vec!["x".into(), "word ".repeat(20).trim_end().into()]);
        let text = t.render_fit(40);
        assert!(text.lines().all(|l| l.chars().count() <= 40), "{text}");
        assert_eq!(text.matches("word").count(), 20, "{text}");
        assert!(
            text.lines().nth(2).unwrap().starts_with("   word"),
            "{text}"
        );
    }

    #[test]
    fn tables_align_and_trim() {
        let mut t = Table::new(&["NAME", "STATE", "USED"]);
        t.row(vec!["primary".into(), "exhausted".into(), "100%".into()]);
        t.row(vec!["b".into(), "available".into(), "-".into()]);
        assert_eq!(
            t.render(),
            "NAME     STATE      USED\nprimary  exhausted  100%\nb        available  -\n"
        );
    }

    #[test]
    fn spans_keep_two_units() {
        assert_eq!(span(45), "45s");
        assert_eq!(span(120), "2m");
        assert_eq!(span(302), "5m 2s");
        assert_eq!(span(2 * 3600 + 13 * 60 + 9), "2h 13m");
        assert_eq!(span(86_400 + 4 * 3600), "1d 4h");
    }

    #[test]
    fn instants_show_local_wall_time_and_distance() {
        let tz = TimeZone::fixed(jiff::tz::offset(2));
        let now: Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
        let soon: Timestamp = "2026-11-26T12:13:00Z".parse().unwrap();
        assert_eq!(instant_in(soon, now, &tz), "14:13 (in 2h 13m)");
        let tomorrow: Timestamp = "2026-11-27T22:30:00Z".parse().unwrap();
        assert_eq!(instant_in(tomorrow, now, &tz), "Nov 28 00:30 (in 1d 12h)");
        let past: Timestamp = "2026-11-26T09:57:00Z".parse().unwrap();
        assert_eq!(instant_in(past, now, &tz), "11:57 (3m ago)");
    }
}
