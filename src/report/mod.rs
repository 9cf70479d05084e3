//! Training-run logs as typed series: reading a run directory (`config.json`, one `<method>.jsonl` per
//! method, Task 5's `sparsity.jsonl`). Drawing lives in [`plot`], the README table in [`summary`].
//!
//! The log format is the trainer's contract: one JSON object per line with at least `iter` and the
//! [`Metric`]s. Logs are read as they are found, never trusted: a field that is missing or not a
//! finite number is left out of that metric's curve only; `null` (the trainer writes NaN/inf so) also
//! leaves a gap in the curve, and marks a divergence when the loss stays so to the end; a line that is
//! not JSON is skipped and counted; a last line with no newline is a run still writing (or killed
//! mid-line) and is ignored when it does not parse. Nothing here panics on what a file holds.
//!
//! Parsing works on strings and compiles for wasm32; reading files and drawing are native only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::train::method::Method;
use crate::{Error, Result};

#[cfg(not(target_arch = "wasm32"))]
mod axis;
pub mod decision_regions;
#[cfg(not(target_arch = "wasm32"))]
pub mod histogram;
#[cfg(not(target_arch = "wasm32"))]
pub mod heatmap;
#[cfg(not(target_arch = "wasm32"))]
pub mod plot;
pub mod summary;
pub mod sweep;
#[cfg(not(target_arch = "wasm32"))]
mod text;

#[cfg(not(target_arch = "wasm32"))]
pub use plot::write_figures;
#[cfg(not(target_arch = "wasm32"))]
pub use summary::summary_table;

/// `config.json` of a run: the fields every figure title and table caption needs. Other fields the
/// trainer writes are kept in `extra`.
#[derive(Clone, Debug, Deserialize)]
pub struct RunConfig {
    /// "1" … "5" (a number is accepted too).
    #[serde(deserialize_with = "text_or_number")]
    pub task: String,
    pub model: String,
    pub lambda: f64,
    pub lr: f64,
    #[serde(deserialize_with = "count")]
    pub batch: u64,
    #[serde(deserialize_with = "count")]
    pub iters: u64,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected a string, found {other}"))),
    }
}

/// A count written as `200` or `200.0` (JSON has one number type; a Python or JS writer may add the `.0`).
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    let x = f64::deserialize(d)?;
    if x >= 0.0 && x.fract() == 0.0 && x <= u64::MAX as f64 {
        Ok(x as u64)
    } else {
        Err(serde::de::Error::custom(format!("expected a non-negative whole number, found {x}")))
    }
}

impl RunConfig {
    /// Parse `config.json`'s text; `path` only names the file in the error.
    pub fn parse(text: &str, path: impl Into<PathBuf>) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::Report { path: path.into(), msg: format!("not a valid run config: {e}") })
    }

    /// "Task 1" for a task written as a number, the task as written otherwise.
    pub fn task_name(&self) -> String {
        if !self.task.is_empty() && self.task.chars().all(|c| c.is_ascii_digit()) {
            format!("Task {}", self.task)
        } else {
            self.task.clone()
        }
    }

    /// "Task 1 · MLP-3-400 factorized · λ = 0.0001 · lr = 0.3 · batch 200 · 100000 iterations"; for a
    /// grid run (config.json with `lrs` and `lambdas` lists, as Task 5 writes) "… · lr ∈ {…} × λ ∈ {…} · …".
    pub fn caption(&self) -> String {
        let list = |key: &str| -> Option<String> {
            let v: Vec<f64> = self.extra.get(key)?.as_array()?.iter().map(|x| x.as_f64()).collect::<Option<_>>()?;
            // One notation per list: {1e-4, 1e-3, 1e-2}, not {1e-4, 1e-3, 0.01}.
            let sci = v.iter().any(|x| num(*x).contains('e'));
            (!v.is_empty()).then(|| v.iter().map(|x| if sci { format!("{x:e}") } else { num(*x) }).collect::<Vec<_>>().join(", "))
        };
        let settings = match (list("lrs"), list("lambdas")) {
            (Some(lrs), Some(lambdas)) => format!("lr ∈ {{{lrs}}} × λ ∈ {{{lambdas}}}"),
            _ => format!("λ = {} · lr = {}", num(self.lambda), num(self.lr)),
        };
        format!("{} · {} · {settings} · batch {} · {} iterations", self.task_name(), self.model, self.batch, self.iters)
    }
}

/// Shortest plain rendering of a hyper-parameter: 0.0001 → "1e-4", 0.3 → "0.3".
pub(crate) fn num(x: f64) -> String {
    let plain = format!("{x}");
    let sci = format!("{x:e}");
    if sci.len() < plain.len() { sci } else { plain }
}

/// One logged quantity of a method's `.jsonl` (besides `iter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Mean cross-entropy over the whole training set.
    TrainCe,
    /// The weight-decay objective in its path-norm form: train CE + λ·Σ_units ‖w‖‖v‖ (+ (λ/2)‖θ_other‖²).
    Objective,
    /// The raw weight-decay objective F(θ) = train CE + (λ/2)‖θ‖².
    ObjectiveL2,
    PathNorm,
    /// Percent (0–100) of grouped units with ‖w‖·‖v‖ > 0.
    ActiveUnits,
    /// Fraction (0–1).
    ValAcc,
    /// Fraction (0–1).
    TestAcc,
    StepsPerS,
    /// Seconds since the start of training.
    WallS,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::TrainCe,
        Metric::Objective,
        Metric::ObjectiveL2,
        Metric::PathNorm,
        Metric::ActiveUnits,
        Metric::ValAcc,
        Metric::TestAcc,
        Metric::StepsPerS,
        Metric::WallS,
    ];

    /// The field name in the log.
    pub fn key(self) -> &'static str {
        match self {
            Metric::TrainCe => "train_ce",
            Metric::Objective => "objective",
            Metric::ObjectiveL2 => "objective_l2",
            Metric::PathNorm => "path_norm",
            Metric::ActiveUnits => "active_units",
            Metric::ValAcc => "val_acc",
            Metric::TestAcc => "test_acc",
            Metric::StepsPerS => "steps_per_s",
            Metric::WallS => "wall_s",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One line of a method's log as read back: the iteration and whichever metrics were finite numbers. (The
/// trainer writes `progress::LogPoint`s; this reader also takes logs that lack metrics or hold nulls.)
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub iter: u64,
    values: [Option<f64>; Metric::ALL.len()],
    /// Metrics written as an explicit `null` (NaN or inf in the trainer), as opposed to absent.
    nulls: u16,
}

impl LogLine {
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.values[m.index()]
    }

    /// True when the trainer wrote `null` for this metric: the value was NaN or infinite.
    pub fn is_null(&self, m: Metric) -> bool {
        self.nulls & (1 << m.index()) != 0
    }

    /// `None` when the line has no usable `iter` (the point cannot be placed on any curve).
    fn from_json(obj: &JsonObject) -> Option<Self> {
        let iter = match obj.get("iter")? {
            Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|x| *x >= 0.0 && x.fract() == 0.0).map(|x| x as u64))?,
            _ => return None,
        };
        let mut p = LogLine { iter, values: [None; Metric::ALL.len()], nulls: 0 };
        for m in Metric::ALL {
            match obj.get(m.key()) {
                Some(Value::Number(n)) => p.values[m.index()] = n.as_f64().filter(|x| x.is_finite()),
                Some(Value::Null) => p.nulls |= 1 << m.index(),
                _ => {}
            }
        }
        Some(p)
    }
}

type JsonObject = serde_json::Map<String, Value>;

/// Splits a `.jsonl` text into parsed objects. Returns them with the 1-based numbers of the lines that
/// had to be skipped (not a JSON object), leaving out an unparsable last line that has no newline: that
/// is a line the writer had not finished.
fn jsonl_objects(text: &str) -> (Vec<(usize, JsonObject)>, Vec<usize>) {
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.split('\n').collect();
    let n = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(o)) => objects.push((i + 1, o)),
            _ if i + 1 == n && !complete => {}
            _ => skipped.push(i + 1),
        }
    }
    (objects, skipped)
}

/// The whole log of one method: its points in file order (the trainer appends in iteration order).
#[derive(Clone, Debug)]
pub struct MethodLog {
    /// The file stem: "wd", "wd-wn", "pathprox", "pathprox-nobalance", "pathnorm-sgd", "lasso", "group-lasso", …
    pub method: String,
    pub points: Vec<LogLine>,
    /// 1-based numbers of lines that were not JSON objects with an `iter`, other than an unfinished last line.
    pub skipped_lines: Vec<usize>,
}

impl MethodLog {
    pub fn parse(method: impl Into<String>, text: &str) -> Self {
        let (objects, mut skipped_lines) = jsonl_objects(text);
        let mut points = Vec::with_capacity(objects.len());
        for (line, o) in objects {
            match LogLine::from_json(&o) {
                Some(p) => points.push(p),
                None => skipped_lines.push(line),
            }
        }
        skipped_lines.sort_unstable();
        MethodLog { method: method.into(), points, skipped_lines }
    }

    /// `(iter, value)` for every point where `m` is a finite number.
    pub fn series(&self, m: Metric) -> Vec<(f64, f64)> {
        self.points.iter().filter_map(|p| Some((p.iter as f64, p.get(m)?))).collect()
    }

    /// The last point that has `m`, as `(iter, value)`.
    pub fn last(&self, m: Metric) -> Option<(u64, f64)> {
        self.points.iter().rev().find_map(|p| Some((p.iter, p.get(m)?)))
    }

    /// `(iter, value)` for every point that has `m`, with `(iter, NaN)` where the log holds `null`: a
    /// curve is drawn with a gap there rather than bridging a NaN.
    pub fn series_with_gaps(&self, m: Metric) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .filter_map(|p| match p.get(m) {
                Some(v) => Some((p.iter as f64, v)),
                None if p.is_null(m) => Some((p.iter as f64, f64::NAN)),
                None => None,
            })
            .collect()
    }

    /// Where the run diverged: the iteration from which the loss or the objective is logged as `null`
    /// (NaN/inf) with no finite value after it. A NaN the run recovered from is not a divergence.
    pub fn diverged_at(&self) -> Option<u64> {
        let mut at = None;
        for p in &self.points {
            let bad = p.is_null(Metric::TrainCe) || p.is_null(Metric::Objective);
            let good = p.get(Metric::TrainCe).is_some() || p.get(Metric::Objective).is_some();
            if bad && !good {
                at = at.or(Some(p.iter));
            } else if good {
                at = None;
            }
        }
        at
    }

    /// The reported accuracy (docs/algorithm.md, Metrics): test accuracy at the log point with the highest
    /// validation accuracy, among points that have both; the earliest such point on ties.
    pub fn best_validation(&self) -> Option<BestValidation> {
        let mut best: Option<BestValidation> = None;
        for p in &self.points {
            if let (Some(val_acc), Some(test_acc)) = (p.get(Metric::ValAcc), p.get(Metric::TestAcc))
                && best.is_none_or(|b| val_acc > b.val_acc)
            {
                best = Some(BestValidation { iter: p.iter, val_acc, test_acc });
            }
        }
        best
    }

    /// Name for legends and tables: the paper's names for the known methods, the file stem otherwise.
    pub fn display_name(&self) -> String {
        display_name(&self.method)
    }
}

/// The paper's names for the methods the trainer knows (`Method::paper_name`); any other method keeps its
/// file name.
pub fn display_name(method: &str) -> String {
    Method::parse(method).map_or_else(|_| method.to_string(), |m| m.paper_name().to_string())
}

/// Methods in the order the paper discusses them (`Method::rank`); unknown ones after, alphabetically.
pub(crate) fn method_rank(method: &str) -> (usize, String) {
    (Method::parse(method).map_or(Method::NAMES.len(), Method::rank), method.to_string())
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BestValidation {
    pub iter: u64,
    pub val_acc: f64,
    pub test_acc: f64,
}

/// One line of Task 5's `sparsity.jsonl`: a retrained sparse model.
#[derive(Clone, Debug, PartialEq)]
pub struct SparsityPoint {
    pub method: String,
    /// Percent of units removed.
    pub sparsity: f64,
    /// Fraction (0–1).
    pub test_acc: f64,
    pub lambda: Option<f64>,
    pub lr: Option<f64>,
}

/// Task 5's results: every retrained model, read from `sparsity.jsonl`.
#[derive(Clone, Debug, Default)]
pub struct SparsityLog {
    pub points: Vec<SparsityPoint>,
    pub skipped_lines: Vec<usize>,
}

impl SparsityLog {
    pub fn parse(text: &str) -> Self {
        let (objects, mut skipped_lines) = jsonl_objects(text);
        let finite = |o: &JsonObject, k: &str| o.get(k).and_then(Value::as_f64).filter(|x| x.is_finite());
        let mut points = Vec::new();
        for (line, o) in objects {
            let p = (|| {
                Some(SparsityPoint {
                    method: o.get("method")?.as_str()?.to_string(),
                    sparsity: finite(&o, "sparsity")?,
                    test_acc: finite(&o, "test_acc")?,
                    lambda: finite(&o, "lambda"),
                    lr: finite(&o, "lr"),
                })
            })();
            match p {
                Some(p) => points.push(p),
                None => skipped_lines.push(line),
            }
        }
        skipped_lines.sort_unstable();
        SparsityLog { points, skipped_lines }
    }

    /// The methods present, in the paper's order.
    pub fn methods(&self) -> Vec<String> {
        let mut m: Vec<String> = self.points.iter().map(|p| p.method.clone()).collect();
        m.sort_by_key(|m| method_rank(m));
        m.dedup();
        m
    }

    /// Best test accuracy per sparsity level for one method: for each sparsity s reached by one of its
    /// models, the best test accuracy among its models with sparsity ≥ s (the paper's Fig. 5: "the best
    /// solution with at least this sparsity"). Sorted by sparsity; non-increasing in accuracy.
    pub fn frontier(&self, method: &str) -> Vec<(f64, f64)> {
        let mut pts: Vec<(f64, f64)> =
            self.points.iter().filter(|p| p.method == method).map(|p| (p.sparsity, p.test_acc)).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut out: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
        let mut best = f64::NEG_INFINITY;
        for &(s, acc) in pts.iter().rev() {
            best = best.max(acc);
            match out.last_mut() {
                Some(last) if last.0 == s => last.1 = best,
                _ => out.push((s, best)),
            }
        }
        out.reverse();
        out
    }
}

/// A run directory, read.
#[derive(Clone, Debug)]
pub struct Run {
    pub dir: PathBuf,
    pub config: RunConfig,
    /// One per `<method>.jsonl`, in the paper's order.
    pub methods: Vec<MethodLog>,
    pub sparsity: Option<SparsityLog>,
}

impl Run {
    /// Builds a run from texts already read (wasm, tests): `files` maps file names to contents.
    pub fn from_texts<'a>(dir: impl Into<PathBuf>, files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let dir = dir.into();
        let mut config = None;
        let mut methods = Vec::new();
        let mut sparsity = None;
        for (name, text) in files {
            if name == "config.json" {
                config = Some(RunConfig::parse(text, dir.join(name))?);
            } else if name == "sparsity.jsonl" {
                sparsity = Some(SparsityLog::parse(text));
            } else if name == "lipschitz.jsonl" || name == "sweep.jsonl" {
                // Not a method's log: the run's local Lipschitz constants (`pathprox lipschitz`) or a grid
                // search's results (`sweep`).
            } else if let Some(stem) = name.strip_suffix(".jsonl").filter(|s| !s.is_empty()) {
                methods.push(MethodLog::parse(stem, text));
            }
        }
        let config = config.ok_or_else(|| Error::Report {
            path: dir.join("config.json"),
            msg: "no such file: a run directory holds config.json".into(),
        })?;
        methods.sort_by_key(|m| method_rank(&m.method));
        Ok(Run { dir, config, methods, sparsity })
    }

    /// Reads `dir/config.json`, every `dir/<method>.jsonl` and `dir/sparsity.jsonl` if present.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(dir: &std::path::Path) -> Result<Self> {
        let io = |path: &std::path::Path, e: std::io::Error| Error::Report { path: path.to_path_buf(), msg: e.to_string() };
        if !dir.is_dir() {
            let msg = if dir.exists() { "not a directory" } else { "no such run directory" };
            return Err(Error::Report { path: dir.to_path_buf(), msg: msg.into() });
        }
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let entry = entry.map_err(|e| io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name == "config.json" || name.ends_with(".jsonl")) && entry.path().is_file() {
                names.push(name);
            }
        }
        let mut texts = Vec::with_capacity(names.len());
        for name in &names {
            let path = dir.join(name);
            // Lossy: a run killed mid-write can leave a torn UTF-8 sequence on the last line.
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            texts.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        Run::from_texts(dir, names.iter().map(String::as_str).zip(texts.iter().map(String::as_str)))
    }

    pub fn method(&self, name: &str) -> Option<&MethodLog> {
        self.methods.iter().find(|m| m.method == name)
    }
}
