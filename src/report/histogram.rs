//! Histograms of per-image values, one outline per method on shared bins (the paper's Fig. 1, middle:
//! local Lipschitz constants of weight decay's and PathProx's models), drawn in the style of every other
//! figure (`plot`). Outlines rather than filled bars, so that overlapping methods stay readable.

use std::path::Path;

use super::axis::nice_step;
use super::display_name;
use crate::Result;

/// Bins shared by every series: a round step (1, 2, 2.5 or 5 × 10ⁿ) giving about `target` bins over the
/// range of all values, edges on multiples of the step. Returns (first edge, step, bins).
pub fn bins(values: &[&[f64]], target: usize) -> (f64, f64, usize) {
    let all = || values.iter().flat_map(|v| v.iter().copied()).filter(|x| x.is_finite());
    let (lo, hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !lo.is_finite() {
        return (0.0, 1.0, 1);
    }
    let step = if hi > lo { nice_step(hi - lo, target as f64) } else { nice_step(lo.abs().max(1.0), target as f64) };
    let first = (lo / step).floor() * step;
    let bins = (((hi - first) / step).floor() as usize + 1).max(1);
    (first, step, bins)
}

/// Counts of `values` in the bins (a value on an edge goes to the bin above it; non-finite values are
/// not counted).
pub fn counts(values: &[f64], (first, step, bins): (f64, f64, usize)) -> Vec<usize> {
    let mut c = vec![0; bins];
    for &x in values.iter().filter(|x| x.is_finite()) {
        let i = (((x - first) / step).floor().max(0.0) as usize).min(bins - 1);
        c[i] += 1;
    }
    c
}

/// The outline of a histogram: up from 0 at the first edge, across each bin at its count, down to 0.
fn outline(c: &[usize], (first, step, _): (f64, f64, usize)) -> Vec<(f64, f64)> {
    let mut pts = vec![(first, 0.0)];
    for (i, &n) in c.iter().enumerate() {
        let (a, b) = (first + i as f64 * step, first + (i + 1) as f64 * step);
        pts.push((a, n as f64));
        pts.push((b, n as f64));
    }
    pts.push((first + c.len() as f64 * step, 0.0));
    pts
}

/// Draws the histograms of `series` (method, values) into `path`; legends carry each method's mean and median.
pub fn write_histogram(path: &Path, title: &str, subtitle: &str, x_label: &str, series: &[(String, Vec<f64>)]) -> Result<()> {
    let slices: Vec<&[f64]> = series.iter().map(|(_, v)| v.as_slice()).collect();
    let b = bins(&slices, 40);
    let lines = series
        .iter()
        .map(|(method, v)| {
            let label = format!("{} (mean {}, median {})", display_name(method), short(mean(v)), short(median(v)));
            (method.clone(), label, outline(&counts(v, b), b))
        })
        .collect();
    let x_range = (b.0, b.0 + b.2 as f64 * b.1);
    super::plot::write_lines(path, title, subtitle, (x_label, x_range), "images", lines)
}

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The median (the mean of the two middle values for an even count); NaN for no values.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// Four significant digits.
fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (3 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_value_on_round_edges() {
        let a = [1.3, 2.0, 7.9];
        let b = [0.2, 9.99];
        let (first, step, n) = bins(&[&a, &b], 10);
        assert_eq!((first, step), (0.0, 1.0));
        assert!(first + n as f64 * step > 9.99 && n == 10, "{n}");
        assert_eq!(counts(&a, (first, step, n)), vec![0, 1, 1, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(counts(&b, (first, step, n)).iter().sum::<usize>(), 2);
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        assert_eq!(short(12.3456), "12.35");
        assert_eq!(short(0.012345), "0.01235");
    }
}
