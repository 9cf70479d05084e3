//! Column sums, flat sums, group norms, argmax and correct counts (`src/ops/reduce.rs`, `shaders/reduce.wgsl`).
//!
//! Sums are tested twice: on small integers, whose sums f32 represents exactly, so any skipped or doubled
//! element fails at tolerance 0; and on random floats against the f64 reference, within the rounding
//! bound of the kernel's summation scheme (stated at `sum_bound`).

use crate::common::*;
use pathprox::gpu::{adapter, AdapterChoice, DType, Gpu, Program, Tensor};
use pathprox::ops::reduce::{self, cpu};

/// f32 unit roundoff.
const U: f64 = f32::EPSILON as f64 / 2.0;

/// Fails unless |gpu[i] − cpu[i]| ≤ tol[i] for every i (NaN fails).
fn assert_within(name: &str, gpu: &[f32], cpu: &[f64], tol: &[f64]) {
    assert_eq!(gpu.len(), cpu.len(), "{name}: length");
    let bad: Vec<String> = (0..cpu.len())
        .filter(|&i| {
            let d = (gpu[i] as f64 - cpu[i]).abs();
            d.is_nan() || d > tol[i]
        })
        .take(8)
        .map(|i| format!("[{i}] gpu {} cpu {} tol {:e}", gpu[i], cpu[i], tol[i]))
        .collect();
    assert!(bad.is_empty(), "{name}: first mismatches: {}", bad.join(", "));
}

/// Rounding bound of a sum: |computed − exact| ≤ K·u·Σ|x| (+ one rounding of the result for the scale),
/// where K is the longest chain of additions any term goes through. In reduce.wgsl's schemes the chain is
/// at most: per invocation ⌈terms/4⌉ + 2 (column sums: four accumulators, then combined; the vec4 kernel
/// keeps one chain per column likewise) or INNER + terms/INNER (flat sums),
/// plus 16 for the workgroup tree, per pass; over the sizes tested here K ≤ 256 with room to spare
/// (e.g. column sums of 60000 rows: 64 + 2 in the first pass, 235/4 + 2 in the second).
const SUM_CHAIN: f64 = 256.0;

fn ints(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.below(9) as f32 - 4.0).collect()
}

fn upload(gpu: &Gpu, shape: &[usize], data: &[f32]) -> Tensor {
    gpu.upload_f32(shape, data).unwrap()
}

fn run(gpu: &Gpu, f: impl FnOnce(&mut Program)) {
    let mut prog = Program::new();
    f(&mut prog);
    gpu.run(&prog);
}

// ---- column sums ---------------------------------------------------------------------------------------

/// Runs column_sums on x [r, c] twice (fresh poisoned output; accumulating onto `prev`) and checks both.
fn check_column_sums(gpu: &Gpu, rng: &mut Rng, r: usize, c: usize, exact: bool) {
    let x = if exact { ints(rng, r * c) } else { rng.vec(r * c, -1.0, 1.0) };
    let scale = if exact { 1.0 } else { 0.37 };
    let prev = rng.vec(c, -10.0, 10.0);
    let xt = upload(gpu, &[r, c], &x);
    let fresh = gpu.empty(&[c], DType::F32);
    gpu.poison(&fresh);
    let acc = upload(gpu, &[c], &prev);
    run(gpu, |p| {
        reduce::column_sums(gpu, p, &xt, &fresh, scale, false).unwrap();
        reduce::column_sums(gpu, p, &xt, &acc, scale, true).unwrap();
    });
    let xs = to_f64(&x);
    let want: Vec<f64> = cpu::column_sums(&xs, r, c).iter().map(|s| scale as f64 * s).collect();
    let abs = cpu::column_sums(&xs.iter().map(|v| v.abs()).collect::<Vec<_>>(), r, c);
    let name = format!("column_sums {r}x{c}");
    if exact {
        // Integers with |partial sums| < 2^24: every addition is exact.
        assert_close(&name, &gpu.to_vec_f32(&fresh).unwrap(), &want, 0.0, 0.0);
    } else {
        let tol: Vec<f64> = abs.iter().zip(&want).map(|(a, w)| SUM_CHAIN * U * scale as f64 * a + 2.0 * U * w.abs()).collect();
        assert_within(&name, &gpu.to_vec_f32(&fresh).unwrap(), &want, &tol);
    }
    // Accumulating: one more rounding of old + new, relative to their magnitudes.
    let want_acc: Vec<f64> = want.iter().zip(&prev).map(|(w, &p)| w + p as f64).collect();
    let tol: Vec<f64> =
        abs.iter().zip(&want).zip(&prev).map(|((a, w), &p)| SUM_CHAIN * U * scale as f64 * a + 2.0 * U * (w.abs() + (p as f64).abs())).collect();
    assert_within(&format!("{name} accumulate"), &gpu.to_vec_f32(&acc).unwrap(), &want_acc, &tol);
}

#[test]
fn column_sums_match_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(11);
        // C % 4 == 0 takes the vec4 kernel: 4, 400 (and 784 below).
        for &r in AWKWARD.iter().chain(&[513]) {
            for &c in &[1, 2, 4, 10, 33, 400, 401] {
                check_column_sums(gpu, &mut rng, r, c, false);
                check_column_sums(gpu, &mut rng, r, c, true);
            }
        }
        // Evaluation-sized batches take the two-pass path.
        for &(r, c) in &[(60000, 1), (60000, 10), (60000, 33), (60000, 4), (1100, 784)] {
            check_column_sums(gpu, &mut rng, r, c, false);
            check_column_sums(gpu, &mut rng, r, c, true);
        }
    });
}

/// Devices whose storage bindings hold only 4096 floats, so that inputs are bound in ranges.
fn small_binding_gpus() -> Vec<Gpu> {
    let mut choice = AdapterChoice::default();
    if let Ok(b) = std::env::var("PATHPROX_TEST_BACKENDS") {
        choice = choice.with_backend_names(&b).unwrap();
    }
    pollster::block_on(adapter::list(&choice))
        .iter()
        .map(|a| {
            let limits = wgpu::Limits { max_storage_buffer_binding_size: 4096 * 4, ..a.limits() };
            pollster::block_on(Gpu::from_adapter_with_limits(a, limits)).unwrap()
        })
        .collect()
}

#[test]
fn sums_split_inputs_larger_than_a_binding() {
    let gpus = small_binding_gpus();
    assert!(!gpus.is_empty());
    for gpu in &gpus {
        let mut rng = Rng::new(12);
        // Rows × columns chosen so that ranges start at rows whose offsets need aligning (C odd).
        for &(r, c) in &[(1000, 33), (5000, 7), (300, 101), (20000, 1), (3000, 12)] {
            check_column_sums(gpu, &mut rng, r, c, true);
            check_column_sums(gpu, &mut rng, r, c, false);
        }
        for &n in &[4097, 50_001] {
            check_sum(gpu, &mut rng, n, true);
            check_sum(gpu, &mut rng, n, false);
        }
        // The splitting did happen: partial passes, then a final one.
        let x = gpu.zeros(&[1000, 33]);
        let mut p = Program::new();
        reduce::column_sums(gpu, &mut p, &x, &gpu.zeros(&[33]), 1.0, false).unwrap();
        reduce::sum(gpu, &mut p, &x, &gpu.zeros(&[1]), 1.0, false).unwrap();
        assert!(p.len() >= 2 * 9 + 2, "{} dispatches", p.len());
        // Rows so wide that the partial sums outgrow a binding: a limit error, and nothing recorded.
        let x = gpu.zeros(&[300, 401]);
        let mut p = Program::new();
        let err = reduce::column_sums(gpu, &mut p, &x, &gpu.zeros(&[401]), 1.0, false).unwrap_err().to_string();
        assert!(err.contains("per storage binding"), "{err}");
        assert!(p.is_empty(), "{} dispatches left behind", p.len());
        // Rows so wide that fewer than two fit a binding cannot be split by rows.
        let x = gpu.zeros(&[2, 3000]);
        let err = reduce::column_sums(gpu, &mut Program::new(), &x, &gpu.zeros(&[3000]), 1.0, false).unwrap_err().to_string();
        assert!(err.contains("must fit one binding"), "{err}");
    }
}

// ---- flat sums -----------------------------------------------------------------------------------------

fn check_sum(gpu: &Gpu, rng: &mut Rng, n: usize, exact: bool) {
    let x = if exact { ints(rng, n) } else { rng.vec(n, -1.0, 1.0) };
    let scale = if exact { 1.0 } else { 1.0 / 3.0 };
    let prev = rng.uniform(-5.0, 5.0);
    let xt = upload(gpu, &[n], &x);
    let fresh = gpu.empty(&[1], DType::F32);
    gpu.poison(&fresh);
    let acc = upload(gpu, &[1], &[prev]);
    run(gpu, |p| {
        reduce::sum(gpu, p, &xt, &fresh, scale, false).unwrap();
        reduce::sum(gpu, p, &xt, &acc, scale, true).unwrap();
    });
    let xs = to_f64(&x);
    let want = scale as f64 * cpu::sum(&xs);
    let abs: f64 = xs.iter().map(|v| v.abs()).sum();
    let name = format!("sum n={n}");
    if exact {
        // Integers, |partial sums| ≤ 4n < 2^24: exact.
        assert_close(&name, &gpu.to_vec_f32(&fresh).unwrap(), &[want], 0.0, 0.0);
    } else {
        let tol = SUM_CHAIN * U * scale as f64 * abs + 2.0 * U * want.abs();
        assert_within(&name, &gpu.to_vec_f32(&fresh).unwrap(), &[want], &[tol]);
    }
    let tol = SUM_CHAIN * U * scale as f64 * abs + 2.0 * U * (want.abs() + (prev as f64).abs());
    assert_within(&format!("{name} accumulate"), &gpu.to_vec_f32(&acc).unwrap(), &[want + prev as f64], &[tol]);
}

#[test]
fn sum_matches_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(13);
        // Around the one-dispatch limit (16384) and the 4096-element blocks, up to a few million.
        for &n in AWKWARD.iter().chain(&[4096, 16384, 16385, 60000, 3_000_001]) {
            check_sum(gpu, &mut rng, n, true);
            check_sum(gpu, &mut rng, n, false);
        }
    });
}

#[test]
fn sum_is_deterministic() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(14);
        let x = rng.vec(1_000_003, -1.0, 1.0);
        let xt = upload(gpu, &[x.len()], &x);
        let outs: Vec<Tensor> = (0..3).map(|_| gpu.empty(&[1], DType::F32)).collect();
        run(gpu, |p| outs.iter().for_each(|o| reduce::sum(gpu, p, &xt, o, 1.0, false).unwrap()));
        let bits: Vec<u32> = outs.iter().map(|o| gpu.to_vec_f32(o).unwrap()[0].to_bits()).collect();
        assert!(bits.iter().all(|&b| b == bits[0]), "sums differ between runs: {bits:x?}");
    });
}

#[test]
fn sum_u32_is_exact() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(15);
        for &n in &[1, 33, 16385, 100_000] {
            let x: Vec<u32> = (0..n).map(|_| rng.below(1000)).collect();
            let xt = gpu.upload_u32(&[n], &x).unwrap();
            let acc = gpu.upload_u32(&[1], &[7]).unwrap();
            run(gpu, |p| reduce::sum_u32(gpu, p, &xt, &acc, true).unwrap());
            assert_eq!(gpu.to_vec_u32(&acc).unwrap()[0], 7 + x.iter().sum::<u32>(), "sum_u32 n={n}");
        }
    });
}

// ---- group norms ---------------------------------------------------------------------------------------

#[test]
fn group_norms_match_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(16);
        let mut views: Vec<[usize; 3]> = Vec::new();
        for &r in AWKWARD {
            for &c in &[1, 2, 4, 10, 33, 400, 401] {
                views.push([1, r, c]); // row norms of [r, c]
                views.push([r, c, 1]); // column norms of [r, c]
            }
        }
        // Conv units: w of W1 [out, in, 3, 3] is [1, out, in·9]; v of W2 [out2, in2, 3, 3] is [out2, in2, 9].
        views.extend([[1, 64, 27], [1, 33, 7 * 9], [1, 64, 64 * 9], [7, 33, 9], [64, 3, 9], [1, 512, 512 * 9], [512, 512, 9], [3, 5, 40]]);
        for view in views {
            let [a, b, c] = view;
            let mut t = rng.vec(a * b * c, -1.0, 1.0);
            // A group of zeros (a unit PathProx's prox switched off) must give exactly 0, not NaN.
            let zero = b / 2;
            for i in 0..a {
                t[(i * b + zero) * c..(i * b + zero + 1) * c].fill(0.0);
            }
            let tt = upload(gpu, &[a * b * c], &t);
            let out = gpu.empty(&[b], DType::F32);
            gpu.poison(&out);
            run(gpu, |p| reduce::group_norms(gpu, p, &tt, view, &out).unwrap());
            // Squares are positive, so the sum's relative error is ≤ K·u, K the longest addition chain:
            // NORM_BLOCK + a·c/NORM_BLOCK = 64 + a·c/64 ≤ 136 here (vec4: 16 + a·c/64 + 2 per component);
            // sqrt halves that (≤ 4.1e-6) and adds a few ulp of its own: 1e-5 relative covers both.
            assert_close(&format!("group_norms {view:?}"), &gpu.to_vec_f32(&out).unwrap(), &cpu::group_norms(&to_f64(&t), view), 0.0, 1e-5);
        }
    });
}

#[test]
fn row_and_column_norm_wrappers() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(17);
        let (r, c) = (33, 200);
        let x = rng.vec(r * c, -2.0, 2.0);
        let xt = upload(gpu, &[r, c], &x);
        let (rows, cols) = (gpu.empty(&[r], DType::F32), gpu.empty(&[c], DType::F32));
        gpu.poison(&rows);
        gpu.poison(&cols);
        run(gpu, |p| {
            reduce::row_norms(gpu, p, &xt, &rows).unwrap();
            reduce::column_norms(gpu, p, &xt, &cols).unwrap();
        });
        let xs = to_f64(&x);
        let row_ref: Vec<f64> = xs.chunks(c).map(|row| row.iter().map(|v| v * v).sum::<f64>().sqrt()).collect();
        let col_ref: Vec<f64> = (0..c).map(|j| (0..r).map(|i| xs[i * c + j].powi(2)).sum::<f64>().sqrt()).collect();
        // As in group_norms_match_cpu.
        assert_close("row_norms", &gpu.to_vec_f32(&rows).unwrap(), &row_ref, 0.0, 1e-5);
        assert_close("column_norms", &gpu.to_vec_f32(&cols).unwrap(), &col_ref, 0.0, 1e-5);
    });
}

// ---- argmax and correct counts -------------------------------------------------------------------------

/// Logits from {0, 1, 2}, so that most rows have ties for the maximum.
fn tied_logits(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.below(3) as f32).collect()
}

#[test]
fn argmax_and_correct_count_match_cpu() {
    on_each_gpu(|gpu| {
        let mut rng = Rng::new(18);
        let mut shapes: Vec<(usize, usize)> = AWKWARD.iter().flat_map(|&b| [1, 2, 10, 33, 401].map(|c| (b, c))).collect();
        shapes.extend([(4096, 10), (4097, 10), (60000, 10)]);
        for (b, c) in shapes {
            for tied in [true, false] {
                let logits = if tied { tied_logits(&mut rng, b * c) } else { rng.vec(b * c, -3.0, 3.0) };
                // Mostly valid labels; some out of range, which must count as wrong.
                let labels: Vec<u32> = (0..b)
                    .map(|i| match i % 11 {
                        3 => c as u32,
                        7 => u32::MAX,
                        _ => rng.below(c as u32),
                    })
                    .collect();
                let lt = upload(gpu, &[b, c], &logits);
                let labt = gpu.upload_u32(&[b], &labels).unwrap();
                let arg = gpu.empty(&[b], DType::U32);
                let count = gpu.empty(&[1], DType::U32);
                gpu.poison(&arg);
                gpu.poison(&count);
                let acc = gpu.upload_u32(&[1], &[1000]).unwrap();
                run(gpu, |p| {
                    reduce::argmax_rows(gpu, p, &lt, &arg).unwrap();
                    reduce::correct_count(gpu, p, &lt, &labt, &count, false).unwrap();
                    reduce::correct_count(gpu, p, &lt, &labt, &acc, true).unwrap();
                });
                let ls = to_f64(&logits);
                // Exact: comparisons only.
                assert_eq!(gpu.to_vec_u32(&arg).unwrap(), cpu::argmax_rows(&ls, c), "argmax_rows {b}x{c} tied={tied}");
                let want = cpu::correct_count(&ls, c, &labels);
                assert_eq!(gpu.to_vec_u32(&count).unwrap()[0], want, "correct_count {b}x{c} tied={tied}");
                assert_eq!(gpu.to_vec_u32(&acc).unwrap()[0], 1000 + want, "correct_count accumulate {b}x{c}");
            }
        }
    });
}

// ---- shape errors --------------------------------------------------------------------------------------

fn err_of(r: pathprox::Result<()>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn reduce_rejects_bad_shapes() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let mut p = Program::new();
    let x = gpu.zeros(&[4, 3]);
    let labels = gpu.upload_u32(&[4], &[0, 1, 2, 0]).unwrap();
    let one_u = gpu.upload_u32(&[1], &[0]).unwrap();

    let e = err_of(reduce::column_sums(gpu, &mut p, &x, &gpu.zeros(&[4]), 1.0, false));
    assert!(e.contains("3 columns"), "{e}");
    let e = err_of(reduce::column_sums(gpu, &mut p, &gpu.zeros(&[12]), &gpu.zeros(&[3]), 1.0, false));
    assert!(e.contains("2-D"), "{e}");
    let e = err_of(reduce::column_sums(gpu, &mut p, &x, &gpu.empty(&[3], DType::U32), 1.0, false));
    assert!(e.contains("F32"), "{e}");
    let row = gpu.zeros(&[1, 3]);
    let e = err_of(reduce::column_sums(gpu, &mut p, &row, &row.reshape(&[3]).unwrap(), 1.0, false));
    assert!(e.contains("share"), "{e}");

    let e = err_of(reduce::sum(gpu, &mut p, &x, &gpu.zeros(&[2]), 1.0, false));
    assert!(e.contains("one element"), "{e}");
    let e = err_of(reduce::sum(gpu, &mut p, &labels, &gpu.zeros(&[1]), 1.0, false));
    assert!(e.contains("F32"), "{e}");
    let e = err_of(reduce::sum_u32(gpu, &mut p, &x, &one_u, false));
    assert!(e.contains("U32"), "{e}");

    let e = err_of(reduce::group_norms(gpu, &mut p, &x, [2, 2, 2], &gpu.zeros(&[2])));
    assert!(e.contains("does not cover"), "{e}");
    let e = err_of(reduce::group_norms(gpu, &mut p, &x, [1, 4, 3], &gpu.zeros(&[3])));
    assert!(e.contains("4 groups"), "{e}");
    let e = err_of(reduce::group_norms(gpu, &mut p, &x, [usize::MAX, 2, 2], &gpu.zeros(&[2])));
    assert!(e.contains("does not cover"), "{e}");
    let e = err_of(reduce::row_norms(gpu, &mut p, &gpu.zeros(&[12]), &gpu.zeros(&[12])));
    assert!(e.contains("2-D"), "{e}");

    let e = err_of(reduce::argmax_rows(gpu, &mut p, &x, &gpu.empty(&[4], DType::F32)));
    assert!(e.contains("U32"), "{e}");
    let e = err_of(reduce::argmax_rows(gpu, &mut p, &x, &gpu.empty(&[3], DType::U32)));
    assert!(e.contains("4 rows"), "{e}");
    let e = err_of(reduce::argmax_rows(gpu, &mut p, &gpu.zeros(&[4, 0]), &gpu.empty(&[4], DType::U32)));
    assert!(e.contains("no classes"), "{e}");
    let e = err_of(reduce::correct_count(gpu, &mut p, &x, &gpu.upload_u32(&[3], &[0, 1, 2]).unwrap(), &one_u, false));
    assert!(e.contains("do not match"), "{e}");
    let e = err_of(reduce::correct_count(gpu, &mut p, &x, &gpu.zeros(&[4]), &one_u, false));
    assert!(e.contains("labels must be U32"), "{e}");
    let e = err_of(reduce::correct_count(gpu, &mut p, &x, &labels, &gpu.zeros(&[1]), false));
    assert!(e.contains("out_count must be U32"), "{e}");
    let e = err_of(reduce::correct_count(gpu, &mut p, &x, &labels, &labels, false));
    assert!(e.contains("one element"), "{e}");
    assert!(p.is_empty(), "a rejected call must not record anything");
}
