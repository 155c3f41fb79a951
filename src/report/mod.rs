//! Size reports: where every byte of one or more artifacts went, against Lambda's limits.
//!
//! A [`SizeReport`] is computed from artifact manifests alone (never from wheels): per
//! distribution the installed size before slimming, after, zipped, the bytes removed by category
//! (categories come from the rules' data, see `recipes/*.toml`), bytecode added, and the rules
//! that removed the most. Several manifests are summed — a function zip and its layers count
//! together against Lambda's 262,144,000-byte unzipped limit. Renderers ([`render`], [`svg`])
//! turn it into a terminal table, Markdown, JSON (this struct, `schema_version` 1) or an SVG
//! chart; [`diff`] compares two reports; [`gate`] checks user-given maxima.

pub mod render;
pub mod svg;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::artifact::{Action, ArtifactKind, ArtifactManifest};

/// Version of the JSON shape of [`SizeReport`] and [`DiffReport`].
pub const SCHEMA_VERSION: u32 = 1;
pub use crate::target::{DIRECT_UPLOAD_LIMIT, IMAGE_LIMIT, UNZIPPED_LIMIT};

/// Report categories in display order.
pub const CATEGORIES: &[&str] = crate::slim::recipe::CATEGORIES;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactSummary {
    pub file: String,
    pub kind: ArtifactKind,
    pub runtime: String,
    pub arch: String,
    pub profile: String,
    pub bytecode: String,
    pub zipped: u64,
    pub unzipped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleBytes {
    pub id: String,
    pub category: String,
    pub bytes: u64,
}

/// One distribution (or the handler code, `<src>`, or the total).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistRow {
    pub name: String,
    pub version: String,
    /// Installed bytes before slimming.
    pub before: u64,
    /// Installed bytes in the artifact (what Lambda counts).
    pub after: u64,
    /// Compressed bytes in the artifact.
    pub zipped: u64,
    /// Bytes removed, by category.
    pub removed: BTreeMap<String, u64>,
    /// Bytecode lpack added for the target Python.
    pub bytecode_added: u64,
    /// Bytes kept although a rule wanted them gone, by category (`imported`: modules kept code
    /// imports, kept by the import guard).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kept: BTreeMap<String, u64>,
    /// Rules that removed the most, largest first (at most 5).
    pub top_rules: Vec<RuleBytes>,
}

impl DistRow {
    pub fn removed_total(&self) -> u64 {
        self.removed.values().sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitLine {
    pub name: String,
    pub description: String,
    pub used: u64,
    pub limit: u64,
    /// `limit - used` (negative when over).
    pub headroom: i64,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeReport {
    pub schema_version: u32,
    pub artifacts: Vec<ArtifactSummary>,
    /// Sorted by `after`, largest first.
    pub distributions: Vec<DistRow>,
    pub total: DistRow,
    pub limits: Vec<LimitLine>,
    /// The rules that removed the most across everything, largest first.
    pub top_rules: Vec<RuleBytes>,
}

/// Category of a rule id, for rules that are code rather than recipe data.
fn builtin_category(id: &str) -> &'static str {
    match id {
        "strip.elf" => "stripped",
        "bytecode.other-python" | "bytecode.sourceless" | "bytecode.compile" => "bytecode",
        "elf.soname-copy" | "duplicate.identical" | "conflict.overwritten" => "duplicates",
        id if id.starts_with("cli.") => "user",
        _ => "other",
    }
}

fn limit(name: &str, description: String, used: u64, limit: u64) -> LimitLine {
    LimitLine {
        name: name.to_string(),
        description,
        used,
        limit,
        headroom: limit as i64 - used as i64,
        ok: used <= limit,
    }
}

/// Build a report from manifests.
pub fn build(manifests: &[ArtifactManifest]) -> SizeReport {
    let mut rows: BTreeMap<String, DistRow> = BTreeMap::new();
    let mut rule_totals: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for m in manifests {
        add_manifest(m, &mut rows, &mut rule_totals);
    }
    let artifacts: Vec<ArtifactSummary> = manifests.iter().map(artifact_summary).collect();
    let mut distributions: Vec<DistRow> = rows.into_values().collect();
    for d in &mut distributions {
        d.top_rules
            .sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.id.cmp(&b.id)));
        d.top_rules.truncate(5);
    }
    distributions.sort_by(|a, b| b.after.cmp(&a.after).then(a.name.cmp(&b.name)));
    let mut top_rules: Vec<RuleBytes> = rule_totals
        .into_iter()
        .map(|(id, (category, bytes))| RuleBytes {
            id,
            category,
            bytes,
        })
        .collect();
    top_rules.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.id.cmp(&b.id)));
    let mut total = total_row(&distributions);
    total.top_rules = top_rules.iter().take(5).cloned().collect();
    let limits = limits(&artifacts);
    SizeReport {
        schema_version: SCHEMA_VERSION,
        artifacts,
        distributions,
        total,
        limits,
        top_rules,
    }
}

fn empty_row(name: &str, version: &str) -> DistRow {
    DistRow {
        name: name.to_string(),
        version: version.to_string(),
        before: 0,
        after: 0,
        zipped: 0,
        removed: BTreeMap::new(),
        bytecode_added: 0,
        kept: BTreeMap::new(),
        top_rules: Vec::new(),
    }
}

/// Count one manifest's files into the per-distribution rows and the per-rule totals.
fn add_manifest(
    m: &ArtifactManifest,
    rows: &mut BTreeMap<String, DistRow>,
    rule_totals: &mut BTreeMap<String, (String, u64)>,
) {
    let categories: BTreeMap<&str, &str> = m
        .rules
        .iter()
        .filter(|r| !r.category.is_empty())
        .map(|r| (r.id.as_str(), r.category.as_str()))
        .collect();
    let versions: BTreeMap<&str, &str> = m
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    for f in &m.files {
        let row = rows.entry(f.package.clone()).or_insert_with(|| {
            empty_row(&f.package, versions.get(f.package.as_str()).unwrap_or(&""))
        });
        let removed = add_file(row, f);
        if removed == 0 {
            continue;
        }
        // Stripped files carry the strip rule's id; a missing id can only be a strip.
        let id = f.rule.clone().unwrap_or_else(|| "strip.elf".to_string());
        let category = categories
            .get(id.as_str())
            .copied()
            .unwrap_or_else(|| builtin_category(&id))
            .to_string();
        *row.removed.entry(category.clone()).or_default() += removed;
        rule_totals
            .entry(id.clone())
            .or_insert((category.clone(), 0))
            .1 += removed;
        match row.top_rules.iter_mut().find(|r| r.id == id) {
            Some(r) => r.bytes += removed,
            None => row.top_rules.push(RuleBytes {
                id,
                category,
                bytes: removed,
            }),
        }
    }
}

/// Count one file into its row. Returns the bytes slimming removed from it.
fn add_file(row: &mut DistRow, f: &crate::artifact::FileRecord) -> u64 {
    row.before += f.original_size;
    match f.action {
        Action::Drop => f.original_size,
        Action::Strip => {
            row.after += f.size;
            row.zipped += f.compressed_size;
            f.original_size.saturating_sub(f.size)
        }
        Action::Add => {
            row.after += f.size;
            row.zipped += f.compressed_size;
            row.bytecode_added += f.size;
            0
        }
        Action::Keep => {
            row.after += f.size;
            row.zipped += f.compressed_size;
            if f.rule.as_deref() == Some(crate::slim::guard::RULE) {
                *row.kept.entry("imported".to_string()).or_default() += f.size;
            }
            0
        }
    }
}

fn artifact_summary(m: &ArtifactManifest) -> ArtifactSummary {
    ArtifactSummary {
        file: m.artifact.file.clone(),
        kind: m.kind,
        runtime: m.target.runtime.clone(),
        arch: m.target.arch.clone(),
        profile: m.profile.clone(),
        bytecode: m.bytecode.clone(),
        zipped: m.artifact.size,
        unzipped: m.artifact.unzipped_size,
    }
}

/// The sum of every distribution's row.
fn total_row(distributions: &[DistRow]) -> DistRow {
    let mut total = empty_row("total", "");
    for d in distributions {
        total.before += d.before;
        total.after += d.after;
        total.zipped += d.zipped;
        total.bytecode_added += d.bytecode_added;
        for (k, v) in &d.removed {
            *total.removed.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &d.kept {
            *total.kept.entry(k.clone()).or_default() += v;
        }
    }
    total
}

/// Lambda's limits that apply to these artifacts, with what they use.
fn limits(artifacts: &[ArtifactSummary]) -> Vec<LimitLine> {
    let unzipped: u64 = artifacts.iter().map(|a| a.unzipped).sum();
    let mut limits = Vec::new();
    let zips: Vec<&ArtifactSummary> = artifacts
        .iter()
        .filter(|a| matches!(a.kind, ArtifactKind::FunctionZip | ArtifactKind::LayerZip))
        .collect();
    if !zips.is_empty() {
        limits.push(limit(
            "unzipped",
            if artifacts.len() > 1 {
                "function + layers, unzipped".to_string()
            } else {
                "unzipped (function + layers)".to_string()
            },
            unzipped,
            UNZIPPED_LIMIT,
        ));
        for a in zips {
            limits.push(limit(
                "zipped-direct-upload",
                format!("{} zipped, direct upload (else via S3)", a.file),
                a.zipped,
                DIRECT_UPLOAD_LIMIT,
            ));
        }
    }
    for a in artifacts.iter().filter(|a| a.kind == ArtifactKind::Image) {
        limits.push(limit(
            "image",
            format!(
                "{} app files, unzipped (image limit 10 GB with its base)",
                a.file
            ),
            a.unzipped,
            IMAGE_LIMIT,
        ));
    }
    limits
}

/// One distribution's change between two reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffRow {
    pub name: String,
    pub old_version: Option<String>,
    pub new_version: Option<String>,
    pub old_after: u64,
    pub new_after: u64,
    pub delta_after: i64,
    pub old_zipped: u64,
    pub new_zipped: u64,
    pub delta_zipped: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffReport {
    pub schema_version: u32,
    /// Distributions whose size or version changed, biggest change first.
    pub changed: Vec<DiffRow>,
    pub total: DiffRow,
}

/// What grew or shrank between `old` and `new`.
pub fn diff(old: &SizeReport, new: &SizeReport) -> DiffReport {
    let index = |r: &SizeReport| -> BTreeMap<String, DistRow> {
        r.distributions
            .iter()
            .map(|d| (d.name.clone(), d.clone()))
            .collect()
    };
    let (o, n) = (index(old), index(new));
    let mut names: Vec<&String> = o.keys().chain(n.keys()).collect();
    names.sort();
    names.dedup();
    let row = |name: &str, a: Option<&DistRow>, b: Option<&DistRow>| DiffRow {
        name: name.to_string(),
        old_version: a.map(|d| d.version.clone()),
        new_version: b.map(|d| d.version.clone()),
        old_after: a.map_or(0, |d| d.after),
        new_after: b.map_or(0, |d| d.after),
        delta_after: b.map_or(0, |d| d.after) as i64 - a.map_or(0, |d| d.after) as i64,
        old_zipped: a.map_or(0, |d| d.zipped),
        new_zipped: b.map_or(0, |d| d.zipped),
        delta_zipped: b.map_or(0, |d| d.zipped) as i64 - a.map_or(0, |d| d.zipped) as i64,
    };
    let mut changed: Vec<DiffRow> = names
        .into_iter()
        .map(|name| row(name, o.get(name), n.get(name)))
        .filter(|r| r.delta_after != 0 || r.delta_zipped != 0 || r.old_version != r.new_version)
        .collect();
    changed.sort_by(|a, b| {
        b.delta_after
            .unsigned_abs()
            .cmp(&a.delta_after.unsigned_abs())
            .then(a.name.cmp(&b.name))
    });
    DiffReport {
        schema_version: SCHEMA_VERSION,
        changed,
        total: row("total", Some(&old.total), Some(&new.total)),
    }
}

/// A maximum the user set that the artifact(s) exceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateFailure {
    /// The flag that set it: `max-unzipped` or `max-zipped`.
    pub gate: &'static str,
    /// For `max-zipped`: the artifact over it.
    pub artifact: Option<String>,
    pub message: String,
}

/// Check `--max-unzipped` / `--max-zipped` (both inclusive: exactly at the limit passes).
pub fn gate(
    r: &SizeReport,
    max_unzipped: Option<u64>,
    max_zipped: Option<u64>,
) -> Vec<GateFailure> {
    let mut out = Vec::new();
    let biggest = r
        .distributions
        .iter()
        .take(3)
        .map(|d| format!("{} {}", d.name, render::mb(d.after)))
        .collect::<Vec<_>>()
        .join(", ");
    let profile = r
        .artifacts
        .first()
        .map(|a| a.profile.as_str())
        .unwrap_or("");
    let mut hints = Vec::new();
    if profile != "aggressive" {
        hints.push(
            "--profile aggressive (drops runtime-provided packages and optional parts)".to_string(),
        );
    }
    let heavy: Vec<&str> = r
        .distributions
        .iter()
        .take(3)
        .map(|d| d.name.as_str())
        .collect();
    if !heavy.is_empty() {
        hints.push(format!(
            "--drop the parts of {} you do not import",
            heavy.join(", ")
        ));
        hints.push(format!(
            "move heavy distributions such as {} into a layer if the function zip is what's over (--format layer, then --exclude-layer)",
            heavy[0]
        ));
    }
    hints.push("or ship a container image (10 GB limit)".to_string());
    let unzipped: u64 = r.artifacts.iter().map(|a| a.unzipped).sum();
    if let Some(max) = max_unzipped
        && unzipped > max
    {
        out.push(GateFailure {
            gate: "max-unzipped",
            artifact: None,
            message: format!(
                "unzipped size {} exceeds --max-unzipped {} by {} bytes; biggest: {biggest}\n  hint: {}",
                render::mb(unzipped),
                render::mb(max),
                unzipped - max,
                hints.join("; ")
            ),
        });
    }
    if let Some(max) = max_zipped {
        for a in &r.artifacts {
            if a.zipped > max {
                out.push(GateFailure {
                    gate: "max-zipped",
                    artifact: Some(a.file.clone()),
                    message: format!(
                        "{} is {} zipped, over --max-zipped {} by {} bytes; biggest: {biggest}\n  hint: {}",
                        a.file,
                        render::mb(a.zipped),
                        render::mb(max),
                        a.zipped - max,
                        hints.join("; ")
                    ),
                });
            }
        }
    }
    out
}

/// Parse a size: `262144000`, `250MB`, `250 MiB`, `1.5GB`, `50M` (decimal units unless `i`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 250MB, 50MiB, 262144000)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{s}` (use B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    Ok((value * mult).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("262144000"), Ok(262_144_000));
        assert_eq!(parse_size("250MiB"), Ok(262_144_000));
        assert_eq!(parse_size("50 MB"), Ok(50_000_000));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}
