//! The function zip: wheels and handler code streamed into one canonical archive.
//!
//! Planning reads every wheel's central directory (in parallel), asks the slim stage for a
//! verdict per entry, maps install paths, adds the handler tree from `--src`, checks for two
//! sources writing one path, and adds every parent directory. Writing then walks the plan in
//! sorted order and raw-copies each wheel entry's compressed bytes into the [`ZipSink`] — no
//! extraction, no recompression. Only handler files are compressed (in parallel).
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
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::sink::{ArchiveSink, Epoch, Prepared, RawContent, SinkSummary, ZipSink};
use super::{ConflictPolicy, EmitError};
use crate::artifact::{Action, FileRecord, PackageRecord};
use crate::fetch::FetchedWheel;
use crate::progress::{Phase, Reporter};
use crate::slim::{Verdict, plan_entry};
use crate::target::Target;
use crate::wheel::{ArchivePath, Wheel, WheelEntry, open_archive};

/// Package name used in records for handler code from `--src`.
pub const SRC_PACKAGE: &str = "<src>";

/// Options of the zip emitter.
#[derive(Debug, Clone)]
pub struct ZipOptions {
    /// Handler code directory placed at the root (beside the packages).
    pub src: Option<PathBuf>,
    pub conflicts: ConflictPolicy,
    pub epoch: Epoch,
    /// Paths the walk of `src` must skip (the artifact itself, when written inside src).
    pub exclude: Vec<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Assembled {
    pub summary: SinkSummary,
    pub files: Vec<FileRecord>,
    pub packages: Vec<PackageRecord>,
    pub unzipped_size: u64,
    pub warnings: Vec<String>,
    /// sha256 of each handler file, by path (part of the build's input hash).
    pub src_digests: Vec<(String, String)>,
}

enum Source {
    Dir,
    Wheel { wheel: usize, entry: WheelEntry },
    Src(Prepared, bool),
}

fn package_of(w: &FetchedWheel) -> String {
    w.locked.name.clone()
}

fn same_content(
    wheels: &[Wheel],
    a: (usize, &WheelEntry),
    b: (usize, &WheelEntry),
) -> Result<bool, EmitError> {
    if a.1.size != b.1.size || a.1.crc32 != b.1.crc32 {
        return Ok(false);
    }
    let x = wheels[a.0].read_entry(a.1.index)?;
    let y = wheels[b.0].read_entry(b.1.index)?;
    Ok(x == y)
}

fn skip_src(rel: &Path) -> bool {
    rel.components().any(|c| {
        matches!(
            c.as_os_str().to_str(),
            Some(
                "__pycache__"
                    | ".git"
                    | ".hg"
                    | ".svn"
                    | ".DS_Store"
                    | ".mypy_cache"
                    | ".pytest_cache"
            )
        )
    }) || rel.extension().is_some_and(|e| e == "pyc")
}

/// Collect handler files from `src`, compressed in parallel.
fn read_src(
    src: &Path,
    exclude: &[PathBuf],
) -> Result<Vec<(ArchivePath, Prepared, bool, String)>, EmitError> {
    if !src.is_dir() {
        return Err(EmitError::Src {
            path: src.to_path_buf(),
            detail: "is not a directory".to_string(),
        });
    }
    let exclude: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(src)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| EmitError::Src {
            path: e
                .path()
                .map_or_else(|| src.to_path_buf(), Path::to_path_buf),
            detail: e.to_string(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(src).unwrap_or(entry.path());
        if skip_src(rel) {
            continue;
        }
        if let Ok(c) = entry.path().canonicalize()
            && exclude.contains(&c)
        {
            continue;
        }
        let rel_str = rel.to_str().ok_or_else(|| EmitError::Src {
            path: entry.path().to_path_buf(),
            detail: "file name is not valid UTF-8".to_string(),
        })?;
        let ap = ArchivePath::new(rel_str).map_err(|why| EmitError::Src {
            path: entry.path().to_path_buf(),
            detail: format!("path {why}"),
        })?;
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            entry
                .metadata()
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        };
        files.push((ap, entry.path().to_path_buf(), executable));
    }
    files
        .into_par_iter()
        .map(|(ap, path, exec)| {
            let data = std::fs::read(&path).map_err(|e| EmitError::Src {
                path: path.clone(),
                detail: e.to_string(),
            })?;
            let digest = crate::cache::sha256_hex(&data);
            let prepared = Prepared::compress(&data).map_err(|e| EmitError::Src {
                path: path.clone(),
                detail: e.to_string(),
            })?;
            Ok((ap, prepared, exec, digest))
        })
        .collect()
}

/// Build the function zip at `out` from `wheels` (and `--src`).
pub fn write_function_zip(
    wheels: &[FetchedWheel],
    target: &Target,
    opts: &ZipOptions,
    out: &Path,
    reporter: &dyn Reporter,
) -> Result<Assembled, EmitError> {
    // 1. Read central directories in parallel.
    let opened: Vec<Wheel> = wheels
        .par_iter()
        .map(|w| Wheel::open(&w.path, &w.locked.filename))
        .collect::<Result<_, _>>()?;

    // 2. Plan.
    let mut plan: BTreeMap<ArchivePath, Source> = BTreeMap::new();
    let mut owner: BTreeMap<ArchivePath, usize> = BTreeMap::new();
    let mut records: Vec<FileRecord> = Vec::new();
    let mut packages: Vec<PackageRecord> = Vec::new();
    let mut warnings = Vec::new();
    let mut conflicts: Vec<String> = Vec::new();
    for (wi, wheel) in opened.iter().enumerate() {
        let fw = &wheels[wi];
        let data_dir = wheel
            .dist_info_dir()
            .map(|d| d.trim_end_matches(".dist-info").to_string() + ".data");
        for entry in &wheel.entries {
            let mut record = FileRecord {
                path: entry.path.to_string(),
                package: package_of(fw),
                original_size: entry.size,
                size: 0,
                compressed_size: 0,
                action: Action::Drop,
                rule: None,
            };
            match plan_entry(&entry.path, data_dir.as_deref(), target) {
                Verdict::Drop { rule } => {
                    record.rule = Some(rule.to_string());
                    records.push(record);
                }
                Verdict::Keep(installed) => {
                    record.path = installed.to_string();
                    if let Some(&prev) = owner.get(&installed) {
                        let Some(Source::Wheel {
                            wheel: pw,
                            entry: pe,
                        }) = plan.get(&installed)
                        else {
                            continue;
                        };
                        if same_content(&opened, (*pw, pe), (wi, entry))? {
                            record.rule = Some("duplicate.identical".to_string());
                            records.push(record);
                            continue;
                        }
                        match opts.conflicts {
                            ConflictPolicy::Error => {
                                conflicts.push(format!(
                                    "    {installed}: {} and {}",
                                    wheels[prev].locked.filename, fw.locked.filename
                                ));
                                continue;
                            }
                            ConflictPolicy::LastWins => {
                                warnings.push(format!(
                                    "{installed}: {} overwrites the copy from {} (--on-conflict last-wins)",
                                    fw.locked.filename, wheels[prev].locked.filename
                                ));
                                if let Some(r) = records.iter_mut().find(|r| {
                                    r.path == installed.as_str() && r.action == Action::Keep
                                }) {
                                    r.action = Action::Drop;
                                    r.rule = Some("conflict.overwritten".to_string());
                                }
                            }
                        }
                    }
                    owner.insert(installed.clone(), wi);
                    plan.insert(
                        installed,
                        Source::Wheel {
                            wheel: wi,
                            entry: entry.clone(),
                        },
                    );
                    record.action = Action::Keep;
                    records.push(record);
                }
            }
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

    // 3. Handler code.
    let mut src_digests = Vec::new();
    if let Some(src) = &opts.src {
        for (path, prepared, exec, digest) in read_src(src, &opts.exclude)? {
            if let Some(&wi) = owner.get(&path) {
                return Err(EmitError::SrcConflict {
                    path: path.to_string(),
                    wheel: wheels[wi].locked.filename.clone(),
                });
            }
            records.push(FileRecord {
                path: path.to_string(),
                package: SRC_PACKAGE.to_string(),
                original_size: prepared.size,
                size: 0,
                compressed_size: 0,
                action: Action::Keep,
                rule: None,
            });
            src_digests.push((path.to_string(), digest));
            plan.insert(path, Source::Src(prepared, exec));
        }
    }

    // 4. Parent directories. A file path used as a directory by another entry is a conflict.
    let dirs: Vec<ArchivePath> = plan
        .keys()
        .flat_map(|p| p.parents().map(str::to_string).collect::<Vec<_>>())
        .filter_map(|d| ArchivePath::new(&d).ok())
        .collect();
    for d in dirs {
        match plan.get(&d) {
            Some(Source::Dir) | None => {
                plan.insert(d, Source::Dir);
            }
            Some(_) => {
                return Err(EmitError::Conflicts {
                    count: 1,
                    list: format!("    {d}: a file in one package and a directory in another"),
                });
            }
        }
    }

    // 5. Write.
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| EmitError::Output {
        path: out.to_path_buf(),
        source,
    })?;
    let tmp = tempfile::Builder::new()
        .prefix(".lpack-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|source| EmitError::Output {
            path: out.to_path_buf(),
            source,
        })?;
    let out_err = |source| EmitError::Output {
        path: out.to_path_buf(),
        source,
    };
    let file = tmp.as_file().try_clone().map_err(out_err)?;
    let mut sink = ZipSink::new(BufWriter::with_capacity(1 << 20, file), opts.epoch);
    let mut archives: Vec<Option<zip::ZipArchive<BufReader<File>>>> =
        (0..opened.len()).map(|_| None).collect();
    let mut written: BTreeMap<String, u64> = BTreeMap::new();
    reporter.start(Phase::Assemble, plan.len() as u64);
    for (path, source) in &plan {
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
                        &opened[*wheel].path,
                        &opened[*wheel].filename.filename,
                    )?);
                }
                let Some(archive) = slot.as_mut() else {
                    continue;
                };
                let wheel_name = &opened[*wheel].filename.filename;
                let mut raw = archive.by_index_raw(entry.index).map_err(|source| {
                    crate::wheel::WheelError::Corrupt {
                        wheel: wheel_name.clone(),
                        source,
                    }
                })?;
                let n = sink
                    .add_raw(
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
                        super::sink::SinkError::Io(io) => EmitError::WheelData {
                            wheel: wheel_name.clone(),
                            path: entry.path.to_string(),
                            detail: io.to_string(),
                        },
                        other => other.into(),
                    })?;
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

    // 6. Records.
    let mut unzipped = 0;
    for r in &mut records {
        if r.action == Action::Keep
            && let Some(n) = written.get(&r.path)
        {
            r.size = r.original_size;
            r.compressed_size = *n;
            unzipped += r.size;
        }
    }
    records.sort_by(|a, b| a.path.cmp(&b.path).then(a.package.cmp(&b.package)));
    for w in wheels {
        let name = package_of(w);
        let mine = records.iter().filter(|r| r.package == name);
        let (mut files, mut orig, mut size, mut comp) = (0, 0, 0, 0);
        for r in mine {
            orig += r.original_size;
            if r.action == Action::Keep {
                files += 1;
                size += r.size;
                comp += r.compressed_size;
            }
        }
        packages.push(PackageRecord {
            name,
            version: w.locked.version.clone(),
            filename: w.locked.filename.clone(),
            sha256: w.sha256.clone(),
            source: w.locked.source.clone(),
            url: match &w.locked.location {
                crate::resolve::index::FileLocation::Url(_) => Some(w.locked.location.display()),
                crate::resolve::index::FileLocation::Path(_) => None,
            },
            files,
            original_size: orig,
            size,
            compressed_size: comp,
        });
    }
    Ok(Assembled {
        summary,
        files: records,
        packages,
        unzipped_size: unzipped,
        warnings,
        src_digests,
    })
}
