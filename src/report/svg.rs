//! The size report as an SVG chart: one horizontal stacked bar per distribution (plus the
//! total), kept bytes and bytecode added in blues, removed bytes by category in warm tones, and
//! Lambda's 262,144,000-byte unzipped limit as a red line. Drawn with plotters' SVG backend
//! (text is emitted as SVG text, so no fonts are needed to render).

use plotters::prelude::*;

use super::{DistRow, SizeReport, UNZIPPED_LIMIT};

const KEPT: RGBColor = RGBColor(31, 78, 140);
const ADDED: RGBColor = RGBColor(120, 170, 220);
const CATEGORY_COLORS: &[(&str, RGBColor)] = &[
    ("stripped", RGBColor(230, 126, 34)),
    ("tests", RGBColor(241, 196, 15)),
    ("sources", RGBColor(211, 84, 0)),
    ("docs", RGBColor(243, 156, 18)),
    ("bytecode", RGBColor(155, 89, 182)),
    ("runtime-provided", RGBColor(39, 174, 96)),
    ("optional", RGBColor(192, 57, 43)),
    ("duplicates", RGBColor(127, 140, 141)),
    ("user", RGBColor(142, 68, 173)),
    ("other", RGBColor(189, 195, 199)),
];

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Render the chart; `top` limits the distributions drawn (the total is always first).
pub fn render(r: &SizeReport, top: Option<usize>) -> Result<String, String> {
    let mut rows: Vec<&DistRow> = vec![&r.total];
    let mut dists: Vec<&DistRow> = r.distributions.iter().collect();
    dists.sort_by_key(|d| std::cmp::Reverse(d.before + d.bytecode_added));
    rows.extend(dists.into_iter().take(top.unwrap_or(15)));
    let n = rows.len();
    let names: Vec<String> = rows
        .iter()
        .map(|d| {
            if d.version.is_empty() {
                d.name.clone()
            } else {
                format!("{} {}", d.name, d.version)
            }
        })
        .collect();
    let widest = r.total.before + r.total.bytecode_added;
    let xmax = (widest.max(UNZIPPED_LIMIT) as f64 * 1.12) / 1e6;
    let height = 170 + 30 * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let title = r
            .artifacts
            .iter()
            .map(|a| format!("{} ({}, {} profile)", a.file, a.runtime, a.profile))
            .collect::<Vec<_>>()
            .join(" + ");
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Where the bytes go: {title}"), ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(230)
            .build_cartesian_2d(0f64..xmax, -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        let label = |y: &f64| -> String {
            let i = y.round();
            if (y - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            names.get(n - 1 - i as usize).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .x_desc("MB installed (unzipped), 1 MB = 1,000,000 bytes")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        let mut legend: Vec<(String, RGBColor)> = vec![
            ("kept".to_string(), KEPT),
            ("bytecode added".to_string(), ADDED),
        ];
        for (i, d) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let mut x = 0.0;
            let mut segs: Vec<(f64, RGBColor)> = vec![
                (d.after.saturating_sub(d.bytecode_added) as f64 / 1e6, KEPT),
                (d.bytecode_added as f64 / 1e6, ADDED),
            ];
            for (cat, color) in CATEGORY_COLORS {
                if let Some(v) = d.removed.get(*cat) {
                    segs.push((*v as f64 / 1e6, *color));
                    if !legend.iter().any(|(l, _)| l == &format!("removed: {cat}")) {
                        legend.push((format!("removed: {cat}"), *color));
                    }
                }
            }
            let bars: Vec<Rectangle<(f64, f64)>> = segs
                .into_iter()
                .filter(|(w, _)| *w > 0.0)
                .map(|(w, color)| {
                    let r = Rectangle::new([(x, y - 0.32), (x + w, y + 0.32)], color.filled());
                    x += w;
                    r
                })
                .collect();
            chart.draw_series(bars).map_err(err)?;
            if d.before + d.bytecode_added > 0 {
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{:.1} MB", d.after as f64 / 1e6),
                        (x + xmax * 0.006, y + 0.18),
                        ("sans-serif", 12).into_font().color(&BLACK),
                    )))
                    .map_err(err)?;
            }
        }
        let limit = UNZIPPED_LIMIT as f64 / 1e6;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(limit, -0.5), (limit, n as f64 - 0.5)],
                RED.stroke_width(2),
            )))
            .map_err(err)?
            .label("Lambda limit: 262,144,000 bytes unzipped (function + layers)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED.stroke_width(2)));
        for (name, color) in legend {
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 12))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
