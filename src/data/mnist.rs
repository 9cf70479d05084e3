//! The MNIST family (MNIST, Fashion-MNIST): the in-memory [`Dataset`], finding the files on disk, and the
//! seeded train/validation/test splits of the paper's tasks ([`mnist_splits`]).
//!
//! # Where the files are looked for ([`locate`])
//! File names are the official ones, each with or without `.gz`; an image file and its label file must sit
//! in the same directory.
//! - MNIST, `dir` (default `data/`): the official `train-*` and `t10k-*` files in `dir` or `dir/mnist`;
//!   failing the official training set, the shipped 10,000-image subset `train-10k-*` in `dir/mnist-10k`,
//!   `dir` or `dir/mnist`. The official test set is used whenever it is found, also next to the subset
//!   (that is the layout of the project's shared data directory, `--data-dir ../shared/data/mnist`).
//! - Fashion-MNIST: with a `dir`, in `dir/fashion-mnist` then `dir`; without one, in `data/fashion-mnist`
//!   then `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`). No subset exists.
//!
//! # Splits ([`split`]), all drawn from one `ChaCha8Rng` seeded with the run's seed
//! - The official test set, when present, is the test set, untouched.
//! - Without it, a tenth of the training file (1,000 of the 10k subset) is drawn at random as the test set,
//!   and the [`Splits::note`] says so: those numbers are not comparable with the paper's.
//! - The rest of the training file (the "pool") is then split by the task's rule:
//!   - [`TaskSplit::PerClass`]`(k)` (Task 1, k = 100): k random images of each class train, the rest of the
//!     pool validates. 60k official: 1,000 / 59,000; 10k subset + official test: 1,000 / 9,000; 10k subset
//!     alone: 1,000 / 8,000 / 1,000 test.
//!   - [`TaskSplit::Holdout`]`(v)` (Task 2, v = 5,000): min(v, a tenth of the training file) random images
//!     validate, the rest train. 60k official: 55,000 / 5,000; 10k subset + official test: 9,000 / 1,000;
//!     10k subset alone: 8,000 / 1,000 / 1,000 test.
//! - Each part keeps the images in file order; shuffling for SGD is the sampler's business.
//! - The shuffle is written here (Fisher–Yates over ChaCha8's documented, value-stable stream) rather than
//!   taken from `rand`, whose shuffle has changed between versions: a seed names the same split for good.

#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::{Error, Result};

/// Number of classes in every MNIST-family set.
pub const CLASSES: usize = 10;
/// Side of an MNIST-family image.
pub const SIDE: usize = 28;
/// Default `--data-dir` (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "data";
/// Where Debian's `dataset-fashion-mnist` package installs the Fashion-MNIST files.
pub const FASHION_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Official file names, without `.gz`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// The shipped subset (the first 10,000 official training images), without `.gz`.
pub const SUBSET_IMAGES: &str = "train-10k-images-idx3-ubyte";
pub const SUBSET_LABELS: &str = "train-10k-labels-idx1-ubyte";
/// Directory of the shipped subset under the data directory.
pub const SUBSET_DIR: &str = "mnist-10k";

/// Images as bytes, one row of `rows * cols` pixels per image (row-major, 0 = background), and their
/// labels, with a line saying where they came from. Pixels stay u8: normalising is the GPU's job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// `[len, rows * cols]`, row-major.
    pub images: Vec<u8>,
    /// One label per image, each `< CLASSES`.
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
    /// Where this came from, for logs: files, which part of them, the seed.
    pub source: String,
}

impl Dataset {
    /// A data set from the bytes of an IDX image file and an IDX label file (gzip or raw): checks that the
    /// counts agree, that images are 28×28 and that every label is below [`CLASSES`]. The names are for
    /// error messages.
    pub fn from_idx(
        images_name: &str,
        images_bytes: &[u8],
        labels_name: &str,
        labels_bytes: &[u8],
        source: impl Into<String>,
    ) -> Result<Self> {
        let images = super::idx::parse_images(images_name, images_bytes)?;
        let labels = super::idx::parse_labels(labels_name, labels_bytes)?;
        Self::from_parts(images_name, images, labels_name, labels, source.into())
    }

    fn from_parts(
        images_name: &str,
        images: super::idx::Images,
        labels_name: &str,
        labels: Vec<u8>,
        source: String,
    ) -> Result<Self> {
        if (images.rows, images.cols) != (SIDE, SIDE) {
            let msg = format!("images are {}×{}, an MNIST-family set has {SIDE}×{SIDE}", images.rows, images.cols);
            return Err(Error::data(images_name, msg));
        }
        if labels.len() != images.count {
            let msg = format!("{} labels for the {} images of {images_name}", labels.len(), images.count);
            return Err(Error::data(labels_name, msg));
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|&(_, &l)| l as usize >= CLASSES) {
            let msg = format!("label {l} at index {i} is out of range: an MNIST-family set has {CLASSES} classes (0-9)");
            return Err(Error::data(labels_name, msg));
        }
        Ok(Dataset { images: images.pixels, labels, rows: images.rows, cols: images.cols, source })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image (784).
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.pixels_per_image();
        &self.images[i * n..(i + 1) * n]
    }

    /// The labels widened to u32, as the GPU kernels take them.
    pub fn labels_u32(&self) -> Vec<u32> {
        self.labels.iter().map(|&l| l as u32).collect()
    }

    /// How many images of each class.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The images at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range (the split code only passes indices it drew from `0..len`).
    pub fn select(&self, indices: &[usize], source: impl Into<String>) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * self.pixels_per_image());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        Dataset { images, labels, rows: self.rows, cols: self.cols, source: source.into() }
    }
}

/// Which MNIST-family set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
}

impl DatasetKind {
    /// Display name: "MNIST", "Fashion-MNIST".
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
        }
    }

    /// Command-line name: "mnist", "fashion-mnist".
    pub fn cli_name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
        }
    }
}

impl std::str::FromStr for DatasetKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "mnist" => Ok(DatasetKind::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" | "fashion" => Ok(DatasetKind::FashionMnist),
            _ => Err(Error::Other(format!("unknown data set '{s}': expected mnist or fashion-mnist"))),
        }
    }
}

/// How a task divides the training file between training and validation (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskSplit {
    /// This many random images of each class train; the rest of the pool validates.
    PerClass(usize),
    /// This many random images validate (at most a tenth of the training file); the rest train.
    Holdout(usize),
}

impl TaskSplit {
    /// Task 1: 100 per class from the training set, validation = the rest of it.
    pub const TASK1: TaskSplit = TaskSplit::PerClass(100);
    /// Task 2: the 60k training set split 55k/5k.
    pub const TASK2: TaskSplit = TaskSplit::Holdout(5000);
}

/// Train, validation and test sets, and a note for the user when they are not the paper's.
#[derive(Clone, Debug)]
pub struct Splits {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Dataset,
    /// Set when the data differ from the paper's (subset instead of the official training set, test set
    /// held out of the training file): the CLI prints it at start.
    pub note: Option<String>,
}

/// Splits `train_file` (and takes `test_file` as the test set, or holds a tenth of `train_file` out for
/// testing when there is none) by `rule`, with `seed`. See the module docs for the rules. `note` is passed
/// through to [`Splits::note`], extended when the test set is held out.
pub fn split(
    train_file: &Dataset,
    test_file: Option<&Dataset>,
    rule: TaskSplit,
    seed: u64,
    note: Option<String>,
) -> Result<Splits> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = train_file.len();
    let tenth = n / 10;
    let (mut pool, test, note) = match test_file {
        Some(t) => ((0..n).collect::<Vec<_>>(), t.clone(), note),
        None => {
            if tenth == 0 {
                return Err(Error::Other(format!("{}: too few images ({n}) to hold a test set out", train_file.source)));
            }
            let mut perm: Vec<usize> = (0..n).collect();
            shuffle(&mut perm, &mut rng);
            let (test_idx, pool) = perm.split_at(tenth);
            let mut test_idx = test_idx.to_vec();
            test_idx.sort_unstable();
            let mut pool = pool.to_vec();
            pool.sort_unstable();
            let source = format!("test: {tenth} of {n} (held out, seed {seed}) from {}", train_file.source);
            let held = format!(
                "No official test set found: testing on {tenth} images held out (seeded) from the training file; \
                 test accuracy is not comparable with the paper's."
            );
            let note = Some(match note {
                Some(n) => format!("{n}\n{held}"),
                None => held,
            });
            (pool, train_file.select(&test_idx, source), note)
        }
    };

    shuffle(&mut pool, &mut rng);
    let (mut train_idx, mut val_idx, how) = match rule {
        TaskSplit::PerClass(k) => {
            let mut taken = [0usize; CLASSES];
            let (mut train, mut val) = (Vec::with_capacity(k * CLASSES), Vec::with_capacity(pool.len()));
            for &i in &pool {
                let c = train_file.labels[i] as usize;
                if taken[c] < k {
                    taken[c] += 1;
                    train.push(i);
                } else {
                    val.push(i);
                }
            }
            if let Some(c) = (0..CLASSES).find(|&c| taken[c] < k) {
                let msg = format!("class {c} has only {} images in the training pool; {k} per class were asked for", taken[c]);
                return Err(Error::Other(format!("{}: {msg}", train_file.source)));
            }
            (train, val, format!("{k} per class"))
        }
        TaskSplit::Holdout(v) => {
            let v = v.min(tenth);
            if v == 0 || v >= pool.len() {
                let msg = format!("cannot hold {v} of {} images out for validation", pool.len());
                return Err(Error::Other(format!("{}: {msg}", train_file.source)));
            }
            let (val, train) = pool.split_at(v);
            (train.to_vec(), val.to_vec(), format!("{} held out for validation", v))
        }
    };
    if train_idx.is_empty() || val_idx.is_empty() {
        return Err(Error::Other(format!("{}: the {how} split leaves a part empty", train_file.source)));
    }
    train_idx.sort_unstable();
    val_idx.sort_unstable();
    let part = |what: &str, k: usize| format!("{what}: {k} of {n} ({how}, seed {seed}) from {}", train_file.source);
    Ok(Splits {
        train: train_file.select(&train_idx, part("train", train_idx.len())),
        val: train_file.select(&val_idx, part("validation", val_idx.len())),
        test,
        note,
    })
}

/// Fisher–Yates with an unbiased bounded draw (Lemire's multiply-and-reject).
pub(crate) fn shuffle(v: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..v.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// A uniform integer in `0..n` (n > 0).
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = rng.next_u64() as u128 * n as u128;
        if m as u64 >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// An image file and its label file.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePair {
    pub images: PathBuf,
    pub labels: PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl FilePair {
    /// Reads, parses and checks both files (see [`Dataset::from_idx`]).
    pub fn load(&self, source: impl Into<String>) -> Result<Dataset> {
        let images = super::idx::read_images(&self.images)?;
        let labels = super::idx::read_labels(&self.labels)?;
        let (iname, lname) = (self.images.display().to_string(), self.labels.display().to_string());
        Dataset::from_parts(&iname, images, &lname, labels, source.into())
    }
}

/// What [`locate`] found.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub kind: DatasetKind,
    /// The official training set, or else the shipped subset.
    pub train: FilePair,
    /// True when `train` is the 10k subset.
    pub train_is_subset: bool,
    /// The official test set, when found.
    pub test: Option<FilePair>,
}

/// Finds the files of `kind` under `dir` (see the module docs for where); `None` means the default place.
/// Errors list every path tried and how to get the files.
#[cfg(not(target_arch = "wasm32"))]
pub fn locate(dir: Option<&Path>, kind: DatasetKind) -> Result<Located> {
    let official: Vec<PathBuf> = match (kind, dir) {
        (DatasetKind::Mnist, d) => {
            let d = d.map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), Path::to_path_buf);
            vec![d.clone(), d.join("mnist")]
        }
        (DatasetKind::FashionMnist, Some(d)) => vec![d.join("fashion-mnist"), d.to_path_buf()],
        (DatasetKind::FashionMnist, None) => {
            vec![Path::new(DEFAULT_DATA_DIR).join("fashion-mnist"), PathBuf::from(FASHION_SYSTEM_DIR)]
        }
    };
    let subset: Vec<PathBuf> = match kind {
        DatasetKind::Mnist => {
            let d = dir.map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), Path::to_path_buf);
            vec![d.join(SUBSET_DIR), d.clone(), d.join("mnist")]
        }
        DatasetKind::FashionMnist => vec![],
    };

    let test = find_pair(&official, TEST_IMAGES, TEST_LABELS);
    let (train, train_is_subset) = match find_pair(&official, TRAIN_IMAGES, TRAIN_LABELS) {
        Some(p) => (p, false),
        None => match find_pair(&subset, SUBSET_IMAGES, SUBSET_LABELS) {
            Some(p) => (p, true),
            None => return Err(not_found(kind, dir, &official, &subset)),
        },
    };
    Ok(Located { kind, train, train_is_subset, test })
}

/// The first directory holding both files (each as `NAME.gz` or `NAME`).
#[cfg(not(target_arch = "wasm32"))]
fn find_pair(dirs: &[PathBuf], images: &str, labels: &str) -> Option<FilePair> {
    let find = |d: &Path, stem: &str| {
        [format!("{stem}.gz"), stem.to_string()].into_iter().map(|f| d.join(f)).find(|p| p.is_file())
    };
    dirs.iter().find_map(|d| Some(FilePair { images: find(d, images)?, labels: find(d, labels)? }))
}

#[cfg(not(target_arch = "wasm32"))]
fn not_found(kind: DatasetKind, dir: Option<&Path>, official: &[PathBuf], subset: &[PathBuf]) -> Error {
    let mut msg = format!("no {} training data found. Looked for:\n", kind.name());
    for d in official {
        msg += &format!("  {}/{{{TRAIN_IMAGES},{TRAIN_LABELS}}}[.gz]\n", d.display());
    }
    for d in subset {
        msg += &format!("  {}/{{{SUBSET_IMAGES},{SUBSET_LABELS}}}[.gz]  (the 10k subset)\n", d.display());
    }
    let here = dir.map_or_else(|| format!("{DEFAULT_DATA_DIR} (the default)"), |d| d.display().to_string());
    msg += &format!("in --data-dir {here}. ");
    msg += match kind {
        DatasetKind::Mnist => {
            "Get the official files with `pathprox download mnist` (into data/mnist), or point --data-dir at a \
             directory that holds them or the subset (in this project's checkout: --data-dir ../shared/data/mnist)."
        }
        DatasetKind::FashionMnist => {
            "Install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu, into \
             /usr/share/datasets/fashion-mnist) or `pathprox download fashion-mnist` (into data/fashion-mnist), \
             or point --data-dir at a directory that holds them."
        }
    };
    Error::DatasetNotFound { msg }
}

/// Loads what [`locate`] found.
#[cfg(not(target_arch = "wasm32"))]
pub fn load(found: &Located) -> Result<(Dataset, Option<Dataset>)> {
    let name = found.kind.name();
    let what = if found.train_is_subset { "training subset (10k)" } else { "training set" };
    let train = found.train.load(format!("{name} {what} at {}", found.train.images.display()))?;
    let test = match &found.test {
        Some(p) => Some(p.load(format!("{name} test set at {}", p.images.display()))?),
        None => None,
    };
    Ok((train, test))
}

/// Finds, loads and splits `kind` for a task: the one call a training run makes. `dir: None` means the
/// default place. Print [`Splits::note`] when it is set.
#[cfg(not(target_arch = "wasm32"))]
pub fn mnist_splits(dir: Option<&Path>, kind: DatasetKind, rule: TaskSplit, seed: u64) -> Result<Splits> {
    let found = locate(dir, kind)?;
    let (train, test) = load(&found)?;
    let note = found.train_is_subset.then(|| {
        format!(
            "{}: the official 60,000-image training set was not found; using the 10,000-image subset {} \
             (the first 10,000 official training images). Run `pathprox download mnist` for the full set.",
            kind.name(),
            found.train.images.display()
        )
    });
    split(&train, test.as_ref(), rule, seed, note)
}
