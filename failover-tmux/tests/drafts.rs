//! A person's unsent draft carried over a stop and the next launch, with a program in real
//! tmux that draws a Claude-like input box: kept at the stop (a `0600` file), passed on once
//! with `--prefill`, put back after a replayed prompt when the launch replays one; the
//! backend's own typing and the prompt the replay sends are not drafts.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use failover_core::quota::input_box;
use failover_core::{AccountId, LaunchRequest, SessionBackend, SessionId};
use failover_tmux::paths;
use support::TestServer;

/// Logs its arguments and each line it sends to `$LOG`; its input box starts with
/// `--prefill`'s text, else with `$SEED`'s content (a file, read once); keys are typed into
/// it, Ctrl-C clears it, Enter sends it (unless `$DEAF_TO_ENTER` is set).
const PROGRAM: &str = r#"#!/bin/sh
printf 'args:%s\n' "$*" >> "$LOG"
line=$(cat "$SEED" 2>/dev/null); rm -f "$SEED"
for a in "$@"; do case "$a" in --prefill=*) line="${a#--prefill=}" ;; esac; done
stty raw -echo
rule='────────────────────────────────'
sent=''
box() { printf '\033[2J\033[H%s\r\n%s\r\n❯ %s\r\n%s\r\n\r\n' "$sent" "$rule" "$line" "$rule"; }
box
cr=$(printf '\r'); cc=$(printf '\003')
while k=$(dd bs=4096 count=1 2>/dev/null); [ -n "$k" ]; do
  case "$k" in
    "$cr") [ -n "$DEAF_TO_ENTER" ] && continue
           printf 'sent:%s\n' "$line" >> "$LOG"; sent="● sent $line"; line='' ;;
    "$cc") line='' ;;
    *) line="$line$k" ;;
  esac
  box
done
"#;

struct Setup {
    _outer: tempfile::TempDir,
    srv: TestServer,
    dir: PathBuf,
    drafts: PathBuf,
    log: PathBuf,
    seed: PathBuf,
}

fn setup(deaf_to_enter: bool) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let outer = tmp.path();
    let program = outer.join("boxed.sh");
    support::write_exec(&program, PROGRAM);
    let (drafts, log, seed) = (outer.join("drafts"), outer.join("log"), outer.join("seed"));
    let srv = TestServer::with(|c| {
        c.claude_command = vec!["/bin/sh".into(), program.to_string_lossy().into_owned()];
        c.env
            .push(("LOG".into(), log.to_string_lossy().into_owned()));
        c.env
            .push(("SEED".into(), seed.to_string_lossy().into_owned()));
        if deaf_to_enter {
            c.env.push(("DEAF_TO_ENTER".into(), "1".into()));
        }
        c.draft_dir = Some(drafts.clone());
        c.resume_turn_wait = Duration::ZERO;
        c.input_timeout = Duration::from_secs(2);
    });
    let dir = srv.dir("work");
    Setup {
        _outer: tmp,
        srv,
        dir,
        drafts,
        log,
        seed,
    }
}

impl Setup {
    fn request(&self, name: &str) -> LaunchRequest {
        LaunchRequest {
            session: SessionId::new(name),
            dir: self.dir.clone(),
            account: AccountId::new("primary"),
            config_dir: self.srv.dir("config-primary"),
            resume: None,
        }
    }

    async fn box_shows(&self, session: &SessionId, want: &str) {
        let until = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let c = self.srv.backend.capture_ansi(session).await;
            if c.as_ref()
                .is_ok_and(|c| input_box(&c.text).as_deref() == Some(want))
            {
                return;
            }
            assert!(
                std::time::Instant::now() < until,
                "the box never showed {want:?}: {c:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn draft_file(&self, name: &str) -> PathBuf {
        self.drafts.join(format!("{name}.draft"))
    }

    /// Writes the conversation of `session` (as the backend recorded it at launch) with a
    /// turn whose prompt a usage limit refused.
    async fn refused_turn(&self, request: &LaunchRequest, prompt: &str) -> PathBuf {
        let id = self
            .srv
            .backend
            .describe(&request.session)
            .await
            .unwrap()
            .claude_session
            .unwrap();
        let folder = request
            .config_dir
            .join("projects")
            .join(paths::project_folder_name(&self.dir));
        std::fs::create_dir_all(&folder).unwrap();
        let lines = [
            serde_json::json!({"type": "user", "message": {"role": "user", "content": prompt}}),
            serde_json::json!({"type": "assistant", "isApiErrorMessage": true,
                "apiErrorStatus": 429, "message": {"role": "assistant", "content":
                [{"type": "text", "text": "You've hit your weekly limit"}]}}),
        ];
        let path = folder.join(format!("{id}.jsonl"));
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A draft read at the stop is kept in a private file and comes back, unsent, in the next
/// program's input box (launched by a backend that did not see the stop), passed once with
/// `--prefill`; multi-line, and starting with `--`.
#[tokio::test]
async fn a_draft_is_kept_at_the_stop_and_prefilled_at_the_next_launch() {
    let s = setup(false);
    let draft = "-- half a thought\nand its second line";
    std::fs::write(&s.seed, draft).unwrap();
    let req = s.request("drafty");
    s.srv.backend.launch(&req).await.unwrap();
    s.box_shows(&req.session, draft).await;
    s.srv
        .backend
        .stop(&req.session, Duration::from_secs(5))
        .await
        .unwrap();
    let file = s.draft_file("drafty");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), draft);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&s.drafts), 0o700);

    // Launched by another backend on the same server and folder (a daemon started again
    // after one killed between the stop and the launch): the draft is in its file. The
    // first backend is not used again, as a daemon killed is not.
    let next = failover_tmux::TmuxBackend::new(s.srv.backend.config().clone()).unwrap();
    next.launch(&req).await.unwrap();
    s.box_shows(&req.session, draft).await;
    assert!(!file.exists(), "handed on, forgotten");
    let log = s.log();
    assert_eq!(
        log.matches(&format!("--prefill={draft}")).count(),
        1,
        "prefilled once, at the second launch: {log}"
    );
    assert!(
        log.lines()
            .all(|l| !l.starts_with("sent:") || l == "sent:/exit"),
        "nothing sent but the stop's /exit: {log}"
    );

    // Sent by the person now: the next stop keeps nothing, the next launch prefills nothing.
    s.srv.tmux(&["send-keys", "-t", "drafty", "Enter"]);
    s.box_shows(&req.session, "").await;
    next.stop(&req.session, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(!file.exists());
    next.launch(&req).await.unwrap();
    s.box_shows(&req.session, "").await;
    assert_eq!(s.log().matches("--prefill").count(), 1, "{}", s.log());
}

/// The backend's own typing left in the box (its Enter not taken) is not a person's draft.
#[tokio::test]
async fn the_backends_own_typing_is_not_a_draft() {
    let s = setup(true);
    let req = s.request("own");
    s.srv.backend.launch(&req).await.unwrap();
    s.box_shows(&req.session, "").await;
    let err = s
        .srv
        .backend
        .send_input(&req.session, "queued task three")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Enter"), "{err}");
    s.box_shows(&req.session, "queued task three").await;
    s.srv
        .backend
        .stop(&req.session, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(!s.draft_file("own").exists());
}

/// When the launch replays the refused prompt, the draft does not go in first (it would
/// block the replay's typing): it is put back, unsent, right after the replayed prompt went
/// out. The refused prompt itself in the box is not a draft.
#[tokio::test]
async fn after_a_replayed_prompt_the_draft_goes_back_unsent() {
    let s = setup(false);
    let prompt = "migrate the settings loader";
    std::fs::write(&s.seed, prompt).unwrap();
    let mut req = s.request("replayed");
    s.srv.backend.launch(&req).await.unwrap();
    s.box_shows(&req.session, prompt).await;
    s.refused_turn(&req, prompt).await;
    s.srv
        .backend
        .stop(&req.session, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        !s.draft_file("replayed").exists(),
        "the refused prompt is the replay's, not a draft"
    );

    // Another stop with the person's draft in the box, then a resume that replays.
    let draft = "and also check the tests";
    std::fs::write(&s.seed, draft).unwrap();
    let id = s.srv.backend.launch(&req).await.unwrap().claude_session;
    s.box_shows(&req.session, draft).await;
    let transcript = s.refused_turn(&req, prompt).await;
    s.srv
        .backend
        .stop(&req.session, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(s.draft_file("replayed")).unwrap(),
        draft
    );
    assert!(transcript.exists());
    req.resume = Some(id);
    let launched = s.srv.backend.launch(&req).await.unwrap();
    assert_eq!(launched.unanswered_prompt.as_deref(), Some(prompt));
    s.box_shows(&req.session, "").await;
    failover_core::replay_prompt(&s.srv.backend, &req.session, prompt)
        .await
        .unwrap();
    s.box_shows(&req.session, draft).await;
    let log = s.log();
    assert!(!log.contains("--prefill"), "{log}");
    assert_eq!(log.matches(&format!("sent:{prompt}")).count(), 1, "{log}");
    assert!(!log.contains(&format!("sent:{draft}")), "{log}");
    assert!(!s.draft_file("replayed").exists());
}
