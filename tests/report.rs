//! The report layer: run logs (including broken ones) to typed series, PNG figures and the summary table.
//! No GPU: everything here reads and writes files in a fresh temporary directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use pathprox::report::plot::{SIZE, method_color};
use pathprox::report::{MethodLog, Metric, Run, SparsityLog, summary_table, write_figures};

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("pathprox-report-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CONFIG: &str =
    r#"{"task": 1, "model": "MLP-3-400 factorized", "lambda": 0.0001, "lr": 0.3, "batch": 200, "iters": 4000.0, "seed": 7}"#;

/// Weight decay: five clean points. Best validation (0.93) is at iter 3000, where test is 0.91, not the
/// highest test accuracy (0.92 at iter 4000): the table must follow validation.
const WD: &str = r#"{"iter": 0, "train_ce": 2.30, "objective": 2.35, "objective_l2": 2.36, "path_norm": 500, "active_units": 100.0, "val_acc": 0.10, "test_acc": 0.10, "steps_per_s": 40.0, "wall_s": 0.5}
{"iter": 1000, "train_ce": 0.20, "objective": 0.25, "objective_l2": 0.26, "path_norm": 480, "active_units": 100.0, "val_acc": 0.85, "test_acc": 0.84, "steps_per_s": 40.0, "wall_s": 25.0}
{"iter": 2000, "train_ce": 0.05, "objective": 0.09, "objective_l2": 0.095, "path_norm": 420, "active_units": 100.0, "val_acc": 0.90, "test_acc": 0.89, "steps_per_s": 40.0, "wall_s": 50.0}
{"iter": 3000, "train_ce": 0.01, "objective": 0.04, "objective_l2": 0.042, "path_norm": 300, "active_units": 100.0, "val_acc": 0.93, "test_acc": 0.91, "steps_per_s": 40.0, "wall_s": 75.0}
{"iter": 4000, "train_ce": 0.005, "objective": 0.0321, "objective_l2": 0.034, "path_norm": 270, "active_units": 100.0, "val_acc": 0.92, "test_acc": 0.92, "steps_per_s": 40.0, "wall_s": 725.0}
"#;

/// PathProx: a null objective at iter 1000 (a NaN in the trainer; it recovers, so no divergence), a point with
/// no val_acc at iter 2000 (it must not be taken as best), ties at 0.95 (the earliest wins), and a last
/// line cut off mid-write.
const PP: &str = r#"{"iter": 0, "train_ce": 2.30, "objective": 2.33, "objective_l2": 2.40, "path_norm": 300, "active_units": 100.0, "val_acc": 0.10, "test_acc": 0.11, "steps_per_s": 35.0, "wall_s": 0.6}
{"iter": 1000, "train_ce": 0.15, "objective": null, "objective_l2": 0.30, "path_norm": 250, "active_units": 60.0, "val_acc": 0.95, "test_acc": 0.94, "steps_per_s": 35.0, "wall_s": 30.0}
{"iter": 2000, "train_ce": 0.03, "objective": 0.05, "objective_l2": 0.11, "path_norm": 200, "active_units": 40.0, "test_acc": 0.99, "steps_per_s": 35.0, "wall_s": 60.0}
{"iter": 3000, "train_ce": 0.008, "objective": 0.02, "objective_l2": 0.08, "path_norm": 150, "active_units": 25.5, "val_acc": 0.95, "test_acc": 0.93, "steps_per_s": 35.0, "wall_s": 90.0}
{"iter": 4000, "train_ce": 0.004, "objective": 0.0123, "objective_l2": 0.07, "path_norm": 120, "active_units": 12.5, "val_acc": 0.94, "test_acc": 0.935, "steps_per_s": 35.0, "wall_s": 7384.0}
{"iter": 5000, "train_ce": 0.003, "objec"#;

fn fake_run(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.write("config.json", CONFIG);
    dir.write("wd.jsonl", WD);
    dir.write("pathprox.jsonl", PP);
    dir
}

fn decode(path: &Path) -> image::RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

fn count(img: &image::RgbImage, rgb: [u8; 3]) -> usize {
    img.pixels().filter(|p| p.0 == rgb).count()
}

#[test]
fn logs_parse_with_nulls_missing_fields_and_a_torn_last_line() {
    let pp = MethodLog::parse("pathprox", PP);
    assert_eq!(pp.points.len(), 5, "the unfinished last line is ignored");
    assert!(pp.skipped_lines.is_empty(), "an unfinished last line is not an error: {:?}", pp.skipped_lines);
    assert_eq!(pp.points[1].get(Metric::Objective), None);
    assert!(pp.points[1].is_null(Metric::Objective));
    assert!(!pp.points[2].is_null(Metric::ValAcc), "absent is not null");
    assert_eq!(pp.series(Metric::Objective).iter().map(|p| p.0).collect::<Vec<_>>(), [0.0, 2000.0, 3000.0, 4000.0]);
    assert_eq!(pp.series(Metric::ValAcc).len(), 4);
    assert_eq!(pp.diverged_at(), None, "recovered after the NaN");
    assert!(pp.series_with_gaps(Metric::Objective)[1].1.is_nan());
    assert_eq!(pp.series_with_gaps(Metric::Objective).len(), 5);
    let best = pp.best_validation().unwrap();
    assert_eq!(
        (best.iter, best.val_acc, best.test_acc),
        (1000, 0.95, 0.94),
        "earliest of the tied best, never the point without val_acc"
    );

    // A broken line in the middle is skipped and reported; a non-numeric or negative iter drops the point.
    let text =
        "{\"iter\": 0, \"train_ce\": 1.0}\nnot json\n{\"iter\": \"x\"}\n{\"iter\": -1}\n{\"iter\": 2, \"train_ce\": \"nan\"}\n";
    let m = MethodLog::parse("x", text);
    assert_eq!(m.points.len(), 2);
    assert_eq!(m.skipped_lines, vec![2, 3, 4]);
    assert_eq!(m.series(Metric::TrainCe), vec![(0.0, 1.0)]);
    assert!(MethodLog::parse("empty", "").points.is_empty());
}

#[test]
fn sparsity_frontier_is_the_best_accuracy_at_or_above_each_level() {
    let s = SparsityLog::parse(
        "{\"method\":\"pathprox\",\"sparsity\":10,\"test_acc\":0.97,\"lambda\":1e-4,\"lr\":0.01}\n\
         {\"method\":\"pathprox\",\"sparsity\":50,\"test_acc\":0.98,\"lambda\":1e-3,\"lr\":0.01}\n\
         {\"method\":\"pathprox\",\"sparsity\":80,\"test_acc\":0.90,\"lambda\":1e-2,\"lr\":0.01}\n\
         {\"method\":\"lasso\",\"sparsity\":30,\"test_acc\":null}\n\
         {\"method\":\"lasso\",\"sparsity\":30,\"test_acc\":0.95}\n\
         {\"method\":\"wd\",\"sparsity\":0,\"test_acc\":0.",
    );
    assert_eq!(s.skipped_lines, vec![4]);
    assert_eq!(s.methods(), ["pathprox", "lasso"]);
    assert_eq!(s.frontier("pathprox"), vec![(10.0, 0.98), (50.0, 0.98), (80.0, 0.90)]);
    assert_eq!(s.frontier("lasso"), vec![(30.0, 0.95)]);
}

#[test]
fn figures_are_drawn_decodable_and_show_every_method() {
    let dir = fake_run("figures");
    let paths = write_figures(&dir.0).unwrap();
    let names: Vec<String> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["objective.png", "objective_raw.png", "active_units.png", "train_ce.png", "accuracy.png"]);
    let wd = method_color("wd").unwrap();
    let pp = method_color("pathprox").unwrap();
    for path in &paths {
        assert_eq!(path.parent().unwrap(), dir.0.join("figures"));
        let img = decode(path);
        assert_eq!(img.dimensions(), SIZE, "{}", path.display());
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255], "white background");
        let colours: HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        assert!(colours.len() >= 8, "{}: only {} colours", path.display(), colours.len());
        // The legend sample alone is ~80 pixels; a curve across the plot is many more.
        for (name, c) in [("wd", wd), ("pathprox", pp)] {
            let n = count(&img, c);
            assert!(n > 400, "{}: {name}'s colour {c:?} on only {n} pixels", path.display());
        }
        // Text is there: dark anti-aliased pixels in the title band.
        let dark_in_title = (0..SIZE.0)
            .flat_map(|x| (5..40).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&v| v < 100))
            .count();
        assert!(dark_in_title > 100, "{}: no title text", path.display());
    }
    // Drawing again replaces the files (the trainer redraws as a run goes on) and leaves no temp files.
    assert_eq!(write_figures(&dir.0).unwrap(), paths);
    let left: Vec<_> = std::fs::read_dir(dir.0.join("figures")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), paths.len(), "{left:?}");
}

#[test]
fn sparsity_figure_when_task5_results_exist() {
    let dir = TempDir::new("sparsity");
    dir.write("config.json", r#"{"task": "5", "model": "MLP-3-800", "lambda": 0.001, "lr": 0.03, "batch": 200, "iters": 100}"#);
    let mut lines = String::new();
    for (m, pts) in [
        ("wd", [(0.0, 0.981), (0.0, 0.983), (0.0, 0.979)]),
        ("pathprox", [(20.0, 0.982), (60.0, 0.975), (90.0, 0.95)]),
        ("lasso", [(15.0, 0.97), (40.0, 0.96), (70.0, 0.90)]),
    ] {
        for (i, (s, a)) in pts.iter().enumerate() {
            lines += &format!(
                "{{\"method\": \"{m}\", \"sparsity\": {s}, \"test_acc\": {a}, \"lambda\": {}, \"lr\": 0.01}}\n",
                [1e-4, 1e-3, 1e-2][i]
            );
        }
    }
    dir.write("sparsity.jsonl", &lines);
    let paths = write_figures(&dir.0).unwrap();
    assert_eq!(paths, vec![dir.0.join("figures").join("sparsity.png")], "no method logs: only the sparsity figure");
    let img = decode(&paths[0]);
    assert_eq!(img.dimensions(), SIZE);
    for m in ["wd", "pathprox", "lasso"] {
        let n = count(&img, method_color(m).unwrap());
        assert!(n > 150, "{m}: {n} pixels");
    }
}

#[test]
fn summary_table_reports_test_accuracy_at_best_validation() {
    let dir = fake_run("summary");
    let table = summary_table(&dir.0).unwrap();
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("| {name} ")))
            .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
            .to_string()
    };
    let cells = |name: &str| row(name).split('|').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect::<Vec<_>>();
    assert!(table.starts_with("Task 1 · MLP-3-400 factorized · λ = 1e-4 · lr = 0.3 · batch 200 · 4000 iterations\n"), "{table}");
    // method | test acc. at best val. | best val. acc. | at iter | active units (end) | final objective | wall time
    assert_eq!(
        cells("weight decay"),
        ["weight decay", "91.00%", "93.00%", "3,000", "100.0%", "0.03210", "12 min 05 s"],
        "{table}"
    );
    assert_eq!(cells("PathProx"), ["PathProx", "94.00%", "95.00%", "1,000", "12.5%", "0.01230", "2 h 03 min"], "{table}");
    assert!(!table.contains("diverged"), "a NaN the run recovered from is no divergence:\n{table}");
    // Every table line has the same width, so the plain text lines up as well as the Markdown renders.
    let widths: HashSet<usize> = table.lines().filter(|l| l.starts_with('|')).map(|l| l.chars().count()).collect();
    assert_eq!(widths.len(), 1, "{table}");
    assert_eq!(table.lines().filter(|l| l.starts_with('|')).count(), 4);

    let rows = Run::load(&dir.0).unwrap().summary_rows();
    assert_eq!(rows[0].method, "wd");
    assert_eq!(rows[0].test_acc_at_best_val, Some(0.91));
    assert_eq!(rows[1].final_objective, Some(0.0123));
}

#[test]
fn a_run_that_ends_in_nan_shows_diverged_not_an_old_objective() {
    let dir = TempDir::new("diverged");
    dir.write("config.json", CONFIG);
    dir.write(
        "pathprox-nobalance.jsonl",
        "{\"iter\": 0, \"train_ce\": 2.3, \"objective\": 2.4, \"val_acc\": 0.1, \"test_acc\": 0.1}\n{\"iter\": 100, \"train_ce\": null, \"objective\": null, \"val_acc\": 0.098, \"test_acc\": 0.098}\n",
    );
    let table = summary_table(&dir.0).unwrap();
    assert!(table.contains("| diverged at 100 |"), "{table}");
    assert!(table.contains("PathProx, no balancing: diverged (NaN/inf logged) at iteration 100."), "{table}");
    // The figures still draw, with the one finite point.
    let paths = write_figures(&dir.0).unwrap();
    assert!(paths.iter().any(|p| p.ends_with("objective.png")), "{paths:?}");
    let img = decode(&paths[0]);
    assert!(count(&img, method_color("pathprox-nobalance").unwrap()) > 50);
}

#[test]
fn errors_name_the_file() {
    let missing = std::env::temp_dir().join(format!("pathprox-report-no-such-run-{}", std::process::id()));
    let e = write_figures(&missing).unwrap_err().to_string();
    assert!(e.contains(&missing.display().to_string()) && e.contains("no such run directory"), "{e}");
    let e = summary_table(&missing).unwrap_err().to_string();
    assert!(e.contains("no such run directory"), "{e}");

    let dir = TempDir::new("bad-config");
    dir.write("config.json", "{\"task\": \"1\", \"model\": ");
    dir.write("wd.jsonl", WD);
    let e = write_figures(&dir.0).unwrap_err().to_string();
    let config = dir.0.join("config.json").display().to_string();
    assert!(e.starts_with(&config) && e.contains("not a valid run config"), "{e}");

    dir.write("config.json", r#"{"task": "1", "model": "m", "lambda": 0.0001, "lr": 0.3, "batch": 200}"#);
    let e = summary_table(&dir.0).unwrap_err().to_string();
    assert!(e.starts_with(&config) && e.contains("missing field `iters`"), "{e}");

    std::fs::remove_file(dir.0.join("config.json")).unwrap();
    let e = summary_table(&dir.0).unwrap_err().to_string();
    assert!(e.starts_with(&config) && e.contains("no such file"), "{e}");
}
