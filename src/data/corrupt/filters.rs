//! The image operations MNIST-C's corruptions are built from, on 28×28 images of f64 in row-major order,
//! each written to compute what the library call in MNIST-C's `corruptions.py` computes (named in each
//! doc): SciPy's Gaussian filter, scikit-image's affine warp and Canny detector, ImageMagick's motion blur,
//! the diamond-square plasma fractal, and the decaying line MNIST-C draws.

use rand_chacha::ChaCha8Rng;

use super::random;

/// Side of the images.
pub const N: usize = 28;

/// How a filter sees pixels outside the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Border {
    /// The nearest edge pixel (SciPy's `mode='nearest'`, scikit-image's `gaussian` default).
    Nearest,
    /// Zero (SciPy's `mode='constant'`, cval 0).
    Zero,
}

/// SciPy's `_gaussian_kernel1d`: radius ⌊truncate·σ + ½⌋ (truncate = 4), weights exp(−x²/2σ²) normalised.
pub fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let w: Vec<f64> = (-radius..=radius).map(|x| (-0.5 * (x as f64 / sigma).powi(2)).exp()).collect();
    let sum: f64 = w.iter().sum();
    w.into_iter().map(|v| v / sum).collect()
}

/// Correlates every column (`axis` 0, along the rows) or every row (`axis` 1) of a `side`×`side` image
/// with `kernel` (odd length, centred), as `scipy.ndimage.correlate1d`.
fn correlate1d(img: &[f64], side: usize, kernel: &[f64], axis: usize, border: Border) -> Vec<f64> {
    let r = (kernel.len() / 2) as i64;
    let mut out = vec![0.0; img.len()];
    for y in 0..side {
        for x in 0..side {
            let mut acc = 0.0;
            for (k, &w) in kernel.iter().enumerate() {
                let d = k as i64 - r;
                let (yy, xx) = if axis == 0 { (y as i64 + d, x as i64) } else { (y as i64, x as i64 + d) };
                let inside = (0..side as i64).contains(&yy) && (0..side as i64).contains(&xx);
                let v = match (inside, border) {
                    (true, _) => img[yy as usize * side + xx as usize],
                    (false, Border::Zero) => 0.0,
                    (false, Border::Nearest) => img[yy.clamp(0, side as i64 - 1) as usize * side + xx.clamp(0, side as i64 - 1) as usize],
                };
                acc += w * v;
            }
            out[y * side + x] = acc;
        }
    }
    out
}

/// `scipy.ndimage.gaussian_filter` with σ per axis (σ = 0 leaves that axis alone, as SciPy does).
pub fn gaussian_blur(img: &[f64], sigma_rows: f64, sigma_cols: f64, border: Border) -> Vec<f64> {
    let side = (img.len() as f64).sqrt() as usize;
    let mut out = img.to_vec();
    if sigma_rows > 0.0 {
        out = correlate1d(&out, side, &gaussian_kernel(sigma_rows), 0, border);
    }
    if sigma_cols > 0.0 {
        out = correlate1d(&out, side, &gaussian_kernel(sigma_cols), 1, border);
    }
    out
}

/// A 2×3 affine map from output (column x, row y) to input coordinates, scikit-image's convention.
pub type Affine = [[f64; 3]; 2];

/// The map `m` (its linear part) with the translation that keeps the centre (13.5, 13.5) fixed, as
/// MNIST-C computes for shear, scale and rotate.
pub fn about_centre(m: [[f64; 2]; 2]) -> Affine {
    let c = (N as f64 - 1.0) / 2.0;
    [[m[0][0], m[0][1], c * (1.0 - m[0][0] - m[0][1])], [m[1][0], m[1][1], c * (1.0 - m[1][0] - m[1][1])]]
}

/// `skimage.transform.warp(img, inverse_map=m)` with its defaults (order 1, mode 'constant', cval 0):
/// output pixel (x, y) = bilinear interpolation of the input at m·(x, y, 1), neighbours outside the image
/// counting as 0 (scikit-image's `bilinear_interpolation` in `_warp_fast`).
pub fn warp(img: &[f64], m: &Affine) -> Vec<f64> {
    let px = |r: f64, c: f64| -> f64 {
        if r < 0.0 || c < 0.0 || r >= N as f64 || c >= N as f64 { 0.0 } else { img[r as usize * N + c as usize] }
    };
    let mut out = vec![0.0; N * N];
    for y in 0..N {
        for x in 0..N {
            let (xf, yf) = (x as f64, y as f64);
            let c = m[0][0] * xf + m[0][1] * yf + m[0][2];
            let r = m[1][0] * xf + m[1][1] * yf + m[1][2];
            let (r0, c0, r1, c1) = (r.floor(), c.floor(), r.ceil(), c.ceil());
            let (dr, dc) = (r - r0, c - c0);
            let top = (1.0 - dc) * px(r0, c0) + dc * px(r0, c1);
            let bottom = (1.0 - dc) * px(r1, c0) + dc * px(r1, c1);
            out[y * N + x] = (1.0 - dr) * top + dr * bottom;
        }
    }
    out
}

/// ImageMagick's `MotionBlurImage(radius, sigma, angle)` on a grey image: a one-sided kernel of
/// 2⌈radius⌉+1 taps k_i ∝ exp(−i²/2σ²), tap i reading the pixel at (x + round(i·cos a), y + round(i·sin a))
/// (a in degrees, ImageMagick's `ceil(v − 0.5)` rounding), edge pixels repeated outside the image.
pub fn motion_blur(img: &[f64], radius: f64, sigma: f64, angle_deg: f64) -> Vec<f64> {
    let width = (2.0 * radius.ceil() + 1.0) as usize;
    let k: Vec<f64> = (0..width).map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f64 = k.iter().sum();
    let a = angle_deg.to_radians();
    let (px, py) = (width as f64 * a.sin(), width as f64 * a.cos());
    let h = px.hypot(py);
    let offsets: Vec<(i64, i64)> =
        (0..width).map(|i| (((i as f64 * py) / h - 0.5).ceil() as i64, ((i as f64 * px) / h - 0.5).ceil() as i64)).collect();
    let mut out = vec![0.0; N * N];
    for y in 0..N as i64 {
        for x in 0..N as i64 {
            let mut acc = 0.0;
            for (w, &(dx, dy)) in k.iter().zip(&offsets) {
                let (xx, yy) = ((x + dx).clamp(0, N as i64 - 1), (y + dy).clamp(0, N as i64 - 1));
                acc += w / sum * img[yy as usize * N + xx as usize];
            }
            out[y as usize * N + x as usize] = acc;
        }
    }
    out
}

/// MNIST-C's `plasma_fractal(mapsize, wibbledecay)`: a diamond-square height map, normalised to [0, 1].
/// Each new point is the mean of its four neighbours (wrapping around, as `np.roll` does) plus
/// wibble·U(−wibble, wibble), wibble starting at 100 and divided by `decay` at each halving of the step.
pub fn plasma_fractal(rng: &mut ChaCha8Rng, size: usize, decay: f64, map: &mut Vec<f64>) {
    assert!(size.is_power_of_two());
    map.clear();
    map.resize(size * size, 0.0);
    let at = |i: usize, j: usize| (i % size) * size + j % size;
    let (mut step, mut wibble) = (size, 100.0f64);
    while step >= 2 {
        let half = step / 2;
        // Squares: the centre of each square of corners `step` apart.
        for i in (0..size).step_by(step) {
            for j in (0..size).step_by(step) {
                let s = map[at(i, j)] + map[at(i + step, j)] + map[at(i, j + step)] + map[at(i + step, j + step)];
                map[at(i + half, j + half)] = s / 4.0 + wibble * random::uniform_in(rng, -wibble, wibble);
            }
        }
        // Diamonds: the midpoints of the top edges (row i, column j + half), from the centres above and
        // below and the corners left and right ...
        for i in (0..size).step_by(step) {
            for j in (0..size).step_by(step) {
                let s = map[at(i + half, j + half)] + map[at(i + size - half, j + half)] + map[at(i, j)] + map[at(i, j + step)];
                map[at(i, j + half)] = s / 4.0 + wibble * random::uniform_in(rng, -wibble, wibble);
            }
        }
        // ... then of the left edges (row i + half, column j), from the centres left and right and the
        // corners above and below.
        for i in (0..size).step_by(step) {
            for j in (0..size).step_by(step) {
                let s = map[at(i + half, j + half)] + map[at(i + half, j + size - half)] + map[at(i, j)] + map[at(i + step, j)];
                map[at(i + half, j)] = s / 4.0 + wibble * random::uniform_in(rng, -wibble, wibble);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let min = map.iter().copied().fold(f64::INFINITY, f64::min);
    map.iter_mut().for_each(|v| *v -= min);
    let max = map.iter().copied().fold(0.0, f64::max);
    if max > 0.0 {
        map.iter_mut().for_each(|v| *v /= max);
    }
}

/// MNIST-C's `line_from_points(c0, r0, c1, r1)`: a stroke along the line through (c0, r0) and (c1, r1),
/// intensity log(1 − d/2.3) + 1 clipped to [0, 1] at vertical distance d from the line, kept only in the
/// columns ⌊c0⌋ .. ⌈c1⌉ − 1; all zero for a vertical line (c0 = c1), as there.
pub fn line_from_points(c0: f64, r0: f64, c1: f64, r1: f64) -> Vec<f64> {
    let mut out = vec![0.0; N * N];
    if c1 == c0 {
        return out;
    }
    let slope = (r1 - r0) / (c1 - c0);
    let (first, end) = (c0.floor() as i64, c1.ceil() as i64);
    for r in 0..N {
        for c in 0..N as i64 {
            if c < first || c >= end {
                continue;
            }
            let d = (r as f64 - (slope * (c as f64 - c0) + r0)).abs().clamp(0.0, 2.3 - 1e-10);
            out[r * N + c as usize] = ((1.0 - d / 2.3).ln() + 1.0).clamp(0.0, 1.0);
        }
    }
    out
}

/// `skimage.feature.canny(img)` with its defaults (σ = 1, thresholds 0.1 and 0.2 of a float image's
/// range): Gaussian smoothing normalised by the smoothed mask (zero outside), Sobel gradients,
/// non-maximum suppression interpolated in four direction bins on the pixels off the border, then
/// hysteresis: edges ≥ 0.1 kept in 8-connected groups that hold one ≥ 0.2.
pub fn canny(img: &[f64]) -> Vec<bool> {
    let smoothed = gaussian_blur(img, 1.0, 1.0, Border::Zero);
    let bleed = gaussian_blur(&vec![1.0; N * N], 1.0, 1.0, Border::Zero);
    let s: Vec<f64> = smoothed.iter().zip(&bleed).map(|(a, b)| a / (b + f64::EPSILON)).collect();
    let at = |i: usize, j: usize| s[i * N + j];
    let (mut gi, mut gj, mut mag) = (vec![0.0; N * N], vec![0.0; N * N], vec![0.0; N * N]);
    // Only interior pixels can be edges (the eroded mask), so the Sobel border mode never matters.
    for i in 1..N - 1 {
        for j in 1..N - 1 {
            let di = (at(i + 1, j - 1) - at(i - 1, j - 1)) + 2.0 * (at(i + 1, j) - at(i - 1, j)) + (at(i + 1, j + 1) - at(i - 1, j + 1));
            let dj = (at(i - 1, j + 1) - at(i - 1, j - 1)) + 2.0 * (at(i, j + 1) - at(i, j - 1)) + (at(i + 1, j + 1) - at(i + 1, j - 1));
            gi[i * N + j] = di;
            gj[i * N + j] = dj;
            mag[i * N + j] = di.hypot(dj);
        }
    }
    let m = |i: usize, j: usize| mag[i * N + j];
    let mut maxima = vec![false; N * N];
    for i in 1..N - 1 {
        for j in 1..N - 1 {
            let (a, b, here) = (gi[i * N + j], gj[i * N + j], m(i, j));
            if here <= 0.0 {
                continue;
            }
            let (aa, ab) = (a.abs(), b.abs());
            let same = (a >= 0.0 && b >= 0.0) || (a <= 0.0 && b <= 0.0);
            let opposite = (a <= 0.0 && b >= 0.0) || (a >= 0.0 && b <= 0.0);
            // scikit-image tests the four bins in this order, a later one overwriting an earlier one on
            // their shared boundaries; the last matching bin decides.
            let mut verdict = None;
            let lerp = |near: f64, diag: f64, w: f64| diag * w + near * (1.0 - w) <= here;
            if same && aa >= ab {
                let w = ab / aa;
                verdict = Some(lerp(m(i + 1, j), m(i + 1, j + 1), w) && lerp(m(i - 1, j), m(i - 1, j - 1), w));
            }
            if same && aa <= ab {
                let w = aa / ab;
                verdict = Some(lerp(m(i, j + 1), m(i + 1, j + 1), w) && lerp(m(i, j - 1), m(i - 1, j - 1), w));
            }
            if opposite && aa <= ab {
                let w = aa / ab;
                verdict = Some(lerp(m(i, j + 1), m(i - 1, j + 1), w) && lerp(m(i, j - 1), m(i + 1, j - 1), w));
            }
            if opposite && aa >= ab {
                let w = ab / aa;
                verdict = Some(lerp(m(i - 1, j), m(i - 1, j + 1), w) && lerp(m(i + 1, j), m(i + 1, j - 1), w));
            }
            maxima[i * N + j] = verdict.unwrap_or(false);
        }
    }
    // Hysteresis: flood the low mask from every high pixel (8-connectivity).
    let low: Vec<bool> = (0..N * N).map(|p| maxima[p] && mag[p] >= 0.1).collect();
    let mut edge = vec![false; N * N];
    let mut stack: Vec<usize> = (0..N * N).filter(|&p| maxima[p] && mag[p] >= 0.2).collect();
    while let Some(p) = stack.pop() {
        if edge[p] {
            continue;
        }
        edge[p] = true;
        let (i, j) = ((p / N) as i64, (p % N) as i64);
        for di in -1..=1 {
            for dj in -1..=1 {
                let (ii, jj) = (i + di, j + dj);
                if (0..N as i64).contains(&ii) && (0..N as i64).contains(&jj) {
                    let q = ii as usize * N + jj as usize;
                    if low[q] && !edge[q] {
                        stack.push(q);
                    }
                }
            }
        }
    }
    edge
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_kernels_are_scipys() {
        // scipy.ndimage._filters._gaussian_kernel1d(0.7, 0, 3) (SciPy 1.10).
        let k = gaussian_kernel(0.7);
        let scipy = [5.85246234e-05, 9.61893081e-03, 2.05399653e-01, 5.69845784e-01, 2.05399653e-01, 9.61893081e-03, 5.85246234e-05];
        assert_eq!(k.len(), 7);
        assert!(k.iter().zip(scipy).all(|(a, b)| (a - b).abs() < 1e-9), "{k:?}");
        assert_eq!(gaussian_kernel(1.5).len(), 13);
        // A blurred constant image stays constant with the nearest border; zero border darkens the edges.
        let flat = vec![0.5; N * N];
        assert!(gaussian_blur(&flat, 1.0, 1.0, Border::Nearest).iter().all(|v| (v - 0.5).abs() < 1e-12));
        let z = gaussian_blur(&flat, 1.0, 1.0, Border::Zero);
        // In the corner only the kernel's half (with its centre) sees the image, along both axes.
        let half: f64 = gaussian_kernel(1.0)[4..].iter().sum();
        assert!((z[0] - 0.5 * half * half).abs() < 1e-12 && (z[14 * N + 14] - 0.5).abs() < 1e-9, "{}", z[0]);
    }

    #[test]
    fn motion_blur_smears_a_dot_one_way() {
        let mut img = vec![0.0; N * N];
        img[14 * N + 14] = 1.0;
        let out = motion_blur(&img, 10.0, 3.0, 0.0);
        // Angle 0: output (x, y) reads (x + i, y), so the dot spreads to the left of itself only.
        assert!(out[14 * N + 10] > 0.0 && out[14 * N + 15] == 0.0 && out[13 * N + 14] == 0.0);
        assert!(out[14 * N + 14] > out[14 * N + 12] && out[14 * N + 12] > out[14 * N + 10]);
        let total: f64 = out.iter().sum();
        // Taps beyond the image's left edge (i > 14) carry ~1e-6 of the mass.
        assert!((total - 1.0).abs() < 1e-5, "mass kept away from the edges: {total}");
    }

    #[test]
    fn plasma_is_normalised_and_seeded() {
        use rand_chacha::rand_core::SeedableRng;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        plasma_fractal(&mut ChaCha8Rng::seed_from_u64(3), 64, 1.4, &mut a);
        plasma_fractal(&mut ChaCha8Rng::seed_from_u64(3), 64, 1.4, &mut b);
        assert_eq!(a, b);
        let (min, max) = (a.iter().copied().fold(1.0, f64::min), a.iter().copied().fold(0.0, f64::max));
        assert!(min == 0.0 && max == 1.0);
        // Smooth: neighbours differ far less than the range on average.
        let mean_step: f64 = (0..63).map(|j| (a[j + 1] - a[j]).abs()).sum::<f64>() / 63.0;
        assert!(mean_step < 0.2, "{mean_step}");
    }

    #[test]
    fn lines_and_canny() {
        let l = line_from_points(0.0, 10.0, 27.0, 10.0);
        assert_eq!(l[10 * N + 5], 1.0);
        assert!(l[11 * N + 5] > 0.0 && l[11 * N + 5] < 1.0 && l[13 * N + 5] == 0.0);
        assert!(l[10 * N + 27] == 0.0, "⌈c1⌉ = 27 excludes the last column");
        assert!(line_from_points(3.0, 1.0, 3.0, 20.0).iter().all(|&v| v == 0.0));
        // A filled square: edges on its outline, none inside or far outside.
        let mut sq = vec![0.0; N * N];
        for i in 8..20 {
            for j in 8..20 {
                sq[i * N + j] = 1.0;
            }
        }
        let e = canny(&sq);
        assert!(e[14 * N + 8] || e[14 * N + 7], "left edge found");
        assert!(!e[14 * N + 14] && !e[2 * N + 2]);
        assert!(canny(&vec![0.3; N * N]).iter().all(|&v| !v));
    }
}
