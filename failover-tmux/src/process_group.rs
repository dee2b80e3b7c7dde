//! The process group of a pane: tmux starts each pane's program as a session leader, so its
//! pid is also the id of the group holding it and everything it started in the foreground.
//! `stop` uses this to make sure nothing of a session outlives it (a second copy of the CLI
//! writing the same transcript on another account would clobber it).

use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};
use tokio::time::Instant;

fn group(pgid: u32) -> Option<Pid> {
    i32::try_from(pgid)
        .ok()
        .filter(|p| *p > 1)
        .and_then(Pid::from_raw)
}

/// Whether any process of group `pgid` is still running. Zombies do not count: a program
/// that exited but whose parent has not reaped it yet (or never will, under an init that
/// does not reap) writes nothing more.
pub(crate) fn alive(pgid: u32) -> bool {
    let Some(pid) = group(pgid) else {
        return false;
    };
    match running_members(pgid) {
        Some(n) => n > 0,
        // No /proc: signal 0 tells whether the group has members, zombies included.
        None => match test_kill_process_group(pid) {
            Ok(()) => true,
            Err(e) => e == Errno::PERM,
        },
    }
}

/// How many processes of group `pgid` are not zombies, from `/proc/<pid>/stat`; `None`
/// where there is no `/proc`.
fn running_members(pgid: u32) -> Option<usize> {
    let dir = std::fs::read_dir("/proc").ok()?;
    let mut n = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (Some(state), Some(_ppid), Some(pgrp)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if pgrp.parse::<u32>().ok() == Some(pgid) && state != "Z" && state != "X" {
            n += 1;
        }
    }
    Some(n)
}

/// Sends SIGKILL to every process of group `pgid`.
pub(crate) fn kill(pgid: u32) {
    if let Some(pid) = group(pgid) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// Waits until group `pgid` is empty or `until` passes; whether it emptied.
pub(crate) async fn wait_gone(pgid: u32, until: Instant) -> bool {
    loop {
        if !alive(pgid) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10).min(until - Instant::now())).await;
    }
}
