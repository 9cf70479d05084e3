//! Layers and models as sequences of recorded dispatches with an explicit backward pass for each
//! (llm.c's shape; no autograd tape: the paper's models are fixed sequences).

pub mod conv;
pub mod dense;
pub mod mlp;
pub mod params;

pub use conv::{Conv2d, Pool2d};
pub use dense::Dense;
pub use mlp::{Mlp, MlpBuffers, MlpSpec};
pub use params::{ParamClass, ParamStore};
