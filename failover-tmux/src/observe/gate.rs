//! Which detections are worth sending.

use std::collections::HashMap;
use std::hash::Hash;

use failover_core::{Detection, Verdict};

/// Passes every non-`Clear` detection, and a `Clear` only right after a non-`Clear` one
/// for the same key.
#[derive(Debug)]
pub(crate) struct Gate<K> {
    alarmed: HashMap<K, bool>,
}

impl<K: Eq + Hash> Gate<K> {
    pub(crate) fn new() -> Self {
        Self {
            alarmed: HashMap::new(),
        }
    }

    pub(crate) fn pass(&mut self, key: K, detection: &Detection) -> bool {
        let alarm = detection.verdict != Verdict::Clear;
        let was = self.alarmed.insert(key, alarm).unwrap_or(false);
        alarm || was
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use failover_core::TransientKind;

    #[test]
    fn clear_passes_only_after_an_alarm() {
        let mut g = Gate::new();
        let alarm = Detection {
            verdict: Verdict::Transient {
                kind: TransientKind::ServerError,
            },
            evidence: None,
        };
        assert!(!g.pass(1, &Detection::clear()));
        assert!(g.pass(1, &alarm));
        assert!(g.pass(1, &alarm));
        assert!(g.pass(1, &Detection::clear()));
        assert!(!g.pass(1, &Detection::clear()));
        assert!(!g.pass(2, &Detection::clear()));
    }
}
