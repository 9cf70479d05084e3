//! `pathprox bench`: GFLOP/s of the kernels at the shapes the paper's tasks use, and the time of a full
//! Task-1 training step. Native only (timing needs a blocking wait).
//!
//! Every figure is measured over many dispatches recorded into one submission, so it includes the
//! per-dispatch overhead a training step pays, but not host synchronisation.

use std::time::Instant;

use crate::error::Result;
use crate::gpu::{Gpu, Program, Recorder, Tensor};
use crate::ops::matmul::MatMul;

/// One line of the table.
pub struct Row {
    pub what: String,
    pub shape: String,
    pub seconds: f64,
    pub flops: f64,
}

impl Row {
    pub fn gflops(&self) -> f64 {
        self.flops / self.seconds / 1e9
    }
}

/// Seconds per run of `prog`: best of three batches, each ≥ ~0.3 s or `min_reps` runs.
pub fn time_program(gpu: &Gpu, prog: &Program, min_reps: usize) -> Result<f64> {
    let run = |reps: usize| -> Result<f64> {
        let t = Instant::now();
        let mut rec = Recorder::new(gpu);
        for _ in 0..reps {
            prog.record(&mut rec);
        }
        rec.submit();
        gpu.wait_idle()?;
        Ok(t.elapsed().as_secs_f64() / reps as f64)
    };
    let once = run(1)?;
    let reps = ((0.3 / once) as usize).clamp(min_reps, 1000);
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        best = best.min(run(reps)?);
    }
    Ok(best)
}

fn random(gpu: &Gpu, shape: &[usize], seed: u64) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    gpu.upload_f32(shape, &data)
}

/// C\[M,N\] = op(A)·op(B) with the tuned variant.
pub fn matmul(gpu: &Gpu, what: &str, m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> Result<Row> {
    let a = random(gpu, &if trans_a { [k, m] } else { [m, k] }, 1)?;
    let b = random(gpu, &if trans_b { [n, k] } else { [k, n] }, 2)?;
    let c = gpu.zeros(&[m, n]);
    let mut prog = Program::new();
    MatMul { trans_a, trans_b, ..MatMul::default() }.record(gpu, &mut prog, &a, &b, &c)?;
    let seconds = time_program(gpu, &prog, 3)?;
    let form = format!("{}·{}", if trans_a { "Aᵀ" } else { "A" }, if trans_b { "Bᵀ" } else { "B" });
    Ok(Row { what: format!("matmul {what}"), shape: format!("{m}×{k}·{k}×{n} ({form})"), seconds, flops: 2.0 * (m * n * k) as f64 })
}

/// Told the name of each measurement before it starts, for a progress display (`&|_| {}` for none).
pub type OnRow<'a> = &'a dyn Fn(&str);

/// The matmul rows: Task 1's layers at batch 200 (forward and both backward forms), then 1024³ and 2048³.
pub fn matmul_rows(gpu: &Gpu, quick: bool, on_row: OnRow) -> Result<Vec<Row>> {
    let mut cases = vec![
        ("task1 fwd l1", 200, 400, 784, false, true),
        ("task1 dW l1", 400, 784, 200, true, false),
        ("task1 dX l1", 200, 784, 400, false, false),
        ("task1 fwd l2", 200, 400, 400, false, true),
        ("task1 dW l2", 400, 400, 200, true, false),
        ("task1 dX l2", 200, 400, 400, false, false),
        ("1024³", 1024, 1024, 1024, false, false),
    ];
    if !quick {
        cases.push(("2048³", 2048, 2048, 2048, false, false));
    }
    cases
        .into_iter()
        .map(|(what, m, n, k, trans_a, trans_b)| {
            on_row(&format!("matmul {what}"));
            matmul(gpu, what, m, n, k, trans_a, trans_b)
        })
        .collect()
}

/// VGG19's 3×3 conv layers on 32×32 images, as (Cin, Cout, H = W): one row per distinct shape.
pub const VGG19_CONV_SHAPES: &[(usize, usize, usize)] = &[(3, 64, 32), (64, 64, 32), (128, 128, 16), (256, 256, 8), (512, 512, 4), (512, 512, 2)];

/// The three passes of one 3×3 conv layer (tuned variants), batch `n`: forward with bias and ReLU, the data
/// gradient and the weight gradient; each does 2·N·Cout·Cin·9·H·W FLOPs.
pub fn conv2d(gpu: &Gpu, n: usize, c_in: usize, c_out: usize, hw: usize) -> Result<Vec<Row>> {
    use crate::ops::conv2d;
    let d = conv2d::Dims { n, c_in, c_out, h: hw, w: hw };
    let x = random(gpu, &d.x_shape(), 1)?;
    let w = random(gpu, &d.w_shape(), 2)?;
    let b = random(gpu, &[c_out], 3)?;
    let dy = random(gpu, &d.y_shape(), 4)?;
    let (y, dx, dw) = (gpu.zeros(&d.y_shape()), gpu.zeros(&d.x_shape()), gpu.zeros(&d.w_shape()));
    let shape = format!("B{n} {c_in}→{c_out} {hw}×{hw}");
    let mut rows = Vec::new();
    for (pass, what) in ["conv2d fwd+bias+relu", "conv2d dX", "conv2d dW"].into_iter().enumerate() {
        let mut prog = Program::new();
        match pass {
            0 => conv2d::forward(gpu, &mut prog, &x, &w, Some(&b), &y, true)?,
            1 => conv2d::backward_data(gpu, &mut prog, &dy, &w, &dx)?,
            _ => conv2d::backward_weight(gpu, &mut prog, &x, &dy, &dw)?,
        }
        let seconds = time_program(gpu, &prog, 3)?;
        rows.push(Row { what: what.into(), shape: shape.clone(), seconds, flops: d.flops() });
    }
    Ok(rows)
}

/// The conv rows: every VGG19 layer shape at batch 16 (`quick` skips the 512-channel layers).
pub fn conv2d_rows(gpu: &Gpu, quick: bool, on_row: OnRow) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &(c_in, c_out, hw) in VGG19_CONV_SHAPES {
        if quick && c_in >= 512 {
            continue;
        }
        on_row(&format!("conv2d {c_in}→{c_out} {hw}×{hw}"));
        rows.extend(conv2d(gpu, 16, c_in, c_out, hw)?);
    }
    Ok(rows)
}

/// The host CPU as a benchmark line should name it: model, SIMD level, cores. A software adapter's
/// speed depends on it (lavapipe's generated code ran 5× slower on an AVX2-only Zen 3 than on an
/// AVX-512 Zen 4 of the same machine kind), so a figure without it cannot be compared.
pub fn host_cpu() -> String {
    use crate::gpu::adapter::{cpuinfo_field, mesa_cpu_override};
    let threads = std::thread::available_parallelism().map_or(0, |n| n.get());
    let (model, flags) = match (cpuinfo_field("model name"), cpuinfo_field("flags")) {
        (None, None) => return format!("{} ({threads} threads)", std::env::consts::ARCH),
        (model, flags) => (model.unwrap_or_else(|| std::env::consts::ARCH.to_string()), flags.unwrap_or_default()),
    };
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let simd = ["avx512f", "avx2", "avx", "sse4_2", "asimd"].into_iter().find(|f| has(f)).unwrap_or("no SIMD flags found");
    let extra: Vec<&str> = ["fma", "avx512vl", "avx512_bf16", "amx_tile"].into_iter().filter(|f| has(f)).collect();
    // Mesa's llvmpipe/lavapipe generate code for what this variable leaves (e.g. `avx`: no AVX-512).
    let mesa = mesa_cpu_override().map(|v| format!("; Mesa told GALLIUM_OVERRIDE_CPU_CAPS={v}")).unwrap_or_default();
    format!("{model}, {simd}{}{}, {threads} threads{mesa}", if extra.is_empty() { "" } else { " + " }, extra.join(" "))
}

pub fn print_table(gpu: &Gpu, rows: &[Row]) {
    println!("adapter: {}", gpu.describe());
    println!("host CPU: {}", host_cpu());
    println!("{:<24} {:<34} {:>12} {:>10}", "kernel", "shape", "time (ms)", "GFLOP/s");
    for r in rows {
        println!("{:<24} {:<34} {:>12.3} {:>10.1}", r.what, r.shape, r.seconds * 1e3, r.gflops());
    }
}

/// One full Task-1 training step — batch gather from a resident u8 training set, forward, loss, backward,
/// and the `method`'s update — of MLP-3-400 factorized at batch 200, timed over ≥ 200 steps recorded
/// back to back into one submission (no host synchronisation between steps).
pub fn task1_step(gpu: &Gpu, method: crate::train::method::Method) -> Result<Row> {
    let spec = crate::nn::ModelSpec::mlp_3_400_factorized();
    let (row, _) = training_step(gpu, spec, 200, method, 200)?;
    Ok(Row { what: format!("task1 step ({})", method.name()), ..row })
}

/// One Task-3 training step of VGG19 at batch 128 (CIFAR-10-sized images, the augmenting gather), and
/// the bytes its parameters, gradients and activations occupy on the GPU.
pub fn vgg19_step(gpu: &Gpu, method: crate::train::method::Method) -> Result<(Row, u64)> {
    let (row, bytes) = training_step(gpu, crate::nn::ModelSpec::vgg19(), 128, method, 1)?;
    Ok((Row { what: format!("vgg19 step ({})", method.name()), ..row }, bytes))
}

/// A training step of any model on synthetic u8 images of its input shape, timed over ≥ `min_reps`
/// steps; FLOPs count the forward, weight-gradient and (but for the first layer) input-gradient
/// multiply-adds. Also returns the GPU bytes of parameters, gradients and activations.
fn training_step(gpu: &Gpu, spec: crate::nn::ModelSpec, batch: usize, method: crate::train::method::Method, min_reps: usize) -> Result<(Row, u64)> {
    let name = spec.name;
    let flops_per_sample: f64 = spec.layer_macs().iter().enumerate().map(|(l, macs)| 2.0 * macs * if l == 0 { 2.0 } else { 3.0 }).sum();
    let (prog, bytes) = training_step_program(gpu, spec, batch, method)?;
    let seconds = time_program(gpu, &prog, min_reps)?;
    Ok((Row { what: String::new(), shape: format!("{name}, B={batch}, {} dispatches", prog.len()), seconds, flops: flops_per_sample * batch as f64 }, bytes))
}

/// Where the time of one Task-1 step goes: each dispatch of the step timed on its own (its label, grid
/// and milliseconds), in program order. The parts add up to a little more than the whole step, which
/// overlaps nothing but pays no submission per dispatch.
pub fn task1_step_profile(gpu: &Gpu, method: crate::train::method::Method) -> Result<Vec<(String, f64)>> {
    step_profile(gpu, crate::nn::ModelSpec::mlp_3_400_factorized(), 200, method)
}

/// As `task1_step_profile`, for the VGG19 step at batch 128 (on a GPU, where its convolutions go).
pub fn vgg19_step_profile(gpu: &Gpu, method: crate::train::method::Method) -> Result<Vec<(String, f64)>> {
    step_profile(gpu, crate::nn::ModelSpec::vgg19(), 128, method)
}

/// Each dispatch of one training step timed on its own by the host's clock (`Gpu::time_dispatches`:
/// batches of runs in one submission, so no timestamp queries are needed and any adapter can be read).
fn step_profile(gpu: &Gpu, spec: crate::nn::ModelSpec, batch: usize, method: crate::train::method::Method) -> Result<Vec<(String, f64)>> {
    let (prog, _) = training_step_program(gpu, spec, batch, method)?;
    let mut out = Vec::new();
    for d in &prog.dispatches {
        let seconds = gpu.time_dispatches(std::slice::from_ref(d))?;
        out.push((format!("{} {:?}", d.label, d.workgroups), seconds));
    }
    Ok(out)
}

/// The program of one training step (gather, forward, loss, backward, update) and the GPU bytes of
/// parameters, gradients and activations.
fn training_step_program(gpu: &Gpu, spec: crate::nn::ModelSpec, batch: usize, method: crate::train::method::Method) -> Result<(Program, u64)> {
    use crate::data::Normalization;
    use crate::nn::Model;
    use crate::ops::gather::{self, GpuImages};
    use crate::train::method::Update;
    let model = Model::new(gpu, spec)?;
    model.init(gpu, 0)?;
    let buf = model.activations(gpu, batch);
    let (rows, row_len) = (1000, model.spec.input_len());
    let colour = model.spec.input.len() == 3;
    let plane = if colour { row_len / model.spec.input[0] } else { row_len };
    let mut s = 1u32;
    let images: Vec<u8> = (0..rows * row_len)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8
        })
        .collect();
    let labels: Vec<u32> = (0..rows as u32).map(|i| i % 10).collect();
    let data = GpuImages::upload(gpu, &images, &labels, row_len, plane)?;
    let order: Vec<u32> = (0..batch as u32).map(|i| (i * 7) % rows as u32).collect();
    let indices = gpu.upload_u32(&[batch], &order)?;
    let hyper = gpu.upload_f32(&[4], &[0.1, 1e-4, 0.0, 0.0])?;
    let update = Update::new(gpu, &model, method)?;
    let mut prog = Program::new();
    if colour {
        let norm = Normalization::cifar10();
        let codes: Vec<u32> = order.iter().map(|&r| gather::augment_code(0, 0, r)).collect();
        let codes = gpu.upload_u32(&[batch], &codes)?;
        gather::gather_augment(gpu, &mut prog, &data, &indices, &codes, 0, model.spec.input[2], &norm.mean, &norm.std, &buf.x[0], &buf.labels)?;
    } else {
        let norm = Normalization::mnist();
        gather::gather_normalize(gpu, &mut prog, &data, &indices, 0, &norm.mean, &norm.std, &buf.x[0], &buf.labels)?;
    }
    model.forward(gpu, &mut prog, &buf)?;
    model.loss_and_backward(gpu, &mut prog, &buf)?;
    update.record(gpu, &mut prog, &model, &hyper)?;
    let bytes = model.store.params.bytes() + model.store.grads.bytes() + buf.bytes();
    Ok((prog, bytes))
}

/// Prints a step's profile (`task1_step_profile`): each dispatch's time and share of the total.
pub fn print_profile(what: &str, parts: &[(String, f64)]) {
    let total: f64 = parts.iter().map(|p| p.1).sum();
    println!("\n{what}: {} dispatches, {:.3} ms in all", parts.len(), total * 1e3);
    println!("{:<40} {:>10} {:>7}", "dispatch [grid]", "time (ms)", "share");
    for (label, s) in parts {
        println!("{label:<40} {:>10.3} {:>6.1}%", s * 1e3, 100.0 * s / total);
    }
}

/// Prints the Task-1 step rows: time per step, steps/s.
pub fn print_steps(rows: &[Row]) {
    println!();
    println!("{:<24} {:<34} {:>12} {:>10} {:>10}", "training step", "model", "time (ms)", "steps/s", "GFLOP/s");
    for r in rows {
        println!("{:<24} {:<34} {:>12.3} {:>10.1} {:>10.1}", r.what, r.shape, r.seconds * 1e3, 1.0 / r.seconds, r.gflops());
    }
}

/// The sizes `gpu_check` measures at: a GPU's (the figures) or, `small`, sizes that finish in a
/// few minutes on a CPU adapter so that the check runs end to end anywhere (`benches/gpu.sh --small`).
pub struct CheckSizes {
    pub fma_workgroups: usize,
    pub fma_iters: u32,
    pub matmul: [usize; 2],
    pub conv_batch: usize,
    pub vgg19_batch: usize,
}

impl CheckSizes {
    pub fn new(small: bool) -> CheckSizes {
        if small {
            CheckSizes { fma_workgroups: 64, fma_iters: 256, matmul: [256, 512], conv_batch: 2, vgg19_batch: 4 }
        } else {
            // 8192·256 invocations: ~16 per FP32 lane of an H100-class GPU, enough to hide fma latency.
            CheckSizes { fma_workgroups: 8192, fma_iters: 1024, matmul: [1024, 4096], conv_batch: 128, vgg19_batch: 128 }
        }
    }
}

/// One row of the GPU check: a figure, its unit, and (for kernels) its fraction of the FMA peak.
pub struct CheckRow {
    pub what: String,
    pub shape: String,
    pub value: f64,
    pub unit: &'static str,
    pub of_peak: Option<f64>,
}

/// The adapter's FP32 multiply-add throughput (GFLOP/s) by `ops::peak::fma_peak`.
pub fn fma_peak(gpu: &Gpu, workgroups: usize, iters: u32) -> Result<Row> {
    let (d, _out) = crate::ops::peak::fma_peak(gpu, workgroups, iters)?;
    let mut prog = Program::new();
    prog.push(d);
    let seconds = time_program(gpu, &prog, 3)?;
    let flops = (workgroups * crate::ops::peak::WG) as f64 * iters as f64 * crate::ops::peak::FLOPS_PER_ITER;
    Ok(Row { what: "fp32 fma peak".into(), shape: format!("{} invocations × {iters} × 32 fma", workgroups * crate::ops::peak::WG), seconds, flops })
}

/// `pathprox bench --gpu-check`: the FMA peak, matmul at two sizes, the three conv passes at every VGG19
/// layer shape, the Task-1 step and the VGG19 step, each kernel figure as a fraction of the peak.
pub fn gpu_check(gpu: &Gpu, sizes: &CheckSizes, on_row: OnRow) -> Result<Vec<CheckRow>> {
    use crate::train::method::Method;
    let mut out = Vec::new();
    on_row("fp32 fma peak");
    let peak = fma_peak(gpu, sizes.fma_workgroups, sizes.fma_iters)?;
    let peak_gflops = peak.gflops();
    out.push(CheckRow { what: peak.what.clone(), shape: peak.shape.clone(), value: peak_gflops, unit: "GFLOP/s", of_peak: Some(1.0) });
    let kernel = |r: Row| CheckRow { of_peak: Some(r.gflops() / peak_gflops), what: r.what.clone(), shape: r.shape.clone(), value: r.gflops(), unit: "GFLOP/s" };
    for n in sizes.matmul {
        on_row(&format!("matmul {n}³"));
        out.push(kernel(matmul(gpu, &format!("{n}³"), n, n, n, false, false)?));
    }
    for &(c_in, c_out, hw) in VGG19_CONV_SHAPES {
        on_row(&format!("conv2d {c_in}→{c_out} {hw}×{hw}"));
        out.extend(conv2d(gpu, sizes.conv_batch, c_in, c_out, hw)?.into_iter().map(kernel));
    }
    for m in [Method::WeightDecay, Method::PathProx { balance: true }] {
        on_row(&format!("task1 step ({})", m.name()));
        let r = task1_step(gpu, m)?;
        out.push(CheckRow { what: r.what.clone(), shape: r.shape.clone(), value: 1.0 / r.seconds, unit: "steps/s", of_peak: None });
    }
    on_row("vgg19 step (pathprox)");
    let method = Method::PathProx { balance: true };
    let (r, _) = training_step(gpu, crate::nn::ModelSpec::vgg19(), sizes.vgg19_batch, method, 1)?;
    out.push(CheckRow { what: format!("vgg19 step ({})", method.name()), shape: r.shape.clone(), value: r.seconds * 1e3, unit: "ms", of_peak: Some(r.gflops() / peak_gflops) });
    Ok(out)
}

/// The check as one Markdown table (benches/gpu.sh appends PyTorch's rows and the Task-1 run to it).
pub fn print_check(gpu: &Gpu, rows: &[CheckRow]) {
    println!("adapter: {}", gpu.describe());
    println!("host CPU: {}", host_cpu());
    println!();
    println!("| {:<32} | {:<44} | {:>12} | {:<8} | {:>9} |", "what", "shape", "value", "unit", "of peak");
    println!("|{:-<34}|{:-<46}|{:->14}|{:-<10}|{:->11}|", "", "", "", "", "");
    for r in rows {
        let of_peak = r.of_peak.map(|f| format!("{:.1}%", 100.0 * f)).unwrap_or_default();
        println!("| {:<32} | {:<44} | {:>12.1} | {:<8} | {:>9} |", r.what, r.shape, r.value, r.unit, of_peak);
    }
}
