//! The README and CONTRIBUTING.md point at files that exist (the docs site under `docs/` is
//! checked by `mkdocs build --strict` in scripts/test.sh, anchors included).

use std::path::Path;

/// Relative link targets of Markdown `[text](target)` links, outside code blocks.
fn relative_links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            let target = &after[..end];
            if !target.contains("://") && !target.starts_with('#') && !target.starts_with("mailto:")
            {
                out.push(target.split('#').next().unwrap_or(target).to_string());
            }
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn readme_and_contributing_links_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in ["README.md", "CONTRIBUTING.md"] {
        let text = std::fs::read_to_string(root.join(doc)).expect("read the doc");
        let links = relative_links(&text);
        assert!(
            !links.is_empty(),
            "{doc}: no relative links found (parser broken?)"
        );
        let broken: Vec<_> = links.iter().filter(|t| !root.join(t).exists()).collect();
        assert!(
            broken.is_empty(),
            "{doc} links to missing files: {broken:?}"
        );
    }
}

#[test]
fn every_docs_page_is_in_the_site_nav() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let nav = std::fs::read_to_string(root.join("mkdocs.yml")).expect("read mkdocs.yml");
    let mut missing = Vec::new();
    for e in std::fs::read_dir(root.join("docs")).expect("read docs/") {
        let name = e
            .expect("docs entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        if name.ends_with(".md") && !nav.contains(&format!(": {name}")) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "docs pages missing from mkdocs.yml's nav: {missing:?}"
    );
}

#[test]
fn link_parser_skips_code_and_external_links() {
    let md = "[a](x.md) [b](https://e.com) [c](#top)\n```\n[d](nope.md)\n```\n[e](docs/y.md#sec)";
    assert_eq!(relative_links(md), vec!["x.md", "docs/y.md"]);
}
