//! The crate's error type: every failure a user can cause or meet, with what went wrong and how to fix it.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// No adapter at all: the message says how to get one.
    #[error(
        "no GPU adapter found (searched backends: {backends}).\n\
         pathprox needs a GPU driver or a software one. On Debian/Ubuntu install Mesa's software drivers:\n    \
         apt-get install -y mesa-vulkan-drivers libvulkan1     (Vulkan: lavapipe)\n    \
         apt-get install -y libegl1 libgl1-mesa-dri            (OpenGL: llvmpipe)\n\
         then run `pathprox adapters` to see what was found"
    )]
    NoAdapter { backends: String },

    /// `--adapter NAME` / `--backend B` matched nothing.
    #[error("no adapter matches {wanted}; available adapters:\n{available}")]
    AdapterNotFound { wanted: String, available: String },

    #[error("could not open a device on adapter '{adapter}': {reason}")]
    RequestDevice { adapter: String, reason: String },

    #[error("unknown backend '{0}': expected one of vulkan, gl, metal, dx12, webgpu (or a comma-separated list)")]
    UnknownBackend(String),

    /// Bad shapes or arguments, caught in Rust before anything is dispatched (a shader cannot report errors).
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },

    /// The work does not fit this adapter's limits and cannot be split.
    #[error("{op}: {msg} (adapter limit: {limit})")]
    Limit { op: &'static str, msg: String, limit: String },

    /// A shader failed to compile or a pipeline could not be created.
    #[error("shader '{name}': {msg}")]
    Shader { name: String, msg: String },

    /// An error reported by wgpu (validation, out of memory, device lost).
    #[error("GPU error: {0}")]
    Gpu(String),

    #[error("reading a buffer back from the GPU failed: {0}")]
    ReadBack(String),

    /// A data file that cannot be read or is not what it claims to be; `file` names it.
    #[error("{file}: {msg}")]
    Data { file: String, msg: String },

    /// No usable data set where we looked; `msg` lists the paths tried and how to get the files.
    #[error("{msg}")]
    DatasetNotFound { msg: String },

    /// A download that failed (network, HTTP status, disk); `msg` says why and how to supply the file by hand.
    #[error("downloading {url} failed: {msg}")]
    Download { url: String, msg: String },

    /// A file whose digest is not the published one.
    #[error("{file}: {algo} checksum mismatch: expected {expected}, got {actual}")]
    Checksum { file: String, algo: &'static str, expected: String, actual: String },

    /// The report layer: a run directory or log that could not be read, a figure that could not be written.
    #[error("{}: {msg}", path.display())]
    Report { path: std::path::PathBuf, msg: String },

    /// A task finished, and wrote its logs, figures and summary, but some of its methods diverged
    /// (`methods`: "wd at iteration 20, ..."). The CLI exits with status 2 for it.
    #[error("diverged: {methods}; see the summary above and the run directory {}", run_dir.display())]
    Diverged { methods: String, run_dir: std::path::PathBuf },

    #[error("{0}")]
    Other(String),
}

impl Error {
    pub(crate) fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape { op, msg: msg.into() }
    }

    pub(crate) fn data(file: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Data { file: file.into(), msg: msg.into() }
    }
}
