//! The end-to-end world: everything a test (or a benchmark) needs to run the real
//! `claude-failoverd` over real tmux and the real Claude Code CLI, offline.
//!
//! [`World::start`] builds, in a fresh temp dir:
//!
//! - a private tmux server (`tmux -L e2e-<pid>-<n>`, killed on drop);
//! - the in-process mock Anthropic API (`failover_sim::mock_api`), one token per
//!   account;
//! - N throwaway accounts with fake subscription logins the mock accepts
//!   (`failover_sim::accounts::make_account_dir`), each trusting every project dir;
//! - the shared transcript tree and one project dir per session;
//! - a daemon configuration (`config.toml`) pointing the sessions at the mock;
//! - the real `claude-failoverd` binary as a child process (so a test can SIGKILL it and
//!   start it again), its control socket in the temp dir and its log in `daemon-<n>.log`;
//! - an [`EventLog`] following `GET /v1/events` across restarts.
//!
//! Every wait is a condition with a deadline; a failed wait panics with what it waited for,
//! and the world's drop prints the daemon log tail and every session's screen.

pub(crate) mod client;
pub(crate) mod webhook;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use failover_daemon::http::dto::{EventDto, EventKindDto, StatusDto};
use failover_sim::accounts::{AccountDir, allow_tools, make_account_dir};
use failover_sim::mock_api::{MockAccount, MockApi, MockApiConfig, Mode, RecordedRequest};
use failover_sim::tmux::PrivateTmux;

pub(crate) use client::{Collected, EventLog};

/// The environment variable naming the real Claude Code CLI.
pub(crate) const REAL_CLAUDE_ENV: &str = "CLAUDE_FAILOVER_REAL_CLAUDE";

/// The real CLI, or `None` after saying loudly that the test is skipped. The test holds
/// one of as many places as there are cores while it keeps the value (see [`RealClaude`]).
pub(crate) fn real_claude(test: &str) -> Option<RealClaude> {
    match std::env::var_os(REAL_CLAUDE_ENV) {
        Some(p) if !p.is_empty() => Some(RealClaude {
            path: PathBuf::from(p),
            _place: Place::take(),
        }),
        _ => {
            // CI runs every end-to-end test: there a missing CLI is a failure, not a skip.
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: {REAL_CLAUDE_ENV} is not set under CI=true (run scripts/test.sh)"
            );
            eprintln!(
                "\n==========\nSKIPPED: {test}: {REAL_CLAUDE_ENV} not set \
                 (scripts/test.sh sets it; CI always does)\n==========\n"
            );
            None
        }
    }
}

/// The real CLI's path, and the test's place among the end-to-end tests running at once.
///
/// The end-to-end tests share one test binary with the others; each runs a daemon, a tmux
/// server and several real CLIs. At most as many as there are cores run at once (as when
/// each file was its own binary and its tests shared the cores); the others wait here,
/// before they start anything, until a place is free.
#[derive(Debug)]
pub(crate) struct RealClaude {
    path: PathBuf,
    _place: Place,
}

impl std::ops::Deref for RealClaude {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

/// A place taken from [`PLACES`]; given back on drop.
#[derive(Debug)]
struct Place;

/// Free places for end-to-end tests, and the condition a waiting test sleeps on.
static PLACES: std::sync::OnceLock<(std::sync::Mutex<usize>, std::sync::Condvar)> =
    std::sync::OnceLock::new();

impl Place {
    fn places() -> &'static (std::sync::Mutex<usize>, std::sync::Condvar) {
        PLACES.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            (std::sync::Mutex::new(cores), std::sync::Condvar::new())
        })
    }

    /// Waits for a free place and takes it.
    fn take() -> Place {
        let (free, freed) = Self::places();
        let mut free = freed
            .wait_while(free.lock().unwrap_or_else(|e| e.into_inner()), |n| *n == 0)
            .unwrap_or_else(|e| e.into_inner());
        *free -= 1;
        Place
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let (free, freed) = Self::places();
        *free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        freed.notify_one();
    }
}

/// Minutes, for deadlines.
pub(crate) const fn mins(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Unix seconds now.
pub(crate) fn now_secs() -> u64 {
    now_ms() / 1000
}

/// What world to build.
#[derive(Clone, Debug)]
pub(crate) struct WorldSpec {
    /// The `claude-failoverd` binary.
    pub(crate) daemon_bin: PathBuf,
    /// The session program: the real CLI (or, in benches only, a stand-in), as an argv
    /// prefix.
    pub(crate) claude: Vec<String>,
    /// Account names, most preferred first (tokens are `tok-<name>`).
    pub(crate) accounts: Vec<String>,
    /// How many sessions (named `s0`, `s1`, ...), each in its own project dir.
    pub(crate) sessions: usize,
    /// Extra lines for the `[policy]` table.
    pub(crate) policy: String,
    /// Extra TOML appended to the configuration (e.g. a `[notify.webhook]` table).
    pub(crate) extra: String,
    /// Wait for every session to be running and idle on the first account before
    /// returning from [`World::start`].
    pub(crate) wait_ready: bool,
    /// Files written into account dirs before the daemon starts: (account, path relative
    /// to its config dir, content).
    pub(crate) account_files: Vec<(String, String, String)>,
    /// Lay the accounts out as in a real home (`<root>/home`, the sessions' `HOME`): the
    /// first account is the default `~/.claude` with its global config at `~/.claude.json`,
    /// the others `~/.claude-<name>`.
    pub(crate) home_layout: bool,
    /// Accounts (by name) whose global config trusts no project dir.
    pub(crate) untrusting: Vec<String>,
    /// Tool calls every account allows without asking (`settings.json`
    /// `permissions.allow`, e.g. `Bash(printf:*)`).
    pub(crate) allow_tools: Vec<String>,
    /// List every session's project dir as `[[projects]]`, so its task queue is served.
    pub(crate) serve_queues: bool,
}

impl WorldSpec {
    /// `sessions` sessions of the real CLI on accounts `a`, `b`, ... (`accounts` of them).
    pub(crate) fn new(
        daemon_bin: impl Into<PathBuf>,
        claude: &Path,
        accounts: usize,
        sessions: usize,
    ) -> Self {
        Self {
            daemon_bin: daemon_bin.into(),
            claude: vec![claude.to_string_lossy().into_owned()],
            accounts: (0..accounts)
                .map(|i| char::from(b'a' + i as u8).to_string())
                .collect(),
            sessions,
            policy: String::new(),
            extra: String::new(),
            wait_ready: true,
            account_files: Vec::new(),
            home_layout: false,
            untrusting: Vec::new(),
            allow_tools: Vec::new(),
            serve_queues: false,
        }
    }
}

/// A running world; everything stops when it is dropped.
#[derive(Debug)]
pub(crate) struct World {
    /// The mock Anthropic API.
    pub(crate) api: MockApi,
    /// The tmux server the daemon runs sessions on.
    pub(crate) tmux: PrivateTmux,
    /// Session names.
    pub(crate) sessions: Vec<String>,
    /// Project dir of each session.
    pub(crate) project_dirs: Vec<PathBuf>,
    /// The shared transcript tree.
    pub(crate) shared_projects: PathBuf,
    /// The daemon configuration file.
    pub(crate) config: PathBuf,
    /// The control socket.
    pub(crate) control: PathBuf,
    /// Events from `GET /v1/events`, across daemon runs.
    pub(crate) events: EventLog,
    spec: WorldSpec,
    daemon: Option<Child>,
    daemon_runs: u32,
    root: PathBuf,
    tmp: Option<tempfile::TempDir>,
}

impl World {
    /// Builds the world and starts the daemon (see the module docs).
    pub(crate) async fn start(spec: WorldSpec) -> World {
        let tmp = tempfile::Builder::new()
            .prefix("cf-e2e")
            .tempdir()
            .expect("temp dir");
        let root = tmp.path().to_path_buf();
        let tmux = PrivateTmux::new("e2e");
        let mock_accounts = spec
            .accounts
            .iter()
            .map(|n| MockAccount::new(token(n), n.clone()))
            .collect();
        let api = MockApi::start(MockApiConfig::local(mock_accounts))
            .await
            .expect("mock API");

        let sessions: Vec<String> = (0..spec.sessions).map(|i| format!("s{i}")).collect();
        let project_dirs: Vec<PathBuf> = sessions
            .iter()
            .map(|s| {
                let d = root.join("work").join(format!("proj-{s}"));
                std::fs::create_dir_all(&d).expect("project dir");
                d
            })
            .collect();
        let home = root.join("home");
        let accounts: Vec<(String, AccountDir)> = spec
            .accounts
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let at = match (spec.home_layout, i) {
                    (false, _) => root.join("accounts").join(n),
                    (true, 0) => home.join(".claude"),
                    (true, _) => home.join(format!(".claude-{n}")),
                };
                let trusted: &[PathBuf] = if spec.untrusting.contains(n) {
                    &[]
                } else {
                    &project_dirs
                };
                let dir = make_account_dir(&at, &token(n), trusted).expect("account dir");
                if !spec.allow_tools.is_empty() {
                    let patterns: Vec<&str> = spec.allow_tools.iter().map(String::as_str).collect();
                    allow_tools(&dir.dir, &patterns).expect("allowed tools");
                }
                if spec.home_layout && i == 0 {
                    // The default account keeps its global config beside its dir.
                    std::fs::rename(at.join(".claude.json"), home.join(".claude.json"))
                        .expect("move the default account's .claude.json");
                }
                (n.clone(), dir)
            })
            .collect();
        for (account, rel, content) in &spec.account_files {
            let (_, dir) = accounts
                .iter()
                .find(|(n, _)| n == account)
                .expect("account_files names a configured account");
            let path = dir.dir.join(rel);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("account file dir");
            std::fs::write(&path, content).expect("account file");
        }
        let shared_projects = root.join("shared-projects");
        let control = root.join("control.sock");
        let config = root.join("config.toml");

        let mut toml = String::new();
        let q = |p: &Path| format!("{:?}", p.to_string_lossy());
        writeln!(toml, "state_dir = {}", q(&root.join("state"))).ok();
        writeln!(toml, "[tmux]\nsocket = {:?}", tmux.socket()).ok();
        writeln!(toml, "[claude]\ncommand = {:?}", spec.claude).ok();
        let home_env = if spec.home_layout {
            format!(", HOME = {}", q(&home))
        } else {
            String::new()
        };
        writeln!(
            toml,
            "env = {{ {}, ANTHROPIC_BASE_URL = {:?}, TZ = \"UTC\"{home_env} }}",
            failover_sim::tmux::offline_env_toml(),
            api.base_url()
        )
        .ok();
        writeln!(toml, "shared_projects = {}", q(&shared_projects)).ok();
        writeln!(toml, "[policy]\n{}", spec.policy).ok();
        writeln!(
            toml,
            "[quota]\nusage_url = \"{}/api/oauth/usage\"",
            api.base_url()
        )
        .ok();
        for (name, dir) in &accounts {
            writeln!(
                toml,
                "[[accounts]]\nname = {name:?}\nconfig_dir = {}",
                q(&dir.dir)
            )
            .ok();
        }
        for (s, d) in sessions.iter().zip(&project_dirs) {
            writeln!(toml, "[[sessions]]\nname = {s:?}\ndir = {}", q(d)).ok();
            if spec.serve_queues {
                writeln!(toml, "[[projects]]\ndir = {}", q(d)).ok();
            }
        }
        writeln!(toml, "[control]\nsocket = {}", q(&control)).ok();
        toml.push_str(&spec.extra);
        std::fs::write(&config, toml).expect("config");

        let events = EventLog::follow(control.clone());
        let mut world = World {
            api,
            tmux,
            sessions,
            project_dirs,
            shared_projects,
            config,
            control,
            events,
            spec,
            daemon: None,
            daemon_runs: 0,
            root,
            tmp: Some(tmp),
        };
        world.start_daemon();
        if world.spec.wait_ready {
            let first = world.spec.accounts[0].clone();
            world.wait_all_on(&first, Duration::from_secs(90)).await;
        }
        world
    }

    /// The temp dir everything lives in.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Starts `claude-failoverd` (again), logging to `daemon-<run>.log`.
    pub(crate) fn start_daemon(&mut self) {
        assert!(self.daemon.is_none(), "the daemon runs already");
        let log = std::fs::File::create(self.root.join(format!("daemon-{}.log", self.daemon_runs)))
            .expect("daemon log");
        let child = Command::new(&self.spec.daemon_bin)
            .arg("--config")
            .arg(&self.config)
            .env(
                "FAILOVER_LOG",
                "info,failover_daemon=debug,failover_core=debug,failover_tmux=debug",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start claude-failoverd");
        self.daemon = Some(child);
        self.daemon_runs += 1;
    }

    /// The daemon's process id.
    #[allow(dead_code, reason = "the e2e benchmark measures the daemon's CPU")]
    pub(crate) fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// SIGKILLs the daemon (sessions keep running in tmux) and reaps it.
    pub(crate) fn kill_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERMs the daemon and waits for it to exit; returns its exit code.
    #[allow(dead_code, reason = "the e2e benchmark stops the daemon cleanly")]
    pub(crate) fn stop_daemon(&mut self) -> Option<i32> {
        let mut child = self.daemon.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().ok()?.code()
    }

    /// Switches account `name` of the mock to `mode`.
    pub(crate) fn set_mode(&self, name: &str, mode: Mode) {
        self.api.set_mode(name, mode);
    }

    /// `GET /v1/status`, when the daemon answers.
    pub(crate) async fn status(&self) -> Option<StatusDto> {
        client::status(&self.control).await
    }

    /// Waits until the status satisfies `pred`.
    pub(crate) async fn wait_status(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&StatusDto) -> bool,
    ) -> StatusDto {
        let mut last = None;
        let found = poll_until(timeout, Duration::from_millis(50), async || {
            let s = self.status().await?;
            if pred(&s) {
                return Some(s);
            }
            last = Some(s);
            None
        })
        .await;
        found.unwrap_or_else(|| {
            panic!("timed out after {timeout:?} waiting for {what}; last status: {last:#?}")
        })
    }

    /// Waits until every session runs on `account`, idle, with a known conversation, and no
    /// swap is in flight.
    pub(crate) async fn wait_all_on(&self, account: &str, timeout: Duration) -> StatusDto {
        let n = self.sessions.len();
        self.wait_status(
            &format!("all {n} sessions running and idle on {account}"),
            timeout,
            |s| {
                s.swap.is_none()
                    && s.sessions.len() == n
                    && s.sessions.iter().all(|x| {
                        x.account.as_deref() == Some(account)
                            && x.state == "running"
                            && x.claude_session.is_some()
                            && x.activity.as_deref() == Some("idle")
                    })
            },
        )
        .await
    }

    /// Events collected so far.
    pub(crate) fn events(&self) -> Vec<Collected> {
        self.events.all()
    }

    /// Waits until an event satisfies `pred` and returns it.
    pub(crate) async fn wait_event(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&Collected) -> bool,
    ) -> Collected {
        poll_until(timeout, Duration::from_millis(20), async || {
            self.events().into_iter().find(|e| pred(e))
        })
        .await
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for event: {what}"))
    }

    /// Types `text` into session `session` and presses Enter (as two tmux calls, the way
    /// Claude Code needs them).
    pub(crate) fn submit(&self, session: &str, text: &str) {
        self.tmux.submit(session, text).expect("send keys");
    }

    /// Types `text` into `session` without pressing Enter.
    pub(crate) fn type_text(&self, session: &str, text: &str) {
        self.tmux.send_text(session, text).expect("send keys");
    }

    /// Presses Enter in `session`.
    pub(crate) fn press_enter(&self, session: &str) {
        self.tmux.send_keys(session, &["Enter"]).expect("send keys");
    }

    /// Types `prompt_for(s)` into every session, waits until each shows it, then flips
    /// account `name` to `mode` and presses Enter everywhere at once: every session's turn
    /// meets the new mode together, as when a window runs out under a busy pool.
    pub(crate) async fn submit_all_after(
        &self,
        name: &str,
        mode: Mode,
        prompt_for: impl Fn(&str) -> String,
    ) {
        for s in &self.sessions {
            self.wait_screen(s, "an idle prompt", Duration::from_secs(60), is_idle)
                .await;
            let p = prompt_for(s);
            self.type_text(s, &p);
            self.wait_screen(s, "the typed prompt", Duration::from_secs(10), |sc| {
                sc.contains(&p)
            })
            .await;
        }
        self.set_mode(name, mode);
        for s in &self.sessions {
            self.press_enter(s);
        }
    }

    /// Every session sends its next prompt into account `name` just as it switches to
    /// `mode`, and the daemon sees all of it before it acts: it is paused (`POST /v1/pause`)
    /// while the prompts go out and the mock answers each, then resumed. Without the pause, a
    /// session whose prompt is still being drawn when the swap begins looks idle and is
    /// moved without it (a race of the test's own typing, not a failover behaviour).
    pub(crate) async fn all_hit_together(
        &self,
        name: &str,
        mode: Mode,
        prompt_for: impl Fn(&str) -> String,
    ) {
        assert_eq!(self.command("/v1/pause", "").await, 200, "pause");
        self.submit_all_after(name, mode, &prompt_for).await;
        for s in &self.sessions {
            let p = prompt_for(s);
            self.wait_request(
                &format!("{s}'s prompt answered by {name}"),
                Duration::from_secs(60),
                |r| {
                    r.last_user_text.as_deref() == Some(p.as_str())
                        && r.account.as_deref() == Some(name)
                },
            )
            .await;
        }
        assert_eq!(self.command("/v1/resume", "").await, 200, "resume");
    }

    /// Sends `POST path` to the daemon; returns the status code.
    pub(crate) async fn command(&self, path: &str, body: &str) -> u16 {
        client::request(&self.control, "POST", path, body)
            .await
            .map_or(0, |(code, _)| code)
    }

    /// The visible screen of `session` (wrapped lines joined).
    pub(crate) fn screen(&self, session: &str) -> String {
        self.tmux.capture(session, false).unwrap_or_default()
    }

    /// Waits until the screen of `session` satisfies `pred`.
    pub(crate) async fn wait_screen(
        &self,
        session: &str,
        what: &str,
        timeout: Duration,
        pred: impl FnMut(&str) -> bool,
    ) -> String {
        let place = format!("{session}'s screen");
        wait_text(&place, what, timeout, || self.screen(session), pred).await
    }

    /// Waits until the mock has served a request satisfying `pred`.
    pub(crate) async fn wait_request(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl FnMut(&RecordedRequest) -> bool,
    ) -> RecordedRequest {
        match self.api.wait_for_request(timeout, pred).await {
            Ok(r) => r,
            Err(e) => {
                let served: Vec<String> = self
                    .api
                    .requests()
                    .iter()
                    .rev()
                    .take(12)
                    .map(|r| {
                        format!(
                            "#{} {} {} {} {:?} ({} messages)",
                            r.seq,
                            r.at_ms,
                            r.path,
                            r.status,
                            r.last_user_text,
                            r.message_count.unwrap_or(0)
                        )
                    })
                    .collect();
                panic!(
                    "{e}: {what}\nlast requests served, newest first:\n{}",
                    served.join("\n")
                )
            }
        }
    }

    /// Sends `prompt` to `session` and waits until it is answered on screen (`ACK: …`).
    pub(crate) async fn converse(&self, session: &str, prompt: &str) {
        self.wait_screen(session, "an idle prompt", Duration::from_secs(60), is_idle)
            .await;
        self.submit(session, prompt);
        let ack = ack(prompt);
        self.wait_screen(
            session,
            &format!("the reply {ack:?}"),
            Duration::from_secs(60),
            |s| s.contains(&ack),
        )
        .await;
    }

    /// Conversation (not title or probe) requests the mock served with `prompt` as their
    /// last user text.
    pub(crate) fn prompt_requests(&self, prompt: &str) -> Vec<RecordedRequest> {
        self.api
            .requests()
            .into_iter()
            .filter(|r| r.last_user_text.as_deref() == Some(prompt))
            .collect()
    }

    /// The transcript of conversation `claude_session` of session index `i`, from the
    /// shared tree.
    pub(crate) fn transcript(&self, i: usize, claude_session: &str) -> String {
        let dir = self
            .shared_projects
            .join(failover_tmux::paths::project_folder_name(
                &self.project_dirs[i],
            ));
        std::fs::read_to_string(dir.join(format!("{claude_session}.jsonl"))).unwrap_or_default()
    }

    /// Waits until the transcript of conversation `claude_session` of session index `i`
    /// satisfies `pred` (the CLI draws a reply before it writes the reply's line).
    pub(crate) async fn wait_transcript(
        &self,
        i: usize,
        claude_session: &str,
        what: &str,
        timeout: Duration,
        pred: impl FnMut(&str) -> bool,
    ) -> String {
        let place = format!("the transcript of {claude_session}");
        let read = || self.transcript(i, claude_session);
        wait_text(&place, what, timeout, read, pred).await
    }

    /// The tmux sessions that exist now.
    pub(crate) fn tmux_sessions(&self) -> Vec<String> {
        self.tmux
            .run(&["list-sessions", "-F", "#{session_name}"])
            .unwrap_or_default()
            .lines()
            // The pane observers' own session ("failover observer <pid>") is not one of
            // the pool's.
            .filter(|name| !name.starts_with("failover observer "))
            .map(str::to_owned)
            .collect()
    }

    /// The daemon's log so far, all runs.
    pub(crate) fn daemon_log(&self) -> String {
        (0..self.daemon_runs)
            .map(|i| {
                std::fs::read_to_string(self.root.join(format!("daemon-{i}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.daemon_log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("===== daemon log (last 80 lines) =====");
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
            for s in &self.sessions {
                eprintln!("===== screen of {s} =====\n{}", self.screen(s));
            }
            eprintln!("===== daemon events =====");
            for e in self.events() {
                eprintln!(
                    "run {} {}",
                    e.run,
                    serde_json::to_string(&e.event).unwrap_or_default()
                );
            }
            eprintln!("===== mock requests =====");
            for r in self.api.requests() {
                eprintln!(
                    "{} {} {} acct={:?} sid={:?} status={} text={:?} msgs={:?}",
                    r.seq,
                    r.at_ms,
                    r.path,
                    r.account,
                    r.session_id,
                    r.status,
                    r.last_user_text,
                    r.message_count
                );
            }
        }
        self.kill_daemon();
        if std::thread::panicking() {
            if let Some(tmp) = self.tmp.take() {
                eprintln!(
                    "===== world kept for inspection: {} =====",
                    tmp.keep().display()
                );
            }
        }
        // The tmux server (and every session in it) goes with `self.tmux`.
    }
}

/// Reads `place` (with `read`) every 100 ms until its text satisfies `pred`, and returns
/// that text; panics with the last text read after `timeout`.
async fn wait_text(
    place: &str,
    what: &str,
    timeout: Duration,
    read: impl Fn() -> String,
    mut pred: impl FnMut(&str) -> bool,
) -> String {
    let mut text = String::new();
    let found = poll_until(timeout, Duration::from_millis(100), async || {
        text = read();
        pred(&text).then(|| text.clone())
    })
    .await;
    found.unwrap_or_else(|| {
        panic!("timed out after {timeout:?} waiting for {what} in {place}; it reads:\n{text}")
    })
}

/// Calls `probe` every `every` until it yields a value or `timeout` passes (`None`). The
/// one deadline loop behind every `wait_*`.
pub(crate) async fn poll_until<T>(
    timeout: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// The mock token of account `name`.
pub(crate) fn token(name: &str) -> String {
    format!("tok-{name}")
}

/// The reply the mock sends to `prompt`, as it shows on screen.
pub(crate) fn ack(prompt: &str) -> String {
    failover_sim::mock_api::ack_text(prompt)
}

/// Whether a Claude Code screen shows the prompt ready for input (no turn in progress).
pub(crate) fn is_idle(screen: &str) -> bool {
    screen.contains('❯') && !screen.contains("esc to interrupt")
}

/// Whether `e` is the effect `name` (`checkpoint`, `stop`, `launch`, `send_prompt`, ...).
pub(crate) fn is_effect(e: &EventDto, name: &str) -> bool {
    matches!(&e.event, EventKindDto::Effect { effect, .. } if effect == name)
}

/// A five-hour quota on the mock, resetting `secs` from now.
pub(crate) fn five_hour_quota(secs: u64) -> Mode {
    Mode::QuotaExhausted {
        window: failover_sim::mock_api::ClaimWindow::FiveHour,
        resets_at: now_secs() + secs,
    }
}

#[test]
fn end_to_end_tests_get_no_more_places_than_there_are_cores() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut held: Vec<Place> = (0..cores).map(|_| Place::take()).collect();
    let (took, took_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let place = Place::take();
        took.send(()).unwrap();
        place
    });
    assert!(
        took_rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "a test got a place while all {cores} were taken"
    );
    held.pop();
    took_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a freed place goes to the waiting test");
    drop(waiter.join().unwrap());
}
