//! The engine's shape, held by a test so it stays as README's layout describes it: its modules
//! form no import cycle (each can be read knowing only those below it), and no function is
//! longer than a screen or two.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest function allowed in the engine, in lines from `fn` to its closing brace.
const MAX_FUNCTION_LINES: usize = 80;

/// Cycles allowed (none): a new one fails the test, naming it.
const KNOWN_CYCLES: &[&[&str]] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Each top-level module's source (a module's sub-files count as the module), tests left out.
fn modules() -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let (name, text) = if path.is_dir() {
            let mut text = String::new();
            for file in std::fs::read_dir(&path).unwrap() {
                let file = file.unwrap().path();
                // `mod tests;` files are tests, free to use any module.
                if file.file_stem().is_some_and(|s| s != "tests") {
                    text.push_str(&without_tests(&std::fs::read_to_string(file).unwrap()));
                }
            }
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                text,
            )
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (
                name,
                without_tests(&std::fs::read_to_string(&path).unwrap()),
            )
        } else {
            continue;
        };
        if name != "lib" {
            modules
                .entry(name)
                .or_insert_with(String::new)
                .push_str(&text);
        }
    }
    modules
}

fn without_tests(text: &str) -> String {
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// The engine modules `text` names through `crate::`.
fn uses(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        // `crate::{a, b::c}` or `crate::a`.
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').collect()
        } else {
            vec![rest]
        };
        for name in names {
            let name: String = name
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&name) {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn the_engine_modules_form_no_import_cycle() {
    let modules = modules();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let graph: BTreeMap<&String, BTreeSet<String>> = modules
        .iter()
        .map(|(name, text)| {
            let mut deps = uses(text, &names);
            deps.remove(name);
            (name, deps)
        })
        .collect();
    // A module is in a cycle when it can reach itself.
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut path = vec![(*start).clone()];
        if let Some(cycle) = reach(&graph, start, start, &mut seen, &mut path) {
            let members: BTreeSet<&str> = cycle.iter().map(String::as_str).collect();
            let known = KNOWN_CYCLES
                .iter()
                .any(|k| members == k.iter().copied().collect());
            if !known {
                cycles.push(cycle.join(" -> "));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "engine modules import each other in a cycle (move the shared piece below both):\n  {}",
        cycles.join("\n  ")
    );
}

fn reach(
    graph: &BTreeMap<&String, BTreeSet<String>>,
    from: &str,
    target: &str,
    seen: &mut BTreeSet<String>,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    for next in graph.get(&from.to_string()).into_iter().flatten() {
        path.push(next.clone());
        if next == target {
            return Some(path.clone());
        }
        if seen.insert(next.clone()) {
            if let Some(cycle) = reach(graph, next, target, seen, path) {
                return Some(cycle);
            }
        }
        path.pop();
    }
    None
}

#[test]
fn no_engine_function_is_longer_than_a_screen_or_two() {
    let mut long = Vec::new();
    let mut files = vec![];
    let mut dirs = vec![src()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in files {
        let text = without_tests(&std::fs::read_to_string(&file).unwrap());
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            let code = line.trim_start();
            let indent = line.len() - code.len();
            let starts_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
                "pub(crate) async fn ",
            ]
            .iter()
            .any(|p| code.starts_with(p));
            // A declaration, or a function whose body opens and closes on its own line.
            if !starts_fn || code.ends_with(';') || code.ends_with('}') {
                continue;
            }
            let close = format!("{}}}", " ".repeat(indent));
            let Some(length) = lines[at..].iter().position(|l| l.trim_end() == close) else {
                continue;
            };
            if length + 1 > MAX_FUNCTION_LINES {
                let name: String = code
                    .split("fn ")
                    .nth(1)
                    .unwrap_or_default()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                long.push(format!(
                    "{}:{} {name}: {} lines",
                    file.strip_prefix(src()).unwrap().display(),
                    at + 1,
                    length + 1
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "engine functions over {MAX_FUNCTION_LINES} lines (split them into named steps):\n  {}",
        long.join("\n  ")
    );
}
