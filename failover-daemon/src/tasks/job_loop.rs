//! The loop that runs a worker's jobs side by side: receive a job from the dispatcher,
//! execute it beside the jobs already in flight, and send its reply (an
//! [`Input::EffectFinished`]) to the dispatcher's inbox; on shutdown, wait for every job in
//! flight.

use std::future::Future;

use failover_core::Input;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::error::DaemonError;

/// Runs until the dispatcher drops its sender and every job in flight has replied. Jobs
/// run concurrently; `execute` gets each job and returns the future that does it and
/// gives its reply.
pub async fn run<J, F, Fut>(
    mut jobs: mpsc::Receiver<J>,
    inbox: mpsc::Sender<Input>,
    execute: F,
) -> Result<(), DaemonError>
where
    J: Send + 'static,
    F: Fn(J) -> Fut,
    Fut: Future<Output = Option<Input>> + Send + 'static,
{
    let mut running = JoinSet::new();
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => {
                    let done = execute(job);
                    let tx = inbox.clone();
                    running.spawn(async move {
                        if let Some(reply) = done.await {
                            if tx.send(reply).await.is_err() {
                                tracing::debug!("dispatcher gone; reply dropped");
                            }
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

    struct Gated(RequestId, oneshot::Receiver<()>);

    #[tokio::test]
    async fn jobs_run_side_by_side_and_every_one_replies_before_the_loop_ends() {
        let (jobs_tx, jobs) = mpsc::channel(4);
        let (inbox, mut replies) = mpsc::channel(4);
        let worker = tokio::spawn(super::run(jobs, inbox, |job: Gated| async move {
            job.1.await.unwrap();
            Some(Input::EffectFinished {
                request: job.0,
                outcome: EffectOutcome::Stopped,
            })
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
