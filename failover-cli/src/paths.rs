//! Where things live by default: the config file, the control socket, the home directory.
//! Follows the XDG base directory rules the daemon uses.

use std::env;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The user's home directory (`$HOME`), or `/` when unset.
pub fn home() -> PathBuf {
    env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub fn config_home() -> PathBuf {
    xdg("XDG_CONFIG_HOME").unwrap_or_else(|| home().join(".config"))
}

/// `$XDG_CACHE_HOME`, else `~/.cache`.
pub fn cache_home() -> PathBuf {
    xdg("XDG_CACHE_HOME").unwrap_or_else(|| home().join(".cache"))
}

/// The default config file: `$XDG_CONFIG_HOME/claude-failover/config.toml`.
pub fn default_config_file() -> PathBuf {
    config_home().join("claude-failover").join("config.toml")
}

/// The default control socket. The daemon's own default wins; this function mirrors it:
/// `$XDG_RUNTIME_DIR/claude-failover.sock`, else `/run/user/<uid>/claude-failover.sock` when
/// that directory exists, else `$TMPDIR/claude-failover-<uid>/claude-failover.sock`.
pub fn default_socket() -> PathBuf {
    failover_daemon_default_socket()
}

fn failover_daemon_default_socket() -> PathBuf {
    if let Some(dir) = xdg("XDG_RUNTIME_DIR") {
        return dir.join("claude-failover.sock");
    }
    let uid = current_uid();
    let run = PathBuf::from(format!("/run/user/{uid}"));
    if run.is_dir() {
        return run.join("claude-failover.sock");
    }
    env::temp_dir()
        .join(format!("claude-failover-{uid}"))
        .join("claude-failover.sock")
}

/// The uid this process runs as (read from `/proc/self`, which the kernel gives the caller's
/// credentials; no unsafe FFI needed).
pub fn current_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}

/// Expands a leading `~/` to the home directory.
pub fn expand_tilde(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None if p == "~" => home(),
        None => PathBuf::from(p),
    }
}

/// Writes a path with the home directory shown as `~`, for configs people read.
pub fn tilde(p: &std::path::Path) -> String {
    let home = home();
    match p.strip_prefix(&home) {
        Ok(rest) if home != std::path::Path::new("/") => {
            if rest.as_os_str().is_empty() {
                "~".into()
            } else {
                format!("~/{}", rest.display())
            }
        }
        _ => p.display().to_string(),
    }
}

fn xdg(var: &str) -> Option<PathBuf> {
    env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}
