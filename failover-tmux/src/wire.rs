//! The only place that knows tmux's output: format strings (`#{…}`), the field separator,
//! target syntax, error messages and control-mode notifications. Everything here is a pure
//! function of strings, so it is tested without a server (`tests/wire_parse.rs`).

/// Separates fields in every format this crate asks tmux for.
pub const FIELD_SEP: char = '\t';

/// `list-sessions -F`: one session name a line.
pub const LIST_SESSIONS_FORMAT: &str = "#{session_name}";

/// `list-panes -s -F`: whether the pane's process exited, its status and signal, its pid.
pub const PANE_STATE_FORMAT: &str =
    "#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}\t#{pane_pid}";

/// `display-message -p`: the pane size, printed after a capture in the same invocation.
pub const PANE_SIZE_FORMAT: &str = "#{pane_width}\t#{pane_height}";

/// Name of the control-mode subscription that reports pane deaths.
pub const DEAD_SUBSCRIPTION: &str = "failover-dead";

/// `refresh-client -B` argument: tmux re-evaluates this for every pane of the attached
/// session (about once a second) and notifies when it changes.
pub fn dead_subscription() -> String {
    format!("{DEAD_SUBSCRIPTION}:%*:#{{pane_dead}}{FIELD_SEP}#{{pane_dead_status}}")
}

/// The exact-match target for a session (`=name`), so `ccl-1` never matches `ccl-10`.
pub fn session_target(name: &str) -> String {
    format!("={name}")
}

/// The exact-match target for a session's active pane (`=name:`).
pub fn pane_target(name: &str) -> String {
    format!("={name}:")
}

/// tmux expands formats (`#{…}`, and `#(…)`, which runs a shell command) in some arguments,
/// such as `new-session -c`: doubling every `#` makes the value literal.
pub fn escape_format(value: &str) -> String {
    value.replace('#', "##")
}

/// Whether tmux keeps `name` as given: tmux rewrites `.` and `:` in session names, and
/// the name also becomes a file name and an environment value, so only
/// `[A-Za-z0-9_-]`, 1 to 64 characters, is accepted.
pub fn is_valid_session_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Splits `list-sessions` output into names.
pub fn parse_session_names(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The state of a session's pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaneState {
    /// The process exited (the pane stays because `remain-on-exit` is on).
    pub dead: bool,
    /// Its exit status, when it exited normally and tmux recorded it.
    pub status: Option<i32>,
    /// The signal that killed it, when it was killed.
    pub signal: Option<i32>,
    /// The process id (of the dead process, when dead).
    pub pid: Option<u32>,
}

/// Parses one [`PANE_STATE_FORMAT`] line (the first pane of the session).
pub fn parse_pane_state(stdout: &str) -> Result<PaneState, String> {
    let line = stdout.lines().next().ok_or_else(String::new)?;
    let mut f = line.split(FIELD_SEP);
    let (Some(dead), Some(status), Some(signal), Some(pid)) =
        (f.next(), f.next(), f.next(), f.next())
    else {
        return Err(line.to_owned());
    };
    let dead = match dead {
        "1" => true,
        "0" | "" => false,
        _ => return Err(line.to_owned()),
    };
    let num = |s: &str| -> Result<Option<i32>, String> {
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|_| line.to_owned())
        }
    };
    Ok(PaneState {
        dead,
        status: num(status)?,
        signal: num(signal)?,
        pid: pid.parse().ok(),
    })
}

/// Splits the output of `capture-pane -p ; display-message -p PANE_SIZE_FORMAT` into the
/// screen text (trailing blanks of each line removed) and the pane size.
pub fn parse_capture(stdout: &str) -> Result<(String, u16, u16), String> {
    let body = stdout.strip_suffix('\n').unwrap_or(stdout);
    let (screen, size) = match body.rfind('\n') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => ("", body),
    };
    let mut f = size.split(FIELD_SEP);
    let (Some(w), Some(h), None) = (f.next(), f.next(), f.next()) else {
        return Err(size.to_owned());
    };
    let (Ok(w), Ok(h)) = (w.parse::<u16>(), h.parse::<u16>()) else {
        return Err(size.to_owned());
    };
    let mut text = String::with_capacity(screen.len() + 1);
    for line in screen.split('\n') {
        text.push_str(line.trim_end_matches([' ', '\r']));
        text.push('\n');
    }
    Ok((text, w, h))
}

/// What a failed tmux call's error output means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No server on the socket (never started, exited, or killed).
    ServerDown,
    /// The target session does not exist.
    NoSession,
    /// A session of that name already exists.
    DuplicateSession,
    /// Anything else.
    Other,
}

/// Classifies tmux's error output.
pub fn classify_failure(stderr: &str) -> Failure {
    if stderr.contains("no server running on")
        || stderr.contains("error connecting to")
        || stderr.contains("server exited unexpectedly")
        || stderr.contains("lost server")
    {
        Failure::ServerDown
    } else if stderr.contains("can't find session")
        || stderr.contains("session not found")
        || stderr.contains("can't find pane")
        || stderr.contains("can't find window")
    {
        Failure::NoSession
    } else if stderr.contains("duplicate session") {
        Failure::DuplicateSession
    } else {
        Failure::Other
    }
}

/// One line a control-mode client (`tmux -C`) prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlLine {
    /// `%output %ID …` or `%extended-output %ID …`: a pane printed something.
    Output {
        /// The pane (`%3`).
        pane: String,
    },
    /// `%subscription-changed NAME … : VALUE`.
    Subscription {
        /// The subscription name.
        name: String,
        /// The pane it is about (`%3`), when it is per pane.
        pane: Option<String>,
        /// The new value.
        value: String,
    },
    /// `%exit [reason]`: the client is detaching (session gone, server exiting).
    Exit,
    /// `%session-changed`, `%sessions-changed`, `%window-close`, `%unlinked-window-close`,
    /// `%session-window-changed`: the session's shape changed; worth a look.
    SessionChanged,
    /// `%begin`/`%end`/`%error` command guards and other notifications.
    Other,
}

/// Parses one control-mode line.
pub fn parse_control_line(line: &str) -> ControlLine {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut words = line.splitn(3, ' ');
    match words.next().unwrap_or("") {
        "%output" | "%extended-output" => ControlLine::Output {
            pane: words.next().unwrap_or("").to_owned(),
        },
        "%subscription-changed" => parse_subscription(line),
        "%exit" => ControlLine::Exit,
        "%session-changed"
        | "%sessions-changed"
        | "%window-close"
        | "%unlinked-window-close"
        | "%session-window-changed" => ControlLine::SessionChanged,
        _ => ControlLine::Other,
    }
}

/// `%subscription-changed NAME $S @W IDX %P … : VALUE`
fn parse_subscription(line: &str) -> ControlLine {
    let Some((head, value)) = line.split_once(" : ") else {
        return ControlLine::Other;
    };
    let mut f = head.split(' ').skip(1);
    let name = f.next().unwrap_or("").to_owned();
    let pane = f.find(|w| w.starts_with('%')).map(str::to_owned);
    ControlLine::Subscription {
        name,
        pane,
        value: value.to_owned(),
    }
}

/// Parses a [`dead_subscription`] value: `Some(status)` when the pane is dead.
pub fn parse_dead_value(value: &str) -> Option<Option<i32>> {
    let (dead, status) = value.split_once(FIELD_SEP).unwrap_or((value, ""));
    (dead.trim() == "1").then(|| status.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_exact() {
        assert_eq!(session_target("ccl-1"), "=ccl-1");
        assert_eq!(pane_target("ccl-1"), "=ccl-1:");
    }

    #[test]
    fn formats_are_escaped() {
        assert_eq!(escape_format("/a#(touch x)/#{b}"), "/a##(touch x)/##{b}");
    }

    #[test]
    fn session_names() {
        assert!(is_valid_session_name("ccl-0_a"));
        assert!(!is_valid_session_name("a.b"));
        assert!(!is_valid_session_name("a:b"));
        assert!(!is_valid_session_name(""));
        assert!(!is_valid_session_name("a b"));
    }
}
