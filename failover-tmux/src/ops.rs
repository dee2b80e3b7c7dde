//! tmux operations: each one a [`Transport`] call plus a [`wire`] parse, returning typed
//! results or a classified [`TmuxError`].

use std::path::Path;

use failover_core::SessionId;
use tokio::process::Child;

use crate::error::TmuxError;
use crate::transport::{Cmd, RawOutput, Transport};
use crate::wire::{self, Failure, PaneState};

/// Turns a failed call into the error its message describes.
fn check(
    t: &Transport,
    op: &'static str,
    session: Option<&str>,
    out: RawOutput,
) -> Result<RawOutput, TmuxError> {
    if out.success() {
        return Ok(out);
    }
    let session_id = || SessionId::new(session.unwrap_or_default());
    Err(match wire::classify_failure(&out.stderr) {
        Failure::ServerDown => TmuxError::ServerDown {
            op,
            socket: t.socket().label(),
            stderr: out.stderr,
        },
        Failure::NoSession if session.is_some() => TmuxError::NoSession {
            op,
            session: session_id(),
        },
        Failure::DuplicateSession if session.is_some() => TmuxError::DuplicateSession {
            op,
            session: session_id(),
        },
        _ => TmuxError::NonZeroExit {
            op,
            status: out.status,
            stderr: out.stderr,
        },
    })
}

/// Rejects names tmux would rewrite.
pub(crate) fn validate_name(name: &str) -> Result<(), TmuxError> {
    if wire::is_valid_session_name(name) {
        Ok(())
    } else {
        Err(TmuxError::InvalidName {
            what: "session name",
            value: name.to_owned(),
            why: "use 1 to 64 of A-Z a-z 0-9 _ -",
        })
    }
}

/// What a new session runs.
#[derive(Clone, Debug)]
pub(crate) struct NewSession<'a> {
    pub(crate) name: &'a str,
    pub(crate) dir: &'a Path,
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) env: &'a [(String, String)],
    /// Recorded as session options, read back by [`describe`].
    pub(crate) account: &'a str,
    pub(crate) conversation: &'a str,
    pub(crate) config_dir: &'a str,
    /// The program and its arguments.
    pub(crate) argv: &'a [String],
    /// The [`wire::RESUME_OPTION`] value, for a launch that resumes a conversation.
    pub(crate) resume_mark: Option<&'a str>,
}

/// Starts the server if needed (kept alive with no sessions, so "no server" always means
/// trouble), makes dead panes stay (so exit status is readable), and creates the session.
pub(crate) async fn new_session(t: &Transport, s: &NewSession<'_>) -> Result<(), TmuxError> {
    const OP: &str = "new-session";
    let mut new = Cmd::new("new-session")
        .arg("-d")
        .opt("-s", s.name)
        .opt("-c", wire::escape_format(&s.dir.to_string_lossy()))
        .opt("-x", s.width.to_string())
        .opt("-y", s.height.to_string());
    for (k, v) in s.env {
        new = new.opt("-e", format!("{k}={v}"));
    }
    // Through the fixed exit-status wrapper: `sh -c WRAPPER <tmux> <argv…>`.
    new = new
        .arg("/bin/sh")
        .arg("-c")
        .arg(wire::EXIT_WRAPPER)
        .arg(t.program());
    for a in s.argv {
        new = new.arg(a);
    }
    let mut cmds = vec![
        Cmd::new("start-server"),
        Cmd::new("set-option")
            .arg("-s")
            .arg("exit-empty")
            .arg("off"),
        Cmd::new("set-option")
            .arg("-wg")
            .arg("remain-on-exit")
            .arg("on"),
        // A session gets CLAUDE_CONFIG_DIR only through `-e`: one inherited from whoever
        // started the server would send the default account (launched without it) to
        // another account's files.
        Cmd::new("set-environment")
            .arg("-g")
            .arg("-u")
            .arg("CLAUDE_CONFIG_DIR"),
        new,
        set_session_option(s.name, wire::ACCOUNT_OPTION, s.account),
        set_session_option(s.name, wire::CONVERSATION_OPTION, s.conversation),
        set_session_option(s.name, wire::CONFIG_DIR_OPTION, s.config_dir),
    ];
    if let Some(mark) = s.resume_mark {
        cmds.push(set_session_option(s.name, wire::RESUME_OPTION, mark));
    }
    let gate = t.attach_gate().await;
    let out = t.run(OP, &cmds, None).await;
    drop(gate);
    check(t, OP, Some(s.name), out?).map(drop)
}

fn set_session_option(name: &str, option: &str, value: &str) -> Cmd {
    Cmd::new("set-option")
        .opt("-t", wire::pane_target(name))
        .arg(option)
        .arg(value)
}

/// Records `record` (see [`wire::LEADER_OPTION`]) on the session and, in the same call,
/// reads the pane's state as it is once recorded.
pub(crate) async fn set_leader(
    t: &Transport,
    name: &str,
    record: &str,
) -> Result<PaneState, TmuxError> {
    const OP: &str = "set-option";
    let cmds = [
        set_session_option(name, wire::LEADER_OPTION, record),
        Cmd::new("list-panes")
            .arg("-s")
            .opt("-t", wire::pane_target(name))
            .opt("-F", wire::PANE_STATE_FORMAT),
    ];
    let out = check(t, OP, Some(name), t.run(OP, &cmds, None).await?)?;
    wire::parse_pane_state(&out.stdout).map_err(|line| TmuxError::Parse { op: OP, line })
}

/// The [`wire::RESUME_OPTION`] value the launch left, if any, and whether a launch from a
/// prepared program set [`wire::REDRAWN_OPTION`].
pub(crate) async fn resume_marks(
    t: &Transport,
    name: &str,
) -> Result<(Option<String>, bool), TmuxError> {
    const OP: &str = "display-message";
    let cmd = Cmd::new("display-message")
        .arg("-p")
        .opt("-t", wire::pane_target(name))
        .arg(wire::RESUME_MARKS_FORMAT);
    let out = check(t, OP, Some(name), t.run(OP, &[cmd], None).await?)?;
    Ok(wire::parse_resume_marks(&out.stdout))
}

/// Removes the [`wire::REDRAWN_OPTION`] mark.
pub(crate) async fn unset_redrawn(t: &Transport, name: &str) -> Result<(), TmuxError> {
    const OP: &str = "set-option";
    let cmd = Cmd::new("set-option")
        .arg("-u")
        .opt("-t", wire::pane_target(name))
        .arg(wire::REDRAWN_OPTION);
    check(t, OP, Some(name), t.run(OP, &[cmd], None).await?).map(drop)
}

/// Removes the [`wire::RESUME_OPTION`] mark.
pub(crate) async fn unset_resume_mark(t: &Transport, name: &str) -> Result<(), TmuxError> {
    const OP: &str = "set-option";
    let cmd = Cmd::new("set-option")
        .arg("-u")
        .opt("-t", wire::pane_target(name))
        .arg(wire::RESUME_OPTION);
    check(t, OP, Some(name), t.run(OP, &[cmd], None).await?).map(drop)
}

/// Removes the record [`set_leader`] left.
pub(crate) async fn unset_leader(t: &Transport, name: &str) -> Result<(), TmuxError> {
    const OP: &str = "set-option";
    let cmd = Cmd::new("set-option")
        .arg("-u")
        .opt("-t", wire::pane_target(name))
        .arg(wire::LEADER_OPTION);
    check(t, OP, Some(name), t.run(OP, &[cmd], None).await?).map(drop)
}

/// The record [`set_leader`] left, if any.
pub(crate) async fn leader(t: &Transport, name: &str) -> Result<Option<String>, TmuxError> {
    const OP: &str = "display-message";
    let cmd = Cmd::new("display-message")
        .arg("-p")
        .opt("-t", wire::pane_target(name))
        .arg(wire::LEADER_FORMAT);
    let out = check(t, OP, Some(name), t.run(OP, &[cmd], None).await?)?;
    let text = out.stdout.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// What was recorded about the session at launch, and its working directory.
pub(crate) async fn describe(t: &Transport, name: &str) -> Result<wire::Described, TmuxError> {
    const OP: &str = "list-panes";
    let cmd = Cmd::new("list-panes")
        .arg("-s")
        .opt("-t", wire::pane_target(name))
        .opt("-F", wire::DESCRIBE_FORMAT);
    let out = check(t, OP, Some(name), t.run(OP, &[cmd], None).await?)?;
    wire::parse_described(&out.stdout).map_err(|line| TmuxError::Parse { op: OP, line })
}

/// Starts the server (kept alive with no sessions) if it is not running.
pub(crate) async fn start_server(t: &Transport) -> Result<(), TmuxError> {
    const OP: &str = "start-server";
    let cmds = [
        Cmd::new("start-server"),
        Cmd::new("set-option")
            .arg("-s")
            .arg("exit-empty")
            .arg("off"),
        Cmd::new("set-option")
            .arg("-wg")
            .arg("remain-on-exit")
            .arg("on"),
    ];
    let out = t.run(OP, &cmds, None).await?;
    check(t, OP, None, out).map(drop)
}

/// Lets the server exit once it has no sessions (tmux's default, undoing [`start_server`]);
/// an empty server exits at once. No server running is not an error.
pub(crate) async fn release_server(t: &Transport) -> Result<(), TmuxError> {
    const OP: &str = "release-server";
    let cmd = Cmd::new("set-option").arg("-s").arg("exit-empty").arg("on");
    let out = t.run(OP, &[cmd], None).await?;
    if !out.success() && wire::classify_failure(&out.stderr) == Failure::ServerDown {
        return Ok(());
    }
    check(t, OP, None, out).map(drop)
}

/// The names of every session but the pane observers' own ([`wire::observer_session`]) and
/// the standbys ([`wire::standby_session`]).
pub(crate) async fn list_sessions(t: &Transport) -> Result<Vec<String>, TmuxError> {
    const OP: &str = "list-sessions";
    let cmd = Cmd::new("list-sessions").opt("-F", wire::LIST_SESSIONS_FORMAT);
    let out = check(t, OP, None, t.run(OP, &[cmd], None).await?)?;
    let mut names = wire::parse_session_names(&out.stdout);
    names.retain(|n| !wire::is_auxiliary_session(n));
    Ok(names)
}

/// The state of the session's (first) pane; [`TmuxError::NoSession`] when it is not there.
pub(crate) async fn pane_state(t: &Transport, name: &str) -> Result<PaneState, TmuxError> {
    const OP: &str = "list-panes";
    let cmd = Cmd::new("list-panes")
        .arg("-s")
        .opt("-t", wire::pane_target(name))
        .opt("-F", wire::PANE_STATE_FORMAT);
    let out = check(t, OP, Some(name), t.run(OP, &[cmd], None).await?)?;
    wire::parse_pane_state(&out.stdout).map_err(|line| TmuxError::Parse { op: OP, line })
}

/// Every session's name and the state of its first pane, in one call (the pane observers'
/// own session and the standbys left out).
pub(crate) async fn all_pane_states(t: &Transport) -> Result<Vec<(String, PaneState)>, TmuxError> {
    const OP: &str = "list-panes";
    let cmd = Cmd::new("list-panes")
        .arg("-a")
        .opt("-F", wire::ALL_PANE_STATES_FORMAT);
    let out = check(t, OP, None, t.run(OP, &[cmd], None).await?)?;
    let mut states = wire::parse_all_pane_states(&out.stdout);
    states.retain(|(n, _)| !wire::is_auxiliary_session(n));
    Ok(states)
}

/// Kills the session. Missing sessions are an error here; callers decide.
pub(crate) async fn kill_session(t: &Transport, name: &str) -> Result<(), TmuxError> {
    const OP: &str = "kill-session";
    let cmd = Cmd::new("kill-session").opt("-t", wire::session_target(name));
    // Killing a session while a control client attaches crashes tmux 3.3a's server just as
    // creating one does (reproduced: a `kill-session` racing `attach-session -C` took the
    // server down within a few rounds; with the two kept apart, hundreds did not).
    let gate = t.attach_gate().await;
    let out = t.run(OP, &[cmd], None).await?;
    drop(gate);
    check(t, OP, Some(name), out).map(drop)
}

/// The visible screen (wrapped lines joined; with `ansi`, colours kept as escapes) and
/// the pane size.
pub(crate) async fn capture(
    t: &Transport,
    name: &str,
    ansi: bool,
) -> Result<(String, u16, u16), TmuxError> {
    let out = capture_with(t, name, ansi, wire::PANE_SIZE_FORMAT).await?;
    wire::parse_capture(&out).map_err(|line| TmuxError::Parse {
        op: CAPTURE_OP,
        line,
    })
}

/// The visible screen (as [`capture`] gives it) and the state of the pane, in one call:
/// what a wait for a screen that fails when the program exits looks at.
pub(crate) async fn capture_state(
    t: &Transport,
    name: &str,
    ansi: bool,
) -> Result<(String, PaneState), TmuxError> {
    let out = capture_with(t, name, ansi, wire::PANE_STATE_FORMAT).await?;
    wire::parse_capture_state(&out).map_err(|line| TmuxError::Parse {
        op: CAPTURE_OP,
        line,
    })
}

const CAPTURE_OP: &str = "capture-pane";

/// One tmux client: `capture-pane` of `name`'s pane, then `display-message` of `format`
/// about it; their output, for the caller to parse.
async fn capture_with(
    t: &Transport,
    name: &str,
    ansi: bool,
    format: &str,
) -> Result<String, TmuxError> {
    let target = wire::pane_target(name);
    let mut cap = Cmd::new("capture-pane").arg("-p").arg("-J");
    if ansi {
        cap = cap.arg("-e");
    }
    let cmds = [
        cap.opt("-t", &target),
        Cmd::new("display-message")
            .arg("-p")
            .opt("-t", &target)
            .arg(format),
    ];
    let out = check(
        t,
        CAPTURE_OP,
        Some(name),
        t.run(CAPTURE_OP, &cmds, None).await?,
    )?;
    Ok(out.stdout)
}

/// Sends named keys (`Escape`, `Enter`, `C-c`), each as its own key press.
pub(crate) async fn send_keys(t: &Transport, name: &str, keys: &[&str]) -> Result<(), TmuxError> {
    const OP: &str = "send-keys";
    let mut cmd = Cmd::new("send-keys").opt("-t", wire::pane_target(name));
    for k in keys {
        cmd = cmd.arg(k);
    }
    check(t, OP, Some(name), t.run(OP, &[cmd], None).await?).map(drop)
}

/// Types `text` literally (no key-name lookup).
pub(crate) async fn send_literal(t: &Transport, name: &str, text: &str) -> Result<(), TmuxError> {
    const OP: &str = "send-keys";
    let cmd = Cmd::new("send-keys")
        .arg("-l")
        .opt("-t", wire::pane_target(name))
        .arg(text);
    check(t, OP, Some(name), t.run(OP, &[cmd], None).await?).map(drop)
}

/// Pastes `text` through a named buffer fed on stdin (`load-buffer -`), as a bracketed paste
/// when the program asked for one (`-p`), deleting the buffer afterwards (`-d`).
pub(crate) async fn paste(
    t: &Transport,
    name: &str,
    buffer: &str,
    text: &str,
) -> Result<(), TmuxError> {
    const OP: &str = "paste-buffer";
    let cmds = [
        Cmd::new("load-buffer").opt("-b", buffer).arg("-"),
        Cmd::new("paste-buffer")
            .arg("-p")
            .arg("-d")
            .opt("-b", buffer)
            .opt("-t", wire::pane_target(name)),
    ];
    let out = t.run(OP, &cmds, Some(text.as_bytes())).await?;
    check(t, OP, Some(name), out).map(drop)
}

/// How many commands [`observer_client`] sends (each answered by `%end` or `%error`).
pub(crate) const OBSERVER_CLIENT_COMMANDS: usize = 5;

/// The one control-mode client of the pane observers (see [`wire::observer_session`]):
/// creates the observer session, or attaches to it when it exists. Its own window runs
/// `true` and stays as a dead pane.
///
/// The session is never `destroy-unattached` (whatever the person's global options say):
/// tmux 3.3a destroys such a session without detaching the clients that still point at
/// it, and a client that is exiting (its stdin ended, its output still draining) does
/// not count as attached, so any other client ending in that moment destroyed the
/// session under the exiting client and the server dereferenced its missing current
/// window (a segfault, taking every session with it; fixed in tmux's master after 3.7c,
/// tmux issue 5497). Instead a `client-detached` hook kills the session when its client
/// goes: `kill-session` detaches clients before destroying, and takes every link and
/// every window only the observer session still held with it. `detach-on-destroy on` keeps the ending client from being
/// moved into one of the person's sessions.
pub(crate) fn observer_client(t: &Transport, observer: &str) -> Result<Child, TmuxError> {
    let target = wire::pane_target(observer);
    let cmds = [
        Cmd::new("new-session")
            .arg("-A")
            .opt("-s", observer)
            .opt("-n", "observer")
            .arg("true"),
        Cmd::new("set-option")
            .arg("-w")
            .opt("-t", &target)
            .arg("remain-on-exit")
            .arg("on"),
        Cmd::new("set-option")
            .opt("-t", &target)
            .arg("destroy-unattached")
            .arg("off"),
        Cmd::new("set-option")
            .opt("-t", &target)
            .arg("detach-on-destroy")
            .arg("on"),
        Cmd::new("set-hook")
            .opt("-t", &target)
            .arg("client-detached")
            .arg(format!(
                "kill-session -t '{}'",
                wire::session_target(observer)
            )),
    ];
    t.spawn_control("new-session -C", &cmds)
}

/// The observer sessions ([`wire::observer_session`]) no client is attached to: left by a
/// process that ended without its `client-detached` hook running.
pub(crate) async fn unattached_observer_sessions(t: &Transport) -> Result<Vec<String>, TmuxError> {
    const OP: &str = "list-sessions";
    let cmd = Cmd::new("list-sessions").opt("-F", wire::SESSIONS_ATTACHED_FORMAT);
    let out = check(t, OP, None, t.run(OP, &[cmd], None).await?)?;
    Ok(wire::parse_sessions_attached(&out.stdout)
        .into_iter()
        .filter(|(name, attached)| *attached == 0 && wire::is_observer_session(name))
        .map(|(name, _)| name)
        .collect())
}

/// The ids of the session's active pane and window.
pub(crate) async fn pane_window(t: &Transport, name: &str) -> Result<(String, String), TmuxError> {
    const OP: &str = "display-message";
    let cmd = Cmd::new("display-message")
        .arg("-p")
        .opt("-t", wire::pane_target(name))
        .arg(wire::PANE_WINDOW_FORMAT);
    let out = check(t, OP, Some(name), t.run(OP, &[cmd], None).await?)?;
    wire::parse_pane_window(&out.stdout).ok_or_else(|| TmuxError::Parse {
        op: OP,
        line: out.stdout.trim().to_owned(),
    })
}

/// Links `window` (an id, `@2`) into the observer session, without making it current there.
pub(crate) async fn link_window(
    t: &Transport,
    window: &str,
    observer: &str,
) -> Result<(), TmuxError> {
    const OP: &str = "link-window";
    let cmd = Cmd::new("link-window")
        .arg("-d")
        .opt("-s", window)
        .opt("-t", wire::pane_target(observer));
    check(t, OP, Some(observer), t.run(OP, &[cmd], None).await?).map(drop)
}

/// Each window of the observer session and how many sessions it is linked to.
pub(crate) async fn observer_windows(
    t: &Transport,
    observer: &str,
) -> Result<Vec<(String, u32)>, TmuxError> {
    const OP: &str = "list-windows";
    let cmd = Cmd::new("list-windows")
        .opt("-t", wire::session_target(observer))
        .opt("-F", wire::WINDOW_LINKS_FORMAT);
    let out = check(t, OP, Some(observer), t.run(OP, &[cmd], None).await?)?;
    Ok(wire::parse_window_links(&out.stdout))
}

/// Removes `window` from the observer session; a window no other session holds any more is
/// closed with it (its terminal hung up), as the end of its own session would have.
pub(crate) async fn unlink_window(
    t: &Transport,
    window: &str,
    observer: &str,
) -> Result<(), TmuxError> {
    const OP: &str = "unlink-window";
    let cmd = Cmd::new("unlink-window")
        .arg("-k")
        .opt("-t", wire::window_in_session(observer, window));
    check(t, OP, Some(observer), t.run(OP, &[cmd], None).await?).map(drop)
}

/// Sets session option `option` of session `name` to `value`.
pub(crate) async fn set_option(
    t: &Transport,
    name: &str,
    option: &str,
    value: &str,
) -> Result<(), TmuxError> {
    const OP: &str = "set-option";
    let cmd = set_session_option(name, option, value);
    check(t, OP, Some(name), t.run(OP, &[cmd], None).await?).map(drop)
}

/// Records what now runs in session `name` (as [`new_session`] does: account, conversation,
/// config dir) after a launch that had a running program load the conversation (marked
/// [`wire::REDRAWN_OPTION`]), removing the records of the program that ran there before
/// (its process group, a resume mark, a standby's owner).
pub(crate) async fn set_launch_record(
    t: &Transport,
    name: &str,
    account: &str,
    conversation: &str,
    config_dir: &str,
) -> Result<(), TmuxError> {
    const OP: &str = "set-option";
    let unset = |option: &str| {
        Cmd::new("set-option")
            .arg("-u")
            .opt("-t", wire::pane_target(name))
            .arg(option)
    };
    let cmds = [
        set_session_option(name, wire::ACCOUNT_OPTION, account),
        set_session_option(name, wire::CONVERSATION_OPTION, conversation),
        set_session_option(name, wire::CONFIG_DIR_OPTION, config_dir),
        set_session_option(name, wire::REDRAWN_OPTION, "1"),
        unset(wire::RESUME_OPTION),
        unset(wire::LEADER_OPTION),
        unset(wire::STANDBY_OWNER_OPTION),
    ];
    check(t, OP, Some(name), t.run(OP, &cmds, None).await?).map(drop)
}

/// The size (columns, lines) of session `name`'s active pane.
pub(crate) async fn pane_size(t: &Transport, name: &str) -> Result<(u16, u16), TmuxError> {
    const OP: &str = "display-message";
    let cmd = Cmd::new("display-message")
        .arg("-p")
        .opt("-t", wire::pane_target(name))
        .arg(wire::PANE_SIZE_FORMAT);
    let out = check(t, OP, Some(name), t.run(OP, &[cmd], None).await?)?;
    let line = out.stdout.trim();
    line.split_once(wire::FIELD_SEP)
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or_else(|| TmuxError::Parse {
            op: OP,
            line: line.to_owned(),
        })
}

/// Every [`wire::standby_session`] on the server and the pid recorded as its owner.
pub(crate) async fn standby_owners(t: &Transport) -> Result<Vec<(String, Option<u32>)>, TmuxError> {
    const OP: &str = "list-sessions";
    let cmd = Cmd::new("list-sessions").opt("-F", wire::STANDBY_OWNERS_FORMAT);
    let out = check(t, OP, None, t.run(OP, &[cmd], None).await?)?;
    Ok(wire::parse_standby_owners(&out.stdout))
}

/// Swaps the active pane of session `from` with the active pane of session `into`: the
/// program running in `from` moves into `into`'s window, in the place (size, layout, index)
/// of the pane it takes, which moves to `from`.
pub(crate) async fn swap_pane(t: &Transport, from: &str, into: &str) -> Result<(), TmuxError> {
    const OP: &str = "swap-pane";
    let cmd = Cmd::new("swap-pane")
        .arg("-d")
        .opt("-s", wire::pane_target(from))
        .opt("-t", wire::pane_target(into));
    check(t, OP, Some(into), t.run(OP, &[cmd], None).await?).map(drop)
}

/// Renames session `from` to `to` ([`TmuxError::DuplicateSession`] when `to` exists).
pub(crate) async fn rename_session(t: &Transport, from: &str, to: &str) -> Result<(), TmuxError> {
    const OP: &str = "rename-session";
    let cmd = Cmd::new("rename-session")
        .opt("-t", wire::session_target(from))
        .arg(to);
    // A session's identity changes: kept apart from a control client's attach, as creating
    // and killing sessions are (see `Transport::attach_gate`).
    let gate = t.attach_gate().await;
    let out = t.run(OP, &[cmd], None).await?;
    drop(gate);
    match check(t, OP, Some(from), out) {
        Err(TmuxError::DuplicateSession { .. }) => Err(TmuxError::DuplicateSession {
            op: OP,
            session: SessionId::new(to),
        }),
        other => other.map(drop),
    }
}
