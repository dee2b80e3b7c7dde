//! The loop every effect worker shares: receive a job from the dispatcher, execute it
//! beside the jobs already in flight, and reply with [`Input::EffectFinished`] on the
//! dispatcher's inbox. The checkpoint worker and the account switcher differ only in how
//! they execute a job.

use std::future::Future;

use failover_core::{EffectOutcome, Input, RequestId};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{CheckpointJob, SwitchJob};
use crate::error::DaemonError;

/// A job a worker executes: it names the request its reply answers.
pub trait Job: Send + 'static {
    /// The request the reply carries.
    fn request(&self) -> RequestId;
}

impl Job for CheckpointJob {
    fn request(&self) -> RequestId {
        self.request
    }
}

impl Job for SwitchJob {
    fn request(&self) -> RequestId {
        SwitchJob::request(self)
    }
}

/// Runs until the dispatcher drops its sender and every job in flight has replied. Jobs
/// run concurrently; `execute` gets each job and returns the future that does it.
pub async fn run<J, F, Fut>(
    mut jobs: mpsc::Receiver<J>,
    inbox: mpsc::Sender<Input>,
    execute: F,
) -> Result<(), DaemonError>
where
    J: Job,
    F: Fn(J) -> Fut,
    Fut: Future<Output = EffectOutcome> + Send + 'static,
{
    let mut running = JoinSet::new();
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => {
                    let request = job.request();
                    let done = execute(job);
                    let tx = inbox.clone();
                    running.spawn(async move {
                        let outcome = done.await;
                        if tx.send(Input::EffectFinished { request, outcome }).await.is_err() {
                            tracing::debug!(%request, "dispatcher gone; reply dropped");
                        }
                    });
                }
                None => break,
            },
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    while running.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use failover_core::{EffectOutcome, Input, RequestId};
    use tokio::sync::{mpsc, oneshot};

    use super::Job;

    struct Gated(RequestId, oneshot::Receiver<()>);

    impl Job for Gated {
        fn request(&self) -> RequestId {
            self.0
        }
    }

    #[tokio::test]
    async fn jobs_run_side_by_side_and_every_one_replies_before_the_loop_ends() {
        let (jobs_tx, jobs) = mpsc::channel(4);
        let (inbox, mut replies) = mpsc::channel(4);
        let worker = tokio::spawn(super::run(jobs, inbox, |job: Gated| async move {
            job.1.await.unwrap();
            EffectOutcome::Stopped
        }));
        let (first, first_gate) = oneshot::channel();
        let (second, second_gate) = oneshot::channel();
        jobs_tx
            .send(Gated(RequestId::for_tests(1), first_gate))
            .await
            .unwrap();
        jobs_tx
            .send(Gated(RequestId::for_tests(2), second_gate))
            .await
            .unwrap();
        drop(jobs_tx);

        // The second job finishes while the first still waits: they run side by side.
        second.send(()).unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(10), replies.recv())
            .await
            .expect("the second job replies while the first waits")
            .unwrap();
        assert!(matches!(
            reply,
            Input::EffectFinished {
                request,
                outcome: EffectOutcome::Stopped
            } if request == RequestId::for_tests(2)
        ));
        // The sender is gone, yet the loop waits for the job in flight.
        tokio::task::yield_now().await;
        assert!(!worker.is_finished());
        first.send(()).unwrap();
        let reply = replies.recv().await.unwrap();
        assert!(matches!(
            reply,
            Input::EffectFinished { request, .. } if request == RequestId::for_tests(1)
        ));
        tokio::time::timeout(Duration::from_secs(10), worker)
            .await
            .expect("the loop ends once every job has replied")
            .unwrap()
            .unwrap();
    }
}
