//! The flagship binary stops cleanly, exit code 0, on SIGTERM and SIGINT,
//! and prints its route table with `--routes`.

#![cfg(unix)]

#[path = "support/examples.rs"]
mod examples;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    examples::example(name)
}

fn users_api() -> PathBuf {
    example("users_api")
}

/// A fresh, empty directory for one test's database.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portico-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `users_api token` for the database at `url`, without
/// `PORTICO_JWT_SECRET`: it signs with the secret kept beside that database.
fn token_for(url: &str, sub: &str, role: &str) -> String {
    let output = Command::new(users_api())
        .args(["token", "--sub", sub, "--role", role])
        .env("PORTICO_DATABASE_URL", url)
        .env_remove("PORTICO_JWT_SECRET")
        .output()
        .expect("run users_api token");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Starts an example app on a free port and returns it with its address.
fn start() -> (Child, String) {
    start_example("users_api")
}

fn start_example(name: &str) -> (Child, String) {
    start_with(name, "sqlite::memory:")
}

fn start_with(name: &str, database_url: &str) -> (Child, String) {
    let mut child = Command::new(example(name))
        .env("PORTICO_ADDR", "127.0.0.1:0")
        .env("PORTICO_DATABASE_URL", database_url)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // Warnings may come first; the address is on the "listening" line.
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            panic!("{name} exited before listening");
        }
    }
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .filter(|_| line.contains("listening"))
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
    });
    (child, addr)
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

fn send(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal_and_wait(child: &mut Child, signal: &str) -> std::process::ExitStatus {
    send(child, signal);
    wait_exit(child)
}

#[test]
fn sigterm_stops_the_server_with_exit_code_0() {
    let (mut child, addr) = start();
    assert!(get(&addr, "/healthz").starts_with("HTTP/1.1 200"));
    let status = signal_and_wait(&mut child, "-TERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        TcpStream::connect(&addr).is_err(),
        "nothing listens any more"
    );
}

#[test]
fn sigint_stops_the_server_with_exit_code_0() {
    let (mut child, addr) = start();
    assert!(get(&addr, "/users").starts_with("HTTP/1.1 200"));
    let status = signal_and_wait(&mut child, "-INT");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn routes_flag_prints_the_table_and_exits_0() {
    let output = Command::new(users_api())
        .arg("--routes")
        .output()
        .expect("run users_api --routes");
    assert_eq!(output.status.code(), Some(0));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.starts_with(
        "GET /users -> list_users\nPOST /users -> create_user\nGET /users/<id> -> get_user\nDELETE /users/<id> -> delete_user\n"
    ), "{table}");
}

#[test]
fn a_bad_address_is_refused_with_a_message() {
    let output = Command::new(users_api())
        .env("PORTICO_ADDR", "not-an-address")
        .env("PORTICO_DATABASE_URL", "sqlite::memory:")
        .output()
        .expect("run users_api");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("PORTICO_ADDR") && stderr.contains("not-an-address"),
        "{stderr}"
    );
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_refuses_new_connections() {
    let (mut child, addr) = start_example("slow_server");
    let in_flight = {
        let addr = addr.clone();
        std::thread::spawn(move || get(&addr, "/slow/3000"))
    };
    // Time for the request to reach the server on a busy machine.
    std::thread::sleep(Duration::from_millis(1000));
    let started = Instant::now();
    send(&child, "-TERM");
    // The listener closes at once, well before the in-flight request is done.
    let deadline = Instant::now() + Duration::from_millis(1500);
    while TcpStream::connect(&addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    let response = in_flight.join().unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") && response.ends_with("slept 3000 ms"),
        "{response}"
    );
    assert_eq!(wait_exit(&mut child).code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn sigterm_with_an_idle_keep_alive_client_exits_within_a_second() {
    let (mut child, addr) = start();
    let mut idle = TcpStream::connect(&addr).unwrap();
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    let status = signal_and_wait(&mut child, "-TERM");
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_token_command_prints_a_token_the_app_accepts() {
    let output = Command::new(users_api())
        .args(["token", "--sub", "42", "--role", "admin"])
        .env(
            "PORTICO_JWT_SECRET",
            "a production-like secret of 32+ bytes",
        )
        .output()
        .expect("run users_api token");
    assert_eq!(output.status.code(), Some(0));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let jwt = portico::auth::Jwt::new(b"a production-like secret of 32+ bytes").unwrap();
    let claims = jwt.verify(&token).unwrap();
    assert_eq!(
        (claims["sub"].as_str(), claims["role"].as_str()),
        (Some("42"), Some("admin"))
    );
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
}

#[test]
fn a_short_secret_makes_the_app_refuse_to_start() {
    let output = Command::new(users_api())
        .env("PORTICO_JWT_SECRET", "too-short")
        .env("PORTICO_ADDR", "127.0.0.1:0")
        .output()
        .expect("run users_api");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("PORTICO_JWT_SECRET") && stderr.contains("at least 32"),
        "{stderr}"
    );
}

#[test]
fn users_survive_a_restart() {
    let dir = fresh_dir("restart");
    let url = format!("sqlite://{}", dir.join("users.db").display());
    let token = token_for(&url, "1", "user");

    let (mut child, addr) = start_with("users_api", &url);
    let body = r#"{"name":"Ada","email":"ada@example.com","age":36}"#;
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut created = String::new();
    stream.read_to_string(&mut created).unwrap();
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    assert_eq!(signal_and_wait(&mut child, "-TERM").code(), Some(0));

    let (mut child, addr) = start_with("users_api", &url);
    let found = get(&addr, "/users/1");
    assert!(
        found.starts_with("HTTP/1.1 200") && found.contains(r#""name":"Ada""#),
        "{found}"
    );
    assert_eq!(signal_and_wait(&mut child, "-TERM").code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_secret_the_app_makes_one_beside_the_database_and_the_token_command_uses_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = fresh_dir("secret");
    let url = format!("sqlite://{}", dir.join("users.db").display());
    let token = |sub: &str| token_for(&url, sub, "admin");
    let first = token("1");
    let file = dir.join("users.db.secret");
    let secret = std::fs::read(&file).expect("the secret file");
    assert_eq!(secret.len(), 64, "32 random bytes, hex");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "readable by its owner only");
    // The same secret the next time: a token from one run verifies.
    let jwt = portico::auth::Jwt::new(&secret).unwrap();
    assert!(jwt.verify(&first).is_ok() && jwt.verify(&token("2")).is_ok());
    // A token signed with the old public development secret is refused.
    let old = portico::auth::Jwt::new(b"portico-development-secret-do-not-use-in-production")
        .unwrap()
        .create(&serde_json::json!({"sub": "1", "exp": 4_000_000_000u64}))
        .unwrap();
    assert!(jwt.verify(&old).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts the flagship with `PORTICO_ENV=production` and `env`, without
/// the variables `missing` names: it must exit with status 1; its stderr.
fn refused_in_production(env: &[(&str, &str)], missing: &[&str]) -> String {
    let mut command = Command::new(users_api());
    command
        .env("PORTICO_ENV", "production")
        .env("PORTICO_ADDR", "127.0.0.1:0")
        .env("PORTICO_DATABASE_URL", "sqlite::memory:")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for name in missing {
        command.env_remove(name);
    }
    let mut child = command.spawn().expect("run users_api");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("users_api started in production without {missing:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

#[test]
fn in_production_the_app_refuses_to_start_without_a_secret() {
    let stderr = refused_in_production(
        &[("PORTICO_METRICS_TOKEN", "a scrape token of 16+ chars")],
        &["PORTICO_JWT_SECRET"],
    );
    assert!(
        stderr.contains("PORTICO_JWT_SECRET") && stderr.contains("production"),
        "{stderr}"
    );
}

#[test]
fn in_production_the_app_refuses_to_start_with_open_metrics() {
    let stderr = refused_in_production(
        &[(
            "PORTICO_JWT_SECRET",
            "a production-like secret of 32+ bytes",
        )],
        &["PORTICO_METRICS_TOKEN"],
    );
    assert!(
        stderr.contains("PORTICO_METRICS_TOKEN") && stderr.contains("production"),
        "{stderr}"
    );
}
