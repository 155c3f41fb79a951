//! `lpack bench --compare DIR_A DIR_B`: two result directories side by side (e.g. local vs
//! AWS), matched by deployment and memory size, with the ratio B / A of each figure — so a
//! user learns how far the local numbers are from Lambda's. The cold-start figure is Init
//! Duration, or Restore Duration for SnapStart rows.

use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

use super::error::BenchError;
use super::results::{DeploymentResult, Results};

/// Read `DIR/summary.json`.
pub fn read_summary(dir: &Path) -> Result<Results, BenchError> {
    let p = dir.join("summary.json");
    let b = std::fs::read(&p)
        .map_err(|e| BenchError::Input(format!("cannot read {}: {e}", p.display())))?;
    serde_json::from_slice(&b)
        .map_err(|e| BenchError::Input(format!("{} is not a bench summary.json: {e}", p.display())))
}

/// One deployment × memory size in both.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub deployment: String,
    pub memory_mb: u32,
    /// (A, B, B / A) per figure; `None` where either side has no value.
    pub cold_p50: Figures,
    pub cold_p95: Figures,
    pub duration_p50: Figures,
    pub max_memory_p50: Figures,
    pub cost_per_million: Figures,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figures {
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub ratio: Option<f64>,
}

fn figures(a: Option<f64>, b: Option<f64>) -> Figures {
    let ratio = match (a, b) {
        (Some(x), Some(y)) if x > 0.0 => Some(y / x),
        _ => None,
    };
    Figures { a, b, ratio }
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub pairs: Vec<Pair>,
    /// Rows only one side has.
    pub only_a: Vec<String>,
    pub only_b: Vec<String>,
}

fn cold(d: &DeploymentResult) -> Option<&super::stats::Figure> {
    d.init_ms.as_ref().or(d.restore_ms.as_ref())
}

fn label(r: &Results, dir: &Path) -> String {
    format!(
        "{} ({}, {})",
        dir.display(),
        r.provenance.backend,
        r.provenance.date
    )
}

/// Match `a` and `b` by deployment name and memory size.
pub fn compare(a: &Results, a_dir: &Path, b: &Results, b_dir: &Path) -> Comparison {
    let key = |d: &DeploymentResult| format!("{} @ {} MB", d.name, d.memory_mb);
    let mut pairs = Vec::new();
    let mut only_a = Vec::new();
    for x in &a.deployments {
        match b
            .deployments
            .iter()
            .find(|y| y.name == x.name && y.memory_mb == x.memory_mb)
        {
            Some(y) => pairs.push(Pair {
                deployment: x.name.clone(),
                memory_mb: x.memory_mb,
                cold_p50: figures(cold(x).map(|f| f.p50), cold(y).map(|f| f.p50)),
                cold_p95: figures(cold(x).map(|f| f.p95), cold(y).map(|f| f.p95)),
                duration_p50: figures(
                    x.duration_ms.as_ref().map(|f| f.p50),
                    y.duration_ms.as_ref().map(|f| f.p50),
                ),
                max_memory_p50: figures(
                    x.max_memory_mb.as_ref().map(|f| f.p50),
                    y.max_memory_mb.as_ref().map(|f| f.p50),
                ),
                cost_per_million: figures(x.cost_per_million_usd, y.cost_per_million_usd),
            }),
            None => only_a.push(key(x)),
        }
    }
    let only_b = b
        .deployments
        .iter()
        .filter(|y| {
            !a.deployments
                .iter()
                .any(|x| x.name == y.name && x.memory_mb == y.memory_mb)
        })
        .map(key)
        .collect();
    Comparison {
        a: label(a, a_dir),
        b: label(b, b_dir),
        pairs,
        only_a,
        only_b,
    }
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("×{v:.2}"))
}

/// The comparison as a plain-text table.
pub fn text(c: &Comparison) -> String {
    let head = [
        "deployment",
        "MB",
        "cold p50 A",
        "B",
        "B/A",
        "cold p95 A",
        "B",
        "B/A",
        "Duration p50 A",
        "B",
        "B/A",
        "Max Mem p50 A",
        "B",
        "B/A",
    ];
    let rows: Vec<Vec<String>> = c
        .pairs
        .iter()
        .map(|p| {
            let mut r = vec![p.deployment.clone(), p.memory_mb.to_string()];
            for f in [&p.cold_p50, &p.cold_p95, &p.duration_p50, &p.max_memory_p50] {
                r.extend([cell(f.a), cell(f.b), ratio(f.ratio)]);
            }
            r
        })
        .collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, x) in r.iter().enumerate() {
            widths[i] = widths[i].max(x.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let pad = " ".repeat(widths[i].saturating_sub(x.chars().count()));
                if i == 0 {
                    format!("{x}{pad}")
                } else {
                    format!("{pad}{x}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = format!("A: {}\nB: {}\n\n", c.a, c.b);
    out.push_str(&line(head.iter().map(|h| h.to_string()).collect()));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out.push_str("\nTimes in ms, memory in MB; cold = Init Duration (Restore Duration for SnapStart rows); B/A > 1: B is slower or larger.\n");
    for (side, v) in [("A", &c.only_a), ("B", &c.only_b)] {
        if !v.is_empty() {
            let _ = writeln!(out, "only in {side}: {}", v.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios() {
        let f = figures(Some(200.0), Some(300.0));
        assert_eq!(f.ratio, Some(1.5));
        assert_eq!(figures(Some(0.0), Some(1.0)).ratio, None);
        assert_eq!(figures(None, Some(1.0)).ratio, None);
        assert_eq!(ratio(Some(1.5)), "×1.50");
    }
}
