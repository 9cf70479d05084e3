//! `pathprox sweep collect DIR`: merges the runs' records into `sweep.jsonl` and writes what the paper
//! makes of them: Table 1 (`table1.md`, with the corrupted-accuracy column when the sweep evaluated one),
//! the grid's heat map (`figures/sweep.png`) and each run directory's training curves.
//!
//! It refuses an incomplete sweep: it names every run without a result (missing, running, failed) and
//! fails, so that a collect job never publishes a table over part of the grid. Diverged runs are results:
//! the table names them.

use std::path::PathBuf;

use super::plan::SweepDir;
use super::record::{self, RunRecord, State};
use crate::error::{Error, Result};
use crate::files::write_atomically;
use crate::progress::Progress;

pub struct Collected {
    pub table: String,
    pub figure: PathBuf,
}

/// Every run without a result, as "#3 pathprox lr 0.1 λ 1e-3 seed 0: failed (error)".
pub fn unfinished(sweep: &SweepDir, records: &[Option<RunRecord>]) -> Vec<String> {
    sweep
        .plan
        .runs
        .iter()
        .filter_map(|p| match &records[p.index] {
            Some(r) if r.state.is_final() => None,
            Some(r) => Some(format!("{p}: failed ({})", r.error.as_deref().unwrap_or("no message"))),
            None => Some(match super::lock::holder(&sweep.path, p.index) {
                Some((o, super::lock::Liveness::Alive(_))) => format!("{p}: running ({})", o.describe()),
                _ => format!("{p}: missing"),
            }),
        })
        .collect()
}

pub fn collect(sweep: &SweepDir, progress: &dyn Progress) -> Result<Collected> {
    let dir = &sweep.path;
    let records = record::read_all(sweep)?;
    let log = record::sweep_log(&records);
    record::write_sweep_jsonl(dir, &log)?;
    let missing = unfinished(sweep, &records);
    if !missing.is_empty() {
        return Err(Error::Other(format!(
            "sweep collect: {} of {} runs have no result, so there is no Table 1 yet:\n  {}\n(`pathprox sweep status {}`; run them with `pathprox sweep run {} --index I`)",
            missing.len(),
            sweep.plan.len(),
            missing.join("\n  "),
            dir.display(),
            dir.display()
        )));
    }
    let sc = &sweep.config;
    let table = log.table1(&sc.caption(), sc.base.seed, sc.seeds);
    write_atomically(&dir.join("table1.md"), table.as_bytes())?;
    let figure = dir.join("figures").join("sweep.png");
    crate::report::sweep::write_figure(&figure, &log, &sc.lrs, &sc.lambdas, sc.base.seed, &sc.caption())?;
    // Each run directory's training curves, once (several runs share a directory).
    let mut dirs: Vec<&str> = log.records.iter().map(|r| r.dir.as_str()).collect();
    dirs.sort_unstable();
    dirs.dedup();
    for d in dirs {
        let point = dir.join(d);
        if point.join("config.json").is_file()
            && let Err(e) = crate::report::write_figures(&point)
        {
            // A figure is a convenience; the sweep's numbers are in the records.
            progress.message(&format!("warning: figures of {}: {e}", point.display()));
        }
    }
    let skipped: Vec<String> = records.iter().flatten().filter(|r| r.state == State::Skipped).map(|r| format!("#{}: {}", r.index, r.error.as_deref().unwrap_or("skipped"))).collect();
    if !skipped.is_empty() {
        progress.message(&format!("re-runs skipped: {}", skipped.join("; ")));
    }
    Ok(Collected { table, figure })
}
