//! Finding what is already on this machine: Claude Code config dirs (one per account), the
//! Claude Code binary, tmux and its `ccl-*` sessions. Credentials are only ever checked for
//! existence (and mode), never opened.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use failover_tmux::homes::CREDENTIALS_FILE;

use crate::paths;

/// The Claude Code version the project pins and tests against.
pub(crate) const PINNED_CLAUDE_VERSION: &str = "2.1.328";

/// A Claude Code config dir found on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClaudeDir {
    /// A name for the account, from the dir's name (`~/.claude-work` → `work`).
    pub(crate) name: String,
    /// The dir.
    pub(crate) path: PathBuf,
    /// How it was found.
    pub(crate) found_by: &'static str,
    /// Whether a credentials file is present (never read).
    pub(crate) logged_in: bool,
}

/// `~/.claude`, every `~/.claude-*` dir, and `$CLAUDE_CONFIG_DIR`, each once, in that order.
pub(crate) fn claude_dirs() -> Vec<ClaudeDir> {
    claude_dirs_in(
        &paths::home(),
        std::env::var_os("CLAUDE_CONFIG_DIR").map(PathBuf::from),
    )
}

/// [`claude_dirs`] with the home dir and `$CLAUDE_CONFIG_DIR` given.
pub(crate) fn claude_dirs_in(home: &Path, env_dir: Option<PathBuf>) -> Vec<ClaudeDir> {
    let mut found: Vec<(PathBuf, &'static str)> = Vec::new();
    let default = home.join(".claude");
    if default.is_dir() {
        found.push((default, "~/.claude"));
    }
    let mut extra: Vec<PathBuf> = std::fs::read_dir(home)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(".claude-") && n.len() > ".claude-".len())
        })
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    extra.sort();
    found.extend(extra.into_iter().map(|p| (p, "~/.claude-*")));
    if let Some(d) = env_dir.filter(|d| d.is_dir()) {
        found.push((d, "$CLAUDE_CONFIG_DIR"));
    }

    let mut seen_paths = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (path, found_by) in found {
        let canon = path.canonicalize().unwrap_or_else(|_| path.clone());
        if !seen_paths.insert(canon) {
            continue;
        }
        let base = account_name(&path);
        let mut name = base.clone();
        let mut n = 2;
        while !names.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        out.push(ClaudeDir {
            name,
            logged_in: path.join(CREDENTIALS_FILE).symlink_metadata().is_ok(),
            path,
            found_by,
        });
    }
    out
}

/// An account name from a config dir's name: `.claude` → `default`, `.claude-work` → `work`,
/// anything else → its name without leading dots; only `[A-Za-z0-9_-]` kept.
pub(crate) fn account_name(dir: &Path) -> String {
    let file = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let base = match file {
        ".claude" => "default",
        f => f
            .strip_prefix(".claude-")
            .unwrap_or_else(|| f.trim_start_matches('.')),
    };
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.is_empty() {
        "account".into()
    } else {
        clean
    }
}

/// A Claude Code binary and how it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClaudeBin {
    /// The executable.
    pub(crate) path: PathBuf,
    /// `CLAUDE_FAILOVER_REAL_CLAUDE`, `setup cache` or `PATH`.
    pub(crate) found_by: &'static str,
}

/// The file `scripts/setup.sh` writes the installed CLI's path into.
pub(crate) fn setup_cache_file() -> PathBuf {
    std::env::var_os("CLAUDE_FAILOVER_CACHE")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| paths::cache_home().join("claude-failover"))
        .join("claude-bin")
}

/// The real Claude Code CLI to run, in the order the demo and tests use:
/// `$CLAUDE_FAILOVER_REAL_CLAUDE`, else the path `scripts/setup.sh` recorded, else `claude` on
/// `PATH` (the caller checks its version).
pub(crate) fn real_claude_candidates() -> Vec<ClaudeBin> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("CLAUDE_FAILOVER_REAL_CLAUDE").filter(|p| !p.is_empty()) {
        out.push(ClaudeBin {
            path: PathBuf::from(p),
            found_by: "CLAUDE_FAILOVER_REAL_CLAUDE",
        });
    }
    if let Ok(text) = std::fs::read_to_string(setup_cache_file()) {
        let p = PathBuf::from(text.trim());
        if !text.trim().is_empty() && is_executable(&p) {
            out.push(ClaudeBin {
                path: p,
                found_by: "the path scripts/setup.sh recorded",
            });
        }
    }
    if let Some(p) = which("claude") {
        out.push(ClaudeBin {
            path: p,
            found_by: "PATH",
        });
    }
    out
}

/// The first executable called `name` on `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `program args…` with a deadline and returns its stdout when it exits 0.
pub(crate) async fn output(program: &Path, args: &[&str], timeout: Duration) -> Option<String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env("DISABLE_AUTOUPDATER", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .ok()?
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `claude --version`'s version number (`2.1.328 (Claude Code)` → `2.1.328`).
pub(crate) async fn claude_version(bin: &Path) -> Option<String> {
    let text = output(bin, &["--version"], Duration::from_secs(20)).await?;
    text.split_whitespace().next().map(str::to_owned)
}

/// The Claude Code binary the demo should run: the first candidate of
/// [`real_claude_candidates`] whose version is the pinned one (`$CLAUDE_FAILOVER_REAL_CLAUDE`
/// is trusted as it is). `None` means: use the bundled stand-in.
pub(crate) async fn pinned_real_claude() -> Option<(ClaudeBin, String)> {
    for c in real_claude_candidates() {
        let Some(v) = claude_version(&c.path).await else {
            continue;
        };
        if v == PINNED_CLAUDE_VERSION || c.found_by == "CLAUDE_FAILOVER_REAL_CLAUDE" {
            return Some((c, v));
        }
    }
    None
}

/// A tmux session found on the user's default tmux server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TmuxSession {
    /// Its name.
    pub(crate) name: String,
    /// The working directory of its active pane.
    pub(crate) dir: PathBuf,
}

/// Sessions named `ccl-*` on the default tmux server, if one is running (empty otherwise).
pub(crate) fn ccl_sessions() -> Vec<TmuxSession> {
    let Some(tmux) = which("tmux") else {
        return Vec::new();
    };
    let out = std::process::Command::new(tmux)
        .args([
            "list-sessions",
            "-F",
            "#{session_name}\t#{pane_current_path}",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Ok(out) = out else { return Vec::new() };
    if !out.status.success() {
        return Vec::new(); // no server running
    }
    parse_sessions(&String::from_utf8_lossy(&out.stdout))
}

fn parse_sessions(text: &str) -> Vec<TmuxSession> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(n, _)| n.starts_with("ccl-"))
        .map(|(n, d)| TmuxSession {
            name: n.to_owned(),
            dir: PathBuf::from(d),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_dir_names() {
        assert_eq!(account_name(Path::new("/h/.claude")), "default");
        assert_eq!(account_name(Path::new("/h/.claude-work")), "work");
        assert_eq!(account_name(Path::new("/h/.config/claude b")), "claude-b");
    }

    #[test]
    fn finds_each_dir_once_and_never_reads_credentials() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        for d in [".claude", ".claude-work", ".claude-", "other"] {
            std::fs::create_dir(h.join(d)).unwrap();
        }
        // An unreadable credentials file still counts as present: only metadata is used.
        let cred = h.join(".claude-work").join(CREDENTIALS_FILE);
        std::fs::write(&cred, "{}").unwrap();
        std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o000)).unwrap();
        let dirs = claude_dirs_in(h, Some(h.join(".claude-work")));
        let names: Vec<_> = dirs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["default", "work"]);
        assert!(!dirs[0].logged_in);
        assert!(dirs[1].logged_in);
        let dirs = claude_dirs_in(h, Some(h.join("other")));
        assert_eq!(dirs.last().unwrap().name, "other");
        assert_eq!(dirs.last().unwrap().found_by, "$CLAUDE_CONFIG_DIR");
    }

    #[test]
    fn only_ccl_sessions_are_taken() {
        let s = parse_sessions("ccl-0\t/src/a\nmisc\t/tmp\nccl-web\t/src/b c\n");
        assert_eq!(
            s,
            [
                TmuxSession {
                    name: "ccl-0".into(),
                    dir: "/src/a".into()
                },
                TmuxSession {
                    name: "ccl-web".into(),
                    dir: "/src/b c".into()
                }
            ]
        );
    }
}
