//! Clients that stop in the middle of the HTTP/2 preface cost the server
//! nothing while they wait. A test file of its own: it measures the CPU
//! time of its whole process, which other tests would add to.

mod common;

use std::time::Duration;

use common::TestServer;
use portico::ServerConfig;
use portico::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[route(GET, "/ping")]
async fn ping() -> &'static str {
    "pong"
}

/// CPU time (user + system) this test process has used so far.
#[cfg(target_os = "linux")]
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name, which ends at the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
        .split(' ')
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_in_the_middle_of_the_preface_cost_no_cpu_while_they_wait() {
    let app = App::new()
        .server_config(ServerConfig::default().header_read_timeout(Duration::from_secs(30)))
        .mount(routes![ping]);
    let server = TestServer::start(app).await;
    let mut held = Vec::new();
    for _ in 0..200 {
        let mut client = TcpStream::connect(server.addr).await.unwrap();
        client.write_all(b"PRI * HTTP/2.0\r\n\r\nSM").await.unwrap();
        held.push(client);
    }
    assert_eq!(server.get("/ping").await.body, "pong");
    let before = process_cpu();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = process_cpu() - before;
    // Polling each socket every millisecond (as a peek-and-sleep loop
    // does) costs most of a core here; waiting for readability, nothing.
    assert!(
        spent < Duration::from_millis(300),
        "{spent:?} of CPU in one second with 200 stalled prefaces"
    );
    // The rest of the preface still makes an HTTP/2 connection.
    let mut client = held.pop().unwrap();
    client.write_all(b"\r\n\r\n").await.unwrap();
    client
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .unwrap(); // empty SETTINGS
    let mut frame = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut frame))
        .await
        .expect("the server answers in time")
        .unwrap();
    assert_eq!(frame[3], 4, "the server's first frame is SETTINGS");
}
