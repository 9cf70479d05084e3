//! SVHN (Street View House Numbers, cropped digits) from its published MAT-files, and the seeded
//! 67,257 / 6,000 split of Task 4 ([`svhn_splits`]).
//!
//! `train_32x32.mat` (73,257 images) and `test_32x32.mat` (26,032) are MATLAB 5.0 MAT-files (read by
//! [`super::mat`]) holding `X`, a uint8 array of MATLAB size [32, 32, 3, N] (row, column, channel, image;
//! column-major, so the row index varies fastest), and `y`, [N, 1] doubles 1-10 where 10 stands for the
//! digit 0. They become an [`RgbDataset`]: CHW images, pixel (c, row, col) of image n taken from
//! `X(row, col, c, n)`, and labels 0-9 (10 → 0), so that label = digit.
//!
//! The files are looked for in `dir`, then `dir/svhn` (default `dir`: `data`).

#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use super::mat::{self, MatData};
use super::rgb::{CHANNELS, IMAGE_BYTES, RgbDataset, SIDE};
#[cfg(not(target_arch = "wasm32"))]
use super::rgb::{RgbSplits, holdout_split};
use crate::{Error, Result};

pub const TRAIN_FILE: &str = "train_32x32.mat";
pub const TEST_FILE: &str = "test_32x32.mat";
/// The published MD5s of the two files.
pub const TRAIN_MD5: &str = "e26dedcc434d2e4c54c9b2d4a06d8373";
pub const TEST_MD5: &str = "eb5a983be6a315427106f1b164d9cef3";
/// Where the files are published.
pub const BASE_URL: &str = "http://ufldl.stanford.edu/housenumbers/";
/// Where `pathprox download svhn` puts them (a place [`locate`] looks).
pub const DEFAULT_DIR: &str = "data/svhn";
/// Validation images of Task 4 (67,257 train / 6,000 validation of the 73,257).
pub const TASK4_VAL: usize = 6_000;

/// Parses one SVHN MAT-file (`name` is for messages): `X` [32, 32, 3, N] uint8 and `y` [N, 1] (or [1, N])
/// with values 1-10. Returns CHW images and labels 0-9 (10 → 0); see the module docs for the layout.
pub fn parse_mat(name: &str, bytes: &[u8]) -> Result<RgbDataset> {
    let file = mat::read(name, bytes, &["X", "y"])?;
    let missing = |v: &str| {
        let found = if file.names.is_empty() { "none".to_string() } else { file.names.join(", ") };
        Error::data(name, format!("no variable '{v}' (the file has: {found}); an SVHN file holds X and y"))
    };
    let x = file.get("X").ok_or_else(|| missing("X"))?;
    let y = file.get("y").ok_or_else(|| missing("y"))?;

    // MATLAB drops trailing singleton dimensions: one image is [32, 32, 3].
    let n = match x.dims.as_slice() {
        [SIDE, SIDE, CHANNELS, n] => *n,
        [SIDE, SIDE, CHANNELS] => 1,
        d => return Err(Error::data(name, format!("X has dimensions {d:?}, expected [32, 32, 3, N]"))),
    };
    let MatData::U8(pixels) = &x.data else {
        return Err(Error::data(name, format!("X is {}, expected uint8", x.class.name())));
    };
    let ny = match y.dims.as_slice() {
        [k, 1] | [1, k] => *k,
        d => return Err(Error::data(name, format!("y has dimensions {d:?}, expected [N, 1]"))),
    };
    if ny != n {
        return Err(Error::data(name, format!("y holds {ny} labels for the {n} images of X")));
    }
    let labels: Vec<u8> = match &y.data {
        MatData::U8(v) => v.iter().map(|&l| l as f64).collect::<Vec<_>>(),
        MatData::F64(v) => v.clone(),
    }
    .iter()
    .enumerate()
    .map(|(i, &l)| {
        if (1.0..=10.0).contains(&l) && l.fract() == 0.0 {
            Ok((l as u8) % 10)
        } else {
            Err(Error::data(
                name,
                format!("label {l} of image {i} is out of range 1-10 (SVHN writes the digit 0 as 10)"),
            ))
        }
    })
    .collect::<Result<_>>()?;

    // X(row, col, c, n) sits at row + 32 col + 1024 c + 3072 n; CHW wants (c, row, col).
    let mut images = vec![0u8; n * IMAGE_BYTES];
    for (img, src) in images.chunks_exact_mut(IMAGE_BYTES).zip(pixels.chunks_exact(IMAGE_BYTES)) {
        for c in 0..CHANNELS {
            let plane = &src[c * SIDE * SIDE..(c + 1) * SIDE * SIDE];
            for col in 0..SIDE {
                for row in 0..SIDE {
                    img[(c * SIDE + row) * SIDE + col] = plane[col * SIDE + row];
                }
            }
        }
    }
    Ok(RgbDataset { images, labels, source: name.to_string() })
}

/// The two files, where [`locate`] found them.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub train: PathBuf,
    pub test: PathBuf,
}

/// Finds `train_32x32.mat` and `test_32x32.mat` in `dir` or `dir/svhn` (default `dir`: `data`). Errors say
/// where they were looked for and how to get them.
#[cfg(not(target_arch = "wasm32"))]
pub fn locate(dir: Option<&Path>) -> Result<Located> {
    let d = dir.map_or_else(|| PathBuf::from("data"), Path::to_path_buf);
    let places = [d.clone(), d.join("svhn")];
    for p in &places {
        let (train, test) = (p.join(TRAIN_FILE), p.join(TEST_FILE));
        if train.is_file() && test.is_file() {
            return Ok(Located { train, test });
        }
    }
    let tried: Vec<String> =
        places.iter().map(|p| format!("  {}/{{{TRAIN_FILE},{TEST_FILE}}}\n", p.display())).collect();
    Err(Error::DatasetNotFound {
        msg: format!(
            "no SVHN found. Looked for:\n{}Get it with `pathprox download svhn` (into data/svhn), or point --data-dir \
             at a folder that holds both files.",
            tried.concat()
        ),
    })
}

/// Reads and parses one SVHN MAT-file from disk.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_mat(path: &Path) -> Result<RgbDataset> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::data(&name, format!("cannot read: {e}")))?;
    parse_mat(&name, &bytes)
}

/// Loads what [`locate`] found: (training set, test set).
#[cfg(not(target_arch = "wasm32"))]
pub fn load(found: &Located) -> Result<(RgbDataset, RgbDataset)> {
    let mut train = read_mat(&found.train)?;
    train.source = format!("SVHN training set at {}", found.train.display());
    let mut test = read_mat(&found.test)?;
    test.source = format!("SVHN test set at {}", found.test.display());
    Ok((train, test))
}

/// Finds, loads and splits SVHN for Task 4: the training file split 67,257 / 6,000 (seeded;
/// [`holdout_split`]) and the official test set (26,032). Print [`RgbSplits::note`] when set.
#[cfg(not(target_arch = "wasm32"))]
pub fn svhn_splits(dir: Option<&Path>, seed: u64) -> Result<RgbSplits> {
    let (train, test) = load(&locate(dir)?)?;
    holdout_split(&train, test, TASK4_VAL, seed)
}
