//! How a long job reports as it goes (training, data generation, evaluation): the [`Progress`] trait its
//! callers implement, the [`LogPoint`] a trainer reports at each log point, and, natively, the terminal
//! bar the CLI shows (`bar::Bar`). Below data, train and tasks, which all report through it.

#[cfg(not(target_arch = "wasm32"))]
pub mod bar;
mod log_point;

pub use log_point::LogPoint;

/// Reports progress; the CLI shows a bar, tests and the browser pass `()`.
pub trait Progress {
    fn start(&self, _method: &str, _from: u64, _to: u64) {}
    fn advance(&self, _step: u64) {}
    fn point(&self, _p: &LogPoint) {}
    fn message(&self, _text: &str) {}
    fn finish(&self) {}
}

impl Progress for () {}
