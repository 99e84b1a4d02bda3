//! A constant-rate HTTP/1.1 load client for `bench/overload.sh`: requests
//! go out on a fixed schedule whatever the server's pace (an open loop, as
//! `wrk2` does), so a server that falls behind is measured by how late its
//! answers come, not by how few requests a closed loop sends it.
//!
//!     rate --port P --path /json --connections C --rate R --seconds S
//!          --timeout-ms T [--header 'name: value']
//!
//! Each connection sends one request at a time, every C/R seconds; a
//! request's latency runs from when it was due (not from when its
//! connection was free to send it), which is what a user arriving at that
//! moment would see. A request not answered within T of being sent is
//! given up: its connection is closed (the server can tell) and a new one
//! opened for the next. Prints one tab-separated line: sent, 2xx, other
//! statuses (503, 429 …), given up, connection errors, answered per
//! second (over the whole run, which outlasts the schedule when the server
//! falls behind), then p50, p99, p99.9 and max of the answered requests in ms.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    port: u16,
    path: String,
    connections: usize,
    rate: f64,
    seconds: f64,
    timeout: Duration,
    headers: String,
}

fn args() -> Args {
    let all: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        all.iter()
            .position(|a| a == name)
            .and_then(|i| all.get(i + 1))
            .cloned()
    };
    let num = |name: &str, default: f64| get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let headers = all
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == "--header")
        .filter_map(|(i, _)| all.get(i + 1))
        .map(|h| format!("{h}\r\n"))
        .collect();
    Args {
        port: num("--port", 8090.0) as u16,
        path: get("--path").unwrap_or_else(|| "/json".into()),
        connections: num("--connections", 64.0) as usize,
        rate: num("--rate", 10_000.0),
        seconds: num("--seconds", 10.0),
        timeout: Duration::from_millis(num("--timeout-ms", 1000.0) as u64),
        headers,
    }
}

#[derive(Default)]
struct Tally {
    sent: u64,
    ok: u64,
    other: u64,
    gave_up: u64,
    conn_errors: u64,
    /// Answered requests' latency from when they were due, in µs.
    latencies: Vec<u32>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.other += other.other;
        self.gave_up += other.gave_up;
        self.conn_errors += other.conn_errors;
        self.latencies.extend(other.latencies);
    }
}

enum Outcome {
    Status(u16),
    Closed,
}

/// Reads one response; returns its status. `buf` keeps what follows it.
async fn response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Outcome> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = &buf[..end];
            let status = std::str::from_utf8(head.get(9..12).unwrap_or_default())
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let length = std::str::from_utf8(head)
                .unwrap_or_default()
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let whole = end + 4 + length;
            while buf.len() < whole {
                if read_more(stream, buf).await? == 0 {
                    return Ok(Outcome::Closed);
                }
            }
            buf.drain(..whole);
            return Ok(Outcome::Status(status));
        }
        if read_more(stream, buf).await? == 0 {
            return Ok(Outcome::Closed);
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

async fn connection(index: usize, args: std::rc::Rc<Args>, start: Instant) -> Tally {
    let request = format!(
        "GET {} HTTP/1.1\r\nhost: 127.0.0.1\r\n{}\r\n",
        args.path, args.headers
    );
    let interval = Duration::from_secs_f64(args.connections as f64 / args.rate);
    // Spread the connections' schedules over one interval.
    let mut due = start + interval.mul_f64(index as f64 / args.connections as f64);
    let end = start + Duration::from_secs_f64(args.seconds);
    let mut tally = Tally::default();
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(4096);
    while due < end {
        tokio::time::sleep_until(due.into()).await;
        if stream.is_none() {
            buf.clear();
            match tokio::time::timeout(args.timeout, TcpStream::connect(("127.0.0.1", args.port)))
                .await
            {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    stream = Some(s);
                }
                _ => {
                    tally.conn_errors += 1;
                    due += interval;
                    continue;
                }
            }
        }
        let s = stream.as_mut().expect("connected above");
        tally.sent += 1;
        let exchange = async {
            s.write_all(request.as_bytes()).await?;
            response(s, &mut buf).await
        };
        match tokio::time::timeout(args.timeout, exchange).await {
            Ok(Ok(Outcome::Status(status))) => {
                let waited = due.elapsed().as_micros().min(u32::MAX as u128) as u32;
                tally.latencies.push(waited);
                if (200..300).contains(&status) {
                    tally.ok += 1;
                } else {
                    tally.other += 1;
                }
            }
            Ok(Ok(Outcome::Closed)) | Ok(Err(_)) => {
                tally.conn_errors += 1;
                stream = None;
            }
            Err(_) => {
                tally.gave_up += 1;
                stream = None;
            }
        }
        due += interval;
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[at]) / 1000.0
}

fn main() {
    let args = std::rc::Rc::new(args());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let local = tokio::task::LocalSet::new();
    let start = Instant::now() + Duration::from_millis(50);
    let tally = local.block_on(&runtime, async {
        let tasks: Vec<_> = (0..args.connections)
            .map(|i| tokio::task::spawn_local(connection(i, args.clone(), start)))
            .collect();
        let mut tally = Tally::default();
        for task in tasks {
            tally.add(task.await.expect("a connection task"));
        }
        tally
    });
    // Answered per second over the time it took, which is longer than
    // the schedule when the server fell behind.
    let wall = start.elapsed().as_secs_f64();
    let mut latencies = tally.latencies;
    latencies.sort_unstable();
    println!(
        "{}\t{}\t{}\t{}\t{}\t{:.0}\t{:.2}\t{:.2}\t{:.2}\t{:.2}",
        tally.sent,
        tally.ok,
        tally.other,
        tally.gave_up,
        tally.conn_errors,
        (tally.ok + tally.other) as f64 / wall,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        percentile(&latencies, 1.0),
    );
}
