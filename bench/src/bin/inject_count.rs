//! A fixed number of requests to one route, for instruction counts under
//! callgrind (repeatable where wall-clock timings on a shared machine are
//! not): `valgrind --tool=callgrind target/release/inject_count injected 20000`,
//! then the same with `by_hand`; difference two N to cancel the start-up.

use portico::prelude::StatusCode;
use portico_bench::three_deps::{request, service};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = match args.next().as_deref() {
        Some("injected") => "/injected",
        Some("by_hand") => "/by_hand",
        _ => {
            eprintln!("usage: inject_count injected|by_hand N");
            std::process::exit(2);
        }
    };
    let n: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let service = service().await;
        for _ in 0..n {
            let response = service.call(request(path)).await;
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
        }
    });
}
