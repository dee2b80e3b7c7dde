//! A stand-in for the `claude` CLI, for machines without the real one (the `demo`, fast
//! tests).
//!
//! It behaves like Claude Code 2.1.328 as far as the failover engine can tell: the same
//! command line for sessions (`--session-id <uuid>`, `--resume <uuid>`), the same config
//! dir (`CLAUDE_CONFIG_DIR`: `.credentials.json`, `settings.json`, `projects/`), the same
//! requests to `ANTHROPIC_BASE_URL` (bearer token, `X-Claude-Code-Session-Id`, streamed
//! `/v1/messages?beta=true` carrying the whole history), the same screen texts (`❯ `
//! prompt, `esc to interrupt` while working, `● ` replies, the quota, near-limit, retry and
//! login texts), the same transcript lines (including the synthetic API-error line), and
//! the `statusLine` command fed the statusline JSON with `rate_limits` after each turn.
//!
//! It is line-based: the terminal stays in cooked mode, one line is one prompt (bracketed
//! pastes may span lines), `/exit` or Ctrl-D ends it. It speaks plain HTTP only, which is
//! all the mock API needs.
//!
//! Where it differs from the real CLI, on purpose:
//! - no full-screen drawing: no input box or footer; `✻ Working… · esc to interrupt` is one
//!   line, replaced by the answer; the near-limit warning and the statusline output are
//!   printed under the answer instead of in the footer;
//! - Esc does nothing (cooked mode): a quota wait can only end at the reset, by `/exit` or
//!   by Ctrl-D; a weekly quota prints the `/rate-limit-options` choices as text;
//! - no title request, no tools; the reported version is [`VERSION`];
//! - retries wait 1, 2, 4 … 32 s (`CLAUDE_CODE_MAX_RETRIES` attempts, 10 by default), then
//!   show the final `API Error: …` text, as the real CLI does.

mod api;
mod input;
pub mod texts;
mod transcript;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};

pub use api::{ApiClient, Outcome, RateInfo, WindowUsage, parse_sse};
pub use input::PromptReader;
pub use transcript::{PastLine, Transcript};

use super::accounts::mangle_project_path;

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
            other => return Err((format!("error: unknown option '{other}'"), 1)),
        }
    }
    Ok(choice.unwrap_or_else(|| SessionChoice::New(uuid::Uuid::new_v4().to_string())))
}

/// Runs the stand-in: reads prompts from `input`, draws on `out`, and returns the exit
/// code.
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
    match Standin::start(choice, env, out) {
        Ok(Some(mut s)) => s.repl(input, out),
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
}

impl Standin {
    /// Sets up the session and draws the start screen; `Ok(None)` when it cannot run
    /// (the reason is on screen).
    fn start(
        choice: SessionChoice,
        env: StandinEnv,
        out: &mut dyn Write,
    ) -> std::io::Result<Option<Self>> {
        let (session_id, resume) = match choice {
            SessionChoice::New(id) => (id, false),
            SessionChoice::Resume(id) => (id, true),
        };
        let path = env
            .config_dir
            .join("projects")
            .join(mangle_project_path(&env.cwd))
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
        let mut history = Vec::new();
        for line in &past {
            writeln!(out)?;
            match line {
                PastLine::User(t) => {
                    writeln!(out, "❯ {t}")?;
                    history.push(json!({"role": "user", "content": t}));
                }
                PastLine::Assistant(t) => {
                    writeln!(out, "● {t}")?;
                    history.push(json!({"role": "assistant", "content": t}));
                }
                PastLine::ApiError(t) => writeln!(out, "  ⎿  {t}")?,
            }
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
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || read_prompts(input, &tx));
        loop {
            let _ = write!(out, "\n❯ ");
            let _ = out.flush();
            let prompt = match self.next_prompt(&rx) {
                Next::Prompt(p) => p,
                Next::Continue => {
                    let _ = writeln!(out, "\n● Usage limit reset · Continuing automatically");
                    let _ = self
                        .transcript
                        .notice("Usage limit reset · Continuing automatically");
                    CONTINUE_TEXT.to_owned()
                }
                Next::Eof => break,
            };
            if prompt == "/exit" {
                break;
            }
            if let Err(e) = self.turn(&prompt, out) {
                let _ = writeln!(out, "\nerror: {e}");
                return 1;
            }
        }
        let _ = writeln!(
            out,
            "\nResume this session with:\nclaude --resume {}\x1b[?2004l",
            self.session_id
        );
        let _ = out.flush();
        0
    }

    fn next_prompt(&mut self, rx: &mpsc::Receiver<String>) -> Next {
        let Some(at) = self.auto_continue_at else {
            return rx.recv().map_or(Next::Eof, Next::Prompt);
        };
        let wait = u64::try_from(at - jiff::Timestamp::now().as_second()).unwrap_or(0);
        match rx.recv_timeout(Duration::from_secs(wait)) {
            Ok(p) => {
                self.auto_continue_at = None;
                Next::Prompt(p)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.auto_continue_at = None;
                Next::Continue
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Next::Eof,
        }
    }

    /// One prompt: request (with retries), screen, transcript, statusline.
    fn turn(&mut self, prompt: &str, out: &mut dyn Write) -> std::io::Result<()> {
        self.transcript.user(prompt)?;
        self.history
            .push(json!({"role": "user", "content": prompt}));
        let max = self.env.max_retries;
        let mut attempt = 0u32;
        loop {
            write!(out, "\n✻ Working… · esc to interrupt")?;
            out.flush()?;
            let outcome = self.rt.block_on(self.client.send(&self.history, 32000));
            write!(out, "\r\x1b[2K")?;
            let retry_status = match outcome {
                Outcome::Reply {
                    text,
                    id,
                    model,
                    request_id,
                    rate,
                } => {
                    writeln!(out, "● {text}")?;
                    self.note_rate(&rate);
                    self.near_limit_notice(&rate, out)?;
                    self.transcript
                        .assistant(&text, &id, &model, request_id.as_deref())?;
                    self.history
                        .push(json!({"role": "assistant", "content": text}));
                    break;
                }
                Outcome::Error {
                    status: 429,
                    ref rate,
                    ..
                } if rate.status.as_deref() == Some("rejected") => {
                    self.note_rate(rate);
                    self.quota(rate, out)?;
                    break;
                }
                Outcome::Error {
                    status: 401,
                    message,
                    kind,
                    ..
                } => {
                    let text = texts::auth_error(&message);
                    writeln!(out, "● {text}")?;
                    let mut extra = Map::new();
                    extra.insert("error".into(), json!("authentication_failed"));
                    self.transcript.api_error(&text, 401, &kind, extra)?;
                    break;
                }
                Outcome::Error {
                    status,
                    message,
                    kind,
                    ..
                } if !matches!(status, 429 | 500..=599) => {
                    let text = format!("API Error: {status} {message}");
                    writeln!(out, "● {text}")?;
                    self.transcript
                        .api_error(&text, status, &kind, Map::new())?;
                    break;
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
                writeln!(out, "● {text}")?;
                let mut extra = Map::new();
                if status == Some(429) {
                    extra.insert("apiErrorIsTransient".into(), json!(true));
                }
                self.transcript
                    .api_error(&text, status.unwrap_or(0), &kind, extra)?;
                break;
            }
            let wait = self.env.retry_base * 2u32.pow((attempt - 1).min(5));
            write!(
                out,
                "✻ {} · retrying in {}s · attempt {attempt}/{max}",
                texts::retry_name(status),
                wait.as_secs().max(1)
            )?;
            if status == Some(529) {
                write!(
                    out,
                    "\n  ⎿  If it persists, check your inference gateway ({}).",
                    self.client.host()
                )?;
            }
            out.flush()?;
            std::thread::sleep(wait);
            write!(out, "\r\x1b[2K")?;
            if status == Some(529) {
                write!(out, "\x1b[1A\r\x1b[2K")?;
            }
        }
        self.transcript.last_prompt(prompt)?;
        self.statusline(out)
    }

    fn quota(&mut self, rate: &RateInfo, out: &mut dyn Write) -> std::io::Result<()> {
        let now = jiff::Timestamp::now().as_second();
        let claim = rate.claim.clone().unwrap_or_else(|| "five_hour".into());
        let reset = rate.reset.unwrap_or(now);
        let tz = &self.env.tz;
        let line = texts::quota_line(&claim, reset, now, tz);
        writeln!(out, "  ⎿  {line}")?;
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
        if reset - now < 24 * 3600 {
            let notice = texts::auto_continue_line(reset, now, tz);
            writeln!(out, "\n● {notice}")?;
            self.transcript.notice(&notice)?;
            self.auto_continue_at = Some(reset);
        } else {
            let when = texts::reset_when(reset, now, tz);
            writeln!(out, "\n  What do you want to do?")?;
            writeln!(out, "  ❯ 1. Stop and wait for limit to reset")?;
            writeln!(
                out,
                "    2. Wait here, then continue automatically at {when}"
            )?;
        }
        Ok(())
    }

    fn near_limit_notice(&self, rate: &RateInfo, out: &mut dyn Write) -> std::io::Result<()> {
        if rate.status.as_deref() != Some("allowed_warning") {
            return Ok(());
        }
        let claim = rate.claim.as_deref().unwrap_or("five_hour");
        let window = if claim == "five_hour" {
            "five_hour"
        } else {
            "seven_day"
        };
        let Some(usage) = rate.windows.get(window) else {
            return Ok(());
        };
        let now = jiff::Timestamp::now().as_second();
        let line = texts::near_limit_line(
            claim,
            usage.used_percentage as u32,
            usage.resets_at,
            now,
            &self.env.tz,
        );
        writeln!(out, "  {line}")
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
    fn statusline(&self, out: &mut dyn Write) -> std::io::Result<()> {
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
        if let Some(first) = output.lines().next().filter(|l| !l.trim().is_empty()) {
            writeln!(out, "  {first}")?;
        }
        Ok(())
    }
}

enum Next {
    Prompt(String),
    Continue,
    Eof,
}

fn read_prompts(mut input: Box<dyn Read + Send>, tx: &mpsc::Sender<String>) {
    let mut reader = PromptReader::new();
    let mut buf = [0u8; 4096];
    loop {
        match input.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                for p in reader.feed(&buf[..n]) {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
            }
        }
    }
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
        assert!(matches!(parse_args(&args(&["--version"])), Err((_, 0))));
    }
}
