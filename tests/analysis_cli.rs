//! `pathprox lipschitz`, `export --compact` and `eval` end to end on a tiny Task-1 run of the shipped
//! subset: the files they write and what they print.

mod common;

use std::path::PathBuf;

use common::*;

#[test]
fn lipschitz_export_and_eval_work_on_a_task1_run() {
    let runs = scratch("task1");
    let (ok, out, err) = run_cli(&["task1", "--iters", "4", "--log-every", "2", "--batch", "20", "--max-rows", "60", "--data-dir", "data", "--runs-dir", runs.to_str().unwrap()]);
    assert!(ok, "{err}");
    let dir = PathBuf::from(out.lines().find_map(|l| l.strip_prefix("run directory: ")).expect("run directory printed"));
    // task1 ends with the Lipschitz table, on the best-validation checkpoints the trainer kept.
    assert!(out.contains("Local Lipschitz constants") && out.contains("wd.best.safetensors") && out.contains("pathprox.best.safetensors"), "{out}");
    let log = std::fs::read_to_string(dir.join("lipschitz.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|l| l["method"].as_str().unwrap()).collect::<Vec<_>>(), ["wd", "pathprox"]);
    for l in &lines {
        assert_eq!((l["n"].as_u64(), l["values"].as_array().map(|v| v.len())), (Some(60), Some(60)), "--max-rows 60 leaves 60 test images");
        assert!(l["mean"].as_f64().unwrap() > 0.0 && l["max"].as_f64() >= l["median"].as_f64());
    }
    assert!(dir.join("figures/lipschitz.png").is_file());
    // The summary does not mistake lipschitz.jsonl for a method's log.
    let (ok, out, _) = run_cli(&["plot", dir.to_str().unwrap()]);
    assert!(ok && !out.contains("lipschitz"), "{out}");

    let (ok, out, err) = run_cli(&["lipschitz", dir.to_str().unwrap(), "--samples", "7"]);
    assert!(ok && out.contains("| weight decay") && out.contains("| 7 |"), "{out}{err}");

    let best = dir.join("checkpoints/pathprox.best.safetensors");
    let small = runs.join("small.safetensors");
    let (ok, _, err) = run_cli(&["export", best.to_str().unwrap(), small.to_str().unwrap()]);
    assert!(!ok && err.contains("--compact"), "{err}");
    let (ok, out, err) = run_cli(&["export", "--compact", best.to_str().unwrap(), small.to_str().unwrap()]);
    assert!(ok && out.contains("parameters") && small.is_file(), "{out}{err}");
    let (ok, out, err) = run_cli(&["eval", small.to_str().unwrap(), "--run", dir.to_str().unwrap(), "--compare", best.to_str().unwrap(), "--repeats", "1"]);
    assert!(ok, "{err}");
    assert!(out.contains("test set: 60 images") && out.contains("agree on 60 of 60"), "{out}");
    let (ok, _, err) = run_cli(&["eval", runs.join("missing.safetensors").to_str().unwrap(), "--run", dir.to_str().unwrap()]);
    assert!(!ok && err.contains("missing.safetensors") && !err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(runs);
}
