//! MNIST-C's 15 corruptions, one function each, on a 28×28 image of f64 in [0, 1] (pixel/255), returning
//! the corrupted image in [0, 1]. Each follows the definition in MNIST-C's `corruptions.py` at the
//! severity the function uses by default there (the published set's), quoted in its doc; the random
//! draws come from the caller's seeded stream (NumPy's global generator there, so no image can match the
//! published one pixel for pixel: the distribution of corruptions is what is reproduced).

use rand_chacha::ChaCha8Rng;

use super::filters::{self, about_centre, Border, N};
use super::random;

/// The signature every corruption has.
pub type Corruption = fn(&[f64], &mut ChaCha8Rng) -> Vec<f64>;

/// Every corruption by its MNIST-C name (`identity` first: the clean test set, for reference).
pub const ALL: [(&str, Corruption); 16] = [
    ("identity", identity),
    ("shot_noise", shot_noise),
    ("impulse_noise", impulse_noise),
    ("glass_blur", glass_blur),
    ("motion_blur", motion_blur),
    ("shear", shear),
    ("scale", scale),
    ("rotate", rotate),
    ("brightness", brightness),
    ("translate", translate),
    ("stripe", stripe),
    ("fog", fog),
    ("spatter", spatter),
    ("dotted_line", dotted_line),
    ("zigzag", zigzag),
    ("canny_edges", canny_edges),
];

fn clip(v: f64) -> f64 {
    v.clamp(0.0, 1.0)
}

/// The uncorrupted image.
pub fn identity(x: &[f64], _: &mut ChaCha8Rng) -> Vec<f64> {
    x.to_vec()
}

/// Severity 5: each pixel becomes Poisson(3x)/3 (photon noise at 3 counts for full white), clipped.
pub fn shot_noise(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    const C: f64 = 3.0;
    x.iter().map(|&v| clip(random::poisson(rng, v * C) as f64 / C)).collect()
}

/// Severity 4: salt and pepper on 17% of the pixels (scikit-image's `random_noise(mode='s&p',
/// amount=0.17)`): each pixel is hit with probability 0.17, and a hit pixel becomes 1 or 0 with equal odds.
pub fn impulse_noise(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    const AMOUNT: f64 = 0.17;
    x.iter()
        .map(|&v| {
            let (flipped, salted) = (random::bernoulli(rng, AMOUNT), random::bernoulli(rng, 0.5));
            if flipped { if salted { 1.0 } else { 0.0 } } else { v }
        })
        .collect()
}

/// Severity 1, (σ, δ, iterations) = (0.7, 1, 2): blur, quantise to bytes, then twice sweep the pixels
/// (rows and columns 27 down to 2), swapping each with probability ½ with the neighbour at (dy, dx), each
/// drawn from `randint(−1, 1)` ∈ {−1, 0}, then blur again.
///
/// The blur is the one the published code computes: `gaussian(..., multichannel=True)` on a 2-D image
/// treats its last axis as channels, so scikit-image blurs along the rows' axis (vertically) only.
pub fn glass_blur(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    const SIGMA: f64 = 0.7;
    const DELTA: i64 = 1;
    const ITERATIONS: usize = 2;
    let blurred = filters::gaussian_blur(x, SIGMA, 0.0, Border::Nearest);
    let mut q: Vec<f64> = blurred.iter().map(|v| (v * 255.0).floor().clamp(0.0, 255.0)).collect();
    for _ in 0..ITERATIONS {
        for h in (DELTA as usize + 1..N - DELTA as usize + 1).rev() {
            for w in (DELTA as usize + 1..N - DELTA as usize + 1).rev() {
                if random::bernoulli(rng, 0.5) {
                    let dx = random::randint(rng, -DELTA, DELTA);
                    let dy = random::randint(rng, -DELTA, DELTA);
                    let (h2, w2) = ((h as i64 + dy) as usize, (w as i64 + dx) as usize);
                    q.swap(h * N + w, h2 * N + w2);
                }
            }
        }
    }
    let q: Vec<f64> = q.iter().map(|v| v / 255.0).collect();
    filters::gaussian_blur(&q, SIGMA, 0.0, Border::Nearest).into_iter().map(clip).collect()
}

/// Severity 1: ImageMagick's motion blur with radius 10, σ 3, at an angle uniform in (−45°, 45°).
pub fn motion_blur(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    let angle = random::uniform_in(rng, -45.0, 45.0);
    filters::motion_blur(x, 10.0, 3.0, angle).into_iter().map(clip).collect()
}

/// Shear by `s` about the centre: scikit-image's `AffineTransform(shear=s)` matrix [[1, −sin s], [0, cos s]]
/// as the inverse map of a bilinear warp.
pub fn shear_by(x: &[f64], s: f64) -> Vec<f64> {
    filters::warp(x, &about_centre([[1.0, -s.sin()], [0.0, s.cos()]])).into_iter().map(clip).collect()
}

/// Severity 2: shear by ±0.4 (random direction).
pub fn shear(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    shear_by(x, 0.4 * random::sign(rng))
}

/// Scale by `f` about the centre (the inverse map scales coordinates by 1/f).
pub fn scale_by(x: &[f64], f: f64) -> Vec<f64> {
    filters::warp(x, &about_centre([[1.0 / f, 0.0], [0.0, 1.0 / f]])).into_iter().map(clip).collect()
}

/// Severity 3: the digit shrunk to 0.7 of its size about the centre.
pub fn scale(x: &[f64], _: &mut ChaCha8Rng) -> Vec<f64> {
    scale_by(x, 0.7)
}

/// Rotation by `a` radians about the centre (inverse map [[cos a, −sin a], [sin a, cos a]]).
pub fn rotate_by(x: &[f64], a: f64) -> Vec<f64> {
    filters::warp(x, &about_centre([[a.cos(), -a.sin()], [a.sin(), a.cos()]])).into_iter().map(clip).collect()
}

/// Severity 2: rotation by ±0.4 rad (±22.9°).
pub fn rotate(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    rotate_by(x, 0.4 * random::sign(rng))
}

/// Severity 5: +0.5 on HSV's value. For a grey image V is the pixel itself, so this is min(x + 0.5, 1).
pub fn brightness(x: &[f64], _: &mut ChaCha8Rng) -> Vec<f64> {
    x.iter().map(|&v| clip(v + 0.5)).collect()
}

/// Shift by (dx, dy) pixels: output (x, y) reads input (x + dx, y + dy), zero outside.
pub fn translate_by(x: &[f64], dx: f64, dy: f64) -> Vec<f64> {
    filters::warp(x, &[[1.0, 0.0, dx], [0.0, 1.0, dy]])
}

/// Severity 3: a shift of 3 pixels along each axis, each direction random.
pub fn translate(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    let (dx, dy) = (3.0 * random::sign(rng), 3.0 * random::sign(rng));
    translate_by(x, dx, dy)
}

/// Columns 0–6 and 21–27 inverted (1 − x).
pub fn stripe(x: &[f64], _: &mut ChaCha8Rng) -> Vec<f64> {
    let mut out = x.to_vec();
    for (i, v) in out.iter_mut().enumerate() {
        let c = i % N;
        if !(7..21).contains(&c) {
            *v = 1.0 - *v;
        }
    }
    out
}

/// Severity 5, (3.0, 1.4): x + 3·(the top-left 28×28 of a 256×256 plasma fractal with decay 1.4), rescaled
/// by max(x)/(max(x) + 3) and clipped.
pub fn fog(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    const STRENGTH: f64 = 3.0;
    let mut map = Vec::new();
    filters::plasma_fractal(rng, 256, 1.4, &mut map);
    let max = x.iter().copied().fold(0.0, f64::max);
    (0..N * N).map(|p| clip((x[p] + STRENGTH * map[(p / N) * 256 + p % N]) * max / (max + STRENGTH))).collect()
}

/// Severity 4, (0.65, 0.3, 1, 0.65, 1.5): a liquid layer N(0.65, 0.3²) per pixel, blurred (σ 1), cut
/// below 0.65; its support blurred (σ 1.5) and cut below 0.8 is the mask m; x·(1 − m) + (63/255)·m.
pub fn spatter(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    let liquid: Vec<f64> = (0..N * N).map(|_| random::normal(rng, 0.65, 0.3)).collect();
    let liquid = filters::gaussian_blur(&liquid, 1.0, 1.0, Border::Nearest);
    // `liquid[liquid < 0.65] = 0` then `where(liquid > 0.65, 1, 0)`: exactly 0.65 stays out.
    let support: Vec<f64> = liquid.iter().map(|&v| if v > 0.65 { 1.0 } else { 0.0 }).collect();
    let m = filters::gaussian_blur(&support, 1.5, 1.5, Border::Nearest);
    x.iter().zip(m).map(|(&v, m)| {
        let m = if m < 0.8 { 0.0 } else { m };
        clip(v * (1.0 - m) + 63.0 / 255.0 * m)
    })
    .collect()
}

/// A line from (column 0, row r0) to (27, r1), r0 and r1 uniform in 0..26, kept only in the column pairs
/// 2–3, 6–7, …, 26 (every other pair of columns, starting with the second), added and clipped.
pub fn dotted_line(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    let (r0, r1) = (random::randint(rng, 0, 27) as f64, random::randint(rng, 0, 27) as f64);
    let mut line = filters::line_from_points(0.0, r0, 27.0, r1);
    for (i, v) in line.iter_mut().enumerate() {
        if (i % N / 2).is_multiple_of(2) {
            *v = 0.0;
        }
    }
    x.iter().zip(line).map(|(a, b)| clip(a + b)).collect()
}

/// A zigzag of segments 2 pixels long and ±2 wide along a line from (column 2, row r0) to (25, r1), r0
/// uniform in 0..26 and r1 − r0 in −5..4, each segment drawn as a [`filters::line_from_points`] stroke
/// and added, clipping after each. The endpoints are the published code's, including its last one.
pub fn zigzag(x: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    const A: f64 = 2.0; // half-period along the line
    const B: f64 = 2.0; // amplitude across it
    let (c0, c1) = (2.0, 25.0);
    let r0 = random::randint(rng, 0, 27) as f64;
    let r1 = r0 + random::randint(rng, -5, 5) as f64;
    let theta = ((r1 - r0) / (c1 - c0)).atan();
    let d = (c1 - c0) / theta.cos();
    let mut points = vec![(0.0, 0.0)];
    let mut r_i = 0.0;
    for i in 0..((d - A) / (2.0 * A)).floor() as i64 + 1 {
        r_i = if i % 2 == 0 { B } else { -B };
        points.push(((2 * i + 1) as f64 * A, r_i));
    }
    let max_c = 2.0 * A * (d / (2.0 * A)).floor();
    if d != max_c {
        points.push((d, r_i / (2.0 * (d - max_c))));
    }
    let placed: Vec<(f64, f64)> =
        points.iter().map(|&(c, r)| (theta.cos() * c - theta.sin() * r + c0, theta.sin() * c + theta.cos() * r + r0)).collect();
    let mut out = x.to_vec();
    for w in placed.windows(2) {
        let seg = filters::line_from_points(w[0].0, w[0].1, w[1].0, w[1].1);
        out.iter_mut().zip(seg).for_each(|(v, s)| *v = clip(*v + s));
    }
    out
}

/// The Canny edge map (scikit-image's defaults: σ 1, thresholds 0.1 and 0.2): white edges on black.
pub fn canny_edges(x: &[f64], _: &mut ChaCha8Rng) -> Vec<f64> {
    filters::canny(x).into_iter().map(|e| if e { 1.0 } else { 0.0 }).collect()
}
