//! The seed exercises (`../shared/seed/exercises.txt`) run through
//! Portico's public API: `cargo run --example seed -- N` prints exercise
//! N's expected lines.

mod ex01_route_registry;
mod ex02_request_validation;
mod ex03_dependency_injection;
mod ex04_rate_limiter;
mod ex05_jwt;
mod ex06_middleware;
mod ex07_connection_pool;
mod ex08_response_envelope;
mod ex09_task_queue;
mod ex10_idempotency_cache;
mod ex11_health_checks;

use std::process::ExitCode;

/// What an exercise returns.
type Outcome = Result<(), Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(n) = std::env::args().nth(1).and_then(|a| a.parse::<u32>().ok()) else {
        eprintln!("usage: cargo run --example seed -- N   (N = 1..=11)");
        return ExitCode::from(2);
    };
    let result = match n {
        1 => ex01_route_registry::run(),
        2 => ex02_request_validation::run(),
        3 => ex03_dependency_injection::run().await,
        4 => ex04_rate_limiter::run(),
        5 => ex05_jwt::run(),
        6 => ex06_middleware::run().await,
        7 => ex07_connection_pool::run().await,
        8 => ex08_response_envelope::run(),
        9 => ex09_task_queue::run().await,
        10 => ex10_idempotency_cache::run().await,
        11 => ex11_health_checks::run().await,
        _ => {
            eprintln!("there is no seed exercise {n}; they are numbered 1 to 11");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("seed exercise {n} failed: {err}");
            ExitCode::FAILURE
        }
    }
}
