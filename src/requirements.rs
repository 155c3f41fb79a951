//! Reading what the user asked for: requirements files into a pinned set.
//!
//! This module owns the pip requirements-file syntax as written by `uv pip compile` and
//! `pip-compile`: comments, `\` line continuations, per-requirement `--hash=sha256:…` options (one
//! or many), PEP 508 environment markers (evaluated against the *target* Lambda runtime, never the
//! host; a requirement whose marker is false is skipped and recorded), nested `-r` files, and the
//! index options `--index-url`, `--extra-index-url`, `--find-links` and `--no-index`.
//!
//! A requirements file is what the user asked for, not a lock: pins bring their dependencies,
//! as with pip and uv (the build resolves it). Only pip's hash-checking mode makes it a complete
//! lock: once one line has `--hash` (or the file says `--require-hashes`), every requirement must
//! be pinned with `==` and hashed — all or nothing, as pip enforces — and
//! [`RequirementSet::hashed`] tells the build to take the pins as they are.

pub mod origin;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::{Operator, Version};
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VersionOrUrl};

use crate::target::Target;
use crate::wheel::normalize_name;

#[derive(Debug, thiserror::Error)]
pub enum RequirementsError {
    #[error("cannot read requirements file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Syntax { location: String, message: String },
    #[error(
        "{count} requirement(s) are not pinned to an exact version:\n{lines}\n  hint: resolve them with `lpack lock -r FILE -o pylock.toml` (or let `lpack build` resolve them)"
    )]
    Unpinned { count: usize, lines: String },
    #[error(
        "{location}: `{name}` is pinned twice with different versions ({first} and {second})\n  hint: keep one pin per package"
    )]
    Conflict {
        location: String,
        name: String,
        first: String,
        second: String,
    },
    #[error("{location}: `-r {file}` includes itself (a requirements file cycle)")]
    Cycle { location: String, file: String },
    #[error(
        "{location}: `{spec}` {problem}, but {why}: hash-checking mode (pip's) is all or nothing\n  hint: regenerate the file with hashes for every requirement (`uv pip compile --generate-hashes`), or remove every --hash so that lpack resolves it"
    )]
    HashMode {
        location: String,
        spec: String,
        problem: &'static str,
        why: String,
    },
}

/// Where packages come from, as set by the requirements file and the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexOptions {
    /// Primary index (`--index-url`); `None` = the default index.
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    /// Local directories or URLs of HTML pages listing wheels.
    pub find_links: Vec<String>,
    /// `--no-index`: only `find_links`.
    pub no_index: bool,
}

/// One pinned requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// PEP 503 normalised name.
    pub name: String,
    pub version: Version,
    /// Allowed sha256 digests (lowercase hex); empty = no hash checking for this pin.
    pub hashes: Vec<String>,
    /// `file:line` where the pin was written.
    pub location: String,
    /// A direct wheel (`name @ URL`): (file name, where it is). No index is asked.
    pub direct: Option<(String, FileLocation)>,
}

/// A requirement skipped because its marker is false for the target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub requirement: String,
    pub location: String,
}

/// A fully pinned requirement set for one target.
#[derive(Debug, Clone)]
pub struct PinnedSet {
    /// Sorted by name.
    pub pins: Vec<Pin>,
    pub index: IndexOptions,
    pub skipped: Vec<Skipped>,
}

/// Build the PEP 508 marker environment of a target.
pub fn marker_environment(target: &Target) -> MarkerEnvironment {
    let v = target.marker_values();
    let builder = MarkerEnvironmentBuilder {
        implementation_name: v.implementation_name,
        implementation_version: v.implementation_version,
        os_name: v.os_name,
        platform_machine: v.platform_machine,
        platform_python_implementation: v.platform_python_implementation,
        platform_release: "",
        platform_system: v.platform_system,
        platform_version: "",
        python_full_version: v.python_full_version,
        python_version: &v.python_version,
        sys_platform: v.sys_platform,
    };
    // The versions are constants of this crate and always parse.
    MarkerEnvironment::try_from(builder).unwrap_or_else(|e| panic!("bad built-in marker env: {e}"))
}

/// A logical line: continuation lines joined, comment stripped, with its first line number.
struct LogicalLine {
    text: String,
    line: usize,
}

fn logical_lines(content: &str) -> Vec<LogicalLine> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut start = 0;
    for (i, raw) in content.lines().enumerate() {
        if buf.is_empty() {
            start = i + 1;
        }
        if let Some(stripped) = raw.strip_suffix('\\') {
            buf.push_str(stripped);
            buf.push(' ');
            continue;
        }
        buf.push_str(raw);
        let text = strip_comment(&buf).trim().to_string();
        if !text.is_empty() {
            out.push(LogicalLine { text, line: start });
        }
        buf.clear();
    }
    let text = strip_comment(&buf).trim().to_string();
    if !text.is_empty() {
        out.push(LogicalLine { text, line: start });
    }
    out
}

/// Parse one PEP 508 requirement. Use this, never `Requirement::from_str` directly:
/// pep508_rs 0.9.2 panics (an `expect`) on a project or extra name that ends in `.`, `-` or `_`
/// and is followed by more text (`numpy.;…`, `pkg[a.]`), which any METADATA or requirements
/// file can hold (found by fuzzing). Such names are refused here first.
pub fn parse_requirement(
    spec: &str,
) -> Result<Requirement<pep508_rs::VerbatimUrl>, pep508_rs::Pep508Error<pep508_rs::VerbatimUrl>> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let bad = |name: &str, start: usize| pep508_rs::Pep508Error {
        message: pep508_rs::Pep508ErrorSource::String(format!(
            "name `{name}` must end with a letter or digit"
        )),
        start,
        len: name.len(),
        input: spec.to_string(),
    };
    // pep508_rs 0.9.2 also slices its input by a character count after a marker expression
    // (panics inside a multi-byte character): non-ASCII text is accepted only inside a direct
    // URL (`name @ URL`, before any `;`), where its parser counts bytes.
    let url = spec
        .find('@')
        .filter(|&at| spec.find(';').is_none_or(|semi| at < semi));
    let url_span = url.map(|at| {
        let from = at + 1 + (spec[at + 1..].len() - spec[at + 1..].trim_start().len());
        let to = spec[from..]
            .find(char::is_whitespace)
            .map_or(spec.len(), |i| from + i);
        from..to
    });
    if let Some((i, c)) = spec
        .char_indices()
        .find(|&(i, c)| !c.is_ascii() && !url_span.as_ref().is_some_and(|r| r.contains(&i)))
    {
        return Err(pep508_rs::Pep508Error {
            message: pep508_rs::Pep508ErrorSource::String(format!(
                "non-ASCII character `{c}` outside a URL"
            )),
            start: i,
            len: c.len_utf8(),
            input: spec.to_string(),
        });
    }
    let start = spec.len() - spec.trim_start().len();
    let rest = &spec[start..];
    let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
    let name = &rest[..end];
    if name.ends_with(['.', '-', '_']) {
        return Err(bad(name, start));
    }
    let after = rest[end..].trim_start();
    if let Some(extras) = after.strip_prefix('[') {
        let extras = extras.split(']').next().unwrap_or("");
        for extra in extras.split(',').map(str::trim) {
            let name_part = &extra[..extra.find(|c: char| !is_name(c)).unwrap_or(extra.len())];
            if name_part.ends_with(['.', '-', '_']) {
                return Err(bad(name_part, start));
            }
        }
    }
    Requirement::from_str(spec)
}

/// pip's rule: `#` at the start of a line or after whitespace begins a comment.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// Split `--opt=value` / `--opt value` from a token stream.
fn take_value<'a>(
    tok: &'a str,
    names: &[&str],
    rest: &mut std::slice::Iter<'a, &'a str>,
) -> Option<Option<&'a str>> {
    for name in names {
        if tok == *name {
            return Some(rest.next().copied());
        }
        if let Some(v) = tok.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(Some(v));
        }
        // `-rfile` short form
        if name.len() == 2
            && !name.starts_with("--")
            && tok.starts_with(name)
            && tok.len() > 2
            && !tok.starts_with("--")
        {
            return Some(Some(&tok[2..]));
        }
    }
    None
}

struct Reader {
    env: MarkerEnvironment,
    pins: BTreeMap<String, Pin>,
    unpinned: Vec<String>,
    all: Vec<Requirement<pep508_rs::VerbatimUrl>>,
    constraints: Vec<Requirement<pep508_rs::VerbatimUrl>>,
    skipped: Vec<Skipped>,
    index: IndexOptions,
    stack: Vec<PathBuf>,
    /// `--require-hashes` was given (at `file:line`).
    require_hashes: Option<String>,
    /// Every requirement line whose marker holds: (location, spec, hashed, pinned with `==`).
    lines: Vec<(String, String, bool, bool)>,
}

/// A requirements file read for one target: the exact pins, and every requirement (pinned or
/// not) for the resolver.
#[derive(Debug, Clone)]
pub struct RequirementSet {
    /// The pinned lines (with their hashes); when `unpinned` is empty this is the whole set.
    pub pinned: PinnedSet,
    /// Every requirement whose marker holds for the target, as written.
    pub requirements: Vec<Requirement<pep508_rs::VerbatimUrl>>,
    /// `file:line: spec` of each requirement that is not `name==version`.
    pub unpinned: Vec<String>,
    /// Constraints (`-c FILE`): they narrow a package's versions wherever it is required,
    /// without requiring it.
    pub constraints: Vec<Requirement<pep508_rs::VerbatimUrl>>,
    /// pip's hash-checking mode: every requirement is pinned with `==` and hashed (checked when
    /// reading), so the file is a complete lock.
    pub hashed: bool,
}

/// Read a requirements file for `target`, pinned or loose.
pub fn read_requirements(
    path: &Path,
    target: &Target,
) -> Result<RequirementSet, RequirementsError> {
    let mut reader = Reader {
        env: marker_environment(target),
        pins: BTreeMap::new(),
        unpinned: Vec::new(),
        all: Vec::new(),
        constraints: Vec::new(),
        skipped: Vec::new(),
        index: IndexOptions::default(),
        stack: Vec::new(),
        require_hashes: None,
        lines: Vec::new(),
    };
    reader.read_file(path, None)?;
    let hashed = reader.check_hash_mode()?;
    Ok(RequirementSet {
        hashed,
        pinned: PinnedSet {
            pins: reader.pins.into_values().collect(),
            index: reader.index,
            skipped: reader.skipped,
        },
        requirements: reader.all,
        unpinned: reader.unpinned,
        constraints: reader.constraints,
    })
}

/// Read a fully pinned requirements file for `target`; unpinned lines are an error.
pub fn read_pinned(path: &Path, target: &Target) -> Result<PinnedSet, RequirementsError> {
    let set = read_requirements(path, target)?;
    if !set.unpinned.is_empty() {
        return Err(RequirementsError::Unpinned {
            count: set.unpinned.len(),
            lines: set
                .unpinned
                .iter()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    Ok(set.pinned)
}

impl Reader {
    /// pip's hash-checking mode: on once any line has `--hash` (or `--require-hashes` is given);
    /// then every requirement must be hashed and pinned with `==`, else the first that is not is
    /// an error. Returns whether the mode is on.
    fn check_hash_mode(&self) -> Result<bool, RequirementsError> {
        let first_hashed = self.lines.iter().find(|l| l.2);
        let why = match (&self.require_hashes, first_hashed) {
            (Some(at), _) => format!("{at} asks for --require-hashes"),
            (None, Some((at, spec, _, _))) => format!("`{spec}` ({at}) has --hash"),
            (None, None) => return Ok(false),
        };
        for (location, spec, hashed, pinned) in &self.lines {
            let problem = if !hashed {
                "has no --hash"
            } else if !pinned {
                "is not pinned with =="
            } else {
                continue;
            };
            return Err(RequirementsError::HashMode {
                location: location.clone(),
                spec: spec.clone(),
                problem,
                why,
            });
        }
        Ok(true)
    }

    fn read_file(&mut self, path: &Path, from: Option<&str>) -> Result<(), RequirementsError> {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canonical) {
            return Err(RequirementsError::Cycle {
                location: from.unwrap_or("").to_string(),
                file: path.display().to_string(),
            });
        }
        let content = std::fs::read_to_string(path).map_err(|source| RequirementsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.stack.push(canonical);
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        for ll in logical_lines(&content) {
            let location = format!("{}:{}", path.display(), ll.line);
            if ll.text.starts_with('-') {
                self.option(&ll.text, &location, &base)?;
            } else {
                self.requirement(&ll.text, &location)?;
            }
        }
        self.stack.pop();
        Ok(())
    }

    fn option(&mut self, text: &str, location: &str, base: &Path) -> Result<(), RequirementsError> {
        let toks: Vec<&str> = text.split_whitespace().collect();
        let mut it = toks.iter();
        let syntax = |message: String| RequirementsError::Syntax {
            location: location.to_string(),
            message,
        };
        while let Some(tok) = it.next() {
            let need = |v: Option<&str>| {
                v.map(str::to_string)
                    .ok_or_else(|| syntax(format!("`{tok}` needs a value")))
            };
            if let Some(v) = take_value(tok, &["-r", "--requirement"], &mut it) {
                let file = need(v)?;
                let nested = base.join(&file);
                self.read_file(&nested, Some(location))?;
            } else if let Some(v) = take_value(tok, &["-i", "--index-url"], &mut it) {
                self.index.index_url = Some(need(v)?);
            } else if let Some(v) = take_value(tok, &["--extra-index-url"], &mut it) {
                self.index.extra_index_urls.push(need(v)?);
            } else if let Some(v) = take_value(tok, &["-f", "--find-links"], &mut it) {
                let v = need(v)?;
                let is_url = v.contains("://");
                let resolved = if is_url || Path::new(&v).is_absolute() {
                    v
                } else {
                    base.join(&v).display().to_string()
                };
                self.index.find_links.push(resolved);
            } else if *tok == "--no-index" {
                self.index.no_index = true;
            } else if let Some(v) = take_value(
                tok,
                &[
                    "--trusted-host",
                    "--only-binary",
                    "--no-binary",
                    "--platform",
                    "--python-version",
                ],
                &mut it,
            ) {
                // Accepted for compatibility; lpack always uses wheels for the target.
                need(v)?;
            } else if *tok == "--require-hashes" {
                self.require_hashes
                    .get_or_insert_with(|| location.to_string());
            } else if matches!(*tok, "--prefer-binary" | "--pre") {
                // Accepted: lpack only uses wheels; pins make --pre moot.
            } else if let Some(v) = take_value(tok, &["-c", "--constraint"], &mut it) {
                let file = base.join(need(v)?);
                let text =
                    std::fs::read_to_string(&file).map_err(|source| RequirementsError::Read {
                        path: file.clone(),
                        source,
                    })?;
                for ll in logical_lines(&text) {
                    if ll.text.starts_with('-') {
                        continue;
                    }
                    let spec: Vec<&str> = ll
                        .text
                        .split_whitespace()
                        .take_while(|t| !t.starts_with("--"))
                        .collect();
                    let spec = spec.join(" ");
                    let r = parse_requirement(&spec).map_err(|e| RequirementsError::Syntax {
                        location: format!("{}:{}", file.display(), ll.line),
                        message: format!("cannot parse constraint `{spec}`: {e}"),
                    })?;
                    if r.evaluate_markers(&self.env, &[]) {
                        self.constraints.push(r);
                    }
                }
            } else if matches!(*tok, "-e" | "--editable") || tok.starts_with("--editable=") {
                return Err(syntax(
                    "editable requirements (`-e`) cannot be packaged for Lambda\n  hint: build a wheel of the project and pin it, or put its code in --src".to_string(),
                ));
            } else {
                return Err(syntax(format!(
                    "unsupported option `{tok}` in a requirements file"
                )));
            }
        }
        Ok(())
    }

    fn requirement(&mut self, text: &str, location: &str) -> Result<(), RequirementsError> {
        let syntax = |message: String| RequirementsError::Syntax {
            location: location.to_string(),
            message,
        };
        let (spec, hashes) = split_options(text, location)?;
        let req = parse_requirement(&spec)
            .map_err(|e| syntax(format!("cannot parse requirement `{spec}`: {e}")))?;
        if !req.evaluate_markers(&self.env, &[]) {
            self.skipped.push(Skipped {
                requirement: spec,
                location: location.to_string(),
            });
            return Ok(());
        }
        let name = normalize_name(req.name.as_ref());
        self.all.push(req.clone());
        let version = pinned_version(&req);
        self.lines.push((
            location.to_string(),
            spec.clone(),
            text.contains("--hash"),
            version.is_some(),
        ));
        let Some(version) = version else {
            self.unpinned.push(format!("{location}: {spec}"));
            return Ok(());
        };
        if hashes.is_empty() && text.contains("--hash") {
            return Err(syntax(format!(
                "`{name}` has hashes but none is sha256\n  hint: regenerate with `uv pip compile --generate-hashes`"
            )));
        }
        self.add_pin(name, version, hashes, location)
    }

    /// Record the pin `name == version`: same version adds hashes, another one is a conflict.
    fn add_pin(
        &mut self,
        name: String,
        version: Version,
        hashes: Vec<String>,
        location: &str,
    ) -> Result<(), RequirementsError> {
        match self.pins.get_mut(&name) {
            Some(existing) if existing.version != version => {
                return Err(RequirementsError::Conflict {
                    location: location.to_string(),
                    name,
                    first: existing.version.to_string(),
                    second: version.to_string(),
                });
            }
            Some(existing) => {
                for h in hashes {
                    if !existing.hashes.contains(&h) {
                        existing.hashes.push(h);
                    }
                }
            }
            None => {
                self.pins.insert(
                    name.clone(),
                    Pin {
                        name,
                        version,
                        hashes,
                        location: location.to_string(),
                        direct: None,
                    },
                );
            }
        }
        Ok(())
    }
}

/// The PEP 508 part of a requirement line and its sha256 `--hash` values (lowercase).
fn split_options(text: &str, location: &str) -> Result<(String, Vec<String>), RequirementsError> {
    let syntax = |message: String| RequirementsError::Syntax {
        location: location.to_string(),
        message,
    };
    // Split per-requirement options (`--hash`) from the PEP 508 part.
    let mut spec = Vec::new();
    let mut hashes = Vec::new();
    let toks: Vec<&str> = text.split_whitespace().collect();
    let mut it = toks.iter();
    while let Some(tok) = it.next() {
        if let Some(v) = take_value(tok, &["--hash"], &mut it) {
            let v = v.ok_or_else(|| syntax("`--hash` needs a value".to_string()))?;
            let (algo, hex) = v
                .split_once(':')
                .ok_or_else(|| syntax(format!("bad hash `{v}`: expected sha256:<hex>")))?;
            match algo {
                "sha256" => {
                    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(syntax(format!(
                            "bad sha256 `{hex}`: expected 64 hex digits"
                        )));
                    }
                    hashes.push(hex.to_ascii_lowercase());
                }
                "sha384" | "sha512" => {} // valid pip hashes; lpack verifies sha256 only
                _ => return Err(syntax(format!("unsupported hash algorithm `{algo}`"))),
            }
        } else if tok.starts_with("--") {
            return Err(syntax(format!(
                "unsupported per-requirement option `{tok}`"
            )));
        } else {
            spec.push(*tok);
        }
    }
    Ok((spec.join(" "), hashes))
}

/// The version a requirement pins exactly (`==` or `===` with one specifier), if any.
fn pinned_version(req: &Requirement) -> Option<Version> {
    match &req.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specs)) if specs.len() == 1 => {
            let s = &specs[0];
            match s.operator() {
                Operator::Equal | Operator::ExactEqual => Some(s.version().clone()),
                _ => None,
            }
        }
        // A direct wheel is resolved (its dependencies come from its metadata).
        Some(VersionOrUrl::Url(_)) => None,
        _ => None,
    }
}

/// Where a distribution file lives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileLocation {
    Url(String),
    Path(std::path::PathBuf),
}

impl FileLocation {
    /// For messages and manifests: credentials removed.
    pub fn display(&self) -> String {
        match self {
            FileLocation::Url(u) => crate::http::redact(u),
            FileLocation::Path(p) => p.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Runtime};

    #[test]
    fn names_ending_in_a_separator_are_errors_not_panics() {
        // Regression (fuzzing, metadata target): pep508_rs panics on these.
        for bad in [
            "numpy.;python_version>'3'",
            "aws-lambda-`owertools",
            "numpy- >=1",
            "pkg[a.]",
            "pkg [x, y_ ]>=1",
            // Regression (fuzzing): a character count used as a byte length after a marker.
            "numpy>=1.26; python_version >= \"3\" p\u{fffd}\tsDist",
            "x ; python_version>\"1\" @\u{e9}",
        ] {
            assert!(parse_requirement(bad).is_err(), "{bad}");
        }
        for good in [
            "numpy>=1.26",
            "numpy.",
            "pandas[excel] (>=2)",
            "a.b-c_d==1",
            "x @ https://e/x.whl",
            "x @ file:///home/jos\u{e9}/x-1.0-py3-none-any.whl ; python_version > \"3\"",
        ] {
            assert_eq!(
                parse_requirement(good).is_ok(),
                Requirement::<pep508_rs::VerbatimUrl>::from_str(good).is_ok(),
                "{good}"
            );
        }
    }

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        p
    }

    fn target(rt: Runtime, arch: Arch) -> Target {
        Target::new(rt, arch)
    }

    #[test]
    fn parses_uv_compile_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = "# This file was autogenerated by uv\n\
            --index-url https://example.org/simple\n\
            numpy==2.3.1 \\\n    --hash=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa \\\n    --hash=sha256:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\n    # via pandas\n\
            Pandas_Stubs==2.0 ; python_version < \"3.12\" --hash=sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n\
            tzdata==2025.2 ; sys_platform == 'linux' and platform_machine == 'aarch64' --hash=sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd # comment\n";
        let p = write(dir.path(), "req.txt", body);
        let set = read_pinned(&p, &target(Runtime::Python312, Arch::Arm64)).expect("parse");
        assert_eq!(
            set.index.index_url.as_deref(),
            Some("https://example.org/simple")
        );
        let names: Vec<_> = set.pins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["numpy", "tzdata"]);
        assert_eq!(set.pins[0].hashes.len(), 2);
        assert_eq!(set.pins[0].hashes[1], "b".repeat(64));
        assert_eq!(set.skipped.len(), 1);

        let set311 = read_pinned(&p, &target(Runtime::Python311, Arch::X86_64)).expect("parse");
        let names: Vec<_> = set311.pins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["numpy", "pandas-stubs"]);
    }

    #[test]
    fn unpinned_lines_are_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "r.txt", "numpy>=2\nrequests\nsix==1.16.0\n");
        let err = read_pinned(&p, &target(Runtime::Python312, Arch::X86_64))
            .expect_err("unpinned must fail");
        let msg = err.to_string();
        assert!(msg.contains("2 requirement(s)"), "{msg}");
        assert!(msg.contains("r.txt:1: numpy>=2"), "{msg}");
        assert!(msg.contains("r.txt:2: requests"), "{msg}");
        assert!(msg.contains("lpack lock"), "{msg}");
    }

    #[test]
    fn nested_files_and_find_links_are_relative() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        write(
            dir.path(),
            "sub/inner.txt",
            "--find-links wheels\nsix==1.16.0\n",
        );
        let p = write(dir.path(), "outer.txt", "-r sub/inner.txt\nnumpy==2.0\n");
        let set = read_pinned(&p, &target(Runtime::Python312, Arch::X86_64)).expect("parse");
        assert_eq!(set.pins.len(), 2);
        assert!(set.index.find_links[0].ends_with("sub/wheels"));
    }

    #[test]
    fn cycles_and_conflicts_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write(dir.path(), "a.txt", "-r a.txt\n");
        let t = target(Runtime::Python312, Arch::X86_64);
        assert!(matches!(
            read_pinned(&p, &t),
            Err(RequirementsError::Cycle { .. })
        ));
        let p = write(dir.path(), "b.txt", "six==1.0\nsix==1.1\n");
        assert!(matches!(
            read_pinned(&p, &t),
            Err(RequirementsError::Conflict { .. })
        ));
    }

    #[test]
    fn hash_checking_mode_is_all_or_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = target(Runtime::Python312, Arch::X86_64);
        let h = "a".repeat(64);
        let p = write(dir.path(), "plain.txt", "six==1.16.0\nidna==3.7\n");
        assert!(!read_requirements(&p, &t).expect("read").hashed);
        let p = write(
            dir.path(),
            "all.txt",
            &format!("six==1.16.0 --hash=sha256:{h}\nidna==3.7 \\\n  --hash=sha256:{h}\n"),
        );
        assert!(read_requirements(&p, &t).expect("read").hashed);
        let p = write(
            dir.path(),
            "some.txt",
            &format!("six==1.16.0 --hash=sha256:{h}\nidna==3.7\n"),
        );
        let msg = read_requirements(&p, &t).expect_err("mixed").to_string();
        assert!(
            msg.contains("some.txt:2: `idna==3.7` has no --hash"),
            "{msg}"
        );
        assert!(msg.contains("all or nothing"), "{msg}");
        let p = write(
            dir.path(),
            "loose.txt",
            &format!("--require-hashes\nsix>=1 --hash=sha256:{h}\n"),
        );
        let msg = read_requirements(&p, &t).expect_err("loose").to_string();
        assert!(msg.contains("`six>=1` is not pinned with =="), "{msg}");
        assert!(
            msg.contains("loose.txt:1 asks for --require-hashes"),
            "{msg}"
        );
        // A line whose marker is false for the target does not count.
        let p = write(
            dir.path(),
            "marker.txt",
            &format!("six==1.16.0 --hash=sha256:{h}\nidna==3.7 ; python_version < '3'\n"),
        );
        assert!(read_requirements(&p, &t).expect("read").hashed);
    }

    #[test]
    fn comments_need_whitespace() {
        assert_eq!(strip_comment("pkg==1.0 # c"), "pkg==1.0 ");
        assert_eq!(strip_comment("# c"), "");
        assert_eq!(strip_comment("url#egg=x"), "url#egg=x");
    }
}
