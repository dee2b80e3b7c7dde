//! Indexes over the sessions, kept up to date on every state change, so that the policy
//! does not walk every session after every input (the engine handles pools of thousands).

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::machine::SessionMachine;
use crate::ids::{AccountId, SessionId};
use crate::session::SessionState;

#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Index {
    /// Sessions per account (running there, or being launched, stopped or relaunched there).
    pub(super) load: BTreeMap<AccountId, usize>,
    /// Sessions not running and waiting to be launched: unstarted, parked, dead.
    pub(super) stopped: BTreeSet<SessionId>,
    /// Sessions with an interrupted prompt to replay.
    pub(super) prompts: BTreeSet<SessionId>,
}

impl Index {
    pub(super) fn build(sessions: &BTreeMap<SessionId, SessionMachine>) -> Self {
        let mut index = Self::default();
        for (id, m) in sessions {
            index.add(id, m);
        }
        index
    }

    pub(super) fn add(&mut self, id: &SessionId, m: &SessionMachine) {
        if let Some(account) = m.state.account() {
            *self.load.entry(account.clone()).or_insert(0) += 1;
        }
        if is_stopped(&m.state) {
            self.stopped.insert(id.clone());
        }
        self.sync_prompt(id, m);
    }

    pub(super) fn remove(&mut self, id: &SessionId, m: &SessionMachine) {
        if let Some(account) = m.state.account() {
            if let Some(n) = self.load.get_mut(account) {
                *n -= 1;
                if *n == 0 {
                    self.load.remove(account);
                }
            }
        }
        self.stopped.remove(id);
    }

    pub(super) fn sync_prompt(&mut self, id: &SessionId, m: &SessionMachine) {
        if m.pending_prompt.is_some() {
            self.prompts.insert(id.clone());
        } else {
            self.prompts.remove(id);
        }
    }

    pub(super) fn load_of(&self, account: &AccountId) -> usize {
        self.load.get(account).copied().unwrap_or(0)
    }
}

fn is_stopped(state: &SessionState) -> bool {
    matches!(
        state,
        SessionState::Unstarted { .. } | SessionState::Parked { .. } | SessionState::Dead { .. }
    )
}
