//! Files a run writes and reads back, so that a crash or a kill leaves no torn file behind: the
//! atomic replacement every writer here uses (checkpoints, logs, configs, generated data sets) and the
//! read of a file that may not exist yet. Below every other module, so data, train and tasks all use it.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// The text of a file that a resumed run appends to, or None if it does not exist yet.
pub fn read_if_present(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Other(format!("{}: {e}", path.display()))),
    }
}

/// Writes `bytes` to `path` so that `path` holds either its old or its new contents, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::Other(format!("{}: {e}", path.display()));
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    // A name of its own per process and call: several workers of a sweep may write the same file at once
    // (a shared run directory's config.json); each renames a whole file over it, none truncates another's.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{}.{}.{n}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint"), std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}
