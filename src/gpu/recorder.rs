//! Recording: many dispatches into one command encoder (one compute pass), then one submit.
//!
//! A training step is a `Vec<Dispatch>` built once; replaying it records ~50 `set_pipeline / set_bind_group /
//! dispatch` triples and allocates nothing.

use super::kernel::Dispatch;
use super::{Gpu, Tensor};

pub struct Recorder<'g> {
    gpu: &'g Gpu,
    encoder: wgpu::CommandEncoder,
    // Declared after `encoder` is irrelevant for drop order: `pass` is always taken before `encoder` is used.
    pass: Option<wgpu::ComputePass<'static>>,
}

impl<'g> Recorder<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        let encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("pathprox") });
        Recorder { gpu, encoder, pass: None }
    }

    fn pass(&mut self) -> &mut wgpu::ComputePass<'static> {
        if self.pass.is_none() {
            // `forget_lifetime` lets the pass live beside its encoder in one struct; wgpu then keeps the encoder
            // locked until the pass is dropped, which `end_pass` does before any other encoder command.
            let pass = self.encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("kernels"), timestamp_writes: None });
            self.pass = Some(pass.forget_lifetime());
        }
        self.pass.as_mut().expect("just created")
    }

    fn end_pass(&mut self) {
        self.pass = None;
    }

    /// Records one dispatch. wgpu inserts the barrier between a write and a later read of the same buffer.
    pub fn run(&mut self, d: &Dispatch) {
        let pass = self.pass();
        pass.set_pipeline(&d.pipeline);
        pass.set_bind_group(0, &d.bind_group, &[]);
        let [x, y, z] = d.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }

    /// Records a sequence of dispatches in order.
    pub fn run_all<'d>(&mut self, ds: impl IntoIterator<Item = &'d Dispatch>) {
        for d in ds {
            self.run(d);
        }
    }

    /// Copies `src` into `dst`; the two must have the same length (a programming error otherwise).
    pub fn copy(&mut self, src: &Tensor, dst: &Tensor) {
        assert_eq!(src.len(), dst.len(), "Recorder::copy: lengths differ");
        self.end_pass();
        self.encoder.copy_buffer_to_buffer(src.buffer(), src.byte_offset(), dst.buffer(), dst.byte_offset(), Some(src.bytes()));
    }

    /// Sets every element of `t` to zero.
    pub fn clear(&mut self, t: &Tensor) {
        self.end_pass();
        self.encoder.clear_buffer(t.buffer(), t.byte_offset(), Some(t.bytes()));
    }

    pub fn finish(mut self) -> wgpu::CommandBuffer {
        self.end_pass();
        self.encoder.finish()
    }

    /// Finishes and submits; returns without waiting for the GPU.
    pub fn submit(self) -> wgpu::SubmissionIndex {
        let gpu = self.gpu;
        gpu.submit([self.finish()])
    }
}
