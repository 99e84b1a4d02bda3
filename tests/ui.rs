//! Compile-fail tests: every misuse of a macro is a clear error at the
//! offending token. Snapshots are for the toolchain pinned in the README
//! (rustc's wording changes between releases); regenerate them with
//! `TRYBUILD=overwrite cargo test --test ui` and review the diff.

use std::fs;

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

/// One mistake, one error: a case holds one misuse (its name says which)
/// and its snapshot one error; only the `*several_mistakes*` cases show
/// that all the mistakes of one compile are reported together.
#[test]
fn each_single_mistake_case_has_exactly_one_error() {
    let mut cases = 0;
    let mut wrong = Vec::new();
    for entry in fs::read_dir("tests/ui").expect("tests/ui") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "stderr") {
            continue;
        }
        cases += 1;
        let text = fs::read_to_string(&path).expect("snapshot");
        let errors = text
            .lines()
            .filter(|l| l.starts_with("error:") || l.starts_with("error["))
            .count();
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        let several = name.contains("several_mistakes");
        if (several && errors < 2) || (!several && errors != 1) {
            wrong.push(format!("{name}: {errors} errors"));
        }
        let source = path.with_extension("rs");
        assert!(source.exists(), "{} has no case", path.display());
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(cases >= 60, "only {cases} compile-fail cases");
}
