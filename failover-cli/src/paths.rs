//! Where things live by default: the config file, the control socket, the home directory.
//! Follows the XDG base directory rules the daemon uses.

use std::env;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The user's home directory (`$HOME`), or `/` when unset.
pub(crate) fn home() -> PathBuf {
    env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub(crate) fn config_home() -> PathBuf {
    xdg("XDG_CONFIG_HOME").unwrap_or_else(|| home().join(".config"))
}

/// `$XDG_CACHE_HOME`, else `~/.cache`.
pub(crate) fn cache_home() -> PathBuf {
    xdg("XDG_CACHE_HOME").unwrap_or_else(|| home().join(".cache"))
}

/// The default config file (the daemon's own rule):
/// `$XDG_CONFIG_HOME/claude-failover/config.toml`, else `~/.config/claude-failover/config.toml`.
pub(crate) fn default_config_file() -> PathBuf {
    failover_daemon::config::default_config_file(&failover_daemon::config::ProcessEnv)
        .unwrap_or_else(|| config_home().join("claude-failover").join("config.toml"))
}

/// `$XDG_STATE_HOME`, else `~/.local/state`.
pub(crate) fn state_home() -> PathBuf {
    xdg("XDG_STATE_HOME").unwrap_or_else(|| home().join(".local/state"))
}

/// The daemon's default state directory: `$XDG_STATE_HOME/claude-failover`.
pub(crate) fn default_state_dir() -> PathBuf {
    state_home().join("claude-failover")
}

/// The control socket to use when `--socket` is not given, by the daemon's own
/// configuration rules ([`failover_daemon::config::control_socket`]): the config file's
/// `[control] socket`, else the default for its `state_dir`
/// (`$XDG_RUNTIME_DIR/claude-failover.sock`, else `<state_dir>/control.sock`). Without a
/// config file, the default for the default state directory. A file the daemon would refuse
/// gives that default too, with the daemon's reason.
pub(crate) fn socket_for_config(
    config: &Path,
) -> (PathBuf, Option<failover_daemon::config::ConfigFileError>) {
    let fallback = || default_socket(&default_state_dir());
    if !config.exists() {
        return (fallback(), None);
    }
    match failover_daemon::config::control_socket(config, &failover_daemon::config::ProcessEnv) {
        Ok(socket) => (socket, None),
        Err(e) => (fallback(), Some(e)),
    }
}

/// The daemon's default control socket for a state directory (the daemon's own rule).
pub(crate) fn default_socket(state_dir: &Path) -> PathBuf {
    failover_daemon::config::default_socket(&failover_daemon::config::ProcessEnv, state_dir)
}

/// The uid this process runs as (read from `/proc/self`, which the kernel gives the caller's
/// credentials; no unsafe FFI needed).
pub(crate) fn current_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}

/// Expands a leading `~/` to the home directory.
pub(crate) fn expand_tilde(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None if p == "~" => home(),
        None => PathBuf::from(p),
    }
}

/// Writes a path with the home directory shown as `~`, for configs people read.
pub(crate) fn tilde(p: &Path) -> String {
    let home = home();
    match p.strip_prefix(&home) {
        Ok(rest) if home != Path::new("/") => {
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
