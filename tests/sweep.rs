//! The grid search (`pathprox sweep`, `src/tasks/sweep.rs`, `src/report/sweep.rs`): selection by
//! validation accuracy and mean ± standard error on hand-made logs, the command end to end on a tiny grid,
//! an interrupted and resumed sweep against an uninterrupted one, and Fig. 4's objective figure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use common::*;
use pathprox::report::sweep::{MeanSe, SweepLog};
use pathprox::tasks::sweep::{self, SweepOverrides};
use pathprox::train::checkpoint::Checkpoint;
use pathprox::progress::Progress;

fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("pathprox-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

#[allow(clippy::too_many_arguments)]
fn rec(method: &str, lr: f64, lambda: f64, seed: u64, phase: &str, val: &str, test: f64, active: f64, diverged: bool) -> String {
    format!(
        r#"{{"method":"{method}","lr":{lr},"lambda":{lambda},"seed":{seed},"phase":"{phase}","best_val_acc":{val},"test_acc":{test},"active_units":{active},"best_iter":1000,"diverged":{diverged},"wall_s":1.0}}"#
    )
}

/// Weight decay: the best val. acc. (0.95) is reached at two points, a diverged point logged a higher one
/// before blowing up (0.99, not a candidate), and a point has no val. acc. (a NaN, written as null).
/// PathProx: every grid point diverged but one with a null score, so it has no row.
#[test]
fn selection_ties_divergence_nan_and_mean_se() {
    let lines = [
        rec("wd", 0.1, 1e-3, 0, "grid", "0.95", 0.90, 100.0, false),
        rec("wd", 0.3, 1e-4, 0, "grid", "0.95", 0.91, 100.0, false), // tie: smaller λ wins
        rec("wd", 0.5, 1e-5, 0, "grid", "0.99", 0.97, 100.0, true),  // diverged
        rec("wd", 0.01, 1e-5, 0, "grid", "null", 0.99, 100.0, false), // NaN validation accuracy
        rec("wd", 0.03, 1e-5, 0, "grid", "0.80", 0.80, 100.0, false),
        // Re-runs of (0.3, 1e-4): seeds 1–3, one diverged (left out of the mean), plus a stray other point.
        rec("wd", 0.3, 1e-4, 1, "seed", "0.94", 0.93, 90.0, false),
        rec("wd", 0.3, 1e-4, 2, "seed", "0.95", 0.95, 80.0, false),
        rec("wd", 0.3, 1e-4, 3, "seed", "0.20", 0.10, 0.0, true),
        rec("wd", 0.1, 1e-3, 1, "seed", "0.95", 0.50, 50.0, false),
        rec("pathprox", 0.1, 1e-3, 0, "grid", "0.97", 0.96, 40.0, true),
        rec("pathprox", 0.3, 1e-4, 0, "grid", "null", 0.96, 40.0, false),
    ];
    let text = lines.join("\n") + "\nnot json\n{\"method\": \"wd\", \"lr\": 0.1, \"lamb"; // a bad line, a torn last line
    let log = SweepLog::parse(&text);
    assert_eq!(log.records.len(), lines.len());
    assert_eq!(log.skipped_lines, vec![lines.len() + 1]);
    assert_eq!(log.select("wd", 0), Some((0.3, 1e-4, 0.95)));
    assert_eq!(log.select("pathprox", 0), None);
    assert_eq!(log.select("wd", 1), None, "re-runs are not part of the search");

    let row = log.table1_row("wd", 0, 4).unwrap();
    assert_eq!((row.seeds_done, row.seeds_diverged), (4, 1));
    // Test accuracy over seeds 0, 1, 2: 0.91, 0.93, 0.95 → mean 0.93, sd 0.02, se 0.02/√3.
    let t = row.test_acc.unwrap();
    assert_eq!(t.n, 3);
    assert!((t.mean - 0.93).abs() < 1e-12 && (t.se.unwrap() - 0.02 / 3f64.sqrt()).abs() < 1e-12, "{t:?}");
    let a = row.active_units.unwrap();
    assert!((a.mean - 90.0).abs() < 1e-12 && (a.se.unwrap() - 10.0 / 3f64.sqrt()).abs() < 1e-12, "{a:?}");
    assert_eq!(row.corrupted_acc, None);

    let one = MeanSe::of(&[0.5, f64::NAN]).unwrap();
    assert_eq!((one.mean, one.se, one.n), (0.5, None, 1));
    assert_eq!(one.show(100.0, 2), "50.00");
    assert_eq!(MeanSe::of(&[f64::NAN]), None);

    let table = log.table1("caption", 0, 4);
    let wd = table.lines().find(|l| l.starts_with("| weight decay")).expect(&table);
    let cells: Vec<&str> = wd.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(cells, ["weight decay", "0.3", "1e-4", "95.00%", "93.00 ± 1.15", "90.0 ± 5.8", "3/4"]);
    assert!(!table.contains("| PathProx") && table.contains("PathProx: no grid point"), "{table}");
    assert!(!table.contains("corrupted"), "no corrupted column without data: {table}");
    assert!(table.contains("diverged: weight decay lr 0.5 λ 1e-5 seed 0"), "{table}");

    // The heat map: one panel per method; the diverged cells grey, a cell not in the log left blank.
    let dir = temp("heatmap");
    let path = dir.join("figures/sweep.png");
    pathprox::report::sweep::write_figure(&path, &log, &[0.01, 0.03, 0.1, 0.3, 0.5, 1.0], &[1e-5, 1e-4, 1e-3], 0, "test grid").unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    let grey = img.pixels().filter(|p| p.0 == [200, 200, 200]).count();
    assert!(grey > 1000, "two diverged cells (wd and PathProx) are grey: {grey} pixels");
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(colours.contains(&pathprox::report::heatmap::viridis(1.0)) && colours.contains(&pathprox::report::heatmap::viridis(0.0)), "the best and worst cells span the scale");
    if std::env::var_os("PATHPROX_KEEP_FIGURES").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A run's record comes from its log: the log point with the best validation accuracy (the earliest on
/// ties; a NaN val. acc. is never best), and the test accuracy and active units at that same point.
#[test]
fn record_reads_the_best_validation_point_of_a_log() {
    let dir = temp("record");
    let point = dir.join("lr0.1_lambda1e-4");
    std::fs::create_dir_all(&point).unwrap();
    std::fs::write(point.join("config.json"), r#"{"task":"task1","model":"m","lambda":0.0001,"lr":0.1,"batch":20,"iters":3000}"#).unwrap();
    let line = |it: u64, val: &str, test: f64, active: f64| {
        format!(r#"{{"iter":{it},"train_ce":0.1,"objective":0.2,"objective_l2":0.2,"path_norm":1,"active_units":{active},"val_acc":{val},"test_acc":{test},"wall_s":{it}}}"#)
    };
    let log = [line(0, "0.1", 0.1, 100.0), line(1000, "0.9", 0.85, 70.0), line(2000, "null", 0.99, 60.0), line(3000, "0.9", 0.88, 50.0)].join("\n") + "\n";
    std::fs::write(point.join("pathprox.jsonl"), log).unwrap();
    let r = sweep::record_of(&point, &dir, "pathprox", 0.1, 1e-4, 0, "grid", false).unwrap();
    assert_eq!((r.best_val_acc, r.test_acc, r.active_units, r.best_iter), (Some(0.9), Some(0.85), Some(70.0), Some(1000)));
    assert_eq!((r.wall_s, r.dir.as_str(), r.diverged), (Some(3000.0), "lr0.1_lambda1e-4", false));
    let _ = std::fs::remove_dir_all(dir);
}

fn sweep_cli(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pathprox")).args(args).env("PATHPROX_TUNE", "0").current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
    assert!(out.status.success(), "{stderr}");
    (stdout, stderr)
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The command on a tiny grid: 2 lrs × 1 λ × 2 methods, then one more seed per method.
#[test]
fn sweep_command_writes_results_table_and_figure() {
    let runs = temp("cli");
    let (out, _) = sweep_cli(&[
        "sweep", "task1", "--lrs", "0.05,0.1", "--lambdas", "1e-3", "--seeds", "2", "--iters", "6", "--log-every", "3", "--batch", "20", "--max-rows", "100",
        "--data-dir", "data", "--runs-dir", runs.to_str().unwrap(),
    ]);
    let dir = PathBuf::from(out.lines().find_map(|l| l.strip_prefix("sweep directory: ")).expect("sweep directory printed"));
    assert!(dir.file_name().unwrap().to_string_lossy().starts_with("sweep-task1-"), "{}", dir.display());
    let records = jsonl(&dir.join("sweep.jsonl"));
    assert_eq!(records.len(), 6, "4 grid runs and 2 re-runs");
    assert_eq!(records.iter().filter(|r| r["phase"] == "seed" && r["seed"] == 1).count(), 2);
    for r in &records {
        for k in ["best_val_acc", "test_acc", "active_units", "wall_s"] {
            assert!(r[k].is_number(), "{k} in {r}");
        }
        assert_eq!(r["diverged"], false);
        assert!(dir.join(r["dir"].as_str().unwrap()).join(format!("{}.jsonl", r["method"].as_str().unwrap())).is_file(), "{r}");
    }
    let table = std::fs::read_to_string(dir.join("table1.md")).unwrap();
    assert!(out.contains(&table), "the table is printed: {out}");
    for m in ["| weight decay", "| PathProx"] {
        let row = table.lines().find(|l| l.starts_with(m)).unwrap_or_else(|| panic!("{m} row: {table}"));
        assert!(row.contains(" ± ") && row.ends_with("2/2 |"), "{row}");
    }
    let img = image::open(dir.join("figures/sweep.png")).unwrap().to_rgb8();
    assert!(img.width() > 300 && img.height() > 150);
    assert!(dir.join("lr0.05_lambda1e-3/figures/objective.png").is_file());
    // Resuming a finished sweep trains nothing and gives the same table.
    let (out2, err2) = sweep_cli(&["sweep", "task1", "--resume", dir.to_str().unwrap()]);
    assert_eq!(err2.matches(": done").count(), 6, "{err2}");
    assert!(out2.contains(&table));
    // A sweep from before per-run records (sweep.jsonl only) resumes from its sweep.jsonl.
    std::fs::remove_dir_all(dir.join("records")).unwrap();
    let (out3, err3) = sweep_cli(&["sweep", "task1", "--resume", dir.to_str().unwrap()]);
    assert!(err3.contains("6 finished run(s) read from sweep.jsonl") && err3.matches(": done").count() == 6, "{err3}");
    assert!(out3.contains(&table));
    let _ = std::fs::remove_dir_all(runs);
}

/// Sets the interrupt flag at the `at`-th progress report and counts the runs started.
struct StopAt<'a> {
    at: usize,
    calls: AtomicUsize,
    flag: &'a AtomicBool,
    started: Mutex<Vec<String>>,
}

impl Progress for StopAt<'_> {
    fn start(&self, method: &str, from: u64, _to: u64) {
        self.started.lock().unwrap().push(format!("{method}@{from}"));
    }
    fn advance(&self, _step: u64) {
        if self.calls.fetch_add(1, Ordering::Relaxed) + 1 == self.at {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Ctrl-C in the second grid run, then `--resume`: the first run is not trained again, the second
/// continues from its checkpoint, and `sweep.jsonl` and every checkpoint equal an uninterrupted sweep's.
#[test]
fn interrupted_and_resumed_sweep_equals_an_uninterrupted_one() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let o = SweepOverrides {
        base: pathprox::tasks::Overrides {
            iters: Some(6),
            log_every: Some(3),
            batch: Some(20),
            data_dir: Some("data".into()),
            max_rows: Some(100),
            ..Default::default()
        },
        lrs: Some(vec![0.05, 0.1]),
        lambdas: Some(vec![1e-3]),
        seeds: Some(2),
        corrupted_dir: None,
        tuning: None,
    };
    let no = AtomicBool::new(false);
    let root = temp("straight");
    let straight = sweep::run(gpu, "task1", &o, &root, None, &no, &()).unwrap();

    let root2 = temp("resumed");
    let flag = AtomicBool::new(false);
    // Each run reports progress at steps 3 and 6: the 3rd report is step 3 of the second run (pathprox).
    let stop = StopAt { at: 3, calls: AtomicUsize::new(0), flag: &flag, started: Mutex::new(vec![]) };
    let dir = sweep::run(gpu, "task1", &o, &root2, None, &flag, &stop).unwrap();
    assert_eq!(jsonl(&dir.join("sweep.jsonl")).len(), 1, "only the first run finished");
    assert!(!dir.join("table1.md").exists());
    flag.store(false, Ordering::Relaxed);
    let stop = StopAt { at: 0, calls: AtomicUsize::new(0), flag: &flag, started: Mutex::new(vec![]) };
    sweep::run(gpu, "task1", &o, &root2, Some(&dir), &flag, &stop).unwrap();
    let started = stop.started.lock().unwrap().clone();
    assert_eq!(started.len(), 5, "runs 2–6 only: {started:?}");
    assert!(started[0].starts_with("pathprox 0.05/1e-3/s0") && started[0].ends_with("@3"), "the interrupted run continues from its checkpoint: {started:?}");

    let strip = |v: Vec<serde_json::Value>| {
        v.into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("wall_s");
                r
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(jsonl(&dir.join("sweep.jsonl"))), strip(jsonl(&straight.join("sweep.jsonl"))));
    for r in jsonl(&straight.join("sweep.jsonl")) {
        let p = format!("{}/checkpoints/{}.safetensors", r["dir"].as_str().unwrap(), r["method"].as_str().unwrap());
        let ck = |d: &Path| Checkpoint::load(&d.join(&p)).unwrap().tensors;
        assert_eq!(ck(&dir), ck(&straight), "{p}: bit for bit");
    }
    let table = |d: &Path| std::fs::read_to_string(d.join("table1.md")).unwrap();
    assert_eq!(table(&dir), table(&straight));
    let _ = std::fs::remove_dir_all(root);
    let _ = std::fs::remove_dir_all(root2);
}

#[test]
fn bad_sweep_settings_are_clear_errors() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let no = AtomicBool::new(false);
    let root = temp("bad");
    let run = |o: SweepOverrides, task: &str| sweep::run(gpu, task, &o, &root, None, &no, &()).unwrap_err().to_string();
    assert!(run(SweepOverrides::default(), "task5").contains("task5 has its own grid"));
    assert!(run(SweepOverrides { seeds: Some(0), ..Default::default() }, "task1").contains("--seeds"));
    assert!(run(SweepOverrides { lrs: Some(vec![]), ..Default::default() }, "task1").contains("--lrs"));
    assert!(run(SweepOverrides { lambdas: Some(vec![-1.0]), ..Default::default() }, "task1").contains("--lambdas"));
    let _ = std::fs::remove_dir_all(root);
}

/// Fig. 4: `task1 --methods wd,pathprox,pathnorm-sgd` draws the three methods' objectives in one figure,
/// on a log scale, named as the paper names them.
#[test]
fn fig4_objective_figure_shows_the_three_methods_with_the_papers_names() {
    use pathprox::report::plot::method_color;
    assert_eq!(pathprox::report::display_name("wd"), "weight decay");
    assert_eq!(pathprox::report::display_name("pathprox"), "PathProx");
    assert_eq!(pathprox::report::display_name("pathnorm-sgd"), "SGD on path-norm objective");
    let dir = temp("fig4");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"task":"task1","model":"mlp-3-400-factorized","lambda":0.0001,"lr":0.3,"batch":200,"iters":3000}"#).unwrap();
    for (m, k) in [("wd", 1.0), ("pathprox", 0.5), ("pathnorm-sgd", 2.0)] {
        let log: String = (0..=30)
            .map(|i| format!("{{\"iter\":{},\"train_ce\":0.1,\"objective\":{},\"active_units\":100}}\n", i * 100, k * 2.0 * (-(i as f64) / 6.0).exp() + 0.01 * k))
            .collect();
        std::fs::write(dir.join(format!("{m}.jsonl")), log).unwrap();
    }
    let paths = pathprox::report::write_figures(&dir).unwrap();
    let objective = paths.iter().find(|p| p.ends_with("objective.png")).unwrap();
    let img = image::open(objective).unwrap().to_rgb8();
    for m in ["wd", "pathprox", "pathnorm-sgd"] {
        let c = method_color(m).unwrap();
        let n = img.pixels().filter(|p| p.0 == c).count();
        assert!(n > 400, "{m}'s curve: {n} pixels");
    }
    let table = pathprox::report::summary_table(&dir).unwrap();
    assert!(table.contains("| SGD on path-norm objective"), "{table}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_corrupted_dir_adds_each_runs_corrupted_accuracy_to_the_table() {
    let root = temp("corrupted");
    // The official test set is not in the repository: the shipped subset stands in for t10k-* (same IDX
    // format), which is all `corrupt` reads.
    let mnist = root.join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-10k");
    std::fs::copy(shipped.join("train-10k-images-idx3-ubyte.gz"), mnist.join("t10k-images-idx3-ubyte.gz")).unwrap();
    std::fs::copy(shipped.join("train-10k-labels-idx1-ubyte.gz"), mnist.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let mnist_c = root.join("mnist_c");
    let out = Command::new(env!("CARGO_BIN_EXE_pathprox"))
        .args(["corrupt", "mnist", "--data-dir", mnist.to_str().unwrap(), "--out", mnist_c.to_str().unwrap(), "--max-rows", "60"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let runs = root.join("runs");
    let (stdout, _) = sweep_cli(&[
        "sweep", "task1", "--lrs", "0.1", "--lambdas", "1e-4", "--seeds", "1", "--methods", "wd,pathprox", "--iters", "4", "--log-every", "2",
        "--batch", "20", "--max-rows", "100", "--data-dir", "data", "--runs-dir", runs.to_str().unwrap(), "--corrupted-dir", mnist_c.to_str().unwrap(),
    ]);
    let dir = PathBuf::from(stdout.lines().find_map(|l| l.strip_prefix("sweep directory: ")).expect("sweep directory printed"));
    let records = jsonl(&dir.join("sweep.jsonl"));
    assert_eq!(records.len(), 2);
    for r in &records {
        let acc = r["corrupted_acc"].as_f64().unwrap_or_else(|| panic!("no corrupted accuracy: {r}"));
        assert!((0.0..=1.0).contains(&acc), "{r}");
    }
    let table = std::fs::read_to_string(dir.join("table1.md")).unwrap();
    assert!(table.contains("corrupted acc. (%)"), "{table}");
    let _ = std::fs::remove_dir_all(root);
}
