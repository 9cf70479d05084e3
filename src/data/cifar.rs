//! CIFAR-10 from its published files, in either published version, extracted or straight from the
//! `.tar.gz`, and the seeded 45k/5k split of Task 3 ([`cifar10_splits`]).
//!
//! # The two versions
//! - Binary (`cifar-10-binary.tar.gz` → `cifar-10-batches-bin/data_batch_1.bin` … `data_batch_5.bin`,
//!   `test_batch.bin`): 10,000 records per file, each 1 label byte (0-9) then 3,072 pixel bytes: the
//!   1,024 red values of the 32×32 image in row-major order, then the green, then the blue.
//! - Python (`cifar-10-python.tar.gz` → `cifar-10-batches-py/data_batch_1` … `data_batch_5`,
//!   `test_batch`): a pickled dict (written by Python 2's cPickle, protocol 2) with `b'data'`, a
//!   [10000, 3072] uint8 numpy array whose rows are laid out as the binary records' pixels, and
//!   `b'labels'`, a list of ints; read by [`super::pickle`], which runs no code.
//!
//! Both give the same [`RgbDataset`]: CHW images (the record's pixel bytes as they are) and u8 labels.
//!
//! # Where the files are looked for ([`locate`])
//! In each of `dir`, `dir/cifar10` and `dir/cifar-10` (default `dir`: `data`), or in `dir` itself when it
//! names an archive: the extracted `cifar-10-batches-bin/` (or that folder itself), the extracted
//! `cifar-10-batches-py/` (or that folder itself), then `cifar-10-binary.tar.gz`, then
//! `cifar-10-python.tar.gz`. Archives are read as a stream: only the six batches are kept.
//!
//! # Checks
//! A binary batch must be a whole, non-zero number of 3,073-byte records; a pickled one must hold a uint8
//! `[N, 3072]` C-ordered array and N labels; every label must be 0-9; a tar member may not exceed
//! [`MAX_MEMBER`]. Every failure is one line naming the file (`archive:member` inside an archive).

#[cfg(not(target_arch = "wasm32"))]
use std::io::Read;
#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use super::pickle::{self, Value};
use super::rgb::{CLASSES, IMAGE_BYTES, RgbDataset};
#[cfg(not(target_arch = "wasm32"))]
use super::rgb::{RgbSplits, holdout_split};
use crate::{Error, Result};

/// Bytes of one binary record: 1 label + 3,072 pixels.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Images per official batch file.
pub const BATCH_IMAGES: usize = 10_000;
/// The five training batches, in order, then the test batch, binary version.
pub const BINARY_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];
/// The same, Python version.
pub const PYTHON_FILES: [&str; 6] =
    ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"];
/// Folder the binary archive extracts to.
pub const BINARY_DIR: &str = "cifar-10-batches-bin";
/// Folder the Python archive extracts to.
pub const PYTHON_DIR: &str = "cifar-10-batches-py";
/// The published archives and their published MD5s.
pub const BINARY_ARCHIVE: &str = "cifar-10-binary.tar.gz";
pub const BINARY_ARCHIVE_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
pub const PYTHON_ARCHIVE: &str = "cifar-10-python.tar.gz";
pub const PYTHON_ARCHIVE_MD5: &str = "c58f30108f718f92721af3b95e74349a";
/// Where the archives are published.
pub const BASE_URL: &str = "https://www.cs.toronto.edu/~kriz/";
/// Where `pathprox download cifar10` puts them (a place [`locate`] looks).
pub const DEFAULT_DIR: &str = "data/cifar10";
/// Largest batch file accepted (the official ones are 30.7 MB binary, 31.0 MB pickled): a corrupt tar
/// header cannot make us read more.
pub const MAX_MEMBER: u64 = 64 << 20;
/// Validation images of Task 3 (45,000 train / 5,000 validation of the 50,000).
pub const TASK3_VAL: usize = 5_000;

/// Parses one binary batch: `[N × (label, R plane, G plane, B plane)]`. Returns CHW images (each record's
/// 3,072 pixel bytes unchanged) and the labels. `name` is for messages.
pub fn parse_binary_batch(name: &str, bytes: &[u8]) -> Result<RgbDataset> {
    if bytes.is_empty() {
        return Err(Error::data(name, "is empty: a CIFAR-10 binary batch holds 3,073-byte records"));
    }
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        let hint = if bytes.len().is_multiple_of(RECORD_BYTES + 1) {
            " (it is a whole number of 3,074-byte records: CIFAR-100's binary format, with 2 label bytes, not CIFAR-10's)"
        } else {
            " (truncated, or not a CIFAR-10 binary batch)"
        };
        let msg = format!(
            "{} bytes is not a whole number of 3,073-byte records (1 label byte + 3,072 pixels){hint}",
            bytes.len()
        );
        return Err(Error::data(name, msg));
    }
    let n = bytes.len() / RECORD_BYTES;
    let mut images = Vec::with_capacity(n * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        if rec[0] as usize >= CLASSES {
            return Err(Error::data(name, format!("label {} of record {i} is out of range 0-9", rec[0])));
        }
        labels.push(rec[0]);
        images.extend_from_slice(&rec[1..]);
    }
    Ok(RgbDataset { images, labels, source: name.to_string() })
}

/// Parses one pickled batch of the Python version (see the module docs). Returns CHW images (the array's
/// rows unchanged) and the labels. `name` is for messages.
pub fn parse_python_batch(name: &str, bytes: &[u8]) -> Result<RgbDataset> {
    let dict = pickle::load(name, bytes)?;
    if !matches!(dict, Value::Dict(_)) {
        return Err(Error::data(name, format!("the pickle holds a {}, a CIFAR-10 batch is a dict", dict.kind())));
    }
    let keys = || dict.text_keys().join(", ");
    if dict.get("fine_labels").is_some() {
        return Err(Error::data(name, "has 'fine_labels': this is a CIFAR-100 batch, not CIFAR-10"));
    }
    let data =
        dict.get("data").ok_or_else(|| Error::data(name, format!("no 'data' in the dict (keys: {})", keys())))?;
    let labels =
        dict.get("labels").ok_or_else(|| Error::data(name, format!("no 'labels' in the dict (keys: {})", keys())))?;

    let Value::Array(data) = data else {
        return Err(Error::data(name, format!("'data' is a {}, expected a uint8 numpy array", data.kind())));
    };
    let data = data.borrow();
    if data.dtype.kind != 'u' || data.dtype.size != 1 {
        let msg = format!("'data' has dtype {}{}, expected uint8", data.dtype.kind, data.dtype.size);
        return Err(Error::data(name, msg));
    }
    let n = match data.shape.as_slice() {
        [n, IMAGE_BYTES] => *n,
        s => return Err(Error::data(name, format!("'data' has shape {s:?}, expected [N, 3072]"))),
    };
    if data.fortran && n > 1 {
        return Err(Error::data(name, "'data' is stored in Fortran (column-major) order; expected C order"));
    }
    let labels = int_list(name, &labels)?;
    if labels.len() != n {
        return Err(Error::data(name, format!("{} labels for the {n} images of 'data'", labels.len())));
    }
    let labels: Vec<u8> = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            u8::try_from(l)
                .ok()
                .filter(|&l| (l as usize) < CLASSES)
                .ok_or_else(|| Error::data(name, format!("label {l} of image {i} is out of range 0-9")))
        })
        .collect::<Result<_>>()?;
    Ok(RgbDataset { images: data.data.to_vec(), labels, source: name.to_string() })
}

/// `labels` as a list of ints, or as a 1-D integer numpy array (what a re-pickled batch may hold).
fn int_list(name: &str, labels: &Value) -> Result<Vec<i64>> {
    match labels {
        Value::List(l) => l
            .borrow()
            .iter()
            .map(|v| match v {
                Value::Int(i) => Ok(*i),
                other => Err(Error::data(name, format!("'labels' holds a {}, expected ints", other.kind()))),
            })
            .collect(),
        Value::Array(a) => {
            let a = a.borrow();
            let little = a.dtype.endian != '>';
            if a.shape.len() != 1 || !matches!(a.dtype.kind, 'u' | 'i') || !little {
                return Err(Error::data(name, "'labels' is a numpy array but not a 1-D little-endian integer one"));
            }
            let signed = a.dtype.kind == 'i';
            Ok(a.data
                .chunks_exact(a.dtype.size)
                .map(|c| {
                    let mut b = if signed && c[c.len() - 1] & 0x80 != 0 { [0xff; 8] } else { [0; 8] };
                    b[..c.len()].copy_from_slice(c);
                    i64::from_le_bytes(b)
                })
                .collect())
        }
        other => Err(Error::data(name, format!("'labels' is a {}, expected a list of ints", other.kind()))),
    }
}

/// Which version a batch is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Binary,
    Python,
}

impl Version {
    /// Its six batch file names: the five training batches in order, then the test batch.
    pub fn files(self) -> [&'static str; 6] {
        match self {
            Version::Binary => BINARY_FILES,
            Version::Python => PYTHON_FILES,
        }
    }

    /// "binary" or "python".
    pub fn name(self) -> &'static str {
        match self {
            Version::Binary => "binary",
            Version::Python => "python",
        }
    }

    /// Parses one batch of this version.
    pub fn parse(self, name: &str, bytes: &[u8]) -> Result<RgbDataset> {
        match self {
            Version::Binary => parse_binary_batch(name, bytes),
            Version::Python => parse_python_batch(name, bytes),
        }
    }
}

/// The official training set (the five batches joined, 50,000 images) and test set (10,000).
#[derive(Clone, Debug)]
pub struct Cifar10 {
    pub train: RgbDataset,
    pub test: RgbDataset,
}

impl Cifar10 {
    /// Joins six parsed batches, in [`Version::files`] order (five training, then the test batch), as read
    /// from `at` (for the sources). Also how a caller that fetched the bytes itself (the browser) builds it.
    ///
    /// # Panics
    /// If `batches` does not hold six batches.
    pub fn from_batches(batches: Vec<RgbDataset>, version: Version, at: &str) -> Cifar10 {
        assert_eq!(batches.len(), 6, "CIFAR-10 has six batch files");
        let mut it = batches.into_iter();
        let mut train = RgbDataset { images: Vec::new(), labels: Vec::new(), source: String::new() };
        for b in it.by_ref().take(5) {
            train.append(b);
        }
        train.source = format!("CIFAR-10 training set ({} version) at {at}", version.name());
        let mut test = it.next().expect("six batches");
        test.source = format!("CIFAR-10 test set ({} version) at {at}", version.name());
        Cifar10 { train, test }
    }
}

/// Where [`locate`] found CIFAR-10.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A folder holding the six batch files of `version`.
    Dir { dir: PathBuf, version: Version },
    /// A `.tar.gz` (or `.tar`) holding them, in any folder.
    Archive(PathBuf),
}

/// Finds CIFAR-10 under `dir` (default `data`); see the module docs for the order. Errors list every
/// place tried and how to get the files.
#[cfg(not(target_arch = "wasm32"))]
pub fn locate(dir: Option<&Path>) -> Result<Layout> {
    let d = dir.map_or_else(|| PathBuf::from("data"), Path::to_path_buf);
    if d.is_file() {
        return Ok(Layout::Archive(d));
    }
    let places = [d.clone(), d.join("cifar10"), d.join("cifar-10")];
    let has_all = |dir: &Path, v: Version| v.files().iter().all(|f| dir.join(f).is_file());
    for p in &places {
        for (sub, v) in [(BINARY_DIR, Version::Binary), (PYTHON_DIR, Version::Python)] {
            for dir in [p.join(sub), p.clone()] {
                if has_all(&dir, v) {
                    return Ok(Layout::Dir { dir, version: v });
                }
            }
        }
    }
    for p in &places {
        for a in [BINARY_ARCHIVE, PYTHON_ARCHIVE] {
            if p.join(a).is_file() {
                return Ok(Layout::Archive(p.join(a)));
            }
        }
    }
    let mut msg = "no CIFAR-10 found. Looked for:\n".to_string();
    for p in &places {
        msg += &format!(
            "  {0}/{BINARY_DIR}/{{data_batch_1..5,test_batch}}.bin, {0}/{PYTHON_DIR}/{{data_batch_1..5,test_batch}}, \
             {0}/{BINARY_ARCHIVE}, {0}/{PYTHON_ARCHIVE}\n",
            p.display()
        );
    }
    msg += "Get it with `pathprox download cifar10` (into data/cifar10), or point --data-dir at a folder or \
            archive that holds it.";
    Err(Error::DatasetNotFound { msg })
}

/// Reads what [`locate`] found.
#[cfg(not(target_arch = "wasm32"))]
pub fn load(layout: &Layout) -> Result<Cifar10> {
    match layout {
        Layout::Dir { dir, version } => load_dir(dir, *version),
        Layout::Archive(path) => load_archive(path),
    }
}

/// Reads the six batch files of `version` from `dir`.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_dir(dir: &Path, version: Version) -> Result<Cifar10> {
    let batches = version
        .files()
        .iter()
        .map(|f| {
            let path = dir.join(f);
            let name = path.display().to_string();
            let bytes = std::fs::read(&path).map_err(|e| Error::data(&name, format!("cannot read: {e}")))?;
            version.parse(&name, &bytes)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Cifar10::from_batches(batches, version, &dir.display().to_string()))
}

/// Reads the six batches of either version from a `.tar.gz` (or plain `.tar`) as a stream, without
/// extracting it; other members are skipped. Members are matched by file name, in any folder.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_archive(path: &Path) -> Result<Cifar10> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::data(&name, format!("cannot open: {e}")))?;
    let mut file = std::io::BufReader::new(file);
    // Peek (without consuming) whether it is gzip-compressed.
    let head = std::io::BufRead::fill_buf(&mut file).map_err(|e| Error::data(&name, format!("cannot read: {e}")))?;
    if head.is_empty() {
        return Err(Error::data(&name, "is empty: expected a CIFAR-10 .tar.gz"));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        read_archive(&name, flate2::read::MultiGzDecoder::new(file))
    } else {
        read_archive(&name, file)
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn read_archive(name: &str, stream: impl Read) -> Result<Cifar10> {
    let corrupt = |e: std::io::Error| Error::data(name, format!("corrupt archive (gzip/tar): {e}"));
    let mut archive = tar::Archive::new(stream);
    let mut found: [[Option<RgbDataset>; 6]; 2] = Default::default();
    let mut members = 0usize;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        members += 1;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry.path().map_err(corrupt)?.to_string_lossy().into_owned();
        let file_name = member.rsplit('/').next().unwrap_or("").to_string();
        let hit = [Version::Binary, Version::Python]
            .into_iter()
            .enumerate()
            .find_map(|(vi, v)| v.files().iter().position(|f| *f == file_name).map(|fi| (vi, v, fi)));
        let Some((vi, version, fi)) = hit else { continue };
        let label = format!("{name}:{member}");
        let size = entry.size();
        if size > MAX_MEMBER {
            return Err(Error::data(
                label,
                format!("member claims {size} bytes, more than any CIFAR-10 batch ({MAX_MEMBER} at most)"),
            ));
        }
        // Grows as bytes arrive, so a header that lies about the size costs nothing.
        let mut bytes = Vec::new();
        (&mut entry).take(size).read_to_end(&mut bytes).map_err(corrupt)?;
        if (bytes.len() as u64) < size {
            return Err(Error::data(
                label,
                format!("truncated: the tar header says {size} bytes, the archive holds {}", bytes.len()),
            ));
        }
        if found[vi][fi].is_some() {
            return Err(Error::data(label, "appears twice in the archive"));
        }
        found[vi][fi] = Some(version.parse(&label, &bytes)?);
    }
    for (vi, version) in [Version::Binary, Version::Python].into_iter().enumerate() {
        if found[vi].iter().all(Option::is_some) {
            let batches = std::mem::take(&mut found[vi]).into_iter().map(|b| b.expect("checked")).collect();
            return Ok(Cifar10::from_batches(batches, version, name));
        }
    }
    let (vi, version) = if found[1].iter().any(Option::is_some) { (1, Version::Python) } else { (0, Version::Binary) };
    let missing: Vec<&str> =
        version.files().iter().zip(&found[vi]).filter(|(_, b)| b.is_none()).map(|(f, _)| *f).collect();
    let msg = if members == 0 {
        "is an empty archive".to_string()
    } else {
        format!("the archive lacks CIFAR-10 batch files: {} (of the {} version)", missing.join(", "), version.name())
    };
    Err(Error::data(name, msg))
}

/// Finds and loads CIFAR-10 under `dir` (see [`locate`]) and splits it for Task 3: the official training
/// set split 45,000 / 5,000 (seeded; [`holdout_split`]) and the official test set. Print
/// [`RgbSplits::note`] when set.
#[cfg(not(target_arch = "wasm32"))]
pub fn cifar10_splits(dir: Option<&Path>, seed: u64) -> Result<RgbSplits> {
    let data = load(&locate(dir)?)?;
    holdout_split(&data.train, data.test, TASK3_VAL, seed)
}
