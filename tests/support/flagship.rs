//! The flagship as a real process: started with its settings in the
//! environment, on a free loopback port, and a token for it.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use super::examples;

/// Starts `users_api` with `env` and waits until it listens.
pub(crate) fn start(env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut child = Command::new(examples::example("users_api"))
        .env("PORTICO_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start users_api");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on http://") {
        line.clear();
        assert_ne!(
            stderr.read_line(&mut line).unwrap(),
            0,
            "users_api exited before listening"
        );
    }
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
    });
    (child, addr)
}

/// A bearer token for subject `sub`, signed with `secret`.
pub(crate) fn token(secret: &str, sub: &str) -> String {
    let output = Command::new(examples::example("users_api"))
        .args(["token", "--sub", sub, "--role", "user"])
        .env("PORTICO_JWT_SECRET", secret)
        .output()
        .expect("users_api token");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// `POST /users` for `name`, as raw HTTP/1.1, with a key when given.
pub(crate) fn post(token: &str, name: &str, key: Option<&str>) -> Vec<u8> {
    let body = format!(r#"{{"name": "{name}", "email": "{name}@example.com", "age": 40}}"#);
    let key = key.map_or(String::new(), |k| format!("Idempotency-Key: \"{k}\"\r\n"));
    format!(
        "POST /users HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\n{key}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
