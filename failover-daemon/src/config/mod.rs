//! The daemon's configuration: a TOML file read into [`RawConfig`] (exactly what the file
//! says, unknown keys refused), then checked and resolved into [`DaemonConfig`] (paths
//! expanded, defaults applied, directories verified, the engine's [`EngineConfig`] built and
//! validated).
//!
//! Every error names the file, the line and column, and the key:
//! `config.toml:12:1: unknown key 'acounts' (expected one of: ...)`,
//! `config.toml:9:14: accounts[1].config_dir: directory /home/me/.claude-b does not exist`.
//! `failover-daemon/CONFIG.md` documents every key; `config.example.toml` is a complete,
//! commented example that a test parses.
//!
//! The module is cut at its seams: `raw` (the TOML shapes), `settings` (the resolved
//! types), `resolve` (one function per section), `error` (errors located by file, line and
//! key) and `env` (defaults, and the environment they are read from).

mod env;
mod error;
mod raw;
mod resolve;
mod settings;

use std::path::{Path, PathBuf};

pub use env::{
    DEFAULT_USAGE_URL, Env, ProcessEnv, TELEGRAM_API_BASE, TELEGRAM_TOKEN_ENV, default_config_file,
    default_parallel_moves, default_socket,
};
pub use error::ConfigFileError;
pub use raw::{
    RawAccount, RawClaude, RawConfig, RawControl, RawDuration, RawJanitor, RawLedger, RawNotify,
    RawPolicy, RawProject, RawQueue, RawQuota, RawSession, RawTelegram, RawTmux, RawWebhook,
};
pub use settings::{
    ClaudeSettings, ControlSettings, DaemonConfig, JanitorSettings, NotifySettings, QueueSettings,
    QuotaSettings, SecretSource, TcpSettings, TelegramSettings, TmuxTarget, WebhookSettings,
};

use error::{describe_toml_error, line_col};
use resolve::Resolver;

impl DaemonConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read the configuration file: {e}"),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut cfg = Self::parse(&text, path, base, env)?;
        cfg.file = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Parses and checks `text`. `file` names it in errors; relative paths are resolved
    /// against `base_dir`.
    pub fn parse(
        text: &str,
        file: &Path,
        base_dir: &Path,
        env: &dyn Env,
    ) -> Result<Self, ConfigFileError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_col(text, s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            let (key, message) = describe_toml_error(e.message());
            ConfigFileError {
                file: file.to_path_buf(),
                line,
                column,
                key,
                message,
            }
        })?;
        Resolver {
            text,
            file,
            base_dir,
            env,
        }
        .resolve(raw)
    }
}

/// The project directories whose task queues are served: the `[[projects]]` dirs only. A
/// session's own dir is served only when it is listed there, so a cloned repository's
/// committed `.agent-queue/inbox` never runs unasked. The one place this rule lives: the
/// janitor, the dispatcher's view and `claude-failover tasks` all ask here.
pub fn served_projects(projects: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::with_capacity(projects.len());
    for p in projects {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}
