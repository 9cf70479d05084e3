//! CIFAR-10-C (Hendrycks & Dietterich 2019, zenodo.org/record/2535967): the CIFAR-10 test set under 19
//! corruptions at 5 severities, one file per corruption, `<corruption>.npy` [50000, 32, 32, 3] uint8 (rows
//! 10,000·(s−1) .. 10,000·s are severity s), and one `labels.npy` \[50000\] uint8 for all of them.
//!
//! Images stay as the file has them, **HWC** (height, width, channel: `[N, 32, 32, 3]`). The engine's
//! convolutions and the gather kernel read **CHW** planes (`GpuImages`' `plane`), as the CIFAR-10 readers
//! will; [`hwc_to_chw`] converts. `pathprox eval-corrupted` evaluates a VGG19 checkpoint on it, per severity.

#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use super::npy::Npy;
use crate::error::{Error, Result};

/// The 15 corruptions of the benchmark, then the 4 extra ones the archive also holds.
pub const CORRUPTIONS: [&str; 19] = [
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
    "speckle_noise",
    "gaussian_blur",
    "spatter",
    "saturate",
];
pub const LABELS: &str = "labels.npy";
pub const SEVERITIES: usize = 5;
pub const SIDE: usize = 32;
pub const CHANNELS: usize = 3;
pub const CLASSES: usize = 10;

/// One corruption's images, HWC, with the labels, split evenly into [`SEVERITIES`] blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptedImages {
    /// `[n, SIDE, SIDE, CHANNELS]` uint8, as in the file.
    pub hwc: Vec<u8>,
    pub labels: Vec<u8>,
}

impl CorruptedImages {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Images per severity.
    pub fn per_severity(&self) -> usize {
        self.len() / SEVERITIES
    }

    /// The rows of severity `s` (1 to 5).
    pub fn severity_rows(&self, s: usize) -> std::ops::Range<usize> {
        let k = self.per_severity();
        k * (s - 1)..k * s
    }

    /// All images in CHW order (`[n, CHANNELS, SIDE, SIDE]`), what the gather kernel takes.
    pub fn chw(&self) -> Vec<u8> {
        hwc_to_chw(&self.hwc, SIDE, SIDE, CHANNELS)
    }
}

/// Reorders images from `[n, h, w, c]` to `[n, c, h, w]`.
///
/// # Panics
/// If `hwc.len()` is not a multiple of `h·w·c` (callers pass arrays whose shape they checked).
pub fn hwc_to_chw(hwc: &[u8], h: usize, w: usize, c: usize) -> Vec<u8> {
    let per = h * w * c;
    assert!(per > 0 && hwc.len().is_multiple_of(per), "{} bytes are not whole {h}×{w}×{c} images", hwc.len());
    let mut out = vec![0u8; hwc.len()];
    for (src, dst) in hwc.chunks_exact(per).zip(out.chunks_exact_mut(per)) {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    dst[ch * h * w + y * w + x] = src[(y * w + x) * c + ch];
                }
            }
        }
    }
    out
}

/// Parses a labels file: `[N]` of any integer type holding 0–9.
pub fn labels_from_npy(name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let npy = Npy::parse(name, bytes)?;
    if npy.shape.len() != 1 {
        return Err(Error::data(name, format!("shape {:?}, labels are one-dimensional", npy.shape)));
    }
    npy.to_u8_checked(name, (CLASSES - 1) as u8)
}

/// One corruption from its file's bytes and the labels: `[N, 32, 32, 3]` uint8 with N = labels' length, a
/// multiple of [`SEVERITIES`].
pub fn from_npy(images_name: &str, images_bytes: &[u8], labels: &[u8], labels_name: &str) -> Result<CorruptedImages> {
    let npy = Npy::parse(images_name, images_bytes)?;
    let pixels = npy.as_u8(images_name)?;
    let n = match npy.shape[..] {
        [n, SIDE, SIDE, CHANNELS] => n,
        _ => return Err(Error::data(images_name, format!("shape {:?}, CIFAR-10-C images are [N, {SIDE}, {SIDE}, {CHANNELS}] (HWC)", npy.shape))),
    };
    if n != labels.len() {
        return Err(Error::data(images_name, format!("{n} images but {} labels in {labels_name}", labels.len())));
    }
    if n == 0 || !n.is_multiple_of(SEVERITIES) {
        return Err(Error::data(images_name, format!("{n} images do not split into {SEVERITIES} equal severities")));
    }
    Ok(CorruptedImages { hwc: pixels.to_vec(), labels: labels.to_vec() })
}

/// A CIFAR-10-C directory as found on disk.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug)]
pub struct Located {
    pub dir: PathBuf,
    /// The corruptions of [`CORRUPTIONS`] present, in that order.
    pub corruptions: Vec<&'static str>,
}

#[cfg(not(target_arch = "wasm32"))]
impl Located {
    pub fn labels(&self) -> Result<Vec<u8>> {
        let p = self.dir.join(LABELS);
        labels_from_npy(&p.display().to_string(), &super::npy::read_file(&p)?)
    }

    /// Reads one corruption with `labels` (from [`Located::labels`], read once for all).
    pub fn load(&self, corruption: &str, labels: &[u8]) -> Result<CorruptedImages> {
        let p = self.dir.join(format!("{corruption}.npy"));
        from_npy(&p.display().to_string(), &super::npy::read_file(&p)?, labels, LABELS)
    }
}

/// Finds CIFAR-10-C in `dir` or `dir/CIFAR-10-C`: `labels.npy` and at least one `<corruption>.npy`.
#[cfg(not(target_arch = "wasm32"))]
pub fn locate(dir: &Path) -> Option<Located> {
    [dir.join("CIFAR-10-C"), dir.to_path_buf()].into_iter().find_map(|d| {
        let corruptions: Vec<&'static str> = CORRUPTIONS.iter().copied().filter(|c| d.join(format!("{c}.npy")).is_file()).collect();
        (d.join(LABELS).is_file() && !corruptions.is_empty()).then_some(Located { dir: d, corruptions })
    })
}
