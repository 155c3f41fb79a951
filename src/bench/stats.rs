//! Statistics and cost of bench samples: percentiles, bootstrap confidence intervals, Lambda's
//! cost per million invocations (Power Tuning's formula, init billed since August 2025, plus the
//! request fee), the price table in `data/lambda-prices.toml`, REPORT lines and the CI gate.
//!
//! Everything here is pure and deterministic: the bootstrap draws from a fixed-seed generator so
//! the same samples always give the same intervals.

use serde::{Deserialize, Serialize};

/// Percentile by linear interpolation between closest ranks (numpy's default, "type 7").
/// `sorted` must be sorted ascending; `q` in 0..=100. `None` for no data.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let q = q.clamp(0.0, 100.0);
    let pos = q / 100.0 * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi.min(n - 1)] - sorted[lo]) * frac)
}

/// A 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// Summary of one figure (Init Duration, Duration or Max Memory Used) over the samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub n: usize,
    pub mean: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// Bootstrap 95 % interval of the median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ci: Option<Interval>,
    /// Bootstrap 95 % interval of the 95th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ci: Option<Interval>,
}

/// Resamples drawn for the bootstrap.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;
const SEED: u64 = 0x6c70_6163_6b20_6265; // "lpack be"

/// xorshift64*: small, deterministic, good enough for resampling indices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Percentile bootstrap 95 % interval of the `q`-th percentile (fixed seed, `resamples` draws).
pub fn bootstrap_ci(values: &[f64], q: f64, resamples: usize) -> Option<Interval> {
    if values.len() < 2 || resamples == 0 {
        return None;
    }
    let mut rng = Rng(SEED ^ (q.to_bits()));
    let mut stats = Vec::with_capacity(resamples);
    let mut buf = vec![0.0; values.len()];
    for _ in 0..resamples {
        for b in buf.iter_mut() {
            *b = values[rng.below(values.len())];
        }
        buf.sort_by(f64::total_cmp);
        stats.push(percentile(&buf, q)?);
    }
    stats.sort_by(f64::total_cmp);
    Some(Interval {
        lo: percentile(&stats, 2.5)?,
        hi: percentile(&stats, 97.5)?,
    })
}

/// Summarise values (`None` when there are none).
pub fn figure(values: &[f64]) -> Option<Figure> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(Figure {
        n,
        mean: v.iter().sum::<f64>() / n as f64,
        min: v[0],
        p50: percentile(&v, 50.0)?,
        p90: percentile(&v, 90.0)?,
        p95: percentile(&v, 95.0)?,
        p99: percentile(&v, 99.0)?,
        max: v[n - 1],
        p50_ci: bootstrap_ci(&v, 50.0, BOOTSTRAP_RESAMPLES),
        p95_ci: bootstrap_ci(&v, 95.0, BOOTSTRAP_RESAMPLES),
    })
}

// ---------------------------------------------------------------------------------------------
// Prices and cost

const PRICES: &str = include_str!("../../data/lambda-prices.toml");

/// One region's prices.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PriceRow {
    pub region: String,
    /// USD per ms at 128 MB, x86_64.
    pub x86_64: f64,
    /// USD per ms at 128 MB, arm64.
    pub arm64: f64,
    /// USD per million requests.
    pub requests_per_million: f64,
}

#[derive(Debug, Clone, Deserialize)]
struct PriceTable {
    date: String,
    source: String,
    snapstart_cache_gb_s: f64,
    snapstart_restore_gb: f64,
    region: Vec<PriceRow>,
}

/// SnapStart prices: (USD per GB-second of cache, USD per GB restored).
pub fn snapstart_prices() -> Result<(f64, f64), String> {
    let t: PriceTable =
        toml::from_str(PRICES).map_err(|e| format!("data/lambda-prices.toml: {e}"))?;
    Ok((t.snapstart_cache_gb_s, t.snapstart_restore_gb))
}

/// SnapStart's cache is billed for 3 hours at least per published version.
pub const SNAPSTART_MIN_CACHE_S: f64 = 3.0 * 3600.0;

/// The dated price table: (date, source, rows).
pub fn price_table() -> Result<(String, String, Vec<PriceRow>), String> {
    let t: PriceTable =
        toml::from_str(PRICES).map_err(|e| format!("data/lambda-prices.toml: {e}"))?;
    Ok((t.date, t.source, t.region))
}

/// The row for `region`, or an error listing the known regions.
pub fn price_for(region: &str) -> Result<PriceRow, String> {
    let (date, _, rows) = price_table()?;
    rows.iter()
        .find(|r| r.region == region)
        .cloned()
        .ok_or_else(|| {
            let known: Vec<&str> = rows.iter().map(|r| r.region.as_str()).collect();
            format!(
                "no price for region `{region}` in lpack's table (dated {date}); known: {}\n  hint: pass --region with one of them",
                known.join(", ")
            )
        })
}

/// Cost in USD of one invocation billed `billed_ms` (rounded up to a whole ms) at `memory_mb`,
/// as Lambda Power Tuning computes it, without the request fee.
pub fn invocation_cost(billed_ms: f64, memory_mb: u32, price_per_ms_128: f64) -> f64 {
    billed_ms.max(0.0).ceil() * price_per_ms_128 * f64::from(memory_mb) / 128.0
}

/// Cost per million invocations when `cold_share` of them are cold starts: a cold one is billed
/// Init + Duration (init billed since 1 Aug 2025), a warm one Duration; plus the request fee.
pub fn cost_per_million(
    cold_billed_ms: f64,
    warm_billed_ms: f64,
    memory_mb: u32,
    cold_share: f64,
    price_per_ms_128: f64,
    requests_per_million: f64,
) -> f64 {
    let s = cold_share.clamp(0.0, 1.0);
    let cold = invocation_cost(cold_billed_ms, memory_mb, price_per_ms_128);
    let warm = invocation_cost(warm_billed_ms, memory_mb, price_per_ms_128);
    1e6 * (s * cold + (1.0 - s) * warm) + requests_per_million
}

/// A REPORT line as Lambda prints it (tab separated; `Init Duration` only on cold starts).
pub fn report_line(
    request_id: &str,
    duration_ms: f64,
    memory_mb: u32,
    max_memory_mb: u64,
    init_ms: Option<f64>,
) -> String {
    let billed =
        duration_ms.max(0.0).ceil() as u64 + init_ms.map_or(0, |i| i.max(0.0).ceil() as u64);
    let mut s = format!(
        "REPORT RequestId: {request_id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: {max_memory_mb} MB\t"
    );
    if let Some(i) = init_ms {
        s.push_str(&format!("Init Duration: {i:.2} ms\t"));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Gate

/// Summary figures the gate reads (a deployment of `summary.json`).
#[derive(Debug, Clone)]
pub struct GateInput<'a> {
    pub name: &'a str,
    pub memory_mb: u32,
    pub init_p50: Option<f64>,
    pub init_p95: Option<f64>,
}

/// Thresholds the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    pub max_init_p50: Option<f64>,
    pub max_init_p95: Option<f64>,
    /// Percent a figure may grow over the baseline.
    pub max_regression: Option<f64>,
}

/// Failed checks, each naming the deployment and the figure.
pub fn gate(now: &[GateInput], baseline: &[GateInput], g: &Gate) -> Vec<String> {
    let mut out = Vec::new();
    for d in now {
        let label = format!("{} @ {} MB", d.name, d.memory_mb);
        for (fig, v, max) in [
            ("Init Duration p50", d.init_p50, g.max_init_p50),
            ("Init Duration p95", d.init_p95, g.max_init_p95),
        ] {
            if let (Some(v), Some(max)) = (v, max)
                && v > max
            {
                out.push(format!("{label}: {fig} {v:.1} ms > {max:.1} ms"));
            }
        }
        if let Some(pct) = g.max_regression
            && let Some(b) = baseline
                .iter()
                .find(|b| b.name == d.name && b.memory_mb == d.memory_mb)
        {
            for (fig, v, old) in [
                ("Init Duration p50", d.init_p50, b.init_p50),
                ("Init Duration p95", d.init_p95, b.init_p95),
            ] {
                if let (Some(v), Some(old)) = (v, old)
                    && old > 0.0
                {
                    let grew = (v - old) / old * 100.0;
                    if grew > pct {
                        out.push(format!(
                            "{label}: {fig} {old:.1} ms → {v:.1} ms (+{grew:.1} %, more than {pct} %)"
                        ));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [10.0, 20.0, 30.0, 40.0];
        // numpy.percentile([10,20,30,40], [50, 90, 95, 99]) = 25, 37, 38.5, 39.7
        assert_eq!(percentile(&v, 50.0), Some(25.0));
        assert!((percentile(&v, 90.0).unwrap_or(0.0) - 37.0).abs() < 1e-9);
        assert!((percentile(&v, 95.0).unwrap_or(0.0) - 38.5).abs() < 1e-9);
        assert!((percentile(&v, 99.0).unwrap_or(0.0) - 39.7).abs() < 1e-9);
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn figure_of_one_to_ten() {
        let v: Vec<f64> = (1..=10).map(f64::from).rev().collect();
        let f = figure(&v).expect("figure");
        assert_eq!(f.n, 10);
        assert_eq!(f.mean, 5.5);
        assert_eq!(f.min, 1.0);
        assert_eq!(f.max, 10.0);
        assert_eq!(f.p50, 5.5);
        assert!((f.p90 - 9.1).abs() < 1e-9);
        assert!((f.p95 - 9.55).abs() < 1e-9);
        let ci = f.p50_ci.expect("ci");
        assert!(ci.lo <= 5.5 && 5.5 <= ci.hi && ci.lo >= 1.0 && ci.hi <= 10.0);
        // Deterministic: the same input gives the same interval.
        assert_eq!(figure(&v).expect("again").p50_ci, f.p50_ci);
        assert!(figure(&[]).is_none());
    }

    #[test]
    fn constant_samples_have_a_degenerate_interval() {
        let ci = bootstrap_ci(&[3.0; 20], 95.0, 500).expect("ci");
        assert_eq!((ci.lo, ci.hi), (3.0, 3.0));
    }

    #[test]
    fn cost_by_hand() {
        // 1024 MB x86_64 in us-east-1: 2.1e-9 $/ms at 128 MB → 1.68e-8 $/ms.
        // Cold: init 812.3 + duration 100.2 = 912.5 → billed 913 ms → 1.53384e-5 $.
        // Warm: 100.2 → 101 ms → 1.6968e-6 $.
        // 1 % cold: 1e6 × (0.01 × 1.53384e-5 + 0.99 × 1.6968e-6) + 0.20
        //         = 0.153384 + 1.679832 + 0.20 = 2.033216 $.
        let c = cost_per_million(912.5, 100.2, 1024, 0.01, 2.1e-9, 0.20);
        assert!((c - 2.033216).abs() < 1e-9, "{c}");
        assert!((invocation_cost(0.2, 128, 2.1e-9) - 2.1e-9).abs() < 1e-18);
    }

    #[test]
    fn price_table_has_us_east_1() {
        let r = price_for("us-east-1").expect("row");
        assert_eq!(
            (r.x86_64, r.arm64, r.requests_per_million),
            (2.1e-9, 1.7e-9, 0.2)
        );
        let e = price_for("mars-1").expect_err("unknown");
        assert!(e.contains("us-east-1"), "{e}");
    }

    #[test]
    fn report_line_format() {
        let cold = report_line("abc", 100.204, 1024, 97, Some(322.04));
        assert_eq!(
            cold,
            "REPORT RequestId: abc\tDuration: 100.20 ms\tBilled Duration: 424 ms\tMemory Size: 1024 MB\tMax Memory Used: 97 MB\tInit Duration: 322.04 ms\t"
        );
        let warm = report_line("abc", 1.0, 128, 40, None);
        assert!(warm.ends_with("Max Memory Used: 40 MB\t"), "{warm}");
        assert!(warm.contains("Billed Duration: 1 ms"));
    }

    #[test]
    fn gate_names_deployment_and_figure() {
        let now = [GateInput {
            name: "zip",
            memory_mb: 1024,
            init_p50: Some(900.0),
            init_p95: Some(1200.0),
        }];
        let old = [GateInput {
            name: "zip",
            memory_mb: 1024,
            init_p50: Some(600.0),
            init_p95: Some(1190.0),
        }];
        let g = Gate {
            max_init_p50: Some(1000.0),
            max_init_p95: Some(1000.0),
            max_regression: Some(10.0),
        };
        let f = gate(&now, &old, &g);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].starts_with("zip @ 1024 MB: Init Duration p95 1200.0 ms > 1000.0 ms"));
        assert!(f[1].contains("Init Duration p50 600.0 ms → 900.0 ms (+50.0 %"));
        assert!(gate(&now, &old, &Gate::default()).is_empty());
    }
}
