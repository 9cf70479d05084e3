//! The run directory `runs/<task>-<time>/`: `config.json`, one `<method>.jsonl` log per method,
//! `checkpoints/<method>.safetensors` (latest) and `<method>.best.safetensors` (best validation so far),
//! and `figures/`.

use std::io::Write;
use std::path::{Path, PathBuf};


use super::config::TrainConfig;
use crate::error::{Error, Result};

/// The log line type, defined with the metrics it reports (browser builds use it without a run directory).
pub use crate::progress::LogPoint;

pub struct RunDir {
    pub path: PathBuf,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Other(format!("{}: {e}", path.display()))
}

impl RunDir {
    /// A new directory `root/<task>-<UTC time>` (with a suffix if that exists already).
    pub fn create(root: &Path, task: &str) -> Result<RunDir> {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace([':', 'Z'], "");
        let mut path = root.join(format!("{task}-{stamp}"));
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = root.join(format!("{task}-{stamp}-{n}"));
        }
        std::fs::create_dir_all(path.join("checkpoints")).map_err(io(&path))?;
        Ok(RunDir { path })
    }

    /// An existing run directory (`--resume`).
    pub fn open(path: &Path) -> Result<RunDir> {
        if !path.join("config.json").is_file() {
            return Err(Error::Other(format!("{}: not a run directory (no config.json)", path.display())));
        }
        Ok(RunDir { path: path.to_path_buf() })
    }

    pub fn write_config(&self, cfg: &TrainConfig, extra: serde_json::Value) -> Result<()> {
        let mut v = serde_json::to_value(cfg).map_err(|e| Error::Other(e.to_string()))?;
        if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
            obj.extend(more);
        }
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::Other(e.to_string()))?;
        crate::files::write_atomically(&self.path.join("config.json"), text.as_bytes())
    }

    pub fn read_config(&self) -> Result<TrainConfig> {
        let p = self.path.join("config.json");
        let text = std::fs::read_to_string(&p).map_err(io(&p))?;
        serde_json::from_str(&text).map_err(|e| Error::Other(format!("{}: {e}", p.display())))
    }

    pub fn log_path(&self, method: &str) -> PathBuf {
        self.path.join(format!("{method}.jsonl"))
    }

    pub fn checkpoint_path(&self, method: &str) -> PathBuf {
        self.path.join("checkpoints").join(format!("{method}.safetensors"))
    }

    /// The checkpoint at the log point with the best validation accuracy so far (the trainer keeps it).
    pub fn best_checkpoint_path(&self, method: &str) -> PathBuf {
        self.path.join("checkpoints").join(format!("{method}.best.safetensors"))
    }

    /// Appends one line and flushes it to disk.
    /// `<method>.diverged`: holds the iteration at which the method's loss became NaN/inf.
    fn diverged_path(&self, method: &str) -> PathBuf {
        self.path.join(format!("{method}.diverged"))
    }

    /// Records that `method` diverged at `iter`, so that a resumed run does not train it again.
    pub fn mark_diverged(&self, method: &str, iter: u64) -> Result<()> {
        crate::files::write_atomically(&self.diverged_path(method), format!("{iter}\n").as_bytes())
    }

    /// Where `method` diverged in an earlier session, if it did.
    pub fn diverged_at(&self, method: &str) -> Result<Option<u64>> {
        let p = self.diverged_path(method);
        match crate::files::read_if_present(&p)? {
            Some(t) => t.trim().parse().map(Some).map_err(|_| Error::Other(format!("{}: expected an iteration number, found {:?}", p.display(), t.trim()))),
            None => Ok(None),
        }
    }

    pub fn append(&self, method: &str, point: &LogPoint) -> Result<()> {
        let p = self.log_path(method);
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(io(&p))?;
        let line = serde_json::to_string(point).map_err(|e| Error::Other(e.to_string()))?;
        writeln!(f, "{line}").map_err(io(&p))?;
        f.sync_data().map_err(io(&p))
    }

    /// The log of a method, keeping only points up to `iter` (a resumed run rewinds to its checkpoint)
    /// and dropping a torn last line.
    pub fn rewind_log(&self, method: &str, iter: u64) -> Result<Vec<LogPoint>> {
        let p = self.log_path(method);
        let text = crate::files::read_if_present(&p)?.unwrap_or_default();
        let points: Vec<LogPoint> = text.lines().filter_map(|l| serde_json::from_str::<LogPoint>(l).ok()).filter(|pt| pt.iter <= iter).collect();
        let kept: String = points.iter().map(|pt| serde_json::to_string(pt).expect("serialisable") + "\n").collect();
        crate::files::write_atomically(&p, kept.as_bytes())?;
        Ok(points)
    }
}
