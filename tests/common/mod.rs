//! Shared by the test binaries: the adapters to test on, seeded random data, and `assert_close`.
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
