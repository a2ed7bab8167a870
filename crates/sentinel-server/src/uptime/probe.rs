//! Running one check: an HTTP(S) request driven by hand (DNS, connect, TLS and the first byte
//! are timed separately; on HTTPS the certificate's expiry is recorded), a TCP connect, or a DNS
//! query, under the monitor's timeout. Latency counts from the moment the check starts, never
//! from when it was queued.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;

use crate::uptime::dns;
use crate::uptime::spec::{Check, DnsCheck, HttpCheck, TcpCheck, json_equals, json_path, lookup};

/// Body bytes an HTTP check reads (for keywords, JSON assertions and the evidence).
const BODY_LIMIT: usize = 256 * 1024;
/// Characters of the body kept as an incident's evidence.
const EXCERPT_CHARS: usize = 500;
const USER_AGENT: &str = concat!("Sentinel-Uptime/", env!("CARGO_PKG_VERSION"));

/// What a check found.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    pub latency_ms: i64,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// Phase timings and evidence (see `NewCheckResult::details`).
    pub details: Value,
}

/// Runs `check` within `timeout`.
pub async fn run(check: &Check, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let mut details = Map::new();
    let result = tokio::time::timeout(timeout, async {
        match check {
            Check::Http(c) => http(c, start, &mut details).await,
            Check::Tcp(c) => tcp(c, &mut details).await.map(|()| None),
            Check::Dns(c) => dns_check(c, &mut details).await.map(|()| None),
            // Never claimed by a checker (they are not an active kind).
            Check::Heartbeat(_) | Check::Cron(_) => Err(fail(
                "heartbeat and cron monitors are fed by check-ins, not checked",
            )),
        }
    })
    .await;
    let latency_ms = start.elapsed().as_millis() as i64;
    let (ok, status_code, error) = match result {
        Ok(Ok(status)) => (true, status, None),
        Ok(Err(Failure { status, error })) => (false, status, Some(error)),
        Err(_) => (
            false,
            None,
            Some(format!("timed out after {} ms", timeout.as_millis())),
        ),
    };
    Outcome {
        ok,
        latency_ms,
        status_code: status_code.map(i32::from),
        error,
        details: Value::Object(details),
    }
}

struct Failure {
    status: Option<u16>,
    error: String,
}

fn fail(error: impl Into<String>) -> Failure {
    Failure {
        status: None,
        error: error.into(),
    }
}

fn ms_since(t: Instant) -> i64 {
    t.elapsed().as_millis() as i64
}

async fn tcp(c: &TcpCheck, details: &mut Map<String, Value>) -> Result<(), Failure> {
    let addr = resolve(&c.host, c.port, details).await?;
    let t = Instant::now();
    TcpStream::connect(addr)
        .await
        .map_err(|e| fail(format!("connecting to {}:{} failed: {e}", c.host, c.port)))?;
    details.insert("connect_ms".into(), json!(ms_since(t)));
    Ok(())
}

/// Where the system resolver configuration names its nameservers.
const RESOLV_CONF: &str = "/etc/resolv.conf";

async fn dns_check(c: &DnsCheck, details: &mut Map<String, Value>) -> Result<(), Failure> {
    let server: std::net::SocketAddr = match &c.resolver {
        Some(r) => r
            .parse()
            .map_err(|_| fail(format!("resolver {r:?} is not an address")))?,
        None => {
            let conf = tokio::fs::read_to_string(RESOLV_CONF).await.map_err(|e| {
                fail(format!(
                    "reading {RESOLV_CONF} failed ({e}); set the monitor's resolver"
                ))
            })?;
            dns::first_nameserver(&conf).ok_or_else(|| {
                fail(format!(
                    "{RESOLV_CONF} names no nameserver; set the monitor's resolver"
                ))
            })?
        }
    };
    details.insert("resolver".into(), json!(server.to_string()));
    let t = Instant::now();
    let response = dns::query(server, &c.host, c.record_type)
        .await
        .map_err(|e| fail(format!("DNS query to {server} failed: {e}")))?;
    details.insert("dns_ms".into(), json!(ms_since(t)));
    details.insert("answers".into(), json!(response.answers));
    if response.rcode != 0 {
        return Err(fail(format!(
            "{} for {}",
            dns::rcode_name(response.rcode),
            c.host
        )));
    }
    if response.answers.is_empty() {
        return Err(fail(format!("no {} records for {}", c.record_type, c.host)));
    }
    let missing = c.missing(&response.answers);
    if !missing.is_empty() {
        return Err(fail(format!(
            "expected {}, got {}",
            missing.join(" and "),
            response.answers.join(", ")
        )));
    }
    Ok(())
}

async fn resolve(
    host: &str,
    port: u16,
    details: &mut Map<String, Value>,
) -> Result<std::net::SocketAddr, Failure> {
    let t = Instant::now();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| fail(format!("DNS lookup of {host} failed: {e}")))?
        .next()
        .ok_or_else(|| fail(format!("DNS lookup of {host} found no address")))?;
    details.insert("dns_ms".into(), json!(ms_since(t)));
    details.insert("ip".into(), json!(addr.ip().to_string()));
    Ok(addr)
}

/// Either side of a connection a request goes over.
enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

async fn http(
    c: &HttpCheck,
    start: Instant,
    details: &mut Map<String, Value>,
) -> Result<Option<u16>, Failure> {
    let mut url: http::Uri = c.url.parse().map_err(|e| fail(format!("invalid URL: {e}")))?;
    let mut method: http::Method = c.method.parse().map_err(|_| fail("invalid method"))?;
    let mut body = c.body.clone();
    let mut redirects = 0;
    loop {
        let (status, headers, bytes) = request(c, &url, &method, body.as_deref(), details).await?;
        if c.follow_redirects
            && status.is_redirection()
            && let Some(location) = headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok())
        {
            if redirects == crate::uptime::spec::MAX_REDIRECTS {
                return Err(Failure {
                    status: Some(status.as_u16()),
                    error: format!("more than {} redirects", crate::uptime::spec::MAX_REDIRECTS),
                });
            }
            redirects += 1;
            url = follow(&url, location).map_err(|e| Failure {
                status: Some(status.as_u16()),
                error: e,
            })?;
            if status == http::StatusCode::SEE_OTHER
                || (method == http::Method::POST && status.as_u16() < 307)
            {
                method = http::Method::GET;
                body = None;
            }
            continue;
        }
        if redirects > 0 {
            details.insert("redirects".into(), json!(redirects));
            details.insert("final_url".into(), json!(url.to_string()));
        }
        let text = String::from_utf8_lossy(&bytes);
        let excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
        let code = status.as_u16();
        let failed = |error: String| Failure {
            status: Some(code),
            error,
        };
        let assert = || -> Result<(), Failure> {
            if !c.expected_status.iter().any(|m| m.matches(code)) {
                let expected: Vec<String> = c.expected_status.iter().map(ToString::to_string).collect();
                return Err(failed(format!(
                    "status {code}, expected {}",
                    expected.join(" or ")
                )));
            }
            if let Some(k) = &c.keyword
                && !text.contains(k.as_str())
            {
                return Err(failed(format!("keyword {k:?} not found in the response")));
            }
            if let Some(k) = &c.keyword_absent
                && text.contains(k.as_str())
            {
                return Err(failed(format!("keyword {k:?} found in the response")));
            }
            if !c.json_assertions.is_empty() {
                let doc: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| failed(format!("the response is not JSON: {e}")))?;
                for a in &c.json_assertions {
                    let path = json_path(&a.path).map_err(failed)?;
                    match lookup(&doc, &path) {
                        Some(v) if json_equals(v, &a.equals) => {}
                        Some(v) => {
                            return Err(failed(format!("{} is {v}, expected {}", a.path, a.equals)));
                        }
                        None => return Err(failed(format!("{} is missing from the response", a.path))),
                    }
                }
            }
            if let Some(limit) = c.max_response_ms {
                let took = ms_since(start);
                if took > limit as i64 {
                    return Err(failed(format!("took {took} ms, more than {limit} ms")));
                }
            }
            Ok(())
        };
        let result = assert();
        if result.is_err() && !excerpt.is_empty() {
            details.insert("body_excerpt".into(), json!(excerpt));
        }
        return result.map(|()| Some(code));
    }
}

/// The URL a `Location` header points to, relative to `base`.
fn follow(base: &http::Uri, location: &str) -> Result<http::Uri, String> {
    let bad = |e: &dyn std::fmt::Display| format!("redirect to an invalid location {location:?}: {e}");
    if location.contains("://") {
        return location.parse().map_err(|e| bad(&e));
    }
    let mut parts = base.clone().into_parts();
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let base_path = base.path();
        let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{location}")
    };
    parts.path_and_query = Some(path.parse().map_err(|e| bad(&e))?);
    http::Uri::from_parts(parts).map_err(|e| bad(&e))
}

type Answer = (http::StatusCode, http::HeaderMap, Bytes);

/// One request and its (limited) response body; phases go to `details`.
async fn request(
    c: &HttpCheck,
    url: &http::Uri,
    method: &http::Method,
    body: Option<&str>,
    details: &mut Map<String, Value>,
) -> Result<Answer, Failure> {
    let https = url.scheme_str() == Some("https");
    let host = url.host().ok_or_else(|| fail("the URL has no host"))?.to_owned();
    let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addr = resolve(&host, port, details).await?;
    let t = Instant::now();
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| fail(format!("connecting to {host}:{port} failed: {e}")))?;
    let _ = tcp.set_nodelay(true);
    details.insert("connect_ms".into(), json!(ms_since(t)));
    let conn = if https {
        let t = Instant::now();
        let name = rustls::pki_types::ServerName::try_from(
            host.trim_start_matches('[').trim_end_matches(']').to_owned(),
        )
        .map_err(|e| fail(format!("{host} is not a valid TLS server name: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(tls_config(c.verify_tls));
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| fail(format!("TLS handshake with {host} failed: {}", tls_error(&e))))?;
        details.insert("tls_ms".into(), json!(ms_since(t)));
        // The first HTTPS host's certificate (the monitor's own, unless an http:// URL redirects):
        // what `cert_expiring` rules watch.
        if !details.contains_key("cert_expires_ms")
            && let Some(expires) = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| not_after_ms(leaf))
        {
            details.insert("cert_expires_ms".into(), json!(expires));
        }
        Conn::Tls(Box::new(tls))
    } else {
        Conn::Plain(tcp)
    };
    let path = url.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let host_header = match url.port_u16() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(path)
        .header(http::header::HOST, host_header)
        .header(http::header::USER_AGENT, USER_AGENT)
        .header(http::header::ACCEPT, "*/*");
    for (k, v) in &c.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
        .map_err(|e| fail(format!("building the request failed: {e}")))?;
    let t = Instant::now();
    let response = match conn {
        Conn::Plain(s) => send(TokioIo::new(s), req).await?,
        Conn::Tls(s) => send(TokioIo::new(*s), req).await?,
    };
    details.insert("first_byte_ms".into(), json!(ms_since(t)));
    let (parts, incoming) = response.into_parts();
    let bytes = match Limited::new(incoming, BODY_LIMIT).collect().await {
        Ok(b) => b.to_bytes(),
        // Longer than the limit: judge what fits, the check is about availability.
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Bytes::new(),
        Err(e) => {
            return Err(Failure {
                status: Some(parts.status.as_u16()),
                error: format!("reading the response failed: {e}"),
            });
        }
    };
    Ok((parts.status, parts.headers, bytes))
}

/// A handshake failure in words; an expired certificate says when it expired.
fn tls_error(e: &std::io::Error) -> String {
    use rustls::CertificateError;
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { not_after, .. })) => {
            format!(
                "certificate expired on {}",
                date(not_after.as_secs() as i64 * 1000)
            )
        }
        Some(rustls::Error::InvalidCertificate(CertificateError::Expired)) => "certificate expired".into(),
        Some(rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
            not_before, ..
        })) => {
            format!(
                "certificate not valid before {}",
                date(not_before.as_secs() as i64 * 1000)
            )
        }
        _ => e.to_string(),
    }
}

/// The certificate's `notAfter`, epoch milliseconds.
fn not_after_ms(cert: &rustls::pki_types::CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp() * 1000)
}

/// `2026-11-20` (UTC).
pub fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

async fn send<I>(
    io: I,
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, Failure>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| fail(format!("HTTP handshake failed: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| fail(format!("the request failed: {e}")))
}

/// The client TLS settings: webpki roots, or (for `verify_tls: false`) any certificate.
fn tls_config(verify: bool) -> Arc<rustls::ClientConfig> {
    static VERIFYING: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    static TRUSTING: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let provider = || Arc::new(rustls::crypto::ring::default_provider());
    if verify {
        VERIFYING
            .get_or_init(|| {
                let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                Arc::new(
                    rustls::ClientConfig::builder_with_provider(provider())
                        .with_safe_default_protocol_versions()
                        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
                        .unwrap_or_else(|_| unreachable_config()),
                )
            })
            .clone()
    } else {
        TRUSTING
            .get_or_init(|| {
                Arc::new(
                    rustls::ClientConfig::builder_with_provider(provider())
                        .with_safe_default_protocol_versions()
                        .map(|b| {
                            b.dangerous()
                                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
                                .with_no_client_auth()
                        })
                        .unwrap_or_else(|_| unreachable_config()),
                )
            })
            .clone()
    }
}

/// ring supports the default protocol versions; this is never reached.
fn unreachable_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map(|b| {
            b.with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        })
        .unwrap_or_else(|e| panic!("ring cannot do TLS 1.3: {e}"))
}

/// Accepts any server certificate (signatures are still checked): `verify_tls: false`.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_current_url() {
        let base: http::Uri = "http://a.test:8080/x/y?q=1".parse().unwrap_or_default();
        let to = |l: &str| follow(&base, l).map(|u| u.to_string()).unwrap_or_default();
        assert_eq!(to("/z"), "http://a.test:8080/z");
        assert_eq!(to("z?k=2"), "http://a.test:8080/x/z?k=2");
        assert_eq!(to("https://b.test/"), "https://b.test/");
    }

    #[test]
    fn a_certificates_expiry_is_read_to_the_second() {
        let mut params = rcgen::CertificateParams::new(vec!["x.test".to_owned()]).unwrap();
        // 2026-11-20T12:30:05Z.
        let expires: i64 = 1_795_177_805_000;
        params.not_after = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_millis(expires as u64);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(not_after_ms(cert.der()), Some(expires));
        assert_eq!(date(expires), "2026-11-20");
        assert_eq!(
            not_after_ms(&rustls::pki_types::CertificateDer::from(vec![1, 2, 3])),
            None
        );
    }
}
