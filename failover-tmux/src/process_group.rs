//! The process group of a pane: tmux starts each pane's program as a session leader, so its
//! pid is also the id of the group holding it and everything it started in the foreground.
//! `stop` uses this to make sure nothing of a session outlives it (a second copy of the CLI
//! writing the same transcript on another account would clobber it).
//!
//! A pid is only a number: once the pane's program has exited and been reaped, the number can
//! go to an unrelated process, which may lead a group of its own. A [`Group`] therefore also
//! carries the leader's start time (field 22 of `/proc/<pid>/stat`), recorded at launch, and
//! is checked before every look and every signal: a process with the group's number but
//! another start time is not ours, and is never signalled. While any member of the original
//! group lives, the kernel keeps the number allocated, so a group whose leader is gone is
//! still ours.

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

/// A pane's process group, identified by its leader's pid and start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) pgid: u32,
    /// The leader's start time in clock ticks since boot; `None` when unknown.
    pub(crate) leader_start: Option<u64>,
}

impl Group {
    /// The group led by `pid`, identified by the start time `pid` has now. Only meaningful
    /// while `pid` cannot have been reaped (its pane is not dead).
    pub(crate) fn led_by(pid: u32) -> Self {
        Self {
            pgid: pid,
            leader_start: start_time(pid),
        }
    }

    /// Whether the processes numbered `pgid` are still this group: the leader, if a process
    /// has its number, started when ours did. Without `/proc` nothing can be told apart and
    /// the group is taken as ours.
    pub(crate) fn is_ours(&self) -> bool {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return true;
        }
        match start_time(self.pgid) {
            // Gone: its number stays allocated while any member of its group lives.
            None => true,
            Some(now) => Some(now) == self.leader_start,
        }
    }

    /// Whether any process of the group still runs (never true once it is not ours).
    pub(crate) fn alive(&self) -> bool {
        self.is_ours() && alive(self.pgid)
    }

    /// SIGKILL to every process of the group, if it is still ours.
    pub(crate) fn kill(&self) {
        if self.is_ours() {
            kill(self.pgid);
        } else {
            tracing::warn!(
                pgid = self.pgid,
                "the session's process number now belongs to another program; not signalling it"
            );
        }
    }

    /// Waits until the group is empty (or no longer ours) or `until` passes; whether it did.
    ///
    /// Looks every 10 ms, at the members a scan of `/proc` found (a few files) rather than
    /// at every process of the machine (a scan costs a millisecond or more of CPU with a
    /// few hundred processes, taken from the programs a move starts); once those are gone,
    /// a scan confirms that no other member (one they started meanwhile) is left.
    pub(crate) async fn wait_gone(&self, until: Instant) -> bool {
        let mut members: Vec<u32> = Vec::new();
        loop {
            let alive = if !self.is_ours() {
                false
            } else if members.iter().any(|pid| runs_in_group(*pid, self.pgid)) {
                true
            } else {
                match running_member_pids(self.pgid) {
                    Some(pids) => {
                        members = pids;
                        !members.is_empty()
                    }
                    // No /proc: signal 0, as `alive` does.
                    None => alive(self.pgid),
                }
            };
            if !alive {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10).min(until - Instant::now())).await;
        }
    }

    /// `pgid:start`, as recorded in a tmux option.
    pub(crate) fn to_record(self) -> Option<String> {
        self.leader_start.map(|s| format!("{}:{s}", self.pgid))
    }

    /// Parses [`to_record`](Self::to_record)'s text.
    pub(crate) fn from_record(text: &str) -> Option<Self> {
        let (pid, start) = text.trim().split_once(':')?;
        Some(Self {
            pgid: pid.parse().ok()?,
            leader_start: Some(start.parse().ok()?),
        })
    }
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`, clock ticks since boot).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ...`: field 3 is the first after the last ')'; 22 is the 20th.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether any process of group `pgid` is still running. Zombies do not count: a program
/// that exited but whose parent has not reaped it yet (or never will, under an init that
/// does not reap) writes nothing more.
fn alive(pgid: u32) -> bool {
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
    running_member_pids(pgid).map(|pids| pids.len())
}

/// Whether process `pid` runs (is not a zombie) in group `pgid`, from `/proc/<pid>/stat`.
fn runs_in_group(pid: u32, pgid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| running_in(&stat, pgid))
        .unwrap_or(false)
}

/// From one `/proc/<pid>/stat` text: whether the process runs (is not a zombie) in group
/// `pgid`; `None` when the text does not parse.
fn running_in(stat: &str, pgid: u32) -> Option<bool> {
    // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    let (state, _ppid, pgrp) = (fields.next()?, fields.next()?, fields.next()?);
    Some(pgrp.parse::<u32>().ok() == Some(pgid) && state != "Z" && state != "X")
}

/// The processes of group `pgid` that are not zombies, from a scan of `/proc`; `None`
/// where there is no `/proc`.
fn running_member_pids(pgid: u32) -> Option<Vec<u32>> {
    #[cfg(test)]
    tests::SCANS.with(|n| n.set(n.get() + 1));
    let dir = std::fs::read_dir("/proc").ok()?;
    let mut pids = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if running_in(&stat, pgid) == Some(true) {
            if let Ok(pid) = name.parse() {
                pids.push(pid);
            }
        }
    }
    Some(pids)
}

/// Sends SIGKILL to every process of group `pgid`.
fn kill(pgid: u32) {
    if let Some(pid) = group(pgid) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Scans of `/proc` made on this thread.
        pub(super) static SCANS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// The wait looks at the group's members, not at every process of the machine: a
    /// group that outlives a 300 ms wait (this test's own) costs a scan or two of `/proc`,
    /// not thirty.
    #[tokio::test(flavor = "current_thread")]
    async fn waiting_for_a_group_looks_at_its_members_only() {
        let pgid = rustix::process::getpgrp().as_raw_nonzero().get() as u32;
        let group = Group {
            pgid,
            leader_start: start_time(pgid),
        };
        assert!(group.alive(), "this process runs in it");
        let before = SCANS.with(|n| n.get());
        assert!(
            !group
                .wait_gone(Instant::now() + Duration::from_millis(300))
                .await
        );
        let scans = SCANS.with(|n| n.get()) - before;
        assert!(scans <= 2, "{scans} scans of /proc in a 300 ms wait");
    }
}
