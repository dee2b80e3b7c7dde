//! Classification of port failures as plain data, so failures can travel through
//! [`Input`](crate::Input) and be compared in tests.

use crate::error::{BackendError, CheckpointError, NotifyError};

/// How an effect failed, as far as policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// Retrying later may work (backend down, timeout).
    Transient,
    /// The resume target is not there (transcript or dir missing): do not start blank.
    ResumeImpossible,
    /// Anything else: retrying the same thing will fail the same way.
    Permanent,
}

impl From<&BackendError> for FailureKind {
    fn from(e: &BackendError) -> Self {
        match e {
            BackendError::TranscriptMissing { .. } | BackendError::DirMissing(_) => {
                Self::ResumeImpossible
            }
            e if e.is_transient() => Self::Transient,
            _ => Self::Permanent,
        }
    }
}

impl From<&CheckpointError> for FailureKind {
    fn from(e: &CheckpointError) -> Self {
        if e.is_transient() {
            Self::Transient
        } else {
            Self::Permanent
        }
    }
}

impl From<&NotifyError> for FailureKind {
    fn from(e: &NotifyError) -> Self {
        if e.is_transient() {
            Self::Transient
        } else {
            Self::Permanent
        }
    }
}
