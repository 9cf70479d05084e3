//! Data sets on the host: reading the files, finding them, splitting them for the paper's tasks, and
//! downloading them. Nothing here touches the GPU; images stay u8 until a kernel normalises them.
//!
//! - [`idx`]: the IDX file format (MNIST family), parsed from bytes, gzip or raw.
//! - [`mnist`]: the MNIST family: [`Dataset`], where the files are looked for, the seeded task splits.
//! - [`download`]: `pathprox download` (the `download` feature, on by default; not in the browser build,
//!   which fetches bytes itself).
//! - [`rgb`]: colour image sets (CIFAR-10, SVHN) as CHW u8, and the seeded hold-out split of Tasks 3-4.
//! - [`cifar`]: CIFAR-10, binary or Python version, extracted or as `.tar.gz`; [`pickle`]: the safe pickle
//!   reader its Python version needs.
//! - [`svhn`]: SVHN's `*_32x32.mat`; [`mat`]: the MAT v5 reader they need.
//! - [`norm`]: each data set's per-channel normalisation.
//! - [`npy`]: NumPy's `.npy` format; [`mnist_c`] and [`cifar10_c`]: the published corrupted test sets.
//! - [`corrupt`]: `pathprox corrupt mnist`, MNIST-C's corruptions generated locally.
//! - [`toy`]: the 2-D two-class point sets of the paper's Fig. 2 and the browser demo.

pub mod cifar;
pub mod cifar10_c;
pub mod corrupt;
#[cfg(all(feature = "download", not(target_arch = "wasm32")))]
pub mod download;
pub mod idx;
pub mod mat;
pub mod mnist;
pub mod mnist_c;
pub mod norm;
pub mod npy;
pub mod pickle;
pub mod rgb;
#[cfg(not(target_arch = "wasm32"))]
pub mod set;
pub mod svhn;
pub mod toy;

pub use mnist::{Dataset, DatasetKind, Splits, TaskSplit};
pub use norm::Normalization;
#[cfg(not(target_arch = "wasm32"))]
pub use mnist::mnist_splits;
