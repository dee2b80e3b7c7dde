//! `claude-failover-record-fixtures`: records quota-detector fixtures from the real Claude
//! Code CLI, driven in a private tmux server against the mock API.
//!
//! For every scenario it starts one CLI on a throwaway account, has one normal exchange,
//! switches the account's mode on the mock (the truth), sends a second prompt, and records
//! the pane at several widths (resizing the same window: the CLI redraws at the new width),
//! the transcript lines and the statusline JSON. Each file gets `<stem>.expected.json`,
//! written from the scenario's truth, never from a detector. `scripts/record-fixtures.sh`
//! runs it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use failover_sim::accounts::{AccountDir, allow_tools, install_statusline, make_account_dir};
use failover_sim::drive::submit_prompt;
use failover_sim::mock_api::{ClaimWindow, LIMIT_QUOTES, MockApi, MockApiConfig, Mode, ack_text};
use failover_sim::tmux::{PrivateTmux, squash_ws};
use serde_json::{Value, json};

/// Records quota fixtures from the real Claude Code CLI.
#[derive(Debug, Parser)]
struct Args {
    /// The claude binary (default: $CLAUDE_FAILOVER_REAL_CLAUDE, then
    /// ~/.cache/claude-failover/claude-bin).
    #[arg(long)]
    claude: Option<PathBuf>,
    /// Where the fixtures go.
    #[arg(long, default_value = "failover-core/tests/fixtures/quota/recorded")]
    out: PathBuf,
    /// Record only these scenarios (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Pane widths, largest first.
    #[arg(long, value_delimiter = ',', default_value = "200,120,80,60")]
    widths: Vec<u16>,
    /// Keep the throwaway accounts and project dir (printed at the end).
    #[arg(long)]
    keep_work: bool,
}

const HEIGHT: u16 = 50;
const FIRST_PROMPT: &str = "Summarise the build log in one line please";
const SECOND_PROMPT: &str = "Refactor the parser module and run the tests again";
const THIRD_PROMPT: &str = "Now update the changelog for the parser work";
const TRAP_PROMPT: &str = "What do the usage limit messages look like?";
/// While a trap's tool output is captured, the mock holds the answer after the tool this
/// long (Claude Code folds a finished shell call into `Ran 1 shell command` once the turn
/// ends).
const TOOL_OUTPUT_HOLD: Duration = Duration::from_secs(15);

/// The truth one recorded file is labelled with.
#[derive(Debug, Clone, Copy)]
struct Label {
    verdict: &'static str,
    window: Option<ClaimWindow>,
    resets_at: Option<u64>,
    used_percent: Option<f64>,
    /// A trap whose pane the transcript's ordinary reply vetoes.
    vetoed_by_transcript: bool,
}

impl Label {
    /// A window used up: the whole account for the five-hour and weekly windows, but only
    /// that model's room for a weekly Opus or Sonnet cap (`near_limit` at 100 %: the account
    /// still serves the other models).
    fn spent(window: ClaimWindow, resets_at: u64, used_percent: Option<f64>) -> Self {
        let model_scoped = matches!(
            window,
            ClaimWindow::SevenDayOpus | ClaimWindow::SevenDaySonnet
        );
        Self {
            verdict: if model_scoped {
                "near_limit"
            } else {
                "quota_exhausted"
            },
            window: Some(window),
            resets_at: Some(resets_at),
            used_percent: if model_scoped {
                Some(100.0)
            } else {
                used_percent
            },
            vetoed_by_transcript: false,
        }
    }

    const CLEAR: Self = Self {
        verdict: "clear",
        window: None,
        resets_at: None,
        used_percent: None,
        vetoed_by_transcript: false,
    };
    const TRAP: Self = Self {
        vetoed_by_transcript: true,
        ..Self::CLEAR
    };
    const TRANSIENT: Self = Self {
        verdict: "transient",
        ..Self::CLEAR
    };
    const AUTH: Self = Self {
        verdict: "auth_required",
        ..Self::CLEAR
    };

    fn to_json(self, observed_at: u64) -> Value {
        let mut v = json!({
            "verdict": self.verdict,
            "window": self.window.map(|w| w.limit_window().as_str()),
            "resets_at": self.resets_at.map(rfc3339),
            "used_percent": self.used_percent,
            "observed_at": rfc3339_ms(observed_at),
        });
        if self.vetoed_by_transcript {
            v["vetoed_by"] = json!("transcript");
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Clear,
    Quota(ClaimWindow, u64),
    NearLimit(ClaimWindow, f64, u64),
    Transient(Mode, &'static str),
    Auth,
    Stale,
    /// The model's reply quotes Claude Code's limit messages: no limit (a trap).
    QuotedLimits,
    /// A `Bash` tool call prints them: no limit (a trap), captured while the output shows.
    PrintedLimits,
}

#[derive(Debug)]
struct Scenario {
    name: &'static str,
    tz: &'static str,
    kind: Kind,
}

impl Scenario {
    /// What must be on screen once the scenario has played out.
    fn marker(&self) -> String {
        match self.kind {
            Kind::Clear => ack_text(FIRST_PROMPT),
            Kind::Quota(..) => "You've hit your".into(),
            Kind::NearLimit(..) => "% of your".into(),
            Kind::Transient(_, marker) => marker.into(),
            Kind::Auth => "Please run /login".into(),
            Kind::Stale => ack_text(THIRD_PROMPT),
            Kind::QuotedLimits => ack_text(TRAP_PROMPT),
            // The third line: Claude Code shows the first three lines of a tool output.
            Kind::PrintedLimits => LIMIT_QUOTES[2].into(),
        }
    }
}

fn scenarios(now: u64) -> Vec<Scenario> {
    // Whole minutes: the screen shows minutes, so the truth is exactly representable.
    let at = |secs: u64| (now + secs) / 60 * 60;
    vec![
        Scenario {
            name: "clear",
            tz: "UTC",
            kind: Kind::Clear,
        },
        Scenario {
            name: "five_hour",
            tz: "UTC",
            kind: Kind::Quota(ClaimWindow::FiveHour, at(3 * 3600 + 1800)),
        },
        Scenario {
            name: "weekly",
            tz: "America/New_York",
            kind: Kind::Quota(ClaimWindow::SevenDay, at(4 * 86400 + 5 * 3600)),
        },
        Scenario {
            name: "weekly_opus",
            tz: "Asia/Kolkata",
            kind: Kind::Quota(ClaimWindow::SevenDayOpus, at(2 * 86400 + 7 * 3600)),
        },
        Scenario {
            name: "weekly_sonnet",
            tz: "Europe/Warsaw",
            kind: Kind::Quota(ClaimWindow::SevenDaySonnet, at(5 * 3600)),
        },
        Scenario {
            name: "near_limit_92",
            tz: "UTC",
            kind: Kind::NearLimit(ClaimWindow::FiveHour, 0.92, at(2 * 3600)),
        },
        Scenario {
            name: "server_error_500",
            tz: "UTC",
            kind: Kind::Transient(Mode::ServerError, "500 Internal server error"),
        },
        Scenario {
            name: "overloaded_529",
            tz: "UTC",
            kind: Kind::Transient(Mode::Overloaded, "529 Overloaded"),
        },
        Scenario {
            name: "throttled_429",
            tz: "UTC",
            kind: Kind::Transient(
                Mode::Throttled {
                    retry_after_secs: 5,
                },
                "retrying in",
            ),
        },
        Scenario {
            name: "auth_401",
            tz: "UTC",
            kind: Kind::Auth,
        },
        Scenario {
            name: "stale_quota_then_reply",
            tz: "UTC",
            kind: Kind::Stale,
        },
        Scenario {
            name: "trap_quoted_limits",
            tz: "UTC",
            kind: Kind::QuotedLimits,
        },
        Scenario {
            name: "trap_printed_limits",
            tz: "UTC",
            kind: Kind::PrintedLimits,
        },
    ]
}

/// A transient scenario whose CLI is still retrying; finished after the others.
struct Pending {
    name: &'static str,
    account: AccountDir,
    session_id: String,
    started: Instant,
}

struct World {
    rt: tokio::runtime::Runtime,
    api: MockApi,
    tmux: PrivateTmux,
    claude: PathBuf,
    work: PathBuf,
    project: PathBuf,
    out: PathBuf,
    widths: Vec<u16>,
    /// Pids of every CLI started, to wait for their exit before the work dir goes.
    pids: std::cell::RefCell<Vec<u32>>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let claude = find_claude(args.claude.clone())?;
    let version = std::process::Command::new(&claude)
        .arg("--version")
        .env("DISABLE_AUTOUPDATER", "1")
        .output()
        .with_context(|| format!("cannot run {}", claude.display()))?;
    if !version.status.success() {
        bail!("{} --version failed: {}", claude.display(), version.status);
    }
    eprintln!(
        "recording with {} ({})",
        claude.display(),
        String::from_utf8_lossy(&version.stdout).trim()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let api = rt.block_on(MockApi::start(MockApiConfig::local(Vec::new())))?;
    let work = std::env::temp_dir().join(format!("cf-rec-{}", std::process::id()));
    let project = work.join("project");
    fs::create_dir_all(&project)?;
    fs::create_dir_all(&args.out)?;
    let world = World {
        rt,
        api,
        tmux: PrivateTmux::new("cf-record"),
        claude,
        work: work.clone(),
        project,
        out: args.out.clone(),
        widths: args.widths.clone(),
        pids: std::cell::RefCell::new(Vec::new()),
    };
    // One idle session keeps the server up while scenario sessions come and go.
    world.tmux.new_session(
        "keeper",
        80,
        24,
        &world.project,
        &[],
        &["tail".into(), "-f".into(), "/dev/null".into()],
    )?;
    let result = record_all(&world, &args.only);
    let pids = world.pids.take();
    drop(world);
    // A CLI writes into its config dir while it exits; let it finish first.
    let deadline = Instant::now() + Duration::from_secs(15);
    while pids
        .iter()
        .any(|p| Path::new(&format!("/proc/{p}")).exists())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    if args.keep_work {
        eprintln!("work dir kept: {}", work.display());
    } else {
        fs::remove_dir_all(&work).ok();
    }
    result
}

fn record_all(world: &World, only: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut pending = Vec::new();
    let mut failed = Vec::new();
    for scenario in scenarios(now_secs()) {
        if !only.is_empty() && !only.iter().any(|o| o == scenario.name) {
            continue;
        }
        let t = Instant::now();
        match world.record(&scenario) {
            Ok(Some(p)) => pending.push(p),
            Ok(None) => {}
            Err(e) => {
                // The others still get recorded (transient ones are finished below).
                eprintln!("FAILED {}: {e:#}", scenario.name);
                failed.push(scenario.name);
                world.tmux.run(&["kill-session", "-t", scenario.name]).ok();
                continue;
            }
        }
        eprintln!("recorded {} in {:.1?}", scenario.name, t.elapsed());
    }
    for p in pending {
        let t = Instant::now();
        world
            .finish_transient(&p)
            .with_context(|| format!("scenario {} (final)", p.name))?;
        eprintln!("finished {} in {:.1?}", p.name, t.elapsed());
    }
    if !failed.is_empty() {
        bail!("scenarios not recorded: {}", failed.join(", "));
    }
    eprintln!("all fixtures recorded in {:.1?}", started.elapsed());
    Ok(())
}

impl World {
    fn record(&self, sc: &Scenario) -> anyhow::Result<Option<Pending>> {
        self.remove_old(sc.name)?;
        let token = format!("tok-{}", sc.name);
        let account = make_account_dir(
            &self.work.join(sc.name),
            &token,
            std::slice::from_ref(&self.project),
        )?;
        let statusline_file = account.dir.join("statusline.json");
        if sc.kind == Kind::PrintedLimits {
            allow_tools(&account.dir, &["Bash(printf:*)"])?;
        }
        install_statusline(
            &account.dir,
            &format!(
                "cat > '{0}.tmp' && mv '{0}.tmp' '{0}'",
                statusline_file.display()
            ),
        )?;
        self.api.set_mode(&token, Mode::Normal);
        let session_id = uuid::Uuid::new_v4().to_string();
        let target = sc.name;
        let widest = self.widths.first().copied().unwrap_or(200);
        self.tmux.new_session(
            target,
            widest,
            HEIGHT,
            &self.project,
            &[
                ("CLAUDE_CONFIG_DIR", account.dir.display().to_string()),
                ("ANTHROPIC_BASE_URL", self.api.base_url()),
                ("DISABLE_AUTOUPDATER", "1".into()),
                ("TZ", sc.tz.into()),
            ],
            &[
                self.claude.display().to_string(),
                "--session-id".into(),
                session_id.clone(),
            ],
        )?;
        let pid = self
            .tmux
            .run(&["display-message", "-p", "-t", target, "#{pane_pid}"])?;
        if let Ok(pid) = pid.trim().parse() {
            self.pids.borrow_mut().push(pid);
        }
        // Ready: the start-up probe has been answered and the prompt is drawn.
        self.rt
            .block_on(self.api.wait_for_request(Duration::from_secs(60), |r| {
                r.token.as_deref() == Some(token.as_str())
                    && r.last_user_text.as_deref() == Some("quota")
            }))?;
        self.tmux
            .wait_for(target, "the prompt", Duration::from_secs(30), |s| {
                s.contains("Claude Code v") && s.contains('❯')
            })?;
        self.exchange(target, &token, FIRST_PROMPT, &ack_text(FIRST_PROMPT))?;

        match sc.kind {
            Kind::Clear => {}
            Kind::Quota(window, resets_at) => {
                self.api
                    .set_mode(&token, Mode::QuotaExhausted { window, resets_at });
                self.exchange(target, &token, SECOND_PROMPT, &sc.marker())?;
            }
            Kind::NearLimit(window, utilization, resets_at) => {
                self.api.set_mode(
                    &token,
                    Mode::NearLimit {
                        window,
                        utilization,
                        resets_at,
                    },
                );
                self.exchange(target, &token, SECOND_PROMPT, &sc.marker())?;
            }
            Kind::Transient(mode, marker) => {
                self.api.set_mode(&token, mode);
                self.exchange(target, &token, SECOND_PROMPT, marker)?;
            }
            Kind::Auth => {
                self.api.set_mode(&token, Mode::Unauthorized);
                self.exchange(target, &token, SECOND_PROMPT, &sc.marker())?;
            }
            Kind::Stale => {
                let resets_at = (now_secs() + 3 * 3600) / 60 * 60;
                self.api.set_mode(
                    &token,
                    Mode::QuotaExhausted {
                        window: ClaimWindow::FiveHour,
                        resets_at,
                    },
                );
                self.exchange(
                    target,
                    &token,
                    SECOND_PROMPT,
                    "You've hit your 5-hour limit",
                )?;
                self.api.set_mode(&token, Mode::Normal);
                self.tmux.send_keys(target, &["Escape"])?;
                self.tmux.wait_for(
                    target,
                    "the automatic continue to be cancelled",
                    Duration::from_secs(15),
                    |s| s.contains("cancelled"),
                )?;
                self.exchange(target, &token, THIRD_PROMPT, &sc.marker())?;
            }
            Kind::QuotedLimits => {
                self.api.set_mode(&token, Mode::QuoteLimits);
                self.exchange(target, &token, TRAP_PROMPT, &sc.marker())?;
            }
            Kind::PrintedLimits => {
                self.api.set_mode(
                    &token,
                    Mode::PrintLimits {
                        hold_answer_secs: TOOL_OUTPUT_HOLD.as_secs(),
                    },
                );
                self.exchange(target, &token, TRAP_PROMPT, &sc.marker())?;
            }
        }

        let pane_label = match sc.kind {
            Kind::Clear | Kind::Stale => Label::CLEAR,
            Kind::QuotedLimits | Kind::PrintedLimits => Label::TRAP,
            Kind::Quota(window, resets_at) => Label::spent(window, resets_at, None),
            Kind::NearLimit(window, u, resets_at) => Label {
                verdict: "near_limit",
                window: Some(window),
                resets_at: Some(resets_at),
                used_percent: Some((u * 100.0).round()),
                vetoed_by_transcript: false,
            },
            Kind::Transient(..) => Label::TRANSIENT,
            Kind::Auth => Label::AUTH,
        };
        let settled = match sc.kind {
            Kind::Transient(..) => "attempt".to_owned(),
            _ => sc.marker(),
        };
        self.capture_widths(target, sc.name, &settled, pane_label)?;

        if let Kind::Transient(..) = sc.kind {
            return Ok(Some(Pending {
                name: sc.name,
                account,
                session_id,
                started: Instant::now(),
            }));
        }
        if sc.kind == Kind::PrintedLimits {
            // The answer after the tool's result ends the turn.
            self.tmux.wait_for(
                target,
                "the answer after the tool",
                TOOL_OUTPUT_HOLD * 3,
                |s| s.contains(&ack_text(TRAP_PROMPT)),
            )?;
        }
        let transcript_label = match sc.kind {
            Kind::Quota(..) | Kind::Auth => pane_label,
            _ => Label::CLEAR,
        };
        self.wait_statusline(sc, &statusline_file)?;
        self.save_transcript(sc.name, &account, &session_id, transcript_label)?;
        self.save_statusline(sc.name, &statusline_file, statusline_label(sc.kind))?;
        self.tmux.run(&["kill-session", "-t", target])?;
        Ok(None)
    }

    /// Types a prompt, submits it, and waits until `marker` is on screen.
    ///
    /// An Enter that the CLI swallowed while still drawing is sent again when the prompt
    /// has not reached the mock API within a few seconds.
    fn exchange(
        &self,
        target: &str,
        token: &str,
        prompt: &str,
        marker: &str,
    ) -> anyhow::Result<()> {
        self.rt.block_on(submit_prompt(
            &self.tmux,
            target,
            &self.api,
            token,
            prompt,
            Duration::from_secs(60),
        ))?;
        self.tmux
            .wait_for(target, marker, Duration::from_secs(60), |s| {
                squash_ws(s).contains(&squash_ws(marker))
            })?;
        Ok(())
    }

    /// Captures the pane at every width, plain and with ANSI escapes.
    fn capture_widths(
        &self,
        target: &str,
        name: &str,
        marker: &str,
        label: Label,
    ) -> anyhow::Result<()> {
        for &w in &self.widths {
            self.tmux.resize(target, w, HEIGHT)?;
            let want = w.to_string();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let width =
                    self.tmux
                        .run(&["display-message", "-p", "-t", target, "#{pane_width}"])?;
                if width.trim() == want {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("pane never reached width {w}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // The CLI redraws on SIGWINCH; give it time to finish before capturing.
            std::thread::sleep(Duration::from_millis(900));
            // The CLI may shorten a line to fit (`500 Internal server err…`): a missing
            // marker is worth a warning, not a lost capture.
            if let Err(e) = self
                .tmux
                .wait_for(target, marker, Duration::from_secs(3), |s| {
                    squash_ws(s).contains(&squash_ws(marker))
                })
            {
                eprintln!(
                    "warning: {name} at width {w}: {}",
                    first_line(&e.to_string())
                );
            }
            let observed = now_ms();
            let plain = self.tmux.capture(target, false)?;
            let ansi = self.tmux.capture(target, true)?;
            let stem = format!("{name}-w{w}");
            self.write(&format!("{stem}.txt"), &plain)?;
            self.write_expected(&stem, label, observed)?;
            self.write(&format!("{stem}.ansi.txt"), &ansi)?;
            self.write_expected(&format!("{stem}.ansi"), label, observed)?;
        }
        Ok(())
    }

    /// Waits for a transient scenario's retries to run out, then records its final screen,
    /// transcript and statusline.
    fn finish_transient(&self, p: &Pending) -> anyhow::Result<()> {
        let path = p.account.transcript_path(&self.project, &p.session_id);
        let deadline = p.started + Duration::from_secs(400);
        loop {
            let text = fs::read_to_string(&path).unwrap_or_default();
            if text.contains("\"isApiErrorMessage\":true") {
                break;
            }
            if Instant::now() > deadline {
                bail!("the CLI never gave up retrying (no API error line in the transcript)");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let w = 80;
        self.tmux.resize(p.name, w, HEIGHT)?;
        std::thread::sleep(Duration::from_millis(1200));
        let observed = now_ms();
        let stem = format!("{}_final-w{w}", p.name);
        self.write(&format!("{stem}.txt"), &self.tmux.capture(p.name, false)?)?;
        self.write_expected(&stem, Label::TRANSIENT, observed)?;
        self.save_transcript(p.name, &p.account, &p.session_id, Label::TRANSIENT)?;
        self.save_statusline(p.name, &p.account.dir.join("statusline.json"), Label::CLEAR)?;
        self.tmux.run(&["kill-session", "-t", p.name])?;
        Ok(())
    }

    /// For quota and near-limit scenarios, waits until the statusline shows the truth
    /// (the window at the used share the mock reported).
    fn wait_statusline(&self, sc: &Scenario, file: &Path) -> anyhow::Result<()> {
        let label = statusline_label(sc.kind);
        if label.window.is_none_or(|w| w.header_prefix().is_none()) {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while !statusline_shows(&fs::read_to_string(file).unwrap_or_default(), label) {
            if Instant::now() > deadline {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// Copies the conversation lines of the transcript (dropping the bulky request
    /// snapshots and context attachments, which carry no signal).
    fn save_transcript(
        &self,
        name: &str,
        account: &AccountDir,
        session_id: &str,
        label: Label,
    ) -> anyhow::Result<()> {
        let path = account.transcript_path(&self.project, session_id);
        let observed = now_ms();
        let text = fs::read_to_string(&path)
            .with_context(|| format!("reading transcript {}", path.display()))?;
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| {
                serde_json::from_str::<Value>(line).is_ok_and(|v| {
                    let t = v["type"].as_str().unwrap_or("");
                    !matches!(t, "attachment" | "file-history-snapshot")
                        && !t.starts_with("api-request")
                })
            })
            .collect();
        let stem = format!("{name}.transcript");
        self.write(&format!("{stem}.jsonl"), &(kept.join("\n") + "\n"))?;
        self.write_expected(&stem, label, observed)
    }

    /// Copies the last statusline JSON. A quota or near-limit label needs the window in
    /// `rate_limits` (the CLI fills only `five_hour` and `seven_day` from response
    /// headers); without it the file is not saved, as it cannot carry that truth.
    fn save_statusline(&self, name: &str, file: &Path, label: Label) -> anyhow::Result<()> {
        let observed = now_ms();
        let Ok(text) = fs::read_to_string(file) else {
            eprintln!("warning: {name}: no statusline JSON was written");
            return Ok(());
        };
        if !statusline_shows(&text, label) {
            eprintln!(
                "note: {name}: the last statusline JSON does not show the scenario's usage; not saved"
            );
            return Ok(());
        }
        let stem = format!("{name}.statusline");
        self.write(&format!("{stem}.json"), &text)?;
        self.write_expected(&stem, label, observed)
    }

    /// Removes the files an earlier run recorded for scenario `name`, so that a file this
    /// run does not produce cannot linger with an outdated label.
    fn remove_old(&self, name: &str) -> anyhow::Result<()> {
        let prefixes = [
            format!("{name}-w"),
            format!("{name}."),
            format!("{name}_final-w"),
        ];
        for entry in fs::read_dir(&self.out)? {
            let entry = entry?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| file.starts_with(p.as_str())) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    fn write(&self, file: &str, text: &str) -> anyhow::Result<()> {
        let path = self.out.join(file);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    fn write_expected(&self, stem: &str, label: Label, observed_ms: u64) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(&label.to_json(observed_ms))? + "\n";
        self.write(&format!("{stem}.expected.json"), &text)
    }
}

/// What the statusline tells of each scenario once it has played out.
fn statusline_label(kind: Kind) -> Label {
    match kind {
        Kind::Quota(window, resets_at) => Label::spent(window, resets_at, Some(100.0)),
        Kind::NearLimit(window, u, resets_at) => Label {
            verdict: "near_limit",
            window: Some(window),
            resets_at: Some(resets_at),
            used_percent: Some((u * 100.0).round()),
            vetoed_by_transcript: false,
        },
        _ => Label::CLEAR,
    }
}

/// Whether a statusline JSON carries `label`'s window at its used share (always true for
/// labels without a window).
fn statusline_shows(text: &str, label: Label) -> bool {
    let Some(window) = label.window else {
        return serde_json::from_str::<Value>(text).is_ok();
    };
    serde_json::from_str::<Value>(text).is_ok_and(|v| {
        let w = &v["rate_limits"][window.claim()];
        w["used_percentage"].as_f64() == label.used_percent
            && w["resets_at"].as_u64() == label.resets_at
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn find_claude(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = arg {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("CLAUDE_FAILOVER_REAL_CLAUDE") {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let file = Path::new(&home).join(".cache/claude-failover/claude-bin");
    let text = fs::read_to_string(&file).with_context(|| {
        format!(
            "no claude binary: pass --claude, set CLAUDE_FAILOVER_REAL_CLAUDE, or run scripts/setup.sh ({} missing)",
            file.display()
        )
    })?;
    Ok(PathBuf::from(text.trim()))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn now_secs() -> u64 {
    now_ms() / 1000
}

fn rfc3339(secs: u64) -> String {
    jiff::Timestamp::from_second(secs as i64)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn rfc3339_ms(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
