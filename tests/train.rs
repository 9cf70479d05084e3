//! The training loop end to end on real MNIST (the shipped 10k subset): logs, checkpoints, resuming to
//! the same result, interruption, divergence.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::scratch;
use pathprox::train::checkpoint::Checkpoint;
use pathprox::train::config::TrainConfig;
use pathprox::train::method::Method;
use pathprox::train::rundir::RunDir;
use pathprox::train::trainer::{self, Outcome, Progress};

fn cfg() -> TrainConfig {
    let mut c = pathprox::tasks::preset("task1").unwrap();
    c.iters = 40;
    c.log_every = 20;
    c.batch = 50;
    c.data_dir = Some(concat!(env!("CARGO_MANIFEST_DIR"), "/data").into());
    c
}

/// Sets the interrupt flag once the loop has passed `at`.
struct StopAt<'a> {
    at: u64,
    flag: &'a AtomicBool,
    seen: AtomicU64,
}

impl Progress for StopAt<'_> {
    fn advance(&self, step: u64) {
        self.seen.fetch_max(step, Ordering::Relaxed);
        if step >= self.at {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

fn final_params(run: &RunDir, method: &str) -> Checkpoint {
    Checkpoint::load(&run.checkpoint_path(method)).unwrap()
}

#[test]
fn a_run_writes_logs_and_checkpoints_and_resumes_to_the_same_result() {
    let gpu = common::first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let c = cfg();
    let (data, info) = pathprox::tasks::load_data(gpu, &c, &|_| {}).unwrap();
    let method = Method::PathProx { balance: true };
    let no = AtomicBool::new(false);

    // Uninterrupted.
    let root = scratch("straight");
    let run = RunDir::create(&root, "task1").unwrap();
    run.write_config(&c, info.clone()).unwrap();
    let Outcome::Finished { points } = trainer::train_method(gpu, &c, method, &data, &run, &no, &()).unwrap() else { panic!("did not finish") };
    assert_eq!(points.iter().map(|p| p.iter).collect::<Vec<_>>(), vec![0, 20, 40]);
    assert!(points[2].train_ce < points[0].train_ce, "training should lower the loss: {points:?}");
    assert!(points.iter().all(|p| p.val_acc >= 0.0 && p.test_acc <= 1.0 && p.active_units <= 100.0));
    let log = std::fs::read_to_string(run.log_path("pathprox")).unwrap();
    assert_eq!(log.lines().count(), 3);
    let straight = final_params(&run, "pathprox");
    assert_eq!(straight.metadata["iteration"], "40");
    assert_eq!(straight.tensors.iter().map(|t| t.0.as_str()).collect::<Vec<_>>()[..2], ["fc1.weight", "fc1.bias"]);
    assert_eq!(straight.tensors[0].1, vec![400, 784]);
    assert_eq!(run.read_config().unwrap(), c);

    // Interrupted part-way (as Ctrl-C does), then resumed.
    let root2 = scratch("resumed");
    let run2 = RunDir::create(&root2, "task1").unwrap();
    run2.write_config(&c, info).unwrap();
    let flag = AtomicBool::new(false);
    let stop = StopAt { at: 25, flag: &flag, seen: AtomicU64::new(0) };
    let out = trainer::train_method(gpu, &c, method, &data, &run2, &flag, &stop).unwrap();
    let Outcome::Interrupted { at } = out else { panic!("expected an interruption, got {out:?}") };
    assert!(at > 20 && at < 40, "stopped at {at}");
    assert_eq!(final_params(&run2, "pathprox").metadata["iteration"], at.to_string());
    let Outcome::Finished { points: resumed } = trainer::train_method(gpu, &c, method, &data, &run2, &no, &()).unwrap() else { panic!("resume did not finish") };
    assert_eq!(resumed.iter().map(|p| p.iter).collect::<Vec<_>>(), vec![0, 20, 40]);
    let after = final_params(&run2, "pathprox");
    for (a, b) in straight.tensors.iter().zip(&after.tensors) {
        assert!(a.2 == b.2, "{}: a resumed run must end bit-identical to an uninterrupted one", a.0);
    }
    assert_eq!(points[2].objective, resumed[2].objective);
    let _ = std::fs::remove_dir_all(root);
    let _ = std::fs::remove_dir_all(root2);
}

#[test]
fn a_diverging_run_stops_and_keeps_its_last_good_checkpoint() {
    let gpu = common::first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let mut c = cfg();
    // A sane rate for 20 steps, then an absurd one.
    c.lr = 0.1;
    c.lr_milestones = vec![20];
    c.lr_gamma = 1e9;
    let (data, info) = pathprox::tasks::load_data(gpu, &c, &|_| {}).unwrap();
    let root = scratch("diverge");
    let run = RunDir::create(&root, "task1").unwrap();
    run.write_config(&c, info).unwrap();
    let out = trainer::train_method(gpu, &c, Method::WeightDecay, &data, &run, &AtomicBool::new(false), &()).unwrap();
    assert_eq!(out, Outcome::Diverged { at: 40, last_checkpoint: Some(20) });
    let kept = final_params(&run, "wd");
    assert_eq!(kept.metadata["iteration"], "20");
    assert!(kept.tensors.iter().all(|t| t.2.iter().all(|v| v.is_finite())), "the kept checkpoint is the good one");
    let log = std::fs::read_to_string(run.log_path("wd")).unwrap();
    assert_eq!(log.lines().count(), 3, "the diverged point is logged:\n{log}");
    assert!(log.lines().last().unwrap().contains("\"train_ce\":null"), "{log}");
    assert_eq!(run.diverged_at("wd").unwrap(), Some(40));
    let table = pathprox::report::summary_table(&run.path).unwrap();
    assert!(table.contains("diverged at 40") && !table.contains("% |"), "the row must not read like a result:\n{table}");
    // A resumed run does not train it into the same divergence again.
    let again = trainer::train_method(gpu, &c, Method::WeightDecay, &data, &run, &AtomicBool::new(false), &()).unwrap();
    assert_eq!(again, Outcome::Diverged { at: 40, last_checkpoint: Some(20) });
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn a_run_diverging_before_its_first_checkpoint_keeps_the_initial_parameters() {
    let gpu = common::first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let mut c = cfg();
    c.lr = 1e9;
    let (data, info) = pathprox::tasks::load_data(gpu, &c, &|_| {}).unwrap();
    let root = scratch("diverge0");
    let run = RunDir::create(&root, "task1").unwrap();
    run.write_config(&c, info).unwrap();
    let out = trainer::train_method(gpu, &c, Method::WeightDecay, &data, &run, &AtomicBool::new(false), &()).unwrap();
    assert_eq!(out, Outcome::Diverged { at: 20, last_checkpoint: Some(0) });
    let kept = final_params(&run, "wd");
    assert_eq!(kept.metadata["iteration"], "0");
    assert!(kept.tensors.iter().all(|t| t.2.iter().all(|v| v.is_finite())));
    let _ = std::fs::remove_dir_all(root);
}

/// VGG19 on CIFAR-10 files (the binary-format fixture), augmented on the GPU: interrupted and resumed, it
/// ends bit-identical to an uninterrupted run — the crops and flips are a function of (seed, step, image),
/// not of how many steps the process has run.
#[test]
fn a_vgg19_run_with_augmentation_resumes_to_the_same_result() {
    let gpu = common::first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let mut c = pathprox::tasks::preset("task3").unwrap();
    (c.iters, c.log_every, c.batch, c.lr) = (4, 2, 3, 0.01);
    c.data_dir = Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rgb").into());
    let (data, info) = pathprox::tasks::load_data(gpu, &c, &|_| {}).unwrap();
    assert_eq!(data.augment, Some(32), "CIFAR-10 batches are cropped and flipped");
    let method = Method::PathProx { balance: true };
    let no = AtomicBool::new(false);
    let root = scratch("vgg");
    let straight = RunDir::create(&root, "task3").unwrap();
    straight.write_config(&c, info.clone()).unwrap();
    let Outcome::Finished { points } = trainer::train_method(gpu, &c, method, &data, &straight, &no, &()).unwrap() else { panic!("did not finish") };
    assert!(points.iter().all(|p| p.train_ce.is_finite()), "{points:?}");
    let resumed = RunDir::create(&root.join("b"), "task3").unwrap();
    resumed.write_config(&c, info).unwrap();
    let flag = AtomicBool::new(false);
    // Stops after the first chunk: the resumed process starts its first chunk at step 2.
    let stop = StopAt { at: 1, flag: &flag, seen: AtomicU64::new(0) };
    let out = trainer::train_method(gpu, &c, method, &data, &resumed, &flag, &stop).unwrap();
    assert!(matches!(out, Outcome::Interrupted { at: 2 }), "{out:?}");
    trainer::train_method(gpu, &c, method, &data, &resumed, &no, &()).unwrap();
    let (a, b) = (final_params(&straight, "pathprox"), final_params(&resumed, "pathprox"));
    assert_eq!(a.tensors[0].0, "features.0.weight");
    for (x, y) in a.tensors.iter().zip(&b.tensors) {
        assert!(x.2 == y.2, "{}: a resumed VGG19 run must end bit-identical to an uninterrupted one", x.0);
    }
    let _ = std::fs::remove_dir_all(root);
}
