//! The command line as a user meets it: exit codes, error messages, and short real runs.

mod common;

use std::path::PathBuf;

use common::*;

#[test]
fn adapters_lists_at_least_one_and_bad_choices_fail_cleanly() {
    let (ok, out, _) = run_cli_tuned(&["adapters"]);
    assert!(ok && out.starts_with("* "), "{out}");
    let (ok, _, err) = run_cli_tuned(&["--backend", "cuda", "adapters"]);
    assert!(!ok && err.contains("unknown backend 'cuda'"), "{err}");
    // No adapter at all (no Metal on Linux): non-zero exit, a message saying what to install, no panic.
    if cfg!(target_os = "linux") {
        let (ok, _, err) = run_cli_tuned(&["--backend", "metal", "bench", "--quick"]);
        assert!(!ok && err.contains("no GPU adapter found") && err.contains("apt-get install") && !err.contains("panicked"), "{err}");
    }
    let (ok, _, err) = run_cli_tuned(&["--adapter", "no-such-gpu", "bench", "--quick"]);
    assert!(!ok && err.contains("no adapter matches") && !err.contains("panicked"), "{err}");
}

#[test]
fn bad_settings_and_missing_data_are_clear_errors() {
    let (ok, _, err) = run_cli_tuned(&["task1", "--methods", "wd,sgdx", "--iters", "1"]);
    assert!(!ok && err.contains("unknown method 'sgdx'"), "{err}");
    let (ok, _, err) = run_cli_tuned(&["task1", "--lr=-1", "--iters", "1"]);
    assert!(!ok && err.contains("--lr"), "{err}");
    let empty = scratch("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, _, err) = run_cli_tuned(&["task1", "--iters", "1", "--data-dir", empty.to_str().unwrap(), "--runs-dir", empty.to_str().unwrap()]);
    assert!(!ok && err.contains("download") && !err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "missing data leaves no run directory behind");
    let (ok, _, err) = run_cli_tuned(&["task3", "--dataset", "mnist", "--iters", "1", "--data-dir", "data", "--runs-dir", empty.to_str().unwrap()]);
    assert!(!ok && err.contains("vgg19, which takes [3, 32, 32] inputs"), "{err}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "a model that cannot take the data fails before any run directory is made");
    let (ok, _, err) = run_cli_tuned(&["task1", "--resume", empty.to_str().unwrap()]);
    assert!(!ok && err.contains("not a run directory"), "{err}");
}

#[test]
fn task1_runs_end_to_end_on_the_shipped_subset() {
    let runs = scratch("task1");
    let (ok, out, err) = run_cli_tuned(&["task1", "--iters", "6", "--log-every", "3", "--batch", "20", "--data-dir", "data", "--runs-dir", runs.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("note:") && err.contains("subset"), "the data note must be printed: {err}");
    let dir = PathBuf::from(out.lines().find_map(|l| l.strip_prefix("run directory: ")).expect("run directory printed"));
    assert!(out.contains("| weight decay") && out.contains("| PathProx"), "summary table printed: {out}");
    for f in ["config.json", "wd.jsonl", "pathprox.jsonl", "checkpoints/wd.safetensors", "checkpoints/pathprox.safetensors", "figures/objective.png", "figures/active_units.png", "figures/accuracy.png"] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    assert_eq!(std::fs::read_to_string(dir.join("pathprox.jsonl")).unwrap().lines().count(), 3);
    let _ = std::fs::remove_dir_all(runs);
}

#[test]
fn a_diverged_method_reads_as_diverged_and_exits_2() {
    let runs = scratch("diverged");
    let out = cli_command()
        .args(["task1", "--lr", "1e9", "--methods", "wd,pathprox", "--iters", "4", "--log-every", "2", "--batch", "20", "--max-rows", "200"])
        .args(["--data-dir", "data", "--runs-dir", runs.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("diverged: wd at iteration 2") && !stderr.contains("panicked"), "{stderr}");
    // Every method still ran and the table was printed, each diverged row saying so instead of figures.
    let row = stdout.lines().find(|l| l.starts_with("| weight decay")).expect("wd row");
    assert!(row.contains("diverged at 2") && !row.contains('%'), "{row}");
    assert!(stdout.lines().any(|l| l.starts_with("| PathProx")), "{stdout}");
    let dir = runs.read_dir().unwrap().next().unwrap().unwrap().path();
    assert!(dir.join("checkpoints/wd.safetensors").is_file(), "the initial parameters are kept");
    assert!(dir.join("figures/objective.png").is_file());
    let _ = std::fs::remove_dir_all(runs);
}

#[test]
fn step_runs_fixed_batch_updates_that_compose() {
    let dir = scratch("step");
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let common = ["--model", "mlp-3-400-factorized", "--method", "pathprox", "--batch", "16", "--lr", "0.3", "--data", "data"];
    let run = |extra: &[&str]| {
        let mut args = vec!["step"];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        // Untuned: each process then picks the same kernels, so the composed updates are bit-comparable.
        let (ok, _, err) = run_cli(&args);
        assert!(ok, "{err}");
    };
    run(&["--iters", "2", "--out", &p("two.safetensors")]);
    run(&["--iters", "1", "--init", &p("two.safetensors"), "--out", &p("three_a.safetensors")]);
    run(&["--iters", "3", "--out", &p("three_b.safetensors")]);
    let a = pathprox::train::checkpoint::Checkpoint::load(std::path::Path::new(&p("three_a.safetensors"))).unwrap();
    let b = pathprox::train::checkpoint::Checkpoint::load(std::path::Path::new(&p("three_b.safetensors"))).unwrap();
    assert_eq!(a.tensors, b.tensors, "2 steps then 1 must equal 3 steps (same batch, no shuffling)");
    let (ok, _, err) = run_cli_tuned(&["step", "--model", "mlp-9", "--method", "wd", "--out", &p("x.safetensors"), "--data", "data"]);
    assert!(!ok && err.contains("unknown model"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Tasks 3 and 4 end to end on files in the published formats (`tests/fixtures/rgb`: a CIFAR-10 binary
/// `.tar.gz`, SVHN MAT-files written by SciPy), VGG19 through the same trainer as the MLPs: logs,
/// figures, checkpoints in PyTorch's VGG naming. Kernel tuning is off: these runs check the plumbing.
#[test]
fn task3_and_task4_run_vgg19_end_to_end_on_files_in_the_published_formats() {
    let runs = scratch("vgg");
    let svhn = runs.join("svhn");
    std::fs::create_dir_all(&svhn).unwrap();
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rgb");
    std::fs::copy(fixtures.join("svhn_plain.mat"), svhn.join("train_32x32.mat")).unwrap();
    std::fs::copy(fixtures.join("svhn_zlib.mat"), svhn.join("test_32x32.mat")).unwrap();
    let r = runs.to_str().unwrap();
    for (task, data, methods) in [("task3", fixtures.to_str().unwrap(), "wd-wn"), ("task4", svhn.to_str().unwrap(), "pathprox")] {
        let (ok, stdout, stderr) = run_cli(&[task, "--iters", "2", "--log-every", "1", "--batch", "4", "--lr", "0.01", "--methods", methods, "--data-dir", data, "--runs-dir", r]);
        assert!(ok, "{task}: {stderr}");
        assert!(stderr.contains("vgg19 on"), "{task}: {stderr}");
        let dir = PathBuf::from(stdout.lines().find_map(|l| l.strip_prefix("run directory: ")).expect("run directory printed"));
        for f in [format!("{methods}.jsonl"), format!("checkpoints/{methods}.safetensors"), "figures/objective.png".into(), "figures/accuracy.png".into()] {
            assert!(dir.join(&f).is_file(), "{task}: missing {f}");
        }
        assert_eq!(std::fs::read_to_string(dir.join(format!("{methods}.jsonl"))).unwrap().lines().count(), 3);
        let ck = pathprox::train::checkpoint::Checkpoint::load(&dir.join(format!("checkpoints/{methods}.safetensors"))).unwrap();
        let names: Vec<&str> = ck.tensors.iter().map(|t| t.0.as_str()).collect();
        assert_eq!((names[0], names[32], names.len()), ("features.0.weight", "classifier.weight", 34), "{task}");
        assert_eq!(ck.tensors[0].1, vec![64, 3, 3, 3]);
        if task == "task3" {
            // Compact export and evaluation work on VGG19 too (here nothing is dead: the same widths).
            let (ck, small) = (dir.join("checkpoints/wd-wn.safetensors"), runs.join("small.safetensors"));
            let (ok, out, err) = run_cli(&["export", "--compact", ck.to_str().unwrap(), small.to_str().unwrap()]);
            assert!(ok && out.contains("units of layers features.0→features.2"), "{out}{err}");
            let (ok, out, err) = run_cli(&["eval", ck.to_str().unwrap(), "--compare", small.to_str().unwrap(), "--repeats", "1"]);
            assert!(ok && out.contains("predicted classes agree on 2 of 2"), "{out}{err}");
        }
    }
    // One VGG19 update on the first images of data_batch_1, written for anyone to check.
    let out = runs.join("step.safetensors");
    let (ok, _, err) = run_cli(&["step", "--model", "vgg19", "--dataset", "cifar10", "--data", fixtures.to_str().unwrap(), "--method", "pathprox", "--batch", "3", "--lr", "0.01", "--out", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    let ck = pathprox::train::checkpoint::Checkpoint::load(&out).unwrap();
    assert!(ck.metadata["batch"].contains("first 3 images of CIFAR-10"), "{:?}", ck.metadata);
    // That VGG19 on CIFAR-10-C (a tiny set in its published layout: HWC images, 5 severities in a row).
    let cc = runs.join("CIFAR-10-C");
    std::fs::create_dir_all(&cc).unwrap();
    let hwc: Vec<u8> = (0..10 * 3072).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(cc.join("fog.npy"), pathprox::data::npy::to_bytes_u8(&[10, 32, 32, 3], &hwc).unwrap()).unwrap();
    std::fs::write(cc.join("labels.npy"), pathprox::data::npy::to_bytes_u8(&[10], &[3; 10]).unwrap()).unwrap();
    let (ok, stdout, err) = run_cli(&["eval-corrupted", out.to_str().unwrap(), "--data-dir", runs.to_str().unwrap()]);
    assert!(ok, "{err}");
    for s in 1..=5 {
        assert!(stdout.contains(&format!("| fog {s} ")), "a row per severity: {stdout}");
    }
    assert!(stdout.contains("**mean**") && stdout.contains("the mean is over 1 of the 19 corruptions"), "{stdout}");
    // An MNIST model on CIFAR-10-C is refused with a reason.
    let mlp = runs.join("mlp.safetensors");
    let (ok, _, err) = run_cli(&["step", "--model", "mlp-6-400", "--method", "wd", "--batch", "2", "--data", "data", "--out", mlp.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, _, err) = run_cli(&["eval-corrupted", mlp.to_str().unwrap(), "--data-dir", runs.to_str().unwrap()]);
    assert!(!ok && err.contains("needs a CIFAR-10 model") && !err.contains("panicked"), "{err}");
    // A model that cannot take the data set's images is a clear error.
    let (ok, _, err) = run_cli(&["step", "--model", "vgg19", "--dataset", "mnist", "--data", "data", "--method", "wd", "--out", out.to_str().unwrap()]);
    assert!(!ok && err.contains("vgg19 takes inputs of 3072 values") && !err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(runs);
}
