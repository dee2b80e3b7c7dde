//! One project's queue on disk: every move a task makes, each written so that a kill at any
//! instant leaves a state [`Store::recover`] finishes. See `QUEUE.md` for the crash windows.

use std::ffi::{OsStr, OsString};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use failover_core::{AccountId, ClaudeSessionId, SessionId};
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::QueueError;
use crate::fsio::{
    LinkOutcome, exists_nofollow, link_noclobber, remove_synced, rename_synced, same_file,
    write_atomic,
};
use crate::layout::{
    Layout, attempts_record_name, claim_record_name, free_name, is_record_name, result_record_name,
};
use crate::records::{
    AttemptsRecordV1, ClaimRecordV1, OutcomeKind, PendingOutcome, RECORD_VERSION, ResultKind,
    ResultRecordV1,
};

/// Whether a session name can name a directory under `claimed/`.
pub(crate) fn session_dir_ok(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && name.len() <= 200
}

/// The end state of a claim, as decided by the runner or the sweep.
#[derive(Debug)]
pub(crate) struct Ending {
    pub(crate) kind: OutcomeKind,
    pub(crate) reason: Option<String>,
    pub(crate) attempts_used: u32,
    pub(crate) account: Option<AccountId>,
    pub(crate) claude_session: Option<ClaudeSessionId>,
}

/// What [`Store::recover`] did.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// Delivered claims whose outcome is not known yet: watch their sessions.
    pub(crate) delivered: Vec<ClaimRecordV1>,
    /// Claims finished or sent back to the inbox.
    pub(crate) repaired: usize,
}

/// One session directory under `claimed/`: the session, its task names, its claim records.
type SessionClaims = (SessionId, Vec<String>, Vec<ClaimRecordV1>);

/// One project's queue.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    pub(crate) layout: Layout,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> QueueError + use<> {
    let path = path.to_path_buf();
    move |source| QueueError::Io { op, path, source }
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, QueueError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read record", path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| QueueError::Record {
            path: path.to_path_buf(),
            source,
        })
}

impl Store {
    /// Opens (creating its directories) the queue of `project`.
    pub(crate) fn open(project: &Path) -> Result<Self, QueueError> {
        let layout = Layout::new(project);
        layout
            .create()
            .map_err(io_err("create queue directories", &layout.root))?;
        Ok(Self { layout })
    }

    fn write_json<T: Serialize>(&self, dest: &Path, value: &T) -> Result<(), QueueError> {
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| QueueError::Record {
            path: dest.to_path_buf(),
            source,
        })?;
        bytes.push(b'\n');
        write_atomic(&self.layout.tmp(), dest, &bytes).map_err(io_err("write record", dest))
    }

    /// Inbox entries, hidden names (`.name`) excepted: tools may write those and rename.
    pub(crate) fn inbox_names(&self) -> Result<Vec<OsString>, QueueError> {
        let inbox = self.layout.inbox();
        let mut names = Vec::new();
        for entry in fs::read_dir(&inbox).map_err(io_err("read inbox", &inbox))? {
            let name = entry.map_err(io_err("read inbox", &inbox))?.file_name();
            if !name.as_encoded_bytes().starts_with(b".") {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Moves a bad inbox entry to `failed/` and writes its reason beside it. Returns its name
    /// there. The move comes first: a crash before the record leaves a `failed/` entry with no
    /// record, which [`recover`](Self::recover) explains.
    pub(crate) fn reject(
        &self,
        name: &OsStr,
        reason: &str,
        now: Timestamp,
    ) -> Result<String, QueueError> {
        let from = self.layout.inbox().join(name);
        let shown = name.to_string_lossy().into_owned();
        let dest = free_name(&self.layout.failed(), &shown);
        let to = self.layout.failed().join(&dest);
        rename_synced(&from, &to).map_err(io_err("move rejected task", &from))?;
        self.write_result(
            &self.layout.failed(),
            &ResultRecordV1::failed_unrun(dest.clone(), now, format!("rejected: {reason}")),
        )?;
        Ok(dest)
    }

    fn write_result(&self, dir: &Path, record: &ResultRecordV1) -> Result<(), QueueError> {
        self.write_json(&dir.join(result_record_name(&record.task)), record)
    }

    /// Deliveries already used by the inbox task `name` (0 unless it came back from a claim).
    pub(crate) fn attempts_used(&self, name: &str, meta: &Metadata) -> u32 {
        let path = self.layout.attempts().join(attempts_record_name(name));
        match read_json::<AttemptsRecordV1>(&path) {
            Ok(Some(r)) if r.dev == meta.dev() && r.ino == meta.ino() => r.attempts_used,
            _ => 0,
        }
    }

    /// Claims inbox task `name` for `session` by renaming it into `claimed/<session>/`:
    /// whoever renames first owns it. `Ok(false)` when it is gone (someone else won) or the
    /// session already holds a task of that name.
    pub(crate) fn claim(&self, name: &str, session: &SessionId) -> Result<bool, QueueError> {
        let dir = self.layout.claimed_by(session.as_str());
        fs::create_dir_all(&dir).map_err(io_err("create claim directory", &dir))?;
        let to = dir.join(name);
        if exists_nofollow(&to) || exists_nofollow(&dir.join(claim_record_name(name))) {
            return Ok(false);
        }
        let from = self.layout.inbox().join(name);
        match rename_synced(&from, &to) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("claim task", &from)(e)),
        }
    }

    /// Writes (replaces) a claim record.
    pub(crate) fn write_claim(&self, record: &ClaimRecordV1) -> Result<(), QueueError> {
        let dir = self.layout.claimed_by(record.session.as_str());
        self.write_json(&dir.join(claim_record_name(&record.task)), record)
    }

    /// The path of a claimed task.
    pub(crate) fn claimed_path(&self, session: &SessionId, task: &str) -> PathBuf {
        self.layout.claimed_by(session.as_str()).join(task)
    }

    /// Decides a claim's outcome (recorded first, in the claim record) and carries it out.
    /// Returns the task's new name.
    pub(crate) fn finish(
        &self,
        record: &mut ClaimRecordV1,
        ending: Ending,
        now: Timestamp,
    ) -> Result<String, QueueError> {
        let dir = match ending.kind {
            OutcomeKind::Done => self.layout.done(),
            OutcomeKind::Failed => self.layout.failed(),
            OutcomeKind::Requeue => self.layout.inbox(),
        };
        let dest = free_name(&dir, &record.task);
        record.outcome = Some(PendingOutcome {
            kind: ending.kind,
            dest,
            reason: ending.reason,
            ended_at: now,
            attempts_used: ending.attempts_used,
            account: ending.account,
            claude_session: ending.claude_session,
        });
        self.write_claim(record)?;
        self.apply(record)
    }

    /// Carries out a recorded outcome. Idempotent: a crash anywhere inside is finished by
    /// calling it again.
    pub(crate) fn apply(&self, record: &mut ClaimRecordV1) -> Result<String, QueueError> {
        let Some(outcome) = record.outcome.clone() else {
            return Err(QueueError::Protocol(format!(
                "claim of {} has no outcome to apply",
                record.task
            )));
        };
        let task_path = self.claimed_path(&record.session, &record.task);
        let record_path = self
            .layout
            .claimed_by(record.session.as_str())
            .join(claim_record_name(&record.task));
        let mut dest = outcome.dest.clone();
        match outcome.kind {
            OutcomeKind::Done | OutcomeKind::Failed => {
                let (dir, kind) = if outcome.kind == OutcomeKind::Done {
                    (self.layout.done(), ResultKind::Done)
                } else {
                    (self.layout.failed(), ResultKind::Failed)
                };
                self.write_result(
                    &dir,
                    &ResultRecordV1 {
                        version: RECORD_VERSION,
                        task: dest.clone(),
                        outcome: kind,
                        session: Some(record.session.clone()),
                        account: outcome.account.clone().or(record.account.clone()),
                        claude_session: outcome
                            .claude_session
                            .clone()
                            .or(record.claude_session.clone()),
                        started_at: Some(record.delivered_at.unwrap_or(record.claimed_at)),
                        ended_at: outcome.ended_at,
                        attempts: outcome.attempts_used,
                        reason: outcome.reason.clone(),
                    },
                )?;
                if exists_nofollow(&task_path) {
                    rename_synced(&task_path, &dir.join(&dest))
                        .map_err(io_err("move finished task", &task_path))?;
                }
                let attempts = self
                    .layout
                    .attempts()
                    .join(attempts_record_name(&record.task));
                remove_synced(&attempts).map_err(io_err("remove attempts record", &attempts))?;
            }
            OutcomeKind::Requeue => {
                if exists_nofollow(&task_path) {
                    let inbox = self.layout.inbox();
                    loop {
                        let to = inbox.join(&dest);
                        if outcome.attempts_used > 0 {
                            let meta = fs::symlink_metadata(&task_path)
                                .map_err(io_err("stat claimed task", &task_path))?;
                            self.write_json(
                                &self.layout.attempts().join(attempts_record_name(&dest)),
                                &AttemptsRecordV1 {
                                    version: RECORD_VERSION,
                                    task: dest.clone(),
                                    dev: meta.dev(),
                                    ino: meta.ino(),
                                    attempts_used: outcome.attempts_used,
                                    last_reason: outcome.reason.clone(),
                                },
                            )?;
                        }
                        match link_noclobber(&task_path, &to)
                            .map_err(io_err("return task to inbox", &to))?
                        {
                            LinkOutcome::Created | LinkOutcome::Existed => break,
                            LinkOutcome::Occupied => {
                                // Someone dropped a task of that name meanwhile: pick another
                                // name and record the choice before using it.
                                dest = free_name(&inbox, &dest);
                                if let Some(o) = record.outcome.as_mut() {
                                    o.dest = dest.clone();
                                }
                                self.write_claim(record)?;
                            }
                        }
                    }
                    remove_synced(&task_path).map_err(io_err("unlink claimed task", &task_path))?;
                }
            }
        }
        remove_synced(&record_path).map_err(io_err("remove claim record", &record_path))?;
        Ok(dest)
    }

    /// Every claim on disk, by session directory: `(session, task names, records)`.
    fn claims_on_disk(&self) -> Result<Vec<SessionClaims>, QueueError> {
        let claimed = self.layout.claimed();
        let mut out = Vec::new();
        for dir in fs::read_dir(&claimed).map_err(io_err("read claims", &claimed))? {
            let dir = dir.map_err(io_err("read claims", &claimed))?;
            let Some(session) = dir.file_name().to_str().map(SessionId::new) else {
                continue;
            };
            let path = dir.path();
            if !path.is_dir() {
                continue;
            }
            let (mut tasks, mut records) = (Vec::new(), Vec::new());
            for entry in fs::read_dir(&path).map_err(io_err("read claims", &path))? {
                let entry = entry.map_err(io_err("read claims", &path))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if name.ends_with(".claim.json") {
                    match read_json::<ClaimRecordV1>(&entry.path()) {
                        Ok(Some(r)) if r.version == RECORD_VERSION && r.session == session => {
                            records.push(r)
                        }
                        Ok(_) | Err(_) => {
                            tracing::warn!(path = %entry.path().display(), "unreadable claim record ignored");
                        }
                    }
                } else if !is_record_name(&name) {
                    tasks.push(name);
                }
            }
            out.push((session, tasks, records));
        }
        Ok(out)
    }

    /// Brings the queue to a consistent state after a crash. Run before any new claim.
    ///
    /// - claims with a recorded outcome are finished;
    /// - claims without a record, or never delivered, go back to the inbox (no attempt used);
    /// - delivered claims are returned, to be watched;
    /// - `failed/` entries left by an interrupted retry or rejection are completed.
    pub(crate) fn recover(&self, now: Timestamp) -> Result<Recovered, QueueError> {
        let mut out = Recovered::default();
        self.repair_failed(now)?;
        for (session, tasks, records) in self.claims_on_disk()? {
            for mut record in records.iter().cloned() {
                let present = tasks.contains(&record.task);
                if record.outcome.is_some() {
                    self.apply(&mut record)?;
                    out.repaired += 1;
                } else if !present {
                    tracing::warn!(task = %record.task, %session, "claim record without its task; removed");
                    let path = self
                        .layout
                        .claimed_by(session.as_str())
                        .join(claim_record_name(&record.task));
                    remove_synced(&path).map_err(io_err("remove claim record", &path))?;
                } else if record.delivered_at.is_none() {
                    let used = record.attempt.saturating_sub(1);
                    self.finish(
                        &mut record,
                        Ending {
                            kind: OutcomeKind::Requeue,
                            reason: Some("claimed but not delivered before a restart".into()),
                            attempts_used: used,
                            account: None,
                            claude_session: None,
                        },
                        now,
                    )?;
                    out.repaired += 1;
                } else {
                    out.delivered.push(record);
                }
            }
            for task in tasks {
                if records.iter().any(|r| r.task == task) {
                    continue;
                }
                // Renamed in, record never written: it was never delivered.
                self.requeue_unrecorded(&session, &task, now)?;
                out.repaired += 1;
            }
        }
        Ok(out)
    }

    /// Ends every claim of `session` (the sweep, when the session is gone): recorded
    /// outcomes are finished; claims never delivered go back to the inbox with no attempt
    /// used; delivered ones go back with one used, or to `failed/` when out of attempts.
    /// Returns each task's new name and where it went.
    pub(crate) fn release_session(
        &self,
        session: &SessionId,
        now: Timestamp,
        why: &str,
    ) -> Result<Vec<(String, OutcomeKind)>, QueueError> {
        let mut out = Vec::new();
        for (s, tasks, records) in self.claims_on_disk()? {
            if &s != session {
                continue;
            }
            for mut record in records.iter().cloned() {
                if record.outcome.is_some() {
                    let kind = record
                        .outcome
                        .as_ref()
                        .map_or(OutcomeKind::Requeue, |o| o.kind);
                    out.push((self.apply(&mut record)?, kind));
                    continue;
                }
                if !tasks.contains(&record.task) {
                    let path = self
                        .layout
                        .claimed_by(s.as_str())
                        .join(claim_record_name(&record.task));
                    remove_synced(&path).map_err(io_err("remove claim record", &path))?;
                    continue;
                }
                let delivered = record.delivered_at.is_some();
                let used = if delivered {
                    record.attempt
                } else {
                    record.attempt.saturating_sub(1)
                };
                let kind = if delivered && record.attempt >= record.max_attempts {
                    OutcomeKind::Failed
                } else {
                    OutcomeKind::Requeue
                };
                let reason = format!(
                    "{why} (attempt {} of {})",
                    record.attempt, record.max_attempts
                );
                let ending = Ending {
                    kind,
                    reason: Some(reason),
                    attempts_used: used,
                    account: None,
                    claude_session: None,
                };
                out.push((self.finish(&mut record, ending, now)?, kind));
            }
            for task in tasks {
                if records.iter().any(|r| r.task == task) {
                    continue;
                }
                out.push((
                    self.requeue_unrecorded(&s, &task, now)?,
                    OutcomeKind::Requeue,
                ));
            }
        }
        Ok(out)
    }

    /// A claimed task with no claim record (renamed in, then a crash): it was never
    /// delivered, so it goes back with no attempt used.
    fn requeue_unrecorded(
        &self,
        session: &SessionId,
        task: &str,
        now: Timestamp,
    ) -> Result<String, QueueError> {
        let path = self.claimed_path(session, task);
        let used = fs::symlink_metadata(&path)
            .map(|m| self.attempts_used(task, &m))
            .unwrap_or(0);
        let mut record = ClaimRecordV1 {
            version: RECORD_VERSION,
            task: task.to_owned(),
            session: session.clone(),
            attempt: used + 1,
            max_attempts: used + 1,
            claimed_at: now,
            delivered_at: None,
            account: None,
            claude_session: None,
            outcome: None,
        };
        self.finish(
            &mut record,
            Ending {
                kind: OutcomeKind::Requeue,
                reason: Some("claimed but not recorded before a restart".into()),
                attempts_used: used,
                account: None,
                claude_session: None,
            },
            now,
        )
    }

    /// `failed/` entries with two names (a retry linked them into the inbox, then stopped) lose
    /// their `failed/` name; entries with no result record get one.
    fn repair_failed(&self, now: Timestamp) -> Result<(), QueueError> {
        let failed = self.layout.failed();
        let inbox = self.layout.inbox();
        for entry in fs::read_dir(&failed).map_err(io_err("read failed", &failed))? {
            let entry = entry.map_err(io_err("read failed", &failed))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if is_record_name(&name) {
                continue;
            }
            let path = entry.path();
            let record = failed.join(result_record_name(&name));
            let meta = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
            if meta.nlink() > 1 {
                let twin = fs::read_dir(&inbox)
                    .map_err(io_err("read inbox", &inbox))?
                    .filter_map(Result::ok)
                    .any(|e| same_file(&e.path(), &path).unwrap_or(false));
                if twin {
                    remove_synced(&path).map_err(io_err("finish retry", &path))?;
                    remove_synced(&record).map_err(io_err("finish retry", &record))?;
                    continue;
                }
            }
            if !exists_nofollow(&record) {
                self.write_result(
                    &failed,
                    &ResultRecordV1::failed_unrun(
                        name.clone(),
                        now,
                        "moved to failed/ by a run that stopped before writing the reason".into(),
                    ),
                )?;
            }
        }
        Ok(())
    }
}
