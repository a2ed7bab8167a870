//! The tower layer: one request event per request, built from the request head before the inner
//! service runs and finished when its response future resolves.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::header::{AsHeaderName, HeaderName};
use http::{Extensions, HeaderMap, Method, Request, Response, Uri};
use tower::{Layer, Service};

use crate::event::RequestEvent;
use crate::route::normalize_path;
use crate::sensor::Sensor;

/// The header the tenant is read from unless configured otherwise.
pub const DEFAULT_TENANT_HEADER: &str = "x-tenant-id";

type Extractor = Arc<dyn Fn(&RequestHead<'_>) -> Option<String> + Send + Sync>;

/// What route and tenant closures see of a request: its head, not its body.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RequestHead<'a> {
    pub fn new<B>(request: &'a Request<B>) -> Self {
        RequestHead {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    pub fn method(&self) -> &'a Method {
        self.method
    }

    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// Where routers leave what they matched (axum's `MatchedPath`, your own types).
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// A header's value when it is present and visible ASCII.
    pub fn header<K: AsHeaderName>(&self, name: K) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone)]
struct Options {
    route: Option<Extractor>,
    tenant: Extractor,
}

impl Options {
    /// The route closure, then axum's matched route, then the normalized raw path.
    fn endpoint(&self, head: &RequestHead<'_>) -> String {
        if let Some(route) = self.route.as_ref().and_then(|route| route(head)) {
            return route;
        }
        #[cfg(feature = "axum")]
        if let Some(matched) = head.extensions().get::<axum::extract::MatchedPath>() {
            return matched.as_str().to_owned();
        }
        normalize_path(head.uri().path())
    }
}

fn tenant_from_header(name: HeaderName) -> Extractor {
    Arc::new(move |head: &RequestHead<'_>| head.header(&name).map(|v| v.trim().to_owned()))
}

/// Records one [`RequestEvent`] per request through the wrapped service.
///
/// - **endpoint**: the `route` closure if set and it returns `Some`; otherwise (feature `axum`,
///   on by default) axum's `MatchedPath` (`/v1/items/{id}`); otherwise the raw path through
///   [`normalize_path`](crate::normalize_path) (numbers, UUIDs, long hex and long tokens become
///   `{id}`, the query is dropped).
/// - **tenant**: the `tenant` closure; by default the `x-tenant-id` header. Missing or empty
///   means no tenant.
/// - **status**: the response's; an `Err` from the inner service counts as 500.
/// - **latency**: from the call until the response future resolves — for a streamed body that
///   is when the head is ready, not when the last byte is written.
///
/// A request whose response future is dropped before it resolves (the client went away, an
/// outer timeout fired) is not recorded.
///
/// With axum, add it with `Router::layer` or `Router::route_layer`: both run it after routing,
/// so `MatchedPath` is there. `layer` also sees requests that fell through to the fallback (a
/// 404, recorded under the normalized path); `route_layer` sees matched routes only. Wrapping the
/// whole `Router` from outside (`ServiceBuilder` around it, or `Layer::layer(router)`) runs
/// before routing: no `MatchedPath`, so every endpoint comes from the normalizer.
#[derive(Clone)]
pub struct SensorLayer {
    sensor: Sensor,
    options: Arc<Options>,
}

impl SensorLayer {
    pub fn new(sensor: Sensor) -> Self {
        SensorLayer {
            sensor,
            options: Arc::new(Options {
                route: None,
                tenant: tenant_from_header(HeaderName::from_static(DEFAULT_TENANT_HEADER)),
            }),
        }
    }

    /// Names the endpoint of a request; `None` falls back to `MatchedPath` and the normalizer.
    /// Return a template (`/v1/items/{id}`), not a raw path: each distinct string is its own
    /// series in Sentinel.
    pub fn route<F>(mut self, route: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.options).route = Some(Arc::new(route));
        self
    }

    /// Names the tenant of a request (a header, a subdomain, a path segment, an extension your
    /// auth middleware set); `None` or `""` means no tenant.
    pub fn tenant<F>(mut self, tenant: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> Option<String> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.options).tenant = Arc::new(tenant);
        self
    }

    /// Reads the tenant from another header than `x-tenant-id`.
    pub fn tenant_header(mut self, name: HeaderName) -> Self {
        Arc::make_mut(&mut self.options).tenant = tenant_from_header(name);
        self
    }
}

impl fmt::Debug for SensorLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SensorLayer")
            .field("sensor", &self.sensor)
            .field("custom_route", &self.options.route.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for SensorLayer {
    type Service = SensorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SensorService {
            inner,
            sensor: self.sensor.clone(),
            options: Arc::clone(&self.options),
        }
    }
}

/// The service [`SensorLayer`] wraps around another one.
#[derive(Clone)]
pub struct SensorService<S> {
    inner: S,
    sensor: Sensor,
    options: Arc<Options>,
}

impl<S: fmt::Debug> fmt::Debug for SensorService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SensorService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, R> Service<Request<B>> for SensorService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let start = Instant::now();
        let head = RequestHead::new(&request);
        let pending = Pending {
            sensor: self.sensor.clone(),
            tenant: (self.options.tenant)(&head),
            endpoint: self.options.endpoint(&head),
            method: request.method().as_str().to_owned(),
            start,
        };
        ResponseFuture {
            inner: self.inner.call(request),
            pending: Some(pending),
        }
    }
}

/// What is known of a request before its response.
struct Pending {
    sensor: Sensor,
    tenant: Option<String>,
    endpoint: String,
    method: String,
    start: Instant,
}

impl Pending {
    fn finish(self, status: u16) {
        // `new` stamps the event now: the end of the response, as the wire contract says.
        let mut event = RequestEvent::new(self.endpoint, &self.method, status, self.start.elapsed());
        event.tenant_id = self.tenant;
        self.sensor.record(event);
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future; records the event when it resolves.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(pending) = this.pending.take() {
            pending.finish(match &result {
                Ok(response) => response.status().as_u16(),
                Err(_) => 500,
            });
        }
        Poll::Ready(result)
    }
}
