//! The bundled stand-in `claude` in real tmux, talking to the mock API: prompts answered,
//! transcripts and statusline written, quota and retry screens, resume on another account.

use std::path::{Path, PathBuf};
use std::time::Duration;

use failover_sim::accounts::{AccountDir, install_statusline, make_account_dir};
use failover_sim::mock_api::{ClaimWindow, MockAccount, MockApi, MockApiConfig, Mode, ack_text};
use failover_sim::tmux::{PrivateTmux, claude_env, squash_ws};
use serde_json::Value;

const STANDIN: &str = env!("CARGO_BIN_EXE_claude-standin");
const WAIT: Duration = Duration::from_secs(20);

struct World {
    tmp: tempfile::TempDir,
    project: PathBuf,
    api: MockApi,
    tmux: PrivateTmux,
}

impl World {
    async fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("project");
        std::fs::create_dir_all(&project).unwrap();
        let api = MockApi::start(MockApiConfig::local(vec![
            MockAccount::new("tok-a", "a"),
            MockAccount::new("tok-b", "b"),
        ]))
        .await
        .unwrap();
        Self {
            tmp,
            project,
            api,
            tmux: PrivateTmux::new("sim-test"),
        }
    }

    fn account(&self, name: &str, token: &str) -> AccountDir {
        let acct = make_account_dir(
            &self.tmp.path().join(name),
            token,
            std::slice::from_ref(&self.project),
        )
        .unwrap();
        let file = self.statusline_file(name);
        install_statusline(&acct.dir, &format!("cat > '{}'", file.display())).unwrap();
        acct
    }

    fn statusline_file(&self, name: &str) -> PathBuf {
        self.tmp.path().join(format!("{name}-statusline.json"))
    }

    /// Starts the stand-in in tmux session `target` and waits until it has probed the API.
    async fn launch(&self, target: &str, acct: &AccountDir, args: &[&str]) {
        self.launch_with(target, acct, args, &[]).await;
    }

    async fn launch_with(
        &self,
        target: &str,
        acct: &AccountDir,
        args: &[&str],
        extra_env: &[(&'static str, String)],
    ) {
        let mut env = claude_env(&acct.dir, &self.api.base_url());
        env.extend_from_slice(extra_env);
        let mut command = vec![STANDIN.to_owned()];
        command.extend(args.iter().map(|a| (*a).to_owned()));
        self.tmux
            .new_session(target, 100, 40, &self.project, &env, &command)
            .unwrap();
        let token = acct.token.clone();
        self.api
            .wait_for_request(WAIT, |r| {
                r.token.as_deref() == Some(token.as_str())
                    && r.last_user_text.as_deref() == Some("quota")
            })
            .await
            .unwrap();
    }

    fn screen_shows(&self, target: &str, text: &str) -> String {
        let want = squash_ws(text);
        self.tmux
            .wait_for(target, text, WAIT, |s| squash_ws(s).contains(&want))
            .unwrap()
    }
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until `path` holds JSON satisfying `pred` (the statusline command rewrites it
/// after every turn) and returns it.
fn wait_json(path: &Path, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let v = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        if let Some(v) = v.filter(|v| pred(v)) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {what} in {path:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_through_the_mock_then_shows_the_quota_like_the_real_cli() {
    let w = World::new().await;
    let acct = w.account("a", "tok-a");
    let id = "0d0d0d0d-1111-4222-8333-444444444444";
    w.launch("s", &acct, &["--session-id", id]).await;
    w.screen_shows("s", "Claude Code v");

    let prompt = "explain why the integration test is flaky on CI";
    w.tmux.submit("s", prompt).unwrap();
    w.screen_shows("s", &format!("● {}", ack_text(prompt)));
    let req = w
        .api
        .wait_for_request(WAIT, |r| r.last_user_text.as_deref() == Some(prompt))
        .await
        .unwrap();
    assert_eq!(req.session_id.as_deref(), Some(id));
    assert_eq!(req.account.as_deref(), Some("a"));
    assert_eq!(req.status, 200);

    let transcript = acct.transcript_path(&w.project, id);
    let t = lines(&transcript);
    assert_eq!(t[0]["type"], "user");
    assert_eq!(t[0]["message"]["content"], prompt);
    assert_eq!(t[0]["sessionId"], id);
    assert_eq!(t[1]["type"], "assistant");
    assert_eq!(t[1]["message"]["content"][0]["text"], ack_text(prompt));
    assert_eq!(t[1]["parentUuid"], t[0]["uuid"]);
    assert_eq!(t[2]["type"], "last-prompt");
    assert_eq!(t[2]["lastPrompt"], prompt);
    let status = wait_json(&w.statusline_file("a"), "statusline JSON", |v| {
        v["session_id"] == id
    });
    assert_eq!(status["transcript_path"], transcript.display().to_string());
    assert_eq!(status["rate_limits"]["five_hour"]["used_percentage"], 10);

    let reset = (jiff::Timestamp::now().as_second() as u64 + 3 * 3600) / 60 * 60;
    w.api.set_mode(
        "a",
        Mode::QuotaExhausted {
            window: ClaimWindow::FiveHour,
            resets_at: reset,
        },
    );
    w.tmux.submit("s", "now refactor the parser").unwrap();
    w.screen_shows("s", "You've hit your 5-hour limit · resets");
    // The waiting notice is drawn a moment after the error.
    w.screen_shows("s", "● Usage limit reached · continuing automatically at");
    let err = lines(&transcript)
        .into_iter()
        .find(|l| l["isApiErrorMessage"] == true)
        .expect("a synthetic API error line");
    assert_eq!(err["message"]["model"], "<synthetic>");
    assert_eq!(err["apiErrorStatus"], 429);
    assert_eq!(err["apiErrorType"], "rate_limit_error");
    assert_eq!(err["error"], "rate_limit");
    assert_eq!(err["quotaLimits"]["rateLimitType"], "five_hour");
    assert_eq!(err["quotaLimits"]["resetsAt"], reset);
    assert!(
        err["message"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("You've hit your 5-hour limit · resets ")
    );
    // The statusline is re-run after the failed turn and reports the full window.
    let status = wait_json(&w.statusline_file("a"), "a full five-hour window", |v| {
        v["rate_limits"]["five_hour"]["used_percentage"] == 100
    });
    assert_eq!(status["rate_limits"]["five_hour"]["resets_at"], reset);

    w.tmux.submit("s", "/exit").unwrap();
    w.tmux
        .wait_for("s", "the stand-in to exit", WAIT, |_| {
            w.tmux.pane_dead("s").unwrap_or(false)
        })
        .unwrap();
    w.screen_shows("s", &format!("claude --resume {id}"));
}

/// The pane classifier the engine uses for the real CLI reads the stand-in's screens the
/// same way: idle at the prompt box, working while a turn runs (the mock holds the answer),
/// idle again once the reply is drawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pane_classifier_sees_idle_then_working_then_idle() {
    use failover_core::Activity;
    use failover_core::quota::activity_from_screen;

    let w = World::new().await;
    let a = w.account("a", "tok-a");
    w.launch("s", &a, &[]).await;
    let idle = |s: &str| activity_from_screen(s) == Some(Activity::Idle);
    let working = |s: &str| activity_from_screen(s) == Some(Activity::Working);
    w.tmux
        .wait_for("s", "an idle prompt box", WAIT, idle)
        .unwrap();

    w.api
        .set_delays(Duration::from_secs(3), Duration::from_millis(0));
    w.tmux.submit("s", "take your time").unwrap();
    let screen = w
        .tmux
        .wait_for("s", "a turn in progress", WAIT, working)
        .unwrap();
    assert!(screen.contains("❯ take your time"), "{screen}");
    let screen = w
        .tmux
        .wait_for("s", "idle after the reply", WAIT, |s| {
            s.contains("● ACK: take your time") && idle(s)
        })
        .unwrap();
    assert!(!screen.contains("esc to interrupt"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_on_another_account_with_the_same_session_and_history() {
    let w = World::new().await;
    let a = w.account("a", "tok-a");
    let b = w.account("b", "tok-b");
    let id = uuid::Uuid::new_v4().to_string();
    w.launch("a", &a, &["--session-id", &id]).await;
    w.tmux.submit("a", "first prompt on account a").unwrap();
    w.screen_shows("a", "● ACK: first prompt on account a");

    // B's projects tree holds the same transcript (as when both link one shared tree).
    let from = a.transcript_path(&w.project, &id);
    let to = b.transcript_path(&w.project, &id);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(&from, &to).unwrap();

    w.launch("b", &b, &["--resume", &id]).await;
    w.screen_shows("b", "❯ first prompt on account a");
    w.tmux.submit("b", "second prompt on account b").unwrap();
    w.screen_shows("b", "● ACK: second prompt on account b");
    let req = w
        .api
        .wait_for_request(WAIT, |r| {
            r.last_user_text.as_deref() == Some("second prompt on account b")
        })
        .await
        .unwrap();
    assert_eq!(req.account.as_deref(), Some("b"));
    assert_eq!(req.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        req.message_count,
        Some(3),
        "history travels with the resume"
    );
    let t = lines(&to);
    assert_eq!(t.len(), 6, "old lines kept, new ones appended");
    assert_eq!(t[3]["message"]["content"], "second prompt on account b");
}

/// `/resume <id>` typed into a stand-in started without a conversation (a standby) goes on
/// in that conversation, as Claude Code does: same session id, history sent, transcript
/// appended; an id it has no transcript of is answered on screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_typed_at_the_prompt_goes_on_in_that_conversation() {
    let w = World::new().await;
    let a = w.account("a", "tok-a");
    let b = w.account("b", "tok-b");
    let id = uuid::Uuid::new_v4().to_string();
    w.launch("a", &a, &["--session-id", &id]).await;
    w.tmux.submit("a", "first prompt on account a").unwrap();
    w.screen_shows("a", "● ACK: first prompt on account a");
    let from = a.transcript_path(&w.project, &id);
    let to = b.transcript_path(&w.project, &id);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(&from, &to).unwrap();

    w.launch("b", &b, &[]).await;
    let missing = uuid::Uuid::new_v4().to_string();
    w.tmux.submit("b", &format!("/resume {missing}")).unwrap();
    w.screen_shows("b", &format!("Session {missing} was not found."));
    w.tmux.submit("b", &format!("/resume {id}")).unwrap();
    let screen = w.screen_shows("b", "❯ first prompt on account a");
    assert!(
        !screen.contains("/resume"),
        "the screen is redrawn: {screen}"
    );
    w.tmux.submit("b", "second prompt on account b").unwrap();
    w.screen_shows("b", "● ACK: second prompt on account b");
    let req = w
        .api
        .wait_for_request(WAIT, |r| {
            r.last_user_text.as_deref() == Some("second prompt on account b")
        })
        .await
        .unwrap();
    assert_eq!(req.account.as_deref(), Some("b"));
    assert_eq!(req.session_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        req.message_count,
        Some(3),
        "history travels with the resume"
    );
    let t = lines(&to);
    assert_eq!(t.len(), 6, "old lines kept, new ones appended");
    assert_eq!(t[3]["message"]["content"], "second prompt on account b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_storm_is_retried_on_screen_and_recovers_when_it_ends() {
    let w = World::new().await;
    let a = w.account("a", "tok-a");
    w.launch("s", &a, &[]).await;
    w.api.set_mode("a", Mode::ServerError);
    w.tmux.submit("s", "run the migrations").unwrap();
    w.screen_shows("s", "500 Internal server error · retrying in");
    w.api
        .wait_for_request(WAIT, |r| r.status == 500 && r.last_user_text.is_some())
        .await
        .unwrap();
    w.api.set_mode("a", Mode::Normal);
    let screen = w.screen_shows("s", "● ACK: run the migrations");
    assert!(!screen.contains("retrying in"), "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bracketed_paste_over_several_lines_is_one_prompt() {
    let w = World::new().await;
    let a = w.account("a", "tok-a");
    w.launch("s", &a, &[]).await;
    w.tmux
        .run(&["set-buffer", "-b", "p", "line one\nline two"])
        .unwrap();
    w.tmux
        .run(&["paste-buffer", "-p", "-b", "p", "-t", "s"])
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    w.tmux.send_keys("s", &["Enter"]).unwrap();
    let req = w
        .api
        .wait_for_request(WAIT, |r| {
            r.last_user_text
                .as_deref()
                .is_some_and(|t| t.contains("line one"))
        })
        .await
        .unwrap();
    assert_eq!(req.last_user_text.as_deref(), Some("line one\nline two"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_limit_login_and_throttle_texts_match_the_real_cli() {
    let w = World::new().await;
    let a = w.account("a", "tok-a");
    w.launch_with(
        "s",
        &a,
        &[],
        &[
            ("CLAUDE_CODE_MAX_RETRIES", "1".to_owned()),
            ("TZ", "Europe/Warsaw".to_owned()),
        ],
    )
    .await;
    let reset = jiff::Timestamp::now().as_second() as u64 + 2 * 3600;
    w.api.set_mode(
        "a",
        Mode::NearLimit {
            window: ClaimWindow::FiveHour,
            utilization: 0.92,
            resets_at: reset,
        },
    );
    w.tmux.submit("s", "first").unwrap();
    w.screen_shows("s", "● ACK: first");
    let screen = w.screen_shows("s", "You've used 92% of your 5-hour limit · resets");
    assert!(
        squash_ws(&screen).contains("(Europe/Warsaw) · /upgrade to keep using Claude Code"),
        "{screen}"
    );
    wait_json(&w.statusline_file("a"), "92 % used", |v| {
        v["rate_limits"]["five_hour"]["used_percentage"] == 92
    });

    w.api.set_mode("a", Mode::Unauthorized);
    w.tmux.submit("s", "second").unwrap();
    w.screen_shows(
        "s",
        "● Please run /login · API Error: 401 OAuth token has expired.",
    );

    w.api.set_mode(
        "a",
        Mode::Throttled {
            retry_after_secs: 1,
        },
    );
    w.tmux.submit("s", "third").unwrap();
    w.screen_shows(
        "s",
        "API Error: Server is temporarily limiting requests (not your usage limit)",
    );
    let t = lines(&a.transcript_path(&w.project, &status_session(&w)));
    let errors: Vec<&Value> = t
        .iter()
        .filter(|l| l["isApiErrorMessage"] == true)
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0]["apiErrorStatus"], 401);
    assert_eq!(errors[0]["error"], "authentication_failed");
    assert_eq!(errors[1]["apiErrorStatus"], 429);
    assert_eq!(errors[1]["apiErrorIsTransient"], true);
    assert!(errors[1].get("quotaLimits").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortened_reset_is_waited_out_and_the_session_continues_by_itself() {
    let w = World::new().await;
    let a = w.account("a", "tok-a");
    w.launch("s", &a, &[]).await;
    let reset = jiff::Timestamp::now().as_second() as u64 + 2;
    w.api.set_mode(
        "a",
        Mode::QuotaExhausted {
            window: ClaimWindow::FiveHour,
            resets_at: reset,
        },
    );
    w.tmux.submit("s", "write the release notes").unwrap();
    w.screen_shows("s", "● Usage limit reached · continuing automatically at");
    // Nobody types: at the reset the mock serves again and the stand-in continues.
    w.screen_shows("s", "● Usage limit reset · Continuing automatically");
    w.screen_shows(
        "s",
        &format!("● {}", ack_text(failover_sim::standin::CONTINUE_TEXT)),
    );
    let req = w
        .api
        .wait_for_request(WAIT, |r| r.status == 200 && r.message_count == Some(2))
        .await
        .unwrap();
    assert!(req.at_ms / 1000 >= reset, "served before the reset");
}

/// The session id the stand-in reported on its statusline.
fn status_session(w: &World) -> String {
    wait_json(&w.statusline_file("a"), "a session id", |v| {
        v["session_id"].is_string()
    })["session_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn resuming_an_unknown_session_fails_like_the_real_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let acct = make_account_dir(&tmp.path().join("a"), "tok", &[]).unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let out = std::process::Command::new(STANDIN)
        .args(["--resume", &id])
        .env("CLAUDE_CONFIG_DIR", &acct.dir)
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        .current_dir(tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("No conversation found with session ID: {id}")
    );
    let bad = std::process::Command::new(STANDIN)
        .args(["--session-id", "not-a-uuid"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

/// `--prefill` (as Claude Code 2.1.328's hidden flag): the text starts in the input box,
/// not sent; Enter sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefilled_box_is_sent_only_on_enter() {
    let w = World::new().await;
    let a = w.account("a", "tok-a");
    w.launch("s", &a, &["--prefill=-- half a thought"]).await;
    w.screen_shows("s", "❯ -- half a thought");
    assert!(
        w.api
            .requests()
            .iter()
            .all(|r| r.last_user_text.as_deref() != Some("-- half a thought")),
        "sent before Enter"
    );
    w.tmux.send_keys("s", &["Enter"]).unwrap();
    w.api
        .wait_for_request(WAIT, |r| {
            r.last_user_text.as_deref() == Some("-- half a thought")
        })
        .await
        .unwrap();
}
