//! The deterministic steps of the MNIST-C corruptions against the libraries MNIST-C calls: reference
//! outputs computed by scikit-image 0.19 (tests/fixtures/mnist_c/make.py) on real MNIST digits.

use std::path::Path;

use pathprox::data::corrupt::corruptions;
use pathprox::data::corrupt::filters::{self, Border};
use pathprox::data::npy::Npy;

const OPS: [&str; 8] = ["shear_plus", "shear_minus", "rotate_plus", "rotate_minus", "scale", "translate", "glass_first_blur", "canny_edges"];

fn ours(op: &str, x: &[f64]) -> Vec<f64> {
    let mut rng = <rand_chacha::ChaCha8Rng as rand_chacha::rand_core::SeedableRng>::seed_from_u64(0);
    match op {
        "shear_plus" => corruptions::shear_by(x, 0.4),
        "shear_minus" => corruptions::shear_by(x, -0.4),
        "rotate_plus" => corruptions::rotate_by(x, 0.4),
        "rotate_minus" => corruptions::rotate_by(x, -0.4),
        "scale" => corruptions::scale(x, &mut rng),
        "translate" => corruptions::translate_by(x, 3.0, -3.0),
        "glass_first_blur" => filters::gaussian_blur(x, 0.7, 0.0, Border::Nearest),
        "canny_edges" => corruptions::canny_edges(x, &mut rng),
        _ => unreachable!(),
    }
}

#[test]
fn deterministic_steps_match_scikit_image() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(root.join("tests/fixtures/mnist_c/reference.npy")).unwrap();
    let reference = Npy::parse("reference.npy", &bytes).unwrap();
    let images = reference.shape[1];
    assert_eq!(reference.shape, vec![OPS.len(), images, 28, 28]);
    let reference = reference.as_u8("reference.npy").unwrap();
    let mnist = pathprox::data::idx::read_images(&root.join("data/mnist-10k/train-10k-images-idx3-ubyte.gz")).unwrap();
    for (o, op) in OPS.iter().enumerate() {
        for i in 0..images {
            let x: Vec<f64> = mnist.pixels[i * 784..(i + 1) * 784].iter().map(|&b| b as f64 / 255.0).collect();
            let got = ours(op, &x);
            let want = &reference[(o * images + i) * 784..(o * images + i + 1) * 784];
            let worst = got.iter().zip(want).map(|(g, &w)| ((g * 255.0).round() - w as f64).abs()).fold(0.0, f64::max);
            // Rounding to bytes on both sides: at most one step apart; the edge map must be identical.
            let tolerance = if *op == "canny_edges" { 0.0 } else { 1.0 };
            assert!(worst <= tolerance, "{op}, image {i}: off by {worst}/255");
        }
    }
}
