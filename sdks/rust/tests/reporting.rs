//! The sensor against a real HTTP receiver on loopback: batching and encoding, route templates
//! and tenants from a real axum app, and what each kind of answer (or no answer) does.
#![expect(clippy::unwrap_used, reason = "test code: a failed step is a failed test")]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::routing::get;
use sentinel_sensor::{FlushError, RequestEvent, Sensor, SensorLayer, Stats};
use serde_json::json;
use support::{Answer, Receiver, sensor, summary};
use tower::{Layer, ServiceExt};

const AUTH: &str = "Sentry sentry_key=testkey, sentry_version=7, sentry_client=sentinel-sensor-rust/0.1.0";
const FLUSH: Duration = Duration::from_secs(10);

fn event(i: usize) -> RequestEvent {
    RequestEvent::new(
        format!("/v1/items/{{id}}/variant-{i}"),
        "GET",
        200,
        Duration::from_millis(3),
    )
    .with_tenant(format!("tenant-{}", i % 7))
}

async fn get_status(app: &Router, uri: &str, tenant: Option<&str>) -> StatusCode {
    let mut request = Request::get(uri);
    if let Some(tenant) = tenant {
        request = request.header("x-tenant-id", tenant);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

fn app(sensor: &Sensor) -> Router {
    Router::new()
        .route("/v1/items/{id}", get(|| async { "item" }))
        .route("/v1/process", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .nest(
            "/admin",
            Router::new().route("/users/{user}", get(|| async { "user" })),
        )
        .layer(sensor.layer())
}

#[tokio::test]
async fn events_arrive_batched_and_gzipped_with_the_auth_header() {
    let mut receiver = Receiver::start().await;
    let dsn = format!("http://testkey@{}/sentinel/7", receiver.addr)
        .parse()
        .unwrap();
    let sensor = sensor(dsn, |c| c.max_batch = 20);

    // Without a flush, the interval sends what is queued.
    for i in 0..3 {
        sensor.record(event(i));
    }
    let post = receiver.next().await;
    assert_eq!(post.path, "/sentinel/api/7/requests/");
    assert_eq!(post.auth.as_deref(), Some(AUTH));
    assert_eq!(post.content_type.as_deref(), Some("application/json"));
    assert!(!post.gzipped, "a body under 1 KiB is sent plain");
    assert_eq!(post.events.len(), 3);
    assert_eq!(post.events[0]["tenant_id"], "tenant-0");
    assert_eq!(post.events[0]["endpoint"], "/v1/items/{id}/variant-0");
    assert_eq!(post.events[0]["method"], "GET");
    assert_eq!(post.events[0]["status_code"], 200);
    assert_eq!(post.events[0]["latency_ms"], 3.0);
    #[expect(
        clippy::disallowed_methods,
        reason = "the sensor stamps events with the wall clock; the test compares with it"
    )]
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let timestamp = post.events[0]["timestamp"].as_f64().unwrap();
    assert!((now - 60.0..=now).contains(&timestamp), "{timestamp} vs {now}");

    for i in 0..50 {
        sensor.record(event(i));
    }
    sensor.flush(FLUSH).await.unwrap();
    let posts = receiver.pending();
    assert_eq!(
        posts.iter().map(|p| p.events.len()).collect::<Vec<_>>(),
        [20, 20, 10]
    );
    assert!(posts.iter().all(|p| p.gzipped), "bodies over 1 KiB are gzipped");
    assert!(posts.iter().all(|p| p.auth.as_deref() == Some(AUTH)));
    let endpoints: Vec<_> = posts
        .iter()
        .flat_map(|p| &p.events)
        .map(|e| e["endpoint"].clone())
        .collect();
    assert_eq!(endpoints[49], "/v1/items/{id}/variant-49", "order is kept");
    assert_eq!(
        sensor.stats(),
        Stats {
            sent: 53,
            dropped: 0,
            rejected: 0,
            queued: 0
        }
    );
}

#[tokio::test]
async fn an_axum_app_reports_route_templates_tenants_and_normalized_unmatched_paths() {
    let mut receiver = Receiver::start().await;
    let sensor = sensor(receiver.dsn(1), |_| {});
    let app = app(&sensor);

    assert_eq!(
        get_status(&app, "/v1/items/42?expand=all", Some("acme")).await,
        StatusCode::OK
    );
    assert_eq!(
        get_status(&app, "/v1/process", Some("globex")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get_status(&app, "/admin/users/7", None).await, StatusCode::OK);
    // No route: the fallback answers 404 and the normalizer names the endpoint.
    let uuid = "0b5e4a1c-3d52-4b4e-9f77-58f1c5f0a3b2";
    let unmatched = format!("/v1/unknown/123/{uuid}?token=abc");
    assert_eq!(
        get_status(&app, &unmatched, Some("acme")).await,
        StatusCode::NOT_FOUND
    );
    sensor.flush(FLUSH).await.unwrap();

    let events: Vec<_> = receiver.pending().into_iter().flat_map(|p| p.events).collect();
    let s = |t: Option<&str>, e: &str, status| (t.map(str::to_owned), e.to_owned(), "GET".to_owned(), status);
    assert_eq!(
        summary(&events),
        [
            s(None, "/admin/users/{user}", 200),
            s(Some("acme"), "/v1/items/{id}", 200),
            s(Some("acme"), "/v1/unknown/{id}/{id}", 404),
            s(Some("globex"), "/v1/process", 503),
        ]
    );
    assert!(events.iter().all(|e| e["latency_ms"].as_f64().unwrap() >= 0.0));
}

#[tokio::test]
async fn route_layer_sees_matched_routes_only() {
    let mut receiver = Receiver::start().await;
    let sensor = sensor(receiver.dsn(1), |_| {});
    let app = Router::new()
        .route("/v1/items/{id}", get(|| async { "item" }))
        .route_layer(sensor.layer());

    assert_eq!(get_status(&app, "/v1/items/1", None).await, StatusCode::OK);
    assert_eq!(
        get_status(&app, "/v1/nothing/2", None).await,
        StatusCode::NOT_FOUND
    );
    sensor.flush(FLUSH).await.unwrap();

    let events: Vec<_> = receiver.pending().into_iter().flat_map(|p| p.events).collect();
    assert_eq!(
        summary(&events),
        [(None, "/v1/items/{id}".to_owned(), "GET".to_owned(), 200)]
    );
}

#[tokio::test]
async fn tenant_and_route_closures_replace_the_defaults() {
    let mut receiver = Receiver::start().await;
    let sensor = sensor(receiver.dsn(1), |_| {});
    // The tenant is the subdomain; legacy paths are named by hand, the rest as usual.
    let layer = sensor
        .layer()
        .tenant(|head| {
            head.header("host")?
                .split_once('.')
                .map(|(sub, _)| sub.to_owned())
        })
        .route(|head| {
            head.uri()
                .path()
                .starts_with("/legacy/")
                .then(|| "/legacy/*".to_owned())
        });
    let app = Router::new()
        .route("/v1/items/{id}", get(|| async { "item" }))
        .route("/legacy/{*rest}", get(|| async { "old" }))
        .layer(layer);
    let call = |uri: &str, host: &str| {
        let request = Request::get(uri)
            .header("host", host)
            .body(Body::empty())
            .unwrap();
        app.clone().oneshot(request)
    };
    call("/v1/items/9", "acme.example.com").await.unwrap();
    call("/legacy/a/b/c", "initech.example.com").await.unwrap();
    call("/v1/items/9", "localhost").await.unwrap();

    // Another header instead of x-tenant-id.
    let by_org = Router::new()
        .route("/v1/items/{id}", get(|| async { "item" }))
        .layer(sensor.layer().tenant_header("x-org".parse().unwrap()));
    let request = Request::get("/v1/items/1")
        .header("x-org", "umbrella")
        .header("x-tenant-id", "ignored")
        .body(Body::empty())
        .unwrap();
    by_org.oneshot(request).await.unwrap();
    sensor.flush(FLUSH).await.unwrap();

    let events: Vec<_> = receiver.pending().into_iter().flat_map(|p| p.events).collect();
    let s = |t: Option<&str>, e: &str| (t.map(str::to_owned), e.to_owned(), "GET".to_owned(), 200);
    assert_eq!(
        summary(&events),
        [
            s(None, "/v1/items/{id}"),
            s(Some("acme"), "/v1/items/{id}"),
            s(Some("initech"), "/legacy/*"),
            s(Some("umbrella"), "/v1/items/{id}"),
        ]
    );
}

#[tokio::test]
async fn any_tower_service_works_and_an_inner_error_counts_as_500() {
    let mut receiver = Receiver::start().await;
    let sensor = sensor(receiver.dsn(1), |_| {});
    // Not axum: plain `http` types with a String body and a real error type.
    let inner = tower::service_fn(|request: Request<String>| async move {
        if request.uri().path() == "/boom" {
            Err(std::io::Error::other("backend gone"))
        } else {
            Ok::<_, std::io::Error>(Response::new(format!("echo {}", request.body())))
        }
    });
    let service = SensorLayer::new(sensor.clone()).layer(inner);

    let ok = Request::post("/users/12345/orders")
        .header("x-tenant-id", "acme")
        .body("hi".to_owned());
    let response = service.clone().oneshot(ok.unwrap()).await.unwrap();
    assert_eq!(response.into_body(), "echo hi");
    let boom = Request::delete("/boom")
        .header("x-tenant-id", "acme")
        .body(String::new());
    assert!(
        service.oneshot(boom.unwrap()).await.is_err(),
        "the error reaches the caller unchanged"
    );
    sensor.flush(FLUSH).await.unwrap();

    let events: Vec<_> = receiver.pending().into_iter().flat_map(|p| p.events).collect();
    let acme = Some("acme".to_owned());
    assert_eq!(
        summary(&events),
        [
            (acme.clone(), "/boom".to_owned(), "DELETE".to_owned(), 500),
            (acme, "/users/{id}/orders".to_owned(), "POST".to_owned(), 200),
        ]
    );
}

#[tokio::test]
async fn a_receiver_that_refuses_connections_costs_the_app_nothing_and_drops_past_the_bound() {
    // A port nobody listens on: connections are refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dsn = format!("http://testkey@{}/1", closed.local_addr().unwrap())
        .parse()
        .unwrap();
    drop(closed);
    let sensor = sensor(dsn, |c| {
        c.max_queue = 10;
        c.max_batch = 5;
    });
    let app = app(&sensor);

    for i in 0..200 {
        assert_eq!(
            get_status(&app, &format!("/v1/items/{i}"), Some("acme")).await,
            StatusCode::OK
        );
    }
    let stats = sensor.stats();
    assert_eq!(stats.sent, 0);
    assert!(stats.queued <= 10, "{stats:?}");
    assert!(stats.dropped >= 190, "{stats:?}");
    assert_eq!(stats.queued + stats.dropped, 200, "{stats:?}");
    assert!(sensor.flush(Duration::from_millis(100)).await.is_err());
}

#[tokio::test]
async fn a_receiver_that_never_answers_does_not_hold_up_requests() {
    // Accepts connections and keeps them open without a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = accepted_tx.send(());
        }
    });
    let sensor = sensor(format!("http://testkey@{addr}/1").parse().unwrap(), |c| {
        c.max_queue = 10;
        c.timeout = Duration::from_secs(60);
    });
    let app = app(&sensor);

    get_status(&app, "/v1/items/0", None).await;
    // The sensor is now stuck in a POST that will not be answered for a minute.
    tokio::time::timeout(FLUSH, accepted.recv()).await.unwrap();
    let requests = async {
        for i in 1..=100 {
            assert_eq!(
                get_status(&app, &format!("/v1/items/{i}"), None).await,
                StatusCode::OK
            );
        }
    };
    tokio::time::timeout(Duration::from_secs(10), requests)
        .await
        .expect("app requests must not wait on the sensor");
    assert_eq!(
        sensor.stats(),
        Stats {
            sent: 0,
            dropped: 91,
            rejected: 0,
            queued: 10
        }
    );
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_and_arrives() {
    let mut receiver = Receiver::answering(|n, _| match n {
        0 => Answer {
            status: 503,
            retry_after: Some("1"),
            body: None,
        },
        _ => Answer::accept_all(),
    })
    .await;
    let sensor = sensor(receiver.dsn(1), |_| {});
    for i in 0..3 {
        sensor.record(event(i));
    }
    sensor.flush(FLUSH).await.unwrap();

    let first = receiver.next().await;
    let second = receiver.next().await;
    assert_eq!(first.events, second.events, "the same batch is sent again");
    assert_eq!(second.events.len(), 3);
    assert_eq!(
        sensor.stats(),
        Stats {
            sent: 3,
            dropped: 0,
            rejected: 0,
            queued: 0
        }
    );
}

#[tokio::test]
async fn with_the_queue_full_a_failed_batch_gives_way_to_newer_events() {
    let mut receiver = Receiver::answering(|n, _| match n {
        0 => Answer {
            status: 503,
            retry_after: Some("1"),
            body: None,
        },
        _ => Answer::accept_all(),
    })
    .await;
    let sensor = sensor(receiver.dsn(1), |c| {
        c.max_queue = 4;
        c.max_batch = 2;
    });
    for i in 0..4 {
        sensor.record(event(i));
    }
    // The first batch fails while four events fill the queue: it is dropped, not retried.
    assert_eq!(
        sensor.flush(FLUSH).await,
        Err(FlushError::Undelivered { events: 2 })
    );

    let endpoints: Vec<Vec<_>> = receiver
        .pending()
        .iter()
        .map(|p| {
            p.events
                .iter()
                .map(|e| e["endpoint"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    let variant = |i| format!("/v1/items/{{id}}/variant-{i}");
    assert_eq!(endpoints, [[variant(0), variant(1)], [variant(2), variant(3)]]);
    assert_eq!(
        sensor.stats(),
        Stats {
            sent: 2,
            dropped: 2,
            rejected: 0,
            queued: 0
        }
    );
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let mut receiver = Receiver::answering(|n, _| match n {
        0 => Answer::status(400),
        _ => Answer::accept_all(),
    })
    .await;
    let sensor = sensor(receiver.dsn(1), |_| {});
    sensor.record(event(0));
    sensor.record(event(1));
    assert_eq!(
        sensor.flush(FLUSH).await,
        Err(FlushError::Undelivered { events: 2 })
    );
    sensor.record(event(2));
    sensor.flush(FLUSH).await.unwrap();

    let posts = receiver.pending();
    assert_eq!(
        posts.iter().map(|p| p.events.len()).collect::<Vec<_>>(),
        [2, 1],
        "nothing resent"
    );
    assert_eq!(posts[1].events[0]["endpoint"], "/v1/items/{id}/variant-2");
    assert_eq!(
        sensor.stats(),
        Stats {
            sent: 1,
            dropped: 0,
            rejected: 2,
            queued: 0
        }
    );
}

#[tokio::test]
async fn a_403_drops_the_batch_without_retrying() {
    let mut receiver = Receiver::answering(|_, _| Answer::status(403)).await;
    let sensor = sensor(receiver.dsn(1), |_| {});
    sensor.record(event(0));
    assert_eq!(
        sensor.flush(FLUSH).await,
        Err(FlushError::Undelivered { events: 1 })
    );
    sensor.record(event(1));
    assert_eq!(
        sensor.flush(FLUSH).await,
        Err(FlushError::Undelivered { events: 1 })
    );

    assert_eq!(receiver.pending().len(), 2);
    assert_eq!(
        sensor.stats(),
        Stats {
            sent: 0,
            dropped: 2,
            rejected: 0,
            queued: 0
        }
    );
}

#[tokio::test]
async fn a_413_halves_the_batch_until_it_fits() {
    let mut receiver = Receiver::answering(|_, post| match post.events.len() {
        0..=5 => Answer::accept_all(),
        _ => Answer::status(413),
    })
    .await;
    let sensor = sensor(receiver.dsn(1), |c| c.max_batch = 12);
    for i in 0..12 {
        sensor.record(event(i));
    }
    sensor.flush(FLUSH).await.unwrap();

    let sizes: Vec<_> = receiver.pending().iter().map(|p| p.events.len()).collect();
    assert_eq!(sizes, [12, 6, 3, 3, 3, 3]);
    assert_eq!(
        sensor.stats(),
        Stats {
            sent: 12,
            dropped: 0,
            rejected: 0,
            queued: 0
        }
    );
}

#[tokio::test]
async fn records_sentinel_rejects_one_by_one_are_counted() {
    let mut receiver = Receiver::answering(|_, _| Answer {
        status: 200,
        retry_after: None,
        body: Some(json!({"accepted": 1, "rejected": 1,
            "errors": [{"index": 1, "reason": "timestamp is more than 24 hours old"}]})),
    })
    .await;
    let sensor = sensor(receiver.dsn(1), |_| {});
    sensor.record(event(0));
    sensor.record(event(1).at(UNIX_EPOCH));
    sensor.flush(FLUSH).await.unwrap();

    assert_eq!(receiver.next().await.events[1]["timestamp"], 0.0);
    assert_eq!(
        sensor.stats(),
        Stats {
            sent: 1,
            dropped: 0,
            rejected: 1,
            queued: 0
        }
    );
}

#[tokio::test]
async fn a_flush_with_nothing_queued_returns_at_once() {
    let receiver = Receiver::start().await;
    let sensor = Sensor::from_dsn(&receiver.dsn(1).to_string()).unwrap();
    sensor.flush(FLUSH).await.unwrap();
    assert_eq!(sensor.stats(), Stats::default());
}
