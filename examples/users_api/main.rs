//! The flagship Portico app: a users API.
//!
//! ```text
//! cargo run --example users_api            # serve on PORTICO_ADDR (default 127.0.0.1:8080)
//! cargo run --example users_api -- --routes  # print the route table and exit
//! ```

mod app;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let app = app::app();
    if std::env::args().skip(1).any(|a| a == "--routes") {
        print!("{}", app.routes());
        return ExitCode::SUCCESS;
    }
    let result = async {
        let addr = portico::addr_from_env("PORTICO_ADDR", "127.0.0.1:8080")?;
        let server = app.bind(addr).await?;
        eprintln!("users_api listening on http://{}", server.local_addr());
        server.run().await
    };
    match result.await {
        Ok(()) => {
            eprintln!("users_api stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("users_api: {err}");
            ExitCode::FAILURE
        }
    }
}
