//! `pathprox download`: fetches the official files of a data set ([`Set`]: MNIST, Fashion-MNIST, CIFAR-10,
//! SVHN) over HTTP(S), with a progress bar, into a temporary file renamed into place only once its
//! checksums match; files already present and valid are skipped. The checksum table is data ([`RemoteFile`]), so tests can serve their own files.
//!
//! Checksums: the MD5s are the published ones, as listed in torchvision's `torchvision/datasets/mnist.py`
//! (`MNIST.resources`, `FashionMNIST.resources`); the SHA-256s of the MNIST test files were computed from
//! files whose MD5s match those, and are checked as well. CIFAR-10's MD5s are those its page publishes,
//! SVHN's those torchvision lists (`torchvision/datasets/svhn.py`); see [`super::cifar`], [`super::svhn`].

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use md5::Md5;
use sha2::{Digest, Sha256};

use super::mnist::{DatasetKind, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
use crate::{Error, Result};

/// The public mirror torchvision downloads MNIST from (LeCun's own page now refuses robots).
pub const MNIST_BASE_URL: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";
/// Zalando's public bucket for Fashion-MNIST (plain HTTP only; the checksums guard the content).
pub const FASHION_BASE_URL: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

/// One file to fetch: its name (appended to the base URL, and its name on disk) and its checksums as
/// lowercase hex. At least one checksum is required; every one given must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    pub name: String,
    pub md5: Option<String>,
    pub sha256: Option<String>,
}

impl RemoteFile {
    pub fn new(name: impl Into<String>, md5: Option<&str>, sha256: Option<&str>) -> Self {
        RemoteFile { name: name.into(), md5: md5.map(str::to_ascii_lowercase), sha256: sha256.map(str::to_ascii_lowercase) }
    }
}

/// The four official files of `kind` with their published checksums.
pub fn official_files(kind: DatasetKind) -> Vec<RemoteFile> {
    let f = |stem: &str, md5: &str, sha256: Option<&str>| RemoteFile::new(format!("{stem}.gz"), Some(md5), sha256);
    match kind {
        DatasetKind::Mnist => vec![
            f(TRAIN_IMAGES, "f68b3c2dcbeaaa9fbdd348bbdeb94873", None),
            f(TRAIN_LABELS, "d53e105ee54ea40749a09fcbcd1e9432", None),
            f(
                TEST_IMAGES,
                "9fb629c4189551a2d022fa330f9573f3",
                Some("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            ),
            f(
                TEST_LABELS,
                "ec29112dd5afa0611ce80d1b7f02629c",
                Some("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
            ),
        ],
        DatasetKind::FashionMnist => vec![
            f(TRAIN_IMAGES, "8d4fb7e6c68d591d4c3dfef9ec88bf0d", None),
            f(TRAIN_LABELS, "25c81989df183df01b3e8a0aad5dffbe", None),
            f(TEST_IMAGES, "bef4ecab320f06d8554ea6380940ec79", None),
            f(TEST_LABELS, "bb300cfdad3c16e7a12a480ee83cd310", None),
        ],
    }
}

/// Where `kind` is fetched from by default.
pub fn default_base_url(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::Mnist => MNIST_BASE_URL,
        DatasetKind::FashionMnist => FASHION_BASE_URL,
    }
}

/// Where `kind` is downloaded to by default (a place [`super::mnist::locate`] looks, and that .gitignore
/// keeps out of the repository).
pub fn default_dir(kind: DatasetKind) -> PathBuf {
    Path::new(super::mnist::DEFAULT_DATA_DIR).join(kind.cli_name())
}

/// A data set `pathprox download` can fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    Mnist(DatasetKind),
    Cifar10,
    Svhn,
}

impl std::str::FromStr for Set {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cifar10" | "cifar-10" => Ok(Set::Cifar10),
            "svhn" => Ok(Set::Svhn),
            other => other.parse().map(Set::Mnist).map_err(|_| {
                Error::Other(format!("unknown data set '{s}': expected mnist, fashion-mnist, cifar10 or svhn"))
            }),
        }
    }
}

/// A download: which files, from where, to where.
#[derive(Clone, Debug)]
pub struct Request {
    /// Prefix of every URL; a missing trailing `/` is added.
    pub base_url: String,
    pub dir: PathBuf,
    pub files: Vec<RemoteFile>,
    /// Draw a progress bar on stderr (it stays hidden when stderr is not a terminal).
    pub progress: bool,
    /// Limit on connecting and on each read; a stalled transfer fails after this long.
    pub timeout: Duration,
}

impl Request {
    /// The official files of `kind` from its default mirror into its default directory.
    pub fn official(kind: DatasetKind) -> Self {
        Request {
            base_url: default_base_url(kind).to_string(),
            dir: default_dir(kind),
            files: official_files(kind),
            progress: true,
            timeout: Duration::from_secs(30),
        }
    }
}

impl Request {
    /// The official files of `set` from where they are published into its default directory. `python`
    /// picks CIFAR-10's Python version (`cifar-10-python.tar.gz`) over the binary one; it is an error for
    /// the other sets.
    pub fn of(set: Set, python: bool) -> Result<Self> {
        use super::{cifar, svhn};
        let file = |name: &str, md5: &str| RemoteFile::new(name, Some(md5), None);
        let (base_url, dir, files) = match (set, python) {
            (Set::Mnist(kind), false) => return Ok(Request::official(kind)),
            (Set::Cifar10, false) => (cifar::BASE_URL, cifar::DEFAULT_DIR, vec![file(cifar::BINARY_ARCHIVE, cifar::BINARY_ARCHIVE_MD5)]),
            (Set::Cifar10, true) => (cifar::BASE_URL, cifar::DEFAULT_DIR, vec![file(cifar::PYTHON_ARCHIVE, cifar::PYTHON_ARCHIVE_MD5)]),
            (Set::Svhn, false) => (
                svhn::BASE_URL,
                svhn::DEFAULT_DIR,
                vec![file(svhn::TRAIN_FILE, svhn::TRAIN_MD5), file(svhn::TEST_FILE, svhn::TEST_MD5)],
            ),
            (_, true) => return Err(Error::Other("--python applies to cifar10 only (its Python version)".into())),
        };
        Ok(Request { base_url: base_url.to_string(), dir: PathBuf::from(dir), files, progress: true, timeout: Duration::from_secs(30) })
    }
}

/// What happened to one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Already on disk with the right checksums: not fetched.
    AlreadyPresent,
    /// Fetched, verified and renamed into place.
    Downloaded { bytes: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    pub name: String,
    pub path: PathBuf,
    pub outcome: Outcome,
}

/// Fetches every file of `req` that is not already present and valid. Stops at the first failure, leaving
/// no partial file behind; files completed before it stay.
pub fn download(req: &Request) -> Result<Vec<FileReport>> {
    if let Some(f) = req.files.iter().find(|f| f.md5.is_none() && f.sha256.is_none()) {
        return Err(Error::Other(format!("no checksum given for {}: refusing to download what cannot be verified", f.name)));
    }
    std::fs::create_dir_all(&req.dir)
        .map_err(|e| Error::data(req.dir.display().to_string(), format!("cannot create directory: {e}")))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(req.timeout))
        .timeout_per_read(Some(req.timeout))
        .build()
        .into();
    let base = if req.base_url.ends_with('/') { req.base_url.clone() } else { format!("{}/", req.base_url) };

    let mut reports = Vec::with_capacity(req.files.len());
    for file in &req.files {
        let path = req.dir.join(&file.name);
        let outcome = if path.is_file() && verify(&path, file).is_ok() {
            Outcome::AlreadyPresent
        } else {
            let url = format!("{base}{}", file.name);
            let bytes = fetch(&agent, &url, &path, file, req.progress).map_err(|e| with_hint(e, req, &base))?;
            Outcome::Downloaded { bytes }
        };
        reports.push(FileReport { name: file.name.clone(), path, outcome });
    }
    Ok(reports)
}

/// Checks the file at `path` against every checksum `file` gives.
pub fn verify(path: &Path, file: &RemoteFile) -> Result<()> {
    let name = path.display().to_string();
    let mut f = File::open(path).map_err(|e| Error::data(&name, format!("cannot open: {e}")))?;
    let mut sums = Sums::default();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::data(&name, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        sums.update(&buf[..n]);
    }
    sums.check(&name, file)
}

/// MD5 and SHA-256 of one stream, computed as it passes.
#[derive(Default)]
struct Sums {
    md5: Md5,
    sha256: Sha256,
}

impl Sums {
    fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.sha256.update(bytes);
    }

    fn check(self, name: &str, file: &RemoteFile) -> Result<()> {
        let md5 = hex(&self.md5.finalize());
        let sha256 = hex(&self.sha256.finalize());
        for (algo, expected, actual) in [("MD5", &file.md5, md5), ("SHA-256", &file.sha256, sha256)] {
            if let Some(expected) = expected
                && *expected != actual
            {
                return Err(Error::Checksum { file: name.to_string(), algo, expected: expected.clone(), actual });
            }
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// GETs `url` into a temporary file beside `dest`, verifies it and renames it to `dest`. Returns the size.
fn fetch(agent: &ureq::Agent, url: &str, dest: &Path, file: &RemoteFile, progress: bool) -> Result<u64> {
    let fail = |msg: String| Error::Download { url: url.to_string(), msg };
    let mut response = agent.get(url).call().map_err(|e| fail(describe(&e)))?;
    let body = response.body_mut();
    let total = body.content_length();
    let mut reader = body.as_reader();

    let tmp = dest.with_file_name(format!(".{}.{}.part", file.name, std::process::id()));
    let result = (|| {
        let mut out = File::create(&tmp).map_err(|e| fail(format!("cannot create {}: {e}", tmp.display())))?;
        let bar = progress_bar(progress, total, &file.name);
        let mut sums = Sums::default();
        let mut buf = vec![0u8; 1 << 16];
        let mut done = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(format!("connection failed after {done} bytes: {e}"))),
            };
            sums.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| fail(format!("cannot write {}: {e}", tmp.display())))?;
            done += n as u64;
            bar.set_position(done);
        }
        bar.finish_and_clear();
        out.sync_all().map_err(|e| fail(format!("cannot write {}: {e}", tmp.display())))?;
        drop(out);
        sums.check(url, file)?;
        std::fs::rename(&tmp, dest).map_err(|e| fail(format!("cannot rename {} to {}: {e}", tmp.display(), dest.display())))?;
        Ok(done)
    })();
    if result.is_err() {
        // Best effort: the temporary file may not exist (creation failed) and then there is nothing to remove.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn progress_bar(show: bool, total: Option<u64>, name: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
                .expect("a valid template")
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{msg:28} {spinner} {bytes} {bytes_per_sec}").expect("a valid template")),
    };
    bar.with_message(name.to_string())
}

/// Why a request failed, in words.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::StatusCode(code) => format!("the server answered HTTP {code}{}", match code {
            404 => " (not found: wrong --base-url?)",
            403 => " (forbidden)",
            _ => "",
        }),
        ureq::Error::HostNotFound => "host not found (no network, or DNS cannot resolve it)".into(),
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => "connection refused".into(),
        ureq::Error::Io(io) => format!("network error: {io} (is this machine online?)"),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        e => e.to_string(),
    }
}

/// Appends to a download error how to supply the files by hand.
fn with_hint(e: Error, req: &Request, base: &str) -> Error {
    let Error::Download { url, msg } = e else { return e };
    let mut hint = format!(
        "{msg}\nIf this machine has no internet access, fetch these files elsewhere and copy them into {}:\n",
        req.dir.display()
    );
    for f in &req.files {
        let sum = f.md5.as_ref().map_or_else(|| format!("sha256 {}", f.sha256.as_deref().unwrap_or("")), |m| format!("md5 {m}"));
        hint += &format!("  {base}{}  ({sum})\n", f.name);
    }
    hint += "or serve a directory holding them over HTTP and pass --base-url http://HOST:PORT/, \
             or train with --data-dir pointing at a directory that holds them.";
    Error::Download { url, msg: hint }
}
