//! The function zip: wheels and handler code streamed into one canonical archive.
//!
//! Input is the slim stage's per-wheel fragments (installed paths, already slimmed). Planning
//! merges them with the handler files of `--src` (walked by [`crate::srctree`]), checks for two sources writing one path, and
//! adds every parent directory. Writing then walks the plan in sorted order and raw-copies each
//! entry's compressed bytes into the [`ZipSink`] — no extraction, no recompression. Only handler
//! files are compressed (in parallel).
//!
//! Two wheels writing the same path: identical bytes (old-style namespace packages such as
//! `google/__init__.py`) keep one copy; different bytes are an error naming the path and both
//! wheels, unless the user chose `--on-conflict last-wins` (what pip silently does).
//!
//! The artifact is written to a temp file beside the destination and renamed into place only when
//! complete, so a failed build leaves any previous artifact untouched and no partial file behind.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;

use rayon::prelude::*;

use super::{ConflictPolicy, EmitError};
use crate::artifact::{Action, FileRecord, PackageRecord};
use crate::progress::{Phase, Reporter};
use crate::sink::{ArchiveSink, Epoch, Prepared, RawContent, SinkSummary, ZipSink};
use crate::slim::SlimmedWheel;
use crate::srctree::SrcFile;
use crate::wheel::{ArchivePath, WheelEntry, open_archive};

/// One record per distribution, summed from its file records.
pub fn package_records(wheels: &[SlimmedWheel], records: &[FileRecord]) -> Vec<PackageRecord> {
    wheels
        .iter()
        .map(|sw| {
            let w = &sw.wheel;
            let name = w.locked.name.clone();
            let (mut files, mut orig, mut size, mut comp) = (0, 0, 0, 0);
            for r in records.iter().filter(|r| r.package == name) {
                orig += r.original_size;
                if r.action != Action::Drop {
                    files += 1;
                    size += r.size;
                    comp += r.compressed_size;
                }
            }
            PackageRecord {
                name,
                version: w.locked.version.clone(),
                filename: w.locked.filename.clone(),
                sha256: w.sha256.clone(),
                source: w.locked.source.clone(),
                url: match &w.locked.location {
                    crate::resolve::index::FileLocation::Url(_) => {
                        Some(w.locked.location.display())
                    }
                    crate::resolve::index::FileLocation::Path(_) => None,
                },
                files,
                original_size: orig,
                size,
                compressed_size: comp,
            }
        })
        .collect()
}

/// Mark a kept record of `package` at `path` as dropped by `rule`.
fn mark(records: &mut [FileRecord], package: &str, path: &str, rule: &str) {
    if let Some(r) = records
        .iter_mut()
        .find(|r| r.package == package && r.path == path && r.action != Action::Drop)
    {
        r.action = Action::Drop;
        r.rule = Some(rule.to_string());
    }
}

/// Package name used in records for handler code from `--src`.
pub const SRC_PACKAGE: &str = "<src>";

/// Options of the zip emitter.
#[derive(Debug, Clone)]
pub struct ZipOptions {
    /// Handler files placed at the root (beside the packages), from [`crate::srctree::walk`].
    pub src: Vec<SrcFile>,
    pub conflicts: ConflictPolicy,
    pub epoch: Epoch,
    /// Directory every installed path goes under (`python` for layers; empty for functions).
    pub prefix: String,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Assembled {
    pub summary: SinkSummary,
    pub files: Vec<FileRecord>,
    pub packages: Vec<PackageRecord>,
    pub unzipped_size: u64,
    pub warnings: Vec<String>,
}

enum Source {
    Dir,
    Wheel { wheel: usize, entry: WheelEntry },
    Src(Prepared, bool),
}

fn read_entry(w: &SlimmedWheel, index: usize) -> Result<Vec<u8>, EmitError> {
    Ok(crate::wheel::read_entry_at(
        &w.fragment,
        &w.wheel.locked.filename,
        index,
    )?)
}

fn same_content(
    wheels: &[SlimmedWheel],
    a: (usize, &WheelEntry),
    b: (usize, &WheelEntry),
) -> Result<bool, EmitError> {
    if a.1.size != b.1.size || a.1.crc32 != b.1.crc32 {
        return Ok(false);
    }
    Ok(read_entry(&wheels[a.0], a.1.index)? == read_entry(&wheels[b.0], b.1.index)?)
}

/// Handler files, compressed in parallel.
fn read_src(src: &[SrcFile]) -> Result<Vec<(ArchivePath, Prepared, bool)>, EmitError> {
    src.par_iter()
        .map(|f| {
            let data = std::fs::read(&f.disk).map_err(|e| EmitError::Src {
                path: f.disk.clone(),
                detail: e.to_string(),
            })?;
            let prepared = Prepared::compress(&data).map_err(|e| EmitError::Src {
                path: f.disk.clone(),
                detail: e.to_string(),
            })?;
            Ok((f.path.clone(), prepared, f.executable))
        })
        .collect()
}

/// Build the function zip at `out` from slimmed wheels (and `--src`).
pub fn write_function_zip(
    wheels: &[SlimmedWheel],
    opts: &ZipOptions,
    out: &Path,
    reporter: &dyn Reporter,
) -> Result<Assembled, EmitError> {
    let mut p = plan_wheels(wheels, opts)?;
    p.add_src(wheels, &opts.src)?;
    p.add_parent_dirs()?;
    let (summary, written) = write_plan(wheels, &p.plan, opts, out, reporter)?;
    // What the artifact really holds.
    let mut records = p.records;
    let mut unzipped = 0;
    for r in &mut records {
        if r.action != Action::Drop
            && let Some(n) = written.get(&r.path)
        {
            if r.package == SRC_PACKAGE {
                r.size = r.original_size;
            }
            r.compressed_size = *n;
            unzipped += r.size;
        }
    }
    records.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then(a.package.cmp(&b.package))
            .then(a.action.cmp(&b.action))
    });
    let packages = package_records(wheels, &records);
    Ok(Assembled {
        summary,
        files: records,
        packages,
        unzipped_size: unzipped,
        warnings: p.warnings,
    })
}

/// What goes where in the zip, and the file records and warnings that come with it.
struct ZipPlan {
    plan: BTreeMap<ArchivePath, Source>,
    /// The wheel each installed path came from.
    owner: BTreeMap<ArchivePath, usize>,
    records: Vec<FileRecord>,
    warnings: Vec<String>,
}

/// Every kept entry of every fragment at its installed path. Identical bytes from two wheels
/// keep one copy; different bytes are a conflict, settled by `opts.conflicts`.
fn plan_wheels(wheels: &[SlimmedWheel], opts: &ZipOptions) -> Result<ZipPlan, EmitError> {
    let mut p = ZipPlan {
        plan: BTreeMap::new(),
        owner: BTreeMap::new(),
        records: Vec::new(),
        warnings: Vec::new(),
    };
    let mut conflicts: Vec<String> = Vec::new();
    for (wi, sw) in wheels.iter().enumerate() {
        let name = &sw.wheel.locked.filename;
        p.warnings.extend(sw.meta.warnings.iter().cloned());
        p.records
            .extend(sw.meta.records.iter().cloned().map(|mut r| {
                if !opts.prefix.is_empty() && r.action != Action::Drop {
                    r.path = format!("{}/{}", opts.prefix, r.path);
                }
                r
            }));
        for entry in &sw.entries {
            let installed = entry.path.with_prefix(&opts.prefix);
            if let Some(&prev) = p.owner.get(&installed) {
                let Some(Source::Wheel {
                    wheel: pw,
                    entry: pe,
                }) = p.plan.get(&installed)
                else {
                    continue;
                };
                if same_content(wheels, (*pw, pe), (wi, entry))? {
                    mark(
                        &mut p.records,
                        &sw.wheel.locked.name,
                        installed.as_str(),
                        "duplicate.identical",
                    );
                    continue;
                }
                match opts.conflicts {
                    ConflictPolicy::Error => {
                        conflicts.push(format!(
                            "    {installed}: {} and {name}",
                            wheels[prev].wheel.locked.filename
                        ));
                        continue;
                    }
                    ConflictPolicy::LastWins => {
                        p.warnings.push(format!(
                            "{installed}: {name} overwrites the copy from {} (--on-conflict last-wins)",
                            wheels[prev].wheel.locked.filename
                        ));
                        mark(
                            &mut p.records,
                            &wheels[prev].wheel.locked.name,
                            installed.as_str(),
                            "conflict.overwritten",
                        );
                    }
                }
            }
            p.owner.insert(installed.clone(), wi);
            p.plan.insert(
                installed,
                Source::Wheel {
                    wheel: wi,
                    entry: entry.clone(),
                },
            );
        }
    }
    if !conflicts.is_empty() {
        return Err(EmitError::Conflicts {
            count: conflicts.len(),
            list: conflicts
                .into_iter()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    Ok(p)
}

impl ZipPlan {
    /// The handler code; a path a wheel already installs is a conflict.
    fn add_src(&mut self, wheels: &[SlimmedWheel], src: &[SrcFile]) -> Result<(), EmitError> {
        for (path, prepared, exec) in read_src(src)? {
            if let Some(&wi) = self.owner.get(&path) {
                return Err(EmitError::SrcConflict {
                    path: path.to_string(),
                    wheel: wheels[wi].wheel.locked.filename.clone(),
                });
            }
            self.records.push(FileRecord {
                path: path.to_string(),
                package: SRC_PACKAGE.to_string(),
                original_size: prepared.size,
                size: 0,
                compressed_size: 0,
                action: Action::Keep,
                rule: None,
                note: None,
            });
            self.plan.insert(path, Source::Src(prepared, exec));
        }
        Ok(())
    }

    /// Parent directory entries. A file path used as a directory by another entry is a
    /// conflict.
    fn add_parent_dirs(&mut self) -> Result<(), EmitError> {
        let dirs: Vec<ArchivePath> = self
            .plan
            .keys()
            .flat_map(|p| p.parents().map(str::to_string).collect::<Vec<_>>())
            .filter_map(|d| ArchivePath::new(&d).ok())
            .collect();
        for d in dirs {
            match self.plan.get(&d) {
                Some(Source::Dir) | None => {
                    self.plan.insert(d, Source::Dir);
                }
                Some(_) => {
                    return Err(EmitError::Conflicts {
                        count: 1,
                        list: format!("    {d}: a file in one package and a directory in another"),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Write the planned entries, in order, to a temp file beside `out`, then rename it over
/// `out`. Returns the sink's summary and each path's compressed size.
fn write_plan(
    wheels: &[SlimmedWheel],
    plan: &BTreeMap<ArchivePath, Source>,
    opts: &ZipOptions,
    out: &Path,
    reporter: &dyn Reporter,
) -> Result<(crate::sink::SinkSummary, BTreeMap<String, u64>), EmitError> {
    let out_err = |source| EmitError::Output {
        path: out.to_path_buf(),
        source,
    };
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(out_err)?;
    let tmp = crate::outfile::output_temp(dir).map_err(out_err)?;
    let file = tmp.as_file().try_clone().map_err(out_err)?;
    let mut sink = ZipSink::new(BufWriter::with_capacity(1 << 20, file), opts.epoch);
    let mut archives: Vec<Option<zip::ZipArchive<BufReader<File>>>> =
        (0..wheels.len()).map(|_| None).collect();
    let mut written: BTreeMap<String, u64> = BTreeMap::new();
    reporter.start(Phase::Assemble, plan.len() as u64);
    for (path, source) in plan {
        match source {
            Source::Dir => sink.add_dir(path)?,
            Source::Src(prepared, exec) => {
                let n = sink.add_prepared(path, *exec, prepared)?;
                written.insert(path.to_string(), n);
            }
            Source::Wheel { wheel, entry } => {
                let slot = &mut archives[*wheel];
                if slot.is_none() {
                    *slot = Some(open_archive(
                        &wheels[*wheel].fragment,
                        &wheels[*wheel].wheel.locked.filename,
                    )?);
                }
                let Some(archive) = slot.as_mut() else {
                    continue;
                };
                let n = copy_raw(&mut sink, archive, path, entry, &wheels[*wheel])?;
                written.insert(path.to_string(), n);
            }
        }
        reporter.advance(Phase::Assemble, 1);
    }
    let (summary, writer) = sink.finish()?;
    let file = writer.into_inner().map_err(|e| out_err(e.into_error()))?;
    file.sync_all().map_err(out_err)?;
    drop(archives);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(out_err)?;
    }
    tmp.persist(out).map_err(|e| out_err(e.error))?;
    reporter.finish(Phase::Assemble);
    Ok((summary, written))
}

/// One wheel entry, copied still compressed. Returns its compressed size.
fn copy_raw<W: std::io::Write>(
    sink: &mut ZipSink<W>,
    archive: &mut zip::ZipArchive<BufReader<File>>,
    path: &ArchivePath,
    entry: &WheelEntry,
    wheel: &SlimmedWheel,
) -> Result<u64, EmitError> {
    let wheel_name = &wheel.wheel.locked.filename;
    let mut raw =
        archive
            .by_index_raw(entry.index)
            .map_err(|source| crate::wheel::WheelError::Corrupt {
                wheel: wheel_name.clone(),
                source,
            })?;
    sink.add_raw(
        path,
        entry.executable,
        RawContent {
            method: entry.method,
            crc32: entry.crc32,
            size: entry.size,
            compressed_size: entry.compressed_size,
            reader: &mut raw as &mut dyn Read,
        },
    )
    .map_err(|e| match e {
        crate::sink::SinkError::Io(io) => EmitError::WheelData {
            wheel: wheel_name.clone(),
            path: entry.path.to_string(),
            detail: io.to_string(),
        },
        other => other.into(),
    })
}
