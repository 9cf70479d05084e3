//! Per-adapter kernel choice by measurement: the best kernel shape differs between a CPU adapter
//! (lavapipe: 8-wide SIMD, per-lane memory access, costly barriers) and a GPU, so wrappers offer a list
//! of candidate variants and the fastest one on this adapter, for this problem size, is kept.
//!
//! Candidates are timed once per (kernel, size class) per process. `PATHPROX_TUNE=0` skips measuring and
//! takes each list's first entry (the wrapper's heuristic choice); so does the browser, which cannot block.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Gpu;
use super::kernel::Dispatch;
use crate::error::Result;

pub struct TuningCache {
    chosen: Mutex<HashMap<String, usize>>,
    /// Off: every wrapper takes its first candidate, as with `PATHPROX_TUNE=0` (`Gpu::set_tuning`).
    enabled: AtomicBool,
}

impl Default for TuningCache {
    fn default() -> Self {
        TuningCache { chosen: Default::default(), enabled: AtomicBool::new(true) }
    }
}

fn tuning_enabled() -> bool {
    !cfg!(target_arch = "wasm32") && std::env::var("PATHPROX_TUNE").map(|v| v != "0").unwrap_or(true)
}

impl Gpu {
    /// Turns measuring on or off for this device (off: first candidates, as `PATHPROX_TUNE=0` does for
    /// the process). Choices already made are kept.
    pub fn set_tuning(&self, on: bool) {
        self.tuning.enabled.store(on, Ordering::Relaxed);
    }

    /// Index of the fastest candidate for `key`; `build(i)` makes candidate i's dispatches (an error
    /// disqualifies it). With tuning off, or a single candidate, returns 0 without building anything.
    pub fn tune(&self, key: &str, candidates: usize, mut build: impl FnMut(usize) -> Result<Vec<Dispatch>>) -> usize {
        // A preset choice past the end of the list comes from a checkpoint of a build that offered more
        // candidates for this key: it is decided again, as if it had not been preset.
        if let Some(&i) = self.tuning.chosen.lock().unwrap().get(key)
            && i < candidates
        {
            return i;
        }
        let mut best = (f64::INFINITY, 0);
        if candidates > 1 && tuning_enabled() && self.tuning.enabled.load(Ordering::Relaxed) {
            for i in 0..candidates {
                if let Ok(ds) = build(i)
                    && let Ok(t) = self.time_dispatches(&ds)
                        && t < best.0 {
                            best = (t, i);
                        }
            }
        }
        self.tuning.chosen.lock().unwrap().insert(key.to_string(), best.1);
        best.1
    }

    /// Seconds per run of `ds` (best of a few timed batches after one warm-up).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_dispatches(&self, ds: &[Dispatch]) -> Result<f64> {
        use super::Recorder;
        let run = |reps: usize| -> Result<f64> {
            let t = std::time::Instant::now();
            let mut rec = Recorder::new(self);
            for _ in 0..reps {
                rec.run_all(ds);
            }
            rec.submit();
            self.wait_idle()?;
            Ok(t.elapsed().as_secs_f64() / reps as f64)
        };
        let once = run(1)?;
        // Aim at ~20 ms per batch: long enough to average noise, short enough for start-up.
        let reps = ((0.02 / once.max(1e-6)) as usize).clamp(1, 50);
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            best = best.min(run(reps)?);
        }
        Ok(best)
    }

    #[cfg(target_arch = "wasm32")]
    pub fn time_dispatches(&self, _ds: &[Dispatch]) -> Result<f64> {
        Err(crate::Error::Other("timing needs a blocking wait, which the browser does not allow".into()))
    }

    /// Fixes the choice for `key` (a resumed run reuses its first run's choices, so that it computes with
    /// the same kernels and reproduces the uninterrupted run bit for bit).
    pub fn preset_tuning(&self, key: &str, choice: usize) {
        self.tuning.chosen.lock().unwrap().insert(key.to_string(), choice);
    }

    /// The variant chosen for each tuned key so far (for the bench report and checkpoints).
    pub fn tuning_report(&self) -> Vec<(String, usize)> {
        let mut v: Vec<_> = self.tuning.chosen.lock().unwrap().iter().map(|(k, i)| (k.clone(), *i)).collect();
        v.sort();
        v
    }
}
