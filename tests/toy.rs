//! The 2-D toy of Fig. 2 (`train::toy`, `pathprox toy`): its step through the real trainer (f32 points
//! gathered on the GPU, full batch) against docs/algorithm.md in f64, and the figure the command writes.

mod common;

use std::sync::atomic::AtomicBool;

use common::*;
use pathprox::data::toy::ToyData;
use pathprox::nn::{ModelSpec, ParamClass};
use pathprox::train::method::Method;
use pathprox::train::toy::{self, ToySettings};
use pathprox::train::trainer::MethodRun;

/// One step of weight decay and of PathProx (with balancing) on a toy of 24 points and 6 hidden units,
/// through `MethodRun` as `pathprox toy` and the browser run it, against f64: central-difference
/// gradients of an f64 forward on the same points, then docs/algorithm.md's update. λ is large enough that
/// the prox's threshold switches units off.
#[test]
fn one_toy_step_of_each_method_matches_algorithm_md_in_f64() {
    let turn = first_gpu();
    let gpu: &pathprox::Gpu = &turn;
    {
        let settings = ToySettings { data: ToyData { points: 20, outliers: 4, ..Default::default() }, width: 6, lr: 0.1, lambda: 1.5 };
        let set = settings.data.generate().unwrap();
        let data = toy::gpu_data(gpu, &set).unwrap();
        let cfg = settings.train_config(set.len(), 1, 1);
        let spec = ModelSpec::toy(6);
        for method in [Method::WeightDecay, Method::PathProx { balance: true }] {
            let run = MethodRun::new(gpu, &cfg, method, &data, true).unwrap();
            let before = pollster::block_on(run.model().store.download(gpu)).unwrap();
            run.steps(0, 1, &AtomicBool::new(false), &()).unwrap();
            let got = pollster::block_on(run.model().store.download(gpu)).unwrap();
            let p64: Vec<Vec<f64>> = before.iter().map(|p| to_f64(p)).collect();
            let grads = grads_fd(&spec, &p64, &to_f64(&set.xy), &set.labels);
            let classes: Vec<ParamClass> = run.model().store.infos.iter().map(|i| i.class).collect();
            let want = method_step_cpu(&spec, &classes, &p64, &grads, method, settings.lr, settings.lambda);
            for ((g, w), info) in got.iter().zip(&want).zip(&run.model().store.infos) {
                assert_close(&format!("{} after one {} step", info.name, method.name()), g, w, 2e-6, 2e-4);
            }
            if let Method::PathProx { .. } = method {
                let off = toy::units_of(&got).unwrap().iter().filter(|u| u.strength == 0.0).count();
                assert!(off > 0, "τ = γλ = 0.15 switches some of the 6 units off");
            }
        }
    }
}

/// `pathprox toy` writes the two methods' logs and Fig. 2, whose panels show different decision regions,
/// each with both classes' colours and the contour lines; bad settings fail before any run directory.
#[test]
fn the_toy_command_writes_logs_and_a_two_panel_fig2() {
    let runs = scratch("cli").join("runs");
    let r = runs.to_str().unwrap();
    let (ok, _, err) = run_cli(&["toy", "--data", "spiral", "--runs-dir", r]);
    assert!(!ok && err.contains("unknown data set 'spiral'") && !err.contains("panicked"), "{err}");
    let (ok, _, err) = run_cli(&["toy", "--width", "0", "--runs-dir", r]);
    assert!(!ok && err.contains("width must be 1 to"), "{err}");
    assert!(!runs.exists(), "bad settings leave no run directory");

    let (ok, out, err) = run_cli(&["toy", "--iters", "200", "--log-every", "100", "--width", "16", "--lambda", "0.05", "--runs-dir", r]);
    assert!(ok, "{out}\n{err}");
    let dir = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    for m in ["wd", "pathprox"] {
        let log = std::fs::read_to_string(dir.join(format!("{m}.jsonl"))).unwrap();
        let objective: Vec<f64> = log.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["objective"].as_f64().unwrap()).collect();
        assert_eq!(objective.len(), 3, "{m}: log points at 0, 100, 200");
        assert!(objective[2] < objective[0], "{m}: the objective falls: {objective:?}");
    }
    let img = image::open(dir.join("figures/fig2-toy.png")).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    // The layout of report::decision_regions: two square panels of side s, 24 px margins and a 36 px gap; the panel
    // rows are those where the left panel's edge column is not the white page.
    let side = (w - 2 * 24 - 36) / 2;
    let rows: Vec<u32> = (0..h).filter(|&y| img.get_pixel(26, y).0 != [255, 255, 255]).collect();
    assert!(rows.len() as u32 >= side - 2, "{} panel rows for a side of {side}", rows.len());
    let panel = |x0: u32| -> Vec<[u8; 3]> { rows.iter().flat_map(|&y| (x0..x0 + side).map(move |x| (x, y))).map(|(x, y)| img.get_pixel(x, y).0).collect() };
    let (l, rt) = (panel(24), panel(24 + side + 36));
    for (name, panel) in [("weight decay", &l), ("PathProx", &rt)] {
        let blue = panel.iter().filter(|p| p[2] as i32 > p[0] as i32 + 60).count();
        let red = panel.iter().filter(|p| p[0] as i32 > p[2] as i32 + 60).count();
        let white = panel.iter().filter(|p| **p == [255, 255, 255]).count();
        assert!(blue > 10_000 && red > 10_000 && white > side as usize, "{name}: {blue} blue, {red} red, {white} white pixels: both regions and the p = 0.5 line");
    }
    let differ = l.iter().zip(&rt).filter(|(a, b)| a != b).count();
    assert!(differ > 5000, "the two methods' decision regions differ in {differ} pixels only");
    let _ = std::fs::remove_dir_all(&runs);
}
