//! Data sets on the host: reading the files, finding them, splitting them for the paper's tasks, and
//! downloading them. Nothing here touches the GPU; images stay u8 until a kernel normalises them.
//!
//! - [`idx`]: the IDX file format (MNIST family), parsed from bytes, gzip or raw.
//! - [`mnist`]: the MNIST family: [`Dataset`], where the files are looked for, the seeded task splits.
//! - [`download`]: `pathprox download` (the `download` feature, on by default; not in the browser build,
//!   which fetches bytes itself).

#[cfg(all(feature = "download", not(target_arch = "wasm32")))]
pub mod download;
pub mod idx;
pub mod mnist;

pub use mnist::{Dataset, DatasetKind, Splits, TaskSplit};
#[cfg(not(target_arch = "wasm32"))]
pub use mnist::mnist_splits;
