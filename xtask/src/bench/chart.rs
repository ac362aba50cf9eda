//! The picture of the page: per-request medians by framework and store.

use std::fmt::Write as _;

use super::report::time;
use super::results::{ADAPTERS, Estimate, Results};

/// A bar chart of the per-request medians, by framework and store.
pub(super) fn chart(results: &Results) -> String {
    struct Bar {
        label: String,
        estimate: Estimate,
        color: &'static str,
    }
    let mut groups: Vec<(String, Vec<Bar>)> = Vec::new();
    for (group, floor, ours, peers) in ADAPTERS {
        let Some(rows) = results.criterion.get(group) else { continue };
        let mut bars = Vec::new();
        let names = std::iter::once(floor).chain(ours.iter().copied()).chain(peers.iter().copied());
        for name in names.filter(|n| !n.is_empty()) {
            let Some(&estimate) = rows.get(name) else { continue };
            let color = if name == floor {
                "#9e9e9e"
            } else if peers.contains(&name) {
                "#e67e22"
            } else if name.contains("cookie") {
                "#2e86c1"
            } else if name.contains("redis") {
                "#8e44ad"
            } else {
                "#27ae60"
            };
            let label = name.replace('_', " ");
            bars.push(Bar { label, estimate, color });
        }
        if !bars.is_empty() {
            groups.push((group.to_owned(), bars));
        }
    }
    // The scale fits the in-process stores; a store behind a network (Redis,
    // a hundred times slower) would flatten every other bar, so its bars
    // are cut at the edge and marked off scale, with their value.
    let in_process = |bar: &Bar| !bar.label.contains("redis");
    let max = groups
        .iter()
        .flat_map(|(_, b)| b.iter().filter(|b| in_process(b)).map(|b| b.estimate.high))
        .fold(1.0f64, f64::max);
    let (left, bar_width, row, gap, top) = (300.0, 520.0, 20.0, 18.0, 64.0);
    let rows: usize = groups.iter().map(|(_, b)| b.len()).sum();
    let height = top + rows as f64 * row + groups.len() as f64 * (gap + 16.0) + 60.0;
    let width = left + bar_width + 190.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        svg,
        r##"<text x="16" y="24" font-size="16" font-weight="bold" fill="#222">Per-request cost, in process: median with its 95% confidence interval</text>"##
    );
    let _ = writeln!(
        svg,
        r##"<text x="16" y="44" fill="#555">One request that reads and writes a counter (core: also read only). Shorter is cheaper. Written by cargo xtask bench.</text>"##
    );
    let scale = bar_width / max;
    let mut y = top;
    for (group, bars) in &groups {
        y += gap;
        let _ = writeln!(svg, r##"<text x="16" y="{:.1}" font-weight="bold" fill="#222">{group}</text>"##, y);
        y += 4.0;
        for bar in bars {
            let off_scale = bar.estimate.median > max;
            let w = (bar.estimate.median * scale).clamp(1.0, bar_width);
            let (lo, hi) =
                (left + (bar.estimate.low * scale).min(bar_width), left + (bar.estimate.high * scale).min(bar_width));
            let cy = y + row / 2.0;
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333">{}</text>"##,
                left - 8.0,
                cy + 4.0,
                bar.label
            );
            let _ = writeln!(
                svg,
                r#"<rect x="{left:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"/>"#,
                y + 3.0,
                row - 6.0,
                bar.color
            );
            let _ = writeln!(
                svg,
                r##"<line x1="{lo:.1}" y1="{cy:.1}" x2="{hi:.1}" y2="{cy:.1}" stroke="#222" stroke-width="1"/>"##
            );
            if off_scale {
                let x = left + bar_width - 14.0;
                let _ = writeln!(
                    svg,
                    r##"<path d="M{x:.1} {:.1} l6 {:.1} M{:.1} {:.1} l6 {:.1}" stroke="#ffffff" stroke-width="2"/>"##,
                    y + 2.0,
                    row - 4.0,
                    x + 5.0,
                    y + 2.0,
                    row - 4.0
                );
            }
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" fill="#333">{}{}</text>"##,
                left + w.max(hi - left) + 6.0,
                cy + 4.0,
                time(bar.estimate.median),
                if off_scale { " (off scale)" } else { "" }
            );
            y += row;
        }
    }
    // Axis: ticks every nice step.
    let step = nice_step(max / 1000.0) * 1000.0;
    let axis_y = y + 10.0;
    let _ = writeln!(
        svg,
        r##"<line x1="{left}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#888"/>"##,
        left + bar_width
    );
    let mut tick = 0.0;
    while tick <= max + 1e-9 {
        let x = left + tick * scale;
        let _ = writeln!(svg, r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##, top, axis_y);
        let _ = writeln!(
            svg,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{} µs</text>"##,
            axis_y + 16.0,
            tick / 1000.0
        );
        tick += step;
    }
    let legend = [
        ("#9e9e9e", "no sessions (floor)"),
        ("#2e86c1", "sessions, cookie store"),
        ("#27ae60", "sessions, memory store"),
        ("#8e44ad", "sessions, Redis store"),
        ("#e67e22", "peer"),
    ];
    let mut x = 16.0;
    let ly = axis_y + 38.0;
    for (color, name) in legend {
        let _ = writeln!(svg, r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{color}"/>"#, ly - 10.0);
        let _ = writeln!(svg, r##"<text x="{:.1}" y="{ly:.1}" fill="#333">{name}</text>"##, x + 16.0);
        x += 16.0 + name.len() as f64 * 7.0 + 18.0;
    }
    svg.push_str("</svg>\n");
    svg
}

/// 1, 2 or 5 times a power of ten, about a fifth of `span`.
fn nice_step(span: f64) -> f64 {
    let raw = (span / 5.0).max(1e-9);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power)
}

#[cfg(test)]
mod tests {
    use super::{chart, nice_step};
    use crate::bench::results::Results;

    #[test]
    fn axis_steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(5.0), 1.0);
        assert_eq!(nice_step(7.0), 2.0);
        assert_eq!(nice_step(20.0), 5.0);
        assert_eq!(nice_step(40.0), 10.0);
        assert_eq!(nice_step(400.0), 100.0);
    }

    #[test]
    fn a_store_behind_the_network_is_drawn_off_scale() {
        let results = Results::of_medians(&[
            ("actix", "no_sessions", 1000.0),
            ("actix", "sessions_memory_store", 2000.0),
            ("actix", "sessions_redis_store", 200_000.0),
        ]);
        let svg = chart(&results);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains(">sessions redis store<"), "{svg}");
        assert!(svg.contains("200.00 µs (off scale)"), "{svg}");
        assert!(!svg.contains("2.00 µs (off scale)"), "an in-process store sets the scale");
    }
}
