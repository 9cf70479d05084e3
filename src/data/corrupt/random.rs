//! The random draws the corruptions make, written out over ChaCha8's documented stream (as the data splits
//! are) rather than taken from `rand_distr`, whose algorithms may change between versions: a seed names
//! the same corrupted set for good.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::RngCore;

/// Uniform in [0, 1) with 53 random bits.
pub fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in [lo, hi).
pub fn uniform_in(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * uniform(rng)
}

/// An integer uniform in lo..hi (hi exclusive, as NumPy's `randint`), by Lemire's multiply-and-reject.
pub fn randint(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    let n = (hi - lo) as u64;
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = rng.next_u64() as u128 * n as u128;
        if m as u64 >= threshold {
            return lo + (m >> 64) as i64;
        }
    }
}

/// True with probability `p`.
pub fn bernoulli(rng: &mut ChaCha8Rng, p: f64) -> bool {
    uniform(rng) < p
}

/// −1 or +1 with equal probability (the corruptions' random direction).
pub fn sign(rng: &mut ChaCha8Rng) -> f64 {
    if rng.next_u64() >> 63 == 0 { -1.0 } else { 1.0 }
}

/// A normal draw (Box–Muller, one of the pair).
pub fn normal(rng: &mut ChaCha8Rng, mean: f64, std: f64) -> f64 {
    let u1 = 1.0 - uniform(rng); // in (0, 1]: the log is finite
    let u2 = uniform(rng);
    mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Poisson draw by Knuth's product of uniforms: exact, and cheap for the small means used here (≤ 3).
pub fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u64 {
    let limit = (-lambda).exp();
    let (mut k, mut p) = (0, uniform(rng));
    while p > limit {
        k += 1;
        p *= uniform(rng);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn moments_match_the_distributions() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 200_000;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let var = |v: &[f64]| {
            let m = mean(v);
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
        };
        let p: Vec<f64> = (0..n).map(|_| poisson(&mut rng, 3.0) as f64).collect();
        assert!((mean(&p) - 3.0).abs() < 0.03 && (var(&p) - 3.0).abs() < 0.06, "{} {}", mean(&p), var(&p));
        let g: Vec<f64> = (0..n).map(|_| normal(&mut rng, 0.65, 0.3)).collect();
        assert!((mean(&g) - 0.65).abs() < 0.005 && (var(&g).sqrt() - 0.3).abs() < 0.005);
        let r: Vec<i64> = (0..n).map(|_| randint(&mut rng, -1, 1)).collect();
        assert!(r.iter().all(|&x| x == -1 || x == 0));
        let zeros = r.iter().filter(|&&x| x == 0).count() as f64 / n as f64;
        assert!((zeros - 0.5).abs() < 0.01);
        let b = (0..n).filter(|_| bernoulli(&mut rng, 0.17)).count() as f64 / n as f64;
        assert!((b - 0.17).abs() < 0.005);
    }
}
