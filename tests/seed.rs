//! Runs each implemented seed exercise (`cargo run --example seed -- N`)
//! and compares its output with the expected text in
//! `tests/seed/expected.txt`, copied from `../shared/seed/exercises.txt`.
//!
//! The seed prints Python reprs; Portico prints JSON. A line matches when
//! its text before the first `{` is the same and the literal after it is
//! the same value; route paths may use Portico's `<id>` for `{id}`.

#[path = "support/examples.rs"]
mod examples;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const EXPECTED: &str = include_str!("seed/expected.txt");

fn expected(n: u32) -> Vec<String> {
    let prefix = format!("{n}\t");
    let line = EXPECTED
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no expected output for exercise {n}"));
    line.split("\\n")
        .map(|l| l.replace("{id}", "<id>"))
        .collect()
}

/// The seed example, built first.
fn seed_binary() -> PathBuf {
    examples::example("seed")
}

fn run(n: u32) -> Vec<String> {
    let output = Command::new(seed_binary())
        .arg(n.to_string())
        .output()
        .expect("run the seed example");
    assert!(
        output.status.success(),
        "seed {n} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A Python literal as printed by the seed, as JSON.
fn python_to_json(literal: &str) -> Value {
    let json = literal
        .replace('\'', "\"")
        .replace("True", "true")
        .replace("False", "false")
        .replace("None", "null");
    serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("expected literal {literal:?} is not JSON-like: {e}"))
}

/// The seed page hides e-mail addresses as `[email protected]` (with a
/// no-break space); there any address matches.
const HIDDEN_EMAIL: &str = "[email\u{a0}protected]";

fn same_text(got: &str, want: &str) -> bool {
    match want.split_once(HIDDEN_EMAIL) {
        Some((before, after)) => {
            got.len() >= before.len() + after.len()
                && got.starts_with(before)
                && got.ends_with(after)
                && {
                    let email = &got[before.len()..got.len() - after.len()];
                    email.contains('@') && !email.contains(char::is_whitespace)
                }
        }
        None => got == want,
    }
}

fn same(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::String(g), Value::String(w)) => same_text(g, w),
        (Value::Object(g), Value::Object(w)) => {
            g.len() == w.len()
                && w.iter()
                    .all(|(k, wv)| g.get(k).is_some_and(|gv| same(gv, wv)))
        }
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(g, w)| same(g, w))
        }
        _ => got == want,
    }
}

/// Timing figures may differ: `0.00s`, `(2ms)`.
fn without_timings(line: &str) -> String {
    let seconds = regex::Regex::new(r"\d+\.\d+s\b").expect("valid");
    let millis = regex::Regex::new(r"\(\d+ms\)").expect("valid");
    millis
        .replace_all(&seconds.replace_all(line, "<secs>"), "(<ms>)")
        .into_owned()
}

fn split_literal(line: &str) -> (&str, Option<&str>) {
    match line.find('{') {
        Some(i) if line[i..].ends_with('}') => (&line[..i], Some(&line[i..])),
        _ => (line, None),
    }
}

fn assert_matches(n: u32) {
    let expected = expected(n);
    let actual = run(n);
    assert_eq!(
        actual.len(),
        expected.len(),
        "exercise {n}: line count\nexpected: {expected:#?}\nactual: {actual:#?}"
    );
    for (want, got) in expected.iter().zip(&actual) {
        let (want, got) = (without_timings(want), without_timings(got));
        let (want_text, want_literal) = split_literal(&want);
        let (got_text, got_literal) = split_literal(&got);
        assert!(
            same_text(got_text.trim_end(), want_text.trim_end()),
            "exercise {n}: expected {want_text:?}, got {got_text:?}"
        );
        match (want_literal, got_literal) {
            (Some(want), Some(got)) => {
                let got: Value = serde_json::from_str(got)
                    .unwrap_or_else(|e| panic!("exercise {n}: {got:?} is not JSON: {e}"));
                let want = python_to_json(want);
                assert!(
                    same(&got, &want),
                    "exercise {n}: expected {want}, got {got}"
                );
            }
            (None, None) => {}
            _ => panic!("exercise {n}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn exercise_1_route_registry() {
    assert_matches(1);
}

#[test]
fn exercise_2_request_validation() {
    assert_matches(2);
}

#[test]
fn exercise_3_dependency_injection() {
    assert_matches(3);
}

#[test]
fn exercise_4_rate_limiter() {
    assert_matches(4);
}

#[test]
fn exercise_5_jwt() {
    assert_matches(5);
}

#[test]
fn exercise_6_middleware_order() {
    assert_matches(6);
}

#[test]
fn exercise_7_connection_pool() {
    assert_matches(7);
}

#[test]
fn exercise_8_response_envelope() {
    assert_matches(8);
}

#[test]
fn exercise_9_task_queue() {
    assert_matches(9);
}

#[test]
fn exercise_10_idempotency_cache() {
    assert_matches(10);
}

#[test]
fn exercise_11_health_checks() {
    assert_matches(11);
}
