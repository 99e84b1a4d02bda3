//! Compile-fail tests: every misuse of a macro is a clear error at the
//! offending token. Snapshots are for the toolchain pinned in the README
//! (rustc's wording changes between releases); regenerate them with
//! `TRYBUILD=overwrite cargo test --test ui` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
