//! Colour image sets (CIFAR-10, SVHN): u8 images in CHW order with u8 labels, and the seeded
//! train/validation hold-out split of Tasks 3 and 4.
//!
//! The split is the MNIST Task 2 rule ([`super::mnist::split`] with `TaskSplit::Holdout`) on colour
//! images: one `ChaCha8Rng` seeded with the run's seed shuffles `0..n` with the same Fisher–Yates, the
//! first `min(v, n / 10)` indices (at least one) validate and the rest train, each part kept in file order. On the real
//! files that is exactly the paper's split: CIFAR-10 50,000 → 45,000 / 5,000 (v = 5,000), SVHN 73,257 →
//! 67,257 / 6,000 (v = 6,000); on a small file the tenth cap keeps both parts non-empty, and
//! [`RgbSplits::note`] says the numbers differ from the paper's.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::{Error, Result};

/// Classes of CIFAR-10 and of SVHN (digit 0 is label 0).
pub const CLASSES: usize = 10;
/// Colour channels (R, G, B).
pub const CHANNELS: usize = 3;
/// Side of a CIFAR-10 / SVHN image.
pub const SIDE: usize = 32;
/// Bytes of one image: 3 × 32 × 32 = 3,072.
pub const IMAGE_BYTES: usize = CHANNELS * SIDE * SIDE;

/// Images and labels of a colour set. Pixels stay u8 (normalising is the GPU's job).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbDataset {
    /// `[len, 3, 32, 32]`: image after image, each the R plane, then G, then B, each plane row-major
    /// (row 0 is the top of the picture, column 0 its left edge): the layout PyTorch's `ToTensor` gives.
    pub images: Vec<u8>,
    /// One label per image, each `< CLASSES`.
    pub labels: Vec<u8>,
    /// Where this came from, for logs.
    pub source: String,
}

impl RgbDataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image (3,072), the row length the GPU upload takes.
    pub fn pixels_per_image(&self) -> usize {
        IMAGE_BYTES
    }

    /// The 3,072 bytes of image `i`, CHW.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }

    /// Pixel (channel `c`, row `y`, column `x`) of image `i`.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn pixel(&self, i: usize, c: usize, y: usize, x: usize) -> u8 {
        assert!(c < CHANNELS && y < SIDE && x < SIDE, "pixel ({c}, {y}, {x}) outside 3×32×32");
        self.image(i)[(c * SIDE + y) * SIDE + x]
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
    /// If an index is out of range (the split only passes indices it drew from `0..len`).
    pub fn select(&self, indices: &[usize], source: impl Into<String>) -> RgbDataset {
        let mut images = Vec::with_capacity(indices.len() * IMAGE_BYTES);
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        RgbDataset { images, labels: indices.iter().map(|&i| self.labels[i]).collect(), source: source.into() }
    }

    /// Appends `other` (used to join the five CIFAR-10 training batches).
    pub fn append(&mut self, other: RgbDataset) {
        self.images.extend_from_slice(&other.images);
        self.labels.extend_from_slice(&other.labels);
    }

    /// Checks the invariants a reader must establish: whole images, one label each, labels below 10.
    /// `name` is the file the data came from, for the message.
    pub fn check(&self, name: &str) -> Result<()> {
        if self.images.len() != self.labels.len() * IMAGE_BYTES {
            let msg =
                format!("{} bytes of pixels for {} labels (3,072 per image)", self.images.len(), self.labels.len());
            return Err(Error::data(name, msg));
        }
        if let Some((i, &l)) = self.labels.iter().enumerate().find(|&(_, &l)| l as usize >= CLASSES) {
            return Err(Error::data(name, format!("label {l} of image {i} is out of range 0-9")));
        }
        Ok(())
    }
}

/// Train, validation and test sets of a colour task, and a note when they differ from the paper's.
#[derive(Clone, Debug)]
pub struct RgbSplits {
    pub train: RgbDataset,
    pub val: RgbDataset,
    pub test: RgbDataset,
    /// Set when the split is not the paper's (a training file smaller than the official one): print it.
    pub note: Option<String>,
}

/// Holds `min(val, n / 10)` (at least 1) seeded random images of `train_file` out for validation, trains on the rest;
/// `test` is the official test set, untouched. Both parts keep file order. See the module docs.
pub fn holdout_split(train_file: &RgbDataset, test: RgbDataset, val: usize, seed: u64) -> Result<RgbSplits> {
    let n = train_file.len();
    if n < 2 || val == 0 {
        return Err(Error::Other(format!("{}: too few images ({n}) to hold a validation set out", train_file.source)));
    }
    // At least one, so that a smoke test on a few images still has a validation set.
    let v = val.min(n / 10).max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pool: Vec<usize> = (0..n).collect();
    super::mnist::shuffle(&mut pool, &mut rng);
    let (val_idx, train_idx) = pool.split_at(v);
    let (mut val_idx, mut train_idx) = (val_idx.to_vec(), train_idx.to_vec());
    val_idx.sort_unstable();
    train_idx.sort_unstable();
    let part =
        |what: &str, k: usize| format!("{what}: {k} of {n} ({v} held out, seed {seed}) from {}", train_file.source);
    let note = (v != val).then(|| {
        format!(
            "{}: {n} training images, so {v} (a tenth, at least one) are held out for validation instead of the paper's {val}",
            train_file.source
        )
    });
    Ok(RgbSplits {
        train: train_file.select(&train_idx, part("train", train_idx.len())),
        val: train_file.select(&val_idx, part("validation", v)),
        test,
        note,
    })
}
