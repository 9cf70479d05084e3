//! Data sets on the host: reading the files, finding them, splitting them for the paper's tasks, and
//! downloading them. Nothing here touches the GPU; images stay u8 until a kernel normalises them.
//!
//! - [`idx`]: the IDX file format (MNIST family), parsed from bytes, gzip or raw.
//! - [`mnist`]: the MNIST family: [`Dataset`], where the files are looked for, the seeded task splits.
//! - [`npy`]: NumPy's `.npy` format; [`mnist_c`] and [`cifar10_c`]: the published corrupted test sets.
//! - [`corrupt`]: `pathprox corrupt mnist`, MNIST-C's corruptions generated locally.
//! - [`download`]: `pathprox download` (not in the browser build, which fetches bytes itself).

pub mod cifar10_c;
pub mod corrupt;
#[cfg(not(target_arch = "wasm32"))]
pub mod download;
pub mod idx;
pub mod mnist;
pub mod mnist_c;
pub mod npy;

pub use mnist::{Dataset, DatasetKind, Splits, TaskSplit};
#[cfg(not(target_arch = "wasm32"))]
pub use mnist::mnist_splits;
