//! `--ci` and `--junit`: a command's results where CI shows them.
//!
//! With `--ci` (on by default when `GITHUB_ACTIONS=true`, off with `--no-ci`) `build`,
//! `size-report`, `verify`, `audit` and `bench` also
//! - append a Markdown summary to `$GITHUB_STEP_SUMMARY` (kept within GitHub's 1 MiB per step),
//! - write step outputs to `$GITHUB_OUTPUT` (`status`, `artifact`, `artifacts`, `sha256`,
//!   `zipped_bytes`, `unzipped_bytes`, `headroom_bytes`, … per command),
//! - print workflow annotations (`::error file=…,line=…,title=…::…`, at most 10 errors and 10
//!   warnings) on stderr for failed gates, audit findings and failed imports, at the line of the
//!   lock or requirements file that brought the package in.
//!
//! `--junit FILE` writes the same checks as JUnit XML, with or without `--ci`.
//!
//! A command builds a [`CiReport`] from its result ([`results`]); [`CiReport::emit`] writes it.
//! The formats are in [`github`] and [`junit`].

pub mod github;
pub mod junit;
pub mod results;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::artifact::ArtifactManifest;
use crate::requirements::origin::{Origin, package_origins};

/// `--ci` / `--no-ci` / `--junit FILE` (flattened into each command that reports checks).
#[derive(Debug, Args, Clone, Default)]
pub struct CiArgs {
    /// GitHub Actions: summary to $GITHUB_STEP_SUMMARY, outputs to $GITHUB_OUTPUT, annotations
    /// on stderr [default: on when GITHUB_ACTIONS=true]
    #[arg(long, overrides_with = "no_ci")]
    pub ci: bool,
    /// No GitHub Actions output, even when GITHUB_ACTIONS=true
    #[arg(long, overrides_with = "ci")]
    pub no_ci: bool,
    /// Write the gate, audit and verify results as JUnit XML to FILE (GitLab, CodeBuild)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

impl CiArgs {
    /// Whether GitHub Actions output is on.
    pub fn enabled(&self) -> bool {
        if self.ci {
            return true;
        }
        !self.no_ci && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
    }

    /// Whether this command has anything to do for CI.
    pub fn wanted(&self) -> bool {
        self.enabled() || self.junit.is_some()
    }
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Warning,
    Failed,
    Skipped,
}

/// A file and line in the repository (relative to `$GITHUB_WORKSPACE` when inside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: Option<usize>,
}

/// One gate, audit finding or import check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `gates`, `audit`, `verify` or `bench`.
    pub suite: &'static str,
    pub name: String,
    pub status: Status,
    pub message: String,
    pub location: Option<Location>,
}

impl Check {
    pub fn passed(suite: &'static str, name: impl Into<String>) -> Check {
        Check::new(suite, name, Status::Passed, String::new())
    }
    pub fn failed(suite: &'static str, name: impl Into<String>, msg: impl Into<String>) -> Check {
        Check::new(suite, name, Status::Failed, msg.into())
    }
    pub fn warning(suite: &'static str, name: impl Into<String>, msg: impl Into<String>) -> Check {
        Check::new(suite, name, Status::Warning, msg.into())
    }
    pub fn skipped(suite: &'static str, name: impl Into<String>, msg: impl Into<String>) -> Check {
        Check::new(suite, name, Status::Skipped, msg.into())
    }
    fn new(suite: &'static str, name: impl Into<String>, status: Status, message: String) -> Check {
        Check {
            suite,
            name: name.into(),
            status,
            message,
            location: None,
        }
    }
    pub fn at(mut self, location: Location) -> Check {
        self.location = Some(location);
        self
    }
    pub fn at_opt(mut self, location: Option<Location>) -> Check {
        self.location = location;
        self
    }

    fn annotation(&self) -> Option<github::Annotation> {
        let level = match self.status {
            Status::Failed => "error",
            Status::Warning => "warning",
            Status::Passed | Status::Skipped => return None,
        };
        Some(github::Annotation {
            level,
            title: format!("lpack {}: {}", self.suite, self.name),
            file: self.location.as_ref().map(|l| l.file.clone()),
            line: self.location.as_ref().and_then(|l| l.line),
            message: self.message.clone(),
        })
    }
}

/// What one command reports to CI.
#[derive(Debug, Clone, Default)]
pub struct CiReport {
    /// `lpack build`, `lpack audit`, …
    pub command: String,
    /// The job summary (Markdown).
    pub summary: String,
    /// Step outputs, in order.
    pub outputs: Vec<(String, String)>,
    pub checks: Vec<Check>,
}

impl CiReport {
    /// The annotations for this report's failed and warning checks, capped as GitHub does.
    pub fn annotations(&self) -> Vec<String> {
        let all: Vec<github::Annotation> =
            self.checks.iter().filter_map(Check::annotation).collect();
        github::capped(&all).iter().map(|a| a.command()).collect()
    }

    /// Write what `args` asks for: GitHub's summary, outputs and annotations, and JUnit XML.
    pub fn emit(&self, args: &CiArgs) -> anyhow::Result<()> {
        if args.enabled() {
            if let Some(p) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
                let p = PathBuf::from(p);
                let existing = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                let text = github::fit_summary(&self.summary, existing);
                github::append(&p, &text).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot append to $GITHUB_STEP_SUMMARY ({}): {e}\n  hint: run with --no-ci outside GitHub Actions",
                        p.display()
                    )
                })?;
            }
            if let Some(p) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
                let p = PathBuf::from(p);
                github::append(&p, &github::outputs_text(&self.outputs)).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot append to $GITHUB_OUTPUT ({}): {e}\n  hint: run with --no-ci outside GitHub Actions",
                        p.display()
                    )
                })?;
            }
            for a in self.annotations() {
                eprintln!("{a}");
            }
        }
        if let Some(p) = &args.junit {
            crate::outfile::write_output(p, junit::render(&self.command, &self.checks).as_bytes())
                .map_err(|e| {
                    anyhow::anyhow!("cannot write the JUnit report {}: {e}", p.display())
                })?;
        }
        Ok(())
    }
}

/// Finds the line of the lock or requirements file that brought a package in, and the package
/// an artifact path belongs to.
pub struct Locator {
    input: Option<PathBuf>,
    origins: BTreeMap<String, Origin>,
    owners: BTreeMap<String, String>,
}

impl Locator {
    /// From a manifest: its input file (`requirements`) and its files' packages.
    pub fn new(manifest: Option<&ArtifactManifest>) -> Locator {
        let input = manifest
            .map(|m| PathBuf::from(&m.requirements))
            .filter(|p| !p.as_os_str().is_empty());
        let origins = input.as_deref().map(package_origins).unwrap_or_default();
        let owners = manifest
            .map(|m| {
                m.files
                    .iter()
                    .map(|f| (f.path.clone(), f.package.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Locator {
            input,
            origins,
            owners,
        }
    }

    /// The package (distribution name) that ships `path` in the artifact.
    pub fn owner(&self, path: &str) -> Option<&str> {
        self.owners.get(path).map(String::as_str)
    }

    /// Where `package` was written; the input file itself when no line names it.
    pub fn package(&self, package: &str) -> Option<Location> {
        let key = crate::wheel::normalize_name(package);
        match self.origins.get(&key) {
            Some(o) => Some(Location {
                file: repo_path(&o.file),
                line: Some(o.line),
            }),
            None => self.input().map(|file| Location { file, line: None }),
        }
    }

    /// The input file (for checks about the whole build).
    pub fn input(&self) -> Option<String> {
        self.input.as_deref().map(repo_path)
    }
}

/// A path as GitHub wants it in an annotation: relative to `$GITHUB_WORKSPACE` when inside it.
pub fn repo_path(p: &Path) -> String {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let abs = abs.canonicalize().unwrap_or(abs);
    if let Some(ws) = std::env::var_os("GITHUB_WORKSPACE").filter(|w| !w.is_empty()) {
        let ws = PathBuf::from(ws);
        let ws = ws.canonicalize().unwrap_or(ws);
        if let Ok(rel) = abs.strip_prefix(&ws) {
            return rel.display().to_string();
        }
    }
    p.display().to_string()
}
