//! The runtime's modules depend one way: the order listed in `src/lib.rs`
//! (between the `layers:` markers) is the rule, and every `crate::` path
//! in a module must point at a module on an earlier line, or its own.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each module's line in the order, from lib.rs's docs.
fn layers(lib: &str) -> BTreeMap<String, usize> {
    let begin = lib.find("layers:begin").expect("lib.rs lists the layers");
    let end = lib.find("layers:end").expect("lib.rs ends the layer list");
    let mut order = BTreeMap::new();
    let lines = lib[begin..end]
        .lines()
        .map(|line| line.trim_start_matches("//!").trim())
        .filter(|line| !line.is_empty() && !line.starts_with("```") && !line.contains("layers:"));
    for (rank, line) in lines.enumerate() {
        for module in line.split(',') {
            order.insert(module.trim().to_owned(), rank);
        }
    }
    order
}

/// The modules each `crate::` path in `source` names.
fn imports(source: &str) -> BTreeSet<String> {
    // Unit tests may reach anywhere; comments are not code.
    let code = source
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or(source);
    let code: String = code
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let preceded_by_ident = rest[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[i + "crate::".len()..];
        if preceded_by_ident {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                push_head(&mut found, item.trim());
            }
        } else {
            push_head(&mut found, rest);
        }
    }
    found
}

fn push_head(found: &mut BTreeSet<String>, path: &str) {
    let head: String = path
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if !head.is_empty() && head.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
        found.insert(head);
    }
}

/// Every arrow that breaks the order: (from, to).
fn violations(
    order: &BTreeMap<String, usize>,
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, tos) in edges {
        let Some(&rank) = order.get(from) else {
            wrong.push(format!("module `{from}` is not in lib.rs's layer list"));
            continue;
        };
        for to in tos.iter().filter(|to| *to != from) {
            match order.get(to) {
                Some(&to_rank) if to_rank < rank => {}
                Some(_) => wrong.push(format!(
                    "`{from}` uses `crate::{to}`, which is not on an earlier line of the order"
                )),
                // Crate-root items (`crate::Error`) are not modules.
                None => {}
            }
        }
    }
    wrong
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn runtime_modules_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let order = layers(&fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative.components().next().expect("a component");
        let module = first.as_os_str().to_string_lossy();
        let module = module.trim_end_matches(".rs").to_owned();
        // The crate root and the macro support module may use everything.
        if module == "lib" || module == "private" {
            continue;
        }
        let text = fs::read_to_string(&file).expect("readable source");
        edges.entry(module).or_default().extend(imports(&text));
    }
    assert!(edges.len() >= 15, "found the modules: {edges:?}");
    let wrong = violations(&order, &edges);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_arrow_up_the_order_is_caught() {
    let order = layers(
        "//! layers:begin\n//! ```text\n//! body\n//! router, inject\n//! app\n//! ```\n//! layers:end",
    );
    let edges = |from: &str, src: &str| BTreeMap::from([(from.to_owned(), imports(src))]);
    assert!(violations(&order, &edges("app", "use crate::{body, router::Router};")).is_empty());
    assert!(
        violations(&order, &edges("router", "use crate::inject::Dep;"))[0]
            .contains("`router` uses `crate::inject`")
    );
    assert_eq!(
        violations(&order, &edges("body", "fn f() -> crate::app::App {}")).len(),
        1
    );
    assert_eq!(
        violations(&order, &edges("queue", "")).len(),
        1,
        "an unlisted module is refused"
    );
    assert!(
        violations(
            &order,
            &edges("body", "// crate::app in a comment\nmy_crate::app::x()")
        )
        .is_empty()
    );
}
