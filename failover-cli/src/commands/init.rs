//! `init`: writes a starter config from what is on this machine: one account per Claude Code
//! config dir found (`~/.claude`, `~/.claude-*`, `$CLAUDE_CONFIG_DIR`), one session per tmux
//! session named `ccl-*`. Credentials are only checked for existence, never read or changed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::args::InitArgs;
use crate::discover::{self, ClaudeDir, TmuxSession};
use crate::error::CliError;
use crate::paths::{self, tilde};

/// Runs `init`.
pub(crate) fn run(args: &InitArgs) -> Result<(), CliError> {
    let dirs = discover::claude_dirs();
    let sessions = discover::ccl_sessions();
    let claude = discover::which("claude")
        .map(|_| vec!["claude".to_owned()])
        .or_else(|| {
            discover::real_claude_candidates()
                .into_iter()
                .next()
                .map(|c| vec![c.path.display().to_string()])
        })
        .unwrap_or_else(|| vec!["claude".to_owned()]);
    let tmux_path = (!sessions.is_empty()).then(default_tmux_socket);
    let text = render(&dirs, &sessions, &claude, tmux_path.as_deref());

    let target = args
        .output
        .clone()
        .unwrap_or_else(paths::default_config_file);
    if target == Path::new("-") {
        return std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| CliError::io("cannot write to", "stdout", e));
    }
    if target.exists() && !args.force {
        return Err(CliError::Usage(format!(
            "{} already exists; pass --force to replace it, or --output FILE to write elsewhere",
            target.display()
        )));
    }
    write_atomically(&target, &text)?;

    errln!("wrote {}", target.display());
    for d in &dirs {
        let login = if d.logged_in {
            "logged in"
        } else {
            "NOT logged in"
        };
        errln!(
            "  account {:<12} {} ({login}; found as {})",
            d.name,
            tilde(&d.path),
            d.found_by
        );
    }
    if dirs.is_empty() {
        errln!(
            "  no Claude Code config dir found: log in once per account with\n    \
             CLAUDE_CONFIG_DIR=~/.claude-NAME claude /login\n  then add one [[accounts]] entry each"
        );
    }
    for s in &sessions {
        errln!("  session {:<12} {}", s.name, tilde(&s.dir));
    }
    if sessions.is_empty() {
        errln!(
            "  no tmux sessions named ccl-* found on your default tmux server; add one per project\n    \
             as a [[sessions]] entry (name = \"ccl-0\", dir = \"~/src/project\") in {}:\n    \
             the daemon starts Claude Code in it on its private tmux server",
            target.display()
        );
    }
    errln!(
        "next: `claude-failover doctor --config {}`, then `claude-failoverd --config {}`",
        target.display(),
        target.display()
    );
    Ok(())
}

/// The default tmux server's socket, where the user's own `ccl-*` sessions live.
fn default_tmux_socket() -> PathBuf {
    let tmp = std::env::var_os("TMUX_TMPDIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    tmp.join(format!("tmux-{}", paths::current_uid()))
        .join("default")
}

/// The config text.
pub(crate) fn render(
    dirs: &[ClaudeDir],
    sessions: &[TmuxSession],
    claude: &[String],
    tmux_path: Option<&Path>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# claude-failover configuration, written by `claude-failover init`.\n\
         # Every key is described in the daemon's README (failover-daemon/README.md).\n\
         # Check it with `claude-failover doctor`; run it with `claude-failoverd --config <this file>`.\n\
         \n\
         # Where the daemon keeps its state (default: $XDG_STATE_HOME/claude-failover).\n\
         # state_dir = \"~/.local/state/claude-failover\"\n"
    );
    s.push_str("[tmux]\n");
    match tmux_path {
        Some(p) => {
            let _ = writeln!(
                s,
                "# Your ccl-* sessions run on your default tmux server, so the daemon adopts them there.\n\
                 path = {}\n",
                quote(&p.display().to_string())
            );
        }
        None => s.push_str(
            "# A private tmux server (`tmux -L claude-failover attach` to look at it).\n\
             socket = \"claude-failover\"\n\n",
        ),
    }
    let command: Vec<String> = claude.iter().map(|c| quote(c)).collect();
    let _ = writeln!(
        s,
        "[claude]\n\
         # The program and leading arguments; --resume and friends are appended.\n\
         command = [{}]\n\
         env = {{ DISABLE_AUTOUPDATER = \"1\" }}\n\
         # One projects/ tree shared by every account, so a conversation resumes anywhere.\n\
         shared_projects = \"~/.local/share/claude-failover/projects\"\n",
        command.join(", ")
    );
    s.push_str(
        "[policy]\n\
         mode = \"single-active\"   # or \"spread\"\n\
         proactive_percent = 95     # swap before the hard limit once a window is this full\n\n",
    );
    if dirs.is_empty() {
        s.push_str(
            "# No Claude Code config dir was found. Log in once per account:\n\
             #   CLAUDE_CONFIG_DIR=~/.claude-primary claude /login\n\
             # and list each one here.\n\
             [[accounts]]\n\
             name = \"primary\"\n\
             config_dir = \"~/.claude-primary\"\n\n",
        );
    }
    for (i, d) in dirs.iter().enumerate() {
        let login = if d.logged_in {
            "logged in".to_owned()
        } else {
            format!(
                "NOT logged in yet: {}",
                crate::commands::doctor::login_command(&d.path)
            )
        };
        let _ = writeln!(
            s,
            "[[accounts]]   # found as {}; {login}\n\
             name = {}\n\
             config_dir = {}\n\
             preference = {i}\n",
            d.found_by,
            quote(&d.name),
            quote(&tilde(&d.path)),
        );
    }
    if sessions.is_empty() {
        s.push_str(
            "# Sessions to keep running, one per project:\n\
             # [[sessions]]\n\
             # name = \"ccl-0\"\n\
             # dir = \"~/src/project-a\"\n\n",
        );
    }
    for t in sessions {
        let _ = writeln!(
            s,
            "[[sessions]]\nname = {}\ndir = {}\n",
            quote(&t.name),
            quote(&tilde(&t.dir))
        );
    }
    if !sessions.is_empty() {
        s.push_str(
            "# The task queue serves <dir>/.agent-queue/inbox/ of the projects listed here, and only\n\
             # those. Uncomment a session's dir to let queued tasks run there:\n",
        );
        for t in sessions {
            let _ = writeln!(s, "# [[projects]]\n# dir = {}", quote(&tilde(&t.dir)));
        }
        s.push('\n');
    }
    s.push_str(
        "[control]\n\
         # The control socket (default: $XDG_RUNTIME_DIR/claude-failover.sock); owner-only.\n\
         # socket = \"/run/user/1000/claude-failover.sock\"\n\
         # TCP is refused without a token file:\n\
         # tcp = \"127.0.0.1:7411\"\n\
         # token_file = \"~/.config/claude-failover/token\"\n",
    );
    s
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so a
/// crash never leaves half a config.
fn write_atomically(path: &Path, text: &str) -> Result<(), CliError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CliError::io("cannot create", dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config"),
        std::process::id()
    ));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::io("cannot write", path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_config_is_valid_toml_with_every_account_and_session() {
        let dirs = vec![
            ClaudeDir {
                name: "default".into(),
                path: "/h/.claude".into(),
                found_by: "~/.claude",
                logged_in: true,
            },
            ClaudeDir {
                name: "work".into(),
                path: "/h/.claude-work".into(),
                found_by: "~/.claude-*",
                logged_in: false,
            },
        ];
        let sessions = vec![TmuxSession {
            name: "ccl-0".into(),
            dir: "/src/a \"b\"".into(),
        }];
        let text = render(
            &dirs,
            &sessions,
            &["claude".into()],
            Some(Path::new("/tmp/tmux-0/default")),
        );
        let v: toml::Table = text.parse().unwrap();
        let accounts = v["accounts"].as_array().unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[1]["name"].as_str(), Some("work"));
        assert_eq!(accounts[1]["preference"].as_integer(), Some(1));
        assert_eq!(v["sessions"][0]["dir"].as_str(), Some("/src/a \"b\""));
        assert_eq!(v["tmux"]["path"].as_str(), Some("/tmp/tmux-0/default"));
        assert!(text.contains("NOT logged in yet"));
        // The queue serves only listed projects; a session's dir is offered, commented out.
        assert!(v.get("projects").is_none());
        assert!(
            text.contains("# [[projects]]\n# dir = \"/src/a \\\"b\\\"\""),
            "{text}"
        );
    }
}
