//! `pathprox sweep slurm`: a sweep as three Slurm jobs.
//!
//! - the grid array: one array task per grid run, `--array` = the grid's indexes (at most
//!   `--max-parallel` at once), each `pathprox sweep run DIR --index $SLURM_ARRAY_TASK_ID`;
//! - the re-run array: its size is known in advance (methods × (seeds − 1)), its task ids are the re-runs'
//!   indexes; it waits for the whole grid (`--dependency=afterok:<grid>`);
//! - the collect job: `pathprox sweep collect DIR` after the re-runs (no GPU).
//!
//! Array tasks are `--requeue`able: a task stopped by preemption or a node failure starts again under its
//! job id and resumes from its checkpoint (the lock recognises its own job). The dependent jobs are
//! `--kill-on-invalid-dep=yes`: when a grid task fails or is cancelled they are cancelled rather than left
//! pending forever, and `pathprox sweep slurm TASK --resume DIR` submits what is left (the runs without a
//! result, then the re-runs and the collect job again).
//!
//! The scripts are written into `DIR/slurm/` and kept: `--dry-run` writes and prints them and the
//! `sbatch` commands without submitting, so that they can be read, changed and submitted by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::plan::SweepDir;
use super::record;
use crate::error::{Error, Result};
use crate::files::write_atomically;

/// The Slurm settings of `sweep slurm`.
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// GPUs per array task (`--gpus-per-task`); none: the cluster's default (CPU adapters, tests).
    pub gpus_per_task: Option<u32>,
    /// Time limit per array task (`--time`, Slurm's formats: "2:00:00", "1-00:00:00").
    pub time: Option<String>,
    /// Array tasks running at once (`--array=…%K`).
    pub max_parallel: Option<usize>,
    /// More sbatch options for every job, e.g. "--account=proj" or "--mem=16G".
    pub sbatch_args: Vec<String>,
    /// The `pathprox` binary the jobs run (default: this one) and the global options to pass it
    /// (`--backend`, `--adapter`).
    pub exe: PathBuf,
    pub global_args: Vec<String>,
    pub dry_run: bool,
}

/// "0-7", "3,5-6": Slurm's `--array` list of `indexes` (ascending).
pub fn array_spec(indexes: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indexes.len() {
        let start = indexes[i];
        let mut end = start;
        while i + 1 < indexes.len() && indexes[i + 1] == end + 1 {
            i += 1;
            end = indexes[i];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        i += 1;
    }
    parts.join(",")
}

/// Quotes a word for the shell.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,%+@".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The jobs of a submission.
#[derive(Clone, Debug, PartialEq)]
pub struct Jobs {
    /// (script path, its text, indexes) of the grid and re-run arrays, if any runs are left in them.
    pub grid: Option<(PathBuf, String, Vec<usize>)>,
    pub reruns: Option<(PathBuf, String, Vec<usize>)>,
    pub collect: (PathBuf, String),
}

/// Writes the batch scripts for the runs of `sweep` without a result.
pub fn write_scripts(sweep: &SweepDir, o: &SlurmOptions) -> Result<Jobs> {
    let dir = &sweep.path;
    let records = record::read_all(sweep)?;
    let todo = |runs: &[super::plan::PlannedRun]| -> Vec<usize> { runs.iter().map(|p| p.index).filter(|&i| !records[i].as_ref().is_some_and(|r| r.state.is_final())).collect() };
    let (grid, reruns) = (todo(sweep.plan.grid_runs()), todo(sweep.plan.reruns()));
    let slurm = dir.join("slurm");
    let logs = slurm.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::Other(format!("{}: {e}", logs.display())))?;
    let task = &sweep.config.base.task;
    let exe: Vec<String> = std::iter::once(o.exe.display().to_string()).chain(o.global_args.iter().cloned()).map(|s| sh_quote(&s)).collect();
    let exe = exe.join(" ");
    let d = sh_quote(&dir.display().to_string());
    let header = |name: &str, what: &str, array: Option<&[usize]>, gpu: bool| {
        let mut s = format!(
            "#!/bin/bash\n# {what}\n# Sweep: {}\n# Written by `pathprox sweep slurm`; docs/cluster.md says what each job does.\n#SBATCH --job-name=pathprox-{task}-{name}\n#SBATCH --ntasks=1\n",
            sweep.config.caption()
        );
        if let Some(a) = array {
            let limit = o.max_parallel.map(|k| format!("%{k}")).unwrap_or_default();
            s += &format!("#SBATCH --array={}{limit}\n#SBATCH --output={}/%x-%A_%a.out\n", array_spec(a), logs.display());
            // Preemption or a dead node puts the task back in the queue; it resumes from its checkpoint.
            s += "#SBATCH --requeue\n#SBATCH --open-mode=append\n";
        } else {
            s += &format!("#SBATCH --output={}/%x-%j.out\n", logs.display());
        }
        if let Some(p) = &o.partition {
            s += &format!("#SBATCH --partition={p}\n");
        }
        if gpu {
            if let Some(n) = o.gpus_per_task {
                s += &format!("#SBATCH --gpus-per-task={n}\n");
            }
            if let Some(t) = &o.time {
                s += &format!("#SBATCH --time={t}\n");
            }
        }
        for a in &o.sbatch_args {
            s += &format!("#SBATCH {a}\n");
        }
        s += "set -eu\n";
        s
    };
    let array_job = |name: &str, what: &str, idx: Vec<usize>| -> Result<Option<(PathBuf, String, Vec<usize>)>> {
        if idx.is_empty() {
            return Ok(None);
        }
        let text = header(name, what, Some(&idx), true) + &format!("exec {exe} sweep run {d} --index \"$SLURM_ARRAY_TASK_ID\"\n");
        let path = slurm.join(format!("{name}.sbatch"));
        write_atomically(&path, text.as_bytes())?;
        Ok(Some((path, text, idx)))
    };
    let grid = array_job("grid", "The grid: one array task per (lr, λ, method) at the first seed.", grid)?;
    let reruns = array_job("reruns", "The re-runs: each method's best grid point with the other seeds (after the whole grid).", reruns)?;
    let text = header("collect", "Table 1, the heat map and the training curves, once every run has a result.", None, false) + &format!("exec {exe} sweep collect {d}\n");
    let path = slurm.join("collect.sbatch");
    write_atomically(&path, text.as_bytes())?;
    Ok(Jobs { grid, reruns, collect: (path, text) })
}

/// The job ids of a submission.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Submitted {
    pub grid: Option<String>,
    pub reruns: Option<String>,
    pub collect: Option<String>,
    /// The commands, as run (or, with `--dry-run`, as they would be run).
    pub commands: Vec<String>,
}

fn sbatch(script: &Path, after: Option<&str>, dry_run: bool, n: usize) -> Result<(String, String)> {
    let mut args: Vec<String> = vec!["--parsable".into()];
    if let Some(a) = after {
        args.push(format!("--dependency=afterok:{a}"));
        // A failed or cancelled dependency cancels this job instead of leaving it pending forever.
        args.push("--kill-on-invalid-dep=yes".into());
    }
    args.push(script.display().to_string());
    let shown = std::iter::once("sbatch".to_string()).chain(args.iter().map(|a| sh_quote(a))).collect::<Vec<_>>().join(" ");
    if dry_run {
        return Ok((format!("<job {n}>"), shown));
    }
    let out = Command::new("sbatch").args(&args).output().map_err(|e| Error::Other(format!("sbatch: {e} (is Slurm installed here? `--dry-run` writes the scripts without submitting)")))?;
    if !out.status.success() {
        return Err(Error::Other(format!("{shown}: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    // --parsable: "<id>" or "<id>;<cluster>".
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::Other(format!("{shown}: expected a job id, got {:?}", text.trim())));
    }
    Ok((id, shown))
}

/// Writes the scripts and submits them (or, with `dry_run`, only says how).
pub fn submit(sweep: &SweepDir, o: &SlurmOptions) -> Result<(Jobs, Submitted)> {
    let jobs = write_scripts(sweep, o)?;
    let mut s = Submitted::default();
    let mut n = 0;
    let mut last: Option<String> = None;
    if let Some((path, _, _)) = &jobs.grid {
        n += 1;
        let (id, cmd) = sbatch(path, None, o.dry_run, n)?;
        s.commands.push(cmd);
        s.grid = Some(id.clone());
        last = Some(id);
    }
    if let Some((path, _, _)) = &jobs.reruns {
        n += 1;
        let (id, cmd) = sbatch(path, last.as_deref(), o.dry_run, n)?;
        s.commands.push(cmd);
        s.reruns = Some(id.clone());
        last = Some(id);
    }
    n += 1;
    let (id, cmd) = sbatch(&jobs.collect.0, last.as_deref(), o.dry_run, n)?;
    s.commands.push(cmd);
    s.collect = Some(id);
    if !o.dry_run {
        let line = serde_json::json!({
            "submitted": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            "grid": s.grid, "reruns": s.reruns, "collect": s.collect,
            "grid_indexes": jobs.grid.as_ref().map(|g| array_spec(&g.2)),
            "rerun_indexes": jobs.reruns.as_ref().map(|g| array_spec(&g.2)),
        });
        // One writer (the submitting process): appending is safe here.
        use std::io::Write;
        let p = sweep.path.join("slurm").join("submissions.jsonl");
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(|e| Error::Other(format!("{}: {e}", p.display())))?;
        writeln!(f, "{line}").map_err(|e| Error::Other(format!("{}: {e}", p.display())))?;
    }
    Ok((jobs, s))
}

/// What `sweep slurm` prints after submitting: the job ids and how to watch them.
pub fn describe(sweep: &SweepDir, jobs: &Jobs, s: &Submitted, dry_run: bool) -> String {
    let d = sweep.path.display();
    let mut out = String::new();
    if dry_run {
        out += "dry run: nothing submitted; the scripts are written, and these commands would submit them (each id from the one before):\n";
        for (path, text) in [jobs.grid.as_ref().map(|g| (&g.0, &g.1)), jobs.reruns.as_ref().map(|g| (&g.0, &g.1)), Some((&jobs.collect.0, &jobs.collect.1))].into_iter().flatten() {
            out += &format!("\n==> {} <==\n{text}", path.display());
        }
        out += "\n";
        for c in &s.commands {
            out += &format!("{c}\n");
        }
        return out;
    }
    if let (Some(id), Some(g)) = (&s.grid, &jobs.grid) {
        out += &format!("grid array job {id}: {} task(s), indexes {}\n", g.2.len(), array_spec(&g.2));
    }
    if let (Some(id), Some(g)) = (&s.reruns, &jobs.reruns) {
        out += &format!("re-run array job {id}: {} task(s), indexes {}{}\n", g.2.len(), array_spec(&g.2), s.grid.as_ref().map(|g| format!(", after job {g} succeeds")).unwrap_or_default());
    }
    if let Some(id) = &s.collect {
        out += &format!("collect job {id}{}\n", s.reruns.as_ref().or(s.grid.as_ref()).map(|g| format!(", after job {g} succeeds")).unwrap_or_default());
    }
    let ids: Vec<&str> = [&s.grid, &s.reruns, &s.collect].into_iter().flatten().map(String::as_str).collect();
    out += &format!("watch: squeue -j {}    ·    pathprox sweep status {d}\n", ids.join(","));
    out += &format!("logs: {}/slurm/logs/    ·    Table 1: {d}/table1.md once the collect job has run\n", d);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_lists_and_quoting() {
        assert_eq!(array_spec(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_spec(&[3, 5, 6, 9]), "3,5-6,9");
        assert_eq!(array_spec(&[]), "");
        assert_eq!(sh_quote("/runs/sweep-task1"), "/runs/sweep-task1");
        assert_eq!(sh_quote("my runs/it's"), "'my runs/it'\\''s'");
    }
}
