//! Resolving [`RawConfig`] into [`DaemonConfig`]: one function per section, each checking
//! its keys, expanding its paths and applying its defaults, every error located at the key
//! at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use failover_core::{Account, AccountId, EngineConfig, SessionId, SessionSpec};
use toml::Spanned;

use super::env::{
    DEFAULT_USAGE_URL, Env, TELEGRAM_API_BASE, TELEGRAM_TOKEN_ENV, default_parallel_moves,
    default_socket, host_name,
};
use super::error::{ConfigFileError, line_col};
use super::raw::{
    RawAccount, RawClaude, RawConfig, RawControl, RawJanitor, RawLedger, RawNotify, RawPolicy,
    RawProject, RawQueue, RawQuota, RawSession, RawTmux,
};
use super::settings::{
    ClaudeSettings, ControlSettings, DaemonConfig, JanitorSettings, NotifySettings, QueueSettings,
    QuotaSettings, SecretSource, StandbySettings, TcpSettings, TelegramSettings, TmuxTarget,
    WebhookSettings,
};

/// Longest standby wait (`[policy] standby_timeout_secs`, `standby_resume_timeout_secs`):
/// the daemon gives a whole launch 90 s (a standby's `/resume`, then a cold start when it
/// fails) and getting a standby ready 120 s.
const STANDBY_WAIT_MAX_SECS: u64 = 60;

/// Resolves one file's sections: `text` and `file` locate errors, relative paths are taken
/// against `base_dir`, defaults come from `env`.
pub(super) struct Resolver<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a Path,
    pub(super) base_dir: &'a Path,
    pub(super) env: &'a dyn Env,
}

impl Resolver<'_> {
    fn err(&self, span: Option<Range<usize>>, key: &str, message: String) -> ConfigFileError {
        let (line, column) = span
            .map(|s| line_col(self.text, s.start))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        ConfigFileError {
            file: self.file.to_path_buf(),
            line,
            column,
            key: Some(key.to_owned()),
            message,
        }
    }

    fn home(&self) -> Option<PathBuf> {
        self.env.var("HOME").map(PathBuf::from)
    }

    /// `~` and `~/…` → `$HOME/…`; relative → against the config file's directory.
    fn path(&self, raw: &str, span: Range<usize>, key: &str) -> Result<PathBuf, ConfigFileError> {
        if raw.trim().is_empty() {
            return Err(self.err(Some(span), key, "must not be empty".into()));
        }
        let expanded = if raw == "~" || raw.starts_with("~/") {
            let home = self.home().ok_or_else(|| {
                self.err(
                    Some(span.clone()),
                    key,
                    format!("cannot expand '~' in {raw:?}: HOME is not set"),
                )
            })?;
            home.join(raw.trim_start_matches('~').trim_start_matches('/'))
        } else if raw.starts_with('~') {
            return Err(self.err(
                Some(span),
                key,
                format!("{raw:?}: only '~' and '~/…' are expanded, not '~user'"),
            ));
        } else {
            PathBuf::from(raw)
        };
        Ok(if expanded.is_absolute() {
            expanded
        } else {
            self.base_dir.join(expanded)
        })
    }

    fn xdg(&self, var: &str, fallback: &str) -> Option<PathBuf> {
        self.env
            .var(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| self.home().map(|h| h.join(fallback)))
    }

    /// The whole file, section by section (in the order its errors are reported).
    pub(super) fn resolve(&self, raw: RawConfig) -> Result<DaemonConfig, ConfigFileError> {
        let state_dir = self.state_dir(raw.state_dir.as_ref())?;
        let tmux = self.tmux(raw.tmux.as_ref())?;
        let claude = self.claude(raw.claude.unwrap_or_default())?;
        let (accounts, overrides) = self.accounts(&raw.accounts)?;
        let sessions = self.sessions(&raw.sessions)?;
        let policy = raw.policy.unwrap_or_default();
        let mut engine = self.policy(&policy, EngineConfig::new(accounts, sessions), overrides)?;
        let ledger = match &raw.ledger {
            Some(l) => Some(self.ledger(l)?),
            None => None,
        };
        engine.ledger = ledger
            .as_ref()
            .map(|l| failover_core::LedgerSettings::new(l.host.clone()));
        self.validate(&engine, &policy)?;
        let standby = self.standby(&policy)?;
        engine.stop_grace = Duration::from_secs(policy.stop_grace_secs.unwrap_or(10));
        let control = self.control(raw.control.unwrap_or_default(), &state_dir)?;
        let notify = self.notify(raw.notify.unwrap_or_default())?;
        let janitor = self.janitor(raw.janitor.unwrap_or_default())?;
        let queue = self.queue(&raw.projects, raw.queue.unwrap_or_default())?;
        let quota = self.quota(raw.quota.unwrap_or_default())?;
        // The usage poller serves the engine's reads right before a choice.
        engine.read_usage_before_choosing = quota.poll_usage;
        Ok(DaemonConfig {
            file: None,
            state_dir,
            tmux,
            claude,
            engine,
            standby,
            control,
            notify,
            janitor,
            queue,
            quota,
            ledger,
        })
    }

    /// `state_dir`, else `$XDG_STATE_HOME/claude-failover`.
    pub(super) fn state_dir(
        &self,
        raw: Option<&Spanned<String>>,
    ) -> Result<PathBuf, ConfigFileError> {
        Ok(match raw {
            Some(s) => self.path(s.get_ref(), s.span(), "state_dir")?,
            None => self
                .xdg("XDG_STATE_HOME", ".local/state")
                .map(|p| p.join("claude-failover"))
                .ok_or_else(|| {
                    self.err(
                        None,
                        "state_dir",
                        "not set, and neither XDG_STATE_HOME nor HOME is set to default it".into(),
                    )
                })?,
        })
    }

    /// `[tmux]`: a named server (default `claude-failover`) or a socket path.
    fn tmux(&self, raw: Option<&Spanned<RawTmux>>) -> Result<TmuxTarget, ConfigFileError> {
        Ok(match raw {
            None => TmuxTarget::Socket("claude-failover".into()),
            Some(t) => match (&t.get_ref().socket, &t.get_ref().path) {
                (Some(_), Some(_)) => {
                    return Err(self.err(
                        Some(t.span()),
                        "tmux",
                        "set either 'socket' or 'path', not both".into(),
                    ));
                }
                (Some(name), None) if name.is_empty() || name.contains('/') => {
                    return Err(self.err(
                        Some(t.span()),
                        "tmux.socket",
                        format!("{name:?} must be a plain name (use 'path' for a socket path)"),
                    ));
                }
                (Some(name), None) => TmuxTarget::Socket(name.clone()),
                (None, Some(p)) => TmuxTarget::Path(self.path(p, t.span(), "tmux.path")?),
                (None, None) => TmuxTarget::Socket("claude-failover".into()),
            },
        })
    }

    /// `[claude]`: the command, the shared trees and the settings sync.
    fn claude(&self, claude_raw: RawClaude) -> Result<ClaudeSettings, ConfigFileError> {
        let command = match &claude_raw.command {
            None => vec!["claude".to_owned()],
            Some(c) if c.get_ref().is_empty() || c.get_ref()[0].is_empty() => {
                return Err(self.err(
                    Some(c.span()),
                    "claude.command",
                    "must name a program, e.g. [\"claude\"]".into(),
                ));
            }
            Some(c) => c.get_ref().clone(),
        };
        let shared_projects = match &claude_raw.shared_projects {
            Some(s) => self.path(s.get_ref(), s.span(), "claude.shared_projects")?,
            None => self
                .xdg("XDG_DATA_HOME", ".local/share")
                .map(|p| p.join("claude-failover/projects"))
                .ok_or_else(|| {
                    self.err(
                        None,
                        "claude.shared_projects",
                        "not set, and neither XDG_DATA_HOME nor HOME is set to default it".into(),
                    )
                })?,
        };

        let share = match &claude_raw.share {
            None => failover_tmux::homes::DEFAULT_SHARE
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            Some(list) => {
                let mut seen = BTreeSet::new();
                for name in list.get_ref() {
                    if let Some(why) = failover_tmux::homes::refuse_share(name) {
                        return Err(self.err(
                            Some(list.span()),
                            "claude.share",
                            format!("{name:?} cannot be shared: it {why}"),
                        ));
                    }
                    if !seen.insert(name.trim_end_matches('/')) {
                        return Err(self.err(
                            Some(list.span()),
                            "claude.share",
                            format!("{name:?} is listed twice"),
                        ));
                    }
                }
                list.get_ref().clone()
            }
        };
        Ok(ClaudeSettings {
            command,
            env: claude_raw.env,
            shared_projects,
            share,
            sync_settings: claude_raw.sync_settings.unwrap_or(false),
        })
    }

    /// `[[accounts]]`, with each account's `proactive_percent` override.
    fn accounts(
        &self,
        raw: &[RawAccount],
    ) -> Result<(Vec<Account>, BTreeMap<AccountId, f32>), ConfigFileError> {
        let mut accounts = Vec::new();
        let mut overrides = BTreeMap::new();
        let mut names = BTreeSet::new();
        for (i, a) in raw.iter().enumerate() {
            let key = format!("accounts[{i}]");
            let name = a.name.get_ref();
            check_name(name)
                .map_err(|m| self.err(Some(a.name.span()), &format!("{key}.name"), m))?;
            if !names.insert(name.clone()) {
                return Err(self.err(
                    Some(a.name.span()),
                    &format!("{key}.name"),
                    format!("account '{name}' is listed twice"),
                ));
            }
            let dir_key = format!("{key}.config_dir");
            let dir = self.path(a.config_dir.get_ref(), a.config_dir.span(), &dir_key)?;
            if !dir.is_dir() {
                return Err(self.err(
                    Some(a.config_dir.span()),
                    &dir_key,
                    format!(
                        "directory {} does not exist (create it and log in with CLAUDE_CONFIG_DIR={} claude)",
                        dir.display(),
                        dir.display()
                    ),
                ));
            }
            accounts.push(Account {
                id: AccountId::new(name.clone()),
                config_dir: dir,
                preference: a.preference.unwrap_or(u32::try_from(i).unwrap_or(u32::MAX)),
            });
            if let Some(p) = &a.proactive_percent {
                let pct = *p.get_ref();
                if !(pct > 0.0 && pct <= 100.0) {
                    return Err(self.err(
                        Some(p.span()),
                        &format!("{key}.proactive_percent"),
                        format!("{pct} is out of range: greater than 0 and at most 100"),
                    ));
                }
                overrides.insert(AccountId::new(name.clone()), pct);
            }
        }
        if accounts.is_empty() {
            return Err(self.err(
                Some(0..0),
                "accounts",
                "at least one [[accounts]] entry is required".into(),
            ));
        }
        Ok((accounts, overrides))
    }

    /// `[[sessions]]`.
    fn sessions(&self, raw: &[RawSession]) -> Result<Vec<SessionSpec>, ConfigFileError> {
        let mut sessions = Vec::new();
        let mut names = BTreeSet::new();
        for (i, s) in raw.iter().enumerate() {
            let key = format!("sessions[{i}]");
            let name = s.name.get_ref();
            check_name(name)
                .map_err(|m| self.err(Some(s.name.span()), &format!("{key}.name"), m))?;
            if !names.insert(name.clone()) {
                return Err(self.err(
                    Some(s.name.span()),
                    &format!("{key}.name"),
                    format!("session '{name}' is listed twice"),
                ));
            }
            let dir_key = format!("{key}.dir");
            let dir = self.path(s.dir.get_ref(), s.dir.span(), &dir_key)?;
            if !dir.is_dir() {
                return Err(self.err(
                    Some(s.dir.span()),
                    &dir_key,
                    format!("directory {} does not exist", dir.display()),
                ));
            }
            sessions.push(SessionSpec {
                id: SessionId::new(name.clone()),
                dir,
                task: s.task.clone(),
            });
        }
        Ok(sessions)
    }

    /// `[policy]` applied over the engine's defaults (validated later, once the ledger is
    /// known: [`Self::validate`]).
    fn policy(
        &self,
        policy: &RawPolicy,
        mut engine: EngineConfig,
        overrides: BTreeMap<AccountId, f32>,
    ) -> Result<EngineConfig, ConfigFileError> {
        if let Some(m) = policy.mode {
            engine.mode = m;
        }
        if let Some(p) = &policy.proactive_percent {
            engine.proactive_percent = *p.get_ref();
        }
        if let Some(p) = &policy.pane_confirmations {
            engine.pane_confirmations = *p.get_ref();
        }
        if let Some(s) = policy.unknown_reset_retry_secs {
            engine.unknown_reset_retry = Duration::from_secs(s);
        }
        if let Some(b) = policy.return_to_preferred {
            engine.return_to_preferred = b;
        }
        if let Some(s) = &policy.effect_timeout_secs {
            if *s.get_ref() == 0 {
                return Err(self.err(
                    Some(s.span()),
                    "policy.effect_timeout_secs",
                    "must be at least 1".into(),
                ));
            }
            engine.effect_timeout = Duration::from_secs(*s.get_ref());
        }
        if let Some(s) = policy.relaunch_backoff_secs {
            engine.relaunch_backoff = Duration::from_secs(s);
        }
        if let Some(s) = policy.relaunch_backoff_max_secs {
            engine.relaunch_backoff_max = Duration::from_secs(s);
        }
        if let Some(d) = &policy.degraded_after {
            engine.degraded_after = *d.get_ref();
        }
        engine.parallel_moves = policy
            .parallel_moves
            .as_ref()
            .map_or_else(default_parallel_moves, |p| *p.get_ref());
        engine.proactive_overrides = overrides;
        if let Some(s) = policy.strategy {
            engine.strategy = s;
        }
        if let Some(p) = &policy.min_headroom_percent {
            engine.min_headroom_percent = *p.get_ref();
        }
        if let Some(b) = policy.allow_extra_usage {
            engine.allow_extra_usage = b;
        }
        if let Some(b) = policy.follow_model {
            engine.follow_model = b;
        }
        if let Some(p) = &policy.return_headroom_percent {
            engine.return_headroom_percent = *p.get_ref();
        }
        if let Some(d) = &policy.return_cooldown {
            engine.return_cooldown = d
                .get_ref()
                .resolve()
                .map_err(|m| self.err(Some(d.span()), "policy.return_cooldown", m))?;
        }
        if let Some(p) = &policy.standby_percent {
            engine.standby_percent = Some(*p.get_ref());
        }
        if let Some(n) = &policy.standby_max {
            engine.standby_max = *n.get_ref();
        }
        if policy.standby == Some(false) {
            engine.standby_percent = None;
        }
        Ok(engine)
    }

    /// `[policy] standby_timeout_secs` and `standby_resume_timeout_secs`: the backend's
    /// waits on a standby, each from 1 to [`STANDBY_WAIT_MAX_SECS`] seconds.
    fn standby(&self, policy: &RawPolicy) -> Result<StandbySettings, ConfigFileError> {
        let mut out = StandbySettings::default();
        for (raw, key, into) in [
            (
                &policy.standby_timeout_secs,
                "policy.standby_timeout_secs",
                &mut out.timeout,
            ),
            (
                &policy.standby_resume_timeout_secs,
                "policy.standby_resume_timeout_secs",
                &mut out.resume_timeout,
            ),
        ] {
            if let Some(s) = raw {
                let secs = *s.get_ref();
                if !(1..=STANDBY_WAIT_MAX_SECS).contains(&secs) {
                    return Err(self.err(
                        Some(s.span()),
                        key,
                        format!(
                            "must be at least 1 and at most {STANDBY_WAIT_MAX_SECS}, got {secs}"
                        ),
                    ));
                }
                *into = Duration::from_secs(secs);
            }
        }
        Ok(out)
    }

    /// The engine's own validation, its error located at the `[policy]` key at fault.
    fn validate(&self, engine: &EngineConfig, policy: &RawPolicy) -> Result<(), ConfigFileError> {
        if let Err(e) = engine.validate() {
            let span = match &e {
                failover_core::ConfigError::OutOfRange { key, .. } => match *key {
                    "proactive_percent" => policy.proactive_percent.as_ref().map(|s| s.span()),
                    "pane_confirmations" => policy.pane_confirmations.as_ref().map(|s| s.span()),
                    "degraded_after" => policy.degraded_after.as_ref().map(|s| s.span()),
                    "parallel_moves" => policy.parallel_moves.as_ref().map(|s| s.span()),
                    "min_headroom_percent" => {
                        policy.min_headroom_percent.as_ref().map(|s| s.span())
                    }
                    "return_headroom_percent" => {
                        policy.return_headroom_percent.as_ref().map(|s| s.span())
                    }
                    "standby_percent" => policy.standby_percent.as_ref().map(|s| s.span()),
                    "standby_max" => policy.standby_max.as_ref().map(|s| s.span()),
                    _ => None,
                },
                _ => None,
            };
            let key = match &e {
                failover_core::ConfigError::OutOfRange { key, .. } => format!("policy.{key}"),
                _ => "policy".to_owned(),
            };
            return Err(self.err(span, &key, e.to_string()));
        }
        Ok(())
    }

    /// `[control] socket`, else `$XDG_RUNTIME_DIR/claude-failover.sock`, else
    /// `<state_dir>/control.sock`.
    pub(super) fn socket(
        &self,
        raw: Option<&String>,
        state_dir: &Path,
    ) -> Result<PathBuf, ConfigFileError> {
        match raw {
            Some(s) => self.path(s, 0..0, "control.socket"),
            None => Ok(default_socket(self.env, state_dir)),
        }
    }

    /// `[control]`: the unix socket, and the TCP listener with its limits.
    fn control(
        &self,
        control_raw: RawControl,
        state_dir: &Path,
    ) -> Result<ControlSettings, ConfigFileError> {
        let socket = self.socket(control_raw.socket.as_ref(), state_dir)?;

        let tcp = match (&control_raw.tcp, &control_raw.token_file) {
            (None, None) => None,
            (None, Some(t)) => {
                return Err(self.err(
                    Some(t.span()),
                    "control.token_file",
                    "is only used with control.tcp".into(),
                ));
            }
            (Some(addr), None) => {
                return Err(self.err(
                    Some(addr.span()),
                    "control.tcp",
                    "a TCP listener is refused without control.token_file (its bearer token)"
                        .into(),
                ));
            }
            (Some(addr), Some(tok)) => {
                let parsed: SocketAddr = addr.get_ref().parse().map_err(|e| {
                    self.err(
                        Some(addr.span()),
                        "control.tcp",
                        format!(
                            "{:?} is not an address like 127.0.0.1:7411: {e}",
                            addr.get_ref()
                        ),
                    )
                })?;
                let allow_remote = control_raw.allow_remote.unwrap_or(false);
                if !parsed.ip().is_loopback() && !allow_remote {
                    return Err(self.err(
                        Some(addr.span()),
                        "control.tcp",
                        format!(
                            "{parsed} is reachable from other machines and the bearer token would cross the network in clear; listen on 127.0.0.1 (and tunnel), or set [control] allow_remote = true"
                        ),
                    ));
                }
                let max_connections = match &control_raw.max_connections {
                    None => 32,
                    Some(n) if *n.get_ref() >= 1 => *n.get_ref(),
                    Some(n) => {
                        return Err(self.err(
                            Some(n.span()),
                            "control.max_connections",
                            "must be at least 1".into(),
                        ));
                    }
                };
                let header_timeout = match &control_raw.header_timeout_secs {
                    None => Duration::from_secs(10),
                    Some(n) if *n.get_ref() >= 1 => Duration::from_secs(*n.get_ref()),
                    Some(n) => {
                        return Err(self.err(
                            Some(n.span()),
                            "control.header_timeout_secs",
                            "must be at least 1".into(),
                        ));
                    }
                };
                Some(TcpSettings {
                    addr: parsed,
                    token_file: self.path(tok.get_ref(), tok.span(), "control.token_file")?,
                    allow_remote,
                    max_connections,
                    header_timeout,
                })
            }
        };

        if tcp.is_none() {
            let stray = [
                control_raw
                    .allow_remote
                    .map(|_| ("control.allow_remote", None)),
                control_raw
                    .max_connections
                    .as_ref()
                    .map(|n| ("control.max_connections", Some(n.span()))),
                control_raw
                    .header_timeout_secs
                    .as_ref()
                    .map(|n| ("control.header_timeout_secs", Some(n.span()))),
            ];
            if let Some((key, span)) = stray.into_iter().flatten().next() {
                return Err(self.err(span, key, "is only used with control.tcp".into()));
            }
        }
        Ok(ControlSettings { socket, tcp })
    }

    /// `[notify]`: Telegram, webhook, log, and the delivery limits.
    fn notify(&self, notify_raw: RawNotify) -> Result<NotifySettings, ConfigFileError> {
        let telegram = match &notify_raw.telegram {
            None => None,
            Some(t) => {
                let span = t.span();
                let t = t.get_ref();
                let token = match &t.bot_token_file {
                    Some(f) => SecretSource::File(self.path(
                        f.get_ref(),
                        f.span(),
                        "notify.telegram.bot_token_file",
                    )?),
                    None => match self.env.var(TELEGRAM_TOKEN_ENV) {
                        Some(v) => SecretSource::Inline(v),
                        None => {
                            return Err(self.err(
                                Some(span),
                                "notify.telegram.bot_token_file",
                                format!(
                                    "the bot token is needed: set bot_token_file or the {TELEGRAM_TOKEN_ENV} environment variable"
                                ),
                            ));
                        }
                    },
                };
                let chat_id = t.chat_id.clone().filter(|c| !c.is_empty()).ok_or_else(|| {
                    self.err(
                        Some(span.clone()),
                        "notify.telegram.chat_id",
                        "missing key 'chat_id'".into(),
                    )
                })?;
                Some(TelegramSettings {
                    token,
                    chat_id,
                    api_base: t
                        .api_base
                        .clone()
                        .unwrap_or_else(|| TELEGRAM_API_BASE.to_owned())
                        .trim_end_matches('/')
                        .to_owned(),
                })
            }
        };
        let webhook = match &notify_raw.webhook {
            None => None,
            Some(w) => {
                let url = w.url.get_ref();
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(self.err(
                        Some(w.url.span()),
                        "notify.webhook.url",
                        format!("{url:?} must start with http:// or https://"),
                    ));
                }
                Some(WebhookSettings {
                    url: url.clone(),
                    headers: w.headers.clone(),
                })
            }
        };
        let queue_capacity = match &notify_raw.queue_capacity {
            Some(c) if *c.get_ref() == 0 => {
                return Err(self.err(
                    Some(c.span()),
                    "notify.queue_capacity",
                    "must be at least 1".into(),
                ));
            }
            Some(c) => *c.get_ref(),
            None => 64,
        };
        let max_attempts = match &notify_raw.max_attempts {
            Some(c) if *c.get_ref() == 0 => {
                return Err(self.err(
                    Some(c.span()),
                    "notify.max_attempts",
                    "must be at least 1".into(),
                ));
            }
            Some(c) => *c.get_ref(),
            None => 5,
        };
        Ok(NotifySettings {
            telegram,
            webhook,
            log: notify_raw.log.unwrap_or(true),
            dedup_window: Duration::from_secs(notify_raw.dedup_window_secs.unwrap_or(600)),
            queue_capacity,
            max_attempts,
        })
    }

    /// `[janitor]`.
    fn janitor(&self, janitor_raw: RawJanitor) -> Result<JanitorSettings, ConfigFileError> {
        let interval = match &janitor_raw.interval_secs {
            Some(s) if *s.get_ref() == 0 => {
                return Err(self.err(
                    Some(s.span()),
                    "janitor.interval_secs",
                    "must be at least 1".into(),
                ));
            }
            Some(s) => Duration::from_secs(*s.get_ref()),
            None => Duration::from_secs(3600),
        };
        Ok(JanitorSettings {
            checkpoint_retention: Duration::from_secs(
                janitor_raw.checkpoint_retention_hours.unwrap_or(24 * 7) * 3600,
            ),
            interval,
        })
    }

    /// `[[projects]]` (each must exist) and `[queue]`.
    pub(super) fn queue(
        &self,
        raw_projects: &[RawProject],
        queue_raw: RawQueue,
    ) -> Result<QueueSettings, ConfigFileError> {
        let projects = self.projects(raw_projects)?;

        let max_task_bytes = match &queue_raw.max_task_bytes {
            Some(b) if *b.get_ref() == 0 => {
                return Err(self.err(
                    Some(b.span()),
                    "queue.max_task_bytes",
                    "must be at least 1".into(),
                ));
            }
            Some(b) => *b.get_ref(),
            None => 1024 * 1024,
        };
        let max_attempts_q = match &queue_raw.max_attempts {
            Some(a) if *a.get_ref() == 0 => {
                return Err(self.err(
                    Some(a.span()),
                    "queue.max_attempts",
                    "must be at least 1".into(),
                ));
            }
            Some(a) => *a.get_ref(),
            None => 3,
        };
        Ok(QueueSettings {
            projects,
            max_task_bytes,
            max_attempts: max_attempts_q,
            done_retention: Duration::from_secs(
                queue_raw.done_retention_hours.unwrap_or(24 * 7) * 3600,
            ),
        })
    }

    /// `[[projects]]`: each `dir` expanded and required to exist.
    pub(super) fn projects(&self, raw: &[RawProject]) -> Result<Vec<PathBuf>, ConfigFileError> {
        let mut projects = Vec::new();
        for (i, p) in raw.iter().enumerate() {
            let key = format!("projects[{i}].dir");
            let dir = self.path(p.dir.get_ref(), p.dir.span(), &key)?;
            if !dir.is_dir() {
                return Err(self.err(
                    Some(p.dir.span()),
                    &key,
                    format!("directory {} does not exist", dir.display()),
                ));
            }
            projects.push(dir);
        }
        Ok(projects)
    }

    /// `[quota]`: the usage endpoint and how often it is read.
    fn quota(&self, quota_raw: RawQuota) -> Result<QuotaSettings, ConfigFileError> {
        let usage_url = match &quota_raw.usage_url {
            Some(u) => {
                let url = u.get_ref().trim();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(self.err(
                        Some(u.span()),
                        "quota.usage_url",
                        format!("{url:?} is not an http(s) URL"),
                    ));
                }
                url.to_owned()
            }
            None => DEFAULT_USAGE_URL.to_owned(),
        };
        let usage_poll = match &quota_raw.usage_poll {
            Some(d) => {
                let poll = d
                    .get_ref()
                    .resolve()
                    .map_err(|m| self.err(Some(d.span()), "quota.usage_poll", m))?;
                if poll < Duration::from_secs(60) {
                    return Err(self.err(
                        Some(d.span()),
                        "quota.usage_poll",
                        "must be at least 60 seconds (the endpoint allows about 30 reads an \
                         hour per account, shared with Claude Code)"
                            .into(),
                    ));
                }
                poll
            }
            None => Duration::from_secs(600),
        };
        Ok(QuotaSettings {
            poll_usage: quota_raw.poll_usage.unwrap_or(true),
            usage_url,
            usage_poll,
        })
    }

    fn ledger(&self, raw: &RawLedger) -> Result<crate::ledger::LedgerConfig, ConfigFileError> {
        let url = raw.url.get_ref().trim().to_owned();
        crate::ledger::check_url(&url)
            .map_err(|why| self.err(Some(raw.url.span()), "ledger.url", why))?;
        let password_file = match &raw.password_file {
            Some(p) => {
                let path = self.path(p.get_ref(), p.span(), "ledger.password_file")?;
                crate::ledger::read_password(&path)
                    .map_err(|why| self.err(Some(p.span()), "ledger.password_file", why))?;
                Some(path)
            }
            None => None,
        };
        let key_prefix = match &raw.key_prefix {
            Some(k) => {
                let prefix = k.get_ref().clone();
                if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c == '*') {
                    return Err(self.err(
                        Some(k.span()),
                        "ledger.key_prefix",
                        format!("{prefix:?}: must be non-empty, without spaces or '*'"),
                    ));
                }
                prefix
            }
            None => "claude-failover".to_owned(),
        };
        let host = match &raw.host {
            Some(h) => {
                check_name(h.get_ref())
                    .map_err(|why| self.err(Some(h.span()), "ledger.host", why))?;
                h.get_ref().clone()
            }
            None => host_name().ok_or_else(|| {
                self.err(
                    None,
                    "ledger.host",
                    "the host name cannot be read; set ledger.host".into(),
                )
            })?,
        };
        let lease_ttl = match &raw.lease_ttl_secs {
            Some(t) if *t.get_ref() == 0 => {
                return Err(self.err(
                    Some(t.span()),
                    "ledger.lease_ttl_secs",
                    "must be at least 1".into(),
                ));
            }
            Some(t) => Duration::from_secs(*t.get_ref()),
            None => Duration::from_secs(120),
        };
        Ok(crate::ledger::LedgerConfig {
            url,
            password_file,
            key_prefix,
            host: failover_core::HostId::new(host),
            lease_ttl,
        })
    }
}

/// Account and session names become tmux session names and file names.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
    {
        return Err(format!(
            "{name:?} may only use letters, digits, '-' and '_' (found {c:?})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_restricted() {
        assert!(check_name("ccl-0").is_ok());
        assert!(check_name("a b").is_err());
        assert!(check_name("").is_err());
    }
}
