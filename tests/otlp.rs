//! OTLP export: the app pushes its metrics to a collector — here a
//! receiver this test runs on loopback, which decodes the protobuf with
//! OpenTelemetry's own message types — at its interval and once more at
//! shutdown.

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric};
use portico::prelude::*;
use portico::telemetry::{Metrics, Otlp};
use portico::testing::TestClient;
use prost::Message as _;
use tokio::sync::mpsc;

#[route(GET, "/users/<id>")]
async fn get_user(id: u32) -> ApiResponse<u32> {
    ApiResponse::ok(id)
}

/// A collector on 127.0.0.1: every body posted to `/v1/metrics`, decoded.
async fn collector() -> (String, mpsc::UnboundedReceiver<ExportMetricsServiceRequest>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sender, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let sender = sender.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let sender = sender.clone();
                    async move {
                        assert_eq!(request.uri().path(), "/v1/metrics");
                        assert_eq!(request.headers()["content-type"], "application/x-protobuf");
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let decoded =
                            ExportMetricsServiceRequest::decode(body).expect("OTLP protobuf");
                        let _ = sender.send(decoded);
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), received)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(text) => Some(text.as_str()),
            _ => None,
        }
    })
}

fn metric<'a>(export: &'a ExportMetricsServiceRequest, name: &str) -> Option<&'a Metric> {
    export
        .resource_metrics
        .iter()
        .flat_map(|resource| &resource.scope_metrics)
        .flat_map(|scope| &scope.metrics)
        .find(|metric| metric.name == name)
}

/// The count of `GET /users/<id>` 200s in an export.
fn user_requests(export: &ExportMetricsServiceRequest) -> Option<u64> {
    let Some(metric::Data::Histogram(histogram)) =
        &metric(export, "http.server.request.duration")?.data
    else {
        return None;
    };
    histogram
        .data_points
        .iter()
        .find(|point| {
            attribute(&point.attributes, "http.route") == Some("/users/<id>")
                && attribute(&point.attributes, "http.request.method") == Some("GET")
                && attribute(&point.attributes, "http.response.status_code") == Some("200")
        })
        .map(|point| point.count)
}

#[tokio::test]
async fn metrics_are_pushed_to_the_collector_and_once_more_at_shutdown() {
    let (endpoint, mut received) = collector().await;
    let otlp = Otlp::new(&endpoint)
        .unwrap()
        .every(Duration::from_millis(100))
        .service_name("users-test");
    let app = App::new()
        .mount(routes![get_user])
        .metrics(Metrics::new().otlp(otlp));
    let client = TestClient::new(app).await;
    for id in 1..=3 {
        assert_eq!(
            client.get(&format!("/users/{id}")).send().await.status(),
            200
        );
    }
    let export = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let export = received.recv().await.expect("the collector runs");
            if user_requests(&export) == Some(3) {
                return export;
            }
        }
    })
    .await
    .expect("an export with the three requests arrives");

    let resource = export.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(
        attribute(&resource.attributes, "service.name"),
        Some("users-test")
    );
    let duration = metric(&export, "http.server.request.duration").unwrap();
    assert_eq!(duration.unit, "s");
    let Some(metric::Data::Histogram(histogram)) = &duration.data else {
        unreachable!()
    };
    let point = &histogram.data_points[0];
    assert_eq!(point.explicit_bounds.first(), Some(&0.005));
    assert_eq!(point.explicit_bounds.last(), Some(&10.0));
    assert_eq!(point.bucket_counts.len(), point.explicit_bounds.len() + 1);
    assert!(point.start_time_unix_nano > 0 && point.start_time_unix_nano <= point.time_unix_nano);
    let Some(metric::Data::Sum(panics)) = &metric(&export, "portico.server.panics").unwrap().data
    else {
        panic!("a counter is a sum");
    };
    assert!(panics.is_monotonic);

    // One more request, then shutdown: the last push carries it.
    assert_eq!(client.get("/users/4").send().await.status(), 200);
    client.service().shutdown().begin();
    let last = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let export = received.recv().await.expect("the collector runs");
            if user_requests(&export) == Some(4) {
                return export;
            }
        }
    })
    .await;
    assert!(last.is_ok(), "the request before shutdown is pushed");
    tokio::time::timeout(
        Duration::from_secs(5),
        client.service().shutdown().drained(),
    )
    .await
    .expect("the exporter lets the shutdown drain");
}

#[test]
fn an_endpoint_that_is_not_plain_http_is_refused() {
    for bad in ["https://collector:4318", "collector:4318", "", "http://"] {
        assert!(Otlp::new(bad).is_err(), "{bad:?}");
    }
    assert!(Otlp::new("http://127.0.0.1:4318/").is_ok());
}
