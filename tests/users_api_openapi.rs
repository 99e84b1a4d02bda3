//! The flagship's OpenAPI document: committed beside the code (so that an
//! API change shows in review), checked by tools no one here wrote —
//! `openapi-spec-validator` on the document and `schemathesis` against the
//! live app — from PyPI, installed by `.ci/run` (see the README).

mod common;
#[path = "support/python_tools.rs"]
mod python_tools;
#[path = "../examples/users_api/store.rs"]
mod store;
#[path = "support/examples.rs"]
mod support;
#[path = "../examples/users_api/app.rs"]
mod users_api;
use users_api as app;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::TestServer;
use python_tools::{run, tool};
use users_api::Settings;

const COMMITTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/users_api/openapi.json"
);
const SCHEMATHESIS_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/users_api/schemathesis.toml"
);

fn settings() -> Settings {
    Settings {
        database_url: "sqlite::memory:".into(),
        jwt_secret: b"the users_api tests' own secret, 32+ bytes".to_vec(),
        // The tools send hundreds of requests: none should meet the limit.
        rate_capacity: 1_000_000,
        rate_refill_per_sec: 1_000_000.0,
        ..Settings::default()
    }
}

/// The document as `cargo run --example users_api -- --openapi` prints it.
fn printed() -> String {
    let out = std::process::Command::new(support::example("users_api"))
        .arg("--openapi")
        .env(
            "PORTICO_JWT_SECRET",
            "a secret only for printing the document",
        )
        .output()
        .expect("run users_api --openapi");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[tokio::test]
async fn the_committed_document_is_the_one_the_code_makes() {
    let printed = printed();
    let served = users_api::app(&settings())
        .await
        .unwrap()
        .openapi_document();
    let served = serde_json::to_string_pretty(&served).unwrap() + "\n";
    assert_eq!(
        printed, served,
        "--openapi prints what /openapi.json serves"
    );
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    if committed != printed {
        let fresh = Path::new(env!("CARGO_TARGET_TMPDIR")).join("users_api.openapi.json");
        std::fs::write(&fresh, &printed).unwrap();
        panic!(
            "the API changed: examples/users_api/openapi.json is not what the code makes \
             (the code's is {}). If the change is meant, commit it:\n\
             cargo run --example users_api -- --openapi > examples/users_api/openapi.json",
            fresh.display()
        );
    }
}

#[tokio::test]
async fn openapi_spec_validator_accepts_the_document() {
    let document = users_api::app(&settings())
        .await
        .unwrap()
        .openapi_document();
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("users_api.validate.json");
    std::fs::write(&file, serde_json::to_vec(&document).unwrap()).unwrap();
    let mut validator = tokio::process::Command::new(tool("openapi-spec-validator"));
    validator.arg(&file);
    let out = run(validator, Duration::from_secs(60)).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains(": OK"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every check schemathesis has, on every operation, with a token for the
/// protected ones: no 5xx, no status, header, content type or body the
/// document does not list, schema-invalid requests refused and valid ones
/// taken (but for the answers `schemathesis.toml` explains).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_against_the_live_app() {
    let settings = settings();
    let server = TestServer::start(users_api::app(&settings).await.unwrap()).await;
    let token = settings.token("schemathesis", "admin").unwrap();
    let mut schemathesis = tokio::process::Command::new(tool("schemathesis"));
    schemathesis
        .args(["--config-file", SCHEMATHESIS_CONFIG, "run"])
        .arg(server.url("/openapi.json"))
        .args(["--checks", "all", "--max-examples", "50", "--seed", "1"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .env("NO_COLOR", "1")
        // Its caches go under target/, not into the work tree.
        .current_dir(env!("CARGO_TARGET_TMPDIR"));
    let out = run(schemathesis, Duration::from_secs(300)).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("No issues found"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It reached the routes behind the token and the validation: a run
    // that only met 401s would pass the same way.
    assert!(!said.contains("Authentication failed"), "{said}");
}

/// Debian's Chromium, headless: `/usr/bin/chromium` (`.ci/run` installs it).
fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("Chromium is not installed: `apt-get install chromium` (what .ci/run does)")
        })
}

/// `/docs` in a real browser, with no network beyond loopback (the
/// flags keep Chromium from calling home): Swagger UI loads from the app
/// alone and lists every operation of the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_lists_every_operation_in_a_headless_browser() {
    let server = TestServer::start(users_api::app(&settings()).await.unwrap()).await;
    let profile = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chromium-profile");
    let mut browser = tokio::process::Command::new(chromium());
    browser
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(server.url("/docs"));
    let out = run(browser, Duration::from_secs(60)).await;
    let dom = String::from_utf8_lossy(&out.stdout);
    let mut listed: Vec<(String, String)> = Vec::new();
    for block in dom.split("class=\"opblock-summary-method\">").skip(1) {
        let method = block.split('<').next().unwrap_or("").to_owned();
        let path = block
            .split("data-path=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("")
            .to_owned();
        listed.push((method, path));
    }
    listed.sort();
    let expected: Vec<(String, String)> = [
        ("DELETE", "/users/{id}"),
        ("GET", "/healthz"),
        ("GET", "/ready"),
        ("GET", "/tasks/{id}"),
        ("GET", "/users"),
        ("GET", "/users/{id}"),
        ("POST", "/users"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(listed, expected, "{}", String::from_utf8_lossy(&out.stderr));
}
