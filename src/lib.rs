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
//!
//! ## Your own network and data
//! Build a [`nn::ModelSpec`] (its PathProx groups pair a ReLU layer with the layer that reads it), upload
//! labelled `f32` rows ([`train::trainer::GpuData::from_examples`]), and train with any
//! [`train::method::Method`]. The full version, with weight decay alongside and a safetensors checkpoint,
//! is `examples/own_mlp.rs`; a conv net is `examples/small_convnet.rs`; the algorithm is
//! `docs/algorithm.md` and the library's guide `docs/library.md`.
//!
//! ```
//! use pathprox::nn::ModelSpec;
//! use pathprox::train::{config::TrainConfig, in_memory::Examples, method::Method};
//! use pathprox::train::trainer::{GpuData, MethodRun};
//!
//! # fn main() -> pathprox::Result<()> {
//! let gpu = pathprox::Gpu::new_blocking(&pathprox::AdapterChoice::default())?;
//! gpu.set_tuning(false); // a network this small: measuring kernel variants would outlast training
//! // 64 examples of 4 features; the class is whether the first feature is positive.
//! let x: Vec<f32> = (0..256).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
//! let labels: Vec<u32> = x.chunks(4).map(|r| (r[0] > 0.0) as u32).collect();
//! // 4 → 16 (ReLU) → 16 → 2; the 16 hidden ReLU units are one PathProx group: (w layer 0, v layer 1).
//! let spec = ModelSpec::mlp("mine", vec![4, 16, 16, 2], vec![true, false, false], vec![(0, 1)])?;
//! let data = GpuData::from_examples(&gpu, &spec, Examples::new(&x, &labels), None, None)?;
//! let cfg = TrainConfig::custom(0.1, 1e-3, 16, 200); // lr, λ, batch, iterations
//! let run = MethodRun::with_spec(&gpu, &cfg, spec, Method::PathProx { balance: true }, &data, true)?;
//! run.steps(0, cfg.iters, &std::sync::atomic::AtomicBool::new(false), &())?;
//! let p = run.log_point(cfg.iters, 0.0, 0.0)?;
//! println!("train accuracy {:.3}, active units {:.1}%", p.train_acc, p.active_units);
//! assert!(p.train_acc > 0.9);
//! run.checkpoint(cfg.iters, 0.0)?.save(&std::env::temp_dir().join("mine.safetensors"))?;
//! # Ok(())
//! # }
//! ```

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
