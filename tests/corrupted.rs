//! `pathprox corrupt mnist` then `pathprox eval-corrupted` from the command line, on a test set cut short:
//! every corruption is written in MNIST-C's layout, labelled as generated locally, read back and evaluated.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const CORRUPTIONS: [&str; 15] = [
    "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate", "brightness", "translate", "stripe", "fog",
    "spatter", "dotted_line", "zigzag", "canny_edges",
];

#[test]
fn corrupt_then_eval_corrupted_gives_every_corruption_and_a_mean() {
    let root = scratch("cli");
    // The official test set is not in the repository: the shipped subset's files stand in for t10k-* (the
    // same IDX format), which is all `corrupt` reads.
    let mnist = root.join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-10k");
    std::fs::copy(shipped.join("train-10k-images-idx3-ubyte.gz"), mnist.join("t10k-images-idx3-ubyte.gz")).unwrap();
    std::fs::copy(shipped.join("train-10k-labels-idx1-ubyte.gz"), mnist.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let out = root.join("mnist_c");
    let (ok, stdout, stderr) =
        run_cli(&["corrupt", "mnist", "--data-dir", mnist.to_str().unwrap(), "--out", out.to_str().unwrap(), "--max-rows", "120", "--seed", "3"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("not the published MNIST-C") && stderr.contains("not the published MNIST-C"), "{stdout}\n{stderr}");
    for c in CORRUPTIONS.iter().chain(&["identity"]) {
        assert!(stdout.contains(c), "{c} reported: {stdout}");
        let images = std::fs::read(out.join(c).join("test_images.npy")).unwrap();
        let npy = pathprox::data::npy::Npy::parse(c, &images).unwrap();
        assert_eq!(npy.shape, vec![120, 28, 28, 1], "{c}");
    }
    let provenance = std::fs::read_to_string(out.join("provenance.json")).unwrap();
    assert!(provenance.contains("not the published MNIST-C") && provenance.contains("\"seed\": 3"), "{provenance}");
    assert!(std::fs::read_to_string(out.join("README.txt")).unwrap().contains("not the published MNIST-C"));

    // A tiny Task-1 model to evaluate.
    let runs = root.join("runs");
    let (ok, stdout, stderr) = run_cli(&["task1", "--iters", "4", "--log-every", "2", "--batch", "20", "--max-rows", "200", "--methods", "wd", "--data-dir", "data", "--runs-dir", runs.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let run = PathBuf::from(stdout.lines().find_map(|l| l.strip_prefix("run directory: ")).expect("run directory printed"));
    let ck = run.join("checkpoints/wd.safetensors");
    let json = root.join("result.jsonl");
    let (ok, stdout, stderr) =
        run_cli(&["eval-corrupted", ck.to_str().unwrap(), "--data-dir", root.to_str().unwrap(), "--json", json.to_str().unwrap(), "--eval-batch", "50"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("not the published MNIST-C"), "{stdout}");
    for c in CORRUPTIONS {
        let line = stdout.lines().find(|l| l.starts_with(&format!("| {c} "))).unwrap_or_else(|| panic!("no row for {c}: {stdout}"));
        let acc: f64 = line.split('|').nth(2).unwrap().trim().parse().unwrap();
        assert!((0.0..=100.0).contains(&acc), "{line}");
    }
    let mean_line = stdout.lines().find(|l| l.contains("**mean**")).expect("mean row");
    let mean: f64 = mean_line.split('|').nth(2).unwrap().trim().parse().unwrap();
    assert!((0.0..=100.0).contains(&mean), "{mean_line}");
    assert!(stdout.contains("| identity "), "{stdout}");

    let v: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&json).unwrap().trim()).unwrap();
    assert_eq!(v["generated_locally"], true);
    assert_eq!(v["images"], 120);
    assert_eq!(v["accuracy"].as_object().unwrap().len(), 15);
    let m = v["mean"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&m) && (100.0 * m - mean).abs() < 0.01);
    let sum: f64 = CORRUPTIONS.iter().map(|c| v["accuracy"][c].as_f64().unwrap()).sum();
    assert!((sum / 15.0 - m).abs() < 1e-12, "the mean is over the 15 corruptions");

    // An unsupported pairing and a wrong data set are clear errors.
    let (ok, _, stderr) = run_cli(&["corrupt", "cifar10", "--out", root.join("x").to_str().unwrap()]);
    assert!(!ok && stderr.contains("only mnist"), "{stderr}");
    let cifar = root.join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    std::fs::write(cifar.join("labels.npy"), pathprox::data::npy::to_bytes_u8(&[5], &[0; 5]).unwrap()).unwrap();
    std::fs::write(cifar.join("fog.npy"), pathprox::data::npy::to_bytes_u8(&[5, 32, 32, 3], &[0; 5 * 3072]).unwrap()).unwrap();
    let (ok, _, stderr) = run_cli(&["eval-corrupted", ck.to_str().unwrap(), "--data-dir", cifar.to_str().unwrap()]);
    assert!(!ok && stderr.contains("CIFAR-10-C") && stderr.contains("needs a CIFAR-10 model") && !stderr.contains("panicked"), "{stderr}");
    let (ok, _, stderr) = run_cli(&["eval-corrupted", ck.to_str().unwrap(), "--data-dir", runs.to_str().unwrap()]);
    assert!(!ok && stderr.contains("no MNIST-C") && !stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(root);
}
