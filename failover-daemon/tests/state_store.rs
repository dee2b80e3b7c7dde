//! The state file: crash-safe writes, unreadable files set aside, a full disk reported while
//! the previous file stays intact and the daemon keeps running.

use crate::support as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use failover_core::{
    AccountId, AccountState, PersistedSession, PersistedState, SessionId, UnixMillis,
};
use failover_daemon::state_store::{Loaded, StateError, StateStore};
use failover_daemon::{Daemon, DaemonError};

fn sample(active: &str) -> PersistedState {
    PersistedState {
        schema_version: PersistedState::SCHEMA_VERSION,
        active_account: Some(AccountId::new(active)),
        accounts: BTreeMap::from([(AccountId::new(active), AccountState::Available)]),
        sessions: BTreeMap::from([(
            SessionId::new("ccl-0"),
            PersistedSession {
                account: Some(AccountId::new(active)),
                claude_session: None,
                pending_prompt: Some("go on".into()),
                parked: false,
            },
        )]),
        swap: None,
        paused: false,
    }
}

#[test]
fn written_state_reads_back_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path());
    assert!(matches!(store.load(UnixMillis(0)).unwrap(), Loaded::Fresh));
    store.save(&sample("a")).unwrap();
    store.save(&sample("b")).unwrap();
    match store.load(UnixMillis(0)).unwrap() {
        Loaded::State(s) => assert_eq!(s, sample("b")),
        other => panic!("{other:?}"),
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["state.json".to_owned()]);
}

#[test]
fn a_swap_saved_by_a_version_that_moved_one_session_at_a_time_resumes_side_by_side() {
    // The swap record has not changed with parallel moves: `pending` lists the sessions
    // not yet moved, the one that was moving included. s1 had moved, s2 was stopped
    // mid-move, s3..s5 still run on a.
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path());
    let session = |account: &str, conv: &str| {
        format!(
            r#"{{"account":"{account}","claude_session":"{conv}","pending_prompt":null,"parked":false}}"#
        )
    };
    let text = format!(
        r#"{{"schema_version":1,"active_account":"b",
        "accounts":{{"a":{{"state":"exhausted","window":"five_hour","until":7200000}},
                    "b":{{"state":"available"}}}},
        "sessions":{{"s1":{},"s2":{},"s3":{},"s4":{},"s5":{}}},
        "swap":{{"from":"a","to":"b","pending":["s2","s3","s4","s5"],"started_at":1000}},
        "paused":false}}"#,
        session("b", "c1"),
        session("a", "c2"),
        session("a", "c3"),
        session("a", "c4"),
        session("a", "c5"),
    );
    std::fs::write(store.path(), text).unwrap();
    let Loaded::State(state) = store.load(UnixMillis(0)).unwrap() else {
        panic!("the state file did not load");
    };
    let swap = state.swap.clone().expect("the swap in flight is read");
    assert_eq!(swap.pending.len(), 4);

    let mut config = failover_core::testkit::config(&["a", "b"], &["s1", "s2", "s3", "s4", "s5"]);
    config.parallel_moves = 2;
    let mut engine = failover_core::FailoverEngine::restore(config, state).unwrap();
    let now = UnixMillis::from_secs(100);
    let started = |s: &str, account: &str| failover_core::Input::SessionStarted {
        session: SessionId::new(s),
        claude_session: None,
        account: Some(AccountId::new(account)),
    };
    engine.handle(now, started("s1", "b"));
    for s in ["s3", "s4", "s5"] {
        engine.handle(now, started(s, "a"));
    }
    let effects = engine.handle(now, failover_core::Input::AdoptionComplete);
    let moves: Vec<String> = effects
        .iter()
        .filter_map(|e| match e {
            failover_core::Effect::Launch {
                session, account, ..
            } => Some(format!("launch {session} on {account}")),
            failover_core::Effect::Checkpoint { session, .. } => {
                Some(format!("checkpoint {session}"))
            }
            _ => None,
        })
        .collect();
    // The stopped one comes back on b; two of the three still on a start moving.
    assert_eq!(moves, ["launch s2 on b", "checkpoint s3", "checkpoint s4"]);
    let moving = engine.snapshot().swap.expect("the swap goes on").moving;
    assert_eq!(moving, [SessionId::new("s3"), SessionId::new("s4")]);
}

#[test]
fn a_corrupt_state_file_is_kept_aside_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path());
    std::fs::write(
        store.path(),
        b"{\"schema_version\": 1, \"accounts\": [trunc",
    )
    .unwrap();
    let loaded = store.load(UnixMillis::from_secs(1_700_000_000)).unwrap();
    let Loaded::Corrupt { kept_at, reason } = loaded else {
        panic!("expected Corrupt, got {loaded:?}");
    };
    assert!(reason.contains("is not a valid state file"), "{reason}");
    assert_eq!(kept_at, dir.path().join("state.json.corrupt-1700000000"));
    assert_eq!(
        std::fs::read(&kept_at).unwrap(),
        b"{\"schema_version\": 1, \"accounts\": [trunc"
    );
    assert!(!store.path().exists());
}

#[test]
fn a_state_file_that_cannot_be_read_is_an_error_and_stays_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path());
    // A directory where the file should be: reading fails (EISDIR), a real I/O error that is
    // not "corrupt JSON", whatever the user (chmod 000 does not stop root).
    std::fs::create_dir(store.path()).unwrap();
    std::fs::write(store.path().join("inside"), b"x").unwrap();
    let err = store.load(UnixMillis(5_000)).unwrap_err();
    assert!(
        matches!(err, StateError::Io { ref source, .. } if source.raw_os_error() == Some(libc_eisdir())),
        "{err:?}"
    );
    assert!(err.to_string().contains("state.json"), "{err}");
    assert!(store.path().join("inside").exists(), "left where it was");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["state.json".to_owned()], "nothing set aside");
}

fn libc_eisdir() -> i32 {
    21
}

#[tokio::test]
async fn the_daemon_stops_with_the_error_when_the_state_file_cannot_be_read() {
    let tree = Tree::new(&["primary"], &["ccl-0"]);
    std::fs::create_dir_all(tree.state_dir().join("state.json")).unwrap();
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(&tree);
    let err = Daemon::start(tree.config(&["primary"], &["ccl-0"], ""), deps)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DaemonError::State(StateError::Io { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("cannot read"), "{err}");
    assert!(tree.state_dir().join("state.json").is_dir());
    assert!(
        fakes.backend.account_of(&SessionId::new("ccl-0")).is_none(),
        "nothing was launched"
    );
}

#[test]
fn state_files_are_owner_only_and_a_new_state_directory_is_0700() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("new/state");
    let store = StateStore::new(&state_dir);
    store.save(&sample("a")).unwrap();
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(mode(&state_dir), 0o700);
    assert_eq!(mode(&dir.path().join("new")), 0o700);
    // A file an older version left world-readable is replaced by an owner-only one.
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    store.save(&sample("b")).unwrap();
    assert_eq!(mode(store.path()), 0o600);
}

#[test]
fn a_state_file_from_a_newer_version_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path());
    std::fs::write(store.path(), br#"{"schema_version": 99}"#).unwrap();
    let err = store.load(UnixMillis(0)).unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
    assert!(store.path().exists());
}

#[tokio::test(start_paused = true)]
async fn the_daemon_starts_from_empty_state_when_the_file_is_corrupt_and_says_so() {
    let tree = Tree::new(&["primary", "backup"], &["ccl-0"]);
    std::fs::create_dir_all(tree.state_dir()).unwrap();
    std::fs::write(tree.state_dir().join("state.json"), b"not json at all").unwrap();
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(&tree);
    let daemon = Daemon::start(tree.config(&["primary", "backup"], &["ccl-0"], ""), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let running = tokio::spawn(daemon.run(std::future::pending()));
    let p = handle.published();
    let msg = p
        .facts
        .state_error
        .clone()
        .expect("the status says what happened");
    assert!(msg.contains("state.json.corrupt-"), "{msg}");
    eventually(Duration::from_secs(60), "operator notified", || {
        fakes
            .notifier
            .received()
            .iter()
            .any(|n| n.summary.contains("state.json.corrupt-"))
    })
    .await;
    let kept: Vec<_> = std::fs::read_dir(tree.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("state.json.corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read(tree.state_dir().join(&kept[0])).unwrap(),
        b"not json at all"
    );
    // And it works: the session is launched, and a fresh state file is written.
    eventually(Duration::from_secs(60), "launched", || {
        fakes.backend.account_of(&SessionId::new("ccl-0")).is_some()
    })
    .await;
    running.abort();
}

#[tokio::test]
async fn a_state_file_from_a_newer_version_stops_the_daemon_with_a_clear_error() {
    let tree = Tree::new(&["primary"], &[]);
    std::fs::create_dir_all(tree.state_dir()).unwrap();
    std::fs::write(
        tree.state_dir().join("state.json"),
        br#"{"schema_version": 7}"#,
    )
    .unwrap();
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(&tree);
    let err = Daemon::start(tree.config(&["primary"], &[], ""), deps)
        .await
        .unwrap_err();
    assert!(matches!(err, DaemonError::State(_)), "{err}");
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
}

/// A small tmpfs, unmounted on drop. Needs root (CAP_SYS_ADMIN).
struct SmallFs(tempfile::TempDir);

impl SmallFs {
    fn mount(kib: u32) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Self(dir))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Fills the file system until a write fails with ENOSPC.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.path().join("ballast")).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            use std::io::Write;
            match f.write_all(&chunk).and_then(|()| f.sync_all()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc_enospc()) => return,
                Err(e) => panic!("unexpected error while filling: {e}"),
            }
        }
    }
}

fn libc_enospc() -> i32 {
    28
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

fn small_fs_or_explain() -> Option<SmallFs> {
    match SmallFs::mount(256) {
        Ok(fs) => Some(fs),
        Err(why) => {
            eprintln!(
                "\n*** SKIPPED: the full-disk test needs to mount a small tmpfs (run as root); mount said: {why}\n"
            );
            None
        }
    }
}

#[test]
fn a_full_disk_keeps_the_previous_state_file_intact() {
    let Some(fs) = small_fs_or_explain() else {
        return;
    };
    let store = StateStore::new(fs.path());
    store.save(&sample("a")).unwrap();
    fs.fill();
    // Big enough that it cannot fit in what is left.
    let mut big = sample("b");
    for i in 0..2000 {
        big.sessions.insert(
            SessionId::new(format!("s{i}")),
            PersistedSession {
                account: None,
                claude_session: None,
                pending_prompt: Some("x".repeat(64)),
                parked: false,
            },
        );
    }
    let err = store.save(&big).unwrap_err();
    assert!(err.is_disk_full(), "{err}");
    assert!(err.to_string().contains("state file"), "{err}");
    match store.load(UnixMillis(0)).unwrap() {
        Loaded::State(s) => assert_eq!(s, sample("a")),
        other => panic!("previous state lost: {other:?}"),
    }
    let leftovers: Vec<_> = std::fs::read_dir(fs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn the_daemon_keeps_running_on_a_full_disk_and_says_why() {
    let Some(fs) = small_fs_or_explain() else {
        return;
    };
    let tree = Tree::new(&["primary", "backup"], &["ccl-0", "ccl-1"]);
    let state_dir = fs.path().join("state");
    let extra = String::new();
    let mut config = tree.config(&["primary", "backup"], &["ccl-0", "ccl-1"], &extra);
    config.state_dir = state_dir.clone();
    let fakes = Fakes::new();
    let (deps, obs) = fakes.deps(&tree);
    let daemon = Daemon::start(config, deps).await.unwrap();
    let handle = daemon.handle();
    let running = tokio::spawn(daemon.run(std::future::pending()));
    let sessions = ["ccl-0", "ccl-1"];
    eventually(Duration::from_secs(30), "launched and persisted", || {
        fakes.accounts_of(&sessions) == vec![Some("primary".into()); 2]
            && std::fs::read_to_string(state_dir.join("state.json"))
                .is_ok_and(|t| t.matches("conv-").count() == 2)
    })
    .await;
    let before = std::fs::read(state_dir.join("state.json")).unwrap();
    fs.fill();

    // A failover now cannot be persisted, but still happens.
    let now = handle.clock().now();
    obs.send(quota_exhausted(
        "ccl-0",
        now + Duration::from_secs(3600),
        now,
    ))
    .await
    .unwrap();
    eventually(Duration::from_secs(30), "sessions moved", || {
        fakes.accounts_of(&sessions) == vec![Some("backup".into()); 2]
    })
    .await;
    let p = handle
        .wait_for(Duration::from_secs(30), |p| p.facts.state_error.is_some())
        .await
        .expect("the status reports the failed write");
    let why = p.facts.state_error.clone().unwrap();
    assert!(why.contains("No space left on device"), "{why}");
    assert_eq!(std::fs::read(state_dir.join("state.json")).unwrap(), before);
    eventually(Duration::from_secs(30), "operator told", || {
        fakes
            .notifier
            .received()
            .iter()
            .any(|n| n.summary.contains("cannot write the state file"))
    })
    .await;
    assert!(
        handle
            .metrics()
            .render(&p.snapshot)
            .contains("claude_failover_state_write_failures_total ")
    );
    // Space comes back: the next write succeeds and clears the error.
    std::fs::remove_file(fs.path().join("ballast")).unwrap();
    handle.command(failover_core::Command::Pause).await.unwrap();
    let p = handle
        .wait_for(Duration::from_secs(30), |p| p.facts.state_error.is_none())
        .await
        .expect("a later write succeeds");
    assert!(p.snapshot.paused);
    let state: PersistedState =
        serde_json::from_slice(&std::fs::read(state_dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        state.active_account.as_ref().map(AccountId::as_str),
        Some("backup")
    );
    running.abort();
    let _ = running.await;
}
