//! One plain HTTP/1.1 keep-alive connection, driven directly (no pool): a load task owns one and
//! sends its requests back to back, so "N connections" means exactly N sockets.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        authority: String,
        source: std::io::Error,
    },
    #[error("HTTP handshake with {authority} failed: {source}")]
    Handshake { authority: String, source: hyper::Error },
    #[error("request failed: {0}")]
    Request(#[from] hyper::Error),
    #[error("invalid request: {0}")]
    Build(#[from] http::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// A response, read completely.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    /// `Retry-After` in whole seconds, when present.
    pub retry_after: Option<u64>,
    /// `name=value` of every `Set-Cookie`.
    pub cookies: Vec<String>,
    pub body: Bytes,
}

pub struct Conn {
    authority: String,
    host: HeaderValue,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn connect(authority: &str) -> Result<Self, HttpError> {
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|source| HttpError::Connect {
                authority: authority.to_owned(),
                source,
            })?;
        // Requests are small and latency is what we measure: never wait to coalesce writes.
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            handshake(TokioIo::new(stream))
                .await
                .map_err(|source| HttpError::Handshake {
                    authority: authority.to_owned(),
                    source,
                })?;
        // The connection future does the socket I/O; it ends when `sender` is dropped or the
        // server closes the connection, and its error then surfaces through `send`.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let host = HeaderValue::from_str(authority).unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Ok(Conn {
            authority: authority.to_owned(),
            host,
            sender,
        })
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Whether the connection can still carry requests.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Sends one request and reads the whole response.
    pub async fn send(&mut self, mut req: Request<Full<Bytes>>) -> Result<Reply, HttpError> {
        req.headers_mut()
            .entry(header::HOST)
            .or_insert_with(|| self.host.clone());
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let cookies = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::to_owned)
            .collect();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            retry_after,
            cookies,
            body,
        })
    }

    /// `GET path` with extra headers, bounded by `timeout`.
    pub async fn get(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Reply, HttpError> {
        let mut builder = Request::builder().method(Method::GET).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let req = builder.body(Full::new(Bytes::new()))?;
        tokio::time::timeout(timeout, self.send(req))
            .await
            .map_err(|_| HttpError::Timeout(timeout))?
    }
}

impl Conn {
    /// `POST path` of a URL-encoded form, bounded by `timeout`.
    pub async fn post_form(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        form: &str,
        timeout: Duration,
    ) -> Result<Reply, HttpError> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let req = builder.body(Full::new(Bytes::from(form.to_owned())))?;
        tokio::time::timeout(timeout, self.send(req))
            .await
            .map_err(|_| HttpError::Timeout(timeout))?
    }
}

/// One `GET` on a fresh connection.
pub async fn get_once(
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Reply, HttpError> {
    let mut conn = tokio::time::timeout(timeout, Conn::connect(authority))
        .await
        .map_err(|_| HttpError::Timeout(timeout))??;
    conn.get(path, headers, timeout).await
}

/// What an ingest request needs besides its body.
#[derive(Debug, Clone)]
pub struct EnvelopeTarget {
    /// `host:port`.
    pub authority: String,
    /// `/api/<project>/envelope/`, with any prefix.
    pub path: String,
    pub auth: HeaderValue,
    pub content_encoding: Option<HeaderValue>,
}

impl EnvelopeTarget {
    pub fn request(&self, body: Bytes) -> Result<Request<Full<Bytes>>, http::Error> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(&self.path)
            .header("x-sentry-auth", self.auth.clone())
            .header(header::CONTENT_TYPE, "application/x-sentry-envelope");
        if let Some(enc) = &self.content_encoding {
            builder = builder.header(header::CONTENT_ENCODING, enc.clone());
        }
        builder.body(Full::new(body))
    }
}
