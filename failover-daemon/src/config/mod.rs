//! The daemon's configuration: a TOML file read into [`RawConfig`] (exactly what the file
//! says, unknown keys refused), then checked and resolved into [`DaemonConfig`] (paths
//! expanded, defaults applied, directories verified, the engine's
//! [`EngineConfig`](failover_core::EngineConfig) built and validated).
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
    QuotaSettings, SecretSource, StandbySettings, TcpSettings, TelegramSettings, TmuxTarget,
    WebhookSettings,
};

use error::{describe_toml_error, line_col};
use resolve::Resolver;

impl DaemonConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Self, ConfigFileError> {
        let text = read(path)?;
        let mut cfg = Self::parse(&text, path, base_dir(path), env)?;
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
        let raw = parse_raw(text, file)?;
        Resolver {
            text,
            file,
            base_dir,
            env,
        }
        .resolve(raw)
    }
}

/// The control socket a daemon started with the file at `path` listens on, by the daemon's
/// own rules (`[control] socket`, else the default for its `state_dir`), without checking
/// the rest of the file: clients find the daemon with it.
pub fn control_socket(path: &Path, env: &dyn Env) -> Result<PathBuf, ConfigFileError> {
    let text = read(path)?;
    let raw = parse_raw(&text, path)?;
    let r = Resolver {
        text: &text,
        file: path,
        base_dir: base_dir(path),
        env,
    };
    let state_dir = r.state_dir(raw.state_dir.as_ref())?;
    r.socket(
        raw.control.as_ref().and_then(|c| c.socket.as_ref()),
        &state_dir,
    )
}

/// The project directories a daemon started with the file at `path` serves
/// ([`served_projects`] of its `[[projects]]`, each checked as the daemon checks it),
/// without checking the rest of the file.
pub fn served_projects_in(path: &Path, env: &dyn Env) -> Result<Vec<PathBuf>, ConfigFileError> {
    let text = read(path)?;
    let raw = parse_raw(&text, path)?;
    let r = Resolver {
        text: &text,
        file: path,
        base_dir: base_dir(path),
        env,
    };
    Ok(served_projects(&r.projects(&raw.projects)?))
}

/// The file at `path` exactly as written, read by the daemon's rules (unknown keys refused),
/// nothing resolved or checked beyond that.
pub fn read_raw(path: &Path) -> Result<RawConfig, ConfigFileError> {
    parse_raw(&read(path)?, path)
}

/// The file's text.
fn read(path: &Path) -> Result<String, ConfigFileError> {
    std::fs::read_to_string(path).map_err(|e| ConfigFileError {
        file: path.to_path_buf(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot read the configuration file: {e}"),
    })
}

/// What relative paths in the file at `path` are taken against: its directory.
fn base_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// `text` as written, unknown keys refused; `file` names it in errors.
fn parse_raw(text: &str, file: &Path) -> Result<RawConfig, ConfigFileError> {
    toml::from_str(text).map_err(|e| {
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
    })
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
