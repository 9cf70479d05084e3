//! A `Program`: dispatches in execution order, built once by the op wrappers and replayed as a unit.
//!
//! Every wrapper in `ops` appends to a program (`fn op(gpu, &mut Program, inputs.., outputs..)`), so
//! one call site serves both uses: a test runs a one-op program once, a training step replays the
//! program of the whole forward + backward + update every iteration.

use super::kernel::Dispatch;
use super::{Gpu, Recorder};

#[derive(Default)]
pub struct Program {
    pub dispatches: Vec<Dispatch>,
}

impl Program {
    pub fn new() -> Self {
        Program::default()
    }

    pub fn push(&mut self, d: Dispatch) {
        self.dispatches.push(d);
    }

    pub fn append(&mut self, other: Program) {
        self.dispatches.extend(other.dispatches);
    }

    pub fn len(&self) -> usize {
        self.dispatches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dispatches.is_empty()
    }

    /// Records the whole program into `rec`.
    pub fn record(&self, rec: &mut Recorder) {
        rec.run_all(&self.dispatches);
    }
}

impl Gpu {
    /// Records and submits `program` once, without waiting.
    pub fn run(&self, program: &Program) {
        let mut rec = Recorder::new(self);
        program.record(&mut rec);
        rec.submit();
    }
}
