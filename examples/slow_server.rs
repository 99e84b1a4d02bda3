//! A tiny app with a slow route, to watch graceful shutdown at work:
//!
//! ```text
//! PORTICO_ADDR=127.0.0.1:8081 cargo run --example slow_server
//! curl localhost:8081/slow/3000 &   # then Ctrl-C the server: the request still completes
//! ```
//!
//! The shutdown tests run it as a real process and send it signals.

use std::process::ExitCode;
use std::time::Duration;

use portico::prelude::*;

#[route(GET, "/slow/<ms>")]
async fn slow(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms} ms")
}

#[route(GET, "/ping")]
async fn ping() -> &'static str {
    "pong"
}

#[tokio::main]
async fn main() -> ExitCode {
    let run = async {
        let addr = std::env::var("PORTICO_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into());
        let server = App::new()
            .mount(routes![slow, ping])
            .bind(addr.as_str())
            .await?;
        eprintln!("slow_server listening on http://{}", server.local_addr());
        server.run().await
    };
    match run.await {
        Ok(()) => {
            eprintln!("slow_server stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("slow_server: {err}");
            ExitCode::FAILURE
        }
    }
}
