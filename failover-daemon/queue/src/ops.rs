//! Operations on the queue files for the CLI (`claude-failover tasks ...`). They work whether
//! or not the daemon runs: the files are the queue. Results serialize for `--json`.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::fsio::{LinkOutcome, exists_nofollow, link_noclobber, remove_synced, sync_dir};
use crate::layout::{
    Layout, attempts_record_name, claim_record_name, free_name, is_record_name, result_record_name,
};
use crate::records::{ClaimRecordV1, ResultRecordV1};
use crate::store::{Store, read_json};
use crate::task::{self, BadTask, TaskFile};
use crate::{DEFAULT_MAX_TASK_BYTES, QueueError};

/// Where a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting in `inbox/`.
    Inbox,
    /// Held by a session in `claimed/<session>/`.
    Claimed,
    /// Finished, in `done/`.
    Done,
    /// Failed or rejected, in `failed/`.
    Failed,
    /// Finished long ago, in `archive/`.
    Archived,
}

/// One task, as `tasks list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskEntry {
    /// The project.
    pub project: PathBuf,
    /// Its file name (the id `retry` takes).
    pub name: String,
    /// Where it is.
    pub state: TaskState,
    /// Its path.
    pub path: PathBuf,
    /// Front matter priority, when readable.
    pub priority: Option<i64>,
    /// The session it targets, if any.
    pub target_session: Option<String>,
    /// The session holding it (claimed).
    pub session: Option<String>,
    /// The attempt in progress (claimed) or made (done, failed).
    pub attempt: Option<u32>,
    /// Whether the prompt was sent (claimed).
    pub delivered: Option<bool>,
    /// Why it cannot run, for an inbox file that will be rejected.
    pub problem: Option<String>,
    /// The result record (done, failed, archived).
    pub result: Option<ResultRecordV1>,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> QueueError + use<> {
    let path = path.to_path_buf();
    move |source| QueueError::Io { op, path, source }
}

fn names(dir: &Path) -> Result<Vec<(String, PathBuf)>, QueueError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("read", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("read", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Every task of every project, inbox first.
pub fn list(projects: &[PathBuf]) -> Result<Vec<TaskEntry>, QueueError> {
    let mut out = Vec::new();
    for project in projects {
        let layout = Layout::new(project);
        let blank = |name: String, path: PathBuf, state| TaskEntry {
            project: project.clone(),
            name,
            state,
            path,
            priority: None,
            target_session: None,
            session: None,
            attempt: None,
            delivered: None,
            problem: None,
            result: None,
        };
        for (name, path) in names(&layout.inbox())? {
            let mut e = blank(name.clone(), path.clone(), TaskState::Inbox);
            let checked = fs::symlink_metadata(&path)
                .map_err(|e| BadTask::Unreadable(e.to_string()))
                .and_then(|m| {
                    task::inspect(project, &path, name.as_ref(), &m, DEFAULT_MAX_TASK_BYTES)
                });
            match checked {
                Ok(t) => {
                    e.priority = Some(t.meta.priority);
                    e.target_session = t.meta.session;
                }
                Err(bad) => e.problem = Some(bad.to_string()),
            }
            out.push(e);
        }
        for (session, dir) in names(&layout.claimed())? {
            for (name, path) in names(&dir)? {
                if is_record_name(&name) {
                    continue;
                }
                let mut e = blank(name.clone(), path, TaskState::Claimed);
                let record: Option<ClaimRecordV1> = read_json(&dir.join(claim_record_name(&name)))
                    .ok()
                    .flatten();
                e.session = Some(session.clone());
                e.attempt = record.as_ref().map(|r| r.attempt);
                e.delivered = Some(record.is_some_and(|r| r.delivered_at.is_some()));
                out.push(e);
            }
        }
        for (dir, state) in [
            (layout.done(), TaskState::Done),
            (layout.failed(), TaskState::Failed),
            (layout.archive(), TaskState::Archived),
        ] {
            for (name, path) in names(&dir)? {
                if is_record_name(&name) {
                    continue;
                }
                let mut e = blank(name.clone(), path, state);
                e.result = read_json(&dir.join(result_record_name(&name)))
                    .ok()
                    .flatten();
                e.session = e
                    .result
                    .as_ref()
                    .and_then(|r| r.session.as_ref().map(ToString::to_string));
                e.attempt = e.result.as_ref().map(|r| r.attempts);
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// What [`add`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Added {
    /// The project.
    pub project: PathBuf,
    /// The task's name in the inbox (the file's own name, or `<stem>~N.md` if taken).
    pub name: String,
    /// Its path.
    pub path: PathBuf,
}

static ADD_SEQ: AtomicU64 = AtomicU64::new(0);

/// Copies `file` into `project`'s inbox, after checking it as the runner would (size,
/// UTF-8, front matter, `.md` name). The copy is written to `tmp/`, `fsync`ed, then linked
/// into the inbox under a free name, so the runner never sees it half-written and never
/// loses a task already there.
pub fn add(project: &Path, file: &Path, max_bytes: u64) -> Result<Added, QueueError> {
    let bad = |reason| QueueError::BadTask {
        path: file.to_path_buf(),
        reason,
    };
    let name = file
        .file_name()
        .ok_or_else(|| bad(BadTask::NotMarkdown))?
        .to_str()
        .ok_or_else(|| bad(BadTask::NameNotUtf8))?
        .to_owned();
    if !name.ends_with(".md") || name.starts_with('.') {
        return Err(bad(BadTask::NotMarkdown));
    }
    let meta = fs::metadata(file).map_err(io_err("read task", file))?;
    if !meta.is_file() {
        return Err(bad(BadTask::NotAFile));
    }
    if meta.len() > max_bytes {
        return Err(bad(BadTask::TooLarge {
            size: meta.len(),
            limit: max_bytes,
        }));
    }
    let mut bytes = Vec::new();
    fs::File::open(file)
        .and_then(|f| f.take(max_bytes + 1).read_to_end(&mut bytes))
        .map_err(io_err("read task", file))?;
    if bytes.len() as u64 > max_bytes {
        return Err(bad(BadTask::TooLarge {
            size: bytes.len() as u64,
            limit: max_bytes,
        }));
    }
    let _: TaskFile = task::parse(&bytes).map_err(bad)?;
    let store = Store::open(project)?;
    let tmp = store.layout.tmp().join(format!(
        "add-{}-{}.md",
        std::process::id(),
        ADD_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err("write", &tmp))?;
        f.write_all(&bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("sync", &tmp))?;
        let inbox = store.layout.inbox();
        loop {
            let dest = free_name(&inbox, &name);
            let path = inbox.join(&dest);
            match link_noclobber(&tmp, &path).map_err(io_err("add to inbox", &path))? {
                LinkOutcome::Created | LinkOutcome::Existed => {
                    return Ok(Added {
                        project: project.to_path_buf(),
                        name: dest,
                        path,
                    });
                }
                LinkOutcome::Occupied => continue,
            }
        }
    })();
    let _ = fs::remove_file(&tmp);
    result
}

/// A task id must be a plain name inside `failed/`: no path separator, no `.` or `..`, no NUL.
fn check_id(id: &str) -> Result<(), QueueError> {
    let reason = if id.is_empty() {
        Some("it is empty")
    } else if id == "." || id == ".." {
        Some("`.` and `..` name directories")
    } else if id.contains(std::path::MAIN_SEPARATOR) || id.contains('/') {
        Some("it holds a path separator (give the name shown by `tasks list`)")
    } else if id.contains('\0') {
        Some("it holds a NUL byte")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(QueueError::InvalidId {
            id: id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// What [`retry`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Retried {
    /// The project.
    pub project: PathBuf,
    /// Its name in `failed/`.
    pub from: String,
    /// Its name in the inbox.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
}

/// Moves failed task `id` (its file name, `.md` optional) back to the inbox with its attempts
/// reset. Searched in every project's `failed/`; a name found in several is refused.
///
/// The task is linked into the inbox first, then its `failed/` name and record are removed:
/// a crash in between leaves two names for one file, which the runner's recovery resolves
/// by dropping the `failed/` one.
pub fn retry(projects: &[PathBuf], id: &str) -> Result<Retried, QueueError> {
    check_id(id)?;
    let wanted = [id.to_owned(), format!("{id}.md")];
    let mut found = Vec::new();
    for project in projects {
        let failed = Layout::new(project).failed();
        for name in &wanted {
            let path = failed.join(name);
            if !is_record_name(name) && exists_nofollow(&path) {
                found.push((project.clone(), name.clone(), path));
                break;
            }
        }
    }
    let (project, from, path) = match found.len() {
        0 => return Err(QueueError::NotFound(id.to_owned())),
        1 => found.remove(0),
        _ => {
            return Err(QueueError::Ambiguous {
                id: id.to_owned(),
                candidates: found.into_iter().map(|f| f.2).collect(),
            });
        }
    };
    let store = Store::open(&project)?;
    let inbox = store.layout.inbox();
    let name = loop {
        let dest = free_name(&inbox, &from);
        match link_noclobber(&path, &inbox.join(&dest)).map_err(io_err("retry", &path))? {
            LinkOutcome::Created | LinkOutcome::Existed => break dest,
            LinkOutcome::Occupied => continue,
        }
    };
    let attempts = store.layout.attempts().join(attempts_record_name(&name));
    remove_synced(&attempts).map_err(io_err("reset attempts", &attempts))?;
    remove_synced(&path).map_err(io_err("retry", &path))?;
    let record = store.layout.failed().join(result_record_name(&from));
    remove_synced(&record).map_err(io_err("retry", &record))?;
    sync_dir(&store.layout.failed()).map_err(io_err("sync", &store.layout.failed()))?;
    Ok(Retried {
        project,
        from,
        path: inbox.join(&name),
        name,
    })
}
