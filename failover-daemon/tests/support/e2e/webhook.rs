//! A local webhook receiver: records every JSON body POSTed to it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::Value;
use tokio::task::JoinHandle;

type Received = Arc<Mutex<Vec<Value>>>;

/// A running receiver on `127.0.0.1:<port>`, stopped on drop.
#[derive(Debug)]
pub(crate) struct Webhook {
    addr: SocketAddr,
    received: Received,
    task: JoinHandle<()>,
}

impl Webhook {
    /// Starts the receiver.
    pub(crate) async fn start() -> Self {
        let received: Received = Arc::default();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook");
        let addr = listener.local_addr().expect("webhook addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            received,
            task,
        }
    }

    /// The URL to configure as `[notify.webhook] url`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every body received so far.
    pub(crate) fn received(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(received): State<Received>, body: axum::body::Bytes) -> &'static str {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(value);
    "ok"
}
