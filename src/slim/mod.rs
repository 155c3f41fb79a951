//! Slim: decide, per wheel entry, what reaches the artifact and in what form.
//!
//! For each wheel this stage produces a *fragment*: a canonical zip (see
//! [`crate::sink::ZipSink`]) holding the wheel's installed, slimmed files — entries kept as
//! they were are raw-copied, ELF files are stripped ([`strip`]), bytecode for the target Python
//! is added ([`bytecode`]) — plus a JSON sidecar with one record per file (size before and after,
//! the rule that decided it), the rules that matched, and what the ABI audit needs to know about
//! each ELF file. Fragments are cached under a key of (wheel sha256, effective recipes, bytecode
//! plan, target, lpack version), so a warm build only concatenates; the same unit is what an
//! image layer is built from.
//!
//! Built-in verdicts that are not recipes (they depend on the wheel format or the target):
//! - `wheel.install-scheme`: `*.data/scripts/` and `*.data/headers/` are not installed into a
//!   Lambda bundle; `*.data/purelib|platlib|data/` are installed at the root, as
//!   `pip install --target` does.
//! - `bytecode.other-python`: `__pycache__/*.cpython-3XY.pyc` for another Python than the target.
//! - `elf.soname-copy`: identical copies of a shared library under its link-time names, when the
//!   copy named by its SONAME (the only name the loader asks for) sits beside them.

pub mod audit;
pub mod bytecode;
mod compiler;
pub mod elf;
pub mod guard;
pub mod imports;
mod memo;
pub mod recipe;
mod record;
pub mod strip;
pub mod trace;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Read};
use std::path::PathBuf;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::artifact::{Action as RecordAction, FileRecord};
use crate::cache::{Cache, CacheError};
use crate::digest::sha256_hex;
use crate::fetch::FetchedWheel;
use crate::progress::{Phase, Reporter};
use crate::sink::{ArchiveSink, Epoch, Prepared, RawContent, ZipSink};
use crate::target::Target;
use crate::timings::{self, Recorder, Stage};
use crate::wheel::{ArchivePath, Wheel, WheelEntry, WheelError, open_archive};
use bytecode::{BytecodePlan, CompileRequest, Compiled};
use recipe::{Action, RecipeSet};
pub use record::record_hash;
use record::rewrite_record;

/// Bumped whenever fragment bytes or metadata change shape.
const FRAGMENT_FORMAT: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum SlimError {
    #[error(transparent)]
    Wheel(#[from] WheelError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("writing the slim cache: {0}")]
    Write(String),
    #[error(transparent)]
    Bytecode(#[from] bytecode::BytecodeError),
    #[error(
        "wheel {wheel}: two entries install to `{path}`\n  hint: the wheel is malformed; report it to its maintainers"
    )]
    DuplicateInWheel { wheel: String, path: String },
}

/// What happens to one entry before recipes are consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Installed at the given path.
    Keep(ArchivePath),
    /// Left out, by the named built-in rule.
    Drop { rule: &'static str },
}

/// Map a wheel entry path to where it is installed, or the rule that leaves it out.
///
/// `data_dir` is the wheel's `name-version.data` directory name, if any.
pub fn plan_entry(path: &ArchivePath, data_dir: Option<&str>, target: &Target) -> Verdict {
    let mut installed = path.clone();
    if let Some(data_dir) = data_dir
        && let Some(rest) = path
            .as_str()
            .strip_prefix(data_dir)
            .and_then(|r| r.strip_prefix('/'))
    {
        let (scheme, inner) = rest.split_once('/').unwrap_or((rest, ""));
        match scheme {
            "purelib" | "platlib" | "data" if !inner.is_empty() => match ArchivePath::new(inner) {
                Ok(p) => installed = p,
                Err(_) => {
                    return Verdict::Drop {
                        rule: "wheel.install-scheme",
                    };
                }
            },
            _ => {
                return Verdict::Drop {
                    rule: "wheel.install-scheme",
                };
            }
        }
    }
    if is_foreign_bytecode(installed.as_str(), &target.bytecode_tag()) {
        return Verdict::Drop {
            rule: "bytecode.other-python",
        };
    }
    Verdict::Keep(installed)
}

/// `…/__pycache__/mod.cpython-311.pyc` when the target loads `cpython-312`.
fn is_foreign_bytecode(path: &str, tag: &str) -> bool {
    let mut parts = path.rsplit('/');
    let (Some(file), Some(dir)) = (parts.next(), parts.next()) else {
        return false;
    };
    if dir != "__pycache__" || !file.ends_with(".pyc") {
        return false;
    }
    let stem = &file[..file.len() - 4];
    match stem.split('.').nth(1) {
        Some(t) => t != tag,
        None => true,
    }
}

/// What the ABI audit needs from one ELF file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElfFacts {
    pub path: String,
    pub machine: u16,
    pub needed: Vec<String>,
    pub soname: Option<String>,
    pub runpath: Vec<String>,
    pub version_needs: Vec<(String, Vec<String>)>,
}

/// The sidecar of a fragment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FragmentMeta {
    pub format: u32,
    pub records: Vec<FileRecord>,
    pub rule_hits: BTreeMap<String, u64>,
    pub elf: Vec<ElfFacts>,
    pub warnings: Vec<String>,
}

/// One wheel after slimming.
#[derive(Debug, Clone)]
pub struct SlimmedWheel {
    pub wheel: FetchedWheel,
    pub fragment: PathBuf,
    pub entries: Vec<WheelEntry>,
    pub meta: FragmentMeta,
    pub cache_hit: bool,
    /// Extension modules of this wheel that every importer imports under a guard
    /// (installed path → one such site): the audit treats what they need as optional.
    pub optional: BTreeMap<String, String>,
}

/// Settings of the slim stage.
pub struct SlimSettings<'a> {
    pub recipes: &'a RecipeSet,
    pub bytecode: &'a BytecodePlan,
    pub epoch: Epoch,
}

pub(crate) fn data_dir_of(wheel: &Wheel) -> Option<String> {
    wheel
        .dist_info_dir()
        .map(|d| d.trim_end_matches(".dist-info").to_string() + ".data")
}

fn fragment_key(
    w: &FetchedWheel,
    target: &Target,
    s: &SlimSettings<'_>,
    guard: &guard::GuardOutcome,
) -> String {
    sha256_hex(
        format!(
            "lpack {}\nformat {FRAGMENT_FORMAT}\nwheel {}\nrecipes {}\nbytecode {}\ntarget {}\nepoch {}\nguard {}\n",
            env!("CARGO_PKG_VERSION"),
            w.sha256,
            s.recipes.digest,
            s.bytecode.key_for(&w.locked.name),
            target.slug(),
            s.epoch.0,
            guard.key_for(&w.locked.name)
        )
        .as_bytes(),
    )
}

/// Wheel sets slimmed by recent builds of this process (several functions of one config share
/// their lock), by everything that decides their fragments; at most [`RECENT_MAX`].
static RECENT: std::sync::Mutex<Vec<(String, Vec<SlimmedWheel>)>> =
    std::sync::Mutex::new(Vec::new());
const RECENT_MAX: usize = 4;

/// What decides a set's fragments: the cache they live in, the wheels, the target, the recipes,
/// the bytecode plan and the epoch (the guard follows from these).
fn recent_key(
    wheels: &[FetchedWheel],
    target: &Target,
    settings: &SlimSettings<'_>,
    cache: &Cache,
) -> String {
    let ws: Vec<(&str, &str, &str)> = wheels
        .iter()
        .map(|w| {
            (
                w.locked.name.as_str(),
                w.locked.filename.as_str(),
                w.sha256.as_str(),
            )
        })
        .collect();
    sha256_hex(
        format!(
            "{}\n{}\n{}\n{}\n{}\n{ws:?}",
            cache.root().display(),
            target.slug(),
            settings.recipes.digest,
            settings.bytecode.fingerprint(),
            settings.epoch.0
        )
        .as_bytes(),
    )
}

/// The set slimmed earlier in this process, when its fragments are all still in the cache;
/// each carries this build's own `FetchedWheel` (same file, perhaps another source).
fn recent(key: &str, wheels: &[FetchedWheel]) -> Option<Vec<SlimmedWheel>> {
    let found = RECENT
        .lock()
        .ok()?
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())?;
    if found.len() != wheels.len() || !found.iter().all(|s| s.fragment.is_file()) {
        return None;
    }
    Some(
        found
            .into_iter()
            .zip(wheels)
            .map(|(s, w)| SlimmedWheel {
                wheel: w.clone(),
                cache_hit: true,
                ..s
            })
            .collect(),
    )
}

fn remember(key: String, slimmed: &[SlimmedWheel]) {
    if let Ok(mut recent) = RECENT.lock() {
        recent.retain(|(k, _)| *k != key);
        if recent.len() >= RECENT_MAX {
            recent.remove(0);
        }
        recent.push((key, slimmed.to_vec()));
    }
}

/// Slim every wheel (in parallel), from the cache where possible.
pub fn slim(
    wheels: &[FetchedWheel],
    target: &Target,
    settings: &SlimSettings<'_>,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<Vec<SlimmedWheel>, SlimError> {
    let key = recent_key(wheels, target, settings, cache);
    if let Some(out) = recent(&key, wheels) {
        // As a build whose fragments were all cached: their rules' hits count for this one.
        let _span = timings::thread_span(reporter.timings(), Stage::Parse, None);
        for s in &out {
            for (id, n) in &s.meta.rule_hits {
                settings.recipes.add_hits(id, *n);
            }
        }
        return Ok(out);
    }
    let out = slim_fresh(wheels, target, settings, cache, reporter)?;
    remember(key, &out);
    Ok(out)
}

fn slim_fresh(
    wheels: &[FetchedWheel],
    target: &Target,
    settings: &SlimSettings<'_>,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<Vec<SlimmedWheel>, SlimError> {
    reporter.start(Phase::Slim, wheels.len() as u64);
    let rec = reporter.timings();
    // The import guard looks at every wheel before any fragment is written.
    let span = timings::process_span(rec, Stage::Parse);
    let guard = guard::guard(wheels, target, settings.recipes, cache)?;
    span.end();
    // Largest wheels first, one at a time per thread: the big ones (pyarrow's libraries,
    // pandas' modules) start at once instead of queueing behind small ones at the end.
    let mut done: Vec<(usize, Result<SlimmedWheel, SlimError>)> = largest_first(wheels)
        .into_par_iter()
        .with_max_len(1)
        .map(|i| {
            let r = slim_one(&wheels[i], target, settings, cache, &guard, rec);
            reporter.advance(Phase::Slim, 1);
            (i, r)
        })
        .collect();
    reporter.finish(Phase::Slim);
    done.sort_by_key(|(i, _)| *i);
    let out: Vec<SlimmedWheel> = done.into_iter().map(|(_, r)| r).collect::<Result<_, _>>()?;
    for s in &out {
        if s.cache_hit {
            for (id, n) in &s.meta.rule_hits {
                settings.recipes.add_hits(id, *n);
            }
        }
    }
    Ok(out)
}

/// Indices of `wheels`, the largest file first (ties in order).
pub fn largest_first(wheels: &[FetchedWheel]) -> Vec<usize> {
    let size = |w: &FetchedWheel| std::fs::metadata(&w.path).map_or(0, |m| m.len());
    let mut order: Vec<(std::cmp::Reverse<u64>, usize)> = wheels
        .iter()
        .enumerate()
        .map(|(i, w)| (std::cmp::Reverse(size(w)), i))
        .collect();
    order.sort();
    order.into_iter().map(|(_, i)| i).collect()
}

fn load_cached(
    path: &std::path::Path,
    meta_path: &std::path::Path,
) -> Option<(Vec<WheelEntry>, FragmentMeta)> {
    let meta: FragmentMeta = serde_json::from_slice(&std::fs::read(meta_path).ok()?).ok()?;
    if meta.format != FRAGMENT_FORMAT {
        return None;
    }
    let entries = read_fragment_entries(path).ok()?;
    Some((entries, meta))
}

/// Entries of a fragment, validated like wheel entries.
pub fn read_fragment_entries(path: &std::path::Path) -> Result<Vec<WheelEntry>, WheelError> {
    crate::wheel::list_entries(path, &path.display().to_string())
}

enum Content {
    Raw(WheelEntry),
    /// New bytes: compressed, executable, and their RECORD hash (`sha256=…`).
    New(Prepared, bool, String),
    /// A stripped library kept in its memo file (its RECORD hash inside), executable.
    Memo(memo::Stored, bool),
}

fn slim_one(
    w: &FetchedWheel,
    target: &Target,
    settings: &SlimSettings<'_>,
    cache: &Cache,
    guard: &guard::GuardOutcome,
    rec: Option<&Recorder>,
) -> Result<SlimmedWheel, SlimError> {
    let dist = w.locked.name.as_str();
    let parse = timings::thread_span(rec, Stage::Parse, Some(dist));
    let key = fragment_key(w, target, settings, guard);
    let (frag_path, meta_path) = cache.fragment_paths(&key);
    let optional = guard
        .optional
        .get(&w.locked.name)
        .cloned()
        .unwrap_or_default();
    cache.fragment_from_remote(&key, &frag_path, &meta_path);
    if let Some((entries, meta)) = load_cached(&frag_path, &meta_path) {
        return Ok(SlimmedWheel {
            wheel: w.clone(),
            fragment: frag_path,
            entries,
            meta,
            cache_hit: true,
            optional,
        });
    }
    let no_rescues = BTreeMap::new();
    let rescued = guard.rescued.get(&w.locked.name).unwrap_or(&no_rescues);

    let wheel = Wheel::open(&w.path, &w.locked.filename)?;
    let mut frag = FragmentPlan::default();
    let to_strip = frag.plan_entries(w, &wheel, target, settings, rescued)?;

    parse.end();
    // Stripping and compiling touch different files (ELF libraries, Python sources): both at
    // once, so the last wheels' chains do not leave a core idle.
    let (stripped, compiled) = rayon::join(
        || strip_all(&wheel, &w.sha256, cache, &to_strip, dist, rec),
        || {
            let mut span = timings::thread_span(rec, Stage::Bytecode, Some(dist));
            frag.compile_bytecode(w, &wheel, target, settings, &mut span)
        },
    );
    let parse = timings::thread_span(rec, Stage::Parse, Some(dist));
    frag.apply_strips(w, stripped);
    frag.add_unstripped_elf_facts(&wheel);
    frag.elf.sort_by(|a, b| a.path.cmp(&b.path));
    if settings.recipes.profile != recipe::Profile::None {
        drop_soname_copies(
            &mut frag.plan,
            &mut frag.records,
            &mut frag.elf,
            &mut frag.hits,
        );
    }
    frag.add_compiled(w, target, settings, compiled?)?;

    parse.end();
    let _span = timings::thread_span(rec, Stage::Emit, Some(dist));
    // RECORD tells the truth: exactly the files this fragment ships, with their hashes.
    rewrite_record(&wheel, &mut frag.plan)?;

    let fragment = frag.write_fragment(w, cache, settings.epoch, &frag_path)?;
    let entries = read_fragment_entries(&fragment)?;
    let meta = frag.into_meta(&entries);
    let json = serde_json::to_vec(&meta).map_err(|e| SlimError::Write(e.to_string()))?;
    crate::cache::write_atomic(&cache.root().join("tmp"), &meta_path, &json)?;
    cache.fragment_to_remote(&key, &fragment, &meta_path);
    Ok(SlimmedWheel {
        wheel: w.clone(),
        fragment,
        entries,
        meta,
        cache_hit: false,
        optional,
    })
}

/// An ELF entry waiting to be stripped: installed path, wheel entry and its record's index.
type StripJob = (ArchivePath, WheelEntry, usize);

/// Strip ELF files in parallel; anything not stripped stays a raw copy.
fn strip_all(
    wheel: &Wheel,
    wheel_sha256: &str,
    cache: &Cache,
    to_strip: &[StripJob],
    dist: &str,
    rec: Option<&Recorder>,
) -> Vec<StripResult> {
    to_strip
        .par_iter()
        .map(|(path, entry, ri)| {
            let _span = timings::thread_span(rec, Stage::Strip, Some(dist));
            let (outcome, facts) = strip_entry(wheel, wheel_sha256, cache, path, entry);
            StripResult {
                path: path.clone(),
                record: *ri,
                outcome,
                facts,
            }
        })
        .collect()
}

/// The libraries of one downloaded wheel that its recipes strip, to be stripped ahead of the
/// slim stage (while other wheels still download) one by one ([`Prestrip::run`]); the results
/// are remembered by content ([`memo`]), so the slim stage finds them done, or waits for one
/// still being stripped rather than stripping it twice.
pub struct Prestrip {
    wheel: Wheel,
    sha256: String,
    dist: String,
    jobs: Vec<(ArchivePath, WheelEntry)>,
}

impl Prestrip {
    /// What `recipes` would strip in `w` for `target`; `None` when nothing (or the wheel does
    /// not open: the slim stage reports that, in order).
    pub fn plan(w: &FetchedWheel, target: &Target, recipes: &RecipeSet) -> Option<Prestrip> {
        let dist = w.locked.name.as_str();
        let wheel = Wheel::open(&w.path, &w.locked.filename).ok()?;
        let data_dir = data_dir_of(&wheel);
        let jobs: Vec<(ArchivePath, WheelEntry)> = wheel
            .entries
            .iter()
            .filter_map(|e| match plan_entry(&e.path, data_dir.as_deref(), target) {
                Verdict::Keep(installed)
                    if recipes.evaluate(dist, installed.as_str()).action == Action::Strip =>
                {
                    Some((installed, e.clone()))
                }
                _ => None,
            })
            .collect();
        (!jobs.is_empty()).then(|| Prestrip {
            wheel,
            sha256: w.sha256.clone(),
            dist: dist.to_string(),
            jobs,
        })
    }

    /// How many libraries there are to strip.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Strip library `i`, unless it is remembered already or being stripped right now.
    pub fn run(&self, i: usize, cache: &Cache, rec: Option<&Recorder>) {
        let Some((installed, entry)) = self.jobs.get(i) else {
            return;
        };
        let key = memo::key(&self.sha256, entry.path.as_str());
        let slot = stripping_slot(&key);
        let Ok(_busy) = slot.try_lock() else {
            return;
        };
        if memo::exists(cache, &key) {
            return;
        }
        let _span = timings::thread_span(rec, Stage::Strip, Some(&self.dist));
        let _ = strip_fresh(&self.wheel, cache, &key, installed, entry);
    }
}

/// One lock per library being stripped in this process, by memo key: whoever holds it strips;
/// whoever else wants the same library waits, then reads what the first remembered.
fn stripping_slot(key: &str) -> std::sync::Arc<std::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex, PoisonError};
    type Slots = Mutex<HashMap<String, Arc<Mutex<()>>>>;
    static SLOTS: LazyLock<Slots> = LazyLock::new(Slots::default);
    let mut slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
    slots.entry(key.to_string()).or_default().clone()
}

/// A fragment being decided: what each installed path holds, one record per file, rule hits,
/// warnings and the ELF facts the audit needs.
#[derive(Default)]
struct FragmentPlan {
    records: Vec<FileRecord>,
    plan: BTreeMap<ArchivePath, (Content, usize)>,
    hits: BTreeMap<String, u64>,
    warnings: BTreeSet<String>,
    elf: Vec<ElfFacts>,
}

/// A record of one file of `dist`, sized later.
fn file_record(
    path: &str,
    dist: &str,
    original_size: u64,
    action: RecordAction,
    rule: Option<String>,
) -> FileRecord {
    FileRecord {
        path: path.to_string(),
        package: dist.to_string(),
        original_size,
        size: 0,
        compressed_size: 0,
        action,
        rule,
        note: None,
    }
}

impl FragmentPlan {
    /// Decide every wheel entry by install scheme, recipes and guard; the ELF entries to strip.
    fn plan_entries(
        &mut self,
        w: &FetchedWheel,
        wheel: &Wheel,
        target: &Target,
        settings: &SlimSettings<'_>,
        rescued: &BTreeMap<String, guard::Rescue>,
    ) -> Result<Vec<StripJob>, SlimError> {
        let dist = w.locked.name.as_str();
        let data_dir = data_dir_of(wheel);
        let mut to_strip = Vec::new();
        for entry in &wheel.entries {
            let rec = |path: &str, action, rule: Option<String>| {
                file_record(path, dist, entry.size, action, rule)
            };
            let installed = match plan_entry(&entry.path, data_dir.as_deref(), target) {
                Verdict::Drop { rule } => {
                    self.records.push(rec(
                        entry.path.as_str(),
                        RecordAction::Drop,
                        Some(rule.into()),
                    ));
                    continue;
                }
                Verdict::Keep(p) => p,
            };
            let mut d = settings.recipes.decide(dist, installed.as_str());
            for id in &d.matched {
                *self.hits.entry(id.clone()).or_default() += 1;
            }
            let note = self.rescue(&mut d, &installed, rescued, settings.recipes);
            if self.plan.contains_key(&installed) {
                return Err(SlimError::DuplicateInWheel {
                    wheel: w.locked.filename.clone(),
                    path: installed.to_string(),
                });
            }
            match d.action {
                Action::Drop => {
                    if let Some(r) = d.rule.as_deref().and_then(|id| settings.recipes.rule(id))
                        && let Some(warn) = &r.warning
                    {
                        self.warnings.insert(format!("{}: {warn}", r.id));
                    }
                    self.records
                        .push(rec(installed.as_str(), RecordAction::Drop, d.rule));
                }
                Action::Omit => unreachable!("decide() maps omit to drop"),
                Action::Strip => {
                    self.records
                        .push(rec(installed.as_str(), RecordAction::Strip, d.strip));
                    let ri = self.records.len() - 1;
                    to_strip.push((installed.clone(), entry.clone(), ri));
                    self.plan
                        .insert(installed, (Content::Raw(entry.clone()), ri));
                }
                Action::Keep => {
                    self.records.push(FileRecord {
                        note,
                        ..rec(installed.as_str(), RecordAction::Keep, d.rule)
                    });
                    let ri = self.records.len() - 1;
                    self.plan
                        .insert(installed, (Content::Raw(entry.clone()), ri));
                }
            }
        }
        Ok(to_strip)
    }

    /// Keep a file a rule would drop when the import guard rescued it; returns the record's note.
    fn rescue(
        &mut self,
        d: &mut recipe::Decision,
        installed: &ArchivePath,
        rescued: &BTreeMap<String, guard::Rescue>,
        recipes: &RecipeSet,
    ) -> Option<String> {
        if d.action != Action::Drop {
            return None;
        }
        let why = rescued.get(installed.as_str())?;
        if let Some(r) = recipes.rule(&why.rule)
            && matches!(r.tier, recipe::Tier::UserDrop | recipe::Tier::UserFile)
        {
            self.warnings.insert(format!(
                "rule {} wants {installed} dropped, but {} imports it: kept (drop it anyway with --force-drop GLOB)",
                why.rule, why.importer
            ));
        }
        d.action = Action::Keep;
        d.rule = Some(guard::RULE.to_string());
        *self.hits.entry(guard::RULE.to_string()).or_default() += 1;
        Some(why.note())
    }

    /// Put stripped bytes in place of the originals; files not stripped are kept as they were.
    fn apply_strips(&mut self, w: &FetchedWheel, stripped: Vec<StripResult>) {
        for r in stripped {
            self.elf.extend(r.facts);
            match r.outcome {
                Ok(Some(bytes)) => {
                    let exec = match self.plan.get(&r.path) {
                        Some((Content::Raw(e), _)) => e.executable,
                        _ => false,
                    };
                    let content = match bytes {
                        StrippedBytes::Memory(p, hash) => {
                            self.records[r.record].size = p.size;
                            Content::New(p, exec, hash)
                        }
                        StrippedBytes::Memo(stored) => {
                            self.records[r.record].size = stored.size;
                            Content::Memo(stored, exec)
                        }
                    };
                    self.plan.insert(r.path, (content, r.record));
                }
                Ok(None) => {
                    self.records[r.record].action = RecordAction::Keep;
                    self.records[r.record].rule = None;
                }
                Err(why) => {
                    self.records[r.record].action = RecordAction::Keep;
                    self.records[r.record].rule = None;
                    self.warnings.insert(format!(
                        "{}: {} kept unstripped: {why}",
                        w.locked.filename, r.path
                    ));
                }
            }
        }
    }

    /// ELF files that were not candidates for stripping still need audit facts.
    fn add_unstripped_elf_facts(&mut self, wheel: &Wheel) {
        for (path, (content, _)) in &self.plan {
            if let Content::Raw(e) = content
                && !self.elf.iter().any(|f| f.path == path.as_str())
                && looks_like_library(path.as_str())
                && wheel
                    .read_entry_prefix(e.index, 4)
                    .is_ok_and(|m| elf::is_elf(&m))
                && let Ok(data) = wheel.read_entry(e.index)
                && let Some(f) = elf_facts(path.as_str(), &data)
            {
                self.elf.push(f);
            }
        }
    }

    /// Compile the sources the bytecode plan wants (the plan's Python sources, which stripping
    /// does not touch).
    fn compile_bytecode(
        &self,
        w: &FetchedWheel,
        wheel: &Wheel,
        target: &Target,
        settings: &SlimSettings<'_>,
        span: &mut timings::Span<'_>,
    ) -> Result<Vec<Compiled>, SlimError> {
        let dist = w.locked.name.as_str();
        let requests: Vec<CompileRequest> = self
            .plan
            .iter()
            .filter(|(p, _)| settings.bytecode.wants(dist, p.as_str()))
            .filter_map(|(p, (c, _))| match c {
                Content::Raw(e) => Some((p.clone(), e.index)),
                Content::New(..) | Content::Memo(..) => None,
            })
            .map(|(p, index)| -> Result<CompileRequest, SlimError> {
                Ok(CompileRequest {
                    path: p,
                    source: wheel.read_entry(index)?,
                })
            })
            .collect::<Result<_, _>>()?;
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let (compiled, cpu) = settings.bytecode.compile_timed(target, &requests)?;
        span.add_cpu(cpu);
        Ok(compiled)
    }

    /// Add the `.pyc` files compiled by [`FragmentPlan::compile_bytecode`]; a source that did
    /// not compile is shipped as it is, with a warning.
    fn add_compiled(
        &mut self,
        w: &FetchedWheel,
        target: &Target,
        settings: &SlimSettings<'_>,
        compiled: Vec<Compiled>,
    ) -> Result<(), SlimError> {
        let dist = w.locked.name.as_str();
        for c in compiled {
            match c.result {
                Ok(pyc) => self.add_pyc(dist, target, settings.bytecode, &c.path, &pyc)?,
                Err(msg) => {
                    self.warnings.insert(format!(
                        "{}: {} not compiled ({msg}); its source is shipped",
                        w.locked.filename, c.path
                    ));
                }
            }
        }
        Ok(())
    }

    /// Add one compiled `.pyc` of `source` and its record, dropping the source when it replaces it.
    fn add_pyc(
        &mut self,
        dist: &str,
        target: &Target,
        bytecode: &BytecodePlan,
        source: &ArchivePath,
        pyc: &[u8],
    ) -> Result<(), SlimError> {
        let out_path = bytecode.output_path(target, source);
        let prepared = Prepared::compress(pyc).map_err(|e| SlimError::Write(e.to_string()))?;
        self.records.push(FileRecord {
            size: prepared.size,
            ..file_record(
                out_path.as_str(),
                dist,
                0,
                RecordAction::Add,
                Some(bytecode.rule_id().to_string()),
            )
        });
        *self.hits.entry(bytecode.rule_id().to_string()).or_default() += 1;
        if bytecode.replaces_source()
            && let Some((_, ri)) = self.plan.remove(source)
        {
            self.records[ri].action = RecordAction::Drop;
            self.records[ri].rule = Some(bytecode.rule_id().to_string());
        }
        let ri = self.records.len() - 1;
        self.plan.insert(
            out_path,
            (Content::New(prepared, false, record_hash(pyc)), ri),
        );
        Ok(())
    }

    /// Write the planned files as a fragment into the cache, noting each file's size; its path.
    fn write_fragment(
        &mut self,
        w: &FetchedWheel,
        cache: &Cache,
        epoch: Epoch,
        frag_path: &std::path::Path,
    ) -> Result<PathBuf, SlimError> {
        let tmp = cache.temp_file()?;
        // Write errors (a full disk) name the file being written.
        let tmp_path = tmp.path().to_path_buf();
        let werr =
            |e: &dyn std::fmt::Display| SlimError::Write(format!("{}: {e}", tmp_path.display()));
        let file = tmp.as_file().try_clone().map_err(|e| werr(&e))?;
        let mut sink = ZipSink::new(BufWriter::with_capacity(1 << 20, file), epoch);
        let mut archive = open_archive(&w.path, &w.locked.filename)?;
        for (path, (content, ri)) in &self.plan {
            let written = match content {
                Content::Raw(e) => {
                    let mut raw =
                        archive
                            .by_index_raw(e.index)
                            .map_err(|source| WheelError::Corrupt {
                                wheel: w.locked.filename.clone(),
                                source,
                            })?;
                    sink.add_raw(
                        path,
                        e.executable,
                        RawContent {
                            method: e.method,
                            crc32: e.crc32,
                            size: e.size,
                            compressed_size: e.compressed_size,
                            reader: &mut raw as &mut dyn Read,
                        },
                    )
                    .map_err(|e| werr(&format!("{}: {e}", w.locked.filename)))?;
                    e.size
                }
                Content::New(p, exec, _) => {
                    sink.add_prepared(path, *exec, p).map_err(|e| werr(&e))?;
                    p.size
                }
                Content::Memo(stored, exec) => {
                    let read_err = |e: std::io::Error| {
                        SlimError::Write(format!("{}: {e}", stored.path.display()))
                    };
                    let mut reader = stored.reader().map_err(read_err)?;
                    sink.add_raw(
                        path,
                        *exec,
                        RawContent {
                            method: stored.method,
                            crc32: stored.crc32,
                            size: stored.size,
                            compressed_size: stored.compressed_size,
                            reader: &mut reader,
                        },
                    )
                    .map_err(|e| werr(&e))?;
                    stored.size
                }
            };
            self.records[*ri].size = written;
        }
        let (_, writer) = sink.finish().map_err(|e| werr(&e))?;
        writer.into_inner().map_err(|e| werr(&e.error()))?;
        Ok(cache.commit_file(tmp, frag_path)?)
    }

    /// The fragment's sidecar: records with their compressed sizes, sorted by path.
    fn into_meta(self, entries: &[WheelEntry]) -> FragmentMeta {
        let mut records = self.records;
        let compressed: BTreeMap<&str, u64> = entries
            .iter()
            .map(|e| (e.path.as_str(), e.compressed_size))
            .collect();
        for r in &mut records {
            if r.action != RecordAction::Drop {
                r.compressed_size = compressed.get(r.path.as_str()).copied().unwrap_or(0);
            }
        }
        records.sort_by(|a, b| a.path.cmp(&b.path).then(a.action.cmp(&b.action)));
        FragmentMeta {
            format: FRAGMENT_FORMAT,
            records,
            rule_hits: self.hits,
            elf: self.elf,
            warnings: self.warnings.into_iter().collect(),
        }
    }
}

/// What a strip attempt gives: `Ok(Some)`: stripped bytes; `Ok(None)`: nothing to strip;
/// `Err`: kept, with the reason.
type StripOutcome = Result<Option<StrippedBytes>, String>;

/// A stripped library's compressed bytes: in its memo file, or (when that could not be
/// written) in memory with their RECORD hash.
enum StrippedBytes {
    Memo(memo::Stored),
    Memory(Prepared, String),
}

/// One ELF file after the strip attempt.
struct StripResult {
    path: ArchivePath,
    record: usize,
    outcome: StripOutcome,
    facts: Option<ElfFacts>,
}

/// Strip one entry installed at `path`, or find it stripped already ([`memo`]), waiting for it
/// if it is being stripped ahead ([`Prestrip`]); the outcome and the file's audit facts.
fn strip_entry(
    wheel: &Wheel,
    wheel_sha256: &str,
    cache: &Cache,
    path: &ArchivePath,
    entry: &WheelEntry,
) -> (StripOutcome, Option<ElfFacts>) {
    let key = memo::key(wheel_sha256, entry.path.as_str());
    let slot = stripping_slot(&key);
    let _mine = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((outcome, facts)) = memo::load(cache, &key, path.as_str()) {
        let outcome = match outcome {
            memo::Outcome::Stripped(stored) => Ok(Some(StrippedBytes::Memo(stored))),
            memo::Outcome::Unchanged => Ok(None),
            memo::Outcome::Refused(why) => Err(why),
        };
        return (outcome, facts);
    }
    strip_fresh(wheel, cache, &key, path, entry)
}

/// Strip one entry and remember the result under `key`.
fn strip_fresh(
    wheel: &Wheel,
    cache: &Cache,
    key: &str,
    path: &ArchivePath,
    entry: &WheelEntry,
) -> (StripOutcome, Option<ElfFacts>) {
    // Look at the magic first: a file that is not ELF is raw-copied without being inflated
    // into memory (a `.so` of 2 GiB of zeros costs four bytes here).
    match wheel.read_entry_prefix(entry.index, 4) {
        Ok(magic) if elf::is_elf(&magic) => {}
        Ok(_) => return (Ok(None), None),
        Err(e) => return (Err(e.to_string()), None),
    }
    let _room = STRIPPING.take(entry.size);
    let data = match wheel.read_entry(entry.index) {
        Ok(d) => d,
        Err(e) => return (Err(e.to_string()), None),
    };
    let facts = elf_facts(path.as_str(), &data);
    // The stripped file is written over the input's own buffer: one copy of a large library
    // in memory, not two.
    let outcome = match strip::strip_owned(data) {
        // Compressed straight into the memo file; in memory only when that cannot be written
        // (the fragment is then written from memory, as before results were remembered).
        strip::Stripped::Done { data: out, .. } => {
            match memo::store_stripped(cache, key, &out, facts.as_ref()) {
                Ok(stored) => Ok(Some(StrippedBytes::Memo(stored))),
                Err(_) => match Prepared::compress(&out) {
                    Ok(p) => Ok(Some(StrippedBytes::Memory(p, record_hash(&out)))),
                    Err(e) => Err(e.to_string()),
                },
            }
        }
        strip::Stripped::Kept(
            strip::KeepReason::NotElf
            | strip::KeepReason::NothingToStrip
            | strip::KeepReason::NotSmaller,
        ) => {
            memo::store_kept(cache, key, None, facts.as_ref());
            Ok(None)
        }
        strip::Stripped::Kept(other) => {
            let why = other.to_string();
            memo::store_kept(cache, key, Some(&why), facts.as_ref());
            Err(why)
        }
    };
    (outcome, facts)
}

/// Bytes of ELF files being stripped at once, across every wheel of the process: a library is
/// held inflated while it is stripped and recompressed, and two of polars' or llvmlite's size
/// (137 MB, 178 MB) at once would take lpack past 300 MB (so would scipy's and pandas'
/// libraries beside a wheel's compiled sources, at 128 MB). A file waits while others are in
/// flight and it would pass this; alone, any size goes. The seed stack's largest library is
/// 39 MB stripped: its build is not held back.
const STRIP_MEMORY: u64 = 64 << 20;

/// Libraries being stripped, by inflated size ([`STRIP_MEMORY`]).
static STRIPPING: crate::budget::Budget = crate::budget::Budget::new(STRIP_MEMORY);

/// Wheels cannot hold symlinks, so `libx.so`, `libx.so.26` and `libx.so.26.1.0` arrive as
/// identical copies. The loader asks only for the SONAME (DT_NEEDED records the SONAME, never the
/// file name linked against), so a copy whose SONAME names an identical file beside it is dropped
/// (rule `elf.soname-copy`).
fn drop_soname_copies(
    plan: &mut BTreeMap<ArchivePath, (Content, usize)>,
    records: &mut [FileRecord],
    elf: &mut Vec<ElfFacts>,
    hits: &mut BTreeMap<String, u64>,
) {
    const RULE: &str = "elf.soname-copy";
    let original = |plan: &BTreeMap<ArchivePath, (Content, usize)>, p: &str| {
        let ap = ArchivePath::new(p).ok()?;
        let (_, ri) = plan.get(&ap)?;
        Some((records[*ri].original_size, *ri))
    };
    let mut drops = Vec::new();
    for f in elf.iter() {
        let Some(soname) = &f.soname else { continue };
        let (dir, base) = f.path.rsplit_once('/').unwrap_or(("", f.path.as_str()));
        if base == soname {
            continue;
        }
        let sibling = if dir.is_empty() {
            soname.clone()
        } else {
            format!("{dir}/{soname}")
        };
        let (Some((size_a, _)), Some((size_b, _))) =
            (original(plan, &f.path), original(plan, &sibling))
        else {
            continue;
        };
        // Same size and the same SONAME: the same library (the sibling is the one loaded).
        if size_a == size_b
            && elf
                .iter()
                .any(|g| g.path == sibling && g.soname.as_ref() == Some(soname))
        {
            drops.push(f.path.clone());
        }
    }
    for p in &drops {
        if let Ok(ap) = ArchivePath::new(p)
            && let Some((_, ri)) = plan.remove(&ap)
        {
            records[ri].action = RecordAction::Drop;
            records[ri].rule = Some(RULE.to_string());
            records[ri].size = 0;
            *hits.entry(RULE.to_string()).or_default() += 1;
        }
    }
    elf.retain(|f| !drops.contains(&f.path));
}

fn looks_like_library(path: &str) -> bool {
    path.ends_with(".so") || path.contains(".so.")
}

/// Audit facts of an ELF file (`None` when not ELF or unreadable).
pub fn elf_facts(path: &str, data: &[u8]) -> Option<ElfFacts> {
    let e = elf::Elf::parse(data).ok()?;
    let d = e.dynamic().ok()?;
    Some(ElfFacts {
        path: path.to_string(),
        machine: e.machine,
        needed: d.needed,
        soname: d.soname,
        runpath: d.runpath,
        version_needs: d.version_needs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Runtime};

    fn p(s: &str) -> ArchivePath {
        ArchivePath::new(s).expect("path")
    }

    #[test]
    fn data_scheme_mapping() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        let dd = Some("pkg-1.0.data");
        assert_eq!(
            plan_entry(&p("pkg-1.0.data/purelib/pkg/x.py"), dd, &t),
            Verdict::Keep(p("pkg/x.py"))
        );
        assert_eq!(
            plan_entry(&p("pkg-1.0.data/platlib/pkg/_x.so"), dd, &t),
            Verdict::Keep(p("pkg/_x.so"))
        );
        assert_eq!(
            plan_entry(&p("pkg-1.0.data/scripts/tool"), dd, &t),
            Verdict::Drop {
                rule: "wheel.install-scheme"
            }
        );
        assert_eq!(
            plan_entry(&p("pkg/x.py"), dd, &t),
            Verdict::Keep(p("pkg/x.py"))
        );
    }

    #[test]
    fn foreign_bytecode() {
        let t = Target::new(Runtime::Python312, Arch::X86_64);
        assert_eq!(
            plan_entry(&p("pkg/__pycache__/x.cpython-311.pyc"), None, &t),
            Verdict::Drop {
                rule: "bytecode.other-python"
            }
        );
        assert_eq!(
            plan_entry(&p("pkg/__pycache__/x.cpython-312.opt-1.pyc"), None, &t),
            Verdict::Keep(p("pkg/__pycache__/x.cpython-312.opt-1.pyc"))
        );
        assert_eq!(
            plan_entry(&p("pkg/x.pyc"), None, &t),
            Verdict::Keep(p("pkg/x.pyc"))
        );
    }
}
