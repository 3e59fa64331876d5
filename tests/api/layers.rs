//! The layers of `src/` (docs/ARCHITECTURE.md): no module imports one above
//! it, and no two rooms import each other, directly or round a cycle.
//!
//! A *room* is a top-level module, or one folder under `resources/` or
//! `dialects/`; a parent and its own children are one room. Imports are read
//! from the source text: `use crate::…`, `use super::…`, paths written
//! `crate::…` anywhere outside comments (attributes and `deserialize_with`
//! strings included), `keygate::…` in `main.rs`, `mod x;` declarations and
//! exported macros. Each file gets the layer of its room, except that in a
//! resource or dialect folder the HTTP side (`mod.rs` with its `configure`,
//! `handlers.rs`, `dto.rs`, `wire.rs`) is a surface while `model.rs`,
//! `repo.rs` and `domain.rs` are domain.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, bottom up; an import may point to its own layer or one below.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundations",
        &[
            "config", "error", "db", "crypto", "net", "fields", "metrics",
        ],
    ),
    ("domain", &["audit", "keys", "resources/*", "dialects/*"]),
    (
        "http toolkit",
        &["http", "routes", "surface", "state", "auth", "openapi"],
    ),
    ("surfaces", &["resources", "dialects"]),
    ("assembly", &["startup"]),
    ("command line", &["cli"]),
    ("binary", &["main"]),
];

/// Files of a domain room that are its HTTP face (the surfaces layer).
fn is_surface_file(room: &str, file: &str) -> bool {
    let folder = room.starts_with("resources/") || room.starts_with("dialects/");
    folder && matches!(file, "mod.rs" | "handlers.rs" | "dto.rs" | "wire.rs")
}

struct Source {
    /// `src/`-relative path.
    path: String,
    /// Module path, e.g. `["resources", "api_keys", "repo"]`.
    module: Vec<String>,
    /// Comment-free text.
    code: String,
}

fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    match last.as_str() {
        "lib.rs" if parts.is_empty() => {}
        "main.rs" if parts.is_empty() => parts.push("main".into()),
        "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    parts
}

/// The room of a file, from its `src/`-relative path: `resources/<name>/…`
/// and `dialects/<name>/…` are rooms of their own (`resources/mod.rs` and
/// any `resources/x.rs` belong to `resources`); `lib.rs` is no room.
fn room_of(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["lib.rs"] => None,
        [top, name, _, ..] if *top == "resources" || *top == "dialects" => {
            Some(format!("{top}/{name}"))
        }
        [file] => Some(file.trim_end_matches(".rs").to_owned()),
        [top, ..] => Some((*top).to_owned()),
        [] => None,
    }
}

fn layer_of_room(room: &str) -> usize {
    let pattern = match room.split_once('/') {
        Some((top, _)) => format!("{top}/*"),
        None => room.to_owned(),
    };
    LAYERS
        .iter()
        .position(|(_, rooms)| rooms.contains(&pattern.as_str()))
        .unwrap_or_else(|| panic!("room {room} has no layer in tests/api/layers.rs"))
}

fn layer_of_file(source: &Source) -> usize {
    let room = room_of(&source.path).unwrap_or_default();
    let file = source.path.rsplit('/').next().unwrap_or_default();
    if is_surface_file(&room, file) {
        layer_of_room("resources")
    } else {
        layer_of_room(&room)
    }
}

/// The text without comments; string literals are kept (paths hide in
/// `deserialize_with = "crate::…"`), line breaks too, so lines still count.
fn strip_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            out.push(c as char);
            if c == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1] as char);
                i += 2;
                continue;
            }
            if c == b'"' {
                in_string = false;
            }
            i += 1;
        } else if c == b'"' {
            // Raw strings (r"…", r#"…"#) hold no escapes; skip them whole.
            let raw_hashes = raw_prefix(bytes, i);
            if let Some(hashes) = raw_hashes {
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let end = find(bytes, i + 1, &close).unwrap_or(bytes.len());
                for &b in &bytes[i..end.min(bytes.len())] {
                    out.push(if b == b'\n' { '\n' } else { b as char });
                }
                i = end;
                continue;
            }
            in_string = true;
            out.push('"');
            i += 1;
        } else if c == b'\''
            && i + 2 < bytes.len()
            && (bytes[i + 2] == b'\'' || bytes[i + 1] == b'\\')
        {
            // A char literal such as '"' or '\'': copied without effect.
            let end = (i + 1..bytes.len())
                .find(|&j| bytes[j] == b'\'' && (bytes[j - 1] != b'\\' || bytes[j - 2] == b'\\'))
                .unwrap_or(i + 1);
            out.push_str(&" ".repeat(end - i + 1));
            i = end + 1;
        } else if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < bytes.len() {
                if bytes[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if bytes[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if bytes[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

/// `Some(n)` when the quote at `at` opens a raw string with `n` hashes.
fn raw_prefix(bytes: &[u8], at: usize) -> Option<usize> {
    let mut j = at;
    let mut hashes = 0;
    while j > 0 && bytes[j - 1] == b'#' {
        hashes += 1;
        j -= 1;
    }
    let is_raw = j > 0
        && bytes[j - 1] == b'r'
        && (j < 2 || !(bytes[j - 2].is_ascii_alphanumeric() || bytes[j - 2] == b'_'));
    is_raw.then_some(hashes)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    (from..bytes.len())
        .find(|&i| bytes[i..].starts_with(needle))
        .map(|i| i + needle.len())
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Path,
    Open,
    Close,
    Comma,
    Star,
    Other,
}

fn tokens(code: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Token::Path, line));
            i += 2;
        } else {
            out.push((
                match c {
                    '{' => Token::Open,
                    '}' => Token::Close,
                    ',' => Token::Comma,
                    '*' => Token::Star,
                    _ => Token::Other,
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

/// Reads a path tree after `prefix::` (`a::b`, `{a, b::{c, d}}`, `*`) and
/// collects every full path it names.
fn read_tree(
    toks: &[(Token, usize)],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path = prefix;
    loop {
        match toks.get(i).map(|t| &t.0) {
            Some(Token::Ident(name)) if name != "self" => {
                path.push(name.clone());
                i += 1;
                if toks.get(i).map(|t| &t.0) == Some(&Token::Path) {
                    i += 1;
                    continue;
                }
                out.push(path);
                return i;
            }
            Some(Token::Ident(_)) | Some(Token::Star) => {
                out.push(path);
                return i + 1;
            }
            Some(Token::Open) => {
                i += 1;
                loop {
                    match toks.get(i).map(|t| &t.0) {
                        Some(Token::Close) => return i + 1,
                        Some(Token::Comma) => i += 1,
                        None => return i,
                        _ => {
                            let before = i;
                            i = read_tree(toks, i, path.clone(), out);
                            // Skip `as alias` and anything else up to the next item.
                            while !matches!(
                                toks.get(i).map(|t| &t.0),
                                Some(Token::Comma) | Some(Token::Close) | None
                            ) {
                                i += 1;
                            }
                            if i == before {
                                i += 1;
                            }
                        }
                    }
                }
            }
            _ => {
                out.push(path);
                return i;
            }
        }
    }
}

struct Import {
    from: usize,
    line: usize,
    target: Vec<String>,
}

fn imports_of(
    index: usize,
    source: &Source,
    macros: &BTreeMap<String, Vec<String>>,
) -> Vec<Import> {
    let toks = tokens(&source.code);
    let mut out = Vec::new();
    let is_main = source.module == ["main"];
    // The module `super` names: the parent of this file's module.
    let here = &source.module;
    let mut i = 0;
    while i < toks.len() {
        let (tok, line) = &toks[i];
        let next_is_path = toks.get(i + 1).map(|t| &t.0) == Some(&Token::Path);
        let prev_is_path = i > 0 && toks[i - 1].0 == Token::Path;
        let Token::Ident(word) = tok else {
            i += 1;
            continue;
        };
        if macros.contains_key(word.as_str())
            && toks.get(i + 1).map(|t| &t.0) == Some(&Token::Other)
            && !source.code.contains(&format!("macro_rules! {word}"))
        {
            out.push(Import {
                from: index,
                line: *line,
                target: macros[word.as_str()].clone(),
            });
        }
        if prev_is_path {
            i += 1;
            continue;
        }
        let base: Option<Vec<String>> = match word.as_str() {
            "crate" | "$crate" if next_is_path => Some(Vec::new()),
            "keygate" if next_is_path && is_main => Some(Vec::new()),
            "super" if next_is_path => {
                let mut base = here.clone();
                let mut j = i;
                base.pop();
                // super::super::…
                while toks.get(j + 2).map(|t| &t.0) == Some(&Token::Ident("super".into()))
                    && toks.get(j + 3).map(|t| &t.0) == Some(&Token::Path)
                {
                    base.pop();
                    j += 2;
                }
                i = j;
                Some(base)
            }
            "mod" => {
                // `mod name;` declares a child module in its own file.
                if let (Some((Token::Ident(name), _)), Some((Token::Other, _))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    let semicolon = source
                        .code
                        .lines()
                        .nth(line - 1)
                        .is_some_and(|l| l.contains(&format!("mod {name};")));
                    if semicolon {
                        let mut target = here.clone();
                        target.push(name.clone());
                        out.push(Import {
                            from: index,
                            line: *line,
                            target,
                        });
                    }
                }
                None
            }
            _ => None,
        };
        if let Some(base) = base {
            let mut paths = Vec::new();
            let end = read_tree(&toks, i + 2, base, &mut paths);
            for target in paths {
                out.push(Import {
                    from: index,
                    line: *line,
                    target,
                });
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn sources() -> Vec<Source> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let rel = file.strip_prefix(&root).unwrap().to_path_buf();
            Source {
                path: rel.to_string_lossy().into_owned(),
                module: module_of(&rel),
                code: strip_comments(&std::fs::read_to_string(&file).unwrap()),
            }
        })
        .collect()
}

/// Rooms in cycles (each strongly connected component of two or more rooms).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let rooms: Vec<&String> = edges.keys().collect();
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(room) = stack.pop() {
            for next in edges.get(&room).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        rooms.iter().map(|r| (*r, reach(r))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for room in &rooms {
        if done.contains(*room) {
            continue;
        }
        let component: BTreeSet<String> = rooms
            .iter()
            .filter(|other| {
                reachable[*room].contains(**other) && reachable[**other].contains(*room)
            })
            .map(|r| (*r).clone())
            .collect();
        done.extend(component.iter().cloned());
        if component.len() > 1 {
            out.push(component);
        }
    }
    out
}

#[test]
fn no_module_imports_a_layer_above_it_and_no_rooms_form_a_cycle() {
    let sources = sources();
    let modules: BTreeMap<Vec<String>, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.module.clone(), i))
        .collect();
    // `#[macro_export]` macros live at the crate root but belong to the
    // module that defines them.
    let mut macros = BTreeMap::new();
    for source in &sources {
        let toks = tokens(&source.code);
        for w in toks.windows(3) {
            if let [(Token::Ident(a), _), (Token::Other, _), (Token::Ident(name), _)] = w {
                if a == "macro_rules" {
                    macros.insert(name.clone(), source.module.clone());
                }
            }
        }
    }
    let mut upward = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut witness: BTreeMap<(String, String), String> = BTreeMap::new();
    for (index, source) in sources.iter().enumerate() {
        let Some(from_room) = room_of(&source.path) else {
            continue;
        };
        edges.entry(from_room.clone()).or_default();
        for import in imports_of(index, source, &macros) {
            // The longest module prefix of the path is the module imported.
            let Some(target) = (1..=import.target.len())
                .rev()
                .map(|n| import.target[..n].to_vec())
                .find_map(|prefix| modules.get(&prefix).copied())
            else {
                continue;
            };
            let target = &sources[target];
            let Some(to_room) = room_of(&target.path) else {
                continue;
            };
            let at = format!("src/{}:{}", sources[import.from].path, import.line);
            let (from_layer, to_layer) = (layer_of_file(source), layer_of_file(target));
            if to_layer > from_layer {
                upward.push(format!(
                    "{at}: {} ({}) imports {} ({})",
                    source.path, LAYERS[from_layer].0, target.path, LAYERS[to_layer].0
                ));
            }
            if to_room != from_room {
                witness
                    .entry((from_room.clone(), to_room.clone()))
                    .or_insert(at);
                edges.entry(from_room.clone()).or_default().insert(to_room);
            }
        }
    }
    let cycles = cycles(&edges);
    let largest = cycles.iter().map(BTreeSet::len).max().unwrap_or(0);
    println!(
        "{} rooms in {} files; largest import cycle: {largest} rooms",
        edges.len(),
        sources.len()
    );
    let mut report = upward;
    for cycle in &cycles {
        report.push(format!(
            "import cycle between {} rooms: {cycle:?}",
            cycle.len()
        ));
        for ((from, to), at) in &witness {
            if cycle.contains(from) && cycle.contains(to) {
                report.push(format!("  {at}: {from} -> {to}"));
            }
        }
    }
    assert!(report.is_empty(), "layering broken:\n{}", report.join("\n"));
}
