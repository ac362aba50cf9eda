//! Every test or function the documentation names exists.
//!
//! The README, the pages under `docs/` and each crate's README point to
//! tests as evidence ("checked by `a_cycle_racing_a_logout_...`"). A
//! renamed or removed test leaves such a pointer promising what nothing
//! checks any more. This test reads the inline code spans of those pages,
//! keeps the ones that look like a function name (snake_case with at least
//! three underscores, optionally after a `path::`), and fails listing every
//! name with no `fn <name>` in the sources.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The workspace root: the parent of this crate's directory.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// The inline code spans of a Markdown text, fenced code blocks left out.
fn code_spans(markdown: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find('`') {
            let after = &rest[start..];
            let ticks = after.len() - after.trim_start_matches('`').len();
            let body = &after[ticks..];
            let fence = &after[..ticks];
            match body.find(fence) {
                Some(end) => {
                    spans.push(body[..end].trim());
                    rest = &body[end + ticks..];
                }
                None => break,
            }
        }
    }
    spans
}

/// The function name a code span names, if it looks like one: an optional
/// `a::b::` path, then snake_case with at least three underscores, and an
/// optional `()`.
fn function_name(span: &str) -> Option<&str> {
    let span = span.strip_suffix("()").unwrap_or(span);
    let (path, name) = span.rsplit_once("::").unwrap_or(("", span));
    let mut segments = path.split("::").filter(|_| !path.is_empty());
    let is_ident = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let path_ok = segments.all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    (path_ok && is_ident(name) && name.matches('_').count() >= 3).then_some(name)
}

/// The names of functions a Markdown text names.
fn named_functions(markdown: &str) -> BTreeSet<String> {
    code_spans(markdown).into_iter().filter_map(function_name).map(str::to_owned).collect()
}

/// Every `fn <name>` in the Rust files under `dir`, `target` directories
/// left out.
fn defined_functions(dir: &Path, names: &mut BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target" || n == ".git") {
                continue;
            }
            defined_functions(&path, names);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let Ok(text) = fs::read_to_string(&path) else { continue };
            names.extend(fn_definitions(&text));
        }
    }
}

/// The names after each `fn ` of a Rust source.
fn fn_definitions(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("fn ") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + 3..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

/// The pages whose names are checked: the README, `docs/**/*.md` and each
/// crate's README.
fn pages(root: &Path) -> Vec<PathBuf> {
    fn markdown_under(dir: &Path, pages: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                markdown_under(&path, pages);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    let mut pages = vec![root.join("README.md")];
    markdown_under(&root.join("docs"), &mut pages);
    // Written by `cargo xtask bench` from the benchmarks' own ids (criterion
    // names such as `tower_sessions_memory_store`, not functions), which the
    // report reads back from the run it describes.
    pages.retain(|page| !page.ends_with("docs/benchmarks.md"));
    if let Ok(crates) = fs::read_dir(root.join("crates")) {
        for krate in crates.flatten() {
            let readme = krate.path().join("README.md");
            if readme.is_file() {
                pages.push(readme);
            }
        }
    }
    pages.sort();
    pages
}

/// The names each page gives that no source defines, as `page: name`.
fn missing(root: &Path, pages: &[PathBuf]) -> Vec<String> {
    let mut defined = BTreeSet::new();
    for dir in ["crates", "examples", "xtask", "fuzz"] {
        defined_functions(&root.join(dir), &mut defined);
    }
    let mut missing = Vec::new();
    for page in pages {
        let text = fs::read_to_string(page).unwrap_or_else(|e| panic!("read {}: {e}", page.display()));
        let shown = page.strip_prefix(root).unwrap_or(page).display().to_string();
        for name in named_functions(&text) {
            if !defined.contains(&name) {
                missing.push(format!("{shown}: `{name}`"));
            }
        }
    }
    missing
}

#[test]
fn every_function_the_docs_name_is_defined() {
    let root = root();
    let pages = pages(&root);
    assert!(pages.len() > 5, "found only {} pages under {}", pages.len(), root.display());
    let missing = missing(&root, &pages);
    assert!(
        missing.is_empty(),
        "the documentation names functions that no source under crates/, examples/, xtask/ or fuzz/ defines \
         (point to the test that now checks the promise, or reword):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_scanner_finds_names_in_spans_and_skips_the_rest() {
    let page = "\
Checked by `a_session_is_never_adopted` and `testing::take_racing_updates_loses_nothing`,
not by `short_name`, `SESSIONS_MODEL_SEED`, `tests/per_request.rs` or `Foo::bar_baz_qux_quux`.
A call: `one_two_three_four()`; a double-ticked ``two_ticks_around_this`` span.

```rust
fn inside_a_fenced_block_is_code() {}
let x = `not_a_span_in_a_fence`;
```
";
    let names: Vec<_> = named_functions(page).into_iter().collect();
    assert_eq!(
        names,
        [
            "a_session_is_never_adopted",
            "one_two_three_four",
            "take_racing_updates_loses_nothing",
            "two_ticks_around_this",
            "bar_baz_qux_quux",
        ]
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
}

#[test]
fn a_bogus_name_is_reported() {
    let dir = std::env::temp_dir().join(format!("doc-names-{}", std::process::id()));
    fs::create_dir_all(dir.join("crates/a/src")).unwrap();
    fs::write(dir.join("crates/a/src/lib.rs"), "#[test]\nfn a_test_that_does_exist() {}\nasync fn x() {}\n").unwrap();
    let page = dir.join("README.md");
    fs::write(&page, "See `a_test_that_does_exist` and `a_test_that_was_removed_long_ago`.\n").unwrap();
    let missing = missing(&dir, &[page]);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(missing, ["README.md: `a_test_that_was_removed_long_ago`"]);
}

#[test]
fn definitions_are_found_after_fn_only() {
    let source = "pub async fn loads_a_saved_session() {}\n// define_fn wrapper\nlet f = some_fn (x);\nfn  \n";
    assert_eq!(fn_definitions(source), ["loads_a_saved_session"]);
}
