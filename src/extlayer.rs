//! Layers lpack did not build (`--with-layer`): a local layer zip, or a published layer version
//! by ARN (feature `aws`: `GetLayerVersion`, then its `Content.Location`, verified against
//! `Content.CodeSha256` and cached by it).
//!
//! A layer is indexed from its zip alone: the distributions under `python/` and
//! `python/lib/python3.X/site-packages/` (their `.dist-info` names, versions and top-level
//! modules), the files each owns (from RECORD), the ELF libraries it holds anywhere (the
//! loader finds `/opt/lib` and `$ORIGIN` copies), and its unzipped size. Lambda puts only
//! `/opt/python/lib/python3.X/site-packages` (the runtime's X) and `/opt/python` on `sys.path`,
//! in that order: distributions under another Python's directory are recorded as hidden.
//!
//! The index becomes an [`ArtifactManifest`] of kind `layer-zip` (no wheels, every file kept),
//! so the size report, the limit check and verify read an external layer as they read lpack's
//! own.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::artifact::{
    Action, ArtifactKind, ArtifactManifest, ArtifactRecord, FileRecord, PackageRecord,
    SCHEMA_VERSION, TargetRecord,
};
use crate::target::{Arch, Target};
use crate::wheel::{ArchivePath, normalize_name};

/// Files of a layer no `.dist-info` claims, outside any top-level module (`lib/`, `bin/`, …).
pub const UNOWNED: &str = "<layer files>";

/// METADATA / RECORD / top_level.txt larger than this are not read (they are text files of a
/// few kilobytes; a larger one is not what it claims to be).
const MAX_TEXT: u64 = 16 * 1024 * 1024;

/// Why an external layer cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ExtLayerError {
    #[error(
        "--with-layer {layer}: {detail}\n  hint: pass a layer zip (with python/ inside) or a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)"
    )]
    Open { layer: String, detail: String },
    #[error(
        "--with-layer {layer}: entry `{path}` {why}; Lambda would refuse to extract it\n  hint: rebuild the layer zip with relative paths under python/"
    )]
    Unsafe {
        layer: String,
        path: String,
        why: String,
    },
    #[error("--with-layer {layer}: {detail}\n  hint: {hint}")]
    Incompatible {
        layer: String,
        detail: String,
        hint: String,
    },
    #[error("--with-layer {layer}: {detail}\n  hint: {hint}")]
    Fetch {
        layer: String,
        detail: String,
        hint: String,
    },
    #[error(
        "--with-layer {layer}: the downloaded zip has sha256 {got} (base64), but Lambda's CodeSha256 is {expected}; nothing was cached\n  hint: fetch again (the download may have been cut or altered on the way); if it persists, the layer's content does not match what Lambda published"
    )]
    Hash {
        layer: String,
        expected: String,
        got: String,
    },
}

/// One distribution a layer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDist {
    /// Normalized name.
    pub name: String,
    pub version: String,
    /// `python` or `python/lib/python3.X/site-packages`.
    pub site: String,
    /// Top-level modules (from top_level.txt, else RECORD).
    pub modules: Vec<String>,
    pub files: usize,
    pub size: u64,
    pub compressed: u64,
}

/// What a layer holds, from its zip.
#[derive(Debug, Clone)]
pub struct ExternalLayer {
    /// As given: the zip's path or the ARN.
    pub source: String,
    /// The zip read (the given path, or the cached download).
    pub zip: PathBuf,
    /// A short name for tables: the zip's file name, or `NAME:VERSION` of an ARN.
    pub label: String,
    /// sha256 (hex) of the zip.
    pub sha256: String,
    /// Lambda's `CodeSha256` (base64), for layers fetched by ARN.
    pub code_sha256: Option<String>,
    pub size: u64,
    pub unzipped_size: u64,
    pub entries: usize,
    /// Distributions on the target's `sys.path`, by name (the first on `sys.path` wins).
    pub dists: Vec<LayerDist>,
    /// Distributions under another Python's site-packages: `name version (python3.Y)`.
    pub hidden: Vec<String>,
    /// Paths of the ELF files it holds.
    pub libraries: Vec<String>,
    /// ELF machine numbers seen, with one file each.
    pub machines: BTreeMap<u16, String>,
    /// Published metadata (ARN layers); empty: not declared.
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    /// Every file, attributed to its distribution (else its top-level module, else [`UNOWNED`]).
    pub files: Vec<FileRecord>,
}

/// `arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION` → (region, layer ARN, version).
pub fn parse_arn(arn: &str) -> Option<(String, String, i64)> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() != 8 || parts[0] != "arn" || parts[2] != "lambda" || parts[5] != "layer" {
        return None;
    }
    let version: i64 = parts[7].parse().ok()?;
    if parts[3].is_empty() || parts[6].is_empty() || version < 1 {
        return None;
    }
    Some((parts[3].to_string(), parts[..7].join(":"), version))
}

/// `NAME:VERSION` of a layer version ARN (the ARN itself when it is not one).
pub fn arn_label(arn: &str) -> String {
    let parts: Vec<&str> = arn.rsplitn(3, ':').collect();
    match parts.as_slice() {
        [version, name, _] => format!("{name}:{version}"),
        _ => arn.to_string(),
    }
}

/// Whether a `--with-layer` value names a published layer rather than a zip.
pub fn is_arn(spec: &str) -> bool {
    spec.starts_with("arn:")
}

/// `numpy-1.26.4.dist-info` (a directory directly in a site).
fn site_of(path: &str) -> Option<(&str, &str)> {
    if let Some(rest) = path.strip_prefix("python/lib/")
        && let Some((py, after)) = rest.split_once('/')
        && py.starts_with("python3")
        && let Some(rel) = after.strip_prefix("site-packages/")
    {
        let site_len = path.len() - rel.len() - 1;
        return Some((&path[..site_len], rel));
    }
    path.strip_prefix("python/").map(|rel| ("python", rel))
}

/// The top-level module a site-relative path belongs to (`numpy/core/x.py` → `numpy`,
/// `six.py` → `six`, `_cffi_backend.cpython-312-x86_64-linux-gnu.so` → `_cffi_backend`).
fn top_module(rel: &str) -> Option<String> {
    let first = rel.split('/').next()?;
    if rel.contains('/') {
        if first.ends_with(".dist-info")
            || first.ends_with(".data")
            || first == "__pycache__"
            || first == ".."
            || first.contains('.')
        {
            return None;
        }
        return Some(first.to_string());
    }
    if first.ends_with(".py") || first.ends_with(".so") || first.ends_with(".pyc") {
        let stem = first.split('.').next()?;
        return (!stem.is_empty()).then(|| stem.to_string());
    }
    None
}

fn elf_machine(header: &[u8]) -> Option<u16> {
    if header.len() < 20 || &header[..4] != b"\x7fELF" {
        return None;
    }
    // e_machine at 18, in the file's byte order (EI_DATA: 1 little, 2 big).
    let b = [header[18], header[19]];
    Some(if header[5] == 2 {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

fn expected_machine(arch: Arch) -> u16 {
    match arch {
        Arch::X86_64 => 62,
        Arch::Arm64 => 183,
    }
}

fn machine_name(m: u16) -> String {
    match m {
        62 => "x86_64".to_string(),
        183 => "arm64 (aarch64)".to_string(),
        3 => "i386".to_string(),
        40 => "arm (32-bit)".to_string(),
        other => format!("machine {other}"),
    }
}

#[derive(Default)]
struct DistInfo {
    metadata: Option<String>,
    record: Option<String>,
    top_level: Option<String>,
}

/// What one pass over a layer zip found: every file (path, size, compressed size), the
/// dist-info texts by (site, directory), and the ELF libraries with their machines.
struct Scan {
    raw_files: Vec<(String, u64, u64)>,
    infos: BTreeMap<(String, String), DistInfo>,
    libraries: Vec<String>,
    machines: BTreeMap<u16, String>,
    unzipped_size: u64,
    entries: usize,
}

/// Index the layer zip `zip` (named `source` in messages) for `target`.
pub fn index(zip: &Path, source: &str, target: &Target) -> Result<ExternalLayer, ExtLayerError> {
    let open_err = |detail: String| ExtLayerError::Open {
        layer: source.to_string(),
        detail,
    };
    let meta = std::fs::metadata(zip).map_err(|e| open_err(format!("cannot read it: {e}")))?;
    let sha256 =
        crate::digest::sha256_file(zip).map_err(|e| open_err(format!("cannot read it: {e}")))?;
    let scan = scan(zip, source)?;
    let (mut dists, mut hidden, owner) = distributions(&scan, target);
    let mut files = file_records(scan.raw_files, &owner, &mut dists);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    dists.sort_by(|a, b| a.name.cmp(&b.name));
    hidden.sort();
    hidden.dedup();
    let label = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| source.to_string());
    Ok(ExternalLayer {
        source: source.to_string(),
        zip: zip.to_path_buf(),
        label,
        sha256,
        code_sha256: None,
        size: meta.len(),
        unzipped_size: scan.unzipped_size,
        entries: scan.entries,
        dists,
        hidden,
        libraries: scan.libraries,
        machines: scan.machines,
        compatible_runtimes: Vec::new(),
        compatible_architectures: Vec::new(),
        files,
    })
}

/// One pass over the zip's entries: sizes, dist-info texts, ELF headers.
fn scan(zip: &Path, source: &str) -> Result<Scan, ExtLayerError> {
    let open_err = |detail: String| ExtLayerError::Open {
        layer: source.to_string(),
        detail,
    };
    let mut archive = crate::wheel::open_archive(zip, source)
        .map_err(|e| open_err(format!("not a readable zip: {e}")))?;
    let mut raw_files: Vec<(String, u64, u64)> = Vec::new();
    let mut infos: BTreeMap<(String, String), DistInfo> = BTreeMap::new();
    let mut libraries = Vec::new();
    let mut machines: BTreeMap<u16, String> = BTreeMap::new();
    let mut unzipped_size = 0u64;
    let entries = archive.len();
    for i in 0..entries {
        let mut f = archive
            .by_index(i)
            .map_err(|e| open_err(format!("entry {i}: {e}")))?;
        let raw = String::from_utf8_lossy(f.name_raw()).into_owned();
        let path = ArchivePath::new(&raw).map_err(|why| ExtLayerError::Unsafe {
            layer: source.to_string(),
            path: raw.clone(),
            why: why.to_string(),
        })?;
        if f.is_dir() {
            continue;
        }
        let path = path.as_str().to_string();
        let (size, compressed) = (f.size(), f.compressed_size());
        unzipped_size += size;
        let base = path.rsplit('/').next().unwrap_or(&path).to_string();
        if let Some((site, rel)) = site_of(&path)
            && let Some((dir, file)) = rel.split_once('/')
            && dir.ends_with(".dist-info")
            && !file.contains('/')
            && matches!(file, "METADATA" | "RECORD" | "top_level.txt")
        {
            let mut text = String::new();
            (&mut f)
                .take(MAX_TEXT)
                .read_to_string(&mut text)
                .map_err(|e| open_err(format!("cannot read {path}: {e}")))?;
            let info = infos
                .entry((site.to_string(), dir.to_string()))
                .or_default();
            match file {
                "METADATA" => info.metadata = Some(text),
                "RECORD" => info.record = Some(text),
                _ => info.top_level = Some(text),
            }
        } else if (base.ends_with(".so") || base.contains(".so.")) && size >= 20 {
            let mut header = [0u8; 20];
            if f.read_exact(&mut header).is_ok()
                && let Some(m) = elf_machine(&header)
            {
                machines.entry(m).or_insert_with(|| path.clone());
                libraries.push(path.clone());
            }
        }
        raw_files.push((path, size, compressed));
    }
    Ok(Scan {
        raw_files,
        infos,
        libraries,
        machines,
        unzipped_size,
        entries,
    })
}

/// Which (site, path) each distribution owns.
type Owners = BTreeMap<(String, String), String>;

/// The distributions the target's `sys.path` sees (in Lambda's order, the first copy of a name
/// wins), those it does not (another Python's directory), and which files each owns.
fn distributions(scan: &Scan, target: &Target) -> (Vec<LayerDist>, Vec<String>, Owners) {
    let (infos, raw_files) = (&scan.infos, &scan.raw_files);
    let py_site = target.layer_site_packages();
    let visible = |site: &str| site == py_site || site == "python";
    let mut owner: Owners = BTreeMap::new();
    let mut dists: Vec<LayerDist> = Vec::new();
    let mut hidden = Vec::new();
    // Lambda's order: python/lib/python3.X/site-packages before python/.
    let mut keys: Vec<&(String, String)> = infos.keys().collect();
    keys.sort_by_key(|(site, dir)| (site == "python", site.clone(), dir.clone()));
    for key in keys {
        let (site, dir) = key;
        let info = &infos[key];
        let Some(metadata) = &info.metadata else {
            continue;
        };
        let headers = crate::wheel::integrity::parse_headers(metadata);
        let get = |k: &str| {
            headers
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let stem = dir.trim_end_matches(".dist-info");
        let (dir_name, dir_version) = stem.split_once('-').unwrap_or((stem, ""));
        let name = normalize_name(&get("Name").unwrap_or_else(|| dir_name.to_string()));
        let version = get("Version").unwrap_or_else(|| dir_version.to_string());
        if !visible(site) {
            let py = site
                .strip_prefix("python/lib/")
                .and_then(|r| r.split('/').next())
                .unwrap_or(site);
            hidden.push(format!("{name} {version} ({py})"));
            continue;
        }
        if dists.iter().any(|d| d.name == name) {
            // Shadowed by the copy earlier on sys.path.
            continue;
        }
        let record: Vec<String> = info
            .record
            .as_deref()
            .and_then(|r| crate::wheel::integrity::parse_record(r).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.path)
            .filter(|p| !p.split('/').any(|c| c == ".."))
            .collect();
        for p in &record {
            owner
                .entry((site.clone(), p.clone()))
                .or_insert_with(|| name.clone());
        }
        // The dist-info directory itself belongs to it even without RECORD.
        for (path, _, _) in raw_files {
            if let Some((s, rel)) = site_of(path)
                && s == site
                && rel.starts_with(&format!("{dir}/"))
            {
                owner
                    .entry((site.clone(), rel.to_string()))
                    .or_insert_with(|| name.clone());
            }
        }
        let mut modules: BTreeSet<String> = match &info.top_level {
            Some(t) => t
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.contains('/'))
                .map(str::to_string)
                .collect(),
            None => record.iter().filter_map(|p| top_module(p)).collect(),
        };
        modules.retain(|m| !m.is_empty());
        dists.push(LayerDist {
            name,
            version,
            site: site.clone(),
            modules: modules.into_iter().collect(),
            files: 0,
            size: 0,
            compressed: 0,
        });
    }
    (dists, hidden, owner)
}

/// A file record per file, each counted into the distribution that owns it.
fn file_records(
    raw_files: Vec<(String, u64, u64)>,
    owner: &Owners,
    dists: &mut [LayerDist],
) -> Vec<FileRecord> {
    let mut files = Vec::new();
    for (path, size, compressed) in raw_files {
        // Files no dist-info claims: by their top-level module (a size report row each).
        let package = match site_of(&path) {
            Some((s, rel)) => owner
                .get(&(s.to_string(), rel.to_string()))
                .cloned()
                .or_else(|| top_module(rel))
                .unwrap_or_else(|| UNOWNED.to_string()),
            None => UNOWNED.to_string(),
        };
        if let Some(d) = dists.iter_mut().find(|d| d.name == package) {
            d.files += 1;
            d.size += size;
            d.compressed += compressed;
        }
        files.push(FileRecord {
            path,
            package,
            original_size: size,
            size,
            compressed_size: compressed,
            action: Action::Keep,
            rule: None,
            note: None,
        });
    }
    files
}

impl ExternalLayer {
    /// The distribution `name` (normalized), if the target's `sys.path` sees it.
    pub fn dist(&self, name: &str) -> Option<&LayerDist> {
        self.dists.iter().find(|d| d.name == name)
    }

    /// Base names of the ELF files it holds (what a DT_NEEDED entry can name).
    pub fn library_names(&self) -> BTreeSet<String> {
        self.libraries
            .iter()
            .filter_map(|p| p.rsplit('/').next())
            .map(str::to_string)
            .collect()
    }

    /// Where the compatible runtimes and architectures come from.
    fn declared_by(&self) -> &'static str {
        if is_arn(&self.source) {
            "its CompatibleRuntimes / CompatibleArchitectures"
        } else {
            "the lpack manifest beside it"
        }
    }

    /// Refuse a layer published for another runtime or architecture, or holding ELF files of
    /// another machine; warnings for what the target's `sys.path` does not see.
    pub fn check(&self, target: &Target) -> Result<Vec<String>, ExtLayerError> {
        let runtime = target.runtime.to_string();
        let arch = target.arch.to_string();
        let incompatible = |detail: String, hint: String| ExtLayerError::Incompatible {
            layer: self.source.clone(),
            detail,
            hint,
        };
        if !self.compatible_runtimes.is_empty() && !self.compatible_runtimes.contains(&runtime) {
            return Err(incompatible(
                format!(
                    "the layer is published for {} ({}); the target is {runtime}",
                    self.compatible_runtimes.join(", "),
                    self.declared_by()
                ),
                format!(
                    "use a version of the layer published for {runtime}, or build for one of its runtimes (--runtime)"
                ),
            ));
        }
        if !self.compatible_architectures.is_empty()
            && !self.compatible_architectures.contains(&arch)
        {
            return Err(incompatible(
                format!(
                    "the layer is published for {} ({}); the target is {arch}",
                    self.compatible_architectures.join(", "),
                    self.declared_by()
                ),
                format!(
                    "use the layer's {arch} ARN (publishers name them apart, e.g. …-Arm64), or build for its architecture (--arch)"
                ),
            ));
        }
        let want = expected_machine(target.arch);
        if let Some((m, file)) = self.machines.iter().find(|(m, _)| **m != want) {
            return Err(incompatible(
                format!(
                    "it holds {} machine code ({file}); the target is {arch}",
                    machine_name(*m)
                ),
                format!(
                    "attach the {arch} build of this layer, or build for its architecture (--arch)"
                ),
            ));
        }
        let mut warnings = Vec::new();
        if !self.hidden.is_empty() {
            warnings.push(format!(
                "layer {}: {} sit under another Python's site-packages; {} puts only /opt/{} and /opt/python on sys.path, so the function cannot import them\n  hint: attach the layer's version for {runtime}",
                self.label,
                self.hidden.join(", "),
                runtime,
                target.layer_site_packages()
            ));
        }
        if self.dists.is_empty() && self.hidden.is_empty() {
            warnings.push(format!(
                "layer {}: no Python distributions (.dist-info) under python/ or python/lib/python3.X/site-packages/; lpack leaves nothing out of the function for it",
                self.label
            ));
        }
        Ok(warnings)
    }

    /// The layer as a manifest (every file kept, no wheels), for the size report and the limit.
    pub fn manifest(&self, target: &Target) -> ArtifactManifest {
        self.manifest_of(target, None)
    }

    /// Only `dists` (names), with paths relative to their site (as verify imports them).
    pub fn manifest_for(&self, target: &Target, dists: &[String]) -> ArtifactManifest {
        self.manifest_of(target, Some(dists))
    }

    fn manifest_of(&self, target: &Target, only: Option<&[String]>) -> ArtifactManifest {
        let wanted = |name: &str| only.is_none_or(|o| o.iter().any(|d| d == name));
        let packages = self
            .dists
            .iter()
            .filter(|d| wanted(&d.name))
            .map(|d| PackageRecord {
                name: d.name.clone(),
                version: d.version.clone(),
                filename: String::new(),
                sha256: String::new(),
                source: format!("layer {}", self.source),
                url: None,
                files: d.files,
                original_size: d.size,
                size: d.size,
                compressed_size: d.compressed,
            })
            .collect();
        let files = match only {
            None => self.files.clone(),
            Some(_) => self
                .files
                .iter()
                .filter(|f| wanted(&f.package))
                .filter_map(|f| {
                    let site = &self.dist(&f.package)?.site;
                    let rel = f.path.strip_prefix(site.as_str())?.strip_prefix('/')?;
                    Some(FileRecord {
                        path: rel.to_string(),
                        ..f.clone()
                    })
                })
                .collect(),
        };
        ArtifactManifest {
            schema_version: SCHEMA_VERSION,
            lpack_version: env!("CARGO_PKG_VERSION").to_string(),
            kind: ArtifactKind::LayerZip,
            target: TargetRecord::of(target),
            inputs_sha256: self.sha256.clone(),
            requirements: String::new(),
            source_date_epoch: 0,
            artifact: ArtifactRecord {
                file: self.label.clone(),
                sha256: self.sha256.clone(),
                size: self.size,
                unzipped_size: self.unzipped_size,
                entries: self.entries,
            },
            packages,
            skipped_requirements: Vec::new(),
            warnings: Vec::new(),
            profile: "external".to_string(),
            bytecode: "as-published".to_string(),
            bytecode_note: None,
            rules: Vec::new(),
            stale_rules: Vec::new(),
            audit: Vec::new(),
            layer_prefix: None,
            layers: Vec::new(),
            image: None,
            handler: None,
            verify: None,
            timings: None,
            fingerprint: None,
            files,
        }
    }
}

/// Open the layer `spec` names: a local zip, or (feature `aws`) a published version by ARN,
/// downloaded into `cache` unless it is there already.
pub fn open(
    spec: &str,
    target: &Target,
    cache: &crate::cache::Cache,
) -> Result<ExternalLayer, ExtLayerError> {
    if is_arn(spec) {
        return open_arn(spec, target, cache);
    }
    let path = Path::new(spec);
    if !path.is_file() {
        return Err(ExtLayerError::Open {
            layer: spec.to_string(),
            detail: "no such file".to_string(),
        });
    }
    let mut layer = index(path, spec, target)?;
    // A layer lpack built says what it was built for in its manifest, when that is beside it.
    if let Ok(m) = ArtifactManifest::read(path)
        && m.kind == ArtifactKind::LayerZip
        && m.artifact.sha256 == layer.sha256
    {
        layer.compatible_runtimes = vec![m.target.runtime.clone()];
        layer.compatible_architectures = vec![m.target.arch.clone()];
    }
    Ok(layer)
}

/// Where a published layer's zip is cached: by its sha256 (hex).
pub fn cached_zip(cache: &crate::cache::Cache, sha256_hex: &str) -> Option<PathBuf> {
    cache.blob(&format!("sha256:{sha256_hex}"))
}

#[cfg(not(feature = "aws"))]
fn open_arn(
    spec: &str,
    _target: &Target,
    _cache: &crate::cache::Cache,
) -> Result<ExternalLayer, ExtLayerError> {
    Err(ExtLayerError::Fetch {
        layer: spec.to_string(),
        detail: "this lpack was built without AWS support (cargo feature `aws`)".to_string(),
        hint: "download the layer's zip (`aws lambda get-layer-version-by-arn --arn ARN --query Content.Location`) and pass the file, or install an lpack built with `--features aws`".to_string(),
    })
}

#[cfg(feature = "aws")]
fn open_arn(
    spec: &str,
    target: &Target,
    cache: &crate::cache::Cache,
) -> Result<ExternalLayer, ExtLayerError> {
    let fetch_err = |detail: String, hint: &str| fetch_error(spec, detail, hint);
    let (region, layer_arn, version) = parse_arn(spec).ok_or_else(|| {
        fetch_err(
            "not a layer version ARN".to_string(),
            "write it as arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
        )
    })?;
    let aws = crate::aws::Aws::connect(Some(&region), None).map_err(|e| {
        fetch_err(
            e,
            "lpack reads the layer with your AWS credentials (lambda:GetLayerVersion)",
        )
    })?;
    let out = aws
        .rt
        .block_on(
            aws.lambda()
                .get_layer_version()
                .layer_name(&layer_arn)
                .version_number(version)
                .send(),
        )
        .map_err(|e| {
            fetch_err(
                aws.error("GetLayerVersion", &e),
                "check the ARN (region, account, name, version) and that your credentials may call lambda:GetLayerVersion on it",
            )
        })?;
    let content = out.content().ok_or_else(|| {
        fetch_err(
            "GetLayerVersion answered without Content".to_string(),
            "try again; the layer version may be being deleted",
        )
    })?;
    let code_sha256 = content.code_sha256().unwrap_or_default().to_string();
    let hex = sha256_of_code(spec, &code_sha256)?;
    let zip = match cached_zip(cache, &hex) {
        Some(p) => p,
        None => download_layer(
            spec,
            &aws,
            content.location().unwrap_or_default(),
            &hex,
            &code_sha256,
            cache,
        )?,
    };
    let mut layer = index(&zip, spec, target)?;
    layer.label = arn_label(spec);
    layer.code_sha256 = Some(code_sha256);
    layer.compatible_runtimes = out
        .compatible_runtimes()
        .iter()
        .map(|r| r.as_str().to_string())
        .collect();
    layer.compatible_architectures = out
        .compatible_architectures()
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    Ok(layer)
}

/// The fetch error of layer `spec`.
#[cfg(feature = "aws")]
fn fetch_error(spec: &str, detail: String, hint: &str) -> ExtLayerError {
    ExtLayerError::Fetch {
        layer: spec.to_string(),
        detail,
        hint: hint.to_string(),
    }
}

/// The hex sha256 of GetLayerVersion's CodeSha256 (base64); an error when it is not one.
#[cfg(feature = "aws")]
fn sha256_of_code(spec: &str, code_sha256: &str) -> Result<String, ExtLayerError> {
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(code_sha256.as_bytes())
        .ok()
        .filter(|d| d.len() == 32)
        .ok_or_else(|| {
            fetch_error(
                spec,
                format!("GetLayerVersion's CodeSha256 `{code_sha256}` is not a base64 sha256"),
                "lpack cannot verify the download without it",
            )
        })?;
    Ok(crate::digest::hex(&expected))
}

/// Download the layer's zip, check it against the CodeSha256 and cache it; its cached path.
#[cfg(feature = "aws")]
fn download_layer(
    spec: &str,
    aws: &crate::aws::Aws,
    location: &str,
    hex: &str,
    code_sha256: &str,
    cache: &crate::cache::Cache,
) -> Result<PathBuf, ExtLayerError> {
    use base64::Engine;
    let fetch_err = |detail: String, hint: &str| fetch_error(spec, detail, hint);
    if !(location.starts_with("https://") || location.starts_with("http://")) {
        return Err(fetch_err(
            format!(
                "GetLayerVersion's Content.Location is `{}`, not a URL lpack can download",
                aws.redact(location)
            ),
            "download the zip yourself and pass the file to --with-layer",
        ));
    }
    let body = download(location).map_err(|e| {
        fetch_err(
            aws.redact(&format!("downloading Content.Location: {e}")),
            "the URL is valid for minutes only: run again",
        )
    })?;
    let got = crate::digest::sha256_hex(&body);
    if got != hex {
        let got_b64 = {
            use sha2::Digest;
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body))
        };
        return Err(ExtLayerError::Hash {
            layer: spec.to_string(),
            expected: code_sha256.to_string(),
            got: got_b64,
        });
    }
    cache
        .write_blob(&format!("sha256:{hex}"), &body)
        .map_err(|e| fetch_err(format!("caching it: {e}"), "check the cache directory"))
}

/// GET a pre-signed URL (no credentials of lpack's are sent: the URL carries its own).
#[cfg(feature = "aws")]
fn download(url: &str) -> Result<Vec<u8>, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client.get(url).send().map_err(|e| {
        // reqwest's message names the URL, whose query holds the signature: drop it.
        e.without_url().to_string()
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    Ok(resp
        .bytes()
        .map_err(|e| e.without_url().to_string())?
        .to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        assert_eq!(
            parse_arn("arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python312:16"),
            Some((
                "eu-west-1".to_string(),
                "arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python312".to_string(),
                16
            ))
        );
        assert_eq!(parse_arn("arn:aws:lambda:eu-west-1:1:layer:x"), None);
        assert_eq!(parse_arn("arn:aws:lambda:eu-west-1:1:function:x:1"), None);
        assert_eq!(parse_arn("arn:aws:lambda:eu-west-1:1:layer:x:0"), None);
    }

    #[test]
    fn labels() {
        assert_eq!(
            arn_label("arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python312:16"),
            "AWSSDKPandas-Python312:16"
        );
    }

    #[test]
    fn sites_and_modules() {
        assert_eq!(
            site_of("python/lib/python3.12/site-packages/numpy/__init__.py"),
            Some(("python/lib/python3.12/site-packages", "numpy/__init__.py"))
        );
        assert_eq!(site_of("python/six.py"), Some(("python", "six.py")));
        assert_eq!(site_of("lib/libz.so.1"), None);
        assert_eq!(top_module("numpy/core/x.py"), Some("numpy".to_string()));
        assert_eq!(top_module("six.py"), Some("six".to_string()));
        assert_eq!(
            top_module("_cffi_backend.cpython-312-x86_64-linux-gnu.so"),
            Some("_cffi_backend".to_string())
        );
        assert_eq!(top_module("numpy-1.0.dist-info/RECORD"), None);
        assert_eq!(top_module("../../bin/f2py"), None);
    }
}
