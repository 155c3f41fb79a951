//! Text renderings of size reports: an aligned terminal table and GitHub-flavoured Markdown.
//!
//! Sizes are decimal megabytes with one decimal (Lambda states its limits in bytes and MB).
//! `top` limits the distribution rows; the rest are folded into one "(N more)" row so totals
//! always add up.

use super::{CATEGORIES, DiffReport, DistRow, SizeReport};

/// `96.3 MB`.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn num(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

fn signed(delta: i64) -> String {
    if delta.unsigned_abs() < 50_000 {
        "0.0".to_string()
    } else {
        format!("{:+.1}", delta as f64 / 1e6)
    }
}

/// "stripped 23.9 · tests 9.1" — the categories with bytes, in display order.
fn removed_by(d: &DistRow) -> String {
    let parts: Vec<String> = CATEGORIES
        .iter()
        .filter_map(|c| {
            d.removed
                .get(*c)
                .filter(|v| **v >= 50_000)
                .map(|v| format!("{c} {}", num(*v)))
        })
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" · ")
    }
}

/// The rows to show: the first `top`, then one row folding the rest.
fn rows(r: &SizeReport, top: Option<usize>) -> Vec<DistRow> {
    let n = top.unwrap_or(usize::MAX).min(r.distributions.len());
    let mut out: Vec<DistRow> = r.distributions[..n].to_vec();
    let rest = &r.distributions[n..];
    if !rest.is_empty() {
        let mut folded = DistRow {
            name: format!("({} more)", rest.len()),
            version: String::new(),
            before: 0,
            after: 0,
            zipped: 0,
            removed: Default::default(),
            bytecode_added: 0,
            kept: Default::default(),
            top_rules: vec![],
        };
        for d in rest {
            folded.before += d.before;
            folded.after += d.after;
            folded.zipped += d.zipped;
            folded.bytecode_added += d.bytecode_added;
            for (k, v) in &d.removed {
                *folded.removed.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &d.kept {
                *folded.kept.entry(k.clone()).or_default() += v;
            }
        }
        out.push(folded);
    }
    out
}

const HEAD: [&str; 7] = [
    "Distribution",
    "Version",
    "Before",
    "After",
    "Zipped",
    "Removed",
    "Removed by category (MB)",
];

fn cells(d: &DistRow) -> [String; 7] {
    [
        d.name.clone(),
        d.version.clone(),
        num(d.before),
        num(d.after),
        num(d.zipped),
        num(d.removed_total()),
        removed_by(d),
    ]
}

fn title(r: &SizeReport) -> String {
    let arts: Vec<String> = r
        .artifacts
        .iter()
        .map(|a| {
            format!(
                "{} ({} {}, profile {}, bytecode {})",
                a.file, a.runtime, a.arch, a.profile, a.bytecode
            )
        })
        .collect();
    arts.join(" + ")
}

/// The terminal table.
pub fn table(r: &SizeReport, top: Option<usize>) -> String {
    let mut lines: Vec<[String; 7]> = vec![HEAD.map(str::to_string)];
    for d in rows(r, top) {
        lines.push(cells(&d));
    }
    lines.push(cells(&r.total));
    let widths: Vec<usize> = (0..7)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let fmt = |l: &[String; 7]| -> String {
        let mut s = String::new();
        for (i, c) in l.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if (2..=5).contains(&i) {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if i < 6 {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if i < 6 {
                s.push_str("  ");
            }
        }
        s.trim_end().to_string()
    };
    let rule: String = "─".repeat(widths.iter().sum::<usize>() + 12);
    let mut out = format!(
        "Size report: {}\nSizes in MB (1 MB = 1,000,000 bytes), largest first.\n\n",
        title(r)
    );
    let n = lines.len();
    for (i, l) in lines.iter().enumerate() {
        if i == n - 1 {
            out.push_str(&rule);
            out.push('\n');
        }
        out.push_str(&fmt(l));
        out.push('\n');
        if i == 0 {
            out.push_str(&rule);
            out.push('\n');
        }
    }
    if r.total.bytecode_added > 0 {
        out.push_str(&format!(
            "\nBytecode added for the target Python: {} (included in After).\n",
            mb(r.total.bytecode_added)
        ));
    }
    if let Some(line) = kept_line(r) {
        out.push('\n');
        out.push_str(&line);
        out.push('\n');
    }
    if !r.top_rules.is_empty() {
        out.push_str("\nTop rules by bytes removed:\n");
        for t in r.top_rules.iter().filter(|t| t.bytes >= 50_000).take(8) {
            out.push_str(&format!(
                "  {:>9}  {} ({})\n",
                mb(t.bytes),
                t.id,
                t.category
            ));
        }
    }
    out.push_str("\nLambda limits:\n");
    let w = r
        .limits
        .iter()
        .map(|l| l.description.chars().count())
        .max()
        .unwrap_or(0);
    for l in &r.limits {
        out.push_str(&format!(
            "  {:<w$}  used {:>9}  limit {:>9}  headroom {:>9}  {}\n",
            l.description,
            mb(l.used),
            mb(l.limit),
            format!("{} MB", signed(l.headroom).trim_start_matches('+')),
            if l.ok { "ok" } else { "OVER" },
        ));
    }
    out
}

/// "Kept: imported …" — what the import guard kept back, by distribution.
fn kept_line(r: &SizeReport) -> Option<String> {
    let total = *r.total.kept.get("imported")?;
    let by: Vec<String> = r
        .distributions
        .iter()
        .filter_map(|d| d.kept.get("imported").map(|v| (d, *v)))
        .map(|(d, v)| format!("{} {}", d.name, mb(v)))
        .collect();
    Some(format!(
        "Kept: imported {} (files rules wanted gone that kept code imports: {}; `lpack explain PATH` names the importer).",
        mb(total),
        by.join(", ")
    ))
}

/// GitHub-flavoured Markdown (for `$GITHUB_STEP_SUMMARY` and pull-request comments).
pub fn markdown(r: &SizeReport, top: Option<usize>) -> String {
    let mut out = format!("### Lambda size report\n\n{}\n\n", title(r));
    out.push_str("| Distribution | Version | Before (MB) | After (MB) | Zipped (MB) | Removed (MB) | Removed by category (MB) |\n");
    out.push_str("|---|---|--:|--:|--:|--:|---|\n");
    let mut all = rows(r, top);
    all.push(r.total.clone());
    for d in &all {
        let c = cells(d);
        let bold = d.name == "total";
        let b = |s: &str| {
            if bold {
                format!("**{s}**")
            } else {
                s.to_string()
            }
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            b(&c[0]),
            c[1],
            b(&c[2]),
            b(&c[3]),
            b(&c[4]),
            b(&c[5]),
            c[6]
        ));
    }
    if let Some(line) = kept_line(r) {
        out.push('\n');
        out.push_str(&line);
        out.push('\n');
    }
    if !r.top_rules.is_empty() {
        out.push_str("\n| Rule | Category | Removed (MB) |\n|---|---|--:|\n");
        for t in r.top_rules.iter().filter(|t| t.bytes >= 50_000).take(8) {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                t.id,
                t.category,
                num(t.bytes)
            ));
        }
    }
    out.push_str(
        "\n| Lambda limit | Used (MB) | Limit (MB) | Headroom (MB) | |\n|---|--:|--:|--:|---|\n",
    );
    for l in &r.limits {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            l.description,
            num(l.used),
            num(l.limit),
            signed(l.headroom),
            if l.ok { "✅" } else { "❌ over" }
        ));
    }
    out
}

/// The diff table.
pub fn diff_table(d: &DiffReport, markdown: bool) -> String {
    let ver = |r: &super::DiffRow| match (&r.old_version, &r.new_version) {
        (Some(a), Some(b)) if a != b => format!("{a} → {b}"),
        (Some(a), Some(_)) => a.clone(),
        (None, Some(b)) => format!("new {b}"),
        (Some(a), None) => format!("removed {a}"),
        (None, None) => String::new(),
    };
    let mut rows: Vec<[String; 8]> = Vec::new();
    for r in d.changed.iter().chain(std::iter::once(&d.total)) {
        rows.push([
            r.name.clone(),
            ver(r),
            num(r.old_after),
            num(r.new_after),
            signed(r.delta_after),
            num(r.old_zipped),
            num(r.new_zipped),
            signed(r.delta_zipped),
        ]);
    }
    let head = [
        "Distribution",
        "Version",
        "Old after",
        "New after",
        "Δ after",
        "Old zipped",
        "New zipped",
        "Δ zipped",
    ];
    if markdown {
        let mut out = String::from("### Lambda size change\n\n| ");
        out.push_str(&head.join(" | "));
        out.push_str(" |\n|---|---|--:|--:|--:|--:|--:|--:|\n");
        for r in &rows {
            out.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        return out;
    }
    let all: Vec<[String; 8]> = std::iter::once(head.map(str::to_string))
        .chain(rows)
        .collect();
    let widths: Vec<usize> = (0..8)
        .map(|i| all.iter().map(|l| l[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("Size change (MB), biggest change first:\n\n");
    for (n, l) in all.iter().enumerate() {
        let mut s = String::new();
        for (i, c) in l.iter().enumerate() {
            let pad = " ".repeat(widths[i] - c.chars().count());
            if i >= 2 {
                s.push_str(&pad);
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&pad);
            }
            s.push_str("  ");
        }
        out.push_str(s.trim_end());
        out.push('\n');
        if n == 0 || n == all.len() - 2 {
            out.push_str(&"─".repeat(widths.iter().sum::<usize>() + 14));
            out.push('\n');
        }
    }
    if d.changed.is_empty() {
        out.push_str("(no distribution changed)\n");
    }
    out
}
