//! The module graph, read from the source: dependencies point one way (DESIGN.md §3). A plumbing
//! module never names a domain, `twilio/` depends on no application module, and no module under
//! `src/` reaches, directly or through others, a module that reaches it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use switchboard::clock::{Clock, SystemClock};
use switchboard::tenants::NumberDirectory;

/// The domains' modules, from the domains the binary runs (`startup::domains`): only `startup`
/// (the composition root) may name them, and a domain added there is covered the same day.
fn domains() -> BTreeSet<&'static str> {
    let config = crate::helpers::test_config(&[]);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let directory = Arc::new(NumberDirectory::new(clock));
    let domains = switchboard::startup::domains(&directory, &config, None).expect("the domains build");
    domains.iter().map(|d| d.module()).collect()
}
/// Plumbing that every domain uses and that must never depend on one.
const PLUMBING: &[&str] = &[
    "state", "workers", "worker", "outbox", "twilio", "http", "health", "effects", "domain", "system", "ids",
    "console",
];

/// Top-level module → the top-level modules its files name through `crate::`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).expect("under src");
            let first = relative.components().next().expect("a component").as_os_str().to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            let edges = graph.entry(module.clone()).or_default();
            for target in referenced_modules(&text) {
                if target != module {
                    edges.insert(target);
                }
            }
        }
    }
    graph
}

/// Modules named as `crate::name` or inside `crate::{a, b::c}`, comments skipped.
fn referenced_modules(text: &str) -> BTreeSet<String> {
    let code: String =
        text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                let name: String =
                    item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != "self" {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// A path from `from` back to itself, if any.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_owned(), vec![from.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == from {
                let mut cycle = path.clone();
                cycle.push(from.to_owned());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_module_reaches_a_module_that_reaches_it_back() {
    let graph = graph();
    let cycles: Vec<String> =
        graph.keys().filter_map(|m| cycle_through(&graph, m)).map(|c| c.join(" → ")).collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn every_domain_the_binary_runs_is_known_to_the_checks() {
    let domains = domains();
    for expected in ["approvals", "inbound", "outbound", "sessions"] {
        assert!(domains.contains(expected), "{expected} is missing from {domains:?}");
    }
    let graph = graph();
    for domain in &domains {
        assert!(graph.contains_key(*domain), "{domain} is a module under src/");
        assert!(!PLUMBING.contains(domain), "{domain} is a domain, not plumbing");
    }
}

#[test]
fn plumbing_names_no_domain_and_twilio_names_no_application_module() {
    let graph = graph();
    let domains = domains();
    for plumbing in PLUMBING {
        let named: Vec<&String> =
            graph.get(*plumbing).into_iter().flatten().filter(|m| domains.contains(m.as_str())).collect();
        assert!(named.is_empty(), "{plumbing} names the domains {named:?}");
    }
    let twilio = graph.get("twilio").cloned().unwrap_or_default();
    let allowed = ["clock", "error", "net", "redact", "worker"];
    let extra: Vec<&String> = twilio.iter().filter(|m| !allowed.contains(&m.as_str())).collect();
    assert!(extra.is_empty(), "twilio depends on {extra:?}");
}

#[test]
fn the_graph_reader_sees_imports_groups_and_paths() {
    let text = "use crate::{state::AppState, twilio};\n// crate::inbound in a comment\nlet x = crate::outbox::wake(&s);";
    let found: Vec<String> = referenced_modules(text).into_iter().collect();
    assert_eq!(found, ["outbox", "state", "twilio"]);
    let looped: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(cycle_through(&looped, "a"), Some(vec!["a".into(), "b".into(), "a".into()]));
}
