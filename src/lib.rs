//! # pathprox
//!
//! PathProx (a proximal gradient method for weight-decay-regularised networks) and its baselines, on a
//! small deep-learning engine in which every tensor operation is a WGSL compute shader run through `wgpu`:
//! the same code runs on Vulkan, Metal, DX12, OpenGL, a CPU through Mesa's software drivers, and WebGPU.
//!
//! ## Data model
//! - A [`gpu::Tensor`] is a row-major, contiguous f32 (or u32) array resident on the GPU; shapes are
//!   checked in Rust before any kernel is dispatched, because a shader cannot report an error.
//! - Linear weights are stored as PyTorch does, `[out, in]`, so checkpoints read the same in other tools.
//! - A kernel ([`gpu::KernelDef`]) is one WGSL entry point from `shaders/`; binding it to tensors gives a
//!   [`gpu::Dispatch`], built once and recorded as many times as needed into a [`gpu::Recorder`].
//! - Each op in [`ops`] has its GPU wrapper and its plain CPU reference side by side (`ops::matmul::cpu`).
//! - Data returns to the host only when asked ([`gpu::Gpu::read_f32`]): metrics, checkpoints, tests.

#[cfg(not(target_arch = "wasm32"))]
pub mod analysis;
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod data;
pub mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod files;
pub mod gpu;
pub mod nn;
pub mod ops;
pub mod progress;
pub mod report;
#[cfg(not(target_arch = "wasm32"))]
pub mod serve;
#[cfg(not(target_arch = "wasm32"))]
pub mod tasks;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
pub use gpu::{AdapterChoice, Gpu, Tensor};
