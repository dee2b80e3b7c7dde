//! Which filesystem events can carry new evidence.
//!
//! The `notify` backend on Linux watches `IN_OPEN` (and reports closes), so a watcher that
//! reads a file on every event hears its own read as a new event, reads again, and never
//! stops: a statusline document was re-read and re-reported thousands of times, and the
//! transcript queue overflowed on its own echoes, each rescan opening every transcript and
//! overflowing it again. Only events that change a file's content or its presence count.

use notify::EventKind;
use notify::event::{AccessKind, AccessMode};

/// True when `kind` may mean new content: a create, a modification, a rename, a removal,
/// a close after writing, or a kind the backend could not name. Opens and closes after
/// reading (our own reads among them) are not.
pub(crate) fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Any
        | EventKind::Other => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RenameMode};

    #[test]
    fn reads_are_not_evidence_writes_are() {
        assert!(!may_change_content(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!may_change_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!may_change_content(&EventKind::Access(AccessKind::Read)));
        assert!(may_change_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(may_change_content(&EventKind::Create(CreateKind::File)));
        assert!(may_change_content(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
    }
}
