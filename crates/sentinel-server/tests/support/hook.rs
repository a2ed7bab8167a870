//! A real webhook receiver on 127.0.0.1 that records every JSON body it is sent: where the
//! uptime tests' notifications arrive.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

/// The bodies received so far, in arrival order.
#[derive(Clone, Default)]
pub struct Hook(Arc<Mutex<Vec<Value>>>);

async fn receive(State(h): State<Hook>, body: axum::Json<Value>) -> StatusCode {
    h.0.lock().unwrap().push(body.0);
    StatusCode::OK
}

impl Hook {
    /// A receiver on a port of its own, and its URL.
    pub async fn start() -> (Hook, String) {
        let h = Hook::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(h.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (h, format!("http://{addr}/hook"))
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }

    /// The notifications' titles.
    pub fn titles(&self) -> Vec<String> {
        self.bodies()
            .iter()
            .map(|b| b["title"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Waits up to `wait` for the `n`th notification; the titles then.
    pub async fn wait_for(&self, n: usize, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        while self.titles().len() < n {
            assert!(Instant::now() < deadline, "only {:?} arrived", self.titles());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.titles()
    }
}
