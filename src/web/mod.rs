//! The browser build's entry points (wasm-bindgen; `web/` is the page). Everything below the JS boundary
//! is the native engine: the same kernels, models, methods and `MethodRun` trainer. Only three things
//! differ from the CLI: the device comes from the browser's WebGPU, read-backs are awaited instead of
//! blocked on, and the page draws.
//!
//! - [`Engine`]: the WebGPU device, created once per page.
//! - [`toy::ToyDemo`]: the paper's Fig. 2 live (weight decay and PathProx side by side).
//! - [`mnist::MnistDemo`]: Task 1 live on the shipped MNIST subset.

mod methods;
pub mod mnist;
pub mod toy;

use wasm_bindgen::prelude::*;

use crate::gpu::{AdapterChoice, Gpu};

/// The page's GPU. Demos borrow it for as long as the page lives.
#[wasm_bindgen]
pub struct Engine {
    gpu: &'static Gpu,
}

#[wasm_bindgen]
impl Engine {
    /// Asks the browser for a WebGPU adapter and device; rejects with the reason when there is none.
    pub async fn create() -> Result<Engine, JsError> {
        let gpu = Gpu::new(&AdapterChoice::default()).await.map_err(|e| match e {
            // The native message advises Mesa packages; in a page the browser is what must change.
            crate::Error::NoAdapter { backends } => JsError::new(&format!(
                "this browser offered no WebGPU adapter ({backends}). WebGPU needs Chrome or Edge 113 or later \
                 (on Linux: chromium --enable-unsafe-webgpu), Firefox 141 or later on Windows, or Safari 26; \
                 check that hardware acceleration is on"
            )),
            e => js_error(e),
        })?;
        // One device for the page's lifetime: leaking it gives the demos (and their recorded programs) a
        // 'static borrow, as the CLI's stack frame does natively.
        Ok(Engine { gpu: Box::leak(Box::new(gpu)) })
    }

    /// The adapter's name, backend and driver.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> String {
        format!("{} on WebGPU", self.gpu.describe())
    }
}

/// The toy's default settings as JSON (the same as `pathprox toy`'s).
#[wasm_bindgen]
pub fn toy_defaults() -> String {
    serde_json::to_string(&crate::train::toy::ToySettings::default()).expect("settings serialise")
}

pub(crate) fn js_error(e: crate::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// Sets `key` on a JS object.
pub(crate) fn set(obj: &js_sys::Object, key: &str, value: impl Into<JsValue>) {
    // Reflect.set on a plain object cannot fail.
    let _ = js_sys::Reflect::set(obj, &JsValue::from_str(key), &value.into());
}
