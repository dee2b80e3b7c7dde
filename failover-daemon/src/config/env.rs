//! Defaults and the environment: where files live when the configuration does not say, and
//! the one trait through which the loader reads environment variables.

use std::path::{Path, PathBuf};

/// What the loader may look up in the environment (tests pass their own).
pub trait Env {
    /// The variable's value, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The environment variable that may hold the Telegram bot token instead of a file.
pub const TELEGRAM_TOKEN_ENV: &str = "FAILOVER_TELEGRAM_BOT_TOKEN";
/// Default Telegram Bot API base.
pub const TELEGRAM_API_BASE: &str = "https://api.telegram.org";

/// The default `[quota] usage_url`.
pub const DEFAULT_USAGE_URL: &str = "https://api.anthropic.com/api/oauth/usage";

/// This machine's host name, if it can be read.
pub(super) fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The default control socket: `$XDG_RUNTIME_DIR/claude-failover.sock`, else
/// `<state_dir>/control.sock`.
pub fn default_socket(env: &dyn Env, state_dir: &Path) -> PathBuf {
    env.var("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map_or_else(
            || state_dir.join("control.sock"),
            |d| d.join("claude-failover.sock"),
        )
}

/// The default of `[policy] parallel_moves`: the CPU cores this process may use (1 when
/// that cannot be told).
///
/// A move is mostly a cold start of Claude Code (about a CPU-second, CPU-bound); stopping
/// an idle session is quick. One move per core keeps every core busy, and more only makes
/// the cold starts contend: N sessions cannot come back faster than N cold starts' CPU
/// time divided by the cores. Memory is not the limit: a session's old process exits
/// before its new one starts.
pub fn default_parallel_moves() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The default config file: `$XDG_CONFIG_HOME/claude-failover/config.toml`, else
/// `~/.config/claude-failover/config.toml`.
pub fn default_config_file(env: &dyn Env) -> Option<PathBuf> {
    env.var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| env.var("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("claude-failover/config.toml"))
}
