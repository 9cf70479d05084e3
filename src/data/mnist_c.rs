//! MNIST-C (Mu & Gilmer 2019, arXiv:1906.02337; zenodo.org/record/3239543): the MNIST test set under 15
//! corruptions, one directory per corruption, `mnist_c/<corruption>/test_images.npy` ([10000, 28, 28, 1]
//! uint8) and `test_labels.npy` (\[10000\] uint8), plus `identity/` (the clean test set). Read into the
//! same [`Dataset`] as MNIST, so evaluation is the one of the clean set.
//!
//! The same layout is what `pathprox corrupt mnist` writes ([`super::corrupt`]); such a directory also
//! holds [`PROVENANCE`], and [`Located::generated_locally`] carries its note so that results say which
//! data they are.

#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use super::mnist::{Dataset, CLASSES, SIDE};
use super::npy::Npy;
use crate::error::{Error, Result};

/// The 15 corruptions of MNIST-C, in the paper's order (its `CORRUPTIONS` list, without `identity`).
pub const CORRUPTIONS: [&str; 15] = [
    "shot_noise",
    "impulse_noise",
    "glass_blur",
    "motion_blur",
    "shear",
    "scale",
    "rotate",
    "brightness",
    "translate",
    "stripe",
    "fog",
    "spatter",
    "dotted_line",
    "zigzag",
    "canny_edges",
];
/// The uncorrupted test set, shipped beside the corruptions; reported apart, never in the mean.
pub const IDENTITY: &str = "identity";
pub const TEST_IMAGES: &str = "test_images.npy";
pub const TEST_LABELS: &str = "test_labels.npy";
/// Written by `pathprox corrupt` into the directories it makes; never part of the published set.
pub const PROVENANCE: &str = "provenance.json";

/// A corrupted test set from the bytes of its two files: images `[N, 28, 28, 1]` (or `[N, 28, 28]`) uint8
/// and labels `[N]` of any integer type holding 0–9. The names are for errors.
pub fn from_npy(images_name: &str, images_bytes: &[u8], labels_name: &str, labels_bytes: &[u8], source: impl Into<String>) -> Result<Dataset> {
    let images = Npy::parse(images_name, images_bytes)?;
    let pixels = images.as_u8(images_name)?;
    let n = match images.shape[..] {
        [n, SIDE, SIDE, 1] | [n, SIDE, SIDE] => n,
        _ => return Err(Error::data(images_name, format!("shape {:?}, MNIST-C images are [N, {SIDE}, {SIDE}, 1]", images.shape))),
    };
    let labels = Npy::parse(labels_name, labels_bytes)?;
    if labels.shape != [n] {
        let msg = format!("shape {:?} does not match the {n} images of {images_name} (expected [{n}])", labels.shape);
        return Err(Error::data(labels_name, msg));
    }
    let labels = labels.to_u8_checked(labels_name, (CLASSES - 1) as u8)?;
    Ok(Dataset { images: pixels.to_vec(), labels, rows: SIDE, cols: SIDE, source: source.into() })
}

/// An MNIST-C directory as found on disk.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug)]
pub struct Located {
    /// The directory holding the corruption directories.
    pub dir: PathBuf,
    /// The corruptions of [`CORRUPTIONS`] present, in that order.
    pub corruptions: Vec<&'static str>,
    /// Whether `identity/` is present.
    pub identity: bool,
    /// The provenance note when `pathprox corrupt` made the data (None: presumably the published set).
    pub generated_locally: Option<String>,
}

#[cfg(not(target_arch = "wasm32"))]
impl Located {
    /// Reads one corruption (or [`IDENTITY`]) as a data set.
    pub fn load(&self, corruption: &str) -> Result<Dataset> {
        let d = self.dir.join(corruption);
        let (ip, lp) = (d.join(TEST_IMAGES), d.join(TEST_LABELS));
        let (ib, lb) = (super::npy::read_file(&ip)?, super::npy::read_file(&lp)?);
        from_npy(&ip.display().to_string(), &ib, &lp.display().to_string(), &lb, format!("MNIST-C {corruption} ({})", d.display()))
    }
}

/// Finds MNIST-C in `dir` or `dir/mnist_c`: a directory with at least one `<corruption>/test_images.npy`.
/// Unknown subdirectories are ignored; the error lists what was looked for.
#[cfg(not(target_arch = "wasm32"))]
pub fn locate(dir: &Path) -> Result<Located> {
    let has = |d: &Path, c: &str| d.join(c).join(TEST_IMAGES).is_file();
    for d in [dir.join("mnist_c"), dir.to_path_buf()] {
        let corruptions: Vec<&'static str> = CORRUPTIONS.iter().copied().filter(|c| has(&d, c)).collect();
        if corruptions.is_empty() {
            continue;
        }
        let generated_locally = match std::fs::read_to_string(d.join(PROVENANCE)) {
            Ok(text) => Some(provenance_note(&text)),
            Err(_) => None,
        };
        return Ok(Located { identity: has(&d, IDENTITY), dir: d, corruptions, generated_locally });
    }
    Err(Error::DatasetNotFound {
        msg: format!(
            "no MNIST-C found in {0} or {0}/mnist_c: expected <corruption>/{TEST_IMAGES} and {TEST_LABELS} for some of {1}.\n\
             Get the published set from https://zenodo.org/record/3239543 (mnist_c.zip), or generate a local \
             approximation with `pathprox corrupt mnist --out DIR`",
            dir.display(),
            CORRUPTIONS.join(", ")
        ),
    })
}

/// The line results carry for locally generated data: the provenance's `note`, or a fixed one.
#[cfg(not(target_arch = "wasm32"))]
fn provenance_note(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("note").and_then(|n| n.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "generated locally, not the published MNIST-C".into())
}

/// Writes a data set in MNIST-C's layout: `<dir>/<corruption>/test_images.npy` [N, 28, 28, 1] uint8 and
/// `test_labels.npy` \[N\] uint8.
#[cfg(not(target_arch = "wasm32"))]
pub fn write(dir: &Path, corruption: &str, data: &Dataset) -> Result<()> {
    let d = dir.join(corruption);
    let io = |p: &Path, e: std::io::Error| Error::Other(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
    let images = super::npy::to_bytes_u8(&[data.len(), data.rows, data.cols, 1], &data.images)?;
    let labels = super::npy::to_bytes_u8(&[data.len()], &data.labels)?;
    for (name, bytes) in [(TEST_IMAGES, images), (TEST_LABELS, labels)] {
        let p = d.join(name);
        crate::files::write_atomically(&p, &bytes)?;
    }
    Ok(())
}
