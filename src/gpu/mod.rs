//! The runtime: adapter choice, the `Gpu` context, tensors, the buffer pool, kernels and recording.

pub mod adapter;
pub mod assigned;
pub mod context;
pub mod kernel;
pub mod pool;
pub mod program;
pub mod recorder;
pub mod tensor;
pub mod tuning;

pub use adapter::AdapterChoice;
pub use context::Gpu;
pub use kernel::{Access, Arg, Dispatch, KernelDef, Pipeline, Shader, Variant};
pub use program::Program;
pub use recorder::Recorder;
pub use tensor::{DType, Tensor};
