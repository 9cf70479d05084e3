//! A run's figures as PNG files: what each figure shows (`figures`) and how one is drawn (`draw`).
//!
//! Every figure is 900×600 on white, with a title, the run's settings as a subtitle, a legend in a band
//! of its own above the plot (it can never hide a curve), a grid, and labelled axes. plotters draws the
//! grid, curves and markers into an RGB buffer, `super::text` draws the text on it, and `image` encodes
//! the PNG. Each method has one colour in every figure (Okabe–Ito, colour-blind safe).

use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::axis::{Ticks, clip_y, count_label, linear_ticks, log_ticks, nice_ceil, plain};
use super::text::{self, Canvas, HAlign, VAlign};
use super::{MethodLog, Metric, Run, display_name, method_rank};
use crate::{Error, Result};

/// Pixel size of every figure.
pub const SIZE: (u32, u32) = (900, 600);

/// The fixed colour of each method the trainer knows, so that it looks the same in every run.
pub fn method_color(method: &str) -> Option<[u8; 3]> {
    Some(match method {
        "wd" => [0x00, 0x72, 0xB2],                 // blue
        "pathprox" => [0xD5, 0x5E, 0x00],           // vermillion
        "pathprox-nobalance" => [0xE6, 0x9F, 0x00], // orange
        "pathnorm-sgd" => [0x00, 0x9E, 0x73],       // bluish green
        "lasso" => [0xCC, 0x79, 0xA7],              // reddish purple
        "group-lasso" => [0x56, 0xB4, 0xE9],        // sky blue
        _ => return None,
    })
}

/// For other methods, in the paper's order then alphabetically.
const SPARE: [[u8; 3]; 6] =
    [[0x00, 0x00, 0x00], [0x8C, 0x56, 0x4B], [0x7F, 0x7F, 0x7F], [0xBC, 0xBD, 0x22], [0x94, 0x67, 0xBD], [0x17, 0xBE, 0xCF]];

/// The colour of each method of a run (its logs and its sparsity results), as drawn in its figures.
pub fn palette(run: &Run) -> Vec<(String, [u8; 3])> {
    let mut names: Vec<String> = run.methods.iter().map(|m| m.method.clone()).collect();
    if let Some(s) = &run.sparsity {
        names.extend(s.methods());
    }
    names.sort_by_key(|m| method_rank(m));
    names.dedup();
    let mut spare = SPARE.iter().cycle();
    names
        .into_iter()
        .map(|m| {
            let c = method_color(&m).unwrap_or_else(|| *spare.next().unwrap_or(&[0, 0, 0]));
            (m, c)
        })
        .collect()
}

/// Draws every figure the run's logs support into `run_dir/figures/` and returns their paths, in this
/// order: objective.png (path-norm form), objective_raw.png (with the raw F(θ)), active_units.png,
/// train_ce.png, accuracy.png, and sparsity.png for Task 5. A figure no method has data for is skipped.
pub fn write_figures(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let run = Run::load(run_dir)?;
    let figures = figures(&run);
    let dir = run_dir.join("figures");
    if !figures.is_empty() {
        std::fs::create_dir_all(&dir).map_err(|e| Error::Report { path: dir.clone(), msg: format!("cannot create: {e}") })?;
    }
    let mut written = Vec::new();
    for fig in figures {
        let path = dir.join(fig.file);
        let png = draw(&fig);
        save_png(&path, png)?;
        written.push(path);
    }
    Ok(written)
}

#[derive(Clone, Copy, PartialEq)]
enum Dash {
    Solid,
    Dashed,
}

#[derive(Clone, Copy, PartialEq)]
enum Marker {
    None,
    Filled,
    /// An open circle: a result that is not the best one.
    Hollow,
}

struct Curve {
    color: [u8; 3],
    points: Vec<(f64, f64)>,
    line: Option<Dash>,
    marker: Marker,
}

struct LegendEntry {
    label: String,
    color: [u8; 3],
    line: Option<Dash>,
    marker: Marker,
    /// Starts a new legend row (the line-style key goes under the methods).
    new_row: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Scale {
    Linear,
    Log,
}

struct YAxis {
    label: String,
    scale: Scale,
    /// Limits the range stays within (plus a little headroom), e.g. 0–100 for percentages.
    clamp: Option<(f64, f64)>,
    /// Points at x below this do not widen the range (a first evaluation at chance level would squash
    /// the part worth reading); they are still drawn, cut at the frame.
    range_from_x: f64,
    /// The top is at most this multiple of the largest first value of a curve: a run that diverges
    /// shoots up by many orders of magnitude and would flatten every other curve.
    cap: Option<f64>,
}

struct XAxis {
    label: String,
    /// Fixed range, or 0..last iteration.
    range: Option<(f64, f64)>,
    /// Iteration counts (20k) rather than plain numbers.
    counts: bool,
}

struct Figure {
    file: &'static str,
    title: String,
    subtitle: String,
    x: XAxis,
    y: YAxis,
    curves: Vec<Curve>,
    legend: Vec<LegendEntry>,
}

const GREY_KEY: [u8; 3] = [90, 90, 90];

fn method_label(m: &MethodLog) -> String {
    match m.diverged_at() {
        Some(it) => format!("{} (diverged at {})", m.display_name(), count_label(it as f64)),
        None => m.display_name(),
    }
}

/// The figures of a run, each with its data; those without any curve are left out.
fn figures(run: &Run) -> Vec<Figure> {
    let colors = palette(run);
    let color = |m: &str| colors.iter().find(|(n, _)| n == m).map_or([0, 0, 0], |(_, c)| *c);
    let caption = run.config.caption();
    // Per method: a solid curve of `solid` and a dashed one of `dashed`, scaled by `k`; a legend entry
    // for each method with data.
    let per_method = |solid: Metric, dashed: Option<Metric>, k: f64| {
        let mut curves = Vec::new();
        let mut legend = Vec::new();
        for m in &run.methods {
            let mut any = false;
            for (metric, dash) in [(Some(solid), Dash::Solid), (dashed, Dash::Dashed)] {
                let Some(metric) = metric else { continue };
                let points: Vec<(f64, f64)> = m.series_with_gaps(metric).into_iter().map(|(x, y)| (x, k * y)).collect();
                if points.iter().all(|p| p.1.is_nan()) {
                    continue;
                }
                any = true;
                // Markers show where the few points of a short log are; on a long log they would be clutter.
                let marker = if points.len() <= 30 { Marker::Filled } else { Marker::None };
                curves.push(Curve { color: color(&m.method), points, line: Some(dash), marker });
            }
            if any {
                legend.push(LegendEntry {
                    label: method_label(m),
                    color: color(&m.method),
                    line: Some(Dash::Solid),
                    marker: Marker::None,
                    new_row: false,
                });
            }
        }
        (curves, legend)
    };
    let style_key = |solid: &str, dashed: &str| {
        [
            LegendEntry { label: solid.into(), color: GREY_KEY, line: Some(Dash::Solid), marker: Marker::None, new_row: true },
            LegendEntry { label: dashed.into(), color: GREY_KEY, line: Some(Dash::Dashed), marker: Marker::None, new_row: false },
        ]
    };
    let iterations = || XAxis { label: "iteration".into(), range: None, counts: true };
    let log_y = |label: &str| YAxis {
        label: format!("{label} (log scale)"),
        scale: Scale::Log,
        clamp: None,
        range_from_x: f64::NEG_INFINITY,
        cap: Some(10.0),
    };
    let percent_y = |label: &str, range_from_x: f64| YAxis {
        label: label.into(),
        scale: Scale::Linear,
        clamp: Some((0.0, 100.0)),
        range_from_x,
        cap: None,
    };
    let mut out = Vec::new();
    let mut push = |fig: Figure| {
        if !fig.curves.is_empty() {
            out.push(fig);
        }
    };

    // The paper's Fig. 1 (left): the objective every method is judged by. The raw F(θ) is not drawn
    // here: for PathProx (‖w‖ = 1 for every unit) it carries a constant (λ/2)·#units that says nothing
    // about the fit and would be the highest curve on the plot.
    let (curves, legend) = per_method(Metric::Objective, None, 1.0);
    push(Figure {
        file: "objective.png",
        title: "Weight-decay objective (path-norm form)".into(),
        subtitle: caption.clone(),
        x: iterations(),
        y: log_y("train CE + λ·Σ‖w‖‖v‖"),
        curves,
        legend,
    });

    // Both forms: a method's dashed curve meets its solid one when its units are balanced.
    let (curves, mut legend) = per_method(Metric::Objective, Some(Metric::ObjectiveL2), 1.0);
    if curves.iter().any(|c| c.line == Some(Dash::Dashed)) {
        legend.extend(style_key("path-norm form", "raw F(θ) = train CE + (λ/2)‖θ‖²"));
        push(Figure {
            file: "objective_raw.png",
            title: "Weight-decay objective: path-norm form and raw F(θ)".into(),
            subtitle: caption.clone(),
            x: iterations(),
            y: log_y("objective"),
            curves,
            legend,
        });
    }

    let (curves, legend) = per_method(Metric::ActiveUnits, None, 1.0);
    push(Figure {
        file: "active_units.png",
        title: "Active units".into(),
        subtitle: caption.clone(),
        x: iterations(),
        y: percent_y("active units (%)", f64::NEG_INFINITY),
        curves,
        legend,
    });

    let (curves, legend) = per_method(Metric::TrainCe, None, 1.0);
    push(Figure {
        file: "train_ce.png",
        title: "Training loss".into(),
        subtitle: caption.clone(),
        x: iterations(),
        y: log_y("train cross-entropy"),
        curves,
        legend,
    });

    let (curves, mut legend) = per_method(Metric::ValAcc, Some(Metric::TestAcc), 100.0);
    let has = |d: Dash| curves.iter().any(|c| c.line == Some(d));
    if has(Dash::Solid) && has(Dash::Dashed) {
        legend.extend(style_key("validation", "test"));
    }
    let last_iter = curves.iter().flat_map(|c| c.points.iter().map(|p| p.0)).fold(0.0, f64::max);
    push(Figure {
        file: "accuracy.png",
        title: "Accuracy".into(),
        subtitle: caption.clone(),
        x: iterations(),
        y: percent_y("accuracy (%)", 0.05 * last_iter),
        curves,
        legend,
    });

    if let Some(s) = &run.sparsity {
        let mut curves = Vec::new();
        let mut legend = Vec::new();
        let mut any_dominated = false;
        for m in s.methods() {
            let frontier = s.frontier(&m);
            // "Best with sparsity ≥ x" is a step function: flat up to each frontier point, then down.
            let mut steps = Vec::new();
            for (i, &(x, a)) in frontier.iter().enumerate() {
                if i > 0 {
                    steps.push((frontier[i - 1].0, 100.0 * a));
                }
                steps.push((x, 100.0 * a));
            }
            let best_at = |x: f64| frontier.iter().find(|f| f.0 == x).map(|f| f.1);
            let (best, rest): (Vec<_>, Vec<_>) = s
                .points
                .iter()
                .filter(|p| p.method == m)
                .map(|p| (p.sparsity, p.test_acc))
                .partition(|&(x, a)| best_at(x) == Some(a));
            let pct = |v: Vec<(f64, f64)>| v.into_iter().map(|(x, a)| (x, 100.0 * a)).collect::<Vec<_>>();
            any_dominated |= !rest.is_empty();
            curves.push(Curve { color: color(&m), points: pct(rest), line: None, marker: Marker::Hollow });
            curves.push(Curve { color: color(&m), points: steps, line: Some(Dash::Solid), marker: Marker::None });
            curves.push(Curve { color: color(&m), points: pct(best), line: None, marker: Marker::Filled });
            legend.push(LegendEntry {
                label: display_name(&m),
                color: color(&m),
                line: Some(Dash::Solid),
                marker: Marker::Filled,
                new_row: false,
            });
        }
        if any_dominated {
            legend.push(LegendEntry {
                label: "other runs of the grid".into(),
                color: GREY_KEY,
                line: None,
                marker: Marker::Hollow,
                new_row: false,
            });
        }
        let x_max = s.points.iter().map(|p| p.sparsity).fold(0.0, f64::max);
        let x_hi = if x_max <= 0.0 { 100.0 } else { nice_ceil(x_max.min(100.0)).min(100.0).max(x_max) };
        push(Figure {
            file: "sparsity.png",
            title: "Best test accuracy at each sparsity level".into(),
            subtitle: grid_caption(run, s),
            x: XAxis { label: "sparsity (% of units removed)".into(), range: Some((0.0, x_hi)), counts: false },
            y: percent_y("best test accuracy (%) at sparsity ≥ x", f64::NEG_INFINITY),
            curves,
            legend,
        });
    }
    out
}

/// Task 5's figure pools a grid of runs: its subtitle names the grid, not the one λ and lr of config.json.
fn grid_caption(run: &Run, s: &super::SparsityLog) -> String {
    let values = |f: fn(&super::SparsityPoint) -> Option<f64>| {
        let mut v: Vec<f64> = s.points.iter().filter_map(f).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        // One notation per list: {1e-4, 1e-3, 1e-2}, not {1e-4, 1e-3, 0.01}.
        let sci = v.iter().any(|x| super::num(*x).contains('e'));
        v.iter().map(|x| if sci { format!("{x:e}") } else { super::num(*x) }).collect::<Vec<_>>().join(", ")
    };
    let (lrs, lambdas) = (values(|p| p.lr), values(|p| p.lambda));
    if lrs.is_empty() || lambdas.is_empty() {
        return run.config.caption();
    }
    format!("{} · {} · best over lr ∈ {{{lrs}}} × λ ∈ {{{lambdas}}}", run.config.task_name(), run.config.model)
}

// Layout, in pixels.
const TITLE_PX: f32 = 22.0;
const SUBTITLE_PX: f32 = 14.0;
const LEGEND_PX: f32 = 15.0;
const TICK_PX: f32 = 14.0;
const AXIS_PX: f32 = 16.0;
const LINE_W: u32 = 2;
const SAMPLE_W: i32 = 26;
const MARKER_R: i32 = 4;
const LEGEND_GAP: i32 = 22;
const TICK_LEN: i32 = 5;
const GRID_MAJOR: RGBColor = RGBColor(218, 218, 218);
const GRID_MINOR: RGBColor = RGBColor(240, 240, 240);
const TEXT: [u8; 3] = [0, 0, 0];
const SUBTEXT: [u8; 3] = [85, 85, 85];

fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// The y range in plotted units (log10 for a log axis) and its ticks.
fn y_range(fig: &Figure) -> (Range<f64>, Ticks) {
    let log = fig.y.scale == Scale::Log;
    let ty = |v: f64| if log { v.log10() } else { v };
    let usable = |v: f64| v.is_finite() && (!log || v > 0.0);
    let all = || fig.curves.iter().flat_map(|c| c.points.iter().copied()).filter(|p| usable(p.1));
    let mut ys: Vec<f64> = all().filter(|p| p.0 >= fig.y.range_from_x).map(|p| ty(p.1)).collect();
    if ys.is_empty() {
        ys = all().map(|p| ty(p.1)).collect();
    }
    let (mut lo, mut hi) = ys.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if let Some(cap) = fig.y.cap {
        let first = fig
            .curves
            .iter()
            .filter_map(|c| c.points.iter().find(|p| usable(p.1)))
            .map(|p| ty(p.1))
            .fold(f64::NEG_INFINITY, f64::max);
        if first.is_finite() {
            hi = hi.min(first + if log { cap.log10() } else { first.abs() * (cap - 1.0) }).max(lo);
        }
    }
    if !lo.is_finite() {
        // Nothing placeable (only zeros on a log axis): an empty frame over one decade.
        (lo, hi) = (-1.0, 0.0);
    }
    if hi - lo < 1e-9 {
        let half = if log { 0.5 } else { (lo.abs() * 0.05).max(0.5) };
        (lo, hi) = (lo - half, hi + half);
    }
    let pad = 0.04 * (hi - lo);
    (lo, hi) = (lo - pad, hi + pad);
    if let Some((a, b)) = fig.y.clamp {
        // A little headroom past the limits, so a curve at 100 % is not hidden under the frame.
        let room = pad.min(0.02 * (b - a));
        (lo, hi) = (lo.max(a - room), hi.min(b + room));
    }
    let r = lo..hi;
    let ticks = if log { log_ticks(&r) } else { linear_ticks(&r, 6.0, plain) };
    (r, ticks)
}

/// Renders a figure to RGB8 pixels.
fn draw(fig: &Figure) -> Vec<u8> {
    let (w, h) = SIZE;
    let (wi, hi) = (w as i32, h as i32);
    let log = fig.y.scale == Scale::Log;
    let ty = |v: f64| if log { v.log10() } else { v };

    // Ranges and ticks.
    let (x0, x1) = fig
        .x
        .range
        .unwrap_or_else(|| (0.0, fig.curves.iter().flat_map(|c| c.points.iter().map(|p| p.0)).fold(0.0, f64::max).max(1.0)));
    let fmt_x = |v: f64| if fig.x.counts { count_label(v) } else { plain(v) };
    let x_ticks = linear_ticks(&(x0..x1), 8.0, fmt_x);
    // Matplotlib-like margins: points at the ends of the range stay clear of the frame.
    let xpad = 0.015 * (x1 - x0);
    let xr = (x0 - xpad)..(x1 + xpad);
    let (yr, y_ticks) = y_range(fig);

    // Header: title, subtitle, legend rows (wrapped, centred).
    let title_top = 12;
    let subtitle_top = title_top + text::line_height(TITLE_PX).ceil() as i32 + 3;
    let legend_top = subtitle_top + text::line_height(SUBTITLE_PX).ceil() as i32 + 10;
    let row_h = text::line_height(LEGEND_PX).ceil() as i32 + 6;
    let mut rows: Vec<Vec<(&LegendEntry, i32)>> = Vec::new();
    let mut row_w = 0;
    for e in &fig.legend {
        let item_w = SAMPLE_W + 8 + text::width(&e.label, LEGEND_PX).ceil() as i32;
        let fits = row_w + LEGEND_GAP + item_w <= wi - 40;
        match rows.last_mut() {
            Some(row) if !e.new_row && fits => {
                row_w += LEGEND_GAP + item_w;
                row.push((e, item_w));
            }
            _ => {
                rows.push(vec![(e, item_w)]);
                row_w = item_w;
            }
        }
    }
    let header_bottom = legend_top + rows.len() as i32 * row_h;

    // The plot rectangle: room on the left for the y title and the widest tick label, below for the
    // x tick labels and the x title.
    let y_label_w = y_ticks.labels.iter().map(|l| text::width(l, TICK_PX).ceil() as i32).max().unwrap_or(0);
    let axis_h = text::line_height(AXIS_PX).ceil() as i32;
    let tick_h = text::line_height(TICK_PX).ceil() as i32;
    let left = 14 + axis_h + 10 + y_label_w + TICK_LEN + 6;
    let right = wi - 28;
    let top = header_bottom + 10;
    let bottom = hi - (12 + axis_h + 8 + tick_h + TICK_LEN + 4);

    let mut buf = vec![255u8; (w * h * 3) as usize];
    let mut tick_px: (Vec<i32>, Vec<i32>) = (Vec::new(), Vec::new());
    let mut legend_items: Vec<((i32, i32), &LegendEntry)> = Vec::new();
    'plot: {
        // Errors from plotters' bitmap backend can only be out-of-buffer writes, which it clips
        // itself; a failed element would leave a visibly incomplete figure, not a wrong number.
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let area = root.clone().shrink((left, top), ((right - left) as u32, (bottom - top) as u32));
        let Ok(mut chart) = ChartBuilder::on(&area).build_cartesian_2d(xr.clone(), yr.clone()) else { break 'plot };
        let px = |chart: &ChartContext<_, _>, x: f64, y: f64| chart.backend_coord(&(x, y));

        // Grid: minor under major.
        for (xs, ys, color) in [(&x_ticks.minor, &y_ticks.minor, GRID_MINOR), (&x_ticks.major, &y_ticks.major, GRID_MAJOR)] {
            for &x in xs {
                let _ = chart.draw_series(LineSeries::new([(x, yr.start), (x, yr.end)], color.stroke_width(1)));
            }
            for &y in ys {
                let _ = chart.draw_series(LineSeries::new([(xr.start, y), (xr.end, y)], color.stroke_width(1)));
            }
        }

        // Curves, cut at the frame; markers on top of lines.
        for c in &fig.curves {
            // NaN marks a gap (a null in the log); values a log axis cannot place are left out.
            let pts: Vec<(f64, f64)> =
                c.points.iter().filter(|p| !log || p.1.is_nan() || p.1 > 0.0).map(|p| (p.0, ty(p.1))).collect();
            let style = rgb(c.color).stroke_width(LINE_W);
            if let Some(dash) = c.line {
                for part in pts.split(|p| p.1.is_nan()).flat_map(|run| clip_y(run, yr.start, yr.end)) {
                    let _ = match dash {
                        Dash::Solid => chart.draw_series(LineSeries::new(part, style)).map(|_| ()),
                        Dash::Dashed => chart.draw_series(DashedLineSeries::new(part, 9, 6, style)).map(|_| ()),
                    };
                }
            }
            let inside = pts.into_iter().filter(|p| yr.contains(&p.1));
            let _ = match c.marker {
                Marker::None => Ok(()),
                Marker::Filled => chart.draw_series(inside.map(|p| Circle::new(p, MARKER_R, rgb(c.color).filled()))).map(|_| ()),
                Marker::Hollow => {
                    chart.draw_series(inside.map(|p| Circle::new(p, MARKER_R, rgb(c.color).stroke_width(2)))).map(|_| ())
                }
            };
        }

        // Frame and outward tick marks.
        let (fx0, fy0) = px(&chart, xr.start, yr.end);
        let (fx1, fy1) = px(&chart, xr.end, yr.start);
        let black = BLACK.stroke_width(1);
        let _ = root.draw(&Rectangle::new([(fx0, fy0), (fx1, fy1)], black));
        for &x in &x_ticks.major {
            let (tx, _) = px(&chart, x, yr.start);
            let _ = root.draw(&PathElement::new(vec![(tx, fy1), (tx, fy1 + TICK_LEN)], black));
            tick_px.0.push(tx);
        }
        for &y in &y_ticks.major {
            let (_, ty) = px(&chart, xr.start, y);
            let _ = root.draw(&PathElement::new(vec![(fx0 - TICK_LEN, ty), (fx0, ty)], black));
            tick_px.1.push(ty);
        }

        // Legend samples; their labels are drawn with the other text below.
        for (r, row) in rows.iter().enumerate() {
            let total: i32 = row.iter().map(|(_, iw)| iw).sum::<i32>() + LEGEND_GAP * (row.len() as i32 - 1);
            let mut x = (wi - total) / 2;
            let mid = legend_top + r as i32 * row_h + row_h / 2 - 2;
            for &(e, iw) in row {
                let style = rgb(e.color).stroke_width(LINE_W + 1);
                match e.line {
                    Some(Dash::Solid) => {
                        let _ = root.draw(&PathElement::new(vec![(x, mid), (x + SAMPLE_W, mid)], style));
                    }
                    Some(Dash::Dashed) => {
                        for s in [0, 11, 22] {
                            let _ = root.draw(&PathElement::new(vec![(x + s, mid), (x + s + 7, mid)], style));
                        }
                    }
                    None => {}
                }
                let c = (x + SAMPLE_W / 2, mid);
                let _ = match e.marker {
                    Marker::None => Ok(()),
                    Marker::Filled => root.draw(&Circle::new(c, MARKER_R, rgb(e.color).filled())),
                    Marker::Hollow => root.draw(&Circle::new(c, MARKER_R, rgb(e.color).stroke_width(2))),
                };
                legend_items.push(((x + SAMPLE_W + 8, mid), e));
                x += iw + LEGEND_GAP;
            }
        }
        let _ = root.present();
    }

    // Text.
    let mut cv = Canvas { buf: &mut buf, w, h };
    cv.text(&fig.title, TITLE_PX, (wi / 2, title_top), HAlign::Center, VAlign::Top, TEXT, false);
    cv.text(&fig.subtitle, SUBTITLE_PX, (wi / 2, subtitle_top), HAlign::Center, VAlign::Top, SUBTEXT, false);
    for ((x, mid), e) in legend_items {
        cv.text(&e.label, LEGEND_PX, (x, mid), HAlign::Left, VAlign::Middle, TEXT, false);
    }
    for (x, label) in tick_px.0.iter().zip(&x_ticks.labels) {
        cv.text(label, TICK_PX, (*x, bottom + TICK_LEN + 4), HAlign::Center, VAlign::Top, TEXT, false);
    }
    for (y, label) in tick_px.1.iter().zip(&y_ticks.labels) {
        cv.text(label, TICK_PX, (left - TICK_LEN - 5, *y), HAlign::Right, VAlign::Middle, TEXT, false);
    }
    cv.text(&fig.x.label, AXIS_PX, ((left + right) / 2, hi - 12 - axis_h), HAlign::Center, VAlign::Top, TEXT, false);
    cv.text(&fig.y.label, AXIS_PX, (14, (top + bottom) / 2), HAlign::Center, VAlign::Top, TEXT, true);
    buf
}

/// Writes through a temporary file and a rename, so a viewer never reads half a PNG.
fn save_png(path: &Path, buf: Vec<u8>) -> Result<()> {
    save_png_sized(path, buf, SIZE)
}

/// [`save_png`] for an image of any size (the heat maps grow with the grid).
pub(super) fn save_png_sized(path: &Path, buf: Vec<u8>, size: (u32, u32)) -> Result<()> {
    let err = |msg: String| Error::Report { path: path.to_path_buf(), msg };
    let img = image::RgbImage::from_raw(size.0, size.1, buf).ok_or_else(|| err("internal error: wrong buffer size".into()))?;
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png).map_err(|e| err(format!("cannot write PNG: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| err(format!("cannot move {} into place: {e}", tmp.display())))
}

/// A line of [`write_lines`]: method (for its colour), legend label, points.
pub(super) type Line = (String, String, Vec<(f64, f64)>);

/// A figure of solid lines drawn for another module of `report` (the Lipschitz histogram): per entry of
/// `lines`, a method (its colour), its legend label and its points; x over `x_range`, y linear from 0.
pub(super) fn write_lines(path: &Path, title: &str, subtitle: &str, (x_label, x_range): (&str, (f64, f64)), y_label: &str, lines: Vec<Line>) -> Result<()> {
    let mut spare = SPARE.iter().cycle();
    let mut curves = Vec::new();
    let mut legend = Vec::new();
    for (method, label, points) in lines {
        let color = method_color(&method).unwrap_or_else(|| *spare.next().unwrap_or(&[0, 0, 0]));
        curves.push(Curve { color, points, line: Some(Dash::Solid), marker: Marker::None });
        legend.push(LegendEntry { label, color, line: Some(Dash::Solid), marker: Marker::None, new_row: false });
    }
    let fig = Figure {
        file: "",
        title: title.into(),
        subtitle: subtitle.into(),
        x: XAxis { label: x_label.into(), range: Some(x_range), counts: false },
        y: YAxis { label: y_label.into(), scale: Scale::Linear, clamp: Some((0.0, f64::INFINITY)), range_from_x: f64::NEG_INFINITY, cap: None },
        curves,
        legend,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Report { path: dir.to_path_buf(), msg: format!("cannot create: {e}") })?;
    }
    save_png(path, draw(&fig))
}
