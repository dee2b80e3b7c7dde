//! Identifiers: small string newtypes so an account name can never be passed where a session
//! name is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a name. Any string is accepted; validation belongs to configuration.
            pub fn new(name: impl Into<String>) -> Self {
                Self(name.into())
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// The operator's name for an account, e.g. `primary`.
    AccountId
);
string_id!(
    /// The operator's name for a session, e.g. `ccl-0`; also its tmux session name.
    SessionId
);
string_id!(
    /// The id Claude Code gives a conversation (a UUID); its transcript is `<id>.jsonl`.
    ClaudeSessionId
);

/// Tags an [`Effect`](crate::Effect) that expects a reply; the reply
/// ([`Input::EffectFinished`](crate::Input::EffectFinished)) echoes it.
///
/// Only the engine issues them (an embedder echoes them back, never makes one up), so it
/// never answers a request it did not ask. Operator commands carry a [`CommandId`]
/// instead, issued by the embedder.
///
/// ```compile_fail
/// // An embedder cannot make one up...
/// let forged = failover_core::RequestId(5);
/// ```
///
/// ```compile_fail
/// // ...nor pass a command's id for one.
/// let reply = failover_core::Input::EffectFinished {
///     request: failover_core::CommandId::new(5),
///     outcome: failover_core::EffectOutcome::PromptSent,
/// };
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(u64);

impl RequestId {
    /// An id issued by the engine.
    pub(crate) const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The number, for logs and event streams.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// A request id made up by a test, for effects and replies the test builds by hand
    /// (the engine issues ids from 1 up, in order, so a scripted test can predict them).
    #[cfg(feature = "testkit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
    pub const fn for_tests(n: u64) -> Self {
        Self(n)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Tags an operator [`Command`](crate::Command); the engine's
/// [`Effect::Reply`](crate::Effect::Reply) echoes it. The embedder issues them, in a space
/// of its own: they never meet the engine's [`RequestId`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommandId(u64);

impl CommandId {
    /// Wraps the embedder's number for a command.
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
