//! Shared test support: a private tmux server per test and a stand-in for `claude`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use std::sync::Arc;

use failover_core::SessionId;
use failover_core::quota::PaneDetector;
use failover_tmux::observe::{ObserverEvent, PaneObserver, PaneObserverConfig};
use failover_tmux::{ObserveError, Socket, TmuxBackend, TmuxConfig};
use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A tmux server on a unique `-L failover-test-<pid>-<n>` socket, killed on drop.
pub(crate) struct TestServer {
    pub(crate) socket: String,
    pub(crate) backend: TmuxBackend,
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) log: PathBuf,
}

impl TestServer {
    /// A server whose sessions run the stand-in script.
    pub(crate) fn new() -> Self {
        Self::with(|_| {})
    }

    pub(crate) fn with(adjust: impl FnOnce(&mut TmuxConfig)) -> Self {
        let socket = format!(
            "failover-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = tempfile::tempdir().unwrap();
        let standin = tmp.path().join("standin.sh");
        write_exec(&standin, STANDIN);
        let log = tmp.path().join("standin.log");
        let mut config = TmuxConfig::new(Socket::Name(socket.clone()));
        config.claude_command = vec!["/bin/sh".into(), standin.to_string_lossy().into_owned()];
        config
            .env
            .push(("STANDIN_LOG".into(), log.to_string_lossy().into_owned()));
        config.width = 100;
        config.height = 30;
        // Deadlines, not delays: generous so a loaded machine does not fail the tests.
        config.input_timeout = Duration::from_secs(10);
        adjust(&mut config);
        let backend = TmuxBackend::new(config).unwrap();
        Self {
            socket,
            backend,
            tmp,
            log,
        }
    }

    /// Runs a raw tmux command on this server (tests only; the crate never does this).
    pub(crate) fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The log the stand-in writes.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A fresh folder under the test's temporary folder.
    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        let d = self.tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // SIGCONT first in case a test stopped the server.
        let pid = self.tmux(&["display-message", "-p", "#{pid}"]);
        if !pid.is_empty() {
            let _ = Command::new("kill").args(["-CONT", &pid]).status();
        }
        let socket = self.tmux(&["display-message", "-p", "#{socket_path}"]);
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        // tmux 3.3 leaves the socket file behind.
        if !socket.is_empty() {
            let _ = std::fs::remove_file(socket);
        }
    }
}

pub(crate) fn write_exec(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A stand-in for `claude`: draws a Claude-like prompt box, logs its arguments, its
/// environment and every line it reads; `/exit` exits with `$STANDIN_EXIT`; `WORK` shows
/// the working footer and blocks (only a signal ends it); `/resume <id>` loads the
/// conversation as Claude Code does when `$CLAUDE_CONFIG_DIR/projects` holds its transcript
/// (clears the screen, draws it with the limit message that refused its last turn, as
/// 2.1.328 does, and logs `resumed:<id>`) and answers `Session <id> was not
/// found.` below the command otherwise (or when the file `$STANDIN_LOG.resume-fails` exists).
pub(crate) const STANDIN: &str = r#"#!/bin/sh
log="${STANDIN_LOG:?}"
printf 'args:%s\n' "$*" >> "$log"
printf 'env:%s|%s|%s|%s|%s\n' "$CLAUDE_CONFIG_DIR" "$FAILOVER_SESSION" "$FAILOVER_ACCOUNT" "$DISABLE_AUTOUPDATER" "$STANDIN_EXTRA" >> "$log"
printf 'pwd:%s\n' "$(pwd)" >> "$log"
rule='────────────────────────────────'
draw() { printf '%s\n❯ \n%s\n  ? for shortcuts\n' "$rule" "$rule"; }
draw
while IFS= read -r line; do
  line=$(printf '%s' "$line" | tr -d '\033')
  case "$line" in
    */exit) printf 'exit-requested\n' >> "$log"; sleep 0.2; exit "${STANDIN_EXIT:-0}" ;;
    WORK) printf '✻ Working…\n  esc to interrupt\n'; sleep 600 ;;
    */resume\ *)
      id=${line##*/resume }
      if [ ! -e "$log.resume-fails" ] && [ -n "$(find "${CLAUDE_CONFIG_DIR:-/nonexistent}/projects/" -name "$id.jsonl" 2>/dev/null)" ]; then
        printf 'resumed:%s\n' "$id" >> "$log"
        printf '\033[2J\033[H❯ the conversation %s\n  ⎿  %s\n' "$id" "You've hit your 5-hour limit · resets 9:38am (UTC)"
      else
        printf '❯ /resume %s\n  ⎿  Session %s was not found.\n' "$id" "$id"
      fi ;;
    *) printf 'line:%s\n' "$line" >> "$log" ;;
  esac
  draw
done
"#;

/// Waits until `f` returns `Some`, checking every 20 ms, failing after `deadline`.
pub(crate) async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A pane observer of `session` with the stock detector and settings, reporting to `tx`, as
/// the daemon runs one.
pub(crate) fn spawn_observer(
    backend: &TmuxBackend,
    session: SessionId,
    tx: Sender<ObserverEvent>,
) -> JoinHandle<Result<(), ObserveError>> {
    tokio::spawn(
        PaneObserver::new(
            backend,
            session,
            Arc::new(PaneDetector::new()),
            tx,
            PaneObserverConfig::default(),
        )
        .run(),
    )
}
