//! The layout rules of docs/architecture.md, read from the sources: a module
//! that imports across a boundary it must not cross fails here, naming the
//! file and line. Test-only code (`#[cfg(test)]` modules and files) may use
//! what it likes.

use std::path::{Path, PathBuf};

/// (where, what it must not name, why)
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "src/plan",
        &[
            "crate::system",
            "crate::lvm",
            "crate::apply",
            "crate::hooks",
            "crate::state",
            "crate::check",
            "crate::cmd",
            "clap",
        ],
        "the plan language is pure: no machine, no state, no CLI",
    ),
    (
        "src/graph",
        &[
            "crate::system",
            "crate::lvm",
            "crate::apply",
            "crate::hooks",
            "crate::state",
            "crate::check",
            "crate::cmd",
            "clap",
        ],
        "the compiler is pure and owns its command lines (graph/argv.rs)",
    ),
    (
        "src/report",
        &["crate::apply", "crate::cmd"],
        "readers of the state directory go through state/",
    ),
    (
        "src/restore",
        &["crate::apply", "crate::cmd"],
        "readers of the state directory go through state/",
    ),
    (
        "src/verify",
        &["crate::apply", "crate::cmd"],
        "readers of the state directory go through state/",
    ),
    (
        "src/generations",
        &["crate::apply", "crate::cmd"],
        "readers of the state directory go through state/",
    ),
    (
        "src/mount",
        &["crate::apply", "crate::cmd", "crate::check"],
        "mount reads the state directory through state/ and the machine through system/",
    ),
    (
        "src/prune.rs",
        &[
            "crate::apply",
            "crate::cmd",
            "crate::check",
            "crate::graph::compile",
        ],
        "prune is called by apply's prune step and by `snapplan prune`, and knows neither",
    ),
    (
        "src/metrics.rs",
        &["crate::apply", "crate::cmd"],
        "readers of the state directory go through state/",
    ),
    (
        "src/state",
        &[
            "crate::apply",
            "crate::check",
            "crate::report",
            "crate::cmd",
            "crate::lvm",
            "crate::system",
            "clap",
        ],
        "the state directory is a leaf below apply and its readers",
    ),
    (
        "src/tags.rs",
        &[
            "crate::apply",
            "crate::lvm",
            "crate::system",
            "crate::graph",
            "crate::check",
        ],
        "one spelling per tag, depended on by everyone, depending on no one",
    ),
    (
        "src/copy",
        &[
            "crate::apply",
            "crate::cmd",
            "crate::state",
            "crate::lvm",
            "crate::system",
            "crate::check",
            "crate::report",
            "crate::error",
        ],
        "the copy engine is driven by apply, restore and verify, and knows none of them",
    ),
    (
        "src/retention.rs",
        &[
            "crate::apply",
            "crate::cmd",
            "crate::system",
            "crate::check",
            "crate::generations",
            "crate::plan",
        ],
        "which generations a policy keeps is a pure function of their times",
    ),
    ("src/human.rs", &["crate::"], "text formatting is a leaf"),
    (
        "src/procfs.rs",
        &["crate::"],
        "one reading of /proc, for system/ and state/ alike: a leaf",
    ),
];

/// clap lives in cmd/ only.
const CLAP_ONLY_IN: &str = "src/cmd";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files that are test modules as a whole: `#[cfg(test)] mod name;` in
/// the parent.
fn test_only_files(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut test_files = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let dir = if file.ends_with("mod.rs") || file.ends_with("lib.rs") {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.windows(2) {
            if pair[0].trim() == "#[cfg(test)]" {
                let decl = pair[1].trim();
                if let Some(name) = decl
                    .strip_prefix("pub(crate) mod ")
                    .or_else(|| decl.strip_prefix("pub mod "))
                    .or_else(|| decl.strip_prefix("mod "))
                    .and_then(|rest| rest.strip_suffix(';'))
                {
                    test_files.push(dir.join(format!("{name}.rs")));
                    test_files.push(dir.join(name).join("mod.rs"));
                }
            }
        }
    }
    test_files
}

/// The production part of a file: up to its `#[cfg(test)] mod tests`.
fn production_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .get(i + 1)
                .is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        out.push((i + 1, code));
    }
    out
}

fn violations() -> Vec<String> {
    let root = root();
    let mut all = Vec::new();
    rust_files(&root.join("src"), &mut all);
    let test_only = test_only_files(&all);
    let production: Vec<&PathBuf> = all.iter().filter(|f| !test_only.contains(f)).collect();
    let mut found = Vec::new();
    for file in &production {
        let relative = file.strip_prefix(&root).unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        for (line_no, code) in production_lines(&text) {
            for (place, forbidden, why) in RULES {
                if !relative.starts_with(place) {
                    continue;
                }
                for name in *forbidden {
                    if code.contains(name) {
                        found.push(format!(
                            "{}:{line_no}: names `{name}`: {why}\n    {}",
                            relative.display(),
                            code.trim()
                        ));
                    }
                }
            }
            if !relative.starts_with(CLAP_ONLY_IN) && code.contains("clap") {
                found.push(format!(
                    "{}:{line_no}: uses clap outside cmd/\n    {}",
                    relative.display(),
                    code.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn the_layout_rules_of_docs_architecture_md_hold() {
    let found = violations();
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_rule_checker_sees_a_forbidden_import() {
    // The checker itself must be able to fail: a graph file naming lvm.
    let lines = production_lines(
        "use crate::lvm::runner;\n#[cfg(test)]\nmod tests {\n    use crate::apply::fake;\n}\n",
    );
    assert_eq!(lines.len(), 1);
    let (_, forbidden, _) = RULES.iter().find(|r| r.0 == "src/graph").unwrap();
    assert!(forbidden.iter().any(|name| lines[0].1.contains(name)));
    assert!(!lines.iter().any(|(_, l)| l.contains("crate::apply")));
}

#[test]
fn the_rules_are_in_docs_architecture_md() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    for (place, _, _) in RULES {
        let module = place.trim_start_matches("src/").trim_end_matches(".rs");
        assert!(
            doc.contains(&format!("`{module}")),
            "docs/architecture.md does not describe {module}"
        );
    }
}
