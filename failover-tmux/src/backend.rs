//! [`TmuxBackend`]: the [`SessionBackend`] port over a tmux server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use failover_core::{
    AccountId, Activity, BackendError, ClaudeSessionId, LaunchRequest, Launched, Liveness,
    ResumedTurn, SessionBackend, SessionId,
};
use tokio::time::Instant;

use crate::draft::Drafts;
use crate::error::TmuxError;
use crate::global_config::{self, Trust};
use crate::ops::{self, NewSession};
use crate::pacer::Pacer;
use crate::paths;
use crate::process_group;
use crate::transcript::RefusalWatch;
use crate::transport::{Socket, Transport};
use failover_core::quota::{
    PaneDetector, activity_from_screen, box_holds, has_draft, input_box, waits_to_continue,
};
use failover_core::{DetectContext, QuotaDetector, Verdict};

/// Environment variable naming the session, set in every pane this backend starts (the
/// statusline hook uses it to name its spool file).
pub const SESSION_ENV: &str = "FAILOVER_SESSION";
/// Environment variable naming the account, set in every pane this backend starts.
pub const ACCOUNT_ENV: &str = "FAILOVER_ACCOUNT";

/// A capture of what a session shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaneCapture {
    /// The visible screen, lines joined where the terminal wrapped them.
    pub text: String,
    /// Width in columns.
    pub width: u16,
    /// Height in lines.
    pub height: u16,
}

/// How the backend reaches tmux and what it runs. [`TmuxConfig::new`] fills in the values
/// an operator would pick; adjust the public fields afterwards.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TmuxConfig {
    /// The tmux server (`-L name` or `-S path`); use a private one.
    pub socket: Socket,
    /// The tmux program (default `tmux`, looked up in `PATH`).
    pub tmux_program: PathBuf,
    /// Read by tmux when the server starts. Default `/dev/null`: the user's `~/.tmux.conf`
    /// is ignored, so key bindings or hooks there cannot change what the backend sees.
    pub config_file: Option<PathBuf>,
    /// Deadline of every tmux call (default 5 s). A hung server becomes a `Timeout`.
    pub command_timeout: Duration,
    /// The Claude Code command as an argv prefix (default `["claude"]`); the backend appends
    /// `--session-id <uuid>` or `--resume <id>`. Never passed through a shell.
    pub claude_command: Vec<String>,
    /// Extra environment for every session (default `DISABLE_AUTOUPDATER=1`), besides
    /// `CLAUDE_CONFIG_DIR`, [`SESSION_ENV`] and [`ACCOUNT_ENV`].
    pub env: Vec<(String, String)>,
    /// The home dir sessions run with (default: this process's `HOME`; a `HOME` in `env`
    /// wins). The account whose dir is `<home>/.claude` is the default account: it runs
    /// without `CLAUDE_CONFIG_DIR`, so Claude Code keeps using `<home>/.claude.json` (see
    /// [`crate::global_config`]).
    pub home: Option<PathBuf>,
    /// Every account's config dir. Before a launch, a working directory the destination
    /// account has not trusted yet gets the trust one of these gave it
    /// ([`crate::global_config::carry_trust`]); and a resume of a conversation none of
    /// them (nor the destination) holds a transcript of, one that never had a turn, starts
    /// it fresh under the same id. Default empty: nothing is carried over, and such a
    /// resume fails with `TranscriptMissing`.
    pub account_dirs: Vec<PathBuf>,
    /// Terminal width of new sessions (default 200 columns).
    pub width: u16,
    /// Terminal height of new sessions (default 50 lines).
    pub height: u16,
    /// How long `send_input` waits for pasted text to show, and then for Enter to be taken
    /// (default 5 s each).
    pub input_timeout: Duration,
    /// Longest wait in `stop` for a turn in progress to end after the interrupt (Escape),
    /// and for a draft to clear (default 300 ms).
    pub interrupt_settle: Duration,
    /// Bound of two waits in `stop` before it closes the session's terminal, which Claude
    /// Code exits on (default 300 ms). After `/exit`: for the program to exit by itself (it
    /// takes 0.1-0.3 s on an idle machine, several times that under load); the transcript
    /// is append-only and complete at that point, what a slow exit may miss is only the
    /// CLI's own bookkeeping of the `/exit` itself. For a program waiting to continue after
    /// a usage limit: for the refused prompt to reach the transcript (Claude Code draws the
    /// refusal first and writes its transcript in batches, about every 100 ms); the
    /// terminal is closed as soon as it is there.
    pub exit_wait: Duration,
    /// A launch that resumes a conversation whose last turn was cut short (refused, or in
    /// flight at the stop; not cancelled by the person) sets [`RESUME_TURN_ENV`]`=1`, with
    /// which Claude Code takes that turn up by itself; a replay of that turn's prompt then
    /// waits up to this long (default 6 s) for it to do so before typing the prompt (a
    /// version that does not, or an `env` entry setting the variable to `0`). Zero: the
    /// variable is not set and replayed prompts are always typed.
    pub resume_turn_wait: Duration,
    /// Longest wait in `prepare` for the prepared program to show its idle prompt
    /// (default 20 s; a cold start takes about a second on an idle machine).
    pub standby_timeout: Duration,
    /// Longest wait in a launch from a prepared program for `/resume` to load the
    /// conversation (default 10 s; about a third of a second on an idle machine). Past it,
    /// the program is ended and the launch starts cold.
    pub standby_resume_timeout: Duration,
    /// Where a person's unsent draft, read from the input box at a stop, is kept until the
    /// next launch hands it on (one `0600` file per session; see [`crate::draft`]).
    /// Default `None`: kept in memory only, lost if the process ends between the two.
    pub draft_dir: Option<PathBuf>,
}

/// The Claude Code variable with which `claude --resume` takes the conversation's
/// interrupted turn up by itself (seen in 2.1.328 and 2.1.332: a turn refused by a usage
/// limit, before or after tool calls, or whose request was in flight at the stop).
pub const RESUME_TURN_ENV: &str = "CLAUDE_CODE_RESUME_INTERRUPTED_TURN";

/// How long [`SessionBackend::resumed_turn`] waits for the end of a taken-up turn to reach
/// the transcript once the screen shows the program idle again (Claude Code writes its
/// transcript in batches, every 100 ms).
const TURN_END_WAIT: Duration = Duration::from_millis(1000);

impl TmuxConfig {
    /// The defaults, on `socket`.
    pub fn new(socket: Socket) -> Self {
        Self {
            socket,
            tmux_program: PathBuf::from("tmux"),
            config_file: Some(PathBuf::from("/dev/null")),
            command_timeout: Duration::from_secs(5),
            claude_command: vec!["claude".to_owned()],
            env: vec![("DISABLE_AUTOUPDATER".to_owned(), "1".to_owned())],
            home: global_config::home_from_env(),
            account_dirs: Vec::new(),
            width: 200,
            height: 50,
            input_timeout: Duration::from_secs(5),
            interrupt_settle: Duration::from_millis(300),
            exit_wait: Duration::from_millis(300),
            resume_turn_wait: Duration::from_secs(6),
            standby_timeout: Duration::from_secs(20),
            standby_resume_timeout: Duration::from_secs(10),
            draft_dir: None,
        }
    }
}

/// A session as the backend finds it (see [`TmuxBackend::describe`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session.
    pub session: SessionId,
    /// The account it was launched on (`None`: not launched by this backend).
    pub account: Option<AccountId>,
    /// The conversation it was launched with.
    pub claude_session: Option<ClaudeSessionId>,
    /// The `CLAUDE_CONFIG_DIR` it was launched with.
    pub config_dir: Option<PathBuf>,
    /// Its working directory.
    pub dir: PathBuf,
    /// Whether it runs.
    pub liveness: Liveness,
}

/// Claude Code sessions in a tmux server.
#[derive(Debug)]
pub struct TmuxBackend {
    config: TmuxConfig,
    transport: Transport,
    paste_seq: AtomicU64,
    standbys: crate::standby::Standbys,
    pub(crate) drafts: Drafts,
}

/// How much of a transcript's end a stop reads to tell whether its latest turn was cut
/// short (a long conversation's transcript is megabytes; a turn's last lines are far less).
const TURN_TAIL: u64 = 64 * 1024;
/// How often bounded waits inside one operation (`stop`, `send_input`) look again on the
/// clock; when the observers' control client runs, they look again only after the pane
/// printed something, and no more often than this (see [`Pacer`]).
const RECHECK: Duration = Duration::from_millis(25);
/// How long `liveness` waits for tmux to record the exit status of a pane it saw die.
const STATUS_SETTLE: Duration = Duration::from_millis(250);

impl TmuxBackend {
    /// A backend with `config`; refuses an empty command or a malformed variable name.
    pub fn new(config: TmuxConfig) -> Result<Self, TmuxError> {
        if config.claude_command.is_empty() || config.claude_command[0].is_empty() {
            return Err(TmuxError::InvalidName {
                what: "claude command",
                value: String::new(),
                why: "give at least the program",
            });
        }
        for (k, _) in &config.env {
            if k.is_empty() || k.contains(['=', '\0']) {
                return Err(TmuxError::InvalidName {
                    what: "environment variable",
                    value: k.clone(),
                    why: "names are non-empty and contain no '=' or NUL",
                });
            }
        }
        let transport = Transport::new(
            config.tmux_program.clone(),
            config.socket.clone(),
            config.config_file.clone(),
            config.command_timeout,
        );
        Ok(Self {
            drafts: Drafts::new(config.draft_dir.clone()),
            config,
            transport,
            paste_seq: AtomicU64::new(0),
            standbys: crate::standby::Standbys::default(),
        })
    }

    /// The programs prepared ahead of moves (see [`crate::standby`]).
    pub(crate) fn standbys(&self) -> &crate::standby::Standbys {
        &self.standbys
    }

    /// The environment a launch gives the program for `request`: the account's config dir
    /// (or home, for the default account), [`SESSION_ENV`], [`ACCOUNT_ENV`],
    /// [`RESUME_TURN_ENV`] when `resume_turn`, then [`TmuxConfig::env`] (last, so it wins).
    pub(crate) fn session_env(
        &self,
        request: &LaunchRequest,
        resume_turn: bool,
    ) -> Vec<(String, String)> {
        let mut env = Vec::new();
        // The default account runs without CLAUDE_CONFIG_DIR (set to `~/.claude`, Claude
        // Code would look for its global config inside it instead of at `~/.claude.json`),
        // with the home it is the default of.
        match self.session_home() {
            Some(home) if global_config::is_default_dir(&request.config_dir, &home) => {
                env.push(("HOME".to_owned(), home.to_string_lossy().into_owned()));
            }
            _ => env.push((
                "CLAUDE_CONFIG_DIR".to_owned(),
                request.config_dir.to_string_lossy().into_owned(),
            )),
        }
        env.push((SESSION_ENV.to_owned(), request.session.as_str().to_owned()));
        env.push((ACCOUNT_ENV.to_owned(), request.account.to_string()));
        if resume_turn {
            env.push((RESUME_TURN_ENV.to_owned(), "1".to_owned()));
        }
        env.extend(self.config.env.iter().cloned());
        env
    }

    /// The configuration.
    pub fn config(&self) -> &TmuxConfig {
        &self.config
    }

    /// The home dir sessions see: `HOME` in [`TmuxConfig::env`], else [`TmuxConfig::home`].
    pub fn session_home(&self) -> Option<PathBuf> {
        self.config
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| PathBuf::from(v))
            .filter(|p| p.is_absolute())
            .or_else(|| self.config.home.clone())
    }

    /// The global config file (`.claude.json`) of the account in `config_dir`, as the
    /// sessions this backend launches on it read it.
    pub fn global_config(&self, config_dir: &std::path::Path) -> PathBuf {
        global_config::path(config_dir, self.session_home().as_deref())
    }

    /// Before a launch: gives the destination account the trust another account gave the
    /// working directory, if it lacks it. Never fails the launch: without the trust, the
    /// CLI asks (and the operator sees the dialog on the session's screen).
    pub(crate) async fn carry_trust(&self, request: &LaunchRequest) {
        let dest = self.global_config(&request.config_dir);
        let sources: Vec<PathBuf> = self
            .config
            .account_dirs
            .iter()
            .map(|d| self.global_config(d))
            .collect();
        let session = request.session.as_str();
        let dir = request.dir.clone();
        // It may wait for a CLI holding the file's lock: off the async threads.
        let carried =
            tokio::task::spawn_blocking(move || global_config::carry_trust(&dest, &sources, &dir))
                .await
                .unwrap_or_else(|e| {
                    Err(crate::FsError::Invalid {
                        path: request.config_dir.clone(),
                        reason: format!("the trust check did not finish: {e}"),
                    })
                });
        match carried {
            Ok(Trust::Already) => {}
            Ok(Trust::CarriedFrom(from)) => tracing::info!(
                session,
                account = %request.account,
                dir = %request.dir.display(),
                from = %from.display(),
                "carried the folder's trust over to the account"
            ),
            Ok(Trust::Nowhere) => tracing::warn!(
                session,
                account = %request.account,
                dir = %request.dir.display(),
                "no account trusts this folder: the session waits at Claude Code's trust dialog until someone answers it"
            ),
            Err(e) => tracing::warn!(
                session,
                account = %request.account,
                error = %e,
                "could not carry the folder's trust over; the session may wait at the trust dialog"
            ),
        }
    }

    /// Whether no transcript of conversation `id` exists in `projects` (the destination's)
    /// nor in the `projects/` of any of [`TmuxConfig::account_dirs`], in any project folder.
    /// With no account dirs known, nothing can be ruled out: `false`.
    fn never_written(&self, projects: &std::path::Path, id: &ClaudeSessionId) -> bool {
        if self.config.account_dirs.is_empty() {
            return false;
        }
        let file = format!("{id}.jsonl");
        let trees = std::iter::once(projects.to_owned()).chain(
            self.config
                .account_dirs
                .iter()
                .map(|d| d.join(crate::homes::PROJECTS)),
        );
        for tree in trees {
            let entries = match std::fs::read_dir(&tree) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                // Cannot look: cannot rule it out.
                Err(_) => return false,
            };
            for e in entries.flatten() {
                if std::fs::symlink_metadata(e.path().join(&file)).is_ok() {
                    return false;
                }
            }
        }
        true
    }

    /// The transport, for observers on the same server.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Starts the server if it is not running, set to stay up with no sessions, so that
    /// later "no server" answers always mean it died.
    /// Also ends the programs prepared ahead of moves (standbys, see
    /// [`SessionBackend::prepare`]) that a backend of a process now gone left on the
    /// server; only sessions named as standbys are touched.
    pub async fn start_server(&self) -> Result<(), BackendError> {
        ops::start_server(&self.transport).await?;
        let ended = self.end_standbys(false).await?;
        if ended > 0 {
            tracing::info!(ended, "ended programs prepared by a daemon that is gone");
        }
        Ok(())
    }

    /// Lets the server exit once its last session has gone (undoing [`Self::start_server`]),
    /// for when the daemon stops: an empty server exits now instead of lingering.
    /// The programs this process prepared ahead of moves (standbys) are ended first: unlike
    /// sessions, they are not meant to outlive the daemon.
    pub async fn release_server(&self) -> Result<(), BackendError> {
        if let Err(e) = self.end_standbys(true).await {
            tracing::debug!(error = %e, "cannot list the prepared programs to end them");
        }
        Ok(ops::release_server(&self.transport).await?)
    }

    /// What the backend recorded when it launched `session` (account, conversation, config
    /// dir), its working directory and whether it runs: enough to adopt sessions that
    /// outlived a daemon restart.
    pub async fn describe(&self, session: &SessionId) -> Result<SessionInfo, BackendError> {
        ops::validate_name(session.as_str())?;
        let d = ops::describe(&self.transport, session.as_str()).await?;
        Ok(SessionInfo {
            session: session.clone(),
            account: d.account.map(AccountId::new),
            claude_session: d.conversation.map(ClaudeSessionId::new),
            config_dir: d.config_dir.map(PathBuf::from),
            dir: PathBuf::from(d.dir),
            liveness: self.liveness(session).await?,
        })
    }

    /// Captures the visible screen, lines joined where the terminal wrapped them.
    pub async fn capture(&self, session: &SessionId) -> Result<PaneCapture, BackendError> {
        self.capture_inner(session, false).await
    }

    /// The sessions on the server.
    pub async fn list(&self) -> Result<Vec<SessionId>, BackendError> {
        Ok(ops::list_sessions(&self.transport)
            .await?
            .into_iter()
            .map(SessionId::new)
            .collect())
    }

    /// Captures the screen with colours and attributes as ANSI escapes.
    pub async fn capture_ansi(&self, session: &SessionId) -> Result<PaneCapture, BackendError> {
        self.capture_inner(session, true).await
    }

    async fn capture_inner(
        &self,
        session: &SessionId,
        ansi: bool,
    ) -> Result<PaneCapture, BackendError> {
        ops::validate_name(session.as_str())?;
        let (text, width, height) = ops::capture(&self.transport, session.as_str(), ansi).await?;
        Ok(PaneCapture {
            text,
            width,
            height,
        })
    }

    /// A tmux paste buffer name no other paste of this process uses.
    pub(crate) fn next_paste_buffer(&self) -> String {
        let seq = self.paste_seq.fetch_add(1, Ordering::Relaxed);
        format!("failover-{}-{seq}", std::process::id())
    }

    /// Whether the pane is gone or dead; errors other than "not there" propagate.
    async fn is_gone_or_dead(&self, name: &str) -> Result<bool, TmuxError> {
        match ops::pane_state(&self.transport, name).await {
            Ok(s) => Ok(s.dead),
            Err(TmuxError::NoSession { .. } | TmuxError::ServerDown { .. }) => Ok(true),
            Err(e) => Err(e),
        }
    }

    async fn wait_gone_or_dead(
        &self,
        name: &str,
        until: Instant,
        pace: &mut Pacer<'_>,
    ) -> Result<bool, TmuxError> {
        loop {
            if self.is_gone_or_dead(name).await? {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            pace.pause(until).await;
        }
    }

    /// The screen now, or an empty string when it cannot be read.
    async fn screen_or_empty(&self, session: &SessionId) -> String {
        self.capture_or_empty(session, false).await
    }

    /// The screen now (with escapes when `ansi`: what tells a draft in the input box from a
    /// placeholder), or an empty string when it cannot be read.
    pub(crate) async fn capture_or_empty(&self, session: &SessionId, ansi: bool) -> String {
        self.capture_inner(session, ansi)
            .await
            .map(|c| c.text)
            .unwrap_or_default()
    }

    /// Records the pane's process group (pid and leader start time) as a session option.
    /// Read while the pane is not dead, so the pid is still the program's (tmux has not
    /// reaped it); a program that exits at once is simply not recorded.
    pub(crate) async fn record_leader(&self, name: &str) {
        let Ok(before) = ops::pane_state(&self.transport, name).await else {
            return;
        };
        let (Some(pid), false) = (before.pid, before.dead) else {
            return;
        };
        let group = process_group::Group::led_by(pid);
        let Some(record) = group.to_record() else {
            return;
        };
        // Still alive once recorded: the start time was read before tmux could reap the
        // program, so it is the program's. Otherwise the record may describe whatever took
        // the number, and goes.
        match ops::set_leader(&self.transport, name, &record).await {
            Ok(p) if !p.dead && p.pid == Some(pid) => {}
            Ok(_) => {
                let _ = ops::unset_leader(&self.transport, name).await;
            }
            Err(e) => {
                tracing::debug!(session = name, error = %e, "cannot record the process group");
            }
        }
    }

    /// The process group recorded at launch for the pane whose pid is `pid`, if any.
    async fn recorded_group(&self, name: &str, pid: u32) -> Option<process_group::Group> {
        match ops::leader(&self.transport, name).await {
            Ok(Some(text)) => process_group::Group::from_record(&text).filter(|g| g.pgid == pid),
            _ => None,
        }
    }

    /// The polite part of a stop: interrupt a turn in progress (or dismiss a dialog), or
    /// clear a draft and type `/exit`, then give the program `exit_wait` to go. A session
    /// sitting idle at an empty prompt goes straight to `/exit`. Whatever could turn `/exit`
    /// into part of a prompt skips it (the caller hangs up the terminal next, which Claude
    /// Code also exits on): an interrupted turn or Claude Code waiting to continue after a
    /// usage limit (either puts its prompt back in the input box, at a moment of its
    /// choosing), a draft that stays, or anything but `/exit` in the box once it is typed.
    /// An idle program whose latest turn was refused (a usage-limit refusal on screen, or
    /// the turn cut short in its transcript: a weekly limit shows no wait to continue) gets
    /// no `/exit` either: the command's lines after the refusal make Claude Code, resumed
    /// with [`RESUME_TURN_ENV`], treat the turn as closed and not take it up. It is hung up
    /// once the refused prompt is on disk, as a program waiting to continue is.
    async fn ask_to_exit(&self, session: &SessionId, grace: Duration) -> Result<(), BackendError> {
        let name = session.as_str();
        let settle = || Instant::now() + self.config.interrupt_settle.min(grace / 4);
        // One watch of the pane for every wait below.
        let mut pace = Pacer::new(&self.transport, name, RECHECK);
        if let Ok(boxed) = self.capture_inner(session, true).await {
            self.keep_draft(session, &boxed).await;
        }
        let screen = self.screen_or_empty(session).await;
        if waits_to_continue(&screen) {
            // Nothing may be typed (see above). The refusal is drawn before the batch
            // holding the refused prompt is written to the transcript: the terminal is
            // closed once that batch is on disk, the exit wait being only the bound.
            let until = Instant::now() + self.config.exit_wait.min(grace / 2);
            self.wait_refusal_written(name, until).await;
            return Ok(());
        }
        if activity_from_screen(&screen) == Some(Activity::Idle)
            && (shows_refusal(&screen) || self.latest_turn_cut_short(name).await)
        {
            tracing::debug!(
                session = name,
                "stop: the latest turn was cut short; closing its terminal without typing"
            );
            // Hung up once the refusal is on disk, as for a program waiting to continue.
            let until = Instant::now() + self.config.exit_wait.min(grace / 2);
            self.wait_refusal_written(name, until).await;
            return Ok(());
        }
        if activity_from_screen(&screen) != Some(Activity::Idle) {
            tracing::debug!(session = name, "stop: interrupting the turn");
            ops::send_keys(&self.transport, name, &["Escape"]).await?;
            self.wait_screen(session, false, settle(), &mut pace, |s| {
                activity_from_screen(s) == Some(Activity::Idle)
            })
            .await;
            // Claude Code puts an interrupted turn's prompt back in the input box, at a
            // moment of its choosing: a `/exit` typed meanwhile was seen alone in the box,
            // then sent as the tail of the restored prompt ("…/exit", a benchmark's run).
            // Nothing is typed after an interrupt; the caller hangs up the terminal, which
            // Claude Code exits on, writing its transcript first.
            tracing::debug!(
                session = name,
                "stop: a turn was interrupted; closing its terminal without typing"
            );
            return Ok(());
        }
        // Ctrl-C on a non-empty input box clears it (on an empty one it would arm "press
        // again to exit", which is why it is only sent on a draft, never on a placeholder).
        let mut draft = has_draft(&self.capture_or_empty(session, true).await);
        for _ in 0..2 {
            if !draft {
                break;
            }
            tracing::debug!(session = name, "stop: clearing a draft");
            ops::send_keys(&self.transport, name, &["C-c"]).await?;
            draft = self
                .wait_screen(session, true, settle(), &mut pace, |s| !has_draft(s))
                .await
                .is_none();
        }
        if draft {
            tracing::debug!(session = name, "stop: a draft stays; closing its terminal");
            return Ok(());
        }
        let before = self.capture_or_empty(session, true).await;
        ops::send_literal(&self.transport, name, "/exit").await?;
        // Once the typing shows, the input box must hold `/exit` alone (or nothing, for a
        // program that echoes elsewhere): anything else there would be sent with it.
        let after = match self
            .wait_screen(session, true, settle(), &mut pace, |s| s != before)
            .await
        {
            Some(screen) => screen,
            None => self.capture_or_empty(session, true).await,
        };
        let exit_alone = input_box(&after).is_none_or(|t| t.is_empty() || t == "/exit");
        if !exit_alone {
            tracing::debug!(
                session = name,
                "stop: the input box holds more than /exit; closing its terminal"
            );
            return Ok(());
        }
        tracing::debug!(session = name, "stop: asking the program to exit");
        ops::send_keys(&self.transport, name, &["Enter"]).await?;
        let exit_by = Instant::now() + self.config.exit_wait.min(grace / 2);
        if self.wait_gone_or_dead(name, exit_by, &mut pace).await? {
            tracing::debug!(session = name, "stop: the program exited");
        } else {
            tracing::debug!(
                session = name,
                wait_ms = self.config.exit_wait.as_millis() as u64,
                "stop: still exiting; closing its terminal"
            );
        }
        Ok(())
    }

    /// The conversation recorded at launch for session `name`: the projects folder its
    /// transcript is in, its working directory and its id. `None` for a session launched
    /// elsewhere (no record).
    pub(crate) async fn conversation_of(
        &self,
        name: &str,
    ) -> Option<(PathBuf, PathBuf, ClaudeSessionId)> {
        let d = ops::describe(&self.transport, name).await.ok()?;
        let projects = PathBuf::from(d.config_dir?).join(crate::homes::PROJECTS);
        Some((
            projects,
            PathBuf::from(d.dir),
            ClaudeSessionId::new(d.conversation?),
        ))
    }

    /// Whether the transcript of the conversation running in session `name` shows its
    /// latest turn cut short (its prompt unanswered, or answered by an API error notice, and
    /// not cancelled by the person). `false` when it cannot be read.
    async fn latest_turn_cut_short(&self, name: &str) -> bool {
        let Some((projects, dir, id)) = self.conversation_of(name).await else {
            return false;
        };
        // Off the async threads: a long conversation's transcript is megabytes.
        tokio::task::spawn_blocking(move || {
            paths::find_transcript(&projects, &dir, &id)
                .ok()
                .and_then(|path| crate::transcript::summarize_tail(&path, TURN_TAIL).ok())
                .is_some_and(|s| s.turn_cut_short())
        })
        .await
        .unwrap_or(false)
    }

    /// For a program waiting to continue after a usage limit: waits until its transcript
    /// holds the refused turn ([`RefusalWatch`]: the prompt's `user` line and the error
    /// notice after it) or `until` passes. The transcript is the one of the conversation
    /// recorded at launch; a session launched elsewhere (no record) gets the whole wait.
    async fn wait_refusal_written(&self, name: &str, until: Instant) {
        let started = Instant::now();
        let Some((projects, dir, id)) = self.conversation_of(name).await else {
            tracing::debug!(
                session = name,
                "stop: waiting to continue after a usage limit, transcript unknown; closing its terminal after the exit wait"
            );
            tokio::time::sleep_until(until).await;
            return;
        };
        let mut watch = Some(RefusalWatch::new());
        loop {
            // Looked up again until found: a first turn's file appears with its first batch.
            // Read off the async threads: a long conversation's transcript is megabytes.
            let (projects_, dir_, id_) = (projects.clone(), dir.clone(), id.clone());
            let mut w = watch.take().unwrap_or_default();
            let read = tokio::task::spawn_blocking(move || {
                let written = paths::find_transcript(&projects_, &dir_, &id_)
                    .ok()
                    .is_some_and(|path| w.written(&path).unwrap_or(false));
                (w, written)
            })
            .await;
            let written = match read {
                Ok((w, written)) => {
                    watch = Some(w);
                    written
                }
                Err(_) => false,
            };
            let waited_ms = started.elapsed().as_millis() as u64;
            if written {
                tracing::debug!(
                    session = name,
                    waited_ms,
                    "stop: waiting to continue after a usage limit, the refused prompt is in the transcript; closing its terminal"
                );
                return;
            }
            if Instant::now() >= until {
                tracing::info!(
                    session = name,
                    waited_ms,
                    "stop: the refused prompt did not reach the transcript within the exit wait; closing its terminal"
                );
                return;
            }
            tokio::time::sleep(RECHECK.min(until - Instant::now())).await;
        }
    }

    /// Waits until the screen (with escapes when `ansi`) satisfies `pred` or `until`
    /// passes; the screen that did.
    async fn wait_screen(
        &self,
        session: &SessionId,
        ansi: bool,
        until: Instant,
        pace: &mut Pacer<'_>,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        loop {
            let screen = self.capture_or_empty(session, ansi).await;
            if pred(&screen) {
                return Some(screen);
            }
            if Instant::now() >= until {
                return None;
            }
            pace.pause(until).await;
        }
    }

    /// Waits until the screen (captured with escapes when `ansi`, as `before` was) differs
    /// from `before`; returns the new screen.
    async fn wait_screen_change(
        &self,
        session: &SessionId,
        before: &str,
        ansi: bool,
        until: Instant,
        pace: &mut Pacer<'_>,
    ) -> Result<Option<String>, BackendError> {
        loop {
            let now = self.capture_inner(session, ansi).await?.text;
            if now != before {
                return Ok(Some(now));
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            pace.pause(until).await;
        }
    }
}

/// Whether `screen` shows a usage-limit refusal as its latest news (not as history above a
/// later turn): Claude Code draws it before the batch holding the refused prompt reaches
/// the transcript.
fn shows_refusal(screen: &str) -> bool {
    static DETECTOR: std::sync::OnceLock<PaneDetector> = std::sync::OnceLock::new();
    let detector = DETECTOR.get_or_init(PaneDetector::new);
    let ctx = DetectContext::utc(crate::clock::now());
    matches!(
        detector.detect(screen, &ctx).verdict,
        Verdict::QuotaExhausted { .. }
    )
}

/// What may be typed: control characters other than ASCII whitespace (newline, tab,
/// carriage return, form feed) are dropped (an ESC
/// could end a bracketed paste early and turn the rest into key presses), and trailing
/// newlines are removed because Enter is sent separately.
pub fn sanitize_input(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| !c.is_control() || c.is_ascii_whitespace())
        .collect();
    kept.trim_end_matches('\n').to_owned()
}

fn reject(session: &SessionId, reason: &str) -> BackendError {
    BackendError::InputRejected {
        session: session.clone(),
        reason: reason.to_owned(),
    }
}

#[async_trait]
impl SessionBackend for TmuxBackend {
    async fn launch(&self, request: &LaunchRequest) -> Result<Launched, BackendError> {
        let name = request.session.as_str();
        ops::validate_name(name)?;
        if !request.dir.is_dir() {
            return Err(BackendError::DirMissing(request.dir.clone()));
        }
        if request.dir.to_str().is_none() || request.config_dir.to_str().is_none() {
            return Err(BackendError::Command {
                op: "launch",
                detail: "working and config directories must be valid UTF-8".to_owned(),
            });
        }
        let session_there = match ops::pane_state(&self.transport, name).await {
            Ok(state) if !state.dead => {
                // Launching is idempotent: when the session already runs on the requested
                // account, in the requested conversation (a launch whose reply was lost, or
                // a stale exit report that made the caller believe it died), it is the
                // answer; anything else running under that name is a conflict.
                return match ops::describe(&self.transport, name).await {
                    Ok(d) if running_as_requested(&d, request) => Ok(Launched::new(
                        d.conversation
                            .map(ClaudeSessionId::new)
                            .or_else(|| request.resume.clone())
                            .unwrap_or_else(|| ClaudeSessionId::new("")),
                    )),
                    _ => Err(BackendError::SessionExists(request.session.clone())),
                };
            }
            Ok(_) => true,
            Err(TmuxError::NoSession { .. } | TmuxError::ServerDown { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        let mut standby_fallback = None;
        if let Some(prepared) = self.take_standby(request).await {
            match self
                .launch_from_standby(request, prepared, session_there)
                .await
            {
                Ok(launched) => {
                    // A person's draft kept at the stop goes back unsent now, unless a
                    // replay is coming (it goes back after the replayed prompt).
                    let replayed = launched.unanswered_prompt.as_deref();
                    if self.draft_for_launch(&request.session, replayed).is_some() {
                        self.hand_on_draft(&request.session).await;
                    }
                    return Ok(launched);
                }
                Err(why) => {
                    // Visible: were a Claude Code release to draw `/resume` differently,
                    // every move would go cold this way.
                    tracing::warn!(
                        session = name,
                        account = %request.account,
                        reason = why.as_str(),
                        "the prepared program was not used; starting cold"
                    );
                    standby_fallback = Some(why);
                }
            }
        }
        // After a standby that was not used, look again: it ended whatever it started, so
        // a live program under the name is another's, as in the check above.
        let dead_there = match standby_fallback.is_some() {
            false => session_there,
            true => match ops::pane_state(&self.transport, name).await {
                Ok(state) if !state.dead => {
                    return Err(BackendError::SessionExists(request.session.clone()));
                }
                Ok(_) => true,
                Err(TmuxError::NoSession { .. } | TmuxError::ServerDown { .. }) => false,
                Err(e) => return Err(e.into()),
            },
        };
        if dead_there {
            match ops::kill_session(&self.transport, name).await {
                Ok(()) | Err(TmuxError::NoSession { .. } | TmuxError::ServerDown { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut argv = self.config.claude_command.clone();
        let mut resume_mark = None;
        let mut unanswered_prompt = None;
        let claude_session = match &request.resume {
            Some(id) => {
                let projects = request.config_dir.join("projects");
                match paths::find_transcript(&projects, &request.dir, id) {
                    Ok(path)
                        if crate::transcript::holds_no_conversation(&path).unwrap_or(false) =>
                    {
                        // Written by a CLI that exited before any turn: it cannot be
                        // resumed and would block `--session-id`. Kept beside, under
                        // another name; the conversation starts fresh under its id.
                        let aside = set_aside_empty(&path)?;
                        tracing::info!(
                            session = name,
                            claude_session = %id,
                            aside = %aside.display(),
                            "the conversation never had a turn; starting it fresh under its id"
                        );
                        argv.extend(["--session-id".to_owned(), id.to_string()]);
                    }
                    Ok(path) => {
                        argv.extend(["--resume".to_owned(), id.to_string()]);
                        // The previous program has stopped: the transcript is final. A
                        // typed prompt nothing answered is the one to replay.
                        let summary = crate::transcript::summarize(&path).ok();
                        unanswered_prompt = summary
                            .as_ref()
                            .and_then(|s| s.unanswered_prompt().map(str::to_owned));
                        // Only a turn cut short by a refusal or the stop is taken up, never
                        // one the person cancelled.
                        let cut_short = summary.as_ref().is_some_and(|s| s.turn_cut_short());
                        if cut_short && !self.config.resume_turn_wait.is_zero() {
                            // Where the program's own lines will start: the file is
                            // append-only, and nothing writes it between stop and launch.
                            let len = std::fs::metadata(&path).map_or(0, |m| m.len());
                            resume_mark = Some(format!("{len}:{}", path.display()));
                        }
                    }
                    Err(_) if self.never_written(&projects, id) => {
                        // It never had a turn: nothing to resume, and nothing is lost by
                        // starting it again under its id.
                        tracing::info!(
                            session = name,
                            claude_session = %id,
                            "no account holds a transcript of the conversation (it never had a turn); starting it fresh under its id"
                        );
                        argv.extend(["--session-id".to_owned(), id.to_string()]);
                    }
                    Err(path) => {
                        return Err(BackendError::TranscriptMissing {
                            claude_session: id.clone(),
                            account: request.account.clone(),
                            path,
                        });
                    }
                }
                id.clone()
            }
            None => {
                let id = ClaudeSessionId::new(uuid::Uuid::new_v4().to_string());
                argv.extend(["--session-id".to_owned(), id.to_string()]);
                id
            }
        };
        let prefilled = self.prefill_draft(request, unanswered_prompt.as_deref(), &mut argv);
        self.carry_trust(request).await;
        let env = self.session_env(request, resume_mark.is_some());
        ops::new_session(
            &self.transport,
            &NewSession {
                name,
                dir: &request.dir,
                width: self.config.width,
                height: self.config.height,
                env: &env,
                argv: &argv,
                account: request.account.as_str(),
                conversation: claude_session.as_str(),
                config_dir: &request.config_dir.to_string_lossy(),
                resume_mark: resume_mark.as_deref(),
            },
        )
        .await?;
        if prefilled {
            self.drafts.forget(&request.session);
        }
        self.record_leader(name).await;
        tracing::debug!(
            session = name,
            account = %request.account,
            %claude_session,
            tmux_clients = self.transport.clients_started(),
            "launched"
        );
        Ok(Launched {
            claude_session,
            unanswered_prompt,
            standby_fallback,
        })
    }

    async fn prepare(&self, request: &LaunchRequest) -> Result<(), BackendError> {
        self.prepare_standby(request).await
    }

    async fn discard_prepared(&self, session: &SessionId) -> Result<(), BackendError> {
        self.discard_standby(session).await
    }

    async fn stop(&self, session: &SessionId, grace: Duration) -> Result<(), BackendError> {
        let name = session.as_str();
        ops::validate_name(name)?;
        let deadline = Instant::now() + grace;
        let pane = match ops::pane_state(&self.transport, name).await {
            Ok(p) => Some(p),
            Err(TmuxError::NoSession { .. } | TmuxError::ServerDown { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        // Identified now, while a live pane's pid cannot have been reused; the launch record
        // is looked up alongside the polite request, which it must not delay.
        let unrecorded = pane.as_ref().and_then(unrecorded_group);
        let (recorded, asked) = tokio::join!(
            async {
                match unrecorded {
                    Some(g) => self.recorded_group(name, g.pgid).await,
                    None => None,
                }
            },
            async {
                if pane.as_ref().is_some_and(|p| !p.dead) {
                    self.ask_to_exit(session, grace).await
                } else {
                    Ok(())
                }
            }
        );
        asked?;
        let group = recorded.or(unrecorded);
        // Closing the session hangs up its terminal: Claude Code exits on SIGHUP.
        match ops::kill_session(&self.transport, name).await {
            Ok(()) | Err(TmuxError::NoSession { .. } | TmuxError::ServerDown { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // Nothing of the session may outlive the stop: a second copy of the program on
        // another account would write the same transcript. Only the group launched here is
        // signalled, never one that took over its number.
        if let Some(group) = group {
            if !group.wait_gone(deadline).await {
                tracing::info!(
                    session = name,
                    ?grace,
                    "still running after the hang-up; killing"
                );
                group.kill();
                let until = Instant::now() + Duration::from_secs(1);
                if !group.wait_gone(until).await {
                    return Err(BackendError::Unavailable {
                        reason: format!("{name}: the program survived SIGKILL"),
                    });
                }
            }
        }
        tracing::debug!(
            session = name,
            tmux_clients = self.transport.clients_started(),
            "stopped"
        );
        Ok(())
    }

    /// Pastes `text` (as [`sanitize_input`] leaves it) and presses Enter, looking at the
    /// input box first: when it already holds this text (pasted before a crash and never
    /// sent: after a restart the queue sends a prompt whose delivery it cannot confirm), only
    /// Enter is pressed; when it holds anything else (the person's own typing), nothing is
    /// typed and [`BackendError::DraftInInputBox`] is returned.
    async fn send_input(&self, session: &SessionId, text: &str) -> Result<(), BackendError> {
        let name = session.as_str();
        ops::validate_name(name)?;
        if ops::pane_state(&self.transport, name).await?.dead {
            return Err(reject(session, "the program has exited"));
        }
        let text = sanitize_input(text);
        // One watch of the pane for both waits below.
        let mut pace = Pacer::new(&self.transport, name, RECHECK);
        // With escapes: a placeholder in an empty box is drawn dim, a draft is not.
        let mut screen = self.capture_inner(session, true).await?.text;
        let draft = input_box(&screen).filter(|d| !d.is_empty());
        match draft {
            Some(draft) if box_holds(&draft, &text) => {
                tracing::info!(
                    session = name,
                    "the input box already holds this prompt, typed and never sent; sending it"
                );
            }
            Some(draft) => {
                return Err(BackendError::DraftInInputBox {
                    session: session.clone(),
                    chars: draft.chars().count(),
                });
            }
            None if !text.is_empty() => {
                self.drafts.note_typed(session, Some(&text));
                let buffer = self.next_paste_buffer();
                ops::paste(&self.transport, name, &buffer, &text).await?;
                let until = Instant::now() + self.config.input_timeout;
                screen = self
                    .wait_screen_change(session, &screen, true, until, &mut pace)
                    .await?
                    .ok_or_else(|| reject(session, "the pasted text never appeared"))?;
            }
            None => {}
        }
        ops::send_keys(&self.transport, name, &["Enter"]).await?;
        // Taken when the screen changes (the input box empties, the prompt moves into the
        // conversation), or when the program exits in response.
        let until = Instant::now() + self.config.input_timeout;
        loop {
            // The screen and whether the program runs, in one look.
            let (now, state) = ops::capture_state(&self.transport, name, true).await?;
            if now != screen || state.dead {
                // Out of the box: no longer this backend's typing there.
                self.drafts.note_typed(session, None);
                // A draft held back at the launch, for this prompt to go first.
                self.hand_on_draft(session).await;
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(reject(session, "Enter did not change the screen"));
            }
            pace.pause(until).await;
        }
    }

    async fn activity_now(&self, session: &SessionId) -> Result<Option<Activity>, BackendError> {
        let screen = self.capture_inner(session, false).await?.text;
        Ok(if waits_to_continue(&screen) {
            Some(Activity::Working)
        } else {
            activity_from_screen(&screen)
        })
    }

    async fn resumed_turn(
        &self,
        session: &SessionId,
        prompt: &str,
    ) -> Result<ResumedTurn, BackendError> {
        let name = session.as_str();
        ops::validate_name(name)?;
        // A conversation loaded into a running program (`/resume`, no resume mark) never
        // takes its refused turn up by itself: the replay types it.
        let (mark, _) = ops::resume_marks(&self.transport, name).await?;
        let Some(mark) = mark else {
            return Ok(ResumedTurn::NotTakenUp);
        };
        // One resume takes up one turn: the mark answers one replay.
        ops::unset_resume_mark(&self.transport, name).await?;
        let Some((len, path)) = crate::wire::parse_resume_mark(&mark) else {
            return Ok(ResumedTurn::NotTakenUp);
        };
        // Only the turn that was interrupted at the launch is taken up, and only its prompt
        // is not typed again (a prompt that never reached the program is).
        let (before, mut tail) = match (
            crate::transcript::summarize_prefix(&path, len),
            crate::transcript::Tail::at_offset(&path, len),
        ) {
            (Ok(before), Ok(tail)) => (before, tail),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(session = name, error = %e, "transcript unreadable; typing the prompt");
                return Ok(ResumedTurn::NotTakenUp);
            }
        };
        if !before.unanswered || before.last_prompt.as_deref().map(str::trim) != Some(prompt.trim())
        {
            return Ok(ResumedTurn::NotTakenUp);
        }
        let until = Instant::now() + self.config.resume_turn_wait;
        let mut lines = Vec::new();
        loop {
            lines.extend(tail.read_new(&path).unwrap_or_default());
            if let Some(mut ended) =
                crate::transcript::taken_up_turn(lines.iter().map(String::as_str), prompt)
            {
                // A replay is asked once the session shows idle; a program that went straight
                // on with its turn shows it only after that turn, so it is often over by now.
                // Over only when the screen, looked at after the transcript, agrees. An idle
                // screen after the turn was taken up means the turn is over; its last lines
                // may still be on their way to the file (written in batches): wait for them
                // a moment rather than leave the session taken for working.
                let end_by = Instant::now() + TURN_END_WAIT;
                let over = loop {
                    if self.activity_now(session).await? != Some(Activity::Idle) {
                        break false;
                    }
                    if ended {
                        break true;
                    }
                    if Instant::now() >= end_by {
                        break false;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    lines.extend(tail.read_new(&path).unwrap_or_default());
                    ended =
                        crate::transcript::taken_up_turn(lines.iter().map(String::as_str), prompt)
                            == Some(true);
                };
                tracing::info!(
                    session = name,
                    over,
                    "the resumed program took its interrupted turn up by itself; the prompt is not typed again"
                );
                self.hand_on_draft(session).await;
                return Ok(if over {
                    ResumedTurn::Over
                } else {
                    ResumedTurn::UnderWay
                });
            }
            if Instant::now() >= until {
                tracing::info!(
                    session = name,
                    wait_ms = self.config.resume_turn_wait.as_millis() as u64,
                    "the resumed program did not take its interrupted turn up; typing the prompt"
                );
                return Ok(ResumedTurn::NotTakenUp);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn liveness(&self, session: &SessionId) -> Result<Liveness, BackendError> {
        ops::validate_name(session.as_str())?;
        let name = session.as_str();
        match ops::pane_state(&self.transport, name).await {
            Ok(s) if s.dead => {
                // tmux marks a pane dead when its terminal closes, and records the status
                // when the child is reaped, a moment later: give that moment.
                let mut s = s;
                let until = Instant::now() + STATUS_SETTLE;
                while s.dead && s.status.is_none() && s.signal.is_none() && Instant::now() < until {
                    tokio::time::sleep(RECHECK).await;
                    s = ops::pane_state(&self.transport, name).await?;
                }
                Ok(Liveness::Exited { status: s.status })
            }
            Ok(_) => Ok(Liveness::Alive),
            Err(TmuxError::NoSession { .. }) => Ok(Liveness::Missing),
            Err(e) => Err(e.into()),
        }
    }

    /// From one tmux call. A pane that died so recently that tmux has not recorded
    /// its status yet shows as `Exited { status: None }` here (`liveness` waits a moment for
    /// the status); with no server running the map is empty.
    async fn liveness_all(&self) -> Result<HashMap<SessionId, Liveness>, BackendError> {
        let states = match ops::all_pane_states(&self.transport).await {
            Ok(states) => states,
            Err(TmuxError::ServerDown { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(states
            .into_iter()
            .map(|(name, s)| {
                let live = if s.dead {
                    Liveness::Exited { status: s.status }
                } else {
                    Liveness::Alive
                };
                (SessionId::new(name), live)
            })
            .collect())
    }
}

/// Renames a transcript that holds no conversation to `<name>.no-conversation-<ms>` in its
/// folder (never deleted); returns the new path.
fn set_aside_empty(path: &std::path::Path) -> Result<PathBuf, BackendError> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".no-conversation-{ms}"));
    let aside = path.with_file_name(name);
    std::fs::rename(path, &aside).map_err(|e| BackendError::Command {
        op: "launch",
        detail: format!("cannot set aside {}: {e}", path.display()),
    })?;
    Ok(aside)
}

/// Whether a live session is already what `request` asks for: same account, and the same
/// conversation when a resume is asked for.
/// The pane's process group as far as it can be told without the launch record: while the
/// pane is not dead its pid cannot have been reused, so the leader's start time now
/// identifies it; a dead pane's bare number is only trusted while no process holds it.
fn unrecorded_group(pane: &crate::wire::PaneState) -> Option<process_group::Group> {
    let pid = pane.pid?;
    Some(if pane.dead {
        process_group::Group {
            pgid: pid,
            leader_start: None,
        }
    } else {
        process_group::Group::led_by(pid)
    })
}

fn running_as_requested(d: &crate::wire::Described, request: &LaunchRequest) -> bool {
    let same_account = d.account.as_deref() == Some(request.account.as_str());
    let same_conversation = match &request.resume {
        Some(id) => d.conversation.as_deref() == Some(id.as_str()),
        None => d.conversation.is_some(),
    };
    same_account && same_conversation
}
