//! One set of kernel choices per sweep and kind of adapter, shared by every worker.
//!
//! Kernel variants are chosen by timing (`gpu::tuning`), so two processes under different load can
//! choose differently and then differ in the last bits. The first worker of a sweep on an adapter kind
//! makes the choices (under a lock, building each method's programs once, which times every kernel the
//! runs use) and writes them to `tuning/<adapter>.json`; every later worker on that kind of adapter
//! presets them before building anything. With `PATHPROX_TUNE=0` the file records the first candidates.
//! Workers on another kind of adapter make their own file: their runs may differ in the last bits, and
//! each run's `<method>.run.json` names the adapter and the file it used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::lock::IndexLock;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::files::{read_if_present, write_atomically};
use crate::train::config::TrainConfig;
use crate::train::method::Method;
use crate::train::trainer::{GpuData, MethodRun};

/// `tuning/<adapter>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuningFile {
    /// The adapter the choices were timed on (`Gpu::describe`).
    pub adapter: String,
    /// Who made them (`lock::Owner::describe`).
    pub made_by: String,
    /// Kernel key → chosen candidate.
    pub choices: BTreeMap<String, usize>,
}

/// A file name for an adapter: its description with every run of other characters as one '-'.
pub fn slug(adapter: &str) -> String {
    let mut s = String::new();
    for c in adapter.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').chars().take(120).collect()
}

pub fn tuning_path(dir: &Path, gpu: &Gpu) -> PathBuf {
    dir.join("tuning").join(format!("{}.json", slug(&gpu.describe())))
}

fn read(path: &Path) -> Result<Option<TuningFile>> {
    match read_if_present(path)? {
        None => Ok(None),
        Some(t) => serde_json::from_str(&t).map(Some).map_err(|e| Error::Other(format!("{}: not a tuning file: {e}", path.display()))),
    }
}

/// Presets this sweep's kernel choices for `gpu`'s kind of adapter, making them first if no worker has.
/// `cfg`: a run's settings (the shapes); every method of the sweep is built once to time its kernels.
pub fn share(gpu: &Gpu, dir: &Path, cfg: &TrainConfig, data: &GpuData, say: &dyn Fn(&str)) -> Result<(PathBuf, TuningFile)> {
    let path = tuning_path(dir, gpu);
    if let Some(t) = read(&path)? {
        preset(gpu, &t);
        return Ok((path, t));
    }
    let lock_path = path.with_extension("lock");
    let _lock = IndexLock::wait_at(&lock_path, say)?;
    if let Some(t) = read(&path)? {
        preset(gpu, &t);
        return Ok((path, t));
    }
    say(&format!("choosing the kernels for {} once for the whole sweep ({})", gpu.describe(), path.display()));
    for m in &cfg.methods {
        let c = TrainConfig { methods: vec![m.clone()], ..cfg.clone() };
        drop(MethodRun::new(gpu, &c, Method::parse(m)?, data, true)?);
    }
    let t = TuningFile { adapter: gpu.describe(), made_by: super::lock::Owner::me().describe(), choices: gpu.tuning_report().into_iter().collect() };
    let text = serde_json::to_string_pretty(&t).map_err(|e| Error::Other(e.to_string()))?;
    write_atomically(&path, (text + "\n").as_bytes())?;
    Ok((path, t))
}

fn preset(gpu: &Gpu, t: &TuningFile) {
    for (k, &i) in &t.choices {
        gpu.preset_tuning(k, i);
    }
}

/// Copies another sweep's (or an earlier sweep's) tuning files into `dir`: `sweep --tuning FROM`, where FROM
/// is a sweep directory, its `tuning/` folder or one tuning file.
pub fn import(dir: &Path, from: &Path) -> Result<usize> {
    let files: Vec<PathBuf> = if from.is_file() {
        vec![from.to_path_buf()]
    } else {
        let d = if from.join("tuning").is_dir() { from.join("tuning") } else { from.to_path_buf() };
        let rd = std::fs::read_dir(&d).map_err(|e| Error::Other(format!("--tuning {}: {e}", d.display())))?;
        rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "json")).collect()
    };
    for f in &files {
        let t = read(f)?.ok_or_else(|| Error::Other(format!("--tuning {}: no such file", f.display())))?;
        let text = serde_json::to_string_pretty(&t).map_err(|e| Error::Other(e.to_string()))?;
        write_atomically(&dir.join("tuning").join(format!("{}.json", slug(&t.adapter))), (text + "\n").as_bytes())?;
    }
    if files.is_empty() {
        return Err(Error::Other(format!("--tuning {}: no tuning files there", from.display())));
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn adapter_names_become_file_names() {
        assert_eq!(super::slug("llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu, Mesa 22.3.6)"), "llvmpipe-llvm-15.0.6-256-bits-vulkan-cpu-mesa-22.3.6");
        assert_eq!(super::slug("NVIDIA A100/PCIe"), "nvidia-a100-pcie");
    }
}
