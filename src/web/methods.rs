//! Several methods trained side by side from one initialisation, stepped together: what both demos run.

use std::cell::{Cell, RefCell};
use std::sync::atomic::AtomicBool;

use super::set;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::train::config::TrainConfig;
use crate::train::eval::LogPoint;
use crate::train::method::Method;
use crate::train::trainer::{GpuData, MethodRun};

/// Steps between rewrites of a run's index stream (its chunk); any step count may be asked for.
pub const CHUNK: u64 = 50;

pub struct SideBySide {
    pub gpu: &'static Gpu,
    /// Borrowed shared while metrics are read (across awaits); mutably only between reads.
    pub runs: RefCell<Vec<MethodRun<'static>>>,
    pub steps: Cell<u64>,
    /// New (lr, λ) waiting for the next step that can take the runs mutably.
    rates: Cell<Option<(f64, f64)>>,
}

impl SideBySide {
    /// Every method of `cfg` (its iterations unbounded), from the same seeded initialisation.
    pub fn new(gpu: &'static Gpu, cfg: &TrainConfig, data: &GpuData) -> Result<SideBySide> {
        Ok(SideBySide { gpu, runs: RefCell::new(build(gpu, cfg, data)?), steps: Cell::new(0), rates: Cell::new(None) })
    }

    /// Records and submits `n` steps of every method (no read-back); applies pending rates first.
    pub fn step(&self, n: u64) -> Result<()> {
        if let (Some((lr, lambda)), Ok(mut runs)) = (self.rates.get(), self.runs.try_borrow_mut()) {
            runs.iter_mut().for_each(|r| r.set_rates(lr, lambda));
            self.rates.set(None);
        }
        let from = self.steps.get();
        let never = AtomicBool::new(false);
        for run in self.runs.borrow().iter() {
            run.steps(from, from + n, &never, &())?;
        }
        self.steps.set(from + n);
        Ok(())
    }

    pub fn set_rates(&self, lr: f64, lambda: f64) {
        self.rates.set(Some((lr, lambda)));
    }

    /// Rebuilds the runs on new data, keeping every method's current parameters.
    pub fn rebuild(&self, cfg: &TrainConfig, data: &GpuData) -> Result<()> {
        let mut runs = self.runs.try_borrow_mut().map_err(|_| crate::Error::Other("busy: metrics are being read".into()))?;
        let mut fresh = build(self.gpu, cfg, data)?;
        for (new, old) in fresh.iter_mut().zip(runs.iter()) {
            new.model().store.copy_from(self.gpu, &old.model().store)?;
            let c = old.config();
            new.set_rates(c.lr, c.lambda);
        }
        *runs = fresh;
        Ok(())
    }

    /// Each method's metrics now. The runs stay borrowed (shared) across the read-backs: `step` borrows
    /// them shared too, and `rebuild` (the only mutable borrow) refuses while they are read.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn measure(&self) -> Result<Vec<(Method, LogPoint)>> {
        let runs = self.runs.borrow();
        let mut out = Vec::new();
        for run in runs.iter() {
            out.push((run.method(), run.measure(self.steps.get(), 0.0, 0.0).await?));
        }
        Ok(out)
    }
}

fn build(gpu: &'static Gpu, cfg: &TrainConfig, data: &GpuData) -> Result<Vec<MethodRun<'static>>> {
    let cfg = TrainConfig { iters: u64::MAX, log_every: CHUNK, ..cfg.clone() };
    cfg.methods.iter().map(|m| MethodRun::new(gpu, &cfg, Method::parse(m)?, data, true)).collect()
}

/// A method's metrics as the page reads them.
pub fn metrics_object(method: Method, p: &LogPoint) -> js_sys::Object {
    let o = js_sys::Object::new();
    set(&o, "name", method.name());
    set(&o, "label", crate::report::display_name(method.name()));
    set(&o, "objective", p.objective);
    set(&o, "train_ce", p.train_ce);
    set(&o, "train_acc", p.train_acc);
    set(&o, "val_acc", p.val_acc);
    set(&o, "active_units", p.active_units);
    o
}
