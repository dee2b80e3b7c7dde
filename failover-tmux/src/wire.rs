//! The only place that knows tmux's output: format strings (`#{…}`), the field separator,
//! target syntax, error messages and control-mode notifications. Everything here is a pure
//! function of strings, so it is tested without a server (`tests/wire_parse.rs`).

/// Separates fields in every format this crate asks tmux for.
pub const FIELD_SEP: char = '\t';

/// `list-sessions -F`: one session name a line.
pub const LIST_SESSIONS_FORMAT: &str = "#{session_name}";

/// Pane option in which [`EXIT_WRAPPER`] records the program's exit status. tmux 3.3
/// sometimes marks a pane dead without ever recording `pane_dead_status` (when the terminal
/// closes before the child is reaped), so the status is also kept here.
pub const EXIT_OPTION: &str = "@failover-exit";

/// The exit notice's text, written once for both its users (see [`EXIT_NOTICE`]).
macro_rules! exit_notice {
    () => {
        r"\033]7701;failover-exited\007"
    };
}

/// What [`EXIT_WRAPPER`] prints once the program has exited and its status is recorded: an
/// OSC sequence (`ESC ] 7701;failover-exited BEL`) with a number no terminal uses, which
/// tmux swallows, so nothing shows on screen. A control-mode client sees the raw bytes in
/// `%output`, with control characters escaped in octal: exactly this text, which is also
/// the `printf` format that writes it. It is how a
/// [`PaneObserver`](crate::observe::PaneObserver) learns of the exit at once, without a
/// `refresh-client -B` subscription, which tmux evaluates every second for every client.
pub const EXIT_NOTICE: &str = exit_notice!();

/// A fixed `sh -c` script: runs `"$@"` (the program and its arguments, passed as separate
/// arguments, never parsed by the shell), then stores its exit status in [`EXIT_OPTION`]
/// through `$0` (the tmux program; `$TMUX`, set by tmux in the pane, names the server) on
/// the pane `$TMUX_PANE` names, prints the [`EXIT_NOTICE`] and exits with the same status.
/// The pane is named: without `-t`, tmux takes the current pane of the session it finds
/// best for the client, and once the observers' session links the window that is the
/// observers' session's own pane. The `trap` (a handler, which programs started by the
/// shell do not inherit, unlike an ignored signal) keeps the wrapper alive through a Ctrl-C
/// meant for the program, so the status is recorded then too. Hangups are not trapped: the wrapper leads the terminal's session, and
/// only its death passes the hangup of `kill-session` on to the program.
pub const EXIT_WRAPPER: &str = concat!(
    "trap : INT QUIT; \"$@\"; s=$?; \"$0\" set-option -p -t \"$TMUX_PANE\" @failover-exit \"$s\" 2>/dev/null; printf '",
    exit_notice!(),
    "'; exit \"$s\""
);

/// `list-panes -s -F`: whether the pane's process exited, its status (tmux's, then the
/// wrapper's), the signal that killed it, its pid.
pub const PANE_STATE_FORMAT: &str =
    "#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}\t#{pane_pid}\t#{@failover-exit}";

/// `list-panes -a -F`: the session's name, then [`PANE_STATE_FORMAT`], for every pane of
/// the server in one call.
pub const ALL_PANE_STATES_FORMAT: &str = "#{session_name}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}\t#{pane_pid}\t#{@failover-exit}";

/// Session option holding the account a session was launched on.
pub const ACCOUNT_OPTION: &str = "@failover-account";
/// Session option holding the conversation a session was launched with.
pub const CONVERSATION_OPTION: &str = "@failover-claude-session";
/// Session option holding the `CLAUDE_CONFIG_DIR` a session was launched with.
pub const CONFIG_DIR_OPTION: &str = "@failover-config-dir";

/// Session option holding the pane's process group as `pgid:leader start time`, recorded
/// right after launch so that a stop never signals a group that merely reuses the number.
pub const LEADER_OPTION: &str = "@failover-leader";

/// Session option set on a launch that resumes a conversation (with
/// `CLAUDE_CODE_RESUME_INTERRUPTED_TURN=1`): `<transcript length at launch>:<transcript
/// path>`, so a replay can tell whether the program took the interrupted turn up by itself.
/// Removed by the first replay that reads it.
pub const RESUME_OPTION: &str = "@failover-resume";

/// `display-message -p`: [`RESUME_OPTION`]'s value.
pub const RESUME_FORMAT: &str = "#{@failover-resume}";

/// Session option set on a launch that had a program already running load the
/// conversation (`/resume`, see `SessionBackend::prepare`): the screen redraws the old
/// conversation, a usage-limit message that refused its last turn included, which is the
/// previous account's news (the pane observer takes what the screen shows before the
/// program's first activity report for history). Removed by the observer that read it.
pub const REDRAWN_OPTION: &str = "@failover-redrawn";

/// `display-message -p`: [`RESUME_OPTION`]'s value, then [`REDRAWN_OPTION`]'s.
pub const RESUME_MARKS_FORMAT: &str = "#{@failover-resume}\t#{@failover-redrawn}";

/// Parses [`RESUME_MARKS_FORMAT`] output: the resume mark, if any, and whether the screen
/// redraws a conversation loaded into a running program.
pub fn parse_resume_marks(stdout: &str) -> (Option<String>, bool) {
    let line = stdout.lines().next().unwrap_or("");
    let (mark, redrawn) = line.split_once(FIELD_SEP).unwrap_or((line, ""));
    let mark = mark.trim();
    (
        (!mark.is_empty()).then(|| mark.to_owned()),
        !redrawn.trim().is_empty(),
    )
}

/// Parses a [`RESUME_OPTION`] value into the transcript's length at launch and its path.
pub fn parse_resume_mark(value: &str) -> Option<(u64, std::path::PathBuf)> {
    let (len, path) = value.trim_end_matches('\n').split_once(':')?;
    Some((len.parse().ok()?, std::path::PathBuf::from(path)))
}

/// `display-message -p`: [`LEADER_OPTION`]'s value.
pub const LEADER_FORMAT: &str = "#{@failover-leader}";

/// `list-panes -s -F`: what the backend recorded at launch, and the working directory.
pub const DESCRIBE_FORMAT: &str =
    "#{@failover-account}\t#{@failover-claude-session}\t#{@failover-config-dir}\t#{session_path}";

/// What [`DESCRIBE_FORMAT`] printed; empty fields are `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    /// The account.
    pub account: Option<String>,
    /// The conversation.
    pub conversation: Option<String>,
    /// The config dir.
    pub config_dir: Option<String>,
    /// The session's working directory.
    pub dir: String,
}

/// Parses the first [`DESCRIBE_FORMAT`] line.
pub fn parse_described(stdout: &str) -> Result<Described, String> {
    let line = stdout.lines().next().ok_or_else(String::new)?;
    let f: Vec<&str> = line.splitn(4, FIELD_SEP).collect();
    let [account, conversation, config_dir, dir] = f[..] else {
        return Err(line.to_owned());
    };
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(Described {
        account: some(account),
        conversation: some(conversation),
        config_dir: some(config_dir),
        dir: dir.to_owned(),
    })
}

/// `display-message -p`: the pane size, printed after a capture in the same invocation.
pub const PANE_SIZE_FORMAT: &str = "#{pane_width}\t#{pane_height}";

/// Name of the control-mode subscription that reports pane deaths. The
/// [`PaneObserver`](crate::observe::PaneObserver) does not subscribe (it reads the
/// [`EXIT_NOTICE`]); this stays for callers that want tmux's own view of a pane's death.
/// Beware tmux 3.3a: its server crashes when sessions are created while clients holding
/// subscriptions attach.
pub const DEAD_SUBSCRIPTION: &str = "failover-dead";

/// `refresh-client -B` argument: tmux re-evaluates this for every pane of the attached
/// session (about once a second, for every client subscribed: with 200 clients, 200 server
/// wake-ups a second) and notifies when it changes.
pub fn dead_subscription() -> String {
    format!(
        "{DEAD_SUBSCRIPTION}:%*:#{{pane_dead}}{FIELD_SEP}#{{pane_dead_status}}{FIELD_SEP}#{{{EXIT_OPTION}}}"
    )
}

/// The session the pane observers' one control-mode client attaches to, per tmux server
/// and daemon process (`hub` tells apart the clients one process started, one after
/// another or for several transports): every observed session's window is linked into it,
/// because tmux sends a control client `%output` only for panes of windows in its own
/// session. The space keeps it apart from every session this crate launches (their names
/// never hold one).
pub fn observer_session(pid: u32, hub: u64) -> String {
    format!("failover observer {pid}-{hub}")
}

/// Whether `name` is an [`observer_session`] (of any process).
pub fn is_observer_session(name: &str) -> bool {
    name.starts_with("failover observer ")
}

/// Prefix of the tmux session a standby runs in (see [`standby_session`]).
const STANDBY_PREFIX: &str = "failover standby ";

/// The tmux session holding the program prepared ahead of a move of `session` (a standby,
/// see `SessionBackend::prepare`): `failover standby <session>`, which `tmux ls` shows
/// as it is. The spaces keep it apart from every session this crate launches (their names
/// never hold one), as for [`observer_session`].
pub fn standby_session(session: &str) -> String {
    format!("{STANDBY_PREFIX}{session}")
}

/// Whether `name` is a [`standby_session`].
pub fn is_standby_session(name: &str) -> bool {
    name.starts_with(STANDBY_PREFIX)
}

/// Whether `name` is a session of this crate's own making that is not a session of the
/// pool: an [`observer_session`] or a [`standby_session`].
pub fn is_auxiliary_session(name: &str) -> bool {
    is_observer_session(name) || is_standby_session(name)
}

/// Session option of a [`standby_session`]: the pid of the process whose backend prepared
/// it, so that a backend that starts ends the standbys of processes that are gone.
pub const STANDBY_OWNER_OPTION: &str = "@failover-standby-owner";

/// `list-sessions -F`: a session's [`STANDBY_OWNER_OPTION`], then its name.
pub const STANDBY_OWNERS_FORMAT: &str = "#{@failover-standby-owner}\t#{session_name}";

/// Parses [`STANDBY_OWNERS_FORMAT`] output into the [`standby_session`]s and their owner's
/// pid (`None`: not recorded).
pub fn parse_standby_owners(stdout: &str) -> Vec<(String, Option<u32>)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (owner, name) = l.split_once(FIELD_SEP)?;
            is_standby_session(name).then(|| (name.to_owned(), owner.trim().parse().ok()))
        })
        .collect()
}

/// The `%window-pane-changed @W %P` notification: window `@W`'s active pane is now `%P`
/// (after a `swap-pane`, among others).
pub fn parse_window_pane_changed(line: &str) -> Option<(&str, &str)> {
    let mut words = line.split(' ');
    if words.next()? != "%window-pane-changed" {
        return None;
    }
    let window = words.next().filter(|w| w.starts_with('@'))?;
    let pane = words.next().filter(|p| p.starts_with('%'))?;
    Some((window, pane.trim_end_matches('\r')))
}

/// `display-message -p`: the ids of a session's active pane and window (`%3`, `@2`).
pub const PANE_WINDOW_FORMAT: &str = "#{pane_id}\t#{window_id}";

/// Parses [`PANE_WINDOW_FORMAT`] output.
pub fn parse_pane_window(stdout: &str) -> Option<(String, String)> {
    let line = stdout.lines().next()?;
    let (pane, window) = line.split_once(FIELD_SEP)?;
    (pane.starts_with('%') && window.starts_with('@')).then(|| (pane.to_owned(), window.to_owned()))
}

/// `list-windows -F`: each window's id and how many sessions it is linked to.
pub const WINDOW_LINKS_FORMAT: &str = "#{window_id}\t#{window_linked_sessions}";

/// Parses [`WINDOW_LINKS_FORMAT`] output into (window id, sessions linked).
pub fn parse_window_links(stdout: &str) -> Vec<(String, u32)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (id, n) = l.split_once(FIELD_SEP)?;
            Some((id.to_owned(), n.trim().parse().ok()?))
        })
        .collect()
}

/// `list-sessions -F`: how many clients are attached to a session, and its name.
pub const SESSIONS_ATTACHED_FORMAT: &str = "#{session_attached}\t#{session_name}";

/// Parses [`SESSIONS_ATTACHED_FORMAT`] output into (session name, clients attached).
pub fn parse_sessions_attached(stdout: &str) -> Vec<(String, u32)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (n, name) = l.split_once(FIELD_SEP)?;
            Some((name.to_owned(), n.trim().parse().ok()?))
        })
        .collect()
}

/// The window a control-mode notification is about (`@2`), for `%window-renamed`,
/// `%layout-change`, `%window-close` and `%unlinked-window-close`.
pub fn control_line_window(line: &str) -> Option<&str> {
    let mut words = line.split(' ');
    match words.next()? {
        "%window-renamed" | "%layout-change" | "%window-close" | "%unlinked-window-close" => {
            words.next().filter(|w| w.starts_with('@'))
        }
        _ => None,
    }
}

/// A window of `session` by id (`=name:@2`), which names that session's link of a window
/// linked into several.
pub fn window_in_session(session: &str, window: &str) -> String {
    format!("={session}:{window}")
}

/// The exact-match target for a session (`=name`), so `ccl-1` never matches `ccl-10`.
pub fn session_target(name: &str) -> String {
    format!("={name}")
}

/// The exact-match target for a session's active pane (`=name:`). Commands that take a
/// window or pane target need the colon: `list-panes -s -t =pre` matches a session called
/// `prefix`, `-t =pre:` does not; `set-option -t =name` does not find the session at all.
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
    let recorded = f.next().unwrap_or("");
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
    let status = match num(status)? {
        Some(s) => Some(s),
        None if dead => num(recorded)?,
        None => None,
    };
    Ok(PaneState {
        dead,
        status,
        signal: num(signal)?,
        pid: pid.parse().ok(),
    })
}

/// Parses [`ALL_PANE_STATES_FORMAT`] output into each session's name and the state of its
/// first pane, in tmux's order. Lines that do not parse (a session whose name holds a tab)
/// are skipped: they are not sessions this crate made.
pub fn parse_all_pane_states(stdout: &str) -> Vec<(String, PaneState)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in stdout.lines() {
        let Some((name, rest)) = line.split_once(FIELD_SEP) else {
            continue;
        };
        if !seen.insert(name) {
            continue;
        }
        if let Ok(state) = parse_pane_state(rest) {
            out.push((name.to_owned(), state));
        }
    }
    out
}

/// Splits the output of `capture-pane -p` followed by a one-line command into the screen
/// and that line.
fn split_capture(stdout: &str) -> (&str, &str) {
    let body = stdout.strip_suffix('\n').unwrap_or(stdout);
    match body.rfind('\n') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => ("", body),
    }
}

/// The screen text of a capture, trailing blanks of each line removed.
fn screen_text(screen: &str) -> String {
    let mut text = String::with_capacity(screen.len() + 1);
    for line in screen.split('\n') {
        text.push_str(line.trim_end_matches([' ', '\r']));
        text.push('\n');
    }
    text
}

/// Splits the output of `capture-pane -p ; display-message -p PANE_STATE_FORMAT` into the
/// screen text (as [`parse_capture`] gives it) and the state of the pane.
pub fn parse_capture_state(stdout: &str) -> Result<(String, PaneState), String> {
    let (screen, state) = split_capture(stdout);
    Ok((screen_text(screen), parse_pane_state(state)?))
}

/// Splits the output of `capture-pane -p ; display-message -p PANE_SIZE_FORMAT` into the
/// screen text (trailing blanks of each line removed) and the pane size.
pub fn parse_capture(stdout: &str) -> Result<(String, u16, u16), String> {
    let (screen, size) = split_capture(stdout);
    let mut f = size.split(FIELD_SEP);
    let (Some(w), Some(h), None) = (f.next(), f.next(), f.next()) else {
        return Err(size.to_owned());
    };
    let (Ok(w), Ok(h)) = (w.parse::<u16>(), h.parse::<u16>()) else {
        return Err(size.to_owned());
    };
    Ok((screen_text(screen), w, h))
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
        || stderr.contains("no current target")
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
    /// Pane output that holds the [`EXIT_NOTICE`]: the program under [`EXIT_WRAPPER`]
    /// exited and its status is recorded; the pane dies a moment later. (A program could
    /// print the same bytes: confirm with the pane's state.)
    ExitNotice {
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
    /// `%window-renamed` or `%layout-change`: a window of the session changed. Among other
    /// times, tmux renames a window the moment its pane dies (the default
    /// `automatic-rename-format` ends in `[dead]`), and the pane's last output, the
    /// [`EXIT_NOTICE`] included, is not always read before: a cue to look at the pane.
    WindowChanged,
    /// `%window-pane-changed @W %P`: window `@W`'s active pane is now `%P` (a `swap-pane`
    /// put another program's pane into it, among others).
    ActivePaneChanged {
        /// The window (`@2`).
        window: String,
        /// Its active pane now (`%3`).
        pane: String,
    },
    /// `%begin`/`%end`/`%error` command guards and other notifications.
    Other,
}

/// Parses one control-mode line.
pub fn parse_control_line(line: &str) -> ControlLine {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut words = line.splitn(3, ' ');
    match words.next().unwrap_or("") {
        "%output" | "%extended-output" => {
            let pane = words.next().unwrap_or("").to_owned();
            if words.next().unwrap_or("").contains(EXIT_NOTICE) {
                ControlLine::ExitNotice { pane }
            } else {
                ControlLine::Output { pane }
            }
        }
        "%subscription-changed" => parse_subscription(line),
        "%exit" => ControlLine::Exit,
        "%session-changed"
        | "%sessions-changed"
        | "%window-close"
        | "%unlinked-window-close"
        | "%session-window-changed" => ControlLine::SessionChanged,
        "%window-renamed" | "%layout-change" => ControlLine::WindowChanged,
        "%window-pane-changed" => match parse_window_pane_changed(line) {
            Some((window, pane)) => ControlLine::ActivePaneChanged {
                window: window.to_owned(),
                pane: pane.to_owned(),
            },
            None => ControlLine::Other,
        },
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
    let mut f = value.split(FIELD_SEP);
    let dead = f.next().unwrap_or("").trim() == "1";
    let status = f.next().unwrap_or("").trim().parse().ok();
    let recorded = f.next().unwrap_or("").trim().parse().ok();
    dead.then(|| status.or(recorded))
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
