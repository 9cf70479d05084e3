//! The data sets a task trains on, by their `--dataset` names: [`Set`] knows each one's loader, its
//! normalisation, its channels and image size, and whether training augments it, so that the tasks ask
//! the set instead of matching its name.

use std::path::Path;

use super::mnist::{self, DatasetKind, TaskSplit};
use super::norm::Normalization;
use super::{cifar, rgb, svhn};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    Mnist,
    FashionMnist,
    Cifar10,
    Svhn,
    /// The 2-D toy points of Fig. 2 (generated from the run's toy settings, not read from files).
    Toy,
}

/// Every set with its `--dataset` name: the one table of those names.
const TABLE: [(Set, &str); 5] = [(Set::Mnist, "mnist"), (Set::FashionMnist, "fashion-mnist"), (Set::Cifar10, "cifar10"), (Set::Svhn, "svhn"), (Set::Toy, "toy")];

/// One split on the host, whatever its file format: u8 images (CHW for colour), labels, and where they
/// came from (for logs).
pub struct HostImages {
    pub images: Vec<u8>,
    pub labels: Vec<u32>,
    pub source: String,
}

impl HostImages {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first `n` rows (of `row_len` bytes), or all of them if there are fewer.
    pub fn first(self, n: usize, row_len: usize) -> HostImages {
        if self.len() <= n {
            return self;
        }
        HostImages { images: self.images[..n * row_len].to_vec(), labels: self.labels[..n].to_vec(), source: format!("the first {n} rows of {}", self.source) }
    }
}

/// A task's splits on the host: train, validation, test, and a note to print when they are not the
/// paper's.
pub struct HostSplits {
    pub sets: [HostImages; 3],
    pub note: Option<String>,
}

impl Set {
    /// The set named `name` on the command line or in a run's config.
    pub fn parse(name: &str) -> Result<Set> {
        TABLE.iter().find(|row| row.1 == name).map(|row| row.0).ok_or_else(|| Error::Other(format!("unknown dataset '{name}': expected mnist, fashion-mnist, cifar10, svhn or toy")))
    }

    pub fn name(self) -> &'static str {
        TABLE.iter().find(|row| row.0 == self).expect("every set is in TABLE").1
    }

    /// The per-channel normalisation its images get (docs/algorithm.md's values; the toy's points are used as
    /// they are).
    pub fn normalization(self) -> Normalization {
        match self {
            Set::Mnist | Set::FashionMnist => Normalization::mnist(),
            Set::Cifar10 => Normalization::cifar10(),
            Set::Svhn => Normalization::svhn(),
            Set::Toy => Normalization::identity(1),
        }
    }

    /// MNIST or Fashion-MNIST (the two read by `data::mnist`).
    pub fn mnist_kind(self) -> Option<DatasetKind> {
        match self {
            Set::Mnist => Some(DatasetKind::Mnist),
            Set::FashionMnist => Some(DatasetKind::FashionMnist),
            _ => None,
        }
    }

    /// Colour channels of its images (None for the toy's points).
    pub fn channels(self) -> Option<usize> {
        match self {
            Set::Mnist | Set::FashionMnist => Some(1),
            Set::Cifar10 | Set::Svhn => Some(3),
            Set::Toy => None,
        }
    }

    /// (values per image, values per channel plane, image width) of its images (None for the toy).
    pub fn image_layout(self) -> Option<(usize, usize, usize)> {
        match self.channels()? {
            1 => Some((28 * 28, 28 * 28, 28)),
            _ => Some((rgb::IMAGE_BYTES, rgb::SIDE * rgb::SIDE, rgb::SIDE)),
        }
    }

    /// Whether training augments it (only CIFAR-10: docs/algorithm.md has SVHN normalised only).
    pub fn augmented(self) -> bool {
        self == Set::Cifar10
    }

    /// Its whole training file, read from `dir` (or the default place).
    pub fn train_file(self, dir: Option<&Path>) -> Result<HostImages> {
        if let Some(kind) = self.mnist_kind() {
            let (train, _) = mnist::load(&mnist::locate(dir, kind)?)?;
            return Ok(HostImages { labels: train.labels_u32(), images: train.images, source: train.source });
        }
        let train = match self {
            Set::Cifar10 => cifar::load(&cifar::locate(dir)?)?.train,
            Set::Svhn => svhn::load(&svhn::locate(dir)?)?.0,
            _ => return Err(self.not_on_disk()),
        };
        Ok(HostImages { labels: train.labels_u32(), images: train.images, source: train.source })
    }

    /// Its train / validation / test splits, read from `dir` (or the default place); MNIST's by `rule`.
    pub fn splits(self, dir: Option<&Path>, rule: TaskSplit, seed: u64) -> Result<HostSplits> {
        if let Some(kind) = self.mnist_kind() {
            let s = mnist::mnist_splits(dir, kind, rule, seed)?;
            let set = |d: mnist::Dataset| HostImages { labels: d.labels_u32(), images: d.images, source: d.source };
            return Ok(HostSplits { sets: [set(s.train), set(s.val), set(s.test)], note: s.note });
        }
        let s = match self {
            Set::Cifar10 => cifar::cifar10_splits(dir, seed)?,
            Set::Svhn => svhn::svhn_splits(dir, seed)?,
            _ => return Err(self.not_on_disk()),
        };
        let set = |d: rgb::RgbDataset| HostImages { labels: d.labels_u32(), images: d.images, source: d.source };
        Ok(HostSplits { sets: [set(s.train), set(s.val), set(s.test)], note: s.note })
    }

    fn not_on_disk(self) -> Error {
        Error::Other(format!("the {} data set is generated, not read from files", self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::Set;

    #[test]
    fn names_round_trip_and_each_set_knows_its_layout() {
        for name in ["mnist", "fashion-mnist", "cifar10", "svhn", "toy"] {
            assert_eq!(Set::parse(name).unwrap().name(), name);
        }
        assert!(Set::parse("CIFAR10").unwrap_err().to_string().contains("unknown dataset 'CIFAR10': expected mnist, fashion-mnist, cifar10, svhn or toy"));
        assert_eq!(Set::Mnist.image_layout(), Some((784, 784, 28)));
        assert_eq!(Set::Svhn.image_layout(), Some((3 * 32 * 32, 32 * 32, 32)));
        assert_eq!(Set::Toy.image_layout(), None);
        assert_eq!(Set::Cifar10.normalization().mean.len(), 3);
        assert!(Set::Cifar10.augmented() && !Set::Svhn.augmented());
        assert!(Set::Toy.train_file(None).is_err());
    }
}
