//! What became of each run: `records/<index>.json`, one file per run, written atomically (a temporary
//! file renamed over it) by the worker that ran it. Many workers on a shared file system finish at once;
//! separate files renamed into place lose no record and tear none, where appends to one file over NFS
//! can. `sweep.jsonl` (the merged finished records, in index order) is derived from them by whoever
//! reads the sweep: `status`, `collect` and the one-process loop.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::{Phase, SweepDir};
use crate::error::{Error, Result};
use crate::report::sweep::{SweepLog, SweepRecord};
use crate::files::{read_if_present, write_atomically};

/// The state a run ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Trained to the end.
    Done,
    /// The loss became NaN/inf: a result (not a candidate for selection), not trained again.
    Diverged,
    /// A re-run of a method that has no usable grid point (every one diverged): nothing to train.
    Skipped,
    /// An error stopped it (message in `error`); `sweep run` tries it again.
    Failed,
}

impl State {
    /// Done, diverged and skipped runs are results; a failed one is still to do.
    pub fn is_final(self) -> bool {
        !matches!(self, State::Failed)
    }
}

/// `records/<index>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub index: usize,
    pub state: State,
    /// The run's results (done and diverged runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<SweepRecord>,
    /// Why it failed, or why a re-run was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who ran it: host, pid and Slurm job (as `lock::Owner` writes them).
    pub worker: super::lock::Owner,
    /// The adapter it ran on and how that adapter was chosen.
    #[serde(default)]
    pub adapter: String,
    #[serde(default)]
    pub finished: String,
}

pub fn records_dir(dir: &Path) -> PathBuf {
    dir.join("records")
}

pub fn record_path(dir: &Path, index: usize) -> PathBuf {
    records_dir(dir).join(format!("{index}.json"))
}

impl RunRecord {
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        write_atomically(&record_path(dir, self.index), (text + "\n").as_bytes())
    }

    pub fn read(dir: &Path, index: usize) -> Result<Option<RunRecord>> {
        let p = record_path(dir, index);
        match read_if_present(&p)? {
            None => Ok(None),
            Some(t) => serde_json::from_str(&t).map(Some).map_err(|e| Error::Other(format!("{}: not a run record: {e}", p.display()))),
        }
    }
}

/// Every run's record that exists, by index (`None`: not run, or still running).
pub fn read_all(sweep: &SweepDir) -> Result<Vec<Option<RunRecord>>> {
    (0..sweep.plan.len()).map(|i| RunRecord::read(&sweep.path, i)).collect()
}

/// The finished results as the report reads them, in index order (the one-process sweep's order).
pub fn sweep_log(records: &[Option<RunRecord>]) -> SweepLog {
    SweepLog { records: records.iter().flatten().filter(|r| r.state.is_final()).filter_map(|r| r.record.clone()).collect(), skipped_lines: vec![] }
}

/// Rewrites `sweep.jsonl` from the records (whole, atomically).
pub fn write_sweep_jsonl(dir: &Path, log: &SweepLog) -> Result<()> {
    let text: String = log.records.iter().map(|r| serde_json::to_string(r).map(|s| s + "\n")).collect::<std::result::Result<_, _>>().map_err(|e| Error::Other(e.to_string()))?;
    write_atomically(&dir.join("sweep.jsonl"), text.as_bytes())
}

/// A sweep written before runs had record files keeps its results in `sweep.jsonl` alone: each of its
/// lines becomes the record of the run it belongs to, so that such a sweep resumes where it stopped.
pub fn import_sweep_jsonl(sweep: &SweepDir) -> Result<usize> {
    if records_dir(&sweep.path).is_dir() {
        return Ok(0);
    }
    let Some(text) = read_if_present(&sweep.path.join("sweep.jsonl"))? else { return Ok(0) };
    let log = SweepLog::parse(&text);
    let mut n = 0;
    for r in &log.records {
        let found = sweep.plan.runs.iter().find(|p| {
            p.method == r.method
                && p.seed == r.seed
                && p.phase.name() == r.phase
                && match p.phase {
                    Phase::Grid => p.lr.map(f64::to_bits) == Some(r.lr.to_bits()) && p.lambda.map(f64::to_bits) == Some(r.lambda.to_bits()),
                    Phase::Seed => true,
                }
        });
        if let Some(p) = found {
            let state = if r.diverged { State::Diverged } else { State::Done };
            RunRecord { index: p.index, state, record: Some(r.clone()), error: None, worker: super::lock::Owner::me(), adapter: String::new(), finished: "imported from sweep.jsonl".into() }.write(&sweep.path)?;
            n += 1;
        }
    }
    Ok(n)
}
