//! Recipes: slimming rules as data.
//!
//! Built-in rules live in `recipes/*.toml` and are embedded in the binary; users add rule files
//! (`--recipe FILE`) and one-off globs (`--keep GLOB`, `--drop GLOB`). A rule has an `id`, one or
//! more `glob`s matched against installed archive paths (`*` within a path component, `**`
//! across), an `action` (`drop`, `keep`, `strip`, or `omit` — leave out whole distributions,
//! dist-info included, which needs `dist` and no glob), an optional `dist` scope (one name or a
//! list, PEP 503-normalised), an optional `profile` (`safe` — the default — or `aggressive`),
//! optionally `python = "other"` (the rule matches only files the build's target cannot import:
//! extension modules tagged for another Python, see [`Target::imports_extension`]), a `reason`,
//! and optionally a `warning` shown when the rule removes anything.
//!
//! Precedence: an `omit` rule for the file's distribution wins outright; otherwise the first
//! tier with a matching rule decides, and within a tier `keep` beats `drop`:
//! 1. protected files (`*.dist-info/METADATA`, `entry_points.txt`, `top_level.txt`, `RECORD`,
//!    `WHEEL`): always kept, `importlib.metadata` needs them;
//! 2. `--keep` globs; 3. `--drop` globs; 4. `--recipe` files; 5. built-in recipes.
//!
//! `strip` rules mark ELF files for symbol stripping when they are kept.
//!
//! Files are parsed, then validated with spans: each diagnostic has a code (`R001`…) and points
//! at `file:line:col`. Every verdict names the rule that decided it, and a rule that matched
//! nothing in a build is reported as stale.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::Deserialize;
use toml::Spanned;

use crate::target::Target;
use crate::wheel::normalize_name;

/// The built-in recipe files, embedded at compile time.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "recipes/common.toml",
        include_str!("../../recipes/common.toml"),
    ),
    (
        "recipes/numpy.toml",
        include_str!("../../recipes/numpy.toml"),
    ),
    (
        "recipes/pandas.toml",
        include_str!("../../recipes/pandas.toml"),
    ),
    (
        "recipes/pyarrow.toml",
        include_str!("../../recipes/pyarrow.toml"),
    ),
    (
        "recipes/runtime-data.toml",
        include_str!("../../recipes/runtime-data.toml"),
    ),
    (
        "recipes/runtime-provided.toml",
        include_str!("../../recipes/runtime-provided.toml"),
    ),
];

/// Slimming profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// No slimming: wheels as published (bytecode for other Pythons is still left out)
    None,
    /// Strip .so symbols; drop tests, headers, sources, docs (never breaks imports)
    Safe,
    /// Safe, plus runtime-provided packages (boto3…), optional pyarrow parts, type stubs
    Aggressive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Drop,
    Keep,
    Strip,
    Omit,
}

/// Rule ids of `--force-drop` globs start with this.
pub const FORCE_DROP: &str = "cli.force-drop-";

/// Where a rule came from, which sets its precedence tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Protected = 0,
    UserKeep = 1,
    UserDrop = 2,
    UserFile = 3,
    Builtin = 4,
}

#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error("{file}:{line}:{col}: error[{code}]: {message}")]
    Invalid {
        file: String,
        line: usize,
        col: usize,
        code: &'static str,
        message: String,
    },
    #[error("cannot read recipe file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    action: Spanned<String>,
    #[serde(default)]
    glob: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    dist: Option<OneOrMany>,
    #[serde(default)]
    profile: Option<Spanned<String>>,
    reason: String,
    #[serde(default)]
    warning: Option<String>,
    #[serde(default)]
    category: Option<Spanned<String>>,
    /// `"other"`: the rule matches only files the target's Python cannot import (extension
    /// modules built for another Python version, interpreter or platform).
    #[serde(default)]
    python: Option<Spanned<String>>,
}

/// Size-report categories a rule can file its removals under.
pub const CATEGORIES: &[&str] = &[
    "stripped",
    "tests",
    "sources",
    "docs",
    "bytecode",
    "runtime-provided",
    "optional",
    "duplicates",
    "user",
    "other",
];

/// One validated rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub action: Action,
    pub globs: Vec<String>,
    matchers: Vec<GlobMatcher>,
    /// Normalised distribution names; empty = every distribution.
    pub dists: BTreeSet<String>,
    pub profile: Profile,
    pub reason: String,
    pub warning: Option<String>,
    /// Size-report category (see [`CATEGORIES`]).
    pub category: String,
    pub tier: Tier,
    pub origin: String,
    /// `python = "other"`: only files the target cannot import match.
    pub other_python: bool,
    /// The build's target (set by [`RecipeSet::set_target`]); without it an `other_python` rule
    /// matches nothing.
    target: Option<Target>,
    hits: AtomicU64,
}

impl Rule {
    fn applies_to(&self, dist: &str) -> bool {
        self.dists.is_empty() || self.dists.contains(dist)
    }

    pub fn matches(&self, dist: &str, path: &str) -> bool {
        if self.other_python
            && self
                .target
                .as_ref()
                .is_none_or(|t| t.imports_extension(path))
        {
            return false;
        }
        self.applies_to(dist) && self.matchers.iter().any(|m| m.is_match(path))
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |p| before.len() - p - 1)
        + 1;
    (line, col)
}

fn compile_glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g: Glob| g.compile_matcher())
}

fn parse_action(s: &str) -> Option<Action> {
    match s {
        "drop" => Some(Action::Drop),
        "keep" => Some(Action::Keep),
        "strip" => Some(Action::Strip),
        "omit" => Some(Action::Omit),
        _ => None,
    }
}

/// Parse and validate one recipe file's text.
pub fn parse_file(name: &str, src: &str, tier: Tier) -> Result<Vec<Rule>, RecipeError> {
    let file = RecipeText { name, src };
    let raw: RawFile = toml::from_str(src).map_err(|e| {
        file.err(
            e.span().unwrap_or(0..0),
            "R001",
            e.message().trim().to_string(),
        )
    })?;
    raw.rule.into_iter().map(|r| file.rule(r, tier)).collect()
}

/// One recipe file's name and text, for errors that point at a line and column.
struct RecipeText<'a> {
    name: &'a str,
    src: &'a str,
}

type Span = std::ops::Range<usize>;

impl RecipeText<'_> {
    fn err(&self, span: Span, code: &'static str, message: String) -> RecipeError {
        let (line, col) = line_col(self.src, span.start);
        RecipeError::Invalid {
            file: self.name.to_string(),
            line,
            col,
            code,
            message,
        }
    }

    /// One `[[rule]]` table, checked.
    fn rule(&self, spanned: Spanned<RawRule>, tier: Tier) -> Result<Rule, RecipeError> {
        let span = spanned.span();
        let r = spanned.into_inner();
        let id = r.id.get_ref().trim().to_string();
        if id.is_empty() || id.contains(char::is_whitespace) {
            return Err(self.err(
                r.id.span(),
                "R002",
                format!("rule id `{id}` must be a non-empty word"),
            ));
        }
        let action = parse_action(r.action.get_ref()).ok_or_else(|| {
            self.err(
                r.action.span(),
                "R003",
                format!(
                    "unknown action `{}` (expected drop, keep, strip or omit)",
                    r.action.get_ref()
                ),
            )
        })?;
        let profile = match r.profile.as_ref().map(|p| p.get_ref().as_str()) {
            None | Some("safe") => Profile::Safe,
            Some("aggressive") => Profile::Aggressive,
            Some(other) => {
                let sp = r.profile.as_ref().map_or(span.clone(), |p| p.span());
                return Err(self.err(
                    sp,
                    "R004",
                    format!("unknown profile `{other}` (expected safe or aggressive)"),
                ));
            }
        };
        let glob_span = r.glob.as_ref().map_or(span.clone(), |g| g.span());
        let (globs, matchers) = self.globs(&id, r.glob, action, glob_span.clone())?;
        let dists: BTreeSet<String> = r
            .dist
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .map(|d| normalize_name(d))
            .collect();
        if action == Action::Omit && dists.is_empty() {
            return Err(self.err(
                span,
                "R009",
                format!("rule `{id}`: `omit` needs `dist` (the distributions to leave out)"),
            ));
        }
        if action == Action::Drop && dists.is_empty() && globs.iter().any(|g| g == "**" || g == "*")
        {
            return Err(self.err(
                glob_span,
                "R007",
                format!("rule `{id}` would drop every file of every package; scope it with `dist`"),
            ));
        }
        let category = self.category(r.category, tier)?;
        let other_python = self.other_python(r.python.as_ref())?;
        Ok(Rule {
            id,
            action,
            globs,
            matchers,
            dists,
            profile,
            reason: r.reason,
            warning: r.warning,
            category,
            tier,
            origin: self.name.to_string(),
            other_python,
            target: None,
            hits: AtomicU64::new(0),
        })
    }

    /// A rule's globs (`omit` takes none and means every file), each a relative archive path
    /// pattern, compiled.
    fn globs(
        &self,
        id: &str,
        glob: Option<Spanned<OneOrMany>>,
        action: Action,
        glob_span: Span,
    ) -> Result<(Vec<String>, Vec<GlobMatcher>), RecipeError> {
        let globs = match (glob, action) {
            (Some(g), Action::Omit) => {
                return Err(self.err(
                    g.span(),
                    "R009",
                    format!("rule `{id}`: `omit` leaves out whole distributions and takes no glob"),
                ));
            }
            (None, Action::Omit) => vec!["**".to_string()],
            (Some(g), _) => g.into_inner().into_vec(),
            (None, _) => Vec::new(),
        };
        if globs.is_empty() {
            return Err(self.err(glob_span, "R005", format!("rule `{id}` has no glob")));
        }
        let mut matchers = Vec::new();
        for g in &globs {
            if g.starts_with('/') || g.contains('\\') && !g.contains("\\*") {
                return Err(self.err(
                    glob_span.clone(),
                    "R006",
                    format!("glob `{g}` must be a relative archive path pattern using `/`"),
                ));
            }
            matchers.push(compile_glob(g).map_err(|e| {
                self.err(
                    glob_span.clone(),
                    "R006",
                    format!("invalid glob `{g}`: {e}"),
                )
            })?);
        }
        Ok((globs, matchers))
    }

    /// The size-report category a rule files its removals under.
    fn category(&self, c: Option<Spanned<String>>, tier: Tier) -> Result<String, RecipeError> {
        match c {
            Some(c) if CATEGORIES.contains(&c.get_ref().as_str()) => Ok(c.into_inner()),
            Some(c) => Err(self.err(
                c.span(),
                "R010",
                format!(
                    "unknown category `{}` (expected one of {})",
                    c.get_ref(),
                    CATEGORIES.join(", ")
                ),
            )),
            None if tier == Tier::Builtin => Ok("other".to_string()),
            None => Ok("user".to_string()),
        }
    }

    /// `python = "other"`: the rule matches only files the target's Python cannot import.
    fn other_python(&self, p: Option<&Spanned<String>>) -> Result<bool, RecipeError> {
        match p {
            None => Ok(false),
            Some(p) if p.get_ref() == "other" => Ok(true),
            Some(p) => Err(self.err(
                p.span(),
                "R011",
                format!(
                    "unknown python `{}` (expected \"other\": files the target's Python cannot import)",
                    p.get_ref()
                ),
            )),
        }
    }
}

/// The verdict of the rule set on one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// Rule that decided keep/drop (`None`: kept by default, no rule matched).
    pub rule: Option<String>,
    /// Strip rule that applies, when the file is kept.
    pub strip: Option<String>,
    /// Every rule that matched (for stale-rule accounting of cached fragments).
    pub matched: Vec<String>,
}

/// The effective rules of one build.
#[derive(Debug)]
pub struct RecipeSet {
    pub profile: Profile,
    rules: Vec<Rule>,
    /// sha256 over the effective rules: part of the slim cache key.
    pub digest: String,
}

const PROTECTED: &[&str] = &[
    "*.dist-info/METADATA",
    "*.dist-info/entry_points.txt",
    "*.dist-info/top_level.txt",
    "*.dist-info/RECORD",
    "*.dist-info/WHEEL",
];

impl RecipeSet {
    /// Build the effective set: built-ins for the profile, user files, then command-line globs.
    pub fn load(
        profile: Profile,
        user_files: &[&Path],
        keep: &[String],
        drop: &[String],
    ) -> Result<RecipeSet, RecipeError> {
        let mut rules = Vec::new();
        for (i, g) in PROTECTED.iter().enumerate() {
            rules.push(cli_rule(
                &format!("protect.dist-info-{i}"),
                g,
                Action::Keep,
                Tier::Protected,
            )?);
        }
        for (i, g) in keep.iter().enumerate() {
            rules.push(cli_rule(
                &format!("cli.keep-{}", i + 1),
                g,
                Action::Keep,
                Tier::UserKeep,
            )?);
        }
        for (i, g) in drop.iter().enumerate() {
            rules.push(cli_rule(
                &format!("cli.drop-{}", i + 1),
                g,
                Action::Drop,
                Tier::UserDrop,
            )?);
        }
        for f in user_files {
            let src = std::fs::read_to_string(f).map_err(|source| RecipeError::Read {
                path: f.display().to_string(),
                source,
            })?;
            rules.extend(parse_file(&f.display().to_string(), &src, Tier::UserFile)?);
        }
        if profile != Profile::None {
            for (name, src) in BUILTIN {
                rules.extend(
                    parse_file(name, src, Tier::Builtin)?
                        .into_iter()
                        .filter(|r| r.profile <= profile),
                );
            }
        }
        // Duplicate ids make verdicts ambiguous.
        let mut seen = BTreeMap::new();
        for r in &rules {
            if let Some(prev) = seen.insert(r.id.clone(), r.origin.clone()) {
                return Err(RecipeError::Invalid {
                    file: r.origin.clone(),
                    line: 1,
                    col: 1,
                    code: "R008",
                    message: format!("rule id `{}` is also defined in {prev}", r.id),
                });
            }
        }
        let mut desc = format!("profile={profile:?}\n");
        for r in &rules {
            desc.push_str(&format!(
                "{}|{:?}|{:?}|{:?}|{:?}|{:?}{}\n",
                r.id,
                r.action,
                r.globs,
                r.dists,
                r.tier,
                r.profile,
                if r.other_python { "|other-python" } else { "" }
            ));
        }
        Ok(RecipeSet {
            profile,
            rules,
            digest: crate::digest::sha256_hex(desc.as_bytes()),
        })
    }

    /// Add `--force-drop` globs: drop rules the import guard does not override (ids
    /// `cli.force-drop-N`, tier of `--drop`).
    pub fn add_force_drops(&mut self, globs: &[String]) -> Result<(), RecipeError> {
        let mut desc = self.digest.clone();
        for (i, g) in globs.iter().enumerate() {
            let id = format!("{}{}", FORCE_DROP, i + 1);
            self.rules
                .push(cli_rule(&id, g, Action::Drop, Tier::UserDrop)?);
            desc.push_str(&format!("\n{id}|{g}"));
        }
        if !globs.is_empty() {
            self.digest = crate::digest::sha256_hex(desc.as_bytes());
        }
        Ok(())
    }

    /// The build's target, which rules with `python = "other"` match against.
    pub fn set_target(&mut self, target: &Target) {
        for r in &mut self.rules {
            if r.other_python {
                r.target = Some(target.clone());
            }
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Decide one installed path of distribution `dist` (normalised name), counting a hit for
    /// every rule that matched (stale-rule accounting).
    pub fn decide(&self, dist: &str, path: &str) -> Decision {
        let d = self.evaluate(dist, path);
        for id in &d.matched {
            if let Some(r) = self.rules.iter().find(|r| &r.id == id) {
                r.hits.fetch_add(1, Ordering::Relaxed);
            }
        }
        d
    }

    /// Decide one installed path without counting hits (the import guard's look-ahead).
    pub fn evaluate(&self, dist: &str, path: &str) -> Decision {
        if let Some(r) = self
            .rules
            .iter()
            .find(|r| r.action == Action::Omit && r.dists.contains(dist))
        {
            return Decision {
                action: Action::Drop,
                rule: Some(r.id.clone()),
                strip: None,
                matched: vec![r.id.clone()],
            };
        }
        let mut decided: Option<(Tier, Action, &Rule)> = None;
        let mut strip: Option<&Rule> = None;
        let mut matched = Vec::new();
        for r in &self.rules {
            if !r.matches(dist, path) {
                continue;
            }
            // A rule "matched" whether or not it decided (stale detection counts matches).
            matched.push(r.id.clone());
            match r.action {
                Action::Omit => {}
                Action::Strip => {
                    if strip.is_none() {
                        strip = Some(r);
                    }
                }
                a => {
                    let better = match decided {
                        None => true,
                        Some((t, da, _)) => {
                            r.tier < t || (r.tier == t && a == Action::Keep && da == Action::Drop)
                        }
                    };
                    if better {
                        decided = Some((r.tier, a, r));
                    }
                }
            }
        }
        match decided {
            Some((_, Action::Drop, r)) => Decision {
                action: Action::Drop,
                rule: Some(r.id.clone()),
                strip: None,
                matched,
            },
            other => {
                let keep_rule = other.map(|(_, _, r)| r.id.clone());
                let strip_rule = strip.map(|r| r.id.clone());
                Decision {
                    action: if strip_rule.is_some() {
                        Action::Strip
                    } else {
                        Action::Keep
                    },
                    rule: keep_rule,
                    strip: strip_rule,
                    matched,
                }
            }
        }
    }

    /// Rules that matched nothing although they should have: every user rule (`--keep`,
    /// `--drop`, `--recipe`) that matched nothing, and built-in rules scoped to a distribution
    /// that is in the build (an outdated recipe). Generic built-in rules (tests, headers, …)
    /// matching nothing in a small build is normal and not reported.
    pub fn stale(&self, dists_in_build: &BTreeSet<String>) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| r.hits() == 0)
            .filter(|r| match r.tier {
                Tier::Protected => false,
                Tier::UserKeep | Tier::UserDrop | Tier::UserFile => {
                    r.dists.is_empty() || r.dists.iter().any(|d| dists_in_build.contains(d))
                }
                Tier::Builtin => r.dists.iter().any(|d| dists_in_build.contains(d)),
            })
            .map(|r| r.id.clone())
            .collect()
    }

    /// Reset hit counters (hits are counted per build).
    pub fn reset_hits(&self) {
        for r in &self.rules {
            r.hits.store(0, Ordering::Relaxed);
        }
    }

    /// Count hits recorded elsewhere (a cached fragment's rules).
    pub fn add_hits(&self, id: &str, n: u64) {
        if let Some(r) = self.rules.iter().find(|r| r.id == id) {
            r.hits.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

fn cli_rule(id: &str, glob: &str, action: Action, tier: Tier) -> Result<Rule, RecipeError> {
    let matcher = compile_glob(glob).map_err(|e| RecipeError::Invalid {
        file: "command line".to_string(),
        line: 1,
        col: 1,
        code: "R006",
        message: format!("invalid glob `{glob}`: {e}"),
    })?;
    Ok(Rule {
        id: id.to_string(),
        action,
        globs: vec![glob.to_string()],
        matchers: vec![matcher],
        dists: BTreeSet::new(),
        profile: Profile::Safe,
        reason: match tier {
            Tier::Protected => "importlib.metadata needs it".to_string(),
            _ => format!(
                "--{} {glob}",
                if action == Action::Keep {
                    "keep"
                } else {
                    "drop"
                }
            ),
        },
        warning: None,
        category: "user".to_string(),
        tier,
        origin: "command line".to_string(),
        other_python: false,
        target: None,
        hits: AtomicU64::new(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(profile: Profile) -> RecipeSet {
        RecipeSet::load(profile, &[], &[], &[]).expect("built-in recipes are valid")
    }

    #[test]
    fn builtin_recipes_parse() {
        let s = set(Profile::Aggressive);
        assert!(s.rule("runtime-provided").is_some());
        assert!(set(Profile::Safe).rule("runtime-provided").is_none());
        assert!(set(Profile::None).rule("common.tests").is_none());
    }

    #[test]
    fn safe_profile_verdicts() {
        let s = set(Profile::Safe);
        let d = s.decide("pandas", "pandas/tests/frame/test_api.py");
        assert_eq!(
            (d.action, d.rule.as_deref()),
            (Action::Drop, Some("common.tests"))
        );
        let d = s.decide("pyarrow", "pyarrow/include/arrow/api.h");
        assert_eq!(d.action, Action::Drop);
        let d = s.decide(
            "numpy",
            "numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so",
        );
        assert_eq!(
            (d.action, d.strip.as_deref()),
            (Action::Strip, Some("strip.elf"))
        );
        let d = s.decide("numpy", "numpy-2.0.dist-info/METADATA");
        assert_eq!(d.action, Action::Keep);
        // Keep beats drop in the same tier: botocore data survives generic rules.
        let d = s.decide("botocore", "botocore/data/s3/2006-03-01/examples-1.json");
        assert_eq!(
            (d.action, d.rule.as_deref()),
            (Action::Keep, Some("runtime-data.botocore"))
        );
        // Scoped rules do not leak to other distributions.
        let d = s.decide("other", "pyarrow/src/arrow/x.cc");
        assert_eq!(d.rule.as_deref(), Some("common.headers-and-sources"));
        let d = s.decide("pandas", "pandas/_testing/__init__.py");
        assert_eq!(d.action, Action::Keep);
    }

    #[test]
    fn cli_globs_take_precedence_and_protected_files_win() {
        let s = RecipeSet::load(
            Profile::Safe,
            &[],
            &["pandas/tests/keepme/**".to_string()],
            &["**/*.txt".to_string(), "*.dist-info/**".to_string()],
        )
        .expect("load");
        assert_eq!(
            s.decide("pandas", "pandas/tests/keepme/a.py")
                .rule
                .as_deref(),
            Some("cli.keep-1")
        );
        assert_eq!(
            s.decide("x", "x/notes.txt").rule.as_deref(),
            Some("cli.drop-1")
        );
        let d = s.decide("x", "x-1.0.dist-info/METADATA");
        assert_eq!(d.action, Action::Keep);
        let d = s.decide("x", "x-1.0.dist-info/top_level.txt");
        assert_eq!(d.action, Action::Keep);
        let d = s.decide("x", "x-1.0.dist-info/INSTALLER");
        assert_eq!(d.rule.as_deref(), Some("cli.drop-2"));
    }

    #[test]
    fn diagnostics_have_codes_and_positions() {
        let src = "[[rule]]\nid = \"a\"\naction = \"delete\"\nglob = \"x/**\"\nreason = \"r\"\n";
        let e = parse_file("mine.toml", src, Tier::UserFile).expect_err("bad action");
        let msg = e.to_string();
        assert!(msg.starts_with("mine.toml:3:10: error[R003]"), "{msg}");

        let src = "[[rule]]\nid = \"a\"\naction = \"drop\"\nglob = \"x/[\"\nreason = \"r\"\n";
        let msg = parse_file("m.toml", src, Tier::UserFile)
            .expect_err("bad glob")
            .to_string();
        assert!(
            msg.contains("error[R006]") && msg.contains("m.toml:4:"),
            "{msg}"
        );

        let src = "[[rule]]\nid = \"a\"\naction = \"drop\"\nglob = \"**\"\nreason = \"r\"\n";
        let msg = parse_file("m.toml", src, Tier::UserFile)
            .expect_err("too broad")
            .to_string();
        assert!(msg.contains("error[R007]"), "{msg}");

        let src = "[[rule]]\nid = \"a\"\nactoin = \"drop\"\n";
        let msg = parse_file("m.toml", src, Tier::UserFile)
            .expect_err("typo")
            .to_string();
        assert!(
            msg.contains("error[R001]") && msg.contains("m.toml:"),
            "{msg}"
        );
    }

    #[test]
    fn omit_wins_over_keep_and_protected() {
        let s = set(Profile::Aggressive);
        let d = s.decide("botocore", "botocore/data/endpoints.json");
        assert_eq!(
            (d.action, d.rule.as_deref()),
            (Action::Drop, Some("runtime-provided"))
        );
        let d = s.decide("botocore", "botocore-1.0.dist-info/METADATA");
        assert_eq!(d.action, Action::Drop);
        let src = "[[rule]]\nid = \"a\"\naction = \"omit\"\nreason = \"r\"\n";
        let msg = parse_file("m.toml", src, Tier::UserFile)
            .expect_err("omit needs dist")
            .to_string();
        assert!(msg.contains("error[R009]"), "{msg}");
    }

    #[test]
    fn stale_rules_are_reported() {
        let s = set(Profile::Safe);
        s.reset_hits();
        let _ = s.decide("pyarrow", "pyarrow/lib.py");
        let in_build: BTreeSet<String> = ["pyarrow".to_string()].into();
        let stale = s.stale(&in_build);
        assert!(stale.contains(&"pyarrow.cpp-sources".to_string()));
        // A rule for a package that is not in the build is not stale, just not applicable;
        // generic built-in rules are not reported either.
        assert!(!stale.contains(&"runtime-data.botocore".to_string()));
        assert!(!stale.contains(&"common.tests".to_string()));
    }
}
