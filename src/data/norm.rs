//! How each data set's u8 images become network inputs: x = (byte/255 − mean\[c\]) / std\[c\] per channel
//! (docs/algorithm.md, "Tasks"), applied on the GPU by `ops::gather`.

pub const MNIST_MEAN: f32 = 0.1307;
pub const MNIST_STD: f32 = 0.3081;

/// Per-channel mean and standard deviation of the normalisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// MNIST and Fashion-MNIST (the paper uses MNIST's statistics for both tasks it runs on them).
    pub fn mnist() -> Self {
        Normalization { mean: vec![MNIST_MEAN], std: vec![MNIST_STD] }
    }

    /// CIFAR-10, as docs/algorithm.md gives it (kuangliu/pytorch-cifar's values).
    pub fn cifar10() -> Self {
        Normalization { mean: vec![0.4914, 0.4822, 0.4465], std: vec![0.2023, 0.1994, 0.2010] }
    }

    /// SVHN: the paper says "normalised" without values; these are the per-channel mean and standard
    /// deviation of SVHN's training images, as commonly used.
    pub fn svhn() -> Self {
        Normalization { mean: vec![0.4377, 0.4438, 0.4728], std: vec![0.1980, 0.2010, 0.1970] }
    }

    /// None: values used as they are (the 2-D toy's points).
    pub fn identity(channels: usize) -> Self {
        Normalization { mean: vec![0.0; channels], std: vec![1.0; channels] }
    }
}
