//! `tests/PROMISES.md` names, for each README promise, the test that fails if it breaks. A name
//! that no longer exists (a test renamed or removed) would leave its promise quietly uncovered:
//! every `file::test` and `src/path.rs::test` named there must be a function in that file.

use std::path::Path;

/// The test names in a row: backticked `file::name` (under `tests/api/`) or `src/…::name`.
fn named_tests(row: &str) -> Vec<(String, String)> {
    row.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| {
            let (file, name) = quoted.rsplit_once("::")?;
            let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !plain(name) || name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
                return None; // `cli::*`, `…::`, a type such as `console::Section`
            }
            let path = if file.starts_with("src/") {
                // `src/a.rs::tests::name`: the file is up to `.rs`.
                file.split_once(".rs").map_or(file.to_owned(), |(stem, _)| format!("{stem}.rs"))
            } else if plain(file) {
                format!("tests/api/{file}.rs")
            } else {
                return None;
            };
            Some((path, name.to_owned()))
        })
        .collect()
}

#[test]
fn every_test_promises_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let promises = std::fs::read_to_string(root.join("tests/PROMISES.md")).expect("tests/PROMISES.md");
    let mut checked = 0;
    let mut missing = Vec::new();
    for row in promises.lines().filter(|l| l.starts_with("| ")) {
        for (file, name) in named_tests(row) {
            let Ok(source) = std::fs::read_to_string(root.join(&file)) else {
                missing.push(format!("{file} (no such file) for {name}"));
                continue;
            };
            let found = if name == "tests" {
                source.contains("mod tests")
            } else {
                source.contains(&format!("fn {name}(")) || source.contains(&format!("fn {name}<"))
            };
            if !found {
                missing.push(format!("{file}::{name}"));
            }
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} names found: is the file's format still `file::test`?");
    assert!(missing.is_empty(), "named in tests/PROMISES.md but not found: {missing:#?}");
}
