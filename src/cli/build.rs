//! `lpack build`: the composition root of the pipeline.
//!
//! requirements → resolve → fetch → emit → manifest, then a summary for people or `--json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use super::progress::Bars;
use super::{BuildArgs, Outcome, human_size};
use crate::artifact::{
    ArtifactKind, ArtifactManifest, ArtifactRecord, SCHEMA_VERSION, SkippedRecord, TargetRecord,
    manifest_path,
};
use crate::cache::{Cache, sha256_hex};
use crate::emit::sink::Epoch;
use crate::emit::zip::{ZipOptions, write_function_zip};
use crate::fetch::fetch;
use crate::http::Http;
use crate::requirements::{IndexOptions, read_pinned};
use crate::resolve::index::{DEFAULT_INDEX, IndexClient};
use crate::resolve::resolve_pinned;
use crate::target::{Arch, Runtime, Target};

pub const EXAMPLES: &str = "\
Examples:
  lpack build -r requirements/datasci-py312.lock.txt --src benches/workload
  lpack build -r req.txt --runtime python3.11 --arch arm64 -o dist/fn.zip
  lpack build -r req.txt --offline --json

The artifact is byte-reproducible: set SOURCE_DATE_EPOCH to choose its single timestamp
(default 1980-01-01). A manifest, <artifact>.lpack.json, is written beside it.";

/// Lambda's limit on function + layers, unzipped.
pub const UNZIPPED_LIMIT: u64 = 262_144_000;
/// Lambda's limit on a zip uploaded directly (not via S3).
pub const DIRECT_UPLOAD_LIMIT: u64 = 50 * 1024 * 1024;

fn default_output(requirements: &Path) -> PathBuf {
    let stem = requirements
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("lambda");
    let stem = stem
        .strip_suffix(".txt")
        .or_else(|| stem.strip_suffix(".in"))
        .unwrap_or(stem);
    let stem = stem.strip_suffix(".lock").unwrap_or(stem);
    let stem = if stem.is_empty() { "lambda" } else { stem };
    PathBuf::from("dist").join(format!("{stem}.zip"))
}

/// Merge command line, requirements file and environment into index settings.
/// Precedence for the primary index: command line, requirements file, environment, default.
fn index_sources(args: &BuildArgs, file: &IndexOptions) -> (Vec<String>, Vec<String>) {
    let no_index = args.no_index || file.no_index;
    let mut indexes = Vec::new();
    if !no_index {
        let env = std::env::var("PIP_INDEX_URL")
            .ok()
            .or_else(|| std::env::var("UV_INDEX_URL").ok())
            .filter(|s| !s.trim().is_empty());
        let primary = args
            .index_url
            .clone()
            .or_else(|| file.index_url.clone())
            .or(env)
            .unwrap_or_else(|| DEFAULT_INDEX.to_string());
        indexes.push(primary);
        for extra in file.extra_index_urls.iter().chain(&args.extra_index_url) {
            if !indexes.contains(extra) {
                indexes.push(extra.clone());
            }
        }
    }
    let mut find_links: Vec<String> = args.find_links.clone();
    for f in &file.find_links {
        if !find_links.contains(f) {
            find_links.push(f.clone());
        }
    }
    (indexes, find_links)
}

#[derive(serde::Serialize)]
struct JsonSummary<'a> {
    artifact: String,
    manifest: String,
    sha256: &'a str,
    size: u64,
    unzipped_size: u64,
    entries: usize,
    target: &'a TargetRecord,
    packages: usize,
    downloaded: usize,
    cached: usize,
    seconds: f64,
    warnings: &'a [String],
}

pub fn run(args: BuildArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let runtime: Runtime = args.runtime.parse()?;
    let arch: Arch = args.arch.parse()?;
    let target = Target::new(runtime, arch);
    let reporter = Bars::new(!(args.quiet || args.json));

    let pinned = read_pinned(&args.requirements, &target)?;
    let cache_root = args.cache_dir.clone().unwrap_or_else(Cache::default_root);
    let cache = Cache::open(&cache_root)?;
    let http = if args.offline {
        None
    } else {
        Some(Http::new()?)
    };
    let (indexes, find_links) = index_sources(&args, &pinned.index);
    let client = IndexClient::new(
        http.clone(),
        cache.clone(),
        indexes,
        find_links,
        args.offline,
    );

    let lock = resolve_pinned(&pinned, &target, &client, &reporter)?;
    let (wheels, stats) = fetch(&lock, &cache, http.as_ref(), args.offline, &reporter)?;

    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.requirements));
    let manifest_file = manifest_path(&output);
    let epoch = Epoch::from_env();
    let opts = ZipOptions {
        src: args.src.clone(),
        conflicts: args.on_conflict,
        epoch,
        exclude: vec![output.clone(), manifest_file.clone()],
    };
    let assembled = write_function_zip(&wheels, &target, &opts, &output, &reporter)
        .with_context(|| format!("building {}", output.display()))?;

    // Input hash: everything that decides the artifact's bytes.
    let mut inputs = serde_json::json!({
        "format": "zip",
        "target": target.slug(),
        "source_date_epoch": epoch.0,
        "on_conflict": args.on_conflict,
        "wheels": wheels.iter().map(|w| [&w.locked.name, &w.locked.version, &w.locked.filename, &w.sha256]).collect::<Vec<_>>(),
        "src": assembled.src_digests,
    });
    if let Some(obj) = inputs.as_object_mut() {
        obj.insert("lpack".into(), env!("CARGO_PKG_VERSION").into());
    }
    let inputs_sha256 = sha256_hex(inputs.to_string().as_bytes());

    let mut warnings = lock.warnings.clone();
    warnings.extend(assembled.warnings.iter().cloned());
    let target_record = TargetRecord::of(&target);
    let manifest = ArtifactManifest {
        schema_version: SCHEMA_VERSION,
        lpack_version: env!("CARGO_PKG_VERSION").to_string(),
        kind: ArtifactKind::FunctionZip,
        target: target_record.clone(),
        inputs_sha256,
        requirements: args.requirements.display().to_string(),
        source_date_epoch: epoch.0,
        artifact: ArtifactRecord {
            file: output
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: assembled.summary.sha256.clone(),
            size: assembled.summary.bytes,
            unzipped_size: assembled.unzipped_size,
            entries: assembled.summary.entries,
        },
        packages: assembled.packages.clone(),
        skipped_requirements: pinned
            .skipped
            .iter()
            .map(|s| SkippedRecord {
                requirement: s.requirement.clone(),
                location: s.location.clone(),
            })
            .collect(),
        warnings: warnings.clone(),
        files: assembled.files.clone(),
    };
    manifest.write(&manifest_file)?;
    let seconds = started.elapsed().as_secs_f64();

    if args.json {
        let summary = JsonSummary {
            artifact: output.display().to_string(),
            manifest: manifest_file.display().to_string(),
            sha256: &manifest.artifact.sha256,
            size: manifest.artifact.size,
            unzipped_size: manifest.artifact.unzipped_size,
            entries: manifest.artifact.entries,
            target: &target_record,
            packages: manifest.packages.len(),
            downloaded: stats.downloaded,
            cached: stats.cached,
            seconds,
            warnings: &warnings,
        };
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !args.quiet {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        let a = &manifest.artifact;
        println!("Built {} for {target}", output.display());
        let files = manifest
            .files
            .iter()
            .filter(|f| f.action == crate::artifact::Action::Keep)
            .count();
        println!(
            "  {} packages, {files} files · {} zipped · {} unzipped",
            manifest.packages.len(),
            human_size(a.size),
            human_size(a.unzipped_size)
        );
        if a.unzipped_size > UNZIPPED_LIMIT {
            println!(
                "  over Lambda's unzipped limit by {} (limit {} for function + layers): Lambda will refuse this zip",
                human_size(a.unzipped_size - UNZIPPED_LIMIT),
                human_size(UNZIPPED_LIMIT)
            );
        } else {
            println!(
                "  {} of headroom under Lambda's unzipped limit ({})",
                human_size(UNZIPPED_LIMIT - a.unzipped_size),
                human_size(UNZIPPED_LIMIT)
            );
        }
        if a.size > DIRECT_UPLOAD_LIMIT {
            println!("  larger than 50 MB zipped: upload it through S3, not directly");
        }
        println!("  sha256 {}", a.sha256);
        println!("  manifest {}", manifest_file.display());
        println!(
            "  {} wheel(s) downloaded ({}), {} from cache · {:.2} s",
            stats.downloaded,
            human_size(stats.downloaded_bytes),
            stats.cached,
            seconds
        );
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names() {
        assert_eq!(
            default_output(Path::new("requirements/datasci-py312.lock.txt")),
            PathBuf::from("dist/datasci-py312.zip")
        );
        assert_eq!(
            default_output(Path::new("req.in")),
            PathBuf::from("dist/req.zip")
        );
    }
}
