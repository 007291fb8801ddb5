//! The import rules of the README's "Architecture" section, checked on the source text:
//!
//! 1. a module imports only from modules on a lower floor (or from itself);
//! 2. no two files import each other, directly or round a longer circle.
//!
//! Imports are every `crate::…`, `super::…` and `self::…` path outside comments and outside the
//! trailing `#[cfg(test)]` module (unit tests may use the simulator from any floor). A path into
//! a module's root file (`mod.rs`, `config.rs`) that names something the root only re-exports
//! counts as an import of the file that defines it. A new upward import or a new circle fails
//! this test with the offending files named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Floors from the ground up; a module may import from any lower floor. Modules on one floor
/// do not import each other.
const FLOORS: &[&[&str]] = &[
    &[
        "cache_hint",
        "clock",
        "work",
        "durable",
        "wire",
        "test_vectors",
    ],
    // Drop reasons judge a message by its kind (`wire::kind`): a bad signature is the sender's
    // fault only on a channel_announcement.
    &["vocab"],
    &["config", "transport"],
    &["logging", "metrics", "graph"],
    &["store", "chain"],
    &["pipeline"],
    // The hand-out reads the graph and the store; nothing below imports it (the exporter takes
    // its routes as a trait object).
    &["handout"],
    &["peer"],
    &["sim"],
    &["commands"],
];

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|floor| floor.contains(&module))
}

/// One source file: its module path (`["pipeline", "sieve"]`) and its code with comments and
/// the unit-test module removed.
struct SourceFile {
    path: PathBuf,
    module: Vec<String>,
    /// `mod.rs`, `lib.rs` or `config.rs` beside a `config/` directory.
    is_root: bool,
    code: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code without comments and without the `#[cfg(test)] mod tests` block at the end.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .get(i + 1)
                .is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let code = match line.find("//") {
            // A `//` inside a string literal is rare in this crate; good enough for paths.
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn load() -> Vec<SourceFile> {
    let src = src_dir();
    let mut paths = Vec::new();
    collect(&src, &mut paths);
    paths
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "main.rs"))
        .map(|path| {
            let rel = path.strip_prefix(&src).expect("under src");
            let mut module: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let last = module.last().cloned().unwrap_or_default();
            let is_root = last == "mod" || last == "lib" || path.with_extension("").is_dir();
            if last == "mod" || last == "lib" {
                module.pop();
            }
            let code = production_code(&std::fs::read_to_string(&path).expect("read"));
            SourceFile {
                path: rel.to_path_buf(),
                module,
                is_root,
                code,
            }
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into full paths.
fn expand_use(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        let plain = tree.split(" as ").next().unwrap_or(&tree);
        return vec![plain.to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            expand_use(p).into_iter().map(move |rest| {
                if rest == "self" {
                    prefix.trim_end_matches("::").to_string()
                } else {
                    format!("{prefix}{rest}")
                }
            })
        })
        .collect()
}

/// Every `crate::`/`super::`/`self::` path in `code`, `use` trees expanded, plus the
/// `pub use` re-exports (name → path) of the file.
fn paths_in(code: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let mut paths = Vec::new();
    let mut reexports = BTreeMap::new();
    let mut rest = code;
    // `use` statements first (they may span lines and hold braces).
    let mut without_uses = String::new();
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let is_statement = before
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || c == ';' || c == '{' || c == '}');
        if !is_statement {
            without_uses.push_str(&rest[..at + 4]);
            rest = &rest[at + 4..];
            continue;
        }
        let Some(end) = rest[at..].find(';') else {
            break;
        };
        let statement = &rest[at + 4..at + end];
        let is_pub = before.trim_end().ends_with("pub") || before.trim_end().ends_with(')');
        for path in expand_use(statement) {
            if is_pub {
                let name = path.rsplit("::").next().unwrap_or("").to_string();
                reexports.insert(name, path.clone());
            }
            paths.push(path);
        }
        without_uses.push_str(before);
        rest = &rest[at + end + 1..];
    }
    without_uses.push_str(rest);
    for anchor in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(found) = without_uses[from..].find(anchor) {
            let start = from + found;
            let boundary_ok = without_uses[..start]
                .chars()
                .last()
                .is_none_or(|c| !is_ident(c) && c != ':');
            let end = without_uses[start..]
                .find(|c: char| !(is_ident(c) || c == ':'))
                .map_or(without_uses.len(), |e| start + e);
            if boundary_ok {
                paths.push(without_uses[start..end].trim_end_matches(':').to_string());
            }
            from = end.max(start + anchor.len());
        }
    }
    (paths, reexports)
}

/// Absolute module segments of `path` as seen from a file in `module`.
fn absolute(path: &str, module: &[String]) -> Option<Vec<String>> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segments.first().copied() {
        Some("crate") => Vec::new(),
        Some("super") | Some("self") => module.to_vec(),
        // `use child::X` in a root file names its own child; an external crate's path
        // resolves to the file itself and is dropped as a self-import.
        Some(_) => module.to_vec(),
        None => return None,
    };
    // A non-root file's own module is its file; `super` from it is the parent module.
    if segments.first() == Some(&"crate") {
        segments.remove(0);
    }
    while let Some(&first) = segments.first() {
        match first {
            "self" => {
                segments.remove(0);
            }
            "super" => {
                segments.remove(0);
                base.pop();
            }
            _ => break,
        }
    }
    base.extend(segments.iter().map(|s| s.to_string()));
    Some(base)
}

struct Crate {
    files: Vec<SourceFile>,
    by_module: BTreeMap<Vec<String>, usize>,
    reexports: Vec<BTreeMap<String, String>>,
}

impl Crate {
    /// The file an absolute path points into, following a root's re-exports of a name.
    fn resolve(&self, segments: &[String], depth: usize) -> Option<usize> {
        let (len, file) = (1..=segments.len())
            .rev()
            .find_map(|len| self.by_module.get(&segments[..len]).map(|f| (len, *f)))?;
        if depth < 4 && self.files[file].is_root {
            if let Some(name) = segments.get(len) {
                if let Some(target) = self.reexports[file].get(name) {
                    let from = &self.files[file];
                    if let Some(abs) = absolute(target, &from.module) {
                        if abs != segments {
                            return self.resolve(&abs, depth + 1).or(Some(file));
                        }
                    }
                }
            }
        }
        Some(file)
    }
}

/// The file-level import graph: for each file, the files it imports.
fn import_graph() -> (Vec<SourceFile>, Vec<BTreeSet<usize>>) {
    let files = load();
    let by_module = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let parsed: Vec<_> = files.iter().map(|f| paths_in(&f.code)).collect();
    let reexports = parsed.iter().map(|(_, r)| r.clone()).collect();
    let krate = Crate {
        files,
        by_module,
        reexports,
    };
    let mut edges = vec![BTreeSet::new(); krate.files.len()];
    for (i, (paths, _)) in parsed.iter().enumerate() {
        let file = &krate.files[i];
        for path in paths {
            let Some(abs) = absolute(path, &file.module) else {
                continue;
            };
            if let Some(target) = krate.resolve(&abs, 0) {
                // A root's `pub mod` children are not imports of it, and `lib.rs` is no
                // one's dependency.
                if target != i && !krate.files[target].module.is_empty() {
                    edges[i].insert(target);
                }
            }
        }
    }
    (krate.files, edges)
}

fn top_module(file: &SourceFile) -> &str {
    file.module.first().map_or("lib", String::as_str)
}

#[test]
fn modules_import_only_from_lower_floors() {
    let (files, edges) = import_graph();
    let mut upward = Vec::new();
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, targets) in edges.iter().enumerate() {
        let from = top_module(&files[i]);
        if from == "lib" {
            continue;
        }
        let from_floor = floor_of(from)
            .unwrap_or_else(|| panic!("module {from} is on no floor: add it to FLOORS"));
        for &t in targets {
            let to = top_module(&files[t]);
            if to == from {
                continue;
            }
            *counts
                .entry((from.to_string(), to.to_string()))
                .or_default() += 1;
            let to_floor = floor_of(to).unwrap_or(usize::MAX);
            if to_floor >= from_floor {
                upward.push(format!(
                    "{} imports {} ({from} is on floor {from_floor}, {to} on floor {to_floor})",
                    files[i].path.display(),
                    files[t].path.display()
                ));
            }
        }
    }
    for ((from, to), n) in &counts {
        println!("{from} -> {to}: {n} file import(s)");
    }
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn no_files_import_each_other() {
    let (files, edges) = import_graph();
    // Tarjan-free check: a file on a cycle reaches itself.
    let mut cycles = BTreeSet::new();
    for start in 0..files.len() {
        let mut stack = vec![(start, vec![start])];
        let mut seen = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for &next in &edges[node] {
                if next == start {
                    let mut names: Vec<String> = trail
                        .iter()
                        .map(|&f| files[f].path.display().to_string())
                        .collect();
                    // One spelling per cycle: rotate to the smallest name.
                    let min = names
                        .iter()
                        .enumerate()
                        .min_by(|a, b| a.1.cmp(b.1))
                        .map_or(0, |(i, _)| i);
                    names.rotate_left(min);
                    cycles.insert(names.join(" -> "));
                } else if seen.insert(next) {
                    let mut longer = trail.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
    let total: usize = edges.iter().map(BTreeSet::len).sum();
    println!("{} files, {total} file-to-file imports", files.len());
    assert!(
        cycles.is_empty(),
        "files importing each other (a -> b -> ... -> a):\n{}",
        cycles.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_checker_sees_use_trees_and_inline_paths() {
    let (paths, reexports) = paths_in(
        "use super::{a::B, c};\npub use crate::x::{Y, z::W};\nfn f() { crate::q::r(); }\n",
    );
    for expected in [
        "super::a::B",
        "super::c",
        "crate::x::Y",
        "crate::x::z::W",
        "crate::q::r",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} in {paths:?}"
        );
    }
    assert_eq!(
        reexports.get("W").map(String::as_str),
        Some("crate::x::z::W")
    );
    assert!(!reexports.contains_key("B"));
    let module = vec!["pipeline".to_string(), "sieve".to_string()];
    assert_eq!(
        absolute("super::shard::VerifyJob", &module),
        Some(vec!["pipeline".into(), "shard".into(), "VerifyJob".into()])
    );
}
