//! `doctor`: checks everything the daemon needs, and prints each problem with its fix.
//!
//! Checks: the config file, tmux (present, version), the Claude Code binary (present, pinned
//! version), each account dir (exists, logged in = credentials file present with mode 0600,
//! its global config where Claude Code reads it (`~/.claude.json` for the default `~/.claude`),
//! `projects/` linked to the shared tree, statusline hook installed), the settings and
//! user-scope MCP servers that differ between accounts, the person's shared entries (linked
//! on every account, conflict copies left by adoption), and the control socket (present,
//! owner-only, daemon answering). Credentials are checked by metadata only.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use failover_daemon::config::{DaemonConfig, ProcessEnv};
use failover_daemon::http::dto::StatusDto;
use serde::Serialize;

use crate::commands::Ctx;
use failover_tmux::homes::{self, CREDENTIALS_FILE, LoginStatus};
use failover_tmux::{global_config, person, statusline};

use crate::discover::{self, PINNED_CLAUDE_VERSION};
use crate::error::CliError;
use crate::paths::{self, expand_tilde, tilde};
use crate::render;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// Fine.
    Ok,
    /// Not done yet, but the daemon does it by itself when it starts; does not fail `doctor`.
    Info,
    /// Works, but worth a look; does not fail `doctor`.
    Warn,
    /// Broken; `doctor` exits non-zero.
    Fail,
}

/// One check's result (also the `--json` shape: `{"check","status","detail","fix"}`).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Check {
    /// What was checked (`tmux`, `account primary: logged in`, ...).
    pub(crate) check: String,
    /// How it came out.
    pub(crate) status: Outcome,
    /// What was found.
    pub(crate) detail: String,
    /// What to do about it, for warnings and failures.
    pub(crate) fix: Option<String>,
}

/// `doctor --json`: every check and the overall verdict.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// No check failed.
    pub(crate) ok: bool,
    /// Every check, in order.
    pub(crate) checks: Vec<Check>,
}

#[derive(Debug, Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn ok(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.push(check, Outcome::Ok, detail, None::<String>);
    }
    fn info(&mut self, check: impl Into<String>, detail: impl Into<String>, fix: Option<String>) {
        self.push(check, Outcome::Info, detail, fix);
    }
    fn warn(
        &mut self,
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(check, Outcome::Warn, detail, Some(fix));
    }
    fn fail(
        &mut self,
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.push(check, Outcome::Fail, detail, Some(fix));
    }
    fn push(
        &mut self,
        check: impl Into<String>,
        status: Outcome,
        detail: impl Into<String>,
        fix: Option<impl Into<String>>,
    ) {
        self.0.push(Check {
            check: check.into(),
            status,
            detail: detail.into(),
            fix: fix.map(Into::into),
        });
    }
}

/// What doctor needs from the config file, read leniently so that one bad key does not hide
/// every other check.
#[derive(Debug, Default)]
struct Loose {
    accounts: Vec<(String, PathBuf)>,
    command: Option<String>,
    shared_projects: Option<PathBuf>,
}

fn loose(text: &str, base: &Path) -> Loose {
    let Ok(t) = text.parse::<toml::Table>() else {
        return Loose::default();
    };
    let path = |s: &str| {
        let p = expand_tilde(s);
        if p.is_absolute() { p } else { base.join(p) }
    };
    let accounts = t
        .get("accounts")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|a| {
                    Some((
                        a.get("name")?.as_str()?.to_owned(),
                        path(a.get("config_dir")?.as_str()?),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let claude = t.get("claude").and_then(|c| c.as_table());
    Loose {
        accounts,
        command: claude
            .and_then(|c| c.get("command"))
            .and_then(|c| c.as_array())
            .and_then(|c| c.first())
            .and_then(|c| c.as_str())
            .map(str::to_owned),
        shared_projects: claude
            .and_then(|c| c.get("shared_projects"))
            .and_then(|c| c.as_str())
            .map(path),
    }
}

fn default_shared_projects() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| paths::home().join(".local/share"))
        .join("claude-failover/projects")
}

/// Runs `doctor`.
pub(crate) async fn run(ctx: &Ctx, json: bool) -> Result<(), CliError> {
    let checks = collect(ctx).await;
    let failed = checks.iter().filter(|c| c.status == Outcome::Fail).count();
    let out = |e| CliError::io("cannot write to", "stdout", e);
    if json {
        render::json(&Report {
            ok: failed == 0,
            checks,
        })
        .map_err(out)?;
    } else {
        let mut text = String::new();
        for c in &checks {
            let mark = match c.status {
                Outcome::Ok => "[ok]  ",
                Outcome::Info => "[info]",
                Outcome::Warn => "[warn]",
                Outcome::Fail => "[FAIL]",
            };
            text.push_str(&format!("{mark} {}: {}\n", c.check, c.detail));
            if let Some(fix) = &c.fix {
                text.push_str(&format!("       fix: {fix}\n"));
            }
        }
        render::print(&render::wrap(&text, render::COLUMNS)).map_err(out)?;
    }
    if failed > 0 {
        return Err(CliError::ChecksFailed(failed));
    }
    Ok(())
}

async fn collect(ctx: &Ctx) -> Vec<Check> {
    let mut c = Checks::default();
    let cfg = check_config(ctx, &mut c);
    check_tmux(&mut c).await;
    check_claude(&mut c, cfg.command.as_deref()).await;
    let shared = cfg
        .shared_projects
        .clone()
        .unwrap_or_else(default_shared_projects);
    let accounts = if cfg.accounts.is_empty() {
        discover::claude_dirs()
            .into_iter()
            .map(|d| (d.name, d.path))
            .collect()
    } else {
        cfg.accounts.clone()
    };
    if accounts.is_empty() {
        c.fail(
            "accounts",
            "no account configured and no Claude Code config dir found",
            "log in once per account with `CLAUDE_CONFIG_DIR=~/.claude-NAME claude /login`, then `claude-failover init`",
        );
    }
    for (name, dir) in &accounts {
        check_account(&mut c, name, dir, &shared);
    }
    if accounts.len() > 1 {
        check_same_person(&mut c, &accounts);
    }
    check_shared_entries(ctx, &mut c);
    check_ledger(ctx, &mut c).await;
    check_socket(ctx, &mut c).await;
    c.0
}

/// `[ledger]`: Redis answers, and no two hosts log in as different Anthropic accounts under
/// one account name (compared by the non-secret account uuid each host records).
async fn check_ledger(ctx: &Ctx, c: &mut Checks) {
    use failover_daemon::ledger::{LedgerStore, account_identities, conflicts};
    let Ok(cfg) = DaemonConfig::load(&ctx.config, &ProcessEnv) else {
        return;
    };
    let Some(ledger) = &cfg.ledger else {
        return;
    };
    let store = match LedgerStore::new(ledger) {
        Ok(s) => s,
        Err(e) => {
            c.fail("ledger", e, "correct [ledger] in the config file");
            return;
        }
    };
    let mut con = match store.connect().await {
        Ok(con) => con,
        Err(e) => {
            c.warn(
                "ledger",
                format!(
                    "degraded: {} does not answer ({e}); each daemon goes on with its own view",
                    ledger.url
                ),
                "start Redis or correct ledger.url; the daemons reconcile once it answers",
            );
            return;
        }
    };
    c.ok(
        "ledger",
        format!("{} answers; this host is {}", ledger.url, ledger.host),
    );
    let local = account_identities(&cfg.engine.accounts);
    let mut recorded = std::collections::BTreeMap::new();
    for account in &cfg.engine.accounts {
        let mut by_host = store
            .identities(&mut con, &account.id)
            .await
            .unwrap_or_default();
        if let Some(uuid) = local.get(&account.id) {
            by_host.insert(ledger.host.to_string(), uuid.clone());
        }
        recorded.insert(account.id.clone(), by_host);
    }
    for (account, by_host) in conflicts(recorded) {
        let who: Vec<String> = by_host
            .iter()
            .map(|(host, uuid)| format!("{host} as {uuid}"))
            .collect();
        c.warn(
            format!("ledger account {account}"),
            format!(
                "hosts log in as different Anthropic accounts under this name: {}",
                who.join(", ")
            ),
            "log in with the same Anthropic account on every host, or name the accounts differently",
        );
    }
}

fn check_config(ctx: &Ctx, c: &mut Checks) -> Loose {
    let path = &ctx.config;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !ctx.config_explicit => {
            c.warn(
                "config",
                format!("no config file at {}", path.display()),
                "write one with `claude-failover init` (checking the Claude dirs found instead)",
            );
            return Loose::default();
        }
        Err(e) => {
            c.fail(
                "config",
                format!("cannot read {}: {e}", path.display()),
                "pass an existing file with --config, or write one with `claude-failover init`",
            );
            return Loose::default();
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    match validate(path) {
        Ok((accounts, sessions)) => c.ok(
            "config",
            format!(
                "{}: {accounts} account(s), {sessions} session(s)",
                path.display()
            ),
        ),
        Err(e) => c.fail(
            "config",
            e,
            "correct the key named above (the daemon refuses to start with this file)",
        ),
    }
    loose(&text, base)
}

/// Checks the file the way the daemon reads it; returns the account and session counts.
fn validate(path: &Path) -> Result<(usize, usize), String> {
    DaemonConfig::load(path, &ProcessEnv)
        .map(|c| (c.engine.accounts.len(), c.engine.sessions.len()))
        .map_err(|e| e.to_string())
}

async fn check_tmux(c: &mut Checks) {
    let Some(tmux) = discover::which("tmux") else {
        c.fail(
            "tmux",
            "not found on PATH",
            "install tmux 3.0 or newer (`apt-get install tmux`, `brew install tmux`, or scripts/setup.sh)",
        );
        return;
    };
    match discover::output(&tmux, &["-V"], Duration::from_secs(5)).await {
        Some(v) => {
            let num = v.trim_start_matches("tmux ").trim_start_matches("next-");
            let major: u32 = num
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            if major >= 3 {
                c.ok("tmux", format!("{v} at {}", tmux.display()));
            } else {
                c.warn(
                    "tmux",
                    format!("{v} at {} is older than 3.0", tmux.display()),
                    "upgrade tmux to 3.0 or newer",
                );
            }
        }
        None => c.fail(
            "tmux",
            format!("{} -V did not answer", tmux.display()),
            "reinstall tmux",
        ),
    }
}

async fn check_claude(c: &mut Checks, configured: Option<&str>) {
    let bin = match configured {
        Some(cmd) if cmd.contains('/') => Some(expand_tilde(cmd)),
        Some(cmd) => discover::which(cmd),
        None => discover::which("claude").or_else(|| {
            discover::real_claude_candidates()
                .into_iter()
                .next()
                .map(|b| b.path)
        }),
    };
    let name = configured.unwrap_or("claude");
    let Some(bin) = bin else {
        c.fail(
            "claude",
            format!("`{name}` not found"),
            format!(
                "install Claude Code {PINNED_CLAUDE_VERSION} (`npm install -g @anthropic-ai/claude-code@{PINNED_CLAUDE_VERSION}` or scripts/setup.sh) or set [claude] command to its path"
            ),
        );
        return;
    };
    match discover::claude_version(&bin).await {
        Some(v) if v == PINNED_CLAUDE_VERSION => {
            c.ok("claude", format!("Claude Code {v} at {}", bin.display()));
        }
        Some(v) => c.warn(
            "claude",
            format!(
                "Claude Code {v} at {} (tested with {PINNED_CLAUDE_VERSION})",
                bin.display()
            ),
            format!(
                "install the tested version: npm install -g @anthropic-ai/claude-code@{PINNED_CLAUDE_VERSION}"
            ),
        ),
        None => c.fail(
            "claude",
            format!("{} --version failed", bin.display()),
            "reinstall Claude Code, or point [claude] command at a working binary",
        ),
    }
}

fn check_account(c: &mut Checks, name: &str, dir: &Path, shared: &Path) {
    let label = format!("account {name}");
    if !dir.is_dir() {
        c.fail(
            &label,
            format!("config dir {} does not exist", tilde(dir)),
            format!("log in: {}", login_command(dir)),
        );
        return;
    }
    let cred = dir.join(CREDENTIALS_FILE);
    match homes::login_status(dir) {
        Ok(LoginStatus::Missing) => c.fail(
            format!("{label}: login"),
            format!("not logged in (no {CREDENTIALS_FILE} in {})", tilde(dir)),
            format!("log in: {}", login_command(dir)),
        ),
        Ok(LoginStatus::PresentWorldReadable) => {
            let mode = std::fs::metadata(&cred).map_or(0, |m| m.permissions().mode() & 0o777);
            c.fail(
                format!("{label}: login"),
                format!("{CREDENTIALS_FILE} is readable by others (mode {mode:04o})"),
                format!("chmod 600 {}", tilde(&cred)),
            );
        }
        Ok(LoginStatus::Present) => c.ok(
            format!("{label}: login"),
            "logged in (credentials present, 0600)",
        ),
        Err(e) => c.fail(
            format!("{label}: login"),
            format!("cannot inspect {}: {e}", tilde(&cred)),
            format!("make {} readable by this user", tilde(dir)),
        ),
    }

    check_global_config(c, &label, dir, &paths::home());

    let projects = dir.join("projects");
    let link = std::fs::read_link(&projects).ok();
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };
    match link {
        Some(target) => {
            let target = if target.is_absolute() {
                target
            } else {
                dir.join(target)
            };
            if same(&target, shared) {
                c.ok(
                    format!("{label}: transcripts"),
                    format!("projects/ -> {}", tilde(shared)),
                );
            } else {
                c.fail(
                    format!("{label}: transcripts"),
                    format!(
                        "projects/ links to {}, not the shared tree {}",
                        tilde(&target),
                        tilde(shared)
                    ),
                    format!(
                        "ln -sfn {} {} (or set [claude] shared_projects to the tree it uses)",
                        tilde(shared),
                        tilde(&projects)
                    ),
                );
            }
        }
        // The daemon links it on its first start (moving what is there into the shared
        // tree); the commands shown do the same by hand and work as pasted.
        None if projects.is_dir() => c.info(
            format!("{label}: transcripts"),
            format!(
                "{} is a plain directory; the daemon moves it into the shared tree {} and links it when it starts",
                tilde(&projects),
                tilde(shared)
            ),
            Some(format!(
                "or by hand: mkdir -p {s} && cp -a {p}/. {s}/ && mv {p} {p}.bak && ln -s {s} {p}",
                s = tilde(shared),
                p = tilde(&projects)
            )),
        ),
        None if projects.symlink_metadata().is_err() => c.info(
            format!("{label}: transcripts"),
            format!(
                "{} is not there yet; the daemon links it to the shared tree {} when it starts",
                tilde(&projects),
                tilde(shared)
            ),
            Some(format!(
                "or by hand: mkdir -p {s} && ln -s {s} {p}",
                s = tilde(shared),
                p = tilde(&projects)
            )),
        ),
        None => c.fail(
            format!("{label}: transcripts"),
            format!(
                "{} is neither a directory nor a link to the shared tree {}",
                tilde(&projects),
                tilde(shared)
            ),
            format!(
                "move it aside (mv {p} {p}.bak); the daemon then links it when it starts",
                p = tilde(&projects)
            ),
        ),
    }

    check_statusline(c, &label, dir);
}

/// How to log in to the account in `dir`: plain `claude /login` for the default `~/.claude`
/// (with `CLAUDE_CONFIG_DIR=~/.claude` the CLI would write its login into a stray
/// `~/.claude/.claude.json` instead of `~/.claude.json`).
pub(crate) fn login_command(dir: &Path) -> String {
    if global_config::is_default_dir(dir, &paths::home()) {
        "claude /login".to_owned()
    } else {
        format!("CLAUDE_CONFIG_DIR={} claude /login", tilde(dir))
    }
}

/// The account's global config (`.claude.json`): where Claude Code keeps its login and
/// onboarding. The default dir `~/.claude` keeps it at `~/.claude.json` and is launched
/// without `CLAUDE_CONFIG_DIR`; any other dir keeps it inside.
fn check_global_config(c: &mut Checks, label: &str, dir: &Path, home: &Path) {
    let check = format!("{label}: global config");
    let global = global_config::path(dir, Some(home));
    let present = global.is_file();
    if global_config::is_default_dir(dir, home) {
        if present {
            c.ok(
                &check,
                format!(
                    "default account: started without CLAUDE_CONFIG_DIR, so Claude Code keeps using {}",
                    tilde(&global)
                ),
            );
        } else {
            c.fail(
                &check,
                format!(
                    "default account, but {} is missing: Claude Code would show its first-run screen",
                    tilde(&global)
                ),
                "run `claude` once without CLAUDE_CONFIG_DIR and log in (`claude /login`)",
            );
        }
        let stray = dir.join(global_config::FILE);
        if stray.is_file() {
            c.warn(
                format!("{label}: stray config"),
                format!(
                    "{} exists: left by a launch with CLAUDE_CONFIG_DIR={}; Claude Code ignores it for the default account, which uses {}",
                    tilde(&stray),
                    tilde(dir),
                    tilde(&global)
                ),
                format!(
                    "move it aside once you have checked nothing in it is needed: mv {s} {s}.bak",
                    s = tilde(&stray)
                ),
            );
        }
    } else if present {
        c.ok(&check, tilde(&global));
    } else {
        c.warn(
            &check,
            format!(
                "{} is missing: Claude Code would show its first-run screen",
                tilde(&global)
            ),
            format!("log in: {}", login_command(dir)),
        );
    }
}

/// The statusline hook: `settings.json` has a `statusLine` command that feeds claude-failover.
/// Settings (`settings.json` keys) and user-scope MCP servers that are not the same on
/// every account: a session moved between them behaves differently. Values are never shown.
fn check_same_person(c: &mut Checks, accounts: &[(String, PathBuf)]) {
    let home = paths::home();
    let mut read = Vec::new();
    for (name, dir) in accounts {
        match person::read_account(name, dir, Some(&home)) {
            Ok(s) => read.push(s),
            Err(e) => c.warn(
                format!("account {name}: settings"),
                format!("cannot compare its settings: {e}"),
                "fix the file named above (Claude Code ignores a settings file it cannot parse)",
            ),
        }
    }
    let diffs = person::differences(&read);
    if diffs.is_empty() {
        c.ok(
            "accounts: same settings",
            "settings and MCP servers are the same on every account",
        );
    }
    for d in diffs {
        let fix = if let Some(server) = d.key.strip_prefix("mcpServers.") {
            format!(
                "add '{server}' on the other accounts too (`CLAUDE_CONFIG_DIR=<dir> claude mcp add --scope user {server} ...`), or remove it"
            )
        } else {
            "make it the same on every account's settings.json, or set `[claude] sync_settings = true` to carry the preferred account's settings to the others".to_owned()
        };
        c.warn("accounts: settings differ", d.to_string(), fix);
    }
}

/// Each account's `[claude] share` entries link to the person's shared copy, and conflict
/// copies left by adoption (`<stem>.conflict-<account>.<ext>`) are pointed out.
fn check_shared_entries(ctx: &Ctx, c: &mut Checks) {
    let Ok(cfg) = DaemonConfig::load(&ctx.config, &ProcessEnv) else {
        return;
    };
    let shared = failover_daemon::production::person_dir(&cfg);
    for a in &cfg.engine.accounts {
        let unlinked: Vec<&str> = cfg
            .claude
            .share
            .iter()
            .map(|e| e.trim_end_matches('/'))
            .filter(|e| {
                let target = shared.join(e);
                let link = a.config_dir.join(e);
                !(std::fs::read_link(&link).is_ok_and(|t| t == target)
                    || std::fs::canonicalize(&link).ok() == std::fs::canonicalize(&target).ok()
                        && std::fs::symlink_metadata(&link)
                            .is_ok_and(|m| m.file_type().is_symlink()))
            })
            .collect();
        if !unlinked.is_empty() {
            c.warn(
                format!("account {}: shared entries", a.id),
                format!("not linked to the person's shared copy: {}", unlinked.join(", ")),
                format!(
                    "start (or restart) the daemon: it merges the account's own copy into {} and links it",
                    tilde(&shared)
                ),
            );
        }
    }
    let mut conflicts = Vec::new();
    let mut stack = vec![shared.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().contains(".conflict-") {
                conflicts.push(tilde(&e.path()));
            }
        }
    }
    conflicts.sort();
    if !conflicts.is_empty() {
        c.warn(
            "person: conflicts",
            format!(
                "accounts had different versions; the shared one is in use, the others are kept beside it: {}",
                conflicts.join(", ")
            ),
            "compare each copy with the file it sits beside, keep what you want in that file, then delete the copy",
        );
    }
}

fn check_statusline(c: &mut Checks, label: &str, dir: &Path) {
    let settings = dir.join(statusline::SETTINGS);
    let command = std::fs::read_to_string(&settings)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v.get("statusLine")?
                .get("command")?
                .as_str()
                .map(str::to_owned)
        });
    let check = format!("{label}: statusline hook");
    match command {
        Some(cmd) if cmd.contains(statusline::HOOK) => c.ok(check, "installed"),
        Some(cmd) => c.warn(
            check,
            format!("settings.json runs another statusline command ({cmd})"),
            "the daemon installs its hook when it starts and keeps calling yours; or ignore: usage then comes from the pane and transcript only",
        ),
        None => c.info(
            check,
            "not installed yet; the daemon installs it in settings.json when it starts",
            None,
        ),
    }
}

async fn check_socket(ctx: &Ctx, c: &mut Checks) {
    let socket = &ctx.socket;
    match std::fs::metadata(socket) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            c.fail(
                "control socket",
                format!("{}: permission denied", socket.display()),
                "run as the user the daemon runs as",
            );
            return;
        }
        Err(_) => {
            c.fail(
                "control socket",
                format!("no socket at {} (the daemon is not running)", socket.display()),
                format!(
                    "start it with `claude-failoverd --config {}` or `systemctl --user start claude-failoverd`",
                    ctx.config.display()
                ),
            );
            return;
        }
        Ok(m) if !m.file_type().is_socket() => {
            c.fail(
                "control socket",
                format!("{} exists but is not a socket", socket.display()),
                "remove it, then start the daemon",
            );
            return;
        }
        Ok(m) if m.permissions().mode() & 0o077 != 0 => c.fail(
            "control socket permissions",
            format!(
                "{} has mode {:04o}: other users can control the daemon",
                socket.display(),
                m.permissions().mode() & 0o777
            ),
            format!(
                "chmod 600 {} (and update the daemon: it creates it 0600)",
                socket.display()
            ),
        ),
        Ok(_) => c.ok("control socket permissions", "owner-only (0600)"),
    }
    match ctx.client.get_json::<StatusDto>("/v1/status").await {
        Ok(st) if st.daemon.ledger.as_deref() == Some("degraded") => c.warn(
            "daemon",
            format!(
                "claude-failoverd {} (pid {}) answering on {}; ledger: degraded (it cannot reach Redis and goes on with its own view)",
                st.daemon.version,
                st.daemon.pid,
                socket.display()
            ),
            "start Redis or correct ledger.url; the daemon reconciles once it answers",
        ),
        Ok(st) => c.ok(
            "daemon",
            format!(
                "claude-failoverd {} (pid {}) answering on {}; active account {}",
                st.daemon.version,
                st.daemon.pid,
                socket.display(),
                st.active_account.as_deref().unwrap_or("-")
            ),
        ),
        Err(e) => {
            let text = e.to_string();
            let (detail, fix) = text
                .split_once("\nhint: ")
                .unwrap_or((&text, "see the message"));
            c.fail("daemon", detail.to_owned(), fix.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_reading_survives_unknown_keys() {
        let cfg = loose(
            "typo = 1\n[claude]\ncommand = [\"/opt/claude\", \"--x\"]\nshared_projects = \"rel/p\"\n[[accounts]]\nname = \"a\"\nconfig_dir = \"/h/.claude-a\"\n",
            Path::new("/etc/cf"),
        );
        assert_eq!(
            cfg.accounts,
            [("a".to_owned(), PathBuf::from("/h/.claude-a"))]
        );
        assert_eq!(cfg.command.as_deref(), Some("/opt/claude"));
        assert_eq!(cfg.shared_projects, Some(PathBuf::from("/etc/cf/rel/p")));
    }
}
