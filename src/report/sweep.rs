//! A grid search's results (`sweep.jsonl`, written by `pathprox sweep`) and what the paper makes of them
//! (docs/algorithm.md, Tasks 1–2 and Metrics; the paper's Table 1): per method, the grid point with the best
//! validation accuracy, re-run with more seeds, reported as test accuracy at the best validation point
//! and active units, each as mean ± standard error over the seeds.
//!
//! Pure parsing and arithmetic: it compiles for wasm32 and is tested on hand-made logs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{display_name, jsonl_objects, method_rank, num};

/// One line of `sweep.jsonl`: a finished (or diverged) run of one method at one grid point and seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    pub method: String,
    pub lr: f64,
    pub lambda: f64,
    pub seed: u64,
    /// "grid" (the search, at the sweep's first seed) or "seed" (a re-run of a selected point).
    pub phase: String,
    /// Best validation accuracy (fraction) over the log points; `None` if no point logged one.
    pub best_val_acc: Option<f64>,
    /// Test accuracy (fraction) at that log point.
    pub test_acc: Option<f64>,
    /// Active units (percent) at that log point.
    pub active_units: Option<f64>,
    /// Iteration of that log point.
    pub best_iter: Option<u64>,
    /// The loss became NaN/inf; the values above come from the log points before it.
    pub diverged: bool,
    /// Training time of the run in seconds (resumed runs count every session).
    pub wall_s: Option<f64>,
    /// Mean accuracy over the corrupted test sets (fraction): filled only when a corrupted data set was
    /// given and its evaluation exists (`pathprox eval-corrupted`); `None` otherwise.
    #[serde(default)]
    pub corrupted_acc: Option<f64>,
    /// The run directory, relative to the sweep directory.
    #[serde(default)]
    pub dir: String,
}

impl SweepRecord {
    /// The score the grid is searched by: the best validation accuracy, if it is a finite number and the
    /// run did not diverge (a run that blew up is not a candidate, whatever it reached before).
    pub fn score(&self) -> Option<f64> {
        if self.diverged { None } else { self.best_val_acc.filter(|x| x.is_finite()) }
    }

    /// Same method, grid point and seed: the line that makes this run finished.
    pub fn same_run(&self, method: &str, lr: f64, lambda: f64, seed: u64) -> bool {
        self.method == method && self.lr.to_bits() == lr.to_bits() && self.lambda.to_bits() == lambda.to_bits() && self.seed == seed
    }
}

/// `sweep.jsonl`, read.
#[derive(Clone, Debug, Default)]
pub struct SweepLog {
    pub records: Vec<SweepRecord>,
    /// 1-based numbers of lines that are not sweep records (other than an unfinished last line).
    pub skipped_lines: Vec<usize>,
}

/// Mean ± standard error (sample standard deviation / √n) of a few runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanSe {
    pub mean: f64,
    /// `None` for a single value.
    pub se: Option<f64>,
    pub n: usize,
}

impl MeanSe {
    /// Over the finite values; `None` if there are none.
    pub fn of(values: &[f64]) -> Option<MeanSe> {
        let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let n = v.len();
        if n == 0 {
            return None;
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let se = (n > 1).then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() / (n as f64).sqrt());
        Some(MeanSe { mean, se, n })
    }

    /// "93.12 ± 0.15" (values scaled by `k`, `digits` decimals); "93.12" for one run.
    pub fn show(&self, k: f64, digits: usize) -> String {
        match self.se {
            Some(se) => format!("{:.digits$} ± {:.digits$}", k * self.mean, k * se),
            None => format!("{:.digits$}", k * self.mean),
        }
    }
}

/// One method's row of Table 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Table1Row {
    pub method: String,
    /// The selected grid point.
    pub lr: f64,
    pub lambda: f64,
    /// Its validation accuracy in the search (fraction).
    pub grid_val_acc: f64,
    /// Test accuracy at the best validation point (fraction), over the seeds that did not diverge.
    pub test_acc: Option<MeanSe>,
    /// Active units (percent) at the same log point.
    pub active_units: Option<MeanSe>,
    pub corrupted_acc: Option<MeanSe>,
    /// Seeds with a finished run, and how many of them diverged.
    pub seeds_done: usize,
    pub seeds_diverged: usize,
}

impl SweepLog {
    pub fn parse(text: &str) -> SweepLog {
        let (objects, mut skipped_lines) = jsonl_objects(text);
        let mut records = Vec::new();
        for (line, o) in objects {
            match serde_json::from_value::<SweepRecord>(Value::Object(o)) {
                Ok(r) => records.push(r),
                Err(_) => skipped_lines.push(line),
            }
        }
        skipped_lines.sort_unstable();
        SweepLog { records, skipped_lines }
    }

    pub fn find(&self, method: &str, lr: f64, lambda: f64, seed: u64) -> Option<&SweepRecord> {
        self.records.iter().find(|r| r.same_run(method, lr, lambda, seed))
    }

    /// The methods present, in the paper's order.
    pub fn methods(&self) -> Vec<String> {
        let mut m: Vec<String> = self.records.iter().map(|r| r.method.clone()).collect();
        m.sort_by_key(|m| method_rank(m));
        m.dedup();
        m
    }

    /// The grid run of `method` at `seed` with the best score: `(lr, λ, score)`. Ties go to the smaller
    /// λ, then the smaller lr (the more conservative settings; a rule that does not depend on the order
    /// the runs finished in). `None` when no run of the grid has a score (all diverged or none logged).
    pub fn select(&self, method: &str, seed: u64) -> Option<(f64, f64, f64)> {
        let mut best: Option<(f64, f64, f64)> = None;
        for r in self.records.iter().filter(|r| r.method == method && r.seed == seed && r.phase == "grid") {
            let Some(s) = r.score() else { continue };
            let better = match best {
                None => true,
                Some((lr, lambda, b)) => s > b || (s == b && (r.lambda, r.lr) < (lambda, lr)),
            };
            if better {
                best = Some((r.lr, r.lambda, s));
            }
        }
        best
    }

    /// Table 1's row for `method`: its selected point over the seeds `first_seed .. first_seed + seeds`.
    pub fn table1_row(&self, method: &str, first_seed: u64, seeds: u64) -> Option<Table1Row> {
        let (lr, lambda, grid_val_acc) = self.select(method, first_seed)?;
        let runs: Vec<&SweepRecord> = (first_seed..first_seed + seeds).filter_map(|s| self.find(method, lr, lambda, s)).collect();
        let ok: Vec<&&SweepRecord> = runs.iter().filter(|r| !r.diverged).collect();
        let stat = |f: fn(&SweepRecord) -> Option<f64>| MeanSe::of(&ok.iter().filter_map(|r| f(r)).collect::<Vec<_>>());
        Some(Table1Row {
            method: method.to_string(),
            lr,
            lambda,
            grid_val_acc,
            test_acc: stat(|r| r.test_acc),
            active_units: stat(|r| r.active_units),
            corrupted_acc: stat(|r| r.corrupted_acc),
            seeds_done: runs.len(),
            seeds_diverged: runs.len() - ok.len(),
        })
    }

    /// Table 1 as Markdown (it also reads as plain text): a caption, one row per method, then notes on
    /// methods with no usable grid point, diverged runs and unreadable lines.
    pub fn table1(&self, caption: &str, first_seed: u64, seeds: u64) -> String {
        let rows: Vec<Table1Row> = self.methods().iter().filter_map(|m| self.table1_row(m, first_seed, seeds)).collect();
        let corrupted = rows.iter().any(|r| r.corrupted_acc.is_some());
        let mut head = vec!["method", "lr", "λ", "val. acc. (grid)", "test acc. at best val. (%)", "active units (%)", "seeds"];
        if corrupted {
            head.push("corrupted acc. (%)");
        }
        let dash = || "—".to_string();
        let mut table: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
        for r in &rows {
            let mut row = vec![
                display_name(&r.method),
                num(r.lr),
                num(r.lambda),
                format!("{:.2}%", 100.0 * r.grid_val_acc),
                r.test_acc.map_or_else(dash, |m| m.show(100.0, 2)),
                r.active_units.map_or_else(dash, |m| m.show(1.0, 1)),
                format!("{}/{}", r.seeds_done - r.seeds_diverged, seeds),
            ];
            if corrupted {
                row.push(r.corrupted_acc.map_or_else(dash, |m| m.show(100.0, 2)));
            }
            table.push(row);
        }
        let mut out = format!("{caption}\n\n");
        out += &super::summary::markdown_table(&table[0], &table[1..]);
        out += &format!(
            "\nPer method, the grid point with the best validation accuracy (seed {first_seed}), re-run with seeds {}–{}; \
             test accuracy at the log point with the best validation accuracy and active units at that point, \
             mean ± standard error over the seeds that finished without diverging.\n",
            first_seed,
            first_seed + seeds.max(1) - 1
        );
        let mut notes = Vec::new();
        for m in self.methods() {
            if self.select(&m, first_seed).is_none() {
                notes.push(format!("{}: no grid point with a validation accuracy (all diverged or unfinished).", display_name(&m)));
            }
        }
        let diverged: Vec<String> = self
            .records
            .iter()
            .filter(|r| r.diverged)
            .map(|r| format!("{} lr {} λ {} seed {}", display_name(&r.method), num(r.lr), num(r.lambda), r.seed))
            .collect();
        if !diverged.is_empty() {
            notes.push(format!("diverged: {}.", diverged.join("; ")));
        }
        if !self.skipped_lines.is_empty() {
            notes.push(format!("sweep.jsonl: skipped unreadable line(s) {:?}.", self.skipped_lines));
        }
        for n in notes {
            out += &format!("{n}\n");
        }
        out
    }
}

/// `figures/sweep.png`: the grid's validation accuracy (%), one heat map per method (rows = `lrs`,
/// columns = `lambdas`, at `seed`), the selected point outlined, diverged points hatched.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_figure(path: &std::path::Path, log: &SweepLog, lrs: &[f64], lambdas: &[f64], seed: u64, subtitle: &str) -> crate::Result<()> {
    use super::heatmap::{Cell, HeatMaps, Panel};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::Report { path: dir.to_path_buf(), msg: format!("cannot create: {e}") })?;
    }
    let panels = log
        .methods()
        .iter()
        .map(|m| {
            let cells = lrs
                .iter()
                .map(|&lr| {
                    lambdas
                        .iter()
                        .map(|&lambda| match log.records.iter().find(|r| r.phase == "grid" && r.same_run(m, lr, lambda, seed)) {
                            Some(r) if r.diverged => Cell::Diverged,
                            Some(r) => r.score().map_or(Cell::Missing, |v| Cell::Value(100.0 * v)),
                            None => Cell::Missing,
                        })
                        .collect()
                })
                .collect();
            let selected = log.select(m, seed).and_then(|(lr, lambda, _)| {
                Some((lrs.iter().position(|x| x.to_bits() == lr.to_bits())?, lambdas.iter().position(|x| x.to_bits() == lambda.to_bits())?))
            });
            Panel {
                title: display_name(m),
                row_labels: lrs.iter().map(|x| num(*x)).collect(),
                col_labels: lambdas.iter().map(|x| num(*x)).collect(),
                cells,
                selected,
            }
        })
        .collect();
    HeatMaps {
        title: "Grid search: best validation accuracy (%)".into(),
        subtitle: format!("{subtitle} · outlined: selected · hatched: diverged · —: no result"),
        row_axis: "learning rate".into(),
        col_axis: "λ".into(),
        digits: 2,
        panels,
    }
    .save(path)
}
