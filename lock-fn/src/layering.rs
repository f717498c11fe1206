//! The layer picture of `lib.rs`, checked on the source: every `crate::` path in a layer's code
//! (tests excluded) names its own layer or one below, and no two modules import each other,
//! directly or round a loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom first; a module may use only its own layer and those before it.
const LAYERS: [&str; 9] = [
    "world",
    "model",
    "decide",
    "write",
    "store",
    "callbacks",
    "engine",
    "lambda",
    "sim",
];

/// Every source file under `dir` as (module path like `engine::release`, its code without tests
/// and comments).
fn sources(dir: &Path, prefix: &str, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let module = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}::{name}")
        };
        if path.is_dir() {
            sources(&path, &module, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((module, code_of(&std::fs::read_to_string(&path).unwrap())));
        }
    }
}

/// The code of a file without its `#[cfg(test)]` modules and its comments.
fn code_of(text: &str) -> String {
    let without_tests = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => text,
    };
    without_tests
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules a file's code names (`crate::a::b::Item` names `a::b` when that is a module).
fn uses(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let path: String = code[at + 7..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let parts: Vec<&str> = path.split("::").collect();
        let longest = (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| modules.contains(m));
        found.extend(longest);
    }
    found
}

fn layer_of(module: &str) -> usize {
    let top = module.split("::").next().unwrap();
    LAYERS
        .iter()
        .position(|l| *l == top)
        .unwrap_or_else(|| panic!("{module}: no layer"))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "",
        &mut files,
    );
    files.retain(|(m, _)| !["lib", "main", "layering"].contains(&m.as_str()));
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    files
        .iter()
        .map(|(m, code)| {
            let mut used = uses(code, &modules);
            used.remove(m);
            (m.clone(), used)
        })
        .collect()
}

/// Paths the check cannot read: grouped imports from the crate root, and `super::super::`.
#[test]
fn every_path_is_one_the_check_reads() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "",
        &mut files,
    );
    let unreadable: Vec<String> = files
        .iter()
        .filter(|(m, code)| {
            m != "layering" && (code.contains("crate::{") || code.contains("super::super"))
        })
        .map(|(m, _)| m.clone())
        .collect();
    assert!(
        unreadable.is_empty(),
        "write `use crate::layer::module::Item;` one path at a time in: {unreadable:?}"
    );
}

#[test]
fn dependencies_point_down_the_layers() {
    let upward: Vec<String> = graph()
        .iter()
        .flat_map(|(m, used)| {
            used.iter()
                .filter(|u| layer_of(u) > layer_of(m))
                .map(move |u| format!("{m} uses {u}"))
        })
        .collect();
    assert!(upward.is_empty(), "upward dependencies: {upward:#?}");
}

#[test]
fn no_two_modules_depend_on_each_other() {
    let g = graph();
    // A module's parent declares it (`mod x;`) without using it: only uses count.
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for u in g.get(&m).into_iter().flatten() {
                if u == to {
                    return true;
                }
                if seen.insert(u.clone()) {
                    todo.push(u.clone());
                }
            }
        }
        false
    };
    let cycles: Vec<String> = g
        .iter()
        .flat_map(|(m, used)| used.iter().map(move |u| (m, u)))
        .filter(|(m, u)| reaches(u, m))
        .map(|(m, u)| format!("{m} -> {u} -> ... -> {m}"))
        .collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}
