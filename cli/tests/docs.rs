//! The repository's Markdown says what the code does and renders as meant:
//!
//! * every Markdown file has balanced code fences (an unclosed ``` turns
//!   the rest of the file into a code block);
//! * docs/CLI.md's `--caps` table lists every preset the CLI accepts, for
//!   every architecture (the table `--help` and the library also give).

use iommu_inval::core::ArchId;
use iommu_inval::{Arch, ArchOps};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds cli/")
        .to_path_buf()
}

/// The Markdown files of the checkout: every `*.md` outside build output
/// (`target` directories), hidden directories and fuzzing output.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ty) = e.file_type() else { continue };
        if ty.is_dir() {
            let skip = name.starts_with('.')
                || name == "target"
                || name == "corpus"
                || name == "corpus-long"
                || name == "artifacts"
                || name == "coverage";
            if !skip {
                markdown_files(&path, out);
            }
        } else if ty.is_file() && name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// Line numbers (1-based) of the lines that open or close a fenced code
/// block: up to three spaces, then three or more backticks (CommonMark).
fn fence_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start_matches(' ');
            l.len() - t.len() <= 3 && t.starts_with("```")
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn fence_lines_are_found() {
    assert_eq!(
        fence_lines("a\n```rust\nx\n```\n    ```not a fence\n   ```\n"),
        [2, 4, 6]
    );
}

#[test]
fn every_markdown_file_has_balanced_code_fences() {
    let mut files = Vec::new();
    markdown_files(&root(), &mut files);
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("docs/CLI.md"))
            && files.iter().any(|f| f.ends_with("README.md")),
        "the walk found the repository's Markdown: {files:?}"
    );
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let fences = fence_lines(&text);
        if !fences.len().is_multiple_of(2) {
            let rel = f.strip_prefix(root()).unwrap_or(f);
            bad.push(format!(
                "{}: {} fence lines ({:?}): one is not closed",
                rel.display(),
                fences.len(),
                fences
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "unbalanced code fences:\n{}",
        bad.join("\n")
    );
}

#[test]
fn cli_md_caps_table_lists_every_preset() {
    let path = root().join("docs/CLI.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = text
        .find("## Emulated IOMMU capabilities")
        .expect("docs/CLI.md has the --caps section");
    let section = &text[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let rows: Vec<(&str, &str)> = section[..end]
        .lines()
        .filter_map(|l| {
            let mut cells = l.strip_prefix('|')?.split('|').map(str::trim);
            Some((cells.next()?, cells.next()?.trim_matches('`')))
        })
        .collect();
    let mut missing = Vec::new();
    for arch in ArchId::ALL {
        for preset in Arch::new(arch).presets() {
            if !rows.contains(&(arch.name(), preset)) {
                missing.push(format!("{} {preset}", arch.name()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/CLI.md's --caps table lacks: {}",
        missing.join(", ")
    );
    // And lists nothing the CLI does not accept.
    for (arch, preset) in rows {
        if let Some(id) = ArchId::from_name(arch) {
            assert!(
                Arch::new(id).decode_features(preset).is_some(),
                "docs/CLI.md lists {arch} {preset}, which --caps refuses"
            );
        }
    }
}
