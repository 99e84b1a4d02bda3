//! The production server against slow, malformed and hostile clients, and
//! its graceful shutdown. Every test runs a real server on 127.0.0.1:0.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::TestServer;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Version};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use portico::prelude::*;
use portico::{ServerConfig, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[route(GET, "/ping")]
async fn ping() -> &'static str {
    "pong"
}

#[route(GET, "/slow/<ms>")]
async fn slow(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms}")
}

#[route(POST, "/echo")]
async fn echo(body: Bytes) -> Bytes {
    body
}

#[route(GET, "/panic")]
async fn panics() -> &'static str {
    panic!("handler bug")
}

#[route(GET, "/shutting_down")]
async fn shutting_down(shutdown: Dep<Shutdown>) -> String {
    shutdown.has_begun().to_string()
}

/// Told when an `/abandoned` request begins; counts those that ran to
/// the end.
static ABANDONED_BEGUN: tokio::sync::Notify = tokio::sync::Notify::const_new();
static ABANDONED_FINISHED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[route(GET, "/abandoned")]
async fn abandoned() -> &'static str {
    use std::sync::atomic::Ordering::SeqCst;
    ABANDONED_BEGUN.notify_one();
    tokio::time::sleep(Duration::from_millis(400)).await;
    ABANDONED_FINISHED.fetch_add(1, SeqCst);
    "nobody is listening"
}

fn app(config: ServerConfig) -> App {
    App::new().server_config(config).mount(routes![
        ping,
        slow,
        echo,
        panics,
        shutting_down,
        abandoned
    ])
}

async fn start(config: ServerConfig) -> TestServer {
    TestServer::start(app(config)).await
}

/// Reads from `stream` until EOF or `wait` passes; returns what came and
/// whether the server closed the connection.
async fn read_until_close(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

/// A client that gives up and closes its connection while its request
/// is being handled gets no work done on its behalf: the handler's future
/// is dropped at the close, not run to an answer nobody reads, and the
/// connection's slot is free again at once.
#[tokio::test]
async fn a_handler_whose_client_hung_up_is_stopped_not_run_to_the_end() {
    use std::sync::atomic::Ordering::SeqCst;
    let server = start(ServerConfig::default().max_connections(1)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /abandoned HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let begun = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), ABANDONED_BEGUN.notified())
        .await
        .expect("the handler began");
    drop(stream);
    // With one connection allowed, the next client is served only once
    // the abandoned one's task has ended.
    let mut next = TcpStream::connect(server.addr).await.unwrap();
    next.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_close(&mut next, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        begun.elapsed() < Duration::from_millis(350),
        "the next client waited for the abandoned handler: {:?}",
        begun.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        ABANDONED_FINISHED.load(SeqCst),
        0,
        "the abandoned handler ran to its end"
    );
}

#[tokio::test]
async fn http2_prior_knowledge_and_http1_share_one_port() {
    let server = start(ServerConfig::default()).await;
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let response = h2
        .request(
            Request::get(server.url("/ping"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .expect("h2c request");
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "pong"
    );

    let reply = server.get("/ping").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "pong");
}

#[tokio::test]
async fn a_panic_on_one_http2_stream_leaves_the_others_alone() {
    let server = start(ServerConfig::default()).await;
    // One client, one connection: both requests are streams on it.
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let get = |path: &str| {
        let request = Request::get(server.url(path))
            .body(Full::default())
            .unwrap();
        let response = h2.request(request);
        async move {
            let response = response.await.expect("response");
            let status = response.status();
            (
                status,
                response.into_body().collect().await.unwrap().to_bytes(),
            )
        }
    };
    let (slow, panicked) = tokio::join!(get("/slow/200"), get("/panic"));
    assert_eq!(panicked.0, 500);
    assert!(String::from_utf8_lossy(&panicked.1).contains("internal server error"));
    assert_eq!(slow, (hyper::StatusCode::OK, Bytes::from("slept 200")));
    assert_eq!(get("/ping").await.1, "pong", "the connection still serves");
}

#[tokio::test]
async fn a_slowloris_is_cut_after_the_header_timeout_while_others_are_served() {
    let timeout = Duration::from_millis(400);
    let server = start(ServerConfig::default().header_read_timeout(timeout)).await;
    let started = Instant::now();
    let mut slowloris = TcpStream::connect(server.addr).await.unwrap();
    slowloris
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // A normal client is served meanwhile.
    for _ in 0..3 {
        assert_eq!(server.get("/ping").await.body, "pong");
    }
    let (_, closed) = read_until_close(&mut slowloris, Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    assert!(
        closed,
        "the server closes a connection whose head never ends"
    );
    assert!(elapsed >= timeout, "not before the timeout: {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(3),
        "soon after the timeout: {elapsed:?}"
    );
    assert_eq!(server.get("/ping").await.body, "pong");
}

#[tokio::test]
async fn a_request_slower_than_the_header_timeout_is_not_cut_but_the_idle_connection_after_it_is() {
    let timeout = Duration::from_millis(300);
    let server = start(ServerConfig::default().header_read_timeout(timeout)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /slow/900 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&head).contains("slept 900") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the response comes")
            .unwrap();
        assert!(n > 0, "cut mid-request: {}", String::from_utf8_lossy(&head));
        head.extend_from_slice(&buf[..n]);
    }
    let answered = Instant::now();
    assert!(answered - started >= Duration::from_millis(900));
    // Now idle on keep-alive: closed a timeout (and at most a quarter
    // more, plus scheduling) after the response.
    let (rest, closed) = read_until_close(&mut stream, Duration::from_secs(5)).await;
    let idle = answered.elapsed();
    assert!(closed && rest.is_empty(), "{rest:?}");
    assert!(idle >= timeout, "not before the timeout: {idle:?}");
    assert!(idle < Duration::from_secs(2), "soon after it: {idle:?}");
}

#[tokio::test]
async fn too_many_headers_is_431() {
    let server = start(ServerConfig::default()).await;
    let mut request = String::from("GET /ping HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        request.push_str(&format!("X-Header-{i}: {i}\r\n"));
    }
    request.push_str("\r\n");
    let response = common::raw(server.addr, request.as_bytes(), Duration::from_secs(2)).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    assert_enveloped(&response, 431);
    assert_eq!(server.get("/ping").await.body, "pong");
}

#[tokio::test]
async fn a_head_over_the_byte_limit_is_431() {
    let server = start(ServerConfig::default().max_header_bytes(8 * 1024)).await;
    let request = format!(
        "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let response = common::raw(server.addr, request.as_bytes(), Duration::from_secs(2)).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    assert_enveloped(&response, 431);
}

/// hyper answers a head it cannot parse itself; the answer still wears
/// the envelope, with its content type.
fn assert_enveloped(response: &str, code: u16) {
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
}

#[tokio::test]
async fn a_malformed_head_or_a_long_target_gets_the_envelope() {
    let server = start(ServerConfig::default()).await;
    let response = common::raw(
        server.addr,
        b"GET /p ing HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert_enveloped(&response, 400);
    let long = format!(
        "GET /ping?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let response = common::raw(server.addr, long.as_bytes(), Duration::from_secs(2)).await;
    assert!(
        response.starts_with("HTTP/1.1 431") || response.starts_with("HTTP/1.1 414"),
        "{response}"
    );
    assert_enveloped(&response, response[9..12].parse().unwrap());
    assert_eq!(server.get("/ping").await.body, "pong");
}

#[tokio::test]
async fn http11_needs_exactly_one_host() {
    let server = start(ServerConfig::default()).await;
    for request in [
        "GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /ping HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    ] {
        let response = common::raw(server.addr, request.as_bytes(), Duration::from_secs(2)).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        assert!(
            response.contains(r#""message":"an HTTP/1.1 request needs exactly one Host header"#),
            "{response}"
        );
    }
    let response = common::raw(
        server.addr,
        b"GET /ping HTTP/1.0\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(
        response.starts_with("HTTP/1.0 200") && response.ends_with("pong"),
        "HTTP/1.0 needs no Host: {response}"
    );
}

#[tokio::test]
async fn over_the_connection_cap_clients_wait_and_are_served_when_a_slot_frees() {
    let server = start(ServerConfig::default().max_connections(1)).await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    first
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("pong"));

    // The first connection is kept alive: the second waits in the backlog.
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    second
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (early, _) = read_until_close(&mut second, Duration::from_millis(300)).await;
    assert_eq!(early, "", "not served while the cap is reached");

    drop(first);
    let (response, closed) = read_until_close(&mut second, Duration::from_secs(3)).await;
    assert!(
        closed && response.starts_with("HTTP/1.1 200") && response.ends_with("pong"),
        "{response}"
    );
}

#[tokio::test]
async fn shutdown_is_told_to_the_app_and_lets_in_flight_requests_finish() {
    let server = start(ServerConfig::default()).await;
    assert_eq!(server.get("/shutting_down").await.body, "false");
    let addr = server.addr;
    let in_flight = tokio::spawn(async move {
        common::raw(
            addr,
            b"GET /slow/300 HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_secs(3),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    server.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let response = in_flight.await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") && response.ends_with("slept 300"),
        "{response}"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "new connections are refused"
    );
}

/// A keep-alive connection to `addr` that has had one `GET /ping`
/// answered, and now sits idle.
async fn answered_once(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .expect("answered in time")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    stream
}

#[tokio::test]
async fn an_idle_keep_alive_client_does_not_hold_shutdown() {
    let server = start(ServerConfig::default()).await;
    let mut idle = answered_once(server.addr).await;
    let started = Instant::now();
    server.stop().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let (_, closed) = read_until_close(&mut idle, Duration::from_secs(1)).await;
    assert!(closed, "the idle connection is closed");
}

#[tokio::test]
async fn dropping_the_server_closes_its_connections() {
    let server = start(ServerConfig::default()).await;
    let mut idle = answered_once(server.addr).await;
    // Not stopped: its task dropped (TestServer's drop aborts it), as a
    // runtime shutting down or a caller's select! would.
    drop(server);
    let (rest, closed) = read_until_close(&mut idle, Duration::from_secs(2)).await;
    assert!(
        closed && rest.is_empty(),
        "the kept-alive connection is closed: {rest:?}"
    );
}

#[tokio::test]
async fn a_request_longer_than_the_grace_period_is_cut() {
    let server = start(ServerConfig::default().grace_period(Duration::from_millis(300))).await;
    let mut stuck = TcpStream::connect(server.addr).await.unwrap();
    stuck
        .write_all(b"GET /slow/10000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    server.stop().await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    let (response, closed) = read_until_close(&mut stuck, Duration::from_secs(1)).await;
    assert!(
        closed && response.is_empty(),
        "cut without a response: {response:?}"
    );
}

#[tokio::test]
async fn a_two_mebibyte_body_is_413_with_the_default_limit() {
    let server = start(ServerConfig::default()).await;
    let reply = server
        .send(
            hyper::Method::POST,
            "/echo",
            &[],
            Some(vec![b'x'; 2 * 1024 * 1024]),
        )
        .await;
    assert_eq!(
        reply.assert_failure(413),
        "request body is larger than the limit of 1048576 bytes"
    );
    let reply = server
        .send(
            hyper::Method::POST,
            "/echo",
            &[],
            Some(vec![b'x'; 1024 * 1024]),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 1024 * 1024);
}

/// A `Content-Length` over the limit is refused before any of the body is
/// read: the 413 comes at once, not after the body's 10 s idle wait.
#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_the_body_arrives() {
    let server = start(ServerConfig::default()).await;
    let head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2097152\r\n\r\n";
    let started = std::time::Instant::now();
    let response = common::raw(server.addr, head, Duration::from_secs(3)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains("larger than the limit of 1048576 bytes"),
        "{response}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn responses_are_written_whole_with_either_write_strategy() {
    // Bytes that differ along the way, so a lost or repeated chunk shows.
    let body: Vec<u8> = (0..900 * 1024u32).map(|i| (i % 251) as u8).collect();
    for vectored in [false, true] {
        let server = start(ServerConfig::default().vectored_writes(vectored)).await;
        for _ in 0..2 {
            // Twice on one client: the flattened buffer is reused after a
            // large body.
            let reply = server
                .send(hyper::Method::POST, "/echo", &[], Some(body.clone()))
                .await;
            assert_eq!(reply.status, 200, "vectored_writes({vectored})");
            assert!(reply.body == body, "vectored_writes({vectored})");
            assert_eq!(server.get("/ping").await.body, "pong");
        }
    }
}

#[tokio::test]
async fn a_client_that_closes_after_part_of_the_http2_preface_is_dropped_at_once() {
    let server = start(ServerConfig::default().header_read_timeout(Duration::from_secs(10))).await;
    let started = Instant::now();
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client.write_all(b"PRI * HTTP/2.0\r\n\r\nSM").await.unwrap();
    client.shutdown().await.unwrap();
    let (_, closed) = read_until_close(&mut client, Duration::from_secs(8)).await;
    assert!(closed, "the server closes the connection");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "at its EOF, not at the header timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(server.get("/ping").await.body, "pong");
}

/// An HTTP/1.1 request whose first byte came alone, like the start of
/// the HTTP/2 preface: the server reads on to tell the protocol, then
/// replays what it read to hyper, and the request is answered whole.
#[tokio::test]
async fn an_http1_request_that_began_like_the_http2_preface_is_answered() {
    let server = start(ServerConfig::default()).await;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client.write_all(b"P").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    client
        .write_all(
            b"OST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
        )
        .await
        .unwrap();
    let (response, closed) = read_until_close(&mut client, Duration::from_secs(5)).await;
    assert!(closed, "the server closes the connection after its answer");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("hello"), "{response}");
}

#[tokio::test]
async fn http2_requests_have_the_same_header_limits_as_http1() {
    let server = start(ServerConfig::default()).await;
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let send = |request: Request<Full<Bytes>>| h2.request(request);

    let mut many = Request::get(server.url("/ping"));
    for i in 0..300 {
        many = many.header(format!("x-field-{i}"), "1");
    }
    let response = send(many.body(Full::default()).unwrap())
        .await
        .expect("an answer");
    assert_eq!(response.status(), 431);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], 431);

    let big = Request::get(server.url("/ping"))
        .header("x-big", "v".repeat(20 * 1024))
        .body(Full::default())
        .unwrap();
    match send(big).await {
        Ok(response) => assert_eq!(response.status(), 431),
        // h2 may also refuse the stream itself.
        Err(err) => assert!(!err.to_string().is_empty()),
    }

    let fine = Request::get(server.url("/ping"))
        .header("x-one", "1")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(fine).await.expect("an answer").status(), 200);
}

#[tokio::test]
async fn a_body_that_never_comes_is_a_408() {
    let config = ServerConfig::default()
        .body_read_timeout(Duration::from_millis(300), Duration::from_secs(1));
    let server = start(config).await;
    let started = Instant::now();
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        .await
        .unwrap();
    let (reply, _) = read_until_close(&mut client, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains(r#""code":408"#), "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_cut_at_the_total_deadline() {
    let config = ServerConfig::default()
        .body_read_timeout(Duration::from_millis(400), Duration::from_millis(800));
    let server = start(config).await;
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // Each byte comes well within the idle wait; all of them would take 100 s.
    let trickle = async {
        for _ in 0..1000 {
            if client.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), trickle).await;
    let (reply, _) = read_until_close(&mut client, Duration::from_secs(2)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_request_that_makes_no_progress_past_the_request_timeout_is_cut() {
    let config = ServerConfig::default()
        .header_read_timeout(Duration::from_millis(400))
        .request_timeout(Duration::from_millis(600));
    let server = start(config).await;
    let started = Instant::now();
    let mut client = TcpStream::connect(server.addr).await.unwrap();
    client
        .write_all(b"GET /slow/10000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (reply, closed) = read_until_close(&mut client, Duration::from_secs(8)).await;
    assert!(
        closed && reply.is_empty(),
        "cut without an answer: {reply:?}"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert_eq!(server.get("/ping").await.body, "pong");
}

/// Sends `head` then `body` while reading the answer; what came back.
async fn send_while_reading(server: &TestServer, head: String, body: Vec<u8>) -> String {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        // The server answers before it has read all this; writing may fail.
        if write.write_all(head.as_bytes()).await.is_ok() {
            let _ = write.write_all(&body).await;
        }
        write
    });
    // Until the envelope's end: the connection may stay open after it.
    let mut reply = Vec::new();
    let read_answer = async {
        let mut buf = [0u8; 4096];
        loop {
            match read.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                Err(err) => return Err(err),
            }
            if reply.ends_with(b"}}") {
                return Ok(());
            }
        }
    };
    let outcome = tokio::time::timeout(Duration::from_secs(10), read_answer)
        .await
        .expect("the server answers in time");
    drop(read);
    let _ = writer.await;
    format!("{outcome:?} {}", String::from_utf8_lossy(&reply))
}

#[tokio::test]
async fn an_early_413_always_reaches_a_client_still_sending_its_body() {
    let server = start(ServerConfig::default()).await;
    let body = vec![b'x'; 2 * 1024 * 1024];
    let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
    chunked.extend_from_slice(&body);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    for attempt in 0..50 {
        // Declared too large (refused before reading), then the same body
        // chunked (refused once the limit is passed, part of it read).
        let declared = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let streamed =
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned();
        for (head, body) in [(declared, body.clone()), (streamed, chunked.clone())] {
            let reply = send_while_reading(&server, head, body).await;
            assert!(
                reply.starts_with("Ok(")
                    && reply.contains("HTTP/1.1 413")
                    && reply.contains(r#""code":413"#),
                "attempt {attempt}: {reply:.300}"
            );
        }
    }
}

#[tokio::test]
async fn a_real_client_sending_too_much_reads_its_413_every_time() {
    let server = start(ServerConfig::default()).await;
    for attempt in 0..50 {
        let reply = server
            .send(
                hyper::Method::POST,
                "/echo",
                &[],
                Some(vec![b'x'; 2 * 1024 * 1024]),
            )
            .await;
        assert_eq!(reply.status, 413, "attempt {attempt}");
    }
}
