//! The paper's Fig. 2 live: the 2-D toy (`train::toy`) trained with weight decay and PathProx side by
//! side; the page reads back metrics, decision regions (a forward pass over a grid, on the GPU) and the
//! hidden units whenever it draws.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::methods::{metrics_object, SideBySide};
use super::{js_error, set, Engine};
use crate::data::toy::{ToySet, EXTENT};
use crate::error::{Error, Result};
use crate::report::decision_regions::region_rgba;
use crate::train::toy::{self, Probe, ToySettings};

#[wasm_bindgen]
pub struct ToyDemo {
    state: Rc<State>,
}

struct State {
    settings: ToySettings,
    set: RefCell<ToySet>,
    /// Points added since the runs were built: the next step rebuilds them on the new set.
    stale: std::cell::Cell<bool>,
    methods: SideBySide,
    /// Grid forward passes of each method's model, for one grid size; cleared when the runs are rebuilt.
    probes: RefCell<Option<(usize, Vec<Probe>)>>,
    /// A snapshot is being read.
    reading: std::cell::Cell<bool>,
}

#[wasm_bindgen]
impl ToyDemo {
    /// `settings`: JSON of `ToySettings`; fields left out keep their defaults.
    pub fn create(engine: &Engine, settings: &str) -> std::result::Result<ToyDemo, JsError> {
        let settings: ToySettings = serde_json::from_str(settings).map_err(|e| JsError::new(&format!("toy settings: {e}")))?;
        settings.validate().map_err(js_error)?;
        let set = settings.data.generate().map_err(js_error)?;
        let cfg = settings.train_config(set.len(), u64::MAX, super::methods::CHUNK);
        let methods = SideBySide::new(engine.gpu, &cfg, &toy::gpu_data(engine.gpu, &set).map_err(js_error)?).map_err(js_error)?;
        let state = State { settings, set: RefCell::new(set), stale: false.into(), methods, probes: RefCell::new(None), reading: false.into() };
        Ok(ToyDemo { state: Rc::new(state) })
    }

    /// Records and submits `n` full-batch steps of both methods; nothing is read back.
    pub fn step(&self, n: u32) -> std::result::Result<(), JsError> {
        let s = &self.state;
        if s.stale.get() && !s.reading.get() {
            let set = s.set.borrow();
            let cfg = s.settings.train_config(set.len(), u64::MAX, super::methods::CHUNK);
            s.methods.rebuild(&cfg, &toy::gpu_data(s.methods.gpu, &set).map_err(js_error)?).map_err(js_error)?;
            *s.probes.borrow_mut() = None;
            s.stale.set(false);
        }
        s.methods.step(n as u64).map_err(js_error)
    }

    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> f64 {
        self.state.methods.steps.get() as f64
    }

    /// New learning rate and λ, from the next step on.
    pub fn set_rates(&self, lr: f64, lambda: f64) -> std::result::Result<(), JsError> {
        if !(lr.is_finite() && lr > 0.0 && lambda.is_finite() && lambda >= 0.0) {
            return Err(JsError::new(&format!("learning rate must be > 0 and λ ≥ 0, got {lr} and {lambda}")));
        }
        self.state.methods.set_rates(lr, lambda);
        Ok(())
    }

    /// Adds a point of class `label` at (x, y); training goes on from the current parameters.
    pub fn add_point(&self, x: f32, y: f32, label: u32) -> std::result::Result<(), JsError> {
        if label > 1 || !(x.abs() <= EXTENT && y.abs() <= EXTENT) {
            return Err(JsError::new(&format!("a point needs class 0 or 1 and coordinates within ±{EXTENT}; got class {label} at ({x}, {y})")));
        }
        self.state.set.borrow_mut().push(x, y, label, false);
        self.state.stale.set(true);
        Ok(())
    }

    /// Resolves to `{ step, extent, points, methods: [{ name, label, objective, train_ce, train_acc,
    /// active_units, regions, units }] }` (see web/app.js); `grid` is the region image's side in pixels.
    pub fn snapshot(&self, grid: u32) -> std::result::Result<js_sys::Promise, JsError> {
        let state = self.state.clone();
        if state.reading.replace(true) {
            return Err(JsError::new("a snapshot is already being read"));
        }
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let out = state.snapshot(grid as usize).await;
            state.reading.set(false);
            out.map(JsValue::from).map_err(|e| js_error(e).into())
        }))
    }
}

impl State {
    /// Borrows the runs and the probes (shared) across the read-backs; `step` rebuilds them (mutably) only
    /// while no snapshot is being read (`reading`).
    #[allow(clippy::await_holding_refcell_ref)]
    async fn snapshot(&self, grid: usize) -> Result<js_sys::Object> {
        let gpu = self.methods.gpu;
        let metrics = self.methods.measure().await?;
        let runs = self.methods.runs.borrow();
        {
            let mut probes = self.probes.borrow_mut();
            if probes.as_ref().map(|(g, _)| *g) != Some(grid) {
                *probes = Some((grid, runs.iter().map(|r| Probe::grid(gpu, r.model(), grid)).collect::<Result<_>>()?));
            }
        }
        let methods = js_sys::Array::new();
        for (k, (method, point)) in metrics.iter().enumerate() {
            let o = metrics_object(*method, point);
            let p = {
                let probes = self.probes.borrow();
                let (_, probes) = probes.as_ref().ok_or_else(|| Error::Other("no grid".into()))?;
                probes[k].probabilities(gpu).await?
            };
            set(&o, "regions", js_sys::Uint8ClampedArray::from(region_rgba(&p, grid).as_slice()));
            let units: Vec<f32> = toy::units(gpu, runs[k].model()).await?.iter().flat_map(|u| [u.w[0], u.w[1], u.b, u.strength]).collect();
            set(&o, "units", js_sys::Float32Array::from(units.as_slice()));
            methods.push(&o);
        }
        let out = js_sys::Object::new();
        set(&out, "step", self.methods.steps.get() as f64);
        set(&out, "extent", EXTENT);
        let s = self.set.borrow();
        let points: Vec<f32> = (0..s.len()).flat_map(|i| [s.xy[2 * i], s.xy[2 * i + 1], s.labels[i] as f32, s.outlier[i] as u8 as f32]).collect();
        set(&out, "points", js_sys::Float32Array::from(points.as_slice()));
        set(&out, "methods", methods);
        Ok(out)
    }
}
