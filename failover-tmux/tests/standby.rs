//! Standbys over a real tmux server, with the stand-in for `claude`: `prepare` starts the
//! program of the destination account without touching the conversation, a launch puts it
//! in the session's place and types `/resume`, anything wrong with it falls back to a cold
//! start, and standbys are never taken for sessions.

use crate::support;

use std::time::Duration;

use failover_core::{
    AccountId, Activity, BackendError, ClaudeSessionId, LaunchRequest, Liveness, ResumedTurn,
    SessionBackend, SessionId,
};
use failover_tmux::observe::ObserverEvent;
use failover_tmux::{Socket, TmuxBackend, TmuxConfig};
use support::{TestServer, eventually};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);
const ID: &str = "0b8f3c1e-3f7a-4a52-9a55-3a1c1d2e3f40";

/// A launch request of `name` in `dir` on account `account` (its config dir under the
/// test's folder), resuming conversation [`ID`].
fn request(srv: &TestServer, name: &str, dir: &std::path::Path, account: &str) -> LaunchRequest {
    LaunchRequest {
        session: SessionId::new(name),
        dir: dir.to_owned(),
        account: AccountId::new(account),
        config_dir: srv.dir(&format!("config-{account}")),
        resume: Some(ClaudeSessionId::new(ID)),
    }
}

/// Writes the transcript of the conversation `req` resumes where its account looks for it:
/// one answered turn, then a prompt a usage limit refused.
pub(crate) fn write_transcript(req: &LaunchRequest) {
    let id = req.resume.as_ref().unwrap();
    let path = req
        .config_dir
        .join("projects")
        .join(failover_tmux::paths::project_folder_name(&req.dir))
        .join(format!("{id}.jsonl"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        concat!(
            r#"{"type":"user","message":{"role":"user","content":"first"}}"#,
            "\n",
            r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"done"}]}}"#,
            "\n",
            r#"{"type":"user","message":{"role":"user","content":"port the parser"}}"#,
            "\n",
            r#"{"type":"assistant","isApiErrorMessage":true,"apiErrorStatus":429,"error":"rate_limit","message":{"content":[{"type":"text","text":"You've hit your limit"}]}}"#,
            "\n",
        ),
    )
    .unwrap();
}

fn standby_name(session: &str) -> String {
    format!("failover standby {session}")
}

/// The pid of the program in session `name`'s active pane ("" when there is none).
fn pane_pid(srv: &TestServer, name: &str) -> String {
    srv.tmux(&[
        "display-message",
        "-p",
        "-t",
        &format!("={name}:"),
        "#{pane_pid}",
    ])
}

fn sessions(srv: &TestServer) -> Vec<String> {
    srv.tmux(&["list-sessions", "-F", "#{session_name}"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Whether process `pid` runs (exited ones not yet reaped do not count).
fn running(pid: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, None | Some("Z" | "X"))
}

async fn gone(pid: &str) {
    eventually(WAIT, "the program to end", || async {
        (!running(pid)).then_some(())
    })
    .await;
}

/// The stand-in's log lines starting with `prefix`.
pub(crate) fn logged(srv: &TestServer, prefix: &str) -> Vec<String> {
    srv.log()
        .lines()
        .filter_map(|l| l.strip_prefix(prefix).map(str::to_owned))
        .collect()
}

/// Launches `req` fresh (on its account, a new conversation), waits for its prompt and has
/// its program exit: the session is left with a dead pane, as after a crash.
async fn dead_session(srv: &TestServer, req: &LaunchRequest) {
    let mut fresh = req.clone();
    fresh.resume = None;
    srv.backend.launch(&fresh).await.unwrap();
    eventually(WAIT, "the prompt", || async {
        let c = srv.backend.capture(&req.session).await.ok()?;
        c.text.contains('❯').then_some(())
    })
    .await;
    srv.tmux(&[
        "send-keys",
        "-t",
        &format!("={}:", req.session),
        "-l",
        "/exit",
    ]);
    srv.tmux(&["send-keys", "-t", &format!("={}:", req.session), "Enter"]);
    eventually(WAIT, "the pane to die", || async {
        matches!(
            srv.backend.liveness(&req.session).await.ok()?,
            Liveness::Exited { .. }
        )
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn prepare_starts_the_destination_program_without_the_conversation() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    srv.backend.prepare(&req).await.unwrap();

    // A tmux session of its own, named for a person reading `tmux ls`.
    assert!(
        sessions(&srv).contains(&standby_name("ccl-1")),
        "{:?}",
        sessions(&srv)
    );
    let pid = pane_pid(&srv, &standby_name("ccl-1"));
    assert!(running(&pid));
    // The launch's environment, no conversation argument.
    assert_eq!(logged(&srv, "args:"), vec![String::new()]);
    let env = logged(&srv, "env:");
    assert_eq!(
        env,
        vec![format!("{}|ccl-1|b|1|", req.config_dir.display())]
    );
    assert_eq!(logged(&srv, "pwd:"), vec![dir.display().to_string()]);
    let standby_env = srv.tmux(&[
        "show-environment",
        "-t",
        &format!("={}", standby_name("ccl-1")),
        "FAILOVER_STANDBY_FOR",
    ]);
    assert_eq!(standby_env, format!("FAILOVER_STANDBY_FOR={ID}"));

    // Idempotent for the same account and dir.
    srv.backend.prepare(&req).await.unwrap();
    assert_eq!(pane_pid(&srv, &standby_name("ccl-1")), pid);
    assert_eq!(logged(&srv, "args:").len(), 1);

    // Another account replaces it.
    let other = request(&srv, "ccl-1", &dir, "c");
    srv.backend.prepare(&other).await.unwrap();
    gone(&pid).await;
    let pid_c = pane_pid(&srv, &standby_name("ccl-1"));
    assert!(running(&pid_c) && pid_c != pid);
    assert_eq!(
        sessions(&srv)
            .iter()
            .filter(|s| s.starts_with("failover standby"))
            .count(),
        1
    );

    // Nothing is prepared for a launch that starts a fresh conversation (it starts cold).
    let mut fresh = req.clone();
    fresh.resume = None;
    let err = srv.backend.prepare(&fresh).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Command { op: "prepare", detail } if detail.contains("no conversation")),
        "{err}"
    );
    assert_eq!(pane_pid(&srv, &standby_name("ccl-1")), pid_c);

    // Discarded: its session and its process group end.
    srv.backend.discard_prepared(&req.session).await.unwrap();
    gone(&pid_c).await;
    assert!(!sessions(&srv).contains(&standby_name("ccl-1")));
    // Nothing to discard is not an error.
    srv.backend.discard_prepared(&req.session).await.unwrap();
}

#[tokio::test]
async fn a_launch_takes_the_prepared_program_over_and_resumes_in_it() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    write_transcript(&req);
    srv.backend.prepare(&req).await.unwrap();
    let pid = pane_pid(&srv, &standby_name("ccl-1"));

    // The session is gone (stopped for the move): the standby's session becomes it.
    let launched = srv.backend.launch(&req).await.unwrap();
    assert_eq!(launched.claude_session.as_str(), ID);
    assert_eq!(
        launched.unanswered_prompt.as_deref(),
        Some("port the parser")
    );
    assert_eq!(launched.standby_fallback, None);
    assert_eq!(sessions(&srv), vec!["ccl-1".to_owned()]);
    assert_eq!(
        pane_pid(&srv, "ccl-1"),
        pid,
        "the prepared program, not a new one"
    );
    assert_eq!(logged(&srv, "args:").len(), 1, "no cold start");
    assert_eq!(logged(&srv, "resumed:"), vec![ID.to_owned()]);
    let info = srv.backend.describe(&req.session).await.unwrap();
    assert_eq!(info.account, Some(AccountId::new("b")));
    assert_eq!(info.claude_session, Some(ClaudeSessionId::new(ID)));
    assert_eq!(info.config_dir.as_deref(), Some(req.config_dir.as_path()));
    assert_eq!(info.liveness, Liveness::Alive);

    // `/resume` never takes the refused turn up: no resume mark, the replay types at once.
    let mark = srv.tmux(&["show-options", "-v", "-t", "=ccl-1:", "@failover-resume"]);
    assert_eq!(mark, "");
    let redrawn = || srv.tmux(&["show-options", "-v", "-t", "=ccl-1:", "@failover-redrawn"]);
    assert_eq!(redrawn(), "1");
    let asked = std::time::Instant::now();
    assert_eq!(
        srv.backend
            .resumed_turn(&req.session, "port the parser")
            .await
            .unwrap(),
        ResumedTurn::NotTakenUp
    );
    assert!(asked.elapsed() < Duration::from_secs(1));
    // The session works as any launched one: input, stop.
    srv.backend.send_input(&req.session, "next").await.unwrap();
    eventually(WAIT, "the prompt in the log", || async {
        logged(&srv, "line:")
            .contains(&"next".to_owned())
            .then_some(())
    })
    .await;
    srv.backend
        .stop(&req.session, Duration::from_secs(2))
        .await
        .unwrap();
    gone(&pid).await;
}

#[tokio::test]
async fn a_session_still_there_gets_the_prepared_program_in_its_own_window() {
    let srv = TestServer::with(|c| {
        c.width = 90;
        c.height = 25;
    });
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    write_transcript(&req);
    dead_session(&srv, &req).await;
    // The person resized the session's window meanwhile.
    srv.tmux(&["resize-window", "-t", "=ccl-1:", "-x", "120", "-y", "33"]);
    let window = srv.tmux(&["display-message", "-p", "-t", "=ccl-1:", "#{window_id}"]);

    srv.backend.prepare(&req).await.unwrap();
    let standby = standby_name("ccl-1");
    assert_eq!(
        srv.tmux(&[
            "display-message",
            "-p",
            "-t",
            &format!("={standby}:"),
            "#{pane_width}x#{pane_height}"
        ]),
        "120x33",
        "sized like the session's window"
    );
    let pid = pane_pid(&srv, &standby);
    let pane = srv.tmux(&[
        "display-message",
        "-p",
        "-t",
        &format!("={standby}:"),
        "#{pane_id}",
    ]);

    let launched = srv.backend.launch(&req).await.unwrap();
    assert_eq!(launched.claude_session.as_str(), ID);
    // Same session, same window; the prepared program's pane in it; the standby gone.
    assert_eq!(sessions(&srv), vec!["ccl-1".to_owned()]);
    assert_eq!(
        srv.tmux(&[
            "display-message",
            "-p",
            "-t",
            "=ccl-1:",
            "#{window_id} #{pane_id} #{pane_pid}"
        ]),
        format!("{window} {pane} {pid}")
    );
    assert_eq!(
        srv.tmux(&["list-panes", "-s", "-t", "=ccl-1:"])
            .lines()
            .count(),
        1
    );
    assert_eq!(logged(&srv, "resumed:"), vec![ID.to_owned()]);
    assert_eq!(
        srv.backend.liveness(&req.session).await.unwrap(),
        Liveness::Alive
    );
}

/// Launches `req`, which has a standby in trouble, and checks the launch started cold:
/// a new program with `--resume`, the standby's ended, and the launch says why the standby
/// was not used (`why` is part of the reason).
async fn falls_back_cold(srv: &TestServer, req: &LaunchRequest, standby_pid: &str, why: &str) {
    let launched = srv.backend.launch(req).await.unwrap();
    let fallback = launched
        .standby_fallback
        .as_deref()
        .expect("the launch reports the standby it could not use");
    assert!(fallback.contains(why), "{fallback}");
    assert_eq!(launched.claude_session.as_str(), ID);
    assert_eq!(
        launched.unanswered_prompt.as_deref(),
        Some("port the parser")
    );
    gone(standby_pid).await;
    assert_eq!(sessions(srv), vec![req.session.as_str().to_owned()]);
    let pid = pane_pid(srv, req.session.as_str());
    assert!(running(&pid) && pid != standby_pid);
    eventually(WAIT, "the cold start's arguments", || async {
        logged(srv, "args:")
            .contains(&format!("--resume {ID}"))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_busy_standby_is_ended_and_the_launch_starts_cold() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    write_transcript(&req);
    srv.backend.prepare(&req).await.unwrap();
    let standby = standby_name("ccl-1");
    let pid = pane_pid(&srv, &standby);
    srv.tmux(&["send-keys", "-t", &format!("={standby}:"), "-l", "WORK"]);
    srv.tmux(&["send-keys", "-t", &format!("={standby}:"), "Enter"]);
    eventually(WAIT, "the standby working", || async {
        let s = srv.tmux(&["capture-pane", "-p", "-t", &format!("={standby}:")]);
        s.contains("esc to interrupt").then_some(())
    })
    .await;
    falls_back_cold(&srv, &req, &pid, "is busy").await;
    assert!(logged(&srv, "resumed:").is_empty());
}

#[tokio::test]
async fn a_dead_standby_is_ended_and_the_launch_starts_cold() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    write_transcript(&req);
    dead_session(&srv, &req).await;
    srv.backend.prepare(&req).await.unwrap();
    let pid = pane_pid(&srv, &standby_name("ccl-1"));
    std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    gone(&pid).await;
    falls_back_cold(&srv, &req, &pid, "the prepared program").await;
}

#[tokio::test]
async fn a_resume_the_standby_refuses_is_ended_and_the_launch_starts_cold() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    write_transcript(&req);
    dead_session(&srv, &req).await;
    srv.backend.prepare(&req).await.unwrap();
    let pid = pane_pid(&srv, &standby_name("ccl-1"));
    // `Session <id> was not found.`
    std::fs::write(format!("{}.resume-fails", srv.log.display()), "").unwrap();
    falls_back_cold(&srv, &req, &pid, "did not find conversation").await;
    assert!(logged(&srv, "line:").is_empty(), "{}", srv.log());
}

#[tokio::test]
async fn a_launch_that_does_not_fit_the_standby_ends_it() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    write_transcript(&req);
    // Another account; another conversation (the standby speaks for the session only about
    // the conversation it was prepared for); a fresh conversation: each starts cold, and
    // the standby is ended.
    let other_account = request(&srv, "ccl-1", &dir, "c");
    write_transcript(&other_account);
    let mut other_conversation = req.clone();
    other_conversation.resume = Some(ClaudeSessionId::new("1c9d4e2f-4a8b-4b63-8b66-4b2d2e3f4051"));
    write_transcript(&other_conversation);
    let mut fresh = req.clone();
    fresh.resume = None;
    for other in [&other_account, &other_conversation, &fresh] {
        srv.backend.prepare(&req).await.unwrap();
        let pid = pane_pid(&srv, &standby_name("ccl-1"));
        let launched = srv.backend.launch(other).await.unwrap();
        assert_eq!(
            launched.standby_fallback, None,
            "a standby that does not fit is no fallback"
        );
        gone(&pid).await;
        assert_eq!(sessions(&srv), vec!["ccl-1".to_owned()]);
        srv.backend
            .stop(&other.session, Duration::from_secs(2))
            .await
            .unwrap();
    }
    assert!(logged(&srv, "resumed:").is_empty());
}

#[tokio::test]
async fn a_program_that_does_not_reach_its_prompt_fails_the_prepare() {
    let srv = TestServer::with(|c| {
        c.standby_timeout = Duration::from_secs(5);
    });
    let login = srv.tmp.path().join("login.sh");
    support::write_exec(
        &login,
        "#!/bin/sh\nprintf '\\n  Not logged in · Please run /login\\n'\nsleep 600\n",
    );
    let mut config = srv.backend.config().clone();
    config.claude_command = vec!["/bin/sh".into(), login.to_string_lossy().into_owned()];
    let backend = TmuxBackend::new(config).unwrap();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    let started = std::time::Instant::now();
    let err = backend.prepare(&req).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Command { op: "prepare", detail } if detail.contains("login")),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed at once, not at the deadline"
    );
    assert!(sessions(&srv).is_empty(), "{:?}", sessions(&srv));

    // One that exits at start fails it too.
    let mut config = srv.backend.config().clone();
    config.claude_command = vec!["/bin/sh".into(), "-c".into(), "exit 3".into()];
    let backend = TmuxBackend::new(config).unwrap();
    let err = backend.prepare(&req).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Command { op: "prepare", .. }),
        "{err}"
    );
    assert!(sessions(&srv).is_empty(), "{:?}", sessions(&srv));
}

#[tokio::test]
async fn standbys_are_not_sessions() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    srv.backend.prepare(&req).await.unwrap();
    let mut running_one = request(&srv, "ccl-2", &dir, "a");
    running_one.resume = None;
    srv.backend.launch(&running_one).await.unwrap();

    assert_eq!(
        srv.backend.list().await.unwrap(),
        vec![SessionId::new("ccl-2")]
    );
    let all = srv.backend.liveness_all().await.unwrap();
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        vec![&SessionId::new("ccl-2")]
    );
    assert_eq!(
        srv.backend.liveness(&req.session).await.unwrap(),
        Liveness::Missing
    );
}

#[tokio::test]
async fn standbys_a_gone_process_left_are_ended_at_start() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    srv.backend.prepare(&req).await.unwrap();
    let mut kept = request(&srv, "ccl-2", &dir, "a");
    kept.resume = None;
    srv.backend.launch(&kept).await.unwrap();
    let standby = standby_name("ccl-1");
    let pid = pane_pid(&srv, &standby);
    // Its owner was a daemon that was killed: a process that is gone.
    let mut exited = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = exited.id();
    exited.wait().unwrap();
    srv.tmux(&[
        "set-option",
        "-t",
        &format!("={standby}:"),
        "@failover-standby-owner",
        &dead_pid.to_string(),
    ]);
    // A session a person named like a standby prefix but not as one stays too.
    srv.tmux(&[
        "new-session",
        "-d",
        "-s",
        "failover standby-ish",
        "sleep 600",
    ]);

    let mut config = TmuxConfig::new(Socket::Name(srv.socket.clone()));
    config.claude_command = srv.backend.config().claude_command.clone();
    let next = TmuxBackend::new(config).unwrap();
    next.start_server().await.unwrap();
    gone(&pid).await;
    let mut left = sessions(&srv);
    left.sort();
    assert_eq!(
        left,
        vec!["ccl-2".to_owned(), "failover standby-ish".to_owned()]
    );
}

#[tokio::test]
async fn a_live_owners_standby_survives_a_start_and_goes_at_release() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    srv.backend.prepare(&req).await.unwrap();
    let pid = pane_pid(&srv, &standby_name("ccl-1"));
    srv.backend.start_server().await.unwrap();
    assert!(running(&pid), "this process's standby is not stale");
    srv.backend.release_server().await.unwrap();
    gone(&pid).await;
    assert!(!sessions(&srv).contains(&standby_name("ccl-1")));
}

/// A pane swapped into an observed session's window (a launch from a standby) is observed
/// from then on: pane ids change, the window stays.
#[tokio::test]
async fn an_observed_session_whose_pane_was_swapped_is_still_observed() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let mut req = request(&srv, "watched", &dir, "a");
    req.resume = None;
    srv.backend.launch(&req).await.unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let observer = support::spawn_observer(&srv.backend, req.session.clone(), tx);
    let activity = async |rx: &mut mpsc::Receiver<ObserverEvent>, want: Activity| {
        let until = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(ObserverEvent::Activity { activity, .. })) if activity == want => return,
                Ok(Some(ObserverEvent::Exited { .. })) => panic!("reported exited"),
                Ok(Some(_)) => {}
                other => panic!("no {want:?} report: {other:?}"),
            }
        }
    };
    activity(&mut rx, Activity::Idle).await;

    // Another program's pane takes the session's place in its window.
    let mut other = request(&srv, "other", &dir, "b");
    other.resume = None;
    srv.backend.launch(&other).await.unwrap();
    eventually(WAIT, "the other prompt", || async {
        let c = srv.backend.capture(&other.session).await.ok()?;
        c.text.contains('❯').then_some(())
    })
    .await;
    srv.tmux(&["swap-pane", "-d", "-s", "=other:", "-t", "=watched:"]);
    srv.tmux(&["kill-session", "-t", "=other"]);

    // The program now in the session starts a turn: reported.
    srv.backend.send_input(&req.session, "WORK").await.ok();
    activity(&mut rx, Activity::Working).await;
    observer.abort();
}

/// The conversation `/resume` draws ends with the limit message that refused its last turn
/// on the previous account: the pane observer started after the launch (as the daemon
/// starts one) takes it for history, not for news about the new account.
#[tokio::test]
async fn the_limit_message_a_resumed_conversation_redraws_is_history() {
    let srv = TestServer::new();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    write_transcript(&req);
    srv.backend.prepare(&req).await.unwrap();
    srv.backend.launch(&req).await.unwrap();
    let screen = srv.backend.capture(&req.session).await.unwrap().text;
    assert!(screen.contains("You've hit your 5-hour limit"), "{screen}");

    let (tx, mut rx) = mpsc::channel(64);
    let observer = support::spawn_observer(&srv.backend, req.session.clone(), tx);
    let mut seen = Vec::new();
    let mut next_activity = async |rx: &mut mpsc::Receiver<ObserverEvent>, want: Activity| {
        let until = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(ObserverEvent::Activity { activity, .. })) if activity == want => return,
                Ok(Some(e)) => seen.push(e),
                other => panic!("no {want:?} report: {other:?}"),
            }
        }
    };
    next_activity(&mut rx, Activity::Idle).await;
    // Learnt once: an observer started later meets the screen as news.
    assert_eq!(
        srv.tmux(&["show-options", "-v", "-t", "=ccl-1:", "@failover-redrawn"]),
        ""
    );
    // The replay types the prompt; the turn shows as working. Whatever the first screen
    // gave was sent before this.
    srv.backend.send_input(&req.session, "WORK").await.unwrap();
    next_activity(&mut rx, Activity::Working).await;
    observer.abort();
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            ObserverEvent::Observation { detection, .. }
                if detection.verdict != failover_core::Verdict::Clear
        )),
        "{seen:#?}"
    );
}

/// A caller that gives up on a prepare (its own deadline) leaves nothing behind.
#[tokio::test]
async fn an_abandoned_prepare_ends_what_it_started() {
    let srv = TestServer::new();
    let slow = srv.tmp.path().join("slow.sh");
    support::write_exec(&slow, "#!/bin/sh\nsleep 600\n");
    let mut config = srv.backend.config().clone();
    config.claude_command = vec!["/bin/sh".into(), slow.to_string_lossy().into_owned()];
    let backend = TmuxBackend::new(config).unwrap();
    let dir = srv.dir("proj");
    let req = request(&srv, "ccl-1", &dir, "b");
    let started = tokio::time::timeout(Duration::from_secs(10), async {
        let prepare = backend.prepare(&req);
        tokio::pin!(prepare);
        // Dropped once its program runs and it waits for the prompt.
        loop {
            tokio::select! {
                _ = &mut prepare => panic!("a program that never shows its prompt was prepared"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            let pid = pane_pid(&srv, &standby_name("ccl-1"));
            if !pid.is_empty() {
                return pid;
            }
        }
    })
    .await
    .unwrap();
    assert!(running(&started));
    gone(&started).await;
    eventually(WAIT, "the standby's session to end", || async {
        (!sessions(&srv).contains(&standby_name("ccl-1"))).then_some(())
    })
    .await;
}
