//! A stand-in for the `claude` CLI, for machines without the real one (the `demo`, fast
//! tests).
//!
//! It behaves like Claude Code 2.1.328 as far as the failover engine can tell: the same
//! command line for sessions (`--session-id <uuid>`, `--resume <uuid>`, `--prefill=<text>`
//! in the input box unsent), the same config
//! dir (`CLAUDE_CONFIG_DIR`: `.credentials.json`, `settings.json`, `projects/`), the same
//! requests to `ANTHROPIC_BASE_URL` (bearer token, `X-Claude-Code-Session-Id`, streamed
//! `/v1/messages?beta=true` carrying the whole history), the same screen texts (`❯ `
//! prompt, `esc to interrupt` while working, `● ` replies, the quota, near-limit, retry and
//! login texts), the same transcript lines (including the synthetic API-error line), and
//! the `statusLine` command fed the statusline JSON with `rate_limits` after each turn.
//!
//! The screen follows the real CLI's layout (see [`screen`]): the conversation (`❯ <prompt>`,
//! `● <reply>`) scrolls above an input box framed by `─` rules with `❯ ` inside, and a
//! footer that says `esc to interrupt` only while a turn runs, so the pane classifier that
//! reads the real CLI reads the stand-in the same way. Input is raw (set with `stty`): the
//! stand-in draws what is typed in the box itself; Enter submits (bracketed pastes may span
//! lines), Esc cancels an automatic continue or closes the weekly-limit menu, `/resume <id>`
//! goes on in another conversation of the account, `/exit` or Ctrl-D ends it. It speaks
//! plain HTTP only, which is all the mock API needs.
//!
//! Where it differs from the real CLI, on purpose:
//! - only the bottom of the screen is redrawn (the conversation is printed once, hard
//!   wrapped by the terminal); the spinner line is always `✻ Working…`;
//! - Esc does not interrupt a turn in progress; prompts submitted during a turn are queued;
//!   the weekly-limit menu only closes (Enter or Esc), it does not act on the choice;
//! - no title request, no tools; the reported version is [`VERSION`];
//! - retries wait 1, 2, 4 … 32 s (`CLAUDE_CODE_MAX_RETRIES` attempts, 10 by default), then
//!   show the final `API Error: …` text, as the real CLI does.

mod api;
mod input;
pub mod screen;
pub mod term;
pub mod texts;
mod transcript;

use std::collections::VecDeque;
use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};

pub use api::{ApiClient, Outcome, RateInfo, WindowUsage, parse_sse};
pub use input::{Key, PromptReader};
pub use screen::Screen;
pub use transcript::{PastLine, Transcript};

use failover_tmux::paths::project_folder_name;

/// The spinner line while a turn runs.
const WORKING: &str = "✻ Working…";

/// The model id the stand-in asks for (the one 2.1.328 asks for).
pub const MODEL_ID: &str = "claude-opus-5-5";
/// The version the stand-in reports and writes into transcripts.
pub const VERSION: &str = "2.1.328-standin";
/// What the CLI sends by itself when a usage limit it was waiting on has reset.
pub const CONTINUE_TEXT: &str = "Your claude.ai usage limit has reset. Continue the task you were working on when the limit was reached; do not repeat work that is already complete.";

/// Where the stand-in finds its world (normally from the process environment).
#[derive(Debug, Clone)]
pub struct StandinEnv {
    /// `CLAUDE_CONFIG_DIR`, else `~/.claude`.
    pub config_dir: PathBuf,
    /// `ANTHROPIC_BASE_URL`, else `https://api.anthropic.com`.
    pub base_url: String,
    /// The working directory (the project).
    pub cwd: PathBuf,
    /// The zone reset times are shown in (`TZ`).
    pub tz: TimeZone,
    /// `CLAUDE_CODE_MAX_RETRIES`, else 10.
    pub max_retries: u32,
    /// The first retry wait; later ones double, capped at 32 times this.
    pub retry_base: Duration,
}

impl StandinEnv {
    /// Reads the process environment.
    pub fn from_process() -> std::io::Result<Self> {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        Ok(Self {
            config_dir: std::env::var_os("CLAUDE_CONFIG_DIR")
                .map_or_else(|| home.join(".claude"), PathBuf::from),
            base_url: std::env::var("ANTHROPIC_BASE_URL")
                .unwrap_or_else(|_| "https://api.anthropic.com".into()),
            cwd: std::env::current_dir()?,
            tz: zone_from_env(),
            max_retries: std::env::var("CLAUDE_CODE_MAX_RETRIES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10),
            retry_base: Duration::from_secs(1),
        })
    }
}

/// The zone named by `TZ` (an IANA name, optionally with a leading `:`), looked up in
/// the bundled time zone database; the system zone when `TZ` is unset or unknown.
fn zone_from_env() -> TimeZone {
    std::env::var("TZ")
        .ok()
        .and_then(|name| TimeZone::get(name.trim_start_matches(':')).ok())
        .unwrap_or_else(TimeZone::system)
}

/// Which conversation to run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SessionChoice {
    New(String),
    Resume(String),
}

/// Parses the command line (without the program name). `Err` carries the message and
/// exit code for bad input, or the text of `--version`/`--help` with code 0.
fn parse_args(args: &[String]) -> Result<SessionChoice, (String, u8)> {
    let mut choice = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--version" | "-v" => return Err((format!("{VERSION} (Claude Code stand-in)"), 0)),
            "--help" | "-h" => {
                return Err((
                    "Usage: claude-standin [--session-id <uuid> | --resume <uuid>]".into(),
                    0,
                ));
            }
            "--session-id" | "--resume" | "-r" => {
                let Some(id) = it.next() else {
                    return Err((format!("error: option '{arg}' argument missing"), 1));
                };
                if uuid::Uuid::parse_str(id).is_err() {
                    return Err((format!("error: {arg} must be a valid UUID, got {id:?}"), 1));
                }
                choice = Some(if arg == "--session-id" {
                    SessionChoice::New(id.clone())
                } else {
                    SessionChoice::Resume(id.clone())
                });
            }
            "--model" | "--permission-mode" => {
                it.next();
            }
            "--dangerously-skip-permissions" => {}
            // Claude Code's hidden `--prefill <text>`: read by `prefill_of`.
            "--prefill" => {
                it.next();
            }
            a if a.starts_with("--prefill=") => {}
            other => return Err((format!("error: unknown option '{other}'"), 1)),
        }
    }
    Ok(choice.unwrap_or_else(|| SessionChoice::New(uuid::Uuid::new_v4().to_string())))
}

/// The text of the last `--prefill <text>` or `--prefill=<text>`: what the input box
/// starts with, not sent.
fn prefill_of(args: &[String]) -> Option<String> {
    let mut text = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--prefill" {
            text = it.next().cloned();
        } else if let Some(t) = arg.strip_prefix("--prefill=") {
            text = Some(t.to_owned());
        }
    }
    text
}

/// Runs the stand-in: reads keys from `input`, draws on `out`, and returns the exit code.
/// When stdin is a terminal it is switched to raw input for the run.
pub fn run(
    args: &[String],
    env: StandinEnv,
    input: Box<dyn Read + Send>,
    out: &mut dyn Write,
) -> u8 {
    let choice = match parse_args(args) {
        Ok(c) => c,
        Err((msg, code)) => {
            let _ = writeln!(out, "{msg}");
            return code;
        }
    };
    let raw = term::RawInput::enable();
    let width = if raw.active() {
        term::width()
    } else {
        term::DEFAULT_WIDTH
    };
    match Standin::start(choice, env, width, out) {
        Ok(Some(mut s)) => {
            s.screen.input = prefill_of(args).unwrap_or_default();
            s.repl(input, out)
        }
        Ok(None) => 1,
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            1
        }
    }
}

struct Standin {
    env: StandinEnv,
    session_id: String,
    transcript: Transcript,
    history: Vec<Value>,
    client: ApiClient,
    rt: tokio::runtime::Runtime,
    rate_limits: Map<String, Value>,
    /// Unix seconds at which an automatic continue fires.
    auto_continue_at: Option<i64>,
    screen: Screen,
    keys: Keys,
}

/// The keys read from the terminal, and prompts submitted while a turn ran.
#[derive(Debug)]
struct Keys {
    rx: Option<mpsc::UnboundedReceiver<Key>>,
    queued: VecDeque<String>,
    /// Input ended (Ctrl-D or the terminal closed).
    closed: bool,
}

impl Keys {
    /// Takes one key; `None` once input has ended.
    async fn next(&mut self) -> Option<Key> {
        let key = match self.rx.as_mut() {
            Some(rx) if !self.closed => rx.recv().await,
            _ => None,
        };
        if matches!(key, None | Some(Key::Eof)) {
            self.closed = true;
            return None;
        }
        key
    }
}

impl Standin {
    /// Sets up the session and draws the start screen; `Ok(None)` when it cannot run
    /// (the reason is on screen).
    fn start(
        choice: SessionChoice,
        env: StandinEnv,
        width: usize,
        out: &mut dyn Write,
    ) -> std::io::Result<Option<Self>> {
        let (session_id, resume) = match choice {
            SessionChoice::New(id) => (id, false),
            SessionChoice::Resume(id) => (id, true),
        };
        let path = env
            .config_dir
            .join("projects")
            .join(project_folder_name(&env.cwd))
            .join(format!("{session_id}.jsonl"));
        let mut transcript = Transcript::new(path, &session_id, &env.cwd, VERSION);
        let past = if resume {
            if !transcript.path().exists() {
                writeln!(out, "No conversation found with session ID: {session_id}")?;
                return Ok(None);
            }
            transcript.load()?
        } else {
            Vec::new()
        };
        let token = read_token(&env.config_dir);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = ApiClient::new(&env.base_url, token.clone(), &session_id);

        write!(out, "\x1b[?2004h")?;
        writeln!(out, " ▐▛███▛█   Claude Code v{VERSION}")?;
        writeln!(out, "▝▜██████▀  Opus 5.5 · Claude Max")?;
        writeln!(out, " ▝▝   ▝▝   {}", env.cwd.display())?;
        let (shown, history) = replay(&past);
        for line in &shown {
            writeln!(out, "{line}")?;
        }
        if token.is_none() {
            writeln!(out, "\nNot logged in · Please run /login")?;
        }
        rt.block_on(client.hello());
        let mut me = Self {
            env,
            session_id,
            transcript,
            history,
            client,
            rt,
            rate_limits: Map::new(),
            auto_continue_at: None,
            screen: Screen::new(width),
            keys: Keys {
                rx: None,
                queued: VecDeque::new(),
                closed: false,
            },
        };
        // The start-up probe (`quota`, one token), as the CLI sends it.
        let probe = me.rt.block_on(
            me.client
                .send(&[json!({"role": "user", "content": "quota"})], 1),
        );
        if let Outcome::Reply { rate, .. } | Outcome::Error { rate, .. } = &probe {
            me.note_rate(rate);
        }
        Ok(Some(me))
    }

    fn repl(&mut self, input: Box<dyn Read + Send>, out: &mut dyn Write) -> u8 {
        let (tx, rx) = mpsc::unbounded_channel::<Key>();
        // What the box starts with (`--prefill`) is the reader's line.
        let reader = PromptReader::with_text(&self.screen.input);
        std::thread::spawn(move || read_keys(input, &tx, reader));
        self.keys.rx = Some(rx);
        let _ = writeln!(out);
        let _ = self.screen.redraw(out);
        loop {
            let prompt = match self.next_prompt(out) {
                Next::Prompt(p) => p,
                Next::Continue => {
                    let text = "Usage limit reset · Continuing automatically";
                    self.screen.notices.clear();
                    let _ = self.screen.history(out, &[format!("● {text}")]);
                    let _ = self.transcript.notice(text);
                    CONTINUE_TEXT.to_owned()
                }
                Next::Eof => break,
            };
            if prompt == "/exit" {
                break;
            }
            if let Some(id) = prompt.strip_prefix("/resume ") {
                if let Err(e) = self.resume(id.trim(), out) {
                    let _ = self.screen.erase(out);
                    let _ = writeln!(out, "\nerror: {e}");
                    return 1;
                }
                continue;
            }
            if let Err(e) = self.turn(&prompt, out) {
                let _ = self.screen.erase(out);
                let _ = writeln!(out, "\nerror: {e}");
                return 1;
            }
        }
        let _ = self.screen.erase(out);
        let _ = writeln!(
            out,
            "Resume this session with:\nclaude --resume {}\x1b[?2004l",
            self.session_id
        );
        let _ = out.flush();
        0
    }

    /// `/resume <id>` typed at the prompt, as Claude Code answers it: with the
    /// conversation's transcript in this account's `projects/`, the screen is cleared and
    /// the conversation drawn, and the program goes on in it (its session id, its
    /// transcript, its history sent with the next prompt; a turn it was refused is not
    /// taken up); without one, `Session <id> was not found.` below the command.
    fn resume(&mut self, id: &str, out: &mut dyn Write) -> std::io::Result<()> {
        let path = self
            .env
            .config_dir
            .join("projects")
            .join(project_folder_name(&self.env.cwd))
            .join(format!("{id}.jsonl"));
        if uuid::Uuid::parse_str(id).is_err() || !path.exists() {
            return self.screen.history(
                out,
                &[
                    format!("❯ /resume {id}"),
                    format!("  ⎿  Session {id} was not found."),
                ],
            );
        }
        let mut transcript = Transcript::new(path, id, &self.env.cwd, VERSION);
        let past = transcript.load()?;
        let (shown, history) = replay(&past);
        self.session_id = id.to_owned();
        self.transcript = transcript;
        self.history = history;
        self.client = ApiClient::new(&self.env.base_url, read_token(&self.env.config_dir), id);
        self.auto_continue_at = None;
        self.screen.notices.clear();
        self.screen.erase(out)?;
        write!(out, "\x1b[2J\x1b[H")?;
        writeln!(out, " ▐▛███▛█   Claude Code v{VERSION}")?;
        writeln!(out, "▝▜██████▀  Opus 5.5 · Claude Max")?;
        write!(out, " ▝▝   ▝▝   {}", self.env.cwd.display())?;
        self.screen.history(out, &shown)
    }

    /// Waits at the prompt: draws what is typed, handles Esc, fires the automatic continue
    /// at a quota reset, and returns the next prompt (first those queued during the turn).
    fn next_prompt(&mut self, out: &mut dyn Write) -> Next {
        if let Some(p) = self.keys.queued.pop_front() {
            self.auto_continue_at = None;
            return Next::Prompt(p);
        }
        loop {
            let key = match self.auto_continue_at {
                None => self.rt.block_on(self.keys.next()),
                Some(at) => {
                    let wait = u64::try_from(at - jiff::Timestamp::now().as_second()).unwrap_or(0);
                    let next = self.keys.next();
                    // The timer is made inside the runtime (it needs its clock).
                    let waited =
                        async { tokio::time::timeout(Duration::from_secs(wait), next).await };
                    match self.rt.block_on(waited) {
                        Ok(key) => key,
                        Err(_) => {
                            self.auto_continue_at = None;
                            return Next::Continue;
                        }
                    }
                }
            };
            let drawn = match key {
                None | Some(Key::Eof) => return Next::Eof,
                Some(Key::Edit(text)) => {
                    self.screen.input = text;
                    self.screen.redraw(out)
                }
                Some(Key::Escape) => {
                    if self.screen.menu.take().is_some() {
                        self.screen.redraw(out)
                    } else if self.auto_continue_at.take().is_some() {
                        let text = "Automatic continue cancelled · /rate-limit-options to re-arm";
                        self.screen.notices = vec![text.to_owned()];
                        let _ = self.transcript.notice(text);
                        self.screen.history(out, &[format!("● {text}")])
                    } else {
                        Ok(())
                    }
                }
                Some(Key::Submit(p)) => {
                    self.screen.input.clear();
                    // Enter on the weekly-limit menu only closes it.
                    if self.screen.menu.take().is_none() && !p.is_empty() {
                        self.auto_continue_at = None;
                        return Next::Prompt(p);
                    }
                    self.screen.redraw(out)
                }
            };
            if drawn.is_err() {
                return Next::Eof;
            }
        }
    }

    /// One prompt: request (with retries), screen, transcript, statusline.
    fn turn(&mut self, prompt: &str, out: &mut dyn Write) -> std::io::Result<()> {
        self.transcript.user(prompt)?;
        self.history
            .push(json!({"role": "user", "content": prompt}));
        let asked: Vec<String> = prompt
            .split('\n')
            .enumerate()
            .map(|(i, l)| format!("{}{l}", if i == 0 { "❯ " } else { "  " }))
            .collect();
        if self.keys.rx.is_some() {
            self.screen.set_width(term::width());
        }
        self.screen.notices.clear();
        self.screen.menu = None;
        self.screen.working = true;
        self.screen.status = vec![WORKING.to_owned()];
        self.screen.history(out, &asked)?;
        let max = self.env.max_retries;
        let mut attempt = 0u32;
        let shown: Vec<String> = loop {
            let outcome = busy(
                &self.rt,
                &mut self.keys,
                &mut self.screen,
                out,
                self.client.send(&self.history, 32000),
            );
            let retry_status = match outcome {
                Outcome::Reply {
                    text,
                    id,
                    model,
                    request_id,
                    rate,
                } => {
                    self.note_rate(&rate);
                    self.near_limit_notice(&rate);
                    self.transcript
                        .assistant(&text, &id, &model, request_id.as_deref())?;
                    self.history
                        .push(json!({"role": "assistant", "content": text}));
                    break vec![format!("● {text}")];
                }
                Outcome::Error {
                    status: 429,
                    ref rate,
                    ..
                } if rate.status.as_deref() == Some("rejected") => {
                    self.note_rate(rate);
                    break self.quota(rate)?;
                }
                Outcome::Error {
                    status: 401,
                    message,
                    kind,
                    ..
                } => {
                    let text = texts::auth_error(&message);
                    let mut extra = Map::new();
                    extra.insert("error".into(), json!("authentication_failed"));
                    self.transcript.api_error(&text, 401, &kind, extra)?;
                    break vec![format!("● {text}")];
                }
                Outcome::Error {
                    status,
                    message,
                    kind,
                    ..
                } if !matches!(status, 429 | 500..=599) => {
                    let text = format!("API Error: {status} {message}");
                    self.transcript
                        .api_error(&text, status, &kind, Map::new())?;
                    break vec![format!("● {text}")];
                }
                Outcome::Error {
                    status,
                    message,
                    kind,
                    ..
                } => (Some(status), message, kind),
                Outcome::Network(reason) => (None, reason, "api_error".to_owned()),
            };
            let (status, message, kind) = retry_status;
            attempt += 1;
            if attempt > max {
                let text = texts::final_error(status, &message, self.client.host());
                let mut extra = Map::new();
                if status == Some(429) {
                    extra.insert("apiErrorIsTransient".into(), json!(true));
                }
                self.transcript
                    .api_error(&text, status.unwrap_or(0), &kind, extra)?;
                break vec![format!("● {text}")];
            }
            let wait = self.env.retry_base * 2u32.pow((attempt - 1).min(5));
            self.screen.status = vec![format!(
                "✻ {} · retrying in {}s · attempt {attempt}/{max}",
                texts::retry_name(status),
                wait.as_secs().max(1)
            )];
            if status == Some(529) {
                self.screen.status.push(format!(
                    "  ⎿  If it persists, check your inference gateway ({}).",
                    self.client.host()
                ));
            }
            self.screen.redraw(out)?;
            busy(&self.rt, &mut self.keys, &mut self.screen, out, async {
                tokio::time::sleep(wait).await
            });
            self.screen.status = vec![WORKING.to_owned()];
            self.screen.redraw(out)?;
        };
        self.screen.working = false;
        self.screen.status.clear();
        self.screen.history(out, &shown)?;
        self.transcript.last_prompt(prompt)?;
        self.statusline(out)
    }

    /// Records a rejected (quota) answer; returns the conversation lines to show, and sets
    /// the footer notice (a wait until a reset within the day) or the weekly menu.
    fn quota(&mut self, rate: &RateInfo) -> std::io::Result<Vec<String>> {
        let now = jiff::Timestamp::now().as_second();
        let claim = rate.claim.clone().unwrap_or_else(|| "five_hour".into());
        let reset = rate.reset.unwrap_or(now);
        let tz = &self.env.tz;
        let line = texts::quota_line(&claim, reset, now, tz);
        let mut shown = vec![format!("  ⎿  {line}")];
        let info = json!({"status": "rejected", "resetsAt": reset, "rateLimitType": claim,
                          "isUsingOverage": false});
        let mut extra = Map::new();
        extra.insert("error".into(), json!("rate_limit"));
        extra.insert("apiError".into(), json!("usage_limit_reached"));
        extra.insert("apiErrorParams".into(), json!({ "rate_limit_info": info }));
        extra.insert(
            "quotaLimits".into(),
            json!({"status": "rejected", "resetsAt": reset,
                   "unifiedRateLimitFallbackAvailable": false,
                   "rateLimitType": claim, "isUsingOverage": false}),
        );
        self.transcript
            .api_error(&line, 429, "rate_limit_error", extra)?;
        let when = texts::reset_when(reset, now, tz);
        if reset - now < 24 * 3600 {
            let notice = texts::auto_continue_line(reset, now, tz);
            shown.push(format!("● {notice}"));
            self.transcript.notice(&notice)?;
            self.auto_continue_at = Some(reset);
            self.screen.notices = vec![
                format!("⚠ Usage limit reached · limit resets {when}"),
                format!(
                    "  Continuing automatically at {when} · Esc to cancel · /usage-credits to continue now"
                ),
            ];
        } else {
            self.screen.menu = Some(vec![
                "❯ /rate-limit-options".to_owned(),
                "  What do you want to do?".to_owned(),
                "  ❯ 1. Stop and wait for limit to reset".to_owned(),
                format!("    2. Wait here, then continue automatically at {when}"),
                "    3. Switch to usage credits".to_owned(),
                "    4. Upgrade your plan".to_owned(),
                "  Enter to confirm · Esc to cancel".to_owned(),
            ]);
        }
        Ok(shown)
    }

    /// Puts the near-limit warning in the footer when the answer carried one.
    fn near_limit_notice(&mut self, rate: &RateInfo) {
        if rate.status.as_deref() != Some("allowed_warning") {
            return;
        }
        let claim = rate.claim.as_deref().unwrap_or("five_hour");
        let window = if claim == "five_hour" {
            "five_hour"
        } else {
            "seven_day"
        };
        let Some(usage) = rate.windows.get(window) else {
            return;
        };
        let now = jiff::Timestamp::now().as_second();
        let line = texts::near_limit_line(
            claim,
            usage.used_percentage as u32,
            usage.resets_at,
            now,
            &self.env.tz,
        );
        self.screen.notices.push(line);
    }

    fn note_rate(&mut self, rate: &RateInfo) {
        for (window, usage) in &rate.windows {
            self.rate_limits.insert(
                (*window).to_owned(),
                json!({"used_percentage": usage.used_percentage.round() as i64, "resets_at": usage.resets_at}),
            );
        }
    }

    /// Runs the `statusLine` command of `settings.json` with the statusline JSON, and
    /// shows its first line of output.
    fn statusline(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        let Some(command) = statusline_command(&self.env.config_dir) else {
            return Ok(());
        };
        let cwd = self.env.cwd.display().to_string();
        let mut payload = json!({
            "session_id": self.session_id,
            "transcript_path": self.transcript.path().display().to_string(),
            "cwd": cwd,
            "model": {"id": MODEL_ID, "display_name": "Opus 5.5"},
            "workspace": {"current_dir": cwd, "project_dir": cwd},
            "version": VERSION,
        });
        if !self.rate_limits.is_empty() {
            payload["rate_limits"] = Value::Object(self.rate_limits.clone());
        }
        let output = self
            .rt
            .block_on(run_statusline(&command, &self.env.cwd, &payload));
        let first = output
            .lines()
            .next()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned);
        if first != self.screen.statusline {
            self.screen.statusline = first;
            self.screen.redraw(out)?;
        }
        Ok(())
    }
}

enum Next {
    Prompt(String),
    Continue,
    Eof,
}

/// The screen lines and the API history of a conversation read back from its transcript
/// (`--resume`, `/resume`).
fn replay(past: &[PastLine]) -> (Vec<String>, Vec<Value>) {
    let mut shown = Vec::new();
    let mut history = Vec::new();
    for line in past {
        match line {
            PastLine::User(t) => {
                shown.extend([String::new(), format!("❯ {t}")]);
                history.push(json!({"role": "user", "content": t}));
            }
            PastLine::Assistant(t) => {
                shown.extend([String::new(), format!("● {t}")]);
                history.push(json!({"role": "assistant", "content": t}));
            }
            // Old API errors (a quota hit on the account the session left) are not shown
            // again: on this account they are stale, and a pane reader would take them for
            // news.
            PastLine::ApiError(_) => {}
        }
    }
    (shown, history)
}

fn read_keys(
    mut input: Box<dyn Read + Send>,
    tx: &mpsc::UnboundedSender<Key>,
    mut reader: PromptReader,
) {
    let mut buf = [0u8; 4096];
    loop {
        match input.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                for key in reader.feed_keys(&buf[..n]) {
                    if tx.send(key).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Runs `work` to its end while the input box stays live: typing is drawn, prompts
/// submitted meanwhile are queued for after the turn.
fn busy<T>(
    rt: &tokio::runtime::Runtime,
    keys: &mut Keys,
    screen: &mut Screen,
    out: &mut dyn Write,
    work: impl Future<Output = T>,
) -> T {
    rt.block_on(async {
        tokio::pin!(work);
        loop {
            tokio::select! {
                r = &mut work => return r,
                key = keys.next(), if !keys.closed => match key {
                    Some(Key::Edit(text)) => {
                        screen.input = text;
                        let _ = screen.redraw(out);
                    }
                    Some(Key::Submit(p)) => {
                        if !p.is_empty() {
                            keys.queued.push_back(p);
                        }
                        screen.input.clear();
                        let _ = screen.redraw(out);
                    }
                    Some(Key::Escape | Key::Eof) | None => {}
                },
            }
        }
    })
}

/// The `accessToken` of `<dir>/.credentials.json`, if any.
fn read_token(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".credentials.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["claudeAiOauth"]["accessToken"]
        .as_str()
        .map(str::to_owned)
}

fn statusline_command(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("settings.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["statusLine"]["command"].as_str().map(str::to_owned)
}

async fn run_statusline(command: &str, cwd: &Path, payload: &Value) -> String {
    use tokio::io::AsyncWriteExt;
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else {
        return String::new();
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(payload.to_string().as_bytes()).await;
    }
    match tokio::time::timeout(Duration::from_secs(5), child.wait_with_output()).await {
        Ok(Ok(o)) => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_session_flags() {
        let id = "0b0b0b0b-1111-4222-8333-444444444444";
        assert_eq!(
            parse_args(&args(&["--session-id", id])),
            Ok(SessionChoice::New(id.into()))
        );
        assert_eq!(
            parse_args(&args(&["--resume", id])),
            Ok(SessionChoice::Resume(id.into()))
        );
        assert!(parse_args(&args(&["--resume", "nope"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
        let prefilled = args(&["--resume", id, "--prefill=-- half\na thought"]);
        assert_eq!(
            parse_args(&prefilled),
            Ok(SessionChoice::Resume(id.to_owned()))
        );
        assert_eq!(
            prefill_of(&prefilled).as_deref(),
            Some("-- half\na thought")
        );
        assert_eq!(
            prefill_of(&args(&["--prefill", "x", "--session-id", id])).as_deref(),
            Some("x")
        );
        assert_eq!(prefill_of(&args(&["--session-id", id])), None);
        assert!(matches!(parse_args(&args(&["--version"])), Err((_, 0))));
    }
}
