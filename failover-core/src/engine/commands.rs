//! Operator commands and configuration reload. Every command is answered with exactly one
//! [`Effect::Reply`].

use crate::config::{ConfigError, EngineConfig, PolicyMode};
use crate::engine::machine::SessionMachine;
use crate::engine::{
    Command, CommandRefusal, CommandReply, Effect, FailoverEngine, Standstill, Swap, Unsupported,
};
use crate::ids::CommandId;
use crate::notify::{NotificationKind, Severity};
use crate::session::SessionState;

impl FailoverEngine {
    pub(super) fn on_command(&mut self, id: CommandId, command: Command) {
        let reply = match command {
            Command::Pause => {
                if !self.paused {
                    self.paused = true;
                    self.dirty = true;
                }
                CommandReply::Accepted
            }
            Command::Resume => {
                if self.paused {
                    self.paused = false;
                    self.dirty = true;
                }
                self.draining = false;
                let halted: Vec<_> = self
                    .sessions
                    .iter()
                    .filter_map(|(id, m)| match &m.state {
                        SessionState::Halted { account, .. } => Some((id.clone(), account.clone())),
                        _ => None,
                    })
                    .collect();
                for (sid, last_account) in halted {
                    self.set_state(&sid, SessionState::Unstarted { last_account });
                }
                CommandReply::Accepted
            }
            Command::Drain => {
                self.draining = true;
                CommandReply::Accepted
            }
            Command::SwapNow => self.operator_swap(None),
            Command::SwapTo(account) => self.operator_swap(Some(account)),
        };
        self.out.push(Effect::Reply { id, reply });
    }

    fn operator_swap(&mut self, to: Option<crate::ids::AccountId>) -> CommandReply {
        use CommandReply::{Accepted, Refused};
        let now = self.now;
        if self.adopting {
            return Refused(CommandRefusal::NotRunning(Standstill::StartingUp));
        }
        if self.paused {
            return Refused(CommandRefusal::NotRunning(Standstill::Paused));
        }
        if self.draining {
            return Refused(CommandRefusal::NotRunning(Standstill::Draining));
        }
        if self.config.mode == PolicyMode::Spread {
            return Refused(CommandRefusal::Unsupported(Unsupported::SwapUnderSpread));
        }
        if self.swap.as_ref().is_some_and(Swap::is_moving) {
            return Refused(CommandRefusal::SwapInProgress);
        }
        let target = match to {
            Some(account) => {
                let Some(state) = self.pool.state(&account) else {
                    return Refused(CommandRefusal::UnknownAccount(account));
                };
                if !state.is_usable(now) {
                    let state = state.clone();
                    return Refused(CommandRefusal::AccountUnusable { account, state });
                }
                account
            }
            None => {
                let models = self.pool_models();
                match self.pool.best_for(now, self.active.as_ref(), &models) {
                    Some(best) => best.clone(),
                    None => return Refused(CommandRefusal::NoUsableAccount),
                }
            }
        };
        if self.active.as_ref() == Some(&target) {
            return Accepted;
        }
        if let Some(from) = self.active.clone() {
            self.notify_operator_swap(&from, &target);
        }
        // The operator's choice stands: no return to a preferred account undoes it.
        self.return_wanted.clear();
        self.set_active(target);
        self.forced = true;
        Accepted
    }

    pub(super) fn on_config(&mut self, config: Result<EngineConfig, ConfigError>) {
        let config = config.and_then(|c| c.validate().map(|()| c));
        let config = match config {
            Ok(c) => c,
            Err(e) => return self.reject_config(e.to_string()),
        };
        let removed_account = self
            .config
            .accounts
            .iter()
            .find(|a| !config.accounts.iter().any(|b| b.id == a.id))
            .map(|a| format!("account {} was removed", a.id));
        let removed_session = self
            .config
            .sessions
            .iter()
            .find(|s| !config.sessions.iter().any(|t| t.id == s.id))
            .map(|s| format!("session {} was removed", s.id));
        if let Some(why) = removed_account.or(removed_session) {
            return self.reject_config(format!("{why}; removing needs a restart"));
        }
        self.pool.reconfigure(&config.accounts);
        self.pool
            .set_rules(crate::pool::Rules::from_config(&config));
        for spec in &config.sessions {
            match self.sessions.get_mut(&spec.id) {
                Some(m) => m.spec = spec.clone(),
                None => {
                    let m = SessionMachine::new(spec.clone());
                    self.index.add(&spec.id, &m);
                    self.sessions.insert(spec.id.clone(), m);
                    self.dirty = true;
                }
            }
        }
        if config.mode != self.config.mode {
            self.active = None;
            self.dirty = true;
            if self.swap.as_ref().is_some_and(|s| !s.is_moving()) {
                self.swap = None;
            }
        }
        self.config = config;
    }

    fn reject_config(&mut self, why: String) {
        self.notify(
            Severity::Warning,
            NotificationKind::Message {
                text: format!("configuration reload rejected: {why}"),
            },
            format!(
                "configuration reload rejected ({why}); the previous configuration stays in force"
            ),
            None,
            "config-rejected".to_owned(),
        );
    }
}
