//! Axes of a figure: data ranges, tick positions and tick labels, and cutting curves at the frame.
//!
//! A log axis is a linear axis over log10(value) with ticks chosen here: decades labelled 10ⁿ (a raised exponent) with a
//! minor grid at 2–9 × 10ⁿ, or plain numbers (0.004, 0.005, …) when the data spans less than about a
//! decade and decades alone would leave the axis unlabelled. plotters' own log ticks change style
//! with the data in ways that read badly.

use std::ops::Range;

pub(crate) struct Ticks {
    pub major: Vec<f64>,
    pub minor: Vec<f64>,
    pub labels: Vec<String>,
}

/// The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above x (x > 0).
pub(crate) fn nice_ceil(x: f64) -> f64 {
    let e = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * e).find(|v| *v >= x * (1.0 - 1e-12)).unwrap_or(10.0 * e)
}

/// Tick step for a linear axis: about `target` ticks over `span`, a 1, 2, 2.5 or 5 × 10ⁿ.
pub(crate) fn nice_step(span: f64, target: f64) -> f64 {
    let raw = span / target;
    let e = 10f64.powf(raw.log10().floor());
    let m = raw / e;
    let m = match m {
        m if m < 1.5 => 1.0,
        m if m < 2.25 => 2.0,
        m if m < 3.5 => 2.5,
        m if m < 7.5 => 5.0,
        _ => 10.0,
    };
    m * e
}

/// Multiples of `step` in `r`, computed as k·step so labels read 0.3, not 0.30000000000000004.
pub(crate) fn multiples(r: &Range<f64>, step: f64) -> Vec<f64> {
    let first = (r.start / step - 1e-9).ceil() as i64;
    let last = (r.end / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Ticks of a linear axis over `r`; labels through `fmt`.
pub(crate) fn linear_ticks(r: &Range<f64>, target: f64, fmt: impl Fn(f64) -> String) -> Ticks {
    let step = nice_step(r.end - r.start, target);
    let major = multiples(r, step);
    let minor = multiples(r, step / 2.0);
    let labels = major.iter().map(|v| fmt(*v)).collect();
    Ticks { major, minor, labels }
}

/// Ticks of a log axis; `r` and the returned positions are in log10 units.
pub(crate) fn log_ticks(r: &Range<f64>) -> Ticks {
    let (first, last) = (r.start.ceil() as i64, r.end.floor() as i64);
    let in_range = |v: f64| v >= r.start - 1e-9 && v <= r.end + 1e-9;
    let around = (r.start.floor() as i64)..=(r.end.ceil() as i64);
    let at = |mults: &[f64]| -> Vec<f64> {
        around.clone().flat_map(|d| mults.iter().map(move |m| m.log10() + d as f64)).filter(|v| in_range(*v)).collect()
    };
    let n_decades = last - first + 1;
    if n_decades >= 2 {
        let stride = ((n_decades as f64) / 7.0).ceil().max(1.0) as i64;
        let major: Vec<f64> = (first..=last).filter(|d| d.rem_euclid(stride) == 0).map(|d| d as f64).collect();
        let minor =
            if stride == 1 { at(&[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]) } else { (first..=last).map(|d| d as f64).collect() };
        let labels = major.iter().map(|d| power_of_ten(d.round() as i64)).collect();
        Ticks { major, minor, labels }
    } else {
        let mut major = at(&[1.0, 2.0, 5.0]);
        if major.len() < 3 {
            major = at(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        }
        let minor = at(&[1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0]);
        // Rounded to 12 significant digits: 10^log10(0.004) is 0.004000000000000001.
        let labels = major.iter().map(|v| plain(format!("{:.11e}", 10f64.powf(*v)).parse().unwrap_or(0.0))).collect();
        Ticks { major, minor, labels }
    }
}

/// 10ⁿ in the figures' text markup (see `text`), with a true minus sign.
pub(crate) fn power_of_ten(n: i64) -> String {
    format!("10^{{{}}}", n.to_string().replace('-', "−"))
}

/// A plain number with no more digits than it needs (0.002, 0.5, 25), scientific when tiny or huge.
pub(crate) fn plain(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !(1e-4..1e6).contains(&v.abs()) {
        return format!("{v:e}");
    }
    let digits = (6 - v.abs().log10().floor() as i32).clamp(0, 10) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// Iteration counts: 0, 500, 20k, 2.5k, 1.2M.
pub(crate) fn count_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", plain(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", plain(v / 1e3))
    } else {
        plain(v)
    }
}

/// Splits a polyline where it leaves [lo, hi] in y, so a curve running off the plot is cut at the
/// frame instead of being drawn across the title or the tick labels.
pub(crate) fn clip_y(points: &[(f64, f64)], lo: f64, hi: f64) -> Vec<Vec<(f64, f64)>> {
    let inside = |p: (f64, f64)| p.1 >= lo && p.1 <= hi;
    let cross = |a: (f64, f64), b: (f64, f64), y: f64| (a.0 + (b.0 - a.0) * (y - a.1) / (b.1 - a.1), y);
    let mut parts = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for (i, &p) in points.iter().enumerate() {
        let Some(&q) = i.checked_sub(1).map(|j| &points[j]) else {
            if inside(p) {
                cur.push(p);
            }
            continue;
        };
        if inside(p) {
            if !inside(q) {
                cur.push(cross(q, p, if q.1 > hi { hi } else { lo }));
            }
            cur.push(p);
        } else {
            if inside(q) {
                cur.push(cross(q, p, if p.1 > hi { hi } else { lo }));
            } else if (q.1 > hi) != (p.1 > hi) {
                // From above the plot to below it (or back) between two points: the crossing segment.
                let (a, b) = if q.1 > hi { (hi, lo) } else { (lo, hi) };
                parts.push(vec![cross(q, p, a), cross(q, p, b)]);
            }
            if !cur.is_empty() {
                parts.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_label_decades_or_plain_numbers() {
        let t = log_ticks(&((0.004f64).log10()..(2.5f64).log10()));
        assert_eq!(t.major, vec![-2.0, -1.0, 0.0]);
        assert_eq!(t.labels, ["10^{−2}", "10^{−1}", "10^{0}"]);
        assert!(t.minor.iter().any(|v| (v - 0.005f64.log10()).abs() < 1e-12));
        let t = log_ticks(&((0.004f64).log10()..(0.009f64).log10()));
        assert_eq!(t.labels, ["0.004", "0.005", "0.006", "0.007", "0.008", "0.009"]);
        let t = log_ticks(&((0.003f64).log10()..(0.04f64).log10()));
        assert_eq!(t.labels, ["0.005", "0.01", "0.02"]);
        // Twenty decades: every third one labelled.
        assert!(log_ticks(&(-20.0..0.0)).major.len() <= 7);
    }

    #[test]
    fn labels_and_steps() {
        assert_eq!(count_label(20000.0), "20k");
        assert_eq!(count_label(2500.0), "2.5k");
        assert_eq!(count_label(1.5e6), "1.5M");
        assert_eq!(count_label(0.0), "0");
        assert_eq!(nice_step(100000.0, 8.0), 10000.0);
        assert_eq!(nice_ceil(87.0), 100.0);
        assert_eq!(multiples(&(0.0..1.0), 0.1).len(), 11);
        assert_eq!(plain(0.30000000000000004), "0.3");
    }

    #[test]
    fn clipping_cuts_curves_at_the_frame() {
        let parts = clip_y(&[(0.0, 0.0), (1.0, 2.0), (2.0, 0.0)], -1.0, 1.0);
        assert_eq!(parts, vec![vec![(0.0, 0.0), (0.5, 1.0)], vec![(1.5, 1.0), (2.0, 0.0)]]);
        assert!(clip_y(&[(0.0, 5.0), (1.0, 6.0)], -1.0, 1.0).is_empty());
        assert_eq!(clip_y(&[(0.0, 3.0), (1.0, -3.0)], -1.0, 1.0), vec![vec![(1.0 / 3.0, 1.0), (2.0 / 3.0, -1.0)]]);
    }
}
