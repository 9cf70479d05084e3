//! Shared by the test binaries: the adapters to test on, seeded random data, `assert_close`, the methods in
//! f64, and the plumbing of file and command-line tests (a scratch directory, gzip, the `pathprox` binary).
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard, OnceLock};

use pathprox::gpu::{adapter, AdapterChoice, Gpu};

/// One adapter under test, and the turn its tests take on it when they must not overlap.
///
/// Why GL tests take turns: wgpu's GL backend has one context per adapter behind a lock that a thread
/// waits on for at most 6 s and then panics ("Could not lock adapter context"), and every GL call holds
/// it, shader compilation included. With a cold Mesa shader cache a large kernel takes llvmpipe longer
/// than that to compile, so when the test harness runs two GL tests on parallel threads, the one that
/// waits panics. Tests therefore queue here, on a lock without a timeout, for the whole of their GL
/// work. Vulkan has no such lock, so lavapipe tests still run in parallel.
pub struct TestGpu {
    gpu: Gpu,
    turn: Option<Mutex<()>>,
}

/// A `Gpu` to use, holding the adapter's turn (GL) until it is dropped.
pub struct GpuTurn<'a> {
    gpu: &'a Gpu,
    _turn: Option<MutexGuard<'a, ()>>,
}

impl std::ops::Deref for GpuTurn<'_> {
    type Target = Gpu;
    fn deref(&self) -> &Gpu {
        self.gpu
    }
}

impl TestGpu {
    pub fn take_turn(&self) -> GpuTurn<'_> {
        // A test that panicked while holding the turn poisons it; the device itself is still usable.
        let turn = self.turn.as_ref().map(|m| m.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        GpuTurn { gpu: &self.gpu, _turn: turn }
    }
}

/// Whether this process is the `kernels` test binary (cargo names it `kernels-<hash>`).
fn is_kernel_test_binary() -> bool {
    std::env::current_exe().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().starts_with("kernels-"))).unwrap_or(false)
}

/// Whether tests on this adapter must take turns (see `TestGpu`).
pub fn needs_turns(gpu: &Gpu) -> bool {
    gpu.info.backend == wgpu::Backend::Gl
}

/// One `Gpu` per adapter under test: every adapter found (lavapipe and llvmpipe GL on a machine with no
/// GPU), or those of the backends in `PATHPROX_TEST_BACKENDS` (e.g. "vulkan" or "gl").
/// Kernel tests run their body on each (candle's habit: one test body, every device).
pub fn gpus() -> &'static [TestGpu] {
    static GPUS: OnceLock<Vec<TestGpu>> = OnceLock::new();
    GPUS.get_or_init(|| {
        let mut choice = AdapterChoice::default();
        if let Ok(b) = std::env::var("PATHPROX_TEST_BACKENDS") {
            choice = choice.with_backend_names(&b).expect("PATHPROX_TEST_BACKENDS");
        }
        let adapters = pollster::block_on(adapter::list(&choice));
        assert!(!adapters.is_empty(), "no adapter to test on: install mesa-vulkan-drivers (see README)");
        adapters
            .iter()
            .map(|a| {
                let gpu = pollster::block_on(Gpu::from_adapter(a)).expect("device");
                // Only the kernel tests measure kernel variants (they check the tuned choices); in the
                // other binaries timing every variant of every shape, with a cold shader cache, would
                // cost more than the tests themselves.
                gpu.set_tuning(is_kernel_test_binary());
                let turn = needs_turns(&gpu).then(|| Mutex::new(()));
                TestGpu { gpu, turn }
            })
            .collect()
    })
}

/// The preferred adapter under test (lavapipe where installed, else llvmpipe GL), for tests whose
/// subject is not the kernels themselves. Keep the returned turn alive for the whole test.
pub fn first_gpu() -> GpuTurn<'static> {
    gpus()[0].take_turn()
}

/// Runs `body` on every adapter under test, naming the adapter if it panics.
pub fn on_each_gpu(mut body: impl FnMut(&Gpu)) {
    for test_gpu in gpus() {
        let gpu = test_gpu.take_turn();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&gpu)));
        if let Err(e) = r {
            eprintln!("failed on adapter: {}", gpu.describe());
            std::panic::resume_unwind(e);
        }
    }
}

/// SplitMix64: small, seeded, reproducible test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
    pub fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % n as u64) as u32
    }
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Fails unless |gpu − cpu| ≤ atol + rtol·|cpu| everywhere (NaN fails), printing the first mismatches.
pub fn assert_close(name: &str, gpu: &[f32], cpu: &[f64], atol: f64, rtol: f64) {
    assert_eq!(gpu.len(), cpu.len(), "{name}: length {} vs reference {}", gpu.len(), cpu.len());
    let bad: Vec<usize> = (0..cpu.len())
        .filter(|&i| {
            let (g, c) = (gpu[i] as f64, cpu[i]);
            // Written so that NaN (on either side) counts as a mismatch.
            let within = (g - c).abs() <= atol + rtol * c.abs();
            !within
        })
        .collect();
    if !bad.is_empty() {
        let shown: Vec<String> = bad.iter().take(8).map(|&i| format!("[{i}] gpu {} cpu {}", gpu[i], cpu[i])).collect();
        panic!("{name}: {} of {} elements differ (atol {atol:e}, rtol {rtol:e}); first: {}", bad.len(), cpu.len(), shown.join(", "));
    }
}

/// Sizes that break tiling: 1, primes, just past powers of two and tile multiples.
pub const AWKWARD: &[usize] = &[1, 7, 33, 200, 401];

/// The f64 logits [n, classes] of any `ModelSpec` on n examples, composed from the ops' CPU references
/// (`params` in the store's declaration order: weight, bias per parameter layer).
pub fn logits_cpu(spec: &pathprox::nn::ModelSpec, params: &[Vec<f64>], x: &[f64], n: usize) -> Vec<f64> {
    use pathprox::nn::{LayerSpec, Pool2d};
    use pathprox::ops::{conv2d::cpu as conv, elementwise::cpu as ew, matmul::cpu as mm, pool2d::cpu as pool};
    let shapes = spec.shapes().unwrap();
    let mut act = x.to_vec();
    let mut p = 0;
    for (i, layer) in spec.layers.iter().enumerate() {
        let s = &shapes[i];
        act = match *layer {
            LayerSpec::Dense { out, relu } => {
                let mut z = mm::matmul(&act, &params[2 * p], n, out, s[0], false, true);
                mm::epilogue(&mut z, out, None, Some(&params[2 * p + 1]), false, None);
                p += 1;
                if relu { ew::relu_forward(&z) } else { z }
            }
            LayerSpec::Conv3x3 { out, relu } => {
                let d = conv::Dims { n, c_in: s[0], c_out: out, h: s[1], w: s[2] };
                p += 1;
                conv::forward(&d, &act, &params[2 * p - 2], Some(&params[2 * p - 1]), relu)
            }
            LayerSpec::Pool(Pool2d::Max) => pool::max_forward(&act, [n, s[0], s[1], s[2]]),
            LayerSpec::Pool(Pool2d::Avg) => pool::avg_forward(&act, [n, s[0], s[1], s[2]]),
            LayerSpec::Flatten => act,
        };
    }
    act
}

/// Mean cross-entropy of `logits_cpu`.
pub fn loss_cpu(spec: &pathprox::nn::ModelSpec, params: &[Vec<f64>], x: &[f64], labels: &[u32]) -> f64 {
    let logits = logits_cpu(spec, params, x, labels.len());
    pathprox::ops::softmax_xent::cpu::mean_loss(&logits, spec.classes(), labels)
}

/// ∂loss_cpu/∂params by central differences (h = 1e-6 on an f64 forward: ~1e-9 accurate), for small nets.
pub fn grads_fd(spec: &pathprox::nn::ModelSpec, params: &[Vec<f64>], x: &[f64], labels: &[u32]) -> Vec<Vec<f64>> {
    let h = 1e-6;
    let mut p = params.to_vec();
    (0..params.len())
        .map(|t| {
            (0..params[t].len())
                .map(|e| {
                    let keep = p[t][e];
                    p[t][e] = keep + h;
                    let up = loss_cpu(spec, &p, x, labels);
                    p[t][e] = keep - h;
                    let down = loss_cpu(spec, &p, x, labels);
                    p[t][e] = keep;
                    (up - down) / (2.0 * h)
                })
                .collect()
        })
        .collect()
}

/// A small conv net with two conv groups (one of 4 units, one of 5: both kernel layouts), pools after
/// a ReLU, a flatten and an ungrouped Linear: every path of `Model`'s backward.
/// [3, 6, 5] → conv 4 → conv 4 → max-pool → conv 5 → conv 4 → avg-pool → flatten → Linear 3.
pub fn small_conv_spec() -> pathprox::nn::ModelSpec {
    use pathprox::nn::{Init, LayerSpec::*, ModelSpec, Pool2d};
    let conv = |out| Conv3x3 { out, relu: true };
    let layers = vec![conv(4), conv(4), Pool(Pool2d::Max), conv(5), conv(4), Pool(Pool2d::Avg), Flatten, Dense { out: 3, relu: false }];
    ModelSpec::new("small-conv", vec![3, 6, 5], layers, Init::KaimingNormal, vec![(0, 1), (2, 3)]).unwrap()
}

// ---- files and the command line -------------------------------------------------------------------------

/// A fresh empty directory for one test: `<CARGO_TARGET_TMPDIR>/<test binary>/<name>`, whatever an earlier
/// run left there removed first. Names need only be unique within one test binary.
pub fn scratch(name: &str) -> std::path::PathBuf {
    // Inside this module `module_path!()` is "<test binary>::common".
    let binary = module_path!().split("::").next().unwrap_or("tests");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(binary).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `bytes` gzip-compressed, as the published data files are.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The `pathprox` binary as a user runs it from the repository root, with kernel tuning off
/// (PATHPROX_TUNE=0): the command-line tests check plumbing, not speed, and tuning would only pick the
/// fastest variant at a cost of seconds per run.
pub fn cli_command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pathprox"));
    c.env("PATHPROX_TUNE", "0").current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Runs `pathprox args` (tuning off, see `cli_command`): (exit status success, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (bool, String, String) {
    output_of(cli_command().args(args))
}

/// As `run_cli`, with kernel tuning as the environment has it (by default on, so that the CLI's tuner runs
/// in the suite).
pub fn run_cli_tuned(args: &[&str]) -> (bool, String, String) {
    output_of(std::process::Command::new(env!("CARGO_BIN_EXE_pathprox")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args))
}

fn output_of(c: &mut std::process::Command) -> (bool, String, String) {
    let out = c.output().expect("run pathprox");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

// ---- the methods in f64 (docs/algorithm.md) ----------------------------------------------------------------
use pathprox::nn::ParamClass;
use pathprox::ops::optim::cpu;
use pathprox::train::method::Method;

/// Group (w layer, v layer) of `spec` over f64 parameters (declaration order), in the kernels' views.
pub fn group_cpu(spec: &pathprox::nn::ModelSpec, p: &[Vec<f64>], (w, v): (usize, usize)) -> pathprox::ops::optim::cpu::Group {
    let shapes = spec.weight_shapes();
    let (ws, vs) = (&shapes[w].0, &shapes[v].0);
    pathprox::ops::optim::cpu::Group {
        w: p[2 * w].clone(),
        w_bias: p[2 * w + 1].clone(),
        v: p[2 * v].clone(),
        v_bias: p[2 * v + 1].clone(),
        units: ws[0],
        fan_in: ws[1..].iter().product(),
        a: vs[0],
        c: vs[2..].iter().product(),
    }
}

pub fn put_group(p: &mut [Vec<f64>], g: &pathprox::ops::optim::cpu::Group, (w, v): (usize, usize)) {
    p[2 * w] = g.w.clone();
    p[2 * w + 1] = g.w_bias.clone();
    p[2 * v] = g.v.clone();
    p[2 * v + 1] = g.v_bias.clone();
}

/// One iteration of `method` as docs/algorithm.md writes it, in f64, from the loss gradients `loss_grads`
/// (`params` and `classes` in the store's declaration order), at learning rate `lr` and strength `lambda`.
pub fn method_step_cpu(spec: &pathprox::nn::ModelSpec, classes: &[pathprox::nn::ParamClass], p: &[Vec<f64>], loss_grads: &[Vec<f64>], method: pathprox::train::method::Method, lr: f64, lambda: f64) -> Vec<Vec<f64>> {
    let mut grads = loss_grads.to_vec();
    // The penalties' sub-gradients (path norm over the groups, group lasso over every unit: on this net
    // the units are the groups; lasso over every weight).
    for &pair in &spec.groups {
        let g = group_cpu(spec, p, pair);
        let (gw, gv) = (grads[2 * pair.0].clone(), grads[2 * pair.1].clone());
        let (mut gw, mut gv) = (gw, gv);
        match method {
            Method::PathNormSgd => cpu::penalty_grad(&g, lambda, true, &mut gw, &mut gv),
            Method::GroupLasso => cpu::penalty_grad(&g, lambda, false, &mut gw, &mut gv),
            _ => {}
        }
        (grads[2 * pair.0], grads[2 * pair.1]) = (gw, gv);
    }
    if method == Method::Lasso {
        for (t, (g, &class)) in grads.iter_mut().zip(classes).enumerate() {
            if class != ParamClass::Bias {
                *g = cpu::lasso_grad(&p[t], g, lambda);
            }
        }
    }
    // Which parameters carry the objective's (λ/2)‖·‖² term, read off the objectives in docs/algorithm.md
    // ("Objectives", "Baselines") rather than off the trainer's code: F(θ) puts it on every weight, biases
    // excluded (weight decay, and weight decay with weight normalisation, which is SGD on F); the path-norm
    // objective G(θ) only on θ_other, the weights in no group (PathProx's step 1, SGD on G); lasso's and
    // group lasso's objectives have none. Parameters come in declaration order, each layer's weight, then
    // its bias; the store's `classes` must say the same.
    let grouped_layer = |layer: usize| spec.groups.iter().any(|&(w, v)| layer == w || layer == v);
    for (t, &class) in classes.iter().enumerate() {
        assert_eq!(class == ParamClass::Bias, !t.is_multiple_of(2), "parameter {t}: {class:?}");
        if !spec.groups.is_empty() && t.is_multiple_of(2) {
            assert_eq!(class == ParamClass::GroupedWeight, grouped_layer(t / 2), "parameter {t}: {class:?}");
        }
    }
    let l2_term = |t: usize| {
        let weight = t.is_multiple_of(2);
        match method {
            Method::WeightDecay | Method::WeightDecayNorm => weight,
            Method::PathProx { .. } | Method::PathNormSgd => weight && !grouped_layer(t / 2),
            Method::Lasso | Method::GroupLasso => false,
        }
    };
    // Plain SGD on that objective: θ ← θ − γ(g + λθ) where the L2 term applies, θ − γg elsewhere.
    let mut out: Vec<Vec<f64>> = p
        .iter()
        .zip(&grads)
        .enumerate()
        .map(|(t, (theta, g))| {
            let l2 = if l2_term(t) { lambda } else { 0.0 };
            theta.iter().zip(g).map(|(&x, &gx)| x - lr * (gx + l2 * x)).collect()
        })
        .collect();
    let mut groups: Vec<pathprox::ops::optim::cpu::Group> = spec.groups.iter().map(|&pair| group_cpu(spec, &out, pair)).collect();
    match method {
        Method::PathProx { balance } => {
            if balance {
                cpu::balance(&mut groups);
            }
            groups.iter_mut().for_each(|g| cpu::pathprox_step(g, lr, lambda));
        }
        Method::WeightDecayNorm => groups.iter_mut().for_each(cpu::project_w),
        _ => {}
    }
    for (g, &pair) in groups.iter().zip(&spec.groups) {
        put_group(&mut out, g, pair);
    }
    out
}

