//! Layers and models as sequences of recorded dispatches with an explicit backward pass for each
//! (llm.c's shape; no autograd tape: the paper's models are fixed sequences). `spec` says what a network
//! is, `zoo` names the paper's, `model` runs any of them.

pub mod conv;
pub mod dense;
pub mod model;
pub mod params;
pub mod spec;
pub mod zoo;

pub use conv::{Conv2d, Pool2d};
pub use dense::Dense;
pub use model::{Activations, Layer, Model, Weights};
pub use params::{ParamClass, ParamStore};
pub use spec::{Init, LayerSpec, ModelSpec};
