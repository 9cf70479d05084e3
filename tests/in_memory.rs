//! Training on the caller's own examples (`GpuData::from_examples`, `MethodRun::with_spec`, what
//! examples/own_mlp.rs does): the examples are checked before anything is uploaded, the metrics over the
//! uploaded sets are those of an f64 forward on the same host values, and one step of a model of one's
//! own is the method's update in f64.

mod common;

use std::sync::atomic::AtomicBool;

use common::*;
use pathprox::nn::{ModelSpec, ParamClass};
use pathprox::ops::softmax_xent::cpu::mean_loss;
use pathprox::train::config::TrainConfig;
use pathprox::train::in_memory::Examples;
use pathprox::train::method::Method;
use pathprox::train::trainer::{GpuData, MethodRun};
use pathprox::Error;

/// 5 → 8 (ReLU) → 3, its hidden units one PathProx group.
fn spec() -> ModelSpec {
    ModelSpec::mlp("own", vec![5, 8, 3], vec![true, false], vec![(0, 1)]).unwrap()
}

fn examples(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<u32>) {
    (rng.vec(n * 5, -2.0, 2.0), (0..n).map(|_| rng.below(3)).collect())
}

#[test]
fn bad_examples_are_refused_before_upload() {
    let turn = first_gpu();
    let gpu: &pathprox::Gpu = &turn;
    let s = spec();
    let (x, y) = examples(&mut Rng::new(1), 4);
    let ok = Examples::new(&x, &y);
    let mut nan = x.clone();
    nan[7] = f32::NAN;
    let big = [0, 1, 3, 2];
    let cases: [(&str, Examples, Option<Examples>, Option<Examples>); 6] = [
        ("rows of the wrong length", Examples::new(&x[..19], &y), None, None),
        ("a label not below the classes", Examples::new(&x, &big), None, None),
        ("a NaN value", Examples::new(&nan, &y), None, None),
        ("no examples", Examples::new(&[], &[]), None, None),
        ("a bad validation set", ok, Some(Examples::new(&x, &y[..3])), None),
        ("a test set without a validation set", ok, None, Some(ok)),
    ];
    for (what, train, val, test) in cases {
        match GpuData::from_examples(gpu, &s, train, val, test) {
            Err(Error::Shape { .. }) => {}
            Err(e) => panic!("{what}: expected a shape error, got {e}"),
            Ok(_) => panic!("{what}: accepted"),
        }
    }
    assert!(GpuData::from_examples(gpu, &s, ok, Some(ok), Some(ok)).is_ok());
}

/// Train, validation and test sets of different sizes, so a mix-up of their order shows.
#[test]
fn metrics_over_own_examples_are_an_f64_forward_of_the_same_values() {
    on_each_gpu(|gpu| {
        let s = spec();
        let mut rng = Rng::new(2);
        let sets = [examples(&mut rng, 37), examples(&mut rng, 19), examples(&mut rng, 23)];
        let ex = |k: usize| Examples::new(&sets[k].0, &sets[k].1);
        let data = GpuData::from_examples(gpu, &s, ex(0), Some(ex(1)), Some(ex(2))).unwrap();
        // eval_batch 8: several forward chunks per set, the last one partial.
        let cfg = TrainConfig { eval_batch: 8, ..TrainConfig::custom(0.1, 1e-3, 8, 1) };
        let run = MethodRun::with_spec(gpu, &cfg, s.clone(), Method::WeightDecay, &data, true).unwrap();
        let p = run.log_point(0, 0.0, 0.0).unwrap();
        let params: Vec<Vec<f64>> = pollster::block_on(run.model().store.download(gpu)).unwrap().iter().map(|v| to_f64(v)).collect();
        let got = [(p.train_ce, p.train_acc), (p.val_ce, p.val_acc), (p.test_ce, p.test_acc)];
        for (k, (x, y)) in sets.iter().enumerate() {
            let logits = logits_cpu(&s, &params, &to_f64(x), y.len());
            let ce = mean_loss(&logits, 3, y);
            let argmax = |r: &[f64]| (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap() as u32;
            let acc = logits.chunks(3).zip(y).filter(|(r, l)| argmax(r) == **l).count() as f64 / y.len() as f64;
            assert!((got[k].0 - ce).abs() <= 1e-5 * (1.0 + ce), "set {k}: cross-entropy {} vs f64 {ce}", got[k].0);
            assert_eq!(got[k].1, acc, "set {k}: accuracy");
        }
        assert_eq!(run.config().model, "own", "the run records the spec's name");
    });
}

/// One full-batch step of PathProx (with balancing) on the model of one's own, against the update in f64
/// from central-difference gradients of an f64 forward; λ large enough for the prox to switch units off.
#[test]
fn one_step_on_own_model_is_the_method_in_f64() {
    let turn = first_gpu();
    let gpu: &pathprox::Gpu = &turn;
    let s = ModelSpec::mlp("own", vec![5, 8, 8, 8, 3], vec![true, false, true, false], vec![(0, 1), (2, 3)]).unwrap();
    let (x, y) = examples(&mut Rng::new(3), 12);
    let data = GpuData::from_examples(gpu, &s, Examples::new(&x, &y), None, None).unwrap();
    let (lr, lambda) = (0.1, 4.0);
    let cfg = TrainConfig::custom(lr, lambda, 12, 1);
    let method = Method::PathProx { balance: true };
    let run = MethodRun::with_spec(gpu, &cfg, s.clone(), method, &data, true).unwrap();
    let before = pollster::block_on(run.model().store.download(gpu)).unwrap();
    run.steps(0, 1, &AtomicBool::new(false), &()).unwrap();
    let got = pollster::block_on(run.model().store.download(gpu)).unwrap();
    let p64: Vec<Vec<f64>> = before.iter().map(|p| to_f64(p)).collect();
    let grads = grads_fd(&s, &p64, &to_f64(&x), &y);
    let classes: Vec<ParamClass> = run.model().store.infos.iter().map(|i| i.class).collect();
    let want = method_step_cpu(&s, &classes, &p64, &grads, method, lr, lambda);
    for ((g, w), info) in got.iter().zip(&want).zip(&run.model().store.infos) {
        assert_close(&format!("{} after one step", info.name), g, w, 2e-6, 2e-4);
    }
    let zeroed = (0..8).filter(|&i| (0..8).all(|r| want[2][r * 8 + i] == 0.0)).count();
    assert!(zeroed > 0 && zeroed < 8, "λ = {lambda} should switch some, not all, of the first group's units off ({zeroed} of 8)");
}
