//! A person's unsent draft, carried over a move.
//!
//! Text a person typed into a session's input box and did not send is cleared when the
//! session is stopped (Ctrl-C, or the program's exit). The stop reads it first
//! ([`persons_draft`]: not the backend's own typing, not the prompt the replay will send),
//! the backend keeps it (in memory, and as a `0600` file per session so that a daemon killed
//! between the stop and the launch does not lose it), and the next launch puts it back
//! unsent with Claude Code's `--prefill=<text>` ([`prefill_arg`]), or, when the prompt of
//! an interrupted turn is replayed first, types it unsent after that prompt
//! ([`TmuxBackend::put_draft`], which a program started ahead of time can be given too).
//! A draft is handed on once: it is forgotten as soon as it is in the next program's box.
//! One whose session is never launched again is removed by [`prune`] (the daemon's janitor).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use failover_core::quota::{box_holds, input_box};
use failover_core::{BackendError, LaunchRequest, SessionId};
use tokio::time::Instant;

use crate::atomic::write_atomic;
use crate::backend::{PaneCapture, TmuxBackend, sanitize_input};
use crate::error::FsError;
use crate::pacer::Pacer;
use crate::{ops, paths};

/// Longest draft passed on the command line (`--prefill=<text>`), in bytes: tmux refuses
/// a `new-session` command much over 16 KiB. A longer draft stays in its file (the
/// backend logs where) rather than being cut.
pub const PREFILL_MAX_BYTES: usize = 8 * 1024;

/// Columns of an input-box row that are not text: the `❯ ` (or the indent of the rows
/// after it) and the margin Claude Code 2.1.328 leaves on the right.
const BOX_MARGIN: usize = 4;

/// How often the waits of a draft's handing on look at the input box again on the clock (see
/// [`Pacer`]).
const DRAFT_RECHECK: Duration = Duration::from_millis(25);

/// Extension of draft files.
const EXT: &str = "draft";

/// Drafts held between a stop and the launch that hands them on: in memory, and, with a
/// folder, one file per session (`0600`, written atomically; the folder `0700`).
#[derive(Debug)]
pub(crate) struct Drafts {
    dir: Option<PathBuf>,
    held: Mutex<HashMap<SessionId, String>>,
    /// What `send_input` pasted into each session's box and has not seen sent yet: the
    /// backend's own typing, not a draft.
    typed: Mutex<HashMap<SessionId, String>>,
}

impl Drafts {
    /// Drafts kept in memory and, when `dir` is given, in files there.
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            held: Mutex::new(HashMap::new()),
            typed: Mutex::new(HashMap::new()),
        }
    }

    /// The file of `session`'s draft: its name with any byte outside `[A-Za-z0-9_-]`
    /// written as `%XX`, so no name can leave the folder.
    pub(crate) fn path_of(&self, session: &SessionId) -> Option<PathBuf> {
        let name = paths::session_file_stem(session);
        Some(self.dir.as_ref()?.join(format!("{name}.{EXT}")))
    }

    /// Keeps `text` as `session`'s draft (replacing one held before). Held in memory even
    /// when the file cannot be written (the error says why).
    pub(crate) fn keep(&self, session: &SessionId, text: &str) -> Result<(), FsError> {
        self.lock().insert(session.clone(), text.to_owned());
        let (Some(dir), Some(path)) = (&self.dir, self.path_of(session)) else {
            return Ok(());
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(FsError::io("create", dir))?;
        write_atomic(&path, text.as_bytes(), 0o600)
    }

    /// `session`'s draft: the one in memory, else the one in its file (kept by a daemon
    /// that stopped before handing it on).
    pub(crate) fn held(&self, session: &SessionId) -> Option<String> {
        if let Some(text) = self.lock().get(session) {
            return Some(text.clone());
        }
        let path = self.path_of(session)?;
        match fs::read(&path) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read a kept draft");
                None
            }
        }
    }

    /// Forgets `session`'s draft (handed on), in memory and on disk.
    pub(crate) fn forget(&self, session: &SessionId) {
        self.lock().remove(session);
        if let Some(path) = self.path_of(session) {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a handed-on draft")
                }
            }
        }
    }

    /// Notes what the backend pasted into `session`'s box (`None`: it was sent).
    pub(crate) fn note_typed(&self, session: &SessionId, text: Option<&str>) {
        let mut typed = self.typed.lock().unwrap_or_else(|e| e.into_inner());
        match text {
            Some(t) => typed.insert(session.clone(), t.to_owned()),
            None => typed.remove(session),
        };
    }

    /// What the backend pasted into `session`'s box and has not seen sent.
    pub(crate) fn typed(&self, session: &SessionId) -> Option<String> {
        self.typed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(session)
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, String>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes the drafts kept in `dir` (one `<session>.draft` file each, as a backend whose
/// [`TmuxConfig::draft_dir`](crate::TmuxConfig::draft_dir) is `dir` writes them) that were
/// last written before `before` and whose session is not in `keep`, and returns those
/// sessions, sorted. A draft is a person's text waiting for its session's next launch: pass
/// every session that may still be launched in `keep`; the draft of a session that is
/// never launched again would otherwise stay forever. Other files (a write's temporary
/// file, a stray name) are left alone, and a missing `dir` holds nothing. A file that cannot
/// be removed is logged and left; the folder not being readable is the error. Blocking.
pub fn prune(
    dir: &Path,
    before: SystemTime,
    keep: &[SessionId],
) -> Result<Vec<SessionId>, FsError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FsError::io("read", dir)(e)),
    };
    let mut pruned = Vec::new();
    for entry in entries {
        let entry = entry.map_err(FsError::io("read", dir))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXT) {
            continue;
        }
        let Some(session) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(paths::session_of_file_stem)
        else {
            continue;
        };
        if keep.contains(&session) {
            continue;
        }
        let written = match entry.metadata().and_then(|m| m.modified()) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot tell when a kept draft was written; leaving it");
                continue;
            }
        };
        if written >= before || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        match fs::remove_file(&path) {
            Ok(()) => pruned.push(session),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove an old draft")
            }
        }
    }
    pruned.sort();
    Ok(pruned)
}

/// The argument with which Claude Code (2.1.328, a hidden flag) starts with `text` in its
/// input box, not sent. One argument (`--prefill=…`), so a draft that begins with `-` is
/// not read as an option; multi-line and long drafts show in full.
pub fn prefill_arg(text: &str) -> String {
    format!("--prefill={text}")
}

/// The person's draft in an input box whose text is `box_text` (as
/// [`input_box`] reads it from a screen `width` columns
/// wide), or `None`: an empty box, the backend's own typing (`own`, pasted and not sent
/// yet), or the prompt the replay is about to send (`replayed`).
///
/// Claude Code wraps a long line at the box's width and the reader joins rows with line
/// breaks; a break is taken for a wrap (and becomes a space again) when the next row's
/// first word would not have fitted on the row before it.
pub fn persons_draft(
    box_text: &str,
    width: u16,
    own: Option<&str>,
    replayed: Option<&str>,
) -> Option<String> {
    if box_text.trim().is_empty() {
        return None;
    }
    if [own, replayed]
        .into_iter()
        .flatten()
        .any(|t| box_holds(box_text, &sanitize_input(t)))
    {
        return None;
    }
    Some(unwrap_rows(box_text, width))
}

/// Joins rows that Claude Code wrapped (see [`persons_draft`]).
fn unwrap_rows(text: &str, width: u16) -> String {
    let room = usize::from(width).saturating_sub(BOX_MARGIN);
    let mut out = String::new();
    let mut row_len = 0;
    for (i, row) in text.split('\n').enumerate() {
        if i > 0 {
            let first_word = row.split(' ').next().unwrap_or("").chars().count();
            if row_len + 1 + first_word > room {
                out.push(' ');
            } else {
                out.push('\n');
            }
        }
        out.push_str(row);
        row_len = row.chars().count();
    }
    out
}

impl TmuxBackend {
    /// At a stop, before anything clears the input box: keeps what `screen` (captured with
    /// escapes) shows there when it is a person's draft, not this backend's own typing nor
    /// the prompt of the turn the replay will send again.
    pub(crate) async fn keep_draft(&self, session: &SessionId, screen: &PaneCapture) {
        let Some(text) = input_box(&screen.text).filter(|t| !t.trim().is_empty()) else {
            return;
        };
        let own = self.drafts.typed(session);
        let replayed = match self.conversation_of(session.as_str()).await {
            Some((projects, dir, id)) => tokio::task::spawn_blocking(move || {
                paths::find_transcript(&projects, &dir, &id)
                    .ok()
                    .and_then(|path| crate::transcript::summarize(&path).ok())
                    .and_then(|s| s.unanswered_prompt().map(str::to_owned))
            })
            .await
            .ok()
            .flatten(),
            None => None,
        };
        let Some(draft) = persons_draft(&text, screen.width, own.as_deref(), replayed.as_deref())
        else {
            return;
        };
        let name = session.as_str();
        match self.drafts.keep(session, &draft) {
            Ok(()) => tracing::info!(
                session = name,
                chars = draft.chars().count(),
                "stop: kept the person's unsent draft for the next launch"
            ),
            Err(e) => tracing::warn!(
                session = name,
                error = %e,
                "stop: kept the person's unsent draft in memory only"
            ),
        }
    }

    /// Puts the draft held for `session` (one a launch could not pass on the command line)
    /// into its program's input box, unsent, and forgets it once there.
    pub(crate) async fn hand_on_draft(&self, session: &SessionId) {
        let Some(draft) = self.drafts.held(session) else {
            return;
        };
        match self.put_draft(session, &draft).await {
            Ok(()) => {
                self.drafts.forget(session);
                tracing::info!(
                    session = session.as_str(),
                    "the person's unsent draft is back in the input box"
                );
            }
            Err(e) => tracing::warn!(
                session = session.as_str(),
                error = %e,
                "could not put the person's draft back; it stays kept"
            ),
        }
    }

    /// The draft a launch of `session` hands on to the new program now, if any. Not when
    /// the launch replays a prompt (`replayed`: the draft would block its typing; it goes
    /// back after that prompt, by `send_input` or `resumed_turn`), nor when it is that
    /// prompt itself (forgotten: the replay sends it). A launch that passes it on forgets it
    /// (`Drafts::forget`) once the program runs; a program started ahead of a move is given
    /// it with [`Self::put_draft`] once it shows its prompt, then it is forgotten.
    pub(crate) fn draft_for_launch(
        &self,
        session: &SessionId,
        replayed: Option<&str>,
    ) -> Option<String> {
        let draft = self.drafts.held(session)?;
        if replayed.is_some_and(|p| box_holds(&draft, &sanitize_input(p))) {
            self.drafts.forget(session);
            return None;
        }
        if replayed.is_some() {
            tracing::debug!(
                session = session.as_str(),
                "launch: the person's draft goes back after the replayed prompt"
            );
            return None;
        }
        Some(draft)
    }

    /// At a cold launch: passes [`Self::draft_for_launch`] on with `--prefill` (whether it
    /// did); not a draft too long for the command line (it stays in its file).
    pub(crate) fn prefill_draft(
        &self,
        request: &LaunchRequest,
        replayed: Option<&str>,
        argv: &mut Vec<String>,
    ) -> bool {
        let Some(draft) = self.draft_for_launch(&request.session, replayed) else {
            return false;
        };
        if draft.len() > PREFILL_MAX_BYTES {
            tracing::warn!(
                session = request.session.as_str(),
                bytes = draft.len(),
                kept = ?self.drafts.path_of(&request.session),
                "launch: the person's draft is too long for the command line; it stays kept"
            );
            return false;
        }
        argv.push(prefill_arg(&draft));
        true
    }

    /// Types `text` into the input box of `session`'s program without sending it: a
    /// person's draft handed on to a program that is already running. Refuses
    /// ([`BackendError::DraftInInputBox`]) when the box still holds something else after
    /// [`TmuxConfig::input_timeout`](crate::TmuxConfig::input_timeout) (a prompt just sent
    /// shows there until the program clears the box), and types
    /// nothing when it already holds `text` (never twice). Returns once the text shows.
    pub async fn put_draft(&self, session: &SessionId, text: &str) -> Result<(), BackendError> {
        let name = session.as_str();
        ops::validate_name(name)?;
        let text = sanitize_input(text);
        // A program still starting shows no input box yet: typed now, the text would be lost.
        // A box still holding what was just sent (drawn before the program clears it) is
        // waited out; one that goes on holding other text is refused.
        let until = Instant::now() + self.config().input_timeout;
        let mut pace = Pacer::new(self.transport(), name, DRAFT_RECHECK);
        let before = loop {
            let screen = self.capture_ansi(session).await?.text;
            let held = input_box(&screen);
            match held.as_deref().filter(|t| !t.is_empty()) {
                Some(held) if box_holds(held, &text) => return Ok(()),
                Some(held) if Instant::now() >= until => {
                    return Err(BackendError::DraftInInputBox {
                        session: session.clone(),
                        chars: held.chars().count(),
                    });
                }
                Some(_) => {}
                None if held.is_some() && text.is_empty() => return Ok(()),
                None if held.is_some() => break screen,
                None if Instant::now() >= until => {
                    return Err(BackendError::InputRejected {
                        session: session.clone(),
                        reason: "no input box to put the draft in".to_owned(),
                    });
                }
                None => {}
            }
            pace.pause(until).await;
        };
        let buffer = self.next_paste_buffer();
        ops::paste(self.transport(), name, &buffer, &text).await?;
        let until = Instant::now() + self.config().input_timeout;
        loop {
            if self.capture_ansi(session).await?.text != before {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(BackendError::InputRejected {
                    session: session.clone(),
                    reason: "the draft never appeared".to_owned(),
                });
            }
            pace.pause(until).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_is_neither_empty_nor_the_backends_typing_nor_the_replayed_prompt() {
        assert_eq!(persons_draft("", 120, None, None), None);
        assert_eq!(persons_draft("  ", 120, None, None), None);
        assert_eq!(
            persons_draft("half a thought", 120, None, None).as_deref(),
            Some("half a thought")
        );
        assert_eq!(
            persons_draft("queued task", 120, Some("queued task\n"), None),
            None
        );
        assert_eq!(
            persons_draft(
                "[Pasted text #2 +6 lines]",
                120,
                Some("a\nb\nc\nd\ne\nf\ng"),
                None
            ),
            None,
            "the backend's long paste"
        );
        assert_eq!(
            persons_draft(
                "the refused prompt",
                120,
                Some("other"),
                Some("the refused prompt")
            ),
            None
        );
        assert_eq!(
            persons_draft(
                "the refused prompt, edited",
                120,
                None,
                Some("the refused prompt")
            )
            .as_deref(),
            Some("the refused prompt, edited")
        );
    }

    /// Claude Code 2.1.328 waiting to continue after a five-hour limit, a draft typed into
    /// its box meanwhile (captured with escapes): the box holds the draft alone, not the
    /// waiting notice and footer below it, nor the refused prompt above.
    #[test]
    fn a_draft_under_the_wait_to_continue() {
        let screen = include_str!("../tests/fixtures/draft-under-wait-2.1.328.ansi");
        let boxed = input_box(screen).unwrap();
        assert_eq!(
            persons_draft(&boxed, 120, None, Some("migrate the settings loader")).as_deref(),
            Some("my half thought under the wait")
        );
    }

    #[test]
    fn wrapped_rows_join_and_line_breaks_stay() {
        // As `input_box` reads the box of Claude Code 2.1.328 in a 120-column pane
        // (`failover-core`'s wrapped-draft fixture): two wraps.
        let boxed = "Please review the authentication module carefully and then write a concise \
             report about every problem you find in\nit, including the session handling, token \
             refresh logic, error messages shown to users, and the logging of sensitive\nvalues; \
             supercalifragilisticexpialidociouslyverylongwordthatmustwrap somewhere here.";
        assert_eq!(
            persons_draft(boxed, 120, None, None).as_deref(),
            Some(boxed.replace('\n', " ").as_str())
        );
        let lines = "line one\nline two\n\nline four";
        assert_eq!(
            persons_draft(lines, 120, None, None).as_deref(),
            Some(lines)
        );
    }

    #[test]
    fn drafts_are_kept_in_private_files_and_forgotten_once_handed_on() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("drafts");
        let session = SessionId::new("ccl/0 x");
        let drafts = Drafts::new(Some(dir.clone()));
        drafts.keep(&session, "half a\nthought").unwrap();
        let path = drafts.path_of(&session).unwrap();
        assert_eq!(
            path.parent(),
            Some(dir.as_path()),
            "no name leaves the folder"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "half a\nthought");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        // Another daemon (nothing in memory) finds it in its file.
        let next = Drafts::new(Some(dir.clone()));
        assert_eq!(next.held(&session).as_deref(), Some("half a\nthought"));
        next.forget(&session);
        assert!(!path.exists());
        assert_eq!(next.held(&session), None);
        // In memory only, without a folder.
        let memory = Drafts::new(None);
        memory.keep(&session, "x").unwrap();
        assert_eq!(memory.held(&session).as_deref(), Some("x"));
        memory.forget(&session);
        assert_eq!(memory.held(&session), None);
    }

    #[test]
    fn pruning_removes_old_drafts_of_other_sessions_only() {
        use std::fs::{File, FileTimes};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("drafts");
        assert_eq!(
            prune(&dir, SystemTime::now(), &[]).unwrap(),
            Vec::<SessionId>::new(),
            "no folder, nothing kept"
        );
        let drafts = Drafts::new(Some(dir.clone()));
        for name in ["kept", "b gone", "a/gone", "fresh"] {
            drafts.keep(&SessionId::new(name), "text").unwrap();
        }
        let stray = dir.join("notes.txt");
        fs::write(&stray, "x").unwrap();
        let now = SystemTime::now();
        let hour_ago = now - Duration::from_secs(3600);
        for name in ["kept", "b gone", "a/gone"] {
            let path = drafts.path_of(&SessionId::new(name)).unwrap();
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_times(FileTimes::new().set_modified(hour_ago))
                .unwrap();
        }
        let before = now - Duration::from_secs(60);
        let pruned = prune(&dir, before, &[SessionId::new("kept")]).unwrap();
        assert_eq!(
            pruned,
            vec![SessionId::new("a/gone"), SessionId::new("b gone")]
        );
        for name in ["kept", "fresh"] {
            assert!(
                drafts.path_of(&SessionId::new(name)).unwrap().exists(),
                "{name}"
            );
        }
        assert!(stray.exists());
        assert!(
            prune(&dir, before, &[SessionId::new("kept")])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_prefill_is_one_argument() {
        assert_eq!(prefill_arg("--help me"), "--prefill=--help me");
    }
}
