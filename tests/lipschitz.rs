//! Local Lipschitz constants (`analysis::jacobian`, `analysis::eigen`, `ops::gram`):
//! - the GPU Jacobian of the logits equals central finite differences of an f64 CPU forward;
//! - the host eigen-solver agrees with power iteration and with matrices of known spectrum;
//! - σ_max per image through the whole data-set path (gather → repeated forward → seeded backward →
//!   block Gram → Jacobi) equals the largest singular value of the finite-difference Jacobian, computed
//!   by an independent one-sided Jacobi SVD that never forms J·Jᵀ.

mod common;

use common::*;
use pathprox::analysis::{eigen, jacobian};
use pathprox::nn::{Model, ModelSpec};
use pathprox::ops::gather::{cpu as gather_cpu, GpuImages};
use pathprox::ops::{elementwise, matmul};
use pathprox::train::eval::{MNIST_MEAN, MNIST_STD};

/// A small net with awkward widths, ReLU and linear layers (the factorized models' pattern) and a linear
/// output, as f64 parameters and on the GPU.
fn small_net(gpu: &pathprox::Gpu, d0: usize) -> (ModelSpec, Model, Vec<Vec<f64>>) {
    let spec = ModelSpec::custom(vec![d0, 9, 6, 11, 5], vec![true, false, true, false], vec![(0, 1), (2, 3)]).unwrap();
    let model = Model::new(gpu, spec.clone()).unwrap();
    let params: Vec<Vec<f32>> = model.init_values(7).into_iter().map(|p| p.iter().map(|v| v * 2.0).collect()).collect();
    model.store.upload(gpu, &params).unwrap();
    (spec, model, params.iter().map(|p| to_f64(p)).collect())
}

/// f64 logits of one input row, and the smallest |pre-activation| of a ReLU layer (distance to a kink).
fn forward_cpu(spec: &ModelSpec, params: &[Vec<f64>], x: &[f64]) -> (Vec<f64>, f64) {
    let mut act = x.to_vec();
    let mut kink = f64::INFINITY;
    for l in 0..spec.depth() {
        let (din, dout) = (spec.widths()[l], spec.widths()[l + 1]);
        let mut z = matmul::cpu::matmul(&act, &params[2 * l], 1, dout, din, false, true);
        matmul::cpu::epilogue(&mut z, dout, None, Some(&params[2 * l + 1]), false, None);
        if spec.relu()[l] {
            kink = z.iter().fold(kink, |k, v| k.min(v.abs()));
            act = elementwise::cpu::relu_forward(&z);
        } else {
            act = z;
        }
    }
    (act, kink)
}

/// Central differences of the f64 forward, h = 1e-6: J [classes, d0], accurate to ~1e-9 away from kinks.
fn jacobian_fd(spec: &ModelSpec, params: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    let (c, d0) = (*spec.widths().last().unwrap(), spec.widths()[0]);
    let h = 1e-6;
    let mut j = vec![0.0; c * d0];
    for i in 0..d0 {
        let mut xp = x.to_vec();
        xp[i] += h;
        let up = forward_cpu(spec, params, &xp).0;
        xp[i] -= 2.0 * h;
        let down = forward_cpu(spec, params, &xp).0;
        for k in 0..c {
            j[k * d0 + i] = (up[k] - down[k]) / (2.0 * h);
        }
    }
    j
}

/// Singular values of a [rows, cols] matrix by one-sided Jacobi (Hestenes): rotate pairs of rows until
/// they are orthogonal; the row norms are then the singular values. Largest first.
fn singular_values(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut a = a.to_vec();
    let dot = |a: &[f64], p: usize, q: usize| (0..cols).map(|c| a[p * cols + c] * a[q * cols + c]).sum::<f64>();
    for _sweep in 0..100 {
        let mut rotated = false;
        for p in 0..rows {
            for q in p + 1..rows {
                let (alpha, beta, gamma) = (dot(&a, p, p), dot(&a, q, q), dot(&a, p, q));
                if gamma.abs() <= 1e-15 * (alpha * beta).sqrt() || gamma == 0.0 {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let cs = 1.0 / (1.0 + t * t).sqrt();
                let sn = cs * t;
                for c in 0..cols {
                    let (x, y) = (a[p * cols + c], a[q * cols + c]);
                    a[p * cols + c] = cs * x - sn * y;
                    a[q * cols + c] = sn * x + cs * y;
                }
            }
        }
        if !rotated {
            break;
        }
    }
    let mut s: Vec<f64> = (0..rows).map(|r| dot(&a, r, r).sqrt()).collect();
    s.sort_by(|x, y| y.total_cmp(x));
    s
}

/// Rows of a random matrix made orthonormal (modified Gram–Schmidt): [n, m] with n ≤ m.
fn orthonormal_rows(rng: &mut Rng, n: usize, m: usize) -> Vec<f64> {
    let mut q: Vec<f64> = (0..n * m).map(|_| rng.uniform(-1.0, 1.0) as f64).collect();
    for i in 0..n {
        for j in 0..i {
            let d: f64 = (0..m).map(|c| q[i * m + c] * q[j * m + c]).sum();
            for c in 0..m {
                q[i * m + c] -= d * q[j * m + c];
            }
        }
        let norm = (0..m).map(|c| q[i * m + c] * q[i * m + c]).sum::<f64>().sqrt();
        for c in 0..m {
            q[i * m + c] /= norm;
        }
    }
    q
}

/// U·diag(s)·V with U [n, n] and V [n, m] orthonormal rows: a matrix whose singular values are s.
fn with_singular_values(rng: &mut Rng, s: &[f64], m: usize) -> Vec<f64> {
    let n = s.len();
    let (u, v) = (orthonormal_rows(rng, n, n), orthonormal_rows(rng, n, m));
    let mut a = vec![0.0; n * m];
    for i in 0..n {
        for k in 0..n {
            for c in 0..m {
                a[i * m + c] += u[i * n + k] * s[k] * v[k * m + c];
            }
        }
    }
    a
}

fn gram(a: &[f64], n: usize, m: usize) -> Vec<f64> {
    (0..n * n).map(|e| (0..m).map(|c| a[(e / n) * m + c] * a[(e % n) * m + c]).sum()).collect()
}

/// λ_max of a symmetric PSD matrix by power iteration, run until the Rayleigh quotient stops moving.
fn power_iteration(g: &[f64], n: usize) -> f64 {
    let mut v = vec![1.0; n];
    let mut lambda = 0.0;
    for _ in 0..100_000 {
        let w: Vec<f64> = (0..n).map(|i| (0..n).map(|j| g[i * n + j] * v[j]).sum()).collect();
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        let next = v.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() / v.iter().map(|x| x * x).sum::<f64>();
        v = w.iter().map(|x| x / norm).collect();
        if (next - lambda).abs() <= 1e-15 * next.abs() {
            return next;
        }
        lambda = next;
    }
    lambda
}

#[test]
fn jacobi_eigenvalues_agree_with_power_iteration_and_known_spectra() {
    let mut rng = Rng::new(91);
    // Known singular values (one zero, a wide spread): every eigenvalue of A·Aᵀ is s², and the SVD
    // reference of the other test finds s itself.
    let s = [9.0, 5.0, 3.0, 2.0, 1.0, 0.5, 0.1, 0.01, 1e-3, 0.0];
    let a = with_singular_values(&mut rng, &s, 784);
    let eig = eigen::symmetric_eigenvalues(&gram(&a, 10, 784), 10);
    for (l, want) in eig.iter().zip(s.iter().map(|x| x * x)) {
        assert!((l - want).abs() <= 1e-12 * 81.0, "eigenvalue {l} vs {want}");
    }
    assert!((eigen::sigma_max_from_gram(&gram(&a, 10, 784), 10) - 9.0).abs() < 1e-12);
    let sv = singular_values(&a, 10, 784);
    for (got, want) in sv.iter().zip(s) {
        assert!((got - want).abs() <= 1e-12 * 9.0, "singular value {got} vs {want}");
    }
    // An indefinite matrix with a repeated eigenvalue: Q·diag(d)·Qᵀ.
    let d = [4.0, 4.0, 2.5, 0.0, -1.0, -1.0, -7.0];
    let q = orthonormal_rows(&mut rng, 7, 7);
    let m: Vec<f64> = (0..49).map(|e| (0..7).map(|k| q[k * 7 + e / 7] * d[k] * q[k * 7 + e % 7]).sum()).collect();
    let eig = eigen::symmetric_eigenvalues(&m, 7);
    for (l, want) in eig.iter().zip(d) {
        assert!((l - want).abs() <= 1e-13 * 7.0, "eigenvalue {l} vs {want}");
    }
    // Random Gram matrices: λ_max against power iteration; Σλ = trace and Σλ² = ‖G‖_F² (invariants of
    // orthogonal similarity).
    for trial in 0..20 {
        let n = 1 + trial % 10;
        let a: Vec<f64> = (0..n * 33).map(|_| rng.uniform(-1.0, 1.0) as f64).collect();
        let g = gram(&a, n, 33);
        let eig = eigen::symmetric_eigenvalues(&g, n);
        let p = power_iteration(&g, n);
        assert!((eig[0] - p).abs() <= 1e-10 * p, "n {n}: Jacobi {} vs power iteration {p}", eig[0]);
        let trace: f64 = (0..n).map(|i| g[i * n + i]).sum();
        assert!((eig.iter().sum::<f64>() - trace).abs() <= 1e-12 * trace);
        let fro: f64 = g.iter().map(|x| x * x).sum();
        assert!((eig.iter().map(|l| l * l).sum::<f64>() - fro).abs() <= 1e-12 * fro);
        assert!(eig.windows(2).all(|w| w[0] >= w[1]) && eig[n - 1] > -1e-12 * eig[0], "sorted, PSD: {eig:?}");
    }
}

#[test]
fn gpu_jacobian_matches_central_differences_of_an_f64_forward() {
    on_each_gpu(|gpu| {
        let d0 = 13;
        let (spec, model, p64) = small_net(gpu, d0);
        let mut rng = Rng::new(92);
        let n = 4;
        let x = rng.vec(n * d0, -2.0, 2.0);
        let jac = jacobian::jacobians(gpu, &model, &x).unwrap();
        assert_eq!(jac.len(), n * 5 * d0);
        for i in 0..n {
            let xi = to_f64(&x[i * d0..(i + 1) * d0]);
            // Central differences straddle no ReLU kink (checked, not hoped).
            assert!(forward_cpu(&spec, &p64, &xi).1 > 1e-4, "input {i} too close to a kink for h = 1e-6");
            let fd = jacobian_fd(&spec, &p64, &xi);
            // f32 backward through 4 layers of ≤ 11-term sums of O(1) values: ~1e-6 absolute.
            assert_close(&format!("Jacobian of image {i}"), &jac[i * 5 * d0..(i + 1) * 5 * d0], &fd, 2e-5, 1e-4);
        }
        // A model whose logits end in a ReLU cannot be built (the backward's seed would not be the identity).
        assert!(ModelSpec::custom(vec![3, 2], vec![true], vec![]).unwrap_err().to_string().contains("ReLU"));
        assert!(jacobian::jacobians(gpu, &model, &[0.0; 14]).unwrap_err().to_string().contains("rows of 13"));
    });
}

#[test]
fn sigma_max_per_image_matches_an_svd_of_the_finite_difference_jacobian() {
    on_each_gpu(|gpu| {
        let d0 = 13;
        let (spec, model, p64) = small_net(gpu, d0);
        let mut rng = Rng::new(93);
        // 230 images: two full chunks of 100 and a partial one.
        let rows = 230;
        let images: Vec<u8> = (0..rows * d0).map(|_| rng.below(256) as u8).collect();
        let labels: Vec<u32> = (0..rows).map(|_| rng.below(5)).collect();
        let data = GpuImages::upload(gpu, &images, &labels, d0, d0).unwrap();
        let done = std::cell::Cell::new(0);
        let sigma = jacobian::local_lipschitz(gpu, &model, &data, rows, &|k| done.set(k)).unwrap();
        assert_eq!((sigma.len(), done.get()), (rows, rows));
        let ids: Vec<u32> = (0..rows as u32).collect();
        let (x, _) = gather_cpu::gather_normalize(&images, &labels, d0, d0, &ids, &[MNIST_MEAN as f64], &[MNIST_STD as f64]);
        let mut checked = 0;
        for i in 0..rows {
            let xi = &x[i * d0..(i + 1) * d0];
            if forward_cpu(&spec, &p64, xi).1 < 1e-4 {
                continue; // finite differences would straddle a kink
            }
            let want = singular_values(&jacobian_fd(&spec, &p64, xi), 5, d0)[0];
            // f32 Jacobian and Gram: relative error ~1e-6; inputs rounded to f32 move J by less.
            assert!((sigma[i] - want).abs() <= 1e-4 * want + 1e-6, "image {i}: σ_max {} vs SVD {want}", sigma[i]);
            checked += 1;
        }
        assert!(checked > rows * 9 / 10, "only {checked} images away from kinks");
        assert!(jacobian::local_lipschitz(gpu, &model, &data, rows + 1, &|_| {}).unwrap_err().to_string().contains("231"));
    });
}
