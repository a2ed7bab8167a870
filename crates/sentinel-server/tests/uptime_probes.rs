//! DNS monitors and TLS certificate expiry through the whole running server, against real
//! servers on 127.0.0.1 that the test controls: a DNS monitor asks a test DNS server and goes
//! down when it answers another address (then NXDOMAIN, then nothing) and up when it is right
//! again; an HTTPS target's certificate expiry is recorded with each check, a `cert_expiring`
//! rule notifies once while it is due and once when the certificate is renewed; an expired
//! certificate fails a verifying check saying so; the API validates DNS monitors and the rule.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sentinel_server::clock::{Clock, SystemClock};
use serde_json::{Value, json};
use support::dns::{DnsServer, Mode};
use support::hook::Hook;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "sntl_uptime_probes_token_0000000000000000000000";
/// Long enough for a first check (within one 10 s interval) and a few more, on a loaded machine.
const WAIT: Duration = Duration::from_secs(60);
const DAY_MS: i64 = 86_400_000;

type Env = support::api::ApiEnv;

/// A server and the id of its project `acme/shop`; [`TOKEN`] is an instance token of it.
async fn start() -> (Env, String) {
    let env = Env::start_with(
        |settings| {
            settings.public_url = Some("http://sentinel.test".into());
            settings.alerts.retry_base_ms = 100;
        },
        Arc::new(SystemClock),
    )
    .await;
    let project = env.acme_shop(TOKEN).await;
    (env, project)
}

impl Env {
    async fn monitor(&self, id: &str) -> Value {
        self.get(TOKEN, &format!("/api/0/monitors/{id}/"))
            .await
            .expect(200)
    }

    /// Polls the monitor until its status is `status`.
    async fn wait_status(&self, id: &str, status: &str) -> Value {
        self.wait_monitor_status(TOKEN, id, status, WAIT).await
    }

    /// Polls the monitor's checks until the newest one satisfies `done`; answers it.
    async fn wait_check(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let checks = self
                .get(TOKEN, &format!("/api/0/monitors/{id}/checks/"))
                .await
                .expect(200);
            if let Some(newest) = checks.get(0)
                && done(newest)
            {
                return newest.clone();
            }
            assert!(Instant::now() < deadline, "no check {what}: {checks}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Polls until the verifier judged a check after `last_check` (a monitor's `last_check`).
    async fn wait_verified_after(&self, id: &str, last_check: &Value) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let m = self.monitor(id).await;
            if m["last_check"].as_str() > last_check.as_str() {
                return m;
            }
            assert!(Instant::now() < deadline, "no later check was verified: {m}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The notification log of the project, newest first.
    async fn notifications(&self, p: &str) -> Vec<Value> {
        let log = self
            .get(TOKEN, &format!("/api/0/projects/{p}/notifications/"))
            .await
            .expect(200);
        log["data"].as_array().unwrap().clone()
    }
}

/// A self-signed certificate for 127.0.0.1 valid until `not_after_ms` (from 30 days before).
fn certificate(not_after_ms: i64) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_millis((not_after_ms - 30 * DAY_MS) as u64);
    params.not_after = epoch + Duration::from_millis(not_after_ms as u64);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (
        cert.der().clone(),
        PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    )
}

/// An HTTPS server answering `200 ok` to every request, with a certificate the test can replace.
#[derive(Clone)]
struct TlsTarget {
    url: String,
    config: Arc<Mutex<Arc<rustls::ServerConfig>>>,
    hits: Arc<AtomicUsize>,
}

fn server_config(not_after_ms: i64) -> Arc<rustls::ServerConfig> {
    let (cert, key) = certificate(not_after_ms);
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
    Arc::new(config)
}

impl TlsTarget {
    async fn start(not_after_ms: i64) -> TlsTarget {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = TlsTarget {
            url: format!("https://{}/health", listener.local_addr().unwrap()),
            config: Arc::new(Mutex::new(server_config(not_after_ms))),
            hits: Arc::default(),
        };
        let t = target.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = tokio_rustls::TlsAcceptor::from(t.config.lock().unwrap().clone());
                let hits = t.hits.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        target
    }

    /// Serves a new certificate valid until `not_after_ms` from the next connection on.
    fn renew(&self, not_after_ms: i64) {
        *self.config.lock().unwrap() = server_config(not_after_ms);
    }
}

fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_monitor_goes_down_on_a_wrong_answer_and_up_when_it_is_right_again() {
    let (env, p) = start().await;
    let dns = DnsServer::start().await;
    dns.set_a(
        "shop.test",
        &[Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
    );
    dns.set_txt("shop.test", &["v=spf1 -all"]);
    let path = format!("/api/0/projects/{p}/monitors/");

    let monitor = env
        .post(
            TOKEN,
            &path,
            json!({"type": "dns", "host": "shop.test", "expected": ["10.0.0.1"],
                   "resolver": dns.addr.to_string(), "interval_seconds": 10, "timeout_seconds": 2,
                   "failure_threshold": 2, "recovery_threshold": 1}),
        )
        .await
        .expect(201);
    assert_eq!(monitor["name"], "shop.test A");
    assert_eq!(monitor["record_type"], "A");
    assert_eq!(monitor["resolver"], dns.addr.to_string());
    let id = monitor["id"].as_str().unwrap().to_owned();
    let txt = env
        .post(
            TOKEN,
            &path,
            json!({"type": "dns", "host": "SHOP.test.", "record_type": "txt", "expected": "v=spf1 -all",
                   "resolver": dns.addr.to_string(), "interval_seconds": 10}),
        )
        .await
        .expect(201);
    let txt_id = txt["id"].as_str().unwrap().to_owned();

    env.wait_status(&id, "up").await;
    let first = env.wait_check(&id, "that passed", |c| c["ok"] == true).await;
    assert_eq!(
        first["details"]["answers"],
        json!(["10.0.0.1", "10.0.0.2"]),
        "{first}"
    );
    assert!(first["details"]["dns_ms"].is_i64(), "{first}");
    assert_eq!(first["details"]["resolver"], dns.addr.to_string());
    env.wait_status(&txt_id, "up").await;

    // Another address: down after two failures, with what it got as the error.
    dns.set_a("shop.test", &[Ipv4Addr::new(10, 0, 0, 9)]);
    env.wait_status(&id, "down").await;
    let failed = env.wait_check(&id, "that failed", |c| c["ok"] == false).await;
    assert_eq!(failed["error"], "expected 10.0.0.1, got 10.0.0.9", "{failed}");
    let incidents = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/incidents/"))
        .await
        .expect(200);
    assert_eq!(incidents["data"][0]["status"], "open", "{incidents}");
    assert_eq!(
        incidents["data"][0]["evidence"]["error"],
        "expected 10.0.0.1, got 10.0.0.9"
    );

    // The name disappears, then the server stops answering: each check says which.
    dns.set_mode(Mode::NxDomain);
    env.wait_check(&id, "saying NXDOMAIN", |c| c["error"] == "NXDOMAIN for shop.test")
        .await;
    dns.set_mode(Mode::Silent);
    env.wait_check(&id, "timing out", |c| c["error"] == "timed out after 2000 ms")
        .await;

    // Right again: up at the first success, the incident resolved.
    dns.set_a("shop.test", &[Ipv4Addr::new(10, 0, 0, 1)]);
    dns.set_mode(Mode::Answer);
    env.wait_status(&id, "up").await;
    let incidents = env
        .get(TOKEN, &format!("/api/0/monitors/{id}/incidents/"))
        .await
        .expect(200);
    assert_eq!(incidents["data"].as_array().unwrap().len(), 1, "{incidents}");
    assert_eq!(incidents["data"][0]["status"], "resolved");
    assert!(dns.queries() >= 6, "{} queries", dns.queries());
    env.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_certificate_notifies_once_and_its_renewal_once() {
    let (env, p) = start().await;
    let now = SystemClock.now_ms();
    // Three days and an hour: "3 days" whenever the check runs within the hour.
    let not_after = now + 3 * DAY_MS + 3_600_000;
    let target = TlsTarget::start(not_after).await;
    let (h, hook_url) = Hook::start().await;
    let channel = env.webhook_channel(TOKEN, &p, &hook_url).await;
    let rule = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/alert-rules/"),
            json!({"name": "Certificates", "condition": {"kind": "cert_expiring", "days": 7},
                   "channels": [channel["id"]]}),
        )
        .await
        .expect(201);
    assert_eq!(
        rule["condition"],
        json!({"kind": "cert_expiring", "days": 7, "monitors": []})
    );
    assert_eq!(
        rule["description"],
        "the TLS certificate of a monitor of the project expires within 7 days"
    );
    assert_eq!(rule["cooldown_minutes"], 0, "{rule}");
    let monitor = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/monitors/"),
            json!({"name": "Shop TLS", "type": "http", "url": target.url, "verify_tls": false,
                   "interval_seconds": 10}),
        )
        .await
        .expect(201);
    let id = monitor["id"].as_str().unwrap().to_owned();

    env.wait_status(&id, "up").await;
    let check = env.wait_check(&id, "that passed", |c| c["ok"] == true).await;
    let expires = check["details"]["cert_expires_ms"].as_i64().unwrap();
    assert!((expires - not_after).abs() < 60_000, "{expires} vs {not_after}");
    assert!(check["details"]["tls_ms"].is_i64(), "{check}");
    let title = format!(
        "Certificate of Shop TLS expires in 3 days (on {})",
        day(not_after)
    );
    assert_eq!(h.wait_for(1, WAIT).await, vec![title.clone()]);

    // Later checks of the same certificate notify nobody.
    let mut seen = env.monitor(&id).await;
    for _ in 0..2 {
        seen = env.wait_verified_after(&id, &seen["last_check"]).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.titles(), vec![title.clone()]);
    let log = env.notifications(&p).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["subject"], format!("monitor:{id}"));
    assert_eq!(log[0]["transition"], "triggered");

    // A renewed certificate resolves it, once.
    target.renew(now + 90 * DAY_MS);
    env.wait_check(&id, "with the renewed certificate", |c| {
        c["details"]["cert_expires_ms"].as_i64() > Some(now + 80 * DAY_MS)
    })
    .await;
    assert_eq!(
        h.wait_for(2, WAIT).await,
        vec![title, "Certificate of Shop TLS renewed".to_owned()]
    );
    let seen = env.monitor(&id).await;
    env.wait_verified_after(&id, &seen["last_check"]).await;
    assert_eq!(env.notifications(&p).await.len(), 2);
    assert!(target.hits.load(Ordering::SeqCst) >= 4);
    env.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_fails_a_verifying_check_saying_when_it_expired() {
    let (env, p) = start().await;
    let not_after = SystemClock.now_ms() - 2 * DAY_MS;
    let target = TlsTarget::start(not_after).await;
    let monitor = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/monitors/"),
            json!({"type": "http", "url": target.url, "interval_seconds": 10, "failure_threshold": 1}),
        )
        .await
        .expect(201);
    let id = monitor["id"].as_str().unwrap();
    env.wait_status(id, "down").await;
    let check = env.wait_check(id, "that failed", |c| c["ok"] == false).await;
    let error = check["error"].as_str().unwrap();
    assert!(
        error.ends_with(&format!("certificate expired on {}", day(not_after))),
        "{error}"
    );
    assert!(
        error.starts_with("TLS handshake with 127.0.0.1 failed"),
        "{error}"
    );
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dns_monitors_and_cert_rules_are_validated_by_field() {
    let (env, p) = start().await;
    let path = format!("/api/0/projects/{p}/monitors/");
    for (body, needle) in [
        (json!({"type": "dns"}), "host is required"),
        (
            json!({"type": "dns", "host": "shop.test", "record_type": "SRV"}),
            "record_type",
        ),
        (
            json!({"type": "dns", "host": "shop.test", "record_type": 5}),
            "record_type",
        ),
        (json!({"type": "dns", "host": "shop test"}), "host"),
        (
            json!({"type": "dns", "host": "shop.test", "expected": ["not-an-ip"]}),
            "expected",
        ),
        (
            json!({"type": "dns", "host": "shop.test", "resolver": "dns.example"}),
            "resolver",
        ),
        (
            json!({"type": "dns", "host": "shop.test", "port": 53}),
            "unknown field port",
        ),
    ] {
        env.post(TOKEN, &path, body).await.expect_error(400, needle);
    }
    assert_eq!(
        env.get(TOKEN, &path).await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let mx = env
        .post(
            TOKEN,
            &path,
            json!({"type": "dns", "host": "example.com", "record_type": "mx", "enabled": false}),
        )
        .await
        .expect(201);
    assert_eq!(mx["record_type"], "MX");
    assert!(mx.get("resolver").is_none(), "{mx}");

    let channel = env
        .post(
            TOKEN,
            &format!("/api/0/projects/{p}/channels/"),
            json!({"name": "hook", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/hook"}}),
        )
        .await
        .expect(201);
    let rules = format!("/api/0/projects/{p}/alert-rules/");
    for (condition, needle) in [
        (json!({"kind": "cert_expiring"}), "condition.days is required"),
        (
            json!({"kind": "cert_expiring", "days": 0}),
            "condition.days must be from 1",
        ),
        (
            json!({"kind": "cert_expiring", "days": 7, "monitors": "all"}),
            "condition.monitors",
        ),
    ] {
        env.post(
            TOKEN,
            &rules,
            json!({"name": "certs", "condition": condition, "channels": [channel["id"]]}),
        )
        .await
        .expect_error(400, needle);
    }
    env.server.shutdown().await.unwrap();
}
