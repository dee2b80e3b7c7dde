//! The backend driving the real Claude Code CLI (path in `CLAUDE_FAILOVER_REAL_CLAUDE`)
//! against a tiny local API stand-in that answers every request with a 500, so no network
//! or account is needed: launch with a known session id, the idle prompt, a multi-line
//! prompt sent as one bracketed paste, the transcript appearing where `paths` says, the
//! statusline hook feeding the spool, a stop at a turn boundary, and a resume.

use crate::support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use failover_core::quota::{activity_from_screen, input_box};
use failover_core::{AccountId, Activity, LaunchRequest, Liveness, SessionBackend, SessionId};
use failover_tmux::observe::{ObserverEvent, PaneObserver};
use failover_tmux::{paths, statusline};
use support::{TestServer, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn real_claude() -> Option<PathBuf> {
    match std::env::var_os("CLAUDE_FAILOVER_REAL_CLAUDE") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            eprintln!(
                "\n*** SKIPPED: CLAUDE_FAILOVER_REAL_CLAUDE is not set; the real Claude Code CLI test did not run ***\n"
            );
            None
        }
    }
}

/// Answers `HEAD` with 200 and everything else, after 1.5 s, with a 500 API error.
async fn serve_500s(listener: tokio::net::TcpListener) {
    serve_500s_after(listener, Duration::from_millis(1500), Default::default()).await;
}

/// [`serve_500s`], answering after `hold`, keeping every request's body in `bodies`.
async fn serve_500s_after(
    listener: tokio::net::TcpListener,
    hold: Duration,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let bodies = bodies.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let (head_end, head) = loop {
                let Ok(n) = sock.read(&mut chunk).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break (
                        i + 4,
                        String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase(),
                    );
                }
            };
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let Ok(n) = sock.read(&mut chunk).await else {
                    return;
                };
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            bodies
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[head_end..]).into_owned());
            let reply = if head.starts_with("head ") {
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
            } else {
                // A turn refused at once can end between two looks at the screen: the
                // error takes a moment, as a real one does, so the turn is seen working.
                tokio::time::sleep(hold).await;
                let body =
                    r#"{"type":"error","error":{"type":"api_error","message":"stand-in says no"}}"#;
                format!(
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = sock.write_all(reply.as_bytes()).await;
        });
    }
}

#[tokio::test]
async fn real_claude_launch_prompt_transcript_stop_resume() {
    let Some(claude) = real_claude() else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_500s(listener));

    let srv = TestServer::with(|c| {
        c.claude_command = vec![claude.to_string_lossy().into_owned()];
        c.env.push(("ANTHROPIC_BASE_URL".into(), base.clone()));
        c.env.push(("CLAUDE_CODE_MAX_RETRIES".into(), "0".into()));
        c.width = 120;
        c.height = 40;
        c.input_timeout = Duration::from_secs(10);
        c.command_timeout = Duration::from_secs(10);
    });
    let dir = srv.dir("real proj.v2_x");
    let dir = std::fs::canonicalize(dir).unwrap();
    let config = srv.dir("config-real");
    fake_login(&config, &dir);
    let spool = srv.dir("spool");
    statusline::install(&config, &spool).unwrap();

    let session = SessionId::new("real-0");
    let mut req = LaunchRequest {
        session: session.clone(),
        dir: dir.clone(),
        account: AccountId::new("primary"),
        config_dir: config.clone(),
        resume: None,
    };
    let launched = srv.backend.launch(&req).await.unwrap();
    let id = launched.claude_session.clone();

    let idle = || async {
        let c = srv.backend.capture(&session).await.ok()?;
        (activity_from_screen(&c.text) == Some(Activity::Idle)).then_some(c.text)
    };
    eventually(Duration::from_secs(60), "the idle prompt", idle).await;

    // Observe the real pane: the turn shows as Working, then Idle again.
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let detector = std::sync::Arc::new(failover_core::quota::PaneDetector::new());
    let observer = tokio::spawn(
        PaneObserver::new(
            &srv.backend,
            session.clone(),
            detector,
            tx,
            Default::default(),
        )
        .run(),
    );
    srv.backend
        .send_input(&session, "say hello\nin two lines")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.last() != Some(&Activity::Idle) || !seen.contains(&Activity::Working) {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(ObserverEvent::Activity { activity, .. })) => seen.push(activity),
            Ok(Some(_)) => {}
            other => {
                let screen = srv
                    .backend
                    .capture(&session)
                    .await
                    .map(|c| c.text)
                    .unwrap_or_default();
                panic!("activity events ended early: {other:?}, seen {seen:?}, screen:\n{screen}")
            }
        }
    }
    observer.abort();

    // The transcript appears exactly where the cwd → folder mapping says.
    let transcript = config
        .join("projects")
        .join(paths::project_folder_name(&dir))
        .join(format!("{id}.jsonl"));
    let text = eventually(Duration::from_secs(60), "the transcript", || async {
        let t = std::fs::read_to_string(&transcript).ok()?;
        t.contains("say hello").then_some(t)
    })
    .await;
    assert_eq!(
        paths::find_transcript(&config.join("projects"), &dir, &id).unwrap(),
        transcript
    );
    // Both lines arrived as one prompt (bracketed paste), not as two submissions.
    assert!(
        text.contains(r#""content":"say hello\nin two lines""#),
        "{text}"
    );

    // The statusline hook spooled a document naming this conversation.
    let doc = eventually(Duration::from_secs(60), "a statusline document", || async {
        let d = std::fs::read_to_string(spool.join("real-0.json")).ok()?;
        d.contains(id.as_str()).then_some(d)
    })
    .await;
    assert!(doc.contains("\"session_id\""), "{doc}");

    eventually(Duration::from_secs(60), "idle after the failed turn", idle).await;
    // A half-typed draft in the input box: stopping must not turn it into a prompt (nor
    // `/exit` into part of it).
    srv.tmux(&["send-keys", "-t", "real-0", "-l", "half a thought"]);
    eventually(Duration::from_secs(10), "the draft on screen", || async {
        let c = srv.backend.capture(&session).await.ok()?;
        c.text.contains("half a thought").then_some(())
    })
    .await;
    let started = Instant::now();
    srv.backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();
    let took = started.elapsed();
    eprintln!("real claude stopped in {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "it should exit by itself: {took:?}"
    );
    assert_eq!(
        srv.backend.liveness(&session).await.unwrap(),
        Liveness::Missing
    );
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(
        !text.contains("half a thought"),
        "the draft was sent as a prompt: {text}"
    );

    // Resume: the old conversation is back on screen.
    req.resume = Some(id.clone());
    let resumed = srv.backend.launch(&req).await.unwrap();
    assert_eq!(resumed.claude_session, id);
    eventually(Duration::from_secs(60), "the resumed history", || async {
        let c = srv.backend.capture(&session).await.ok()?;
        c.text.contains("say hello").then_some(())
    })
    .await;
    srv.backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();
    statusline::uninstall(&config).unwrap();
}

/// Writes a fake subscription login trusting `dir` into `config`, its `projects` a link to
/// `shared`.
fn fake_account(config: &std::path::Path, dir: &std::path::Path, shared: &std::path::Path) {
    std::fs::create_dir_all(config).unwrap();
    fake_login(config, dir);
    std::os::unix::fs::symlink(shared, config.join("projects")).unwrap();
}

/// A fake subscription login and an accepted trust dialog for `dir`, so the CLI starts
/// straight at its prompt. The token only ever reaches the local stand-in.
fn fake_login(config: &std::path::Path, dir: &std::path::Path) {
    std::fs::write(
        config.join(".credentials.json"),
        r#"{"claudeAiOauth":{"accessToken":"test-access","refreshToken":"test-refresh","expiresAt":99999999999999,"scopes":["user:inference","user:profile","user:sessions:claude_code"],"subscriptionType":"max"}}"#,
    )
    .unwrap();
    std::fs::write(
        config.join(".claude.json"),
        serde_json::json!({
            "hasCompletedOnboarding": true,
            "projects": { dir.to_string_lossy(): { "hasTrustDialogAccepted": true } }
        })
        .to_string(),
    )
    .unwrap();
}

/// A session that never had a turn moves to the next account as a fresh session under its
/// id: after a stop (2.1.328 then leaves a transcript of metadata lines only, which
/// `--resume` refuses and which blocks `--session-id`), and with no transcript at all.
#[tokio::test]
async fn a_session_without_a_turn_moves_fresh_under_its_id() {
    let Some(claude) = real_claude() else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_500s(listener));
    let accounts = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(accounts.path()).unwrap();
    let (a, b, shared) = (root.join("a"), root.join("b"), root.join("shared"));
    std::fs::create_dir_all(&shared).unwrap();
    let srv = TestServer::with(|c| {
        c.claude_command = vec![claude.to_string_lossy().into_owned()];
        c.env.push(("ANTHROPIC_BASE_URL".into(), base.clone()));
        c.env.push(("CLAUDE_CODE_MAX_RETRIES".into(), "0".into()));
        c.account_dirs = vec![a.clone(), b.clone()];
        c.width = 120;
        c.height = 40;
        c.command_timeout = Duration::from_secs(10);
    });
    let dir = std::fs::canonicalize(srv.dir("proj")).unwrap();
    fake_account(&a, &dir, &shared);
    fake_account(&b, &dir, &shared);

    let idle = |session: SessionId| {
        let srv = &srv;
        async move {
            eventually(Duration::from_secs(60), "the idle prompt", || async {
                let c = srv.backend.capture(&session).await.ok()?;
                (activity_from_screen(&c.text) == Some(Activity::Idle)).then_some(())
            })
            .await;
        }
    };
    let session = SessionId::new("fresh-0");
    let mut req = LaunchRequest {
        session: session.clone(),
        dir: dir.clone(),
        account: AccountId::new("a"),
        config_dir: a.clone(),
        resume: None,
    };
    let id = srv.backend.launch(&req).await.unwrap().claude_session;
    idle(session.clone()).await;
    srv.backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();

    req.account = AccountId::new("b");
    req.config_dir = b.clone();
    req.resume = Some(id.clone());
    let moved = srv.backend.launch(&req).await.unwrap();
    assert_eq!(moved.claude_session, id);
    idle(session.clone()).await;
    assert_eq!(
        srv.backend.liveness(&session).await.unwrap(),
        Liveness::Alive
    );
    let described = srv.backend.describe(&session).await.unwrap();
    assert_eq!(described.claude_session.as_ref(), Some(&id));
    srv.backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();

    // What 2.1.328 writes when a session that never had a turn exits (recorded from the
    // real CLI): metadata lines only.
    let folder = shared.join(paths::project_folder_name(&dir));
    std::fs::create_dir_all(&folder).unwrap();
    let stub = failover_core::ClaudeSessionId::new("43349eaf-f44a-4538-81b8-4a715f045259");
    let metadata = format!(
        "{{\"type\":\"mode\",\"mode\":\"normal\",\"sessionId\":\"{stub}\"}}\n\
         {{\"type\":\"permission-mode\",\"permissionMode\":\"auto\",\"sessionId\":\"{stub}\"}}\n\
         {{\"type\":\"session-owner\",\"accountUuid\":\"746f6b6d-6169-4e00-8000-000000000001\",\"organizationUuid\":\"746f6b6d-6169-4e00-8000-000000000002\",\"sessionId\":\"{stub}\"}}\n"
    );
    std::fs::write(folder.join(format!("{stub}.jsonl")), &metadata).unwrap();
    let third = SessionId::new("fresh-2");
    let req = LaunchRequest {
        session: third.clone(),
        dir: dir.clone(),
        account: AccountId::new("a"),
        config_dir: a.clone(),
        resume: Some(stub.clone()),
    };
    assert_eq!(srv.backend.launch(&req).await.unwrap().claude_session, stub);
    idle(third.clone()).await;
    assert_eq!(srv.backend.liveness(&third).await.unwrap(), Liveness::Alive);
    srv.backend
        .stop(&third, Duration::from_secs(20))
        .await
        .unwrap();
    // The metadata-only file is kept beside, never deleted.
    let aside: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{stub}.jsonl.no-conversation-"))
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), metadata);

    // No transcript anywhere: started under the id asked for.
    let never = failover_core::ClaudeSessionId::new("0b3c1d2e-4f50-4a6b-8c7d-9e0f1a2b3c4d");
    let other = SessionId::new("fresh-1");
    let req = LaunchRequest {
        session: other.clone(),
        dir: dir.clone(),
        account: AccountId::new("b"),
        config_dir: b.clone(),
        resume: Some(never.clone()),
    };
    assert_eq!(
        srv.backend.launch(&req).await.unwrap().claude_session,
        never
    );
    idle(other.clone()).await;
    srv.backend
        .stop(&other, Duration::from_secs(20))
        .await
        .unwrap();
}

/// A folder no account trusts is never trusted on the person's behalf: the launch leaves
/// every global config as it was, and the session is reported as waiting for trust.
#[tokio::test]
async fn a_folder_trusted_nowhere_waits_for_trust() {
    let Some(claude) = real_claude() else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_500s(listener));
    let accounts = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(accounts.path()).unwrap();
    let (a, b, shared) = (root.join("a"), root.join("b"), root.join("shared"));
    std::fs::create_dir_all(&shared).unwrap();
    let srv = TestServer::with(|c| {
        c.claude_command = vec![claude.to_string_lossy().into_owned()];
        c.env.push(("ANTHROPIC_BASE_URL".into(), base.clone()));
        c.account_dirs = vec![a.clone(), b.clone()];
        c.width = 120;
        c.height = 40;
        c.command_timeout = Duration::from_secs(10);
    });
    let trusted = std::fs::canonicalize(srv.dir("elsewhere")).unwrap();
    let dir = std::fs::canonicalize(srv.dir("untrusted")).unwrap();
    // Both accounts trust another folder only.
    fake_account(&a, &trusted, &shared);
    fake_account(&b, &trusted, &shared);
    let before = (std::fs::read(a.join(".claude.json")).unwrap(),);

    let session = SessionId::new("untrusted-0");
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    srv.backend
        .launch(&LaunchRequest {
            session: session.clone(),
            dir: dir.clone(),
            account: AccountId::new("b"),
            config_dir: b.clone(),
            resume: None,
        })
        .await
        .unwrap();
    let detector = std::sync::Arc::new(failover_core::quota::PaneDetector::new());
    let observer = tokio::spawn(
        PaneObserver::new(
            &srv.backend,
            session.clone(),
            detector,
            tx,
            Default::default(),
        )
        .run(),
    );
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(ObserverEvent::Activity {
                activity: Activity::WaitingForTrust,
                ..
            })) => break,
            Ok(Some(_)) => {}
            other => panic!("no waiting-for-trust report: {other:?}"),
        }
    }
    observer.abort();
    assert_eq!(
        srv.backend.liveness(&session).await.unwrap(),
        Liveness::Alive,
        "it waits; nothing answered the dialog"
    );
    // The CLI rewrites its own account's file at start; neither trusts the folder, and the
    // other account's file is untouched.
    for d in [&a, &b] {
        assert!(
            !failover_tmux::global_config::is_trusted(&d.join(".claude.json"), &dir).unwrap(),
            "{} was made to trust the folder",
            d.display()
        );
    }
    assert_eq!(std::fs::read(a.join(".claude.json")).unwrap(), before.0);
    srv.backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();
}

/// The user lines of a transcript whose prompt text mentions `needle`, as submitted.
fn prompts_with(transcript: &std::path::Path, needle: &str) -> Vec<String> {
    let text = std::fs::read_to_string(transcript).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "user")
        .filter_map(|v| match &v["message"]["content"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(blocks) => blocks
                .iter()
                .find(|b| b["type"] == "text")
                .and_then(|b| b["text"].as_str().map(str::to_owned)),
            _ => None,
        })
        .filter(|p| p.contains(needle))
        .collect()
}

/// A prompt pasted and never sent (the daemon killed between the paste and Enter) is still
/// in the input box after a restart: sending the same prompt again submits it once, not
/// twice in one message, short and wrapped or long and shown as `[Pasted text #N +M
/// lines]`. Anything else in the box (the person's own typing) is never typed over or
/// added to: the input is refused and the draft stays.
#[tokio::test]
async fn a_leftover_draft_is_sent_once_and_another_refused() {
    let Some(claude) = real_claude() else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_500s(listener));
    let accounts = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(accounts.path()).unwrap();
    let (a, shared) = (root.join("a"), root.join("shared"));
    std::fs::create_dir_all(&shared).unwrap();
    let srv = TestServer::with(|c| {
        c.claude_command = vec![claude.to_string_lossy().into_owned()];
        c.env.push(("ANTHROPIC_BASE_URL".into(), base.clone()));
        c.env.push(("CLAUDE_CODE_MAX_RETRIES".into(), "0".into()));
        c.width = 120;
        c.height = 40;
        c.input_timeout = Duration::from_secs(10);
        c.command_timeout = Duration::from_secs(10);
    });
    let dir = std::fs::canonicalize(srv.dir("proj")).unwrap();
    fake_account(&a, &dir, &shared);
    let session = SessionId::new("draft-0");
    let id = srv
        .backend
        .launch(&LaunchRequest {
            session: session.clone(),
            dir: dir.clone(),
            account: AccountId::new("a"),
            config_dir: a.clone(),
            resume: None,
        })
        .await
        .unwrap()
        .claude_session;
    let transcript = shared
        .join(paths::project_folder_name(&dir))
        .join(format!("{id}.jsonl"));
    let idle_and_empty = || async {
        let c = srv.backend.capture_ansi(&session).await.ok()?;
        let plain = srv.backend.capture(&session).await.ok()?;
        (activity_from_screen(&plain.text) == Some(Activity::Idle)
            && input_box(&c.text).is_some_and(|t| t.is_empty()))
        .then_some(())
    };
    let box_text = || async {
        let c = srv.backend.capture_ansi(&session).await.ok()?;
        input_box(&c.text).filter(|t| !t.is_empty())
    };
    // What the backend does, stopped before Enter.
    let paste_only = |text: &str| {
        srv.tmux(&["set-buffer", "-b", "left", "--", text]);
        srv.tmux(&["paste-buffer", "-p", "-d", "-b", "left", "-t", "draft-0"]);
    };

    let cases = [
        // Wraps across three rows of the box.
        "Leftover one: review the authentication module carefully and write a concise \
         report about every problem you find in it, including the session handling, token \
         refresh logic and the messages shown to users."
            .to_owned(),
        // Seven lines: drawn as `[Pasted text #2 +6 lines]`.
        (0..7)
            .map(|i| format!("leftover two, line {i}"))
            .collect::<Vec<_>>()
            .join("\n"),
    ];
    for (n, prompt) in cases.iter().enumerate() {
        eventually(
            Duration::from_secs(60),
            "an idle, empty box",
            idle_and_empty,
        )
        .await;
        paste_only(prompt);
        let left = eventually(Duration::from_secs(10), "the leftover draft", box_text).await;
        eprintln!("case {n}: the box shows {left:?}");
        srv.backend.send_input(&session, prompt).await.unwrap();
        let needle = if n == 0 {
            "Leftover one"
        } else {
            "leftover two"
        };
        let sent = eventually(Duration::from_secs(60), "the prompt submitted", || async {
            let p = prompts_with(&transcript, needle);
            (!p.is_empty()).then_some(p)
        })
        .await;
        assert_eq!(
            sent,
            std::slice::from_ref(prompt),
            "submitted once, as it was"
        );
    }

    // The person's own draft: refused, left as it was, nothing submitted.
    eventually(
        Duration::from_secs(60),
        "an idle, empty box",
        idle_and_empty,
    )
    .await;
    srv.tmux(&["send-keys", "-t", "draft-0", "-l", "my own half thought"]);
    eventually(Duration::from_secs(10), "the person's draft", || async {
        box_text()
            .await
            .filter(|t| t == "my own half thought")
            .map(drop)
    })
    .await;
    let err = srv
        .backend
        .send_input(&session, "queued task three")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            failover_core::BackendError::DraftInInputBox { chars: 19, .. }
        ),
        "{err}"
    );
    assert!(err.is_transient());
    assert_eq!(box_text().await.as_deref(), Some("my own half thought"));
    assert!(prompts_with(&transcript, "queued task three").is_empty());
    assert!(prompts_with(&transcript, "my own half thought").is_empty());
    srv.backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();
}

/// A stop that has to interrupt a turn types nothing after the interrupt: Claude Code puts
/// the interrupted prompt back in the input box at a moment of its own, and a `/exit` typed
/// meanwhile was once sent as that prompt's tail ("…/exit", seen in a failover benchmark
/// with 3 sessions, one stopped right after its prompt went out). The turn here waits on an
/// API that answers only after 30 s; the stop interrupts it and hangs up, and no request
/// ever carries `/exit`. This setting does not bring the race about on demand (the check
/// passed 7 times of 7 with `/exit` still typed after the interrupt); it holds the contract.
#[tokio::test]
async fn a_stop_that_interrupts_a_turn_types_nothing_after_it() {
    let Some(claude) = real_claude() else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    tokio::spawn(serve_500s_after(
        listener,
        Duration::from_secs(30),
        bodies.clone(),
    ));
    let srv = TestServer::with(|c| {
        c.claude_command = vec![claude.to_string_lossy().into_owned()];
        c.env.push(("ANTHROPIC_BASE_URL".into(), base.clone()));
        c.env.push(("CLAUDE_CODE_MAX_RETRIES".into(), "0".into()));
        c.width = 120;
        c.height = 40;
    });
    let dir = std::fs::canonicalize(srv.dir("proj")).unwrap();
    let config = srv.dir("config");
    fake_login(&config, &dir);
    let session = SessionId::new("interrupted");
    srv.backend
        .launch(&LaunchRequest {
            session: session.clone(),
            dir,
            account: AccountId::new("primary"),
            config_dir: config,
            resume: None,
        })
        .await
        .unwrap();
    let screen_is = |want: Activity| {
        let (srv, session) = (&srv, &session);
        move || async move {
            let c = srv.backend.capture(session).await.ok()?;
            (activity_from_screen(&c.text) == Some(want)).then_some(())
        }
    };
    eventually(
        Duration::from_secs(60),
        "the idle prompt",
        screen_is(Activity::Idle),
    )
    .await;
    srv.backend
        .send_input(&session, "count the files")
        .await
        .unwrap();
    eventually(
        Duration::from_secs(30),
        "the turn at work",
        screen_is(Activity::Working),
    )
    .await;
    srv.backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        srv.backend.liveness(&session).await.unwrap(),
        Liveness::Missing,
        "stopped"
    );
    let sent = bodies.lock().unwrap().clone();
    assert!(
        sent.iter().any(|b| b.contains("count the files")),
        "the prompt reached the API: {} requests",
        sent.len()
    );
    assert!(
        !sent.iter().any(|b| b.contains("/exit")),
        "a request carried /exit: {:?}",
        sent.iter()
            .filter(|b| b.contains("/exit"))
            .collect::<Vec<_>>()
    );
}
