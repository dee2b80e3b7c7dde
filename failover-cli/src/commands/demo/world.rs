//! The demo's throwaway world: a temp dir holding account config dirs with fake subscription
//! logins (accepted only by the in-process mock API), a shared transcripts tree, one project
//! dir per session, the daemon's config, state and control socket; and a private tmux server
//! name. [`World`]'s `Drop` kills that tmux server and removes the temp dir, so every way out
//! (success, error, Ctrl-C) cleans up.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use failover_sim::accounts::make_account_dir;
use failover_sim::mock_api::{MockAccount, MockApi, MockApiConfig};

use failover_core::AccountId;
use failover_tmux::homes;
use failover_tmux::{Socket, TmuxBackend, TmuxConfig};

use crate::error::CliError;

/// One throwaway account.
#[derive(Debug, Clone)]
pub(crate) struct DemoAccount {
    /// Its name (`demo-a`, ...).
    pub(crate) name: String,
    /// Its `CLAUDE_CONFIG_DIR`.
    pub(crate) dir: PathBuf,
    /// The token the mock tells it apart by.
    pub(crate) token: String,
}

/// One session: a name and a project dir.
#[derive(Debug, Clone)]
pub(crate) struct DemoSession {
    /// Also its tmux session name.
    pub(crate) name: String,
    /// Its working directory.
    pub(crate) dir: PathBuf,
}

/// What runs the sessions.
#[derive(Debug, Clone)]
pub(crate) enum Claude {
    /// The real Claude Code CLI at this path, this version.
    Real {
        /// The executable.
        path: PathBuf,
        /// Its version.
        version: String,
        /// How it was found.
        found_by: &'static str,
    },
    /// This very binary's hidden `__standin` subcommand.
    StandIn {
        /// This executable.
        exe: PathBuf,
    },
}

impl Claude {
    /// The `[claude] command` argv prefix.
    pub(crate) fn command(&self) -> Vec<String> {
        match self {
            Self::Real { path, .. } => vec![path.display().to_string()],
            Self::StandIn { exe } => vec![exe.display().to_string(), "__standin".into()],
        }
    }

    /// For the banner.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Real {
                path,
                version,
                found_by,
            } => format!(
                "the real Claude Code {version} ({}, from {found_by})",
                path.display()
            ),
            Self::StandIn { .. } => {
                "the bundled Claude Code stand-in (run scripts/setup.sh to use the real CLI)".into()
            }
        }
    }
}

/// Everything the demo created. Dropping it removes all of it.
#[derive(Debug)]
pub(crate) struct World {
    /// The temp dir (removed on drop unless kept).
    root: Option<tempfile::TempDir>,
    /// The private tmux server's `-L` name.
    pub(crate) tmux_socket: String,
    /// The accounts, most preferred first.
    pub(crate) accounts: Vec<DemoAccount>,
    /// The sessions.
    pub(crate) sessions: Vec<DemoSession>,
    /// The daemon's config file.
    pub(crate) config_file: PathBuf,
    /// The daemon's control socket.
    pub(crate) control_socket: PathBuf,
    /// The mock Anthropic API.
    pub(crate) mock: MockApi,
    /// The demo's own handle on the private tmux server, for typing prompts.
    pub(crate) tmux: TmuxBackend,
}

impl World {
    /// Builds the world: dirs, accounts, mock API, config file.
    pub(crate) async fn build(
        accounts: u8,
        sessions: u8,
        claude: &Claude,
    ) -> Result<Self, CliError> {
        let root = tempfile::Builder::new()
            .prefix("claude-failover-demo-")
            .tempdir()
            .map_err(|e| CliError::io("cannot create a temp dir in", std::env::temp_dir(), e))?;
        let base = root.path().to_path_buf();
        let mkdir =
            |p: &Path| std::fs::create_dir_all(p).map_err(|e| CliError::io("cannot create", p, e));

        let shared = base.join("shared-projects");
        mkdir(&shared)?;
        let sessions: Vec<DemoSession> = (0..sessions)
            .map(|i| DemoSession {
                name: format!("ccl-{i}"),
                dir: base.join("projects").join(format!("project-{i}")),
            })
            .collect();
        for s in &sessions {
            mkdir(&s.dir)?;
            std::fs::write(
                s.dir.join("README.md"),
                format!(
                    "A throwaway project for the claude-failover demo ({}).\n",
                    s.name
                ),
            )
            .map_err(|e| CliError::io("cannot write", s.dir.join("README.md"), e))?;
        }
        let project_dirs: Vec<PathBuf> = sessions.iter().map(|s| s.dir.clone()).collect();

        let mut demo_accounts = Vec::new();
        for i in 0..accounts {
            let letter = char::from(b'a' + i);
            let name = format!("demo-{letter}");
            let dir = base.join("accounts").join(&name);
            let token = format!("sk-ant-oat01-demo-{letter}-{}", std::process::id());
            make_account_dir(&dir, &token, &project_dirs)
                .map_err(|e| CliError::library(format!("cannot set up account {name}"), e))?;
            // One transcripts tree for every account, so a conversation resumes anywhere:
            // the fresh (empty) projects/ folder is replaced by a link to the shared tree.
            let projects = dir.join(homes::PROJECTS);
            std::fs::remove_dir(&projects)
                .map_err(|e| CliError::io("cannot replace", &projects, e))?;
            homes::adopt(&shared, &dir, &AccountId::new(name.clone()))
                .map_err(|e| CliError::library(format!("cannot link {}", projects.display()), e))?;
            demo_accounts.push(DemoAccount { name, dir, token });
        }

        let mock = MockApi::start(MockApiConfig::local(
            demo_accounts
                .iter()
                .map(|a| MockAccount::new(a.token.clone(), a.name.clone()))
                .collect(),
        ))
        .await
        .map_err(|e| CliError::library("cannot start the mock Anthropic API", e))?;

        let tmux_socket = format!(
            "claude-failover-demo-{}-{}",
            std::process::id(),
            base.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.rsplit('-').next())
                .unwrap_or("x")
        );
        // Typing is confirmed on screen; a machine busy with several Claude Code cold
        // starts can take a while to echo it.
        let mut typing = TmuxConfig::new(Socket::Name(tmux_socket.clone()));
        typing.input_timeout = std::time::Duration::from_secs(20);
        let tmux =
            TmuxBackend::new(typing).map_err(|e| CliError::library("cannot set up tmux", e))?;
        let control_socket = base.join("control.sock");
        let config_file = base.join("config.toml");
        let world = Self {
            root: Some(root),
            tmux_socket,
            accounts: demo_accounts,
            sessions,
            config_file,
            control_socket,
            mock,
            tmux,
        };
        let text = world.config_text(&base, &shared, claude);
        std::fs::write(&world.config_file, text)
            .map_err(|e| CliError::io("cannot write", &world.config_file, e))?;
        Ok(world)
    }

    /// The temp dir.
    pub(crate) fn root(&self) -> &Path {
        self.root.as_ref().map_or(Path::new("/"), |r| r.path())
    }

    /// The daemon config for this world.
    fn config_text(&self, base: &Path, shared: &Path, claude: &Claude) -> String {
        let q = |p: &Path| toml_str(&p.display().to_string());
        let mut s = String::new();
        let _ = writeln!(s, "# Written by `claude-failover demo`.");
        let _ = writeln!(s, "state_dir = {}\n", q(&base.join("state")));
        let _ = writeln!(s, "[tmux]\nsocket = {}\n", toml_str(&self.tmux_socket));
        let command: Vec<String> = claude.command().iter().map(|c| toml_str(c)).collect();
        let _ = writeln!(
            s,
            "[claude]\ncommand = [{}]\nshared_projects = {}\nenv = {{ {}, ANTHROPIC_BASE_URL = {} }}\n",
            command.join(", "),
            q(shared),
            failover_sim::tmux::offline_env_toml(),
            toml_str(&self.mock.base_url()),
        );
        let _ = writeln!(s, "[policy]\nmode = \"single-active\"\n");
        let _ = writeln!(
            s,
            "[quota]\nusage_url = {}\n",
            toml_str(&format!("{}/api/oauth/usage", self.mock.base_url())),
        );
        for (i, a) in self.accounts.iter().enumerate() {
            let _ = writeln!(
                s,
                "[[accounts]]\nname = {}\nconfig_dir = {}\npreference = {i}\n",
                toml_str(&a.name),
                q(&a.dir)
            );
        }
        for x in &self.sessions {
            let _ = writeln!(
                s,
                "[[sessions]]\nname = {}\ndir = {}\n",
                toml_str(&x.name),
                q(&x.dir)
            );
        }
        let _ = writeln!(s, "[control]\nsocket = {}", q(&self.control_socket));
        s
    }

    /// Leaves the temp dir and tmux server in place (for `--keep`); returns the dir.
    pub(crate) fn keep(&mut self) -> Option<PathBuf> {
        self.root.take().map(tempfile::TempDir::keep)
    }

    /// Kills the private tmux server (every session in it) and removes the socket file tmux
    /// leaves behind; idempotent.
    pub(crate) fn kill_tmux(&self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.tmux_socket, "kill-server"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let dir = std::env::var_os("TMUX_TMPDIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let socket = dir
            .join(format!("tmux-{}", crate::paths::current_uid()))
            .join(&self.tmux_socket);
        if std::fs::symlink_metadata(&socket)
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
        {
            let _ = std::fs::remove_file(&socket);
        }
    }
}

impl World {
    /// Kills the tmux server and removes the temp dir. Programs killed with the server may
    /// still write a last file (a transcript line, `.claude.json`) while they exit, so the
    /// removal is retried for a few seconds; a dir that cannot be removed is named.
    pub(crate) fn remove(&mut self) {
        let Some(root) = self.root.take() else {
            return;
        };
        self.kill_tmux();
        let path = root.keep();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // The killed programs ran in the project dirs: wait until none is left there, so
        // that none writes into the dir after it is gone.
        while processes_inside(&path) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        loop {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(e) if std::time::Instant::now() >= deadline => {
                    errln!("warning: could not remove {}: {e}", path.display());
                    return;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Whether any process (other than this one) has its working directory inside `dir`
/// (read from `/proc`; false where there is none).
fn processes_inside(dir: &Path) -> bool {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.bytes().all(|b| b.is_ascii_digit()) && name != me
        })
        .filter_map(|e| std::fs::read_link(e.path().join("cwd")).ok())
        .any(|cwd| cwd.starts_with(dir))
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
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
