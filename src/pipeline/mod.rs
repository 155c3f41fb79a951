//! The build as a library call: the composition root of the pipeline.
//!
//! [`build`] takes plain, already resolved settings ([`BuildRequest`]; no command-line types) and
//! runs the stages in order, returning everything a front end needs to report on
//! ([`BuildOutcome`]): the manifests written, warnings, the limit and gate results, the verify
//! status and timings. It never prints; progress goes to the [`Reporter`] it is given.
//!
//! ```text
//! inputs ─► lock ─► fetch ─► slim (within the bytecode budget) ─► audit ─► emit ─► manifest ─► verify
//! ```
//!
//! - [`slimming`]: recipes, the bytecode plan and slimming within the size budget; the audit.
//! - [`units`]: function and layer zips with their manifests, layers, Lambda's limit.
//! - [`image`]: `--format image`.
//! - [`check`]: the import check after a function-zip build, the handler check after an image.

pub mod check;
pub mod error;
pub mod explain;
pub mod external;
pub mod fingerprint;
pub mod image;
pub mod kept;
pub mod key;
pub mod many;
pub mod outcome;
pub mod request;
pub mod shared;
pub mod slimming;
pub mod units;

use std::path::PathBuf;
use std::time::Instant;

use crate::artifact::{ArtifactKind, ArtifactManifest, LayerRef, manifest_path};
use crate::fetch::{CheckPolicy, check_wheels_timed, fetch_then};
use crate::progress::Reporter;
use crate::report::GateFailure;
use crate::sink::Epoch;
use crate::slim::SlimmedWheel;
use crate::sources;
use crate::wheel::integrity::SizeLimit;

pub use error::BuildError;
pub use outcome::{BuildOutcome, BuiltArtifact, BuiltImageSummary, Timings, VerifyStep};
pub use request::{
    BuildRequest, Gates, ImageRequest, IndexSettings, OutputFormat, Prefer, SlimRequest,
    VerifyMode, default_output,
};

pub use crate::target::{DIRECT_UPLOAD_LIMIT, UNZIPPED_LIMIT};

/// The caller's reporter, with this build's timing recorder.
struct Timed<'a> {
    inner: &'a dyn Reporter,
    recorder: crate::timings::Recorder,
}

impl Reporter for Timed<'_> {
    fn start(&self, phase: crate::progress::Phase, total: u64) {
        self.inner.start(phase, total)
    }
    fn advance(&self, phase: crate::progress::Phase, n: u64) {
        self.inner.advance(phase, n)
    }
    fn bytes(&self, phase: crate::progress::Phase, n: u64) {
        self.inner.bytes(phase, n)
    }
    fn finish(&self, phase: crate::progress::Phase) {
        self.inner.finish(phase)
    }
    fn timings(&self) -> Option<&crate::timings::Recorder> {
        Some(&self.recorder)
    }
}

/// How large one wheel may be, unzipped, for this build's format (checked from declared sizes
/// before anything is inflated).
fn wheel_limit(req: &BuildRequest) -> SizeLimit {
    if req.format == OutputFormat::Image || !req.limit_check {
        SizeLimit {
            bytes: req.max_image_size,
            what: "the image size cap (--max-image-size)".to_string(),
        }
    } else {
        SizeLimit {
            bytes: UNZIPPED_LIMIT,
            what: "Lambda's unzipped limit for zips and layers".to_string(),
        }
    }
}

/// Build what `req` asks for: inputs → lock → fetch → slim → audit → emit → manifest → verify.
pub fn build(req: &BuildRequest, reporter: &dyn Reporter) -> Result<BuildOutcome, BuildError> {
    let timed = Timed {
        inner: reporter,
        recorder: crate::timings::Recorder::new(),
    };
    let started = Instant::now();
    // Nothing changed since the last build: answer from its manifest (see `fingerprint`). The
    // fingerprint is taken before any input is read, so an input edited during this build
    // makes the next one build again.
    let fp = fingerprint::compute(req);
    if let Some(fp) = &fp
        && let Some(mut outcome) = fingerprint::up_to_date(req, fp, started)?
    {
        outcome.timings.total = started.elapsed();
        outcome.timings.stages = timed.recorder.report();
        return Ok(outcome);
    }
    let (mut outcome, complete_lock) = build_timed(req, &timed, fp.as_ref())?;
    outcome.timings.stages = timed.recorder.report();
    let single = outcome.artifacts.len() == 1;
    // Artifacts copied from the local cache come without their manifests: written here, once.
    let unwritten = outcome.restored_from == Some(shared::LOCAL);
    for a in &mut outcome.artifacts {
        let mut changed = unwritten;
        if req.timings {
            a.manifest.timings = Some(outcome.timings.stages.clone());
            changed = true;
        }
        if let Some(fp) = fp.as_ref().filter(|_| single && complete_lock) {
            changed |= fingerprint::record(a, fp);
        }
        if changed {
            a.manifest.write(&a.manifest_file)?;
        }
    }
    Ok(outcome)
}

/// The build, and whether its input was a complete lock (nothing was resolved: the same input
/// bytes always build the same artifact, so a no-change fingerprint may vouch for it).
fn build_timed(
    req: &BuildRequest,
    reporter: &dyn Reporter,
    fp: Option<&fingerprint::Fingerprint>,
) -> Result<(BuildOutcome, bool), BuildError> {
    let started = Instant::now();
    check_request(req)?;
    let cancelled = std::sync::atomic::AtomicBool::new(false);
    // Libraries stripped as their wheels land run on rayon's pool inside this scope; it ends
    // once the slim stage (which waits for any it needs) is done.
    let staged = match ahead_pool() {
        Some(pool) => {
            pool.in_place_scope(|scope| staged_in(scope, &cancelled, req, reporter, fp, started))
        }
        None => {
            rayon::in_place_scope(|scope| staged_in(scope, &cancelled, req, reporter, fp, started))
        }
    }?;
    let s = match staged {
        Staged::Restored(outcome, complete_lock) => return Ok((*outcome, complete_lock)),
        Staged::Slimmed(slimmed) => *slimmed,
    };
    let mut timings = s.timings;
    let mut outcome = emit_and_verify(&s.run, s.prepared, &s.output, s.resolved, &mut timings)?;
    timings.total = started.elapsed();
    outcome.timings = timings;
    if let Some(key) = &s.content_key {
        shared::publish(req, &s.run.locked.sources.cache, key, &s.output, &outcome);
    }
    Ok((outcome, s.complete_lock))
}

/// [`slim_staged`] with work started ahead in `scope`. Once it returns, whatever has not
/// started is not needed: the slim stage did what it used (a wheel whose fragment was cached
/// never asked), or the build was restored whole or failed.
fn staged_in<'s>(
    scope: &rayon::Scope<'s>,
    cancelled: &'s std::sync::atomic::AtomicBool,
    req: &'s BuildRequest,
    reporter: &'s dyn Reporter,
    fp: Option<&fingerprint::Fingerprint>,
    started: Instant,
) -> Result<Staged<'s>, BuildError> {
    let ahead = Ahead { scope, cancelled };
    let staged = slim_staged(req, reporter, fp, started, &ahead);
    cancelled.store(true, std::sync::atomic::Ordering::Relaxed);
    staged
}

/// Work started ahead of its stage while wheels still download: their libraries, stripped on
/// rayon's pool within `scope` ([`on_landed`]); `cancelled` once the build no longer needs it.
struct Ahead<'a, 's> {
    scope: &'a rayon::Scope<'s>,
    cancelled: &'s std::sync::atomic::AtomicBool,
}

/// The pool work started ahead runs on: a thread per core at a lower scheduling priority, so it
/// takes only what the stages in flight leave. A wheel's integrity check and import graph (the
/// guard waits for every one) go first; with nothing else to run, the ahead work has every core.
fn ahead_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("lpack-ahead-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .ok()
    })
    .as_ref()
}

/// Lower the calling thread's scheduling priority: on Linux a nice value belongs to a thread,
/// and `who = 0` is the caller (elsewhere it would be the whole process, so nothing is done). A
/// failure leaves it as it was.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: a plain system call with no pointers.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// A build up to its slim stage: restored whole from a cache, or slimmed and audited.
enum Staged<'a> {
    Restored(Box<BuildOutcome>, bool),
    Slimmed(Box<Slimmed<'a>>),
}

/// A build slimmed and audited, with what its emit stage needs.
struct Slimmed<'a> {
    run: Run<'a>,
    prepared: Prepared,
    output: PathBuf,
    resolved: Option<Vec<String>>,
    complete_lock: bool,
    content_key: Option<String>,
    timings: Timings,
}

/// Lock, then restore the unit whole from a cache, or fetch, check, slim and audit it.
fn slim_staged<'a, 's>(
    req: &'s BuildRequest,
    reporter: &'s dyn Reporter,
    fp: Option<&fingerprint::Fingerprint>,
    started: Instant,
    ahead: &Ahead<'a, 's>,
) -> Result<Staged<'s>, BuildError> {
    let locked = lock_inputs(req, reporter, ahead)?;
    let mut timings = Timings {
        lock: started.elapsed(),
        ..Timings::default()
    };
    let resolved = resolved_pins(req, &locked);
    let complete_lock = resolved.is_none() && locked.input.set.as_ref().is_none_or(|s| s.hashed);
    let output = req
        .output
        .clone()
        .unwrap_or_else(|| default_output(&locked.input.path));

    // A unit built before, here or by another runner: its artifacts from the local or remote
    // cache, no wheel needed.
    let content_key = content_key(req, &locked.input.path, &locked.lock, fp)?;
    if let Some(key) = &content_key
        && let Some(mut outcome) =
            shared::restore(req, &locked.sources.cache, key, &output, started)?
    {
        outcome.resolved = resolved;
        return Ok(Staged::Restored(Box::new(outcome), complete_lock));
    }

    let run = Run {
        req,
        reporter,
        started,
        locked,
    };
    let fetched = fetch_and_check(&run, &mut timings, ahead)?;
    let prepared = slim_and_audit(&run, fetched, &output, &mut timings)?;
    Ok(Staged::Slimmed(Box::new(Slimmed {
        run,
        prepared,
        output,
        resolved,
        complete_lock,
        content_key,
        timings,
    })))
}

/// Read the input and lock it (the resolve stage). Wheels that locking downloads are checked
/// and parsed as they land ([`on_landed`]).
fn lock_inputs<'s>(
    req: &'s BuildRequest,
    reporter: &'s dyn Reporter,
    ahead: &Ahead<'_, 's>,
) -> Result<sources::Locked, BuildError> {
    let span = crate::timings::process_span(reporter.timings(), crate::timings::Stage::Resolve);
    let landed = on_landed(req, reporter.timings(), ahead);
    let locked = sources::read_and_lock_deps(
        &sources::LockRequest {
            requirements: req.requirements.as_deref(),
            extra: &req.extras,
            group: &req.groups,
            cache_dir: req.cache_dir.as_deref(),
            offline: req.offline,
            index: &req.index,
            prerelease: req.prerelease,
            landed: Some(&landed),
        },
        req.no_deps,
        &req.target,
        reporter,
    )?;
    span.end();
    Ok(locked)
}

/// What to do with a wheel as soon as it is downloaded, while the others still download: its
/// integrity check, its import graph (the guard's input) and the stripping of the libraries the
/// recipes strip, each remembered in the cache by the wheel's sha256, so the check, the guard
/// and the slim stage later find them done. A failure here is left
/// for those stages to report, in order, with their context. At most one wheel per core is
/// worked on at once (downloads run eight at a time, and a wheel's sources are held while its
/// graph is made), so memory stays bounded.
fn on_landed<'a, 's>(
    req: &'s BuildRequest,
    rec: Option<&'s crate::timings::Recorder>,
    ahead: &'a Ahead<'a, 's>,
) -> impl Fn(&crate::fetch::FetchedWheel, &crate::cache::Cache) + Sync + 'a {
    use crate::timings::{Stage, thread_span};
    use std::sync::atomic::Ordering;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let slots = crate::budget::Budget::new(cores as u64);
    let policy = CheckPolicy {
        limit: wheel_limit(req),
        verify_record: req.verify_record,
    };
    // Loaded when the first wheel lands (most builds download nothing, and a config's many
    // units each make this hook). Recipes that do not load are reported by the slim stage;
    // here they only mean no stripping ahead of it.
    let recipes = std::sync::OnceLock::new();
    move |w, cache| {
        let _slot = slots.take(1);
        let name = Some(w.locked.name.as_str());
        let checked = {
            let _span = thread_span(rec, Stage::Integrity, name);
            crate::fetch::check_wheel(w, cache, &policy)
        };
        if checked.is_err() {
            return;
        }
        {
            let _span = thread_span(rec, Stage::Parse, name);
            let _ = crate::slim::guard::wheel_graph(w, &req.target, cache);
        }
        // Its libraries are stripped on the pool, one task each, while this thread goes back
        // to downloading.
        let Some(plan) = recipes
            .get_or_init(|| slimming::load_recipes(&req.slim, &req.target).ok())
            .as_ref()
            .and_then(|r| crate::slim::Prestrip::plan(w, &req.target, r))
        else {
            return;
        };
        let plan = std::sync::Arc::new(plan);
        let cancelled = ahead.cancelled;
        for i in 0..plan.len() {
            let (plan, cache) = (plan.clone(), cache.clone());
            ahead.scope.spawn(move |_| {
                if !cancelled.load(Ordering::Relaxed) {
                    plan.run(i, &cache, rec);
                }
            });
        }
    }
}

/// `name==version` of every package this build chose, when the input was resolved rather than
/// taken as a complete lock (see `sources::lock_input`): loose requirements, or pins whose
/// dependencies were chosen by this build.
fn resolved_pins(req: &BuildRequest, locked: &sources::Locked) -> Option<Vec<String>> {
    locked
        .input
        .set
        .as_ref()
        .filter(|s| {
            let complete = s.hashed && s.unpinned.is_empty() && s.constraints.is_empty();
            !(complete || (req.no_deps && s.unpinned.is_empty()))
        })
        .map(|_| {
            locked
                .lock
                .wheels
                .iter()
                .map(|w| format!("{}=={}", w.name, w.version))
                .collect()
        })
}

/// One build's request, reporter, start and locked input: what every step below reads.
struct Run<'a> {
    req: &'a BuildRequest,
    reporter: &'a dyn Reporter,
    started: Instant,
    locked: sources::Locked,
}

/// The locked wheels, fetched and checked, with what external layers take off the function.
struct Fetched {
    wheels: Vec<crate::fetch::FetchedWheel>,
    stats: crate::fetch::FetchStats,
    warnings: Vec<String>,
    external: external::ExternalPlan,
}

/// Fetch every locked wheel, check its declared sizes and RECORD, and plan what `--with-layer`
/// layers provide (before any slimming).
fn fetch_and_check<'s>(
    run: &Run<'s>,
    timings: &mut Timings,
    ahead: &Ahead<'_, 's>,
) -> Result<Fetched, BuildError> {
    let (req, locked, reporter) = (run.req, &run.locked, run.reporter);
    let step = Instant::now();
    let cache = &locked.sources.cache;
    let landed = on_landed(req, reporter.timings(), ahead);
    let (wheels, stats) = fetch_then(
        &locked.lock,
        cache,
        locked.sources.http.as_ref(),
        req.offline,
        reporter,
        Some(&landed),
    )?;
    let mut warnings = locked.lock.warnings.clone();
    warnings.extend(check_wheels_timed(
        &wheels,
        cache,
        &CheckPolicy {
            limit: wheel_limit(req),
            verify_record: req.verify_record,
        },
        reporter.timings(),
    )?);
    let external = external::plan(req, &wheels, cache, &mut warnings)?;
    timings.fetch = step.elapsed();
    Ok(Fetched {
        wheels,
        stats,
        warnings,
        external,
    })
}

/// Everything emitting needs: the slimmed wheels and what decided them.
struct Prepared {
    wheels: Vec<crate::fetch::FetchedWheel>,
    stats: crate::fetch::FetchStats,
    warnings: Vec<String>,
    external: external::ExternalPlan,
    epoch: Epoch,
    recipes: crate::slim::recipe::RecipeSet,
    src_tree: crate::srctree::SrcTree,
    src_digests: Vec<(String, String)>,
    slimmed: slimming::Slimmed,
    findings: Vec<crate::slim::audit::Finding>,
}

/// Slim every wheel (recipes, strip, bytecode; cached per wheel) within the size budget, then
/// run the ABI audit before anything is written.
fn slim_and_audit(
    run: &Run<'_>,
    fetched: Fetched,
    output: &std::path::Path,
    timings: &mut Timings,
) -> Result<Prepared, BuildError> {
    let (req, locked, reporter) = (run.req, &run.locked, run.reporter);
    let step = Instant::now();
    let Fetched {
        wheels,
        stats,
        mut warnings,
        external,
    } = fetched;
    let manifest_file = manifest_path(output);
    check_outputs_replaceable(req, output)?;
    let epoch = Epoch::from_env();
    let cache = &locked.sources.cache;
    let recipes = slimming::load_recipes(&req.slim, &req.target)?;
    let plan = slimming::bytecode_plan_in(&req.slim, &req.target, &mut warnings, Some(cache))?;
    let src_tree = walk_src(
        req,
        &locked.input.path,
        output,
        &manifest_file,
        &mut warnings,
    )?;
    let src_digests = src_tree.digests()?;
    let job = slimming::SlimJob {
        req,
        wheels: &wheels,
        recipes: &recipes,
        epoch,
        sources: &locked.sources,
        reporter,
        src_digests: &src_digests,
        src: &src_tree.files,
    };
    let slimmed = slimming::slim_within_budget(&job, plan)?;
    timings.slim = step.elapsed();
    let findings = slimming::audit_gate(
        req,
        &slimmed.wheels,
        &src_tree.files,
        &external.library_names(),
        &mut warnings,
    )?;
    Ok(Prepared {
        wheels,
        stats,
        warnings,
        external,
        epoch,
        recipes,
        src_tree,
        src_digests,
        slimmed,
        findings,
    })
}

/// Emit the artifacts and their manifests in the requested format, check Lambda's limits and
/// the gates, and run the import check (zips and images).
fn emit_and_verify(
    run: &Run<'_>,
    p: Prepared,
    output: &std::path::Path,
    resolved: Option<Vec<String>>,
    timings: &mut Timings,
) -> Result<BuildOutcome, BuildError> {
    let (req, locked, reporter, started) = (run.req, &run.locked, run.reporter, run.started);
    let mut outcome = BuildOutcome {
        format: req.format,
        artifacts: Vec::new(),
        image: None,
        stats: p.stats.clone(),
        over_limit: None,
        gate_failures: Vec::new(),
        verify: None,
        timings: Timings::default(),
        resolved,
        restored_from: None,
    };
    let step = Instant::now();
    let span = crate::timings::process_span(reporter.timings(), crate::timings::Stage::Emit);
    let dists: std::collections::BTreeSet<String> =
        p.wheels.iter().map(|w| w.locked.name.clone()).collect();
    let stale_rules = p.recipes.stale(&dists);
    let emitting = Emitting {
        ctx: units::Ctx {
            req,
            input: &locked.input.path,
            epoch: p.epoch,
            recipes: &p.recipes,
            plan: &p.slimmed.plan,
            bytecode_note: p.slimmed.note.as_deref(),
            findings: &p.findings,
            stale_rules: &stale_rules,
            warnings: &p.warnings,
            skipped: &locked.pinned.skipped,
            reporter,
            src: &p.src_tree,
            started,
        },
        p: &p,
        sources: &locked.sources,
        step,
        span,
    };
    match req.format {
        OutputFormat::Zip => emit_zip(emitting, output, &mut outcome, timings)?,
        OutputFormat::Image => emit_image(emitting, &mut outcome, timings)?,
        OutputFormat::Layer => emit_layer_set(emitting, output, &mut outcome, timings)?,
    }
    Ok(outcome)
}

/// The emit step under way: what every format's emission reads, and the step's clock and
/// timing span (ended once the artifacts are written, before the checks).
struct Emitting<'a> {
    ctx: units::Ctx<'a>,
    p: &'a Prepared,
    sources: &'a sources::Sources,
    step: Instant,
    span: crate::timings::Span<'a>,
}

/// `format = zip`: the function zip (against its layers), Lambda's limit, then the import check
/// and the gates when it fits.
fn emit_zip(
    e: Emitting<'_>,
    output: &std::path::Path,
    outcome: &mut BuildOutcome,
    timings: &mut Timings,
) -> Result<(), BuildError> {
    use crate::timings::{Stage, process_span};
    let Emitting {
        ctx,
        p,
        sources,
        step,
        span: emit_span,
    } = e;
    let (req, reporter) = (ctx.req, ctx.reporter);
    let rec = reporter.timings();
    let layers = units::read_layers(&req.exclude_layers)?;
    let mut function = function_unit(
        &ctx,
        output,
        &p.slimmed.wheels,
        &p.wheels,
        &layers,
        &p.src_digests,
    )?;
    p.external.apply(&mut function);
    let mut built = units::emit_unit(&ctx, &function, &p.wheels)?;
    emit_span.end();
    timings.emit = step.elapsed();
    let mut counted = vec![built.manifest.clone()];
    counted.extend(layers);
    counted.extend(p.external.manifests(&req.target));
    outcome.over_limit = units::over_limit(req, &counted);
    if outcome.over_limit.is_none() {
        let step = Instant::now();
        let _span = process_span(rec, Stage::Verify);
        outcome.verify = Some(check::verify_after_build(
            req,
            &mut built,
            &p.slimmed.plan,
            sources,
            reporter,
        )?);
        timings.verify = step.elapsed();
        outcome.gate_failures = gate_failures(req, std::slice::from_ref(&built.manifest));
    }
    outcome.artifacts.push(built);
    Ok(())
}

/// `format = image`: the OCI image, then its handler check and the gates.
fn emit_image(
    e: Emitting<'_>,
    outcome: &mut BuildOutcome,
    timings: &mut Timings,
) -> Result<(), BuildError> {
    use crate::timings::{Stage, process_span};
    let Emitting {
        ctx,
        p,
        sources,
        step,
        span: emit_span,
    } = e;
    let (req, reporter) = (ctx.req, ctx.reporter);
    let rec = reporter.timings();
    let mut image = image::build_image(&ctx, &p.slimmed.wheels, &sources.cache)?;
    emit_span.end();
    timings.emit = step.elapsed();
    let step = Instant::now();
    let _span = process_span(rec, Stage::Verify);
    outcome.verify = Some(check::verify_image_after_build(
        req,
        &mut image,
        &p.slimmed.plan,
        sources,
        reporter,
    )?);
    timings.verify = step.elapsed();
    outcome.gate_failures = gate_failures(req, std::slice::from_ref(&image.manifest));
    outcome.image = Some(image);
    Ok(())
}

/// `format = layer`: the layer zips, Lambda's limit, then the gates when they fit (layers are
/// not import-checked on their own).
fn emit_layer_set(
    e: Emitting<'_>,
    output: &std::path::Path,
    outcome: &mut BuildOutcome,
    timings: &mut Timings,
) -> Result<(), BuildError> {
    let Emitting {
        ctx,
        p,
        step,
        span: emit_span,
        ..
    } = e;
    let req = ctx.req;
    outcome.artifacts = units::emit_layers(&ctx, &p.slimmed.wheels, &p.wheels, output)?;
    emit_span.end();
    timings.emit = step.elapsed();
    let manifests: Vec<ArtifactManifest> = outcome
        .artifacts
        .iter()
        .map(|a| a.manifest.clone())
        .collect();
    outcome.over_limit = units::over_limit(req, &manifests);
    if outcome.over_limit.is_none() {
        outcome.gate_failures = gate_failures(req, &manifests);
    }
    Ok(())
}

/// The content key of this build ([`key`]) when the format is a zip or layers (images have
/// their own layer cache).
fn content_key(
    req: &BuildRequest,
    input: &std::path::Path,
    lock: &crate::resolve::Lock,
    fp: Option<&fingerprint::Fingerprint>,
) -> Result<Option<String>, BuildError> {
    if req.format == OutputFormat::Image {
        return Ok(None);
    }
    let output = req.output.clone().unwrap_or_else(|| default_output(input));
    let manifest_file = manifest_path(&output);
    // The fingerprint's walk when it was of the same outputs (it excludes them).
    let walked = fp.filter(|f| f.output == output && f.manifest_file == manifest_file);
    let walked_now;
    let src_tree = match walked {
        Some(f) => &f.src,
        None => {
            walked_now = walk_src(req, input, &output, &manifest_file, &mut Vec::new())?;
            &walked_now
        }
    };
    let recipes_digest = slimming::recipes_digest(&req.slim, &req.target)?;
    key::artifact_key(
        req,
        &key::KeyInputs {
            input,
            lock,
            src_digests: &src_tree.digests()?,
            recipes_digest: &recipes_digest,
            epoch: Epoch::from_env().0,
            output_name: &output
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        },
    )
}

/// The handler files of `src` (none without it), skipping what this build writes; a warning
/// naming the largest files when they add up to more than [`crate::srctree::LARGE_SRC`].
fn walk_src(
    req: &BuildRequest,
    input: &std::path::Path,
    output: &std::path::Path,
    manifest_file: &std::path::Path,
    warnings: &mut Vec<String>,
) -> Result<crate::srctree::SrcTree, BuildError> {
    let Some(src) = &req.src else {
        return Ok(crate::srctree::SrcTree::default());
    };
    let mut own = vec![output.to_path_buf(), manifest_file.to_path_buf()];
    if req.format == OutputFormat::Image {
        for o in &req.image.outputs {
            if let Ok(o) = crate::emit::image::ImageOut::parse(o) {
                let p = match o {
                    crate::emit::image::ImageOut::OciLayout { dir, .. } => dir,
                    crate::emit::image::ImageOut::DockerArchive { file, .. } => file,
                };
                own.push(manifest_path(&p));
                own.push(p);
            }
        }
    }
    // The input is read by lpack, not by the handler (a pyproject.toml may be read by both).
    let inputs: Vec<PathBuf> = if input.file_name().is_some_and(|n| n == "pyproject.toml") {
        Vec::new()
    } else {
        vec![input.to_path_buf()]
    };
    let tree = crate::srctree::walk(src, &req.src_filter, &own, &inputs)?;
    let size = tree.size();
    if size > crate::srctree::LARGE_SRC {
        let largest: Vec<String> = tree
            .largest(5)
            .iter()
            .map(|f| format!("{} ({})", f.path, crate::report::render::mb(f.size)))
            .collect();
        warnings.push(format!(
            "handler code (--src {}) is {} in {} files; largest: {}\n  hint: if these are not code, list them in .gitignore or `exclude = [\"GLOB\"]` (--exclude GLOB)",
            src.display(),
            crate::report::render::mb(size),
            tree.files.len(),
            largest.join(", ")
        ));
    }
    Ok(tree)
}

/// lpack never replaces a file it did not write: before any slimming, each file this build
/// will write that exists already must be lpack's — an artifact with its `.lpack.json` beside
/// it, or (for `docker-archive:` outputs) an image archive.
fn check_outputs_replaceable(
    req: &BuildRequest,
    output: &std::path::Path,
) -> Result<(), BuildError> {
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    if req.format == OutputFormat::Image {
        for o in &req.image.outputs {
            if let Ok(crate::emit::image::ImageOut::DockerArchive { file, .. }) =
                crate::emit::image::ImageOut::parse(o)
            {
                files.push((file, true));
            }
        }
    } else {
        files.push((output.to_path_buf(), false));
    }
    for (file, archive) in files {
        let Ok(meta) = std::fs::symlink_metadata(&file) else {
            continue;
        };
        let ours = meta.is_file()
            && (manifest_path(&file).is_file() || (archive && is_image_archive(&file)));
        if !ours {
            return Err(BuildError::Request(format!(
                "{} exists and lpack did not write it (no {} beside it{}): lpack never replaces a file it did not write\n  hint: choose another output (-o / the `output` key{}), or move that file away yourself",
                file.display(),
                manifest_path(&file)
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                if archive {
                    ", and it is no image archive"
                } else {
                    ""
                },
                if archive { ", --image-out" } else { "" },
            )));
        }
    }
    Ok(())
}

/// Is `file` a tar archive holding an image (an OCI layout's `oci-layout`, or a docker-archive's
/// `manifest.json`) among its first entries?
fn is_image_archive(file: &std::path::Path) -> bool {
    let Ok(f) = std::fs::File::open(file) else {
        return false;
    };
    let mut archive = tar::Archive::new(f);
    let Ok(entries) = archive.entries() else {
        return false;
    };
    entries.take(64).flatten().any(|e| {
        e.path().is_ok_and(|p| {
            let p = p.to_string_lossy();
            let p = p.trim_start_matches("./");
            p == "oci-layout" || p == "manifest.json"
        })
    })
}

/// Refuse combinations that cannot be built, before any work.
fn check_request(req: &BuildRequest) -> Result<(), BuildError> {
    if !req.with_layers.is_empty() && req.format != OutputFormat::Zip {
        return Err(BuildError::Request(
            "--with-layer builds a function zip against a layer; layers and images do not take layers\n  hint: drop --format (or use --format zip), or leave out --with-layer".to_string(),
        ));
    }
    if req.verify == VerifyMode::Require && req.format == OutputFormat::Layer {
        return Err(BuildError::Request(
            "--verify checks function zips (with the layers given by --exclude-layer) and images' handlers, not layers alone: build the function zip against the layer (--exclude-layer LAYER.zip.lpack.json) with --verify".to_string(),
        ));
    }
    Ok(())
}

/// The function zip: every slimmed wheel but those the `--exclude-layer` layers hold (which
/// must be the same versions), plus the handler code.
fn function_unit(
    ctx: &units::Ctx<'_>,
    output: &std::path::Path,
    slimmed: &[SlimmedWheel],
    wheels: &[crate::fetch::FetchedWheel],
    layers: &[ArtifactManifest],
    src_digests: &[(String, String)],
) -> Result<units::Unit, BuildError> {
    let in_layers: std::collections::BTreeMap<&str, &str> = layers
        .iter()
        .flat_map(|m| {
            m.packages
                .iter()
                .map(|p| (p.name.as_str(), p.version.as_str()))
        })
        .collect();
    for w in wheels {
        if let Some(v) = in_layers.get(w.locked.name.as_str())
            && *v != w.locked.version
        {
            return Err(BuildError::Layers(format!(
                "{} is {} in {} but {v} in the layer; the function would import the layer's copy\n  hint: build the layer and the function from the same lock",
                w.locked.name,
                w.locked.version,
                ctx.input.display()
            )));
        }
    }
    Ok(units::Unit {
        output: output.to_path_buf(),
        kind: ArtifactKind::FunctionZip,
        prefix: String::new(),
        slimmed: slimmed
            .iter()
            .filter(|s| !in_layers.contains_key(s.wheel.locked.name.as_str()))
            .cloned()
            .collect(),
        src: ctx.src.files.clone(),
        src_digests: src_digests.to_vec(),
        layers: layers
            .iter()
            .map(|m| LayerRef {
                file: m.artifact.file.clone(),
                sha256: m.artifact.sha256.clone(),
                unzipped_size: m.artifact.unzipped_size,
                distributions: m.packages.iter().map(|p| p.name.clone()).collect(),
                external: None,
            })
            .collect(),
    })
}

/// The `max_unzipped` / `max_zipped` gates over these manifests.
fn gate_failures(req: &BuildRequest, manifests: &[ArtifactManifest]) -> Vec<GateFailure> {
    let r = crate::report::build(manifests);
    crate::report::gate(&r, req.gates.max_unzipped, req.gates.max_zipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn output_names() {
        assert_eq!(
            default_output(Path::new("requirements/datasci-py312.lock.txt")),
            PathBuf::from("dist/datasci-py312.zip")
        );
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            default_output(&tmp.path().join("req.in")),
            PathBuf::from("dist/req.zip")
        );
        // Named after the format: the project's name, else its directory's.
        let d = tmp.path().join("churn-model");
        std::fs::create_dir(&d).unwrap();
        assert_eq!(
            default_output(&d.join("requirements.txt")),
            PathBuf::from("dist/churn-model.zip")
        );
        assert_eq!(
            default_output(&d.join("pylock.toml")),
            PathBuf::from("dist/churn-model.zip")
        );
        assert_eq!(
            default_output(&d.join("pylock.api.toml")),
            PathBuf::from("dist/api.zip")
        );
        std::fs::write(d.join("pyproject.toml"), "[project]\nname = \"churn\"\n").unwrap();
        assert_eq!(
            default_output(&d.join("uv.lock")),
            PathBuf::from("dist/churn.zip")
        );
    }
}
