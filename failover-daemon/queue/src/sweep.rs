//! The sweep: housekeeping, run now and then by the daemon's janitor. Claims of sessions that
//! are gone go back to the inbox, old `done/` entries move to `archive/`, stale temp and
//! attempt files go. It never deletes a task: unfinished tasks are only ever moved back to the
//! inbox (or, out of attempts, to `failed/`).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use failover_core::SessionId;
use jiff::Timestamp;
use serde::Serialize;

use crate::QueueError;
use crate::fsio::{exists_nofollow, remove_synced, rename_synced};
use crate::layout::{free_name, is_record_name, result_record_name};
use crate::records::{AttemptsRecordV1, OutcomeKind, ResultRecordV1};
use crate::store::{Store, read_json};

/// What the sweep keeps and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepConfig {
    /// `done/` entries that ended longer ago than this move to `archive/`.
    pub done_max_age: Duration,
    /// Leftover temp files and unused attempt records older than this are removed.
    pub scratch_max_age: Duration,
}

impl SweepConfig {
    /// Archive `done/` entries after `done_max_age`; remove scratch after an hour.
    pub fn new(done_max_age: Duration) -> Self {
        Self {
            done_max_age,
            scratch_max_age: Duration::from_secs(3600),
        }
    }
}

/// What one run did, per project.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Claims sent back to the inbox: `(project, task)`.
    pub requeued: Vec<(PathBuf, String)>,
    /// Claims that ran out of attempts: `(project, task)`.
    pub failed: Vec<(PathBuf, String)>,
    /// `done/` entries archived: `(project, task)`.
    pub archived: Vec<(PathBuf, String)>,
    /// Scratch files removed.
    pub scratch_removed: usize,
}

fn canonical(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn age(now: Timestamp, then: Timestamp) -> Duration {
    now.duration_since(then).unsigned_abs()
}

fn mtime(path: &Path) -> Option<Timestamp> {
    let m = fs::symlink_metadata(path).ok()?.modified().ok()?;
    Timestamp::try_from(m).ok()
}

/// One pass over `projects`. `sessions` are the configured sessions and their directories: a
/// claim under `claimed/<s>/` of a project that is not `s`'s directory is released.
pub fn run_once(
    now: Timestamp,
    projects: &[PathBuf],
    sessions: &[(SessionId, PathBuf)],
    config: &SweepConfig,
) -> Result<SweepReport, QueueError> {
    let mut report = SweepReport::default();
    let sessions: Vec<(String, PathBuf)> = sessions
        .iter()
        .map(|(s, d)| (s.to_string(), canonical(d)))
        .collect();
    for project in projects {
        let project = canonical(project);
        let store = Store::open(&project)?;
        release_gone(&store, now, &project, &sessions, &mut report)?;
        archive_done(&store, now, config.done_max_age, &mut report)?;
        report.scratch_removed += clean_scratch(&store, now, config.scratch_max_age)?;
    }
    Ok(report)
}

fn release_gone(
    store: &Store,
    now: Timestamp,
    project: &Path,
    sessions: &[(String, PathBuf)],
    report: &mut SweepReport,
) -> Result<(), QueueError> {
    let claimed = store.layout.claimed();
    let Ok(dirs) = fs::read_dir(&claimed) else {
        return Ok(());
    };
    for dir in dirs.filter_map(Result::ok) {
        let Some(name) = dir.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if sessions.iter().any(|(s, d)| *s == name && d == project) {
            continue;
        }
        let session = SessionId::new(name.clone());
        for (task, kind) in store.release_session(&session, now, "its session is gone")? {
            let entry = (project.to_path_buf(), task);
            match kind {
                OutcomeKind::Failed => report.failed.push(entry),
                _ => report.requeued.push(entry),
            }
        }
    }
    Ok(())
}

fn archive_done(
    store: &Store,
    now: Timestamp,
    max_age: Duration,
    report: &mut SweepReport,
) -> Result<(), QueueError> {
    let done = store.layout.done();
    let archive = store.layout.archive();
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| QueueError::Io { op, path, source }
    };
    for entry in fs::read_dir(&done).map_err(io("read done", &done))? {
        let entry = entry.map_err(io("read done", &done))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let path = entry.path();
        let (task, record) = if name.ends_with(".result.json") {
            // A record whose task is gone: left by an archive that stopped half-way.
            let base = name.trim_end_matches(".result.json");
            if exists_nofollow(&done.join(format!("{base}.md")))
                || exists_nofollow(&done.join(base))
            {
                continue;
            }
            (None, path.clone())
        } else if is_record_name(&name) {
            continue;
        } else {
            (Some(name.clone()), done.join(result_record_name(&name)))
        };
        let ended = read_json::<ResultRecordV1>(&record)
            .ok()
            .flatten()
            .map(|r| r.ended_at)
            .or_else(|| mtime(&record))
            .or_else(|| mtime(&path));
        if ended.is_none_or(|t| age(now, t) < max_age) {
            continue;
        }
        match task {
            Some(task) => {
                let dest = free_name(&archive, &task);
                rename_synced(&path, &archive.join(&dest)).map_err(io("archive", &path))?;
                if exists_nofollow(&record) {
                    let to = archive.join(result_record_name(&dest));
                    rename_synced(&record, &to).map_err(io("archive", &record))?;
                }
                report.archived.push((store.layout.project.clone(), dest));
            }
            None => {
                let to = archive.join(free_name(&archive, &name));
                rename_synced(&record, &to).map_err(io("archive", &record))?;
            }
        }
    }
    Ok(())
}

fn clean_scratch(store: &Store, now: Timestamp, max_age: Duration) -> Result<usize, QueueError> {
    let mut removed = 0;
    let old = |p: &Path| mtime(p).is_some_and(|t| age(now, t) >= max_age);
    let tmp = store.layout.tmp();
    for entry in fs::read_dir(&tmp)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if old(&path) && remove_synced(&path).is_ok() {
            removed += 1;
        }
    }
    let attempts = store.layout.attempts();
    let inbox = store.layout.inbox();
    for entry in fs::read_dir(&attempts)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        let in_use = read_json::<AttemptsRecordV1>(&path)
            .ok()
            .flatten()
            .is_some_and(|r| {
                use std::os::unix::fs::MetadataExt;
                fs::symlink_metadata(inbox.join(&r.task))
                    .is_ok_and(|m| m.ino() == r.ino && m.dev() == r.dev)
            });
        if !in_use && old(&path) && remove_synced(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
