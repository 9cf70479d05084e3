//! Small dense symmetric eigenproblems in f64 on the host: the eigenvalues of a 10×10 Gram matrix J·Jᵀ
//! give the singular values of a 10×784 Jacobian J (σ_i = √λ_i), so σ_max needs no SVD of J itself.
//!
//! Cyclic Jacobi rotations: each zeroes one off-diagonal pair exactly; sweeps over all pairs converge
//! quadratically, and for these sizes (n = 10: 45 rotations a sweep, 5–8 sweeps) it is faster and far simpler
//! than a tridiagonal QR, with eigenvalues accurate to a few ulps of ‖A‖ (Demmel–Veselić).

/// The eigenvalues of the symmetric n×n matrix `a` (row-major; only its symmetric part is used),
/// largest first.
pub fn symmetric_eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    assert_eq!(a.len(), n * n, "symmetric_eigenvalues: {} values for a {n}×{n} matrix", a.len());
    // The symmetric part: a Gram matrix read back from f32 may differ from symmetric in the last bit.
    let mut m: Vec<f64> = (0..n * n).map(|e| 0.5 * (a[e] + a[(e % n) * n + e / n])).collect();
    let off = |m: &[f64]| (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).map(|(i, j)| m[i * n + j] * m[i * n + j]).sum::<f64>();
    let scale: f64 = m.iter().map(|v| v * v).sum();
    for _sweep in 0..64 {
        // Stop when the off-diagonal part is below rounding of the whole (or exactly zero).
        if off(&m) <= (f64::EPSILON * f64::EPSILON) * scale * 1e-4 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation angle that zeroes m[p][q] (Numerical Recipes §11.1, the smaller root t).
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = if theta.abs() > 1e150 { 0.5 / theta } else { theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt()) };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                // Zero by construction; the rounded update leaves ~eps·|apq| there, which would only
                // slow the stopping test down.
                m[p * n + q] = 0.0;
                m[q * n + p] = 0.0;
            }
        }
    }
    let mut eig: Vec<f64> = (0..n).map(|i| m[i * n + i]).collect();
    eig.sort_by(|x, y| y.total_cmp(x));
    eig
}

/// σ_max of a matrix J from its Gram matrix G = J·Jᵀ (n×n, any float type): √λ_max, with a λ_max that
/// rounding pushed below zero read as 0.
pub fn sigma_max_from_gram<T: Copy + Into<f64>>(gram: &[T], n: usize) -> f64 {
    let g: Vec<f64> = gram.iter().map(|&v| v.into()).collect();
    symmetric_eigenvalues(&g, n).first().map_or(0.0, |&l| l.max(0.0).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_and_two_by_two_cases() {
        assert_eq!(symmetric_eigenvalues(&[3.0, 0.0, 0.0, -1.0], 2), vec![3.0, -1.0]);
        // [[2, 1], [1, 2]]: eigenvalues 3 and 1.
        let e = symmetric_eigenvalues(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((e[0] - 3.0).abs() < 1e-15 && (e[1] - 1.0).abs() < 1e-15, "{e:?}");
        assert_eq!(sigma_max_from_gram(&[4.0f32], 1), 2.0);
        assert_eq!(sigma_max_from_gram(&[-1e-9f64], 1), 0.0);
    }
}
