//! What a failed call leaves in the logs: the endpoint, the status and the class, never the
//! key or the receiver's e-mail and name.
//!
//! A test binary of its own, unlike the other tests (`tests/pok/`): tracing caches per call
//! site whether anyone listens, and a call site first reached by a test on another thread,
//! while this test installs its subscriber, can stay muted for the whole process. Alone in its
//! process, the capture is reliable.

// Test helpers outside `#[test]` functions fail loudly too (clippy.toml only covers the
// functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "pok/support.rs"]
mod support;

use std::io;
use std::sync::{Arc, Mutex};

use pok_domain::ports::PokGateway;
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::{EMAIL, FIRST_NAME, KEY, LAST_NAME, client, issue_request};

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn failed_calls_log_the_endpoint_and_status_but_no_secret_or_personal_data() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(buffer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    // POK echoing everything back in its error and in an answer we cannot read.
    Mock::given(method("POST"))
        .and(path("/credential/"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "message": format!("receiver {FIRST_NAME} {LAST_NAME} <{EMAIL}> refused for key {KEY}")
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/credential/"))
        .respond_with(ResponseTemplate::new(201).set_body_raw(
            format!(r#"{{"receiver": {{"email": "{EMAIL}", "firstName": "{FIRST_NAME}", "lastName": "{LAST_NAME}"#),
            "application/json",
        ))
        .mount(&server)
        .await;

    let pok = client(&server.uri());
    let request = issue_request(42, "tpl-1", &[]);
    let refused = pok.issue(&request).await.unwrap_err();
    let unreadable = pok.issue(&request).await.unwrap_err();

    let logs = buffer.text();
    assert!(logs.contains("POK call failed"), "{logs}");
    assert!(logs.contains("credential/"), "{logs}");
    assert!(logs.contains("status=400"), "{logs}");
    assert!(logs.contains("status=201"), "{logs}");
    assert!(logs.contains("latency_ms="), "{logs}");
    assert!(logs.contains("outcome unknown"), "{logs}");
    for text in [logs.as_str(), &refused.reason, &unreadable.reason] {
        for secret in [KEY, EMAIL, FIRST_NAME, LAST_NAME, "augusta.ada"] {
            assert!(!text.contains(secret), "{secret:?} leaked into: {text}");
        }
    }
}
