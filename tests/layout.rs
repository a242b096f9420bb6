//! The layout CONTRIBUTING.md promises: imports point down the flow (no module of `src/`
//! reaches one that reaches it back), and only `main` turns outcomes into exit codes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its non-test code names as `crate::…`.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "main" || top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let deps = graph.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != top {
                deps.insert(name);
            }
        }
    }
    graph
}

#[test]
fn imports_point_one_way() {
    let g = import_graph();
    assert!(g.len() >= 15, "{g:?}");
    // Depth-first search for a back edge.
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        m: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == m) {
            panic!(
                "import circle: {}",
                [&path[i..], &[m.to_owned()]].concat().join(" → ")
            );
        }
        if !done.insert(m.to_owned()) {
            return;
        }
        path.push(m.to_owned());
        for d in g.get(m).into_iter().flatten() {
            visit(g, d, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        visit(&g, m, &mut Vec::new(), &mut done);
    }
    // The flow's ends: clap stays in cli and config; nothing imports config.
    for (m, deps) in &g {
        if m != "config" && m != "cli" {
            assert!(!deps.contains("cli"), "{m} imports cli");
        }
        assert!(!deps.contains("config"), "{m} imports config");
    }
}

#[test]
fn only_main_picks_exit_codes() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for e in walk(&src) {
        let text = std::fs::read_to_string(&e).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        assert!(
            !code.contains("std::process::exit"),
            "{} exits the process",
            e.display()
        );
        if e.ends_with("main.rs") || e.ends_with("error.rs") || e.ends_with("verdict.rs") {
            continue;
        }
        assert!(
            !code.contains("exit::"),
            "{} chooses an exit code; return an outcome or an error for main",
            e.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// Inside each room (a directory of `src/`), the files a file names as `super::x` or
/// `crate::room::x`: siblings, not the room's `mod.rs`, which every file may use.
fn room_graphs() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut rooms = BTreeMap::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let dir = e.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs") && !p.ends_with("mod.rs"))
            .collect();
        let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
        let names: BTreeSet<String> = files.iter().map(|p| stem(p)).collect();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let deps = graph.entry(stem(f)).or_default();
            // `super::x`, `use super::{x, y::z}`, and the same through the room's
            // full path (`crate::room::x`).
            let full = format!("crate::{}::", stem(&dir));
            let at: Vec<usize> = code
                .match_indices("super::")
                .map(|(i, m)| i + m.len())
                .chain(code.match_indices(&full).map(|(i, m)| i + m.len()))
                .collect();
            for i in at {
                let rest = &code[i..];
                let list = if let Some(inner) = rest.strip_prefix('{') {
                    inner.split('}').next().unwrap().to_owned()
                } else {
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect()
                };
                for item in list.split(',') {
                    let name = item.trim().split("::").next().unwrap().trim();
                    if names.contains(name) && name != stem(f) {
                        deps.insert(name.to_owned());
                    }
                }
            }
        }
        rooms.insert(stem(&dir), graph);
    }
    rooms
}

#[test]
fn no_room_has_an_import_circle_inside() {
    let rooms = room_graphs();
    assert!(rooms.contains_key("telemetry") && rooms.contains_key("kernels"));
    // The readers of one source never import each other's files back: the shared file
    // helpers are a leaf (telemetry/file.rs).
    assert!(
        rooms["telemetry"]["intel"].contains("file"),
        "{:?}",
        rooms["telemetry"]
    );
    for (room, g) in &rooms {
        for (a, deps) in g {
            for b in deps {
                assert!(
                    !g.get(b).is_some_and(|d| d.contains(a)),
                    "{room}: {a} and {b} import each other"
                );
            }
        }
        // Longer circles: a depth-first search from every file.
        fn reach(
            g: &BTreeMap<String, BTreeSet<String>>,
            from: &str,
            to: &str,
            seen: &mut BTreeSet<String>,
        ) -> bool {
            g.get(from)
                .into_iter()
                .flatten()
                .any(|n| n == to || (seen.insert(n.clone()) && reach(g, n, to, seen)))
        }
        for a in g.keys() {
            assert!(
                !reach(g, a, a, &mut BTreeSet::new()),
                "{room}: an import circle through {a}"
            );
        }
    }
}
