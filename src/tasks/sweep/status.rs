//! `pathprox sweep status DIR`: per phase, how many runs are done, running, failed, diverged, skipped and
//! missing, and which ones are not done. Reads the record files and the locks; changes nothing.

use std::fmt::Write as _;

use super::lock::{self, Liveness};
use super::plan::{PlannedRun, SweepDir};
use super::record::{self, State};
use crate::error::Result;

/// The state of one run as `status` sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Done,
    Diverged,
    Skipped(String),
    Failed(String),
    /// A worker holds its lock (and lives, or cannot be judged from here).
    Running(String),
    /// No record and no live worker; `Some`: a stale lock (the worker was killed; the run resumes from
    /// its checkpoint when run again).
    Missing(Option<String>),
}

pub fn seen(sweep: &SweepDir) -> Result<Vec<(PlannedRun, Seen)>> {
    let records = record::read_all(sweep)?;
    Ok(sweep
        .plan
        .runs
        .iter()
        .map(|p| {
            let s = match &records[p.index] {
                Some(r) if r.state == State::Done => Seen::Done,
                Some(r) if r.state == State::Diverged => Seen::Diverged,
                Some(r) if r.state == State::Skipped => Seen::Skipped(r.error.clone().unwrap_or_default()),
                failed => {
                    let lock = lock::holder(&sweep.path, p.index);
                    match (lock, failed) {
                        (Some((o, Liveness::Alive(_))), _) => Seen::Running(o.describe()),
                        (Some((o, Liveness::Unknown(why))), _) => Seen::Running(format!("{} (cannot tell whether it still runs: {why})", o.describe())),
                        (_, Some(r)) => Seen::Failed(r.error.clone().unwrap_or_default()),
                        (Some((o, Liveness::Gone(why))), None) => Seen::Missing(Some(format!("stale lock of {}: {why}", o.describe()))),
                        (None, None) => Seen::Missing(None),
                    }
                }
            };
            (p.clone(), s)
        })
        .collect())
}

/// The report, and whether every run has a result.
pub fn report(sweep: &SweepDir) -> Result<(String, bool)> {
    let all = seen(sweep)?;
    let mut out = format!("{}\n{}\n", sweep.path.display(), sweep.config.caption());
    let mut complete = true;
    for (name, runs) in [("grid", &all[..sweep.plan.grid]), ("re-runs", &all[sweep.plan.grid..])] {
        if runs.is_empty() {
            continue;
        }
        let count = |f: fn(&Seen) -> bool| runs.iter().filter(|(_, s)| f(s)).count();
        let _ = writeln!(
            out,
            "{name} ({} runs): {} done, {} running, {} failed, {} diverged, {} skipped, {} missing",
            runs.len(),
            count(|s| *s == Seen::Done),
            count(|s| matches!(s, Seen::Running(_))),
            count(|s| matches!(s, Seen::Failed(_))),
            count(|s| *s == Seen::Diverged),
            count(|s| matches!(s, Seen::Skipped(_))),
            count(|s| matches!(s, Seen::Missing(_))),
        );
        for (p, s) in runs {
            let line = match s {
                Seen::Done => continue,
                Seen::Diverged => "diverged".to_string(),
                Seen::Skipped(why) => format!("skipped: {why}"),
                Seen::Failed(e) => format!("failed: {e}"),
                Seen::Running(who) => format!("running: {who}"),
                Seen::Missing(None) => "missing".to_string(),
                Seen::Missing(Some(why)) => format!("missing ({why}; resumes from its checkpoint)"),
            };
            if matches!(s, Seen::Failed(_) | Seen::Running(_) | Seen::Missing(_)) {
                complete = false;
            }
            let _ = writeln!(out, "  {p}: {line}");
        }
    }
    out += if complete { "complete: `pathprox sweep collect` writes Table 1\n" } else { "incomplete\n" };
    Ok((out, complete))
}
