//! [`execute`]: one [`Effect`] carried out through the ports.

use crate::backend::{LaunchRequest, ResumedTurn, SessionBackend};
use crate::checkpoint::{Checkpoint, Checkpointer, PromptSource, TranscriptSummary};
use crate::engine::{Effect, EffectOutcome, Input};
use crate::error::BackendError;
use crate::error_kind::FailureKind;
use crate::ids::SessionId;
use crate::notify::Notifier;
use crate::time::UnixMillis;

/// The ports [`execute`] runs effects through: any implementations, borrowed.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    /// Where sessions run: [`Effect::Stop`], [`Effect::Launch`], [`Effect::SendPrompt`].
    pub backend: &'a dyn SessionBackend,
    /// Where checkpoints go: [`Effect::Checkpoint`].
    pub checkpointer: &'a dyn Checkpointer,
    /// Where notifications go: [`Effect::Notify`].
    pub notifier: &'a dyn Notifier,
    /// Where a conversation's last prompt is found, for checkpoints and resumed launches.
    pub prompts: &'a dyn PromptSource,
}

impl std::fmt::Debug for Ports<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports").finish_non_exhaustive()
    }
}

/// What [`Effect::SendPrompt`] asks of a backend: types `text` into `session`, unless the
/// program, resumed to go on with its interrupted turn, took that turn up by itself
/// ([`SessionBackend::resumed_turn`]): typing it again would run the turn twice. When the
/// backend cannot tell, the prompt is typed.
///
/// Returns the reply for the engine: [`EffectOutcome::PromptSent`] (typed, or taken up and
/// still under way), or [`EffectOutcome::ResumedTurnOver`] (taken up and already finished).
pub async fn replay_prompt(
    backend: &dyn SessionBackend,
    session: &SessionId,
    text: &str,
) -> Result<EffectOutcome, BackendError> {
    match backend.resumed_turn(session, text).await {
        Ok(ResumedTurn::Over) => return Ok(EffectOutcome::ResumedTurnOver),
        Ok(ResumedTurn::UnderWay) => return Ok(EffectOutcome::PromptSent),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "resumed turn unknown; typing"),
    }
    backend.send_input(session, text).await?;
    Ok(EffectOutcome::PromptSent)
}

/// Carries out `effect` through `ports` at `now` and returns the input to feed the engine
/// next: [`Input::EffectFinished`] for an effect that expects a reply, `None` otherwise.
///
/// The whole effect loop of an embedder, here with the testkit's in-memory ports and
/// every reply fed back at once (a real embedder feeds them back as they arrive, and
/// sleeps until [`FailoverEngine::next_deadline`](crate::FailoverEngine::next_deadline)):
///
/// ```
/// use std::collections::VecDeque;
/// use failover_core::testkit::{self, FakeBackend, MemCheckpointer, RecordingNotifier, block_on};
/// use failover_core::{Activity, Effect, EffectOutcome, FailoverEngine, Input, Ports, UnixMillis, execute};
///
/// let mut engine = FailoverEngine::new(testkit::config(&["primary", "backup"], &["ccl-0"]))?;
/// let backend = FakeBackend::new();
/// let (checkpoints, notifier) = (MemCheckpointer::new(), RecordingNotifier::new());
/// let ports = Ports { backend: &backend, checkpointer: &checkpoints, notifier: &notifier, prompts: &backend };
/// let now = UnixMillis::from_secs(1_795_683_600);
/// let mut stored = None;
///
/// let mut inputs = VecDeque::from([Input::AdoptionComplete]);
/// while let Some(input) = inputs.pop_front() {
///     for effect in engine.handle(now, input) {
///         match effect {
///             Effect::Persist(state) => stored = Some(state), // durably, before what follows
///             Effect::Reply { .. } => {}                      // to the operator who asked
///             effect => {
///                 let launching = match &effect {
///                     Effect::Launch { session, .. } => Some(session.clone()),
///                     _ => None,
///                 };
///                 let Some(reply) = block_on(execute(effect, &ports, now)) else { continue };
///                 let launched = matches!(&reply,
///                     Input::EffectFinished { outcome: EffectOutcome::Launched { .. }, .. });
///                 inputs.push_back(reply);
///                 // The activity contract (see `Effect::Launch`): report the session idle
///                 // once it shows its prompt; a replayed prompt waits for that report.
///                 if let Some(session) = launching.filter(|_| launched) {
///                     inputs.push_back(Input::SessionActivity { session, activity: Activity::Idle });
///                 }
///             }
///         }
///     }
/// }
/// assert_eq!(backend.account_of(&"ccl-0".into()).unwrap().as_str(), "primary");
/// assert!(stored.is_some());
/// # Ok::<(), failover_core::ConfigError>(())
/// ```
///
/// `execute` is runtime-agnostic: it only awaits the ports. It puts no time limit on a
/// call; an answer that never comes is the engine's to time out
/// ([`EngineConfig::effect_timeout`](crate::EngineConfig::effect_timeout)), and an embedder
/// with a runtime may wrap the call in its own timeout.
///
/// - [`Effect::Checkpoint`]: recalls the conversation's last prompt (from `prompts`, else
///   from the session's previous checkpoint of the same conversation), saves the checkpoint
///   taken at `now`, replies `Checkpointed` with that prompt and whether it went unanswered.
/// - [`Effect::Stop`]: stops the session with the effect's grace, replies `Stopped`.
/// - [`Effect::Launch`]: launches; after a resume whose backend did not report an unanswered
///   prompt, asks `prompts` (the previous program has stopped: its record is final);
///   replies `Launched`.
/// - [`Effect::SendPrompt`]: types the prompt unless
///   [`SessionBackend::resumed_turn`] says the program took the turn up by itself, replies
///   `PromptSent`, or `ResumedTurnOver` when that turn is already over.
/// - [`Effect::Notify`]: delivers it; a delivery failure is logged, never fed back.
///
/// Any port error becomes [`EffectOutcome::Failed`] with its [`FailureKind`]. The other
/// effects are not port calls and are returned to nobody: [`Effect::Persist`] and
/// [`Effect::Reply`] are the embedder's to handle before calling this, as are the shared
/// ledger's ([`Effect::AcquireLease`] and the rest, asked only with
/// [`EngineConfig::ledger`](crate::EngineConfig::ledger)), and usage reads
/// ([`Effect::ReadUsage`], asked only with
/// [`EngineConfig::read_usage_before_choosing`](crate::EngineConfig::read_usage_before_choosing));
/// [`Effect::DetectionVetoed`] is for the record.
pub async fn execute(effect: Effect, ports: &Ports<'_>, now: UnixMillis) -> Option<Input> {
    let (request, outcome) = match effect {
        Effect::Checkpoint {
            request,
            session,
            account,
            claude_session,
            dir,
            task,
        } => {
            let mut recall = match &claude_session {
                Some(cs) => ports.prompts.recall(&dir, cs).await,
                None => TranscriptSummary::default(),
            };
            if recall.last_prompt.is_none() {
                // The record may not have it yet; the previous checkpoint of the same
                // conversation may.
                if let Ok(Some(previous)) = ports.checkpointer.load(&session).await {
                    if previous.claude_session == claude_session {
                        recall.last_prompt = previous.last_prompt;
                        recall.unanswered = false;
                        recall.last_tool_call = recall.last_tool_call.or(previous.last_tool_call);
                    }
                }
            }
            let checkpoint = Checkpoint {
                session,
                claude_session,
                account,
                dir,
                task,
                last_prompt: recall.last_prompt.clone(),
                last_tool_call: recall.last_tool_call,
                taken_at: now,
            };
            let outcome = match ports.checkpointer.save(&checkpoint).await {
                Ok(()) => EffectOutcome::Checkpointed {
                    last_prompt: recall.last_prompt,
                    unanswered: recall.unanswered,
                },
                Err(e) => failed(FailureKind::from(&e), e.to_string()),
            };
            (request, outcome)
        }
        Effect::Stop {
            request,
            session,
            grace,
        } => {
            let outcome = match ports.backend.stop(&session, grace).await {
                Ok(()) => EffectOutcome::Stopped,
                Err(e) => failed(FailureKind::from(&e), e.to_string()),
            };
            (request, outcome)
        }
        Effect::Launch {
            request,
            session,
            account,
            config_dir,
            dir,
            resume,
        } => {
            let launch = LaunchRequest {
                session,
                dir,
                account,
                config_dir,
                resume,
            };
            let outcome = match ports.backend.launch(&launch).await {
                Ok(mut launched) => {
                    let resumed = launch.resume.as_ref() == Some(&launched.claude_session);
                    if resumed && launched.unanswered_prompt.is_none() {
                        let recall = ports
                            .prompts
                            .recall(&launch.dir, &launched.claude_session)
                            .await;
                        launched.unanswered_prompt = recall.unanswered_prompt().map(str::to_owned);
                    }
                    EffectOutcome::Launched {
                        claude_session: launched.claude_session,
                        unanswered_prompt: launched.unanswered_prompt,
                    }
                }
                Err(e) => failed(FailureKind::from(&e), e.to_string()),
            };
            (request, outcome)
        }
        Effect::SendPrompt {
            request,
            session,
            text,
        } => {
            let outcome = match replay_prompt(ports.backend, &session, &text).await {
                Ok(outcome) => outcome,
                Err(e) => failed(FailureKind::from(&e), e.to_string()),
            };
            (request, outcome)
        }
        Effect::Notify(notification) => {
            if let Err(e) = ports.notifier.notify(&notification).await {
                tracing::warn!(error = %e, key = %notification.dedup_key, "notification not delivered");
            }
            return None;
        }
        Effect::Persist(_)
        | Effect::Reply { .. }
        | Effect::DetectionVetoed { .. }
        | Effect::PublishAccount(_)
        | Effect::PublishActive(_)
        | Effect::AcquireLease { .. }
        | Effect::ReleaseLease
        | Effect::ReadUsage { .. } => return None,
    };
    Some(Input::EffectFinished { request, outcome })
}

fn failed(kind: FailureKind, detail: String) -> EffectOutcome {
    EffectOutcome::Failed { kind, detail }
}
