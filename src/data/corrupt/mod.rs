//! `pathprox corrupt mnist`: MNIST-C's corruptions ([`corruptions`]) applied to the official MNIST test
//! set, seeded, written in MNIST-C's layout ([`super::mnist_c::write`]) with a provenance file and a README
//! that say the data are generated locally, not the published MNIST-C.
//!
//! Every corruption draws from its own ChaCha8 stream (the seed, stream = the corruption's index in
//! [`corruptions::ALL`]), image after image in file order, so a corruption's output does not depend on which
//! others are generated, and `--max-rows` yields a prefix of the full set.

pub mod corruptions;
pub mod filters;
pub mod random;
#[cfg(test)]
mod tests;

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use super::mnist::Dataset;
#[cfg(not(target_arch = "wasm32"))]
use crate::error::Result;

/// What every output of the generator says about itself.
pub const NOTE: &str = "generated locally by `pathprox corrupt mnist`, not the published MNIST-C";

/// `corruption` (one of [`corruptions::ALL`]) applied to every image of `data`, with `seed`.
pub fn apply(name: &str, corruption: corruptions::Corruption, stream: u64, data: &Dataset, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut images = Vec::with_capacity(data.images.len());
    let mut x = vec![0.0; data.pixels_per_image()];
    for i in 0..data.len() {
        for (v, &b) in x.iter_mut().zip(data.image(i)) {
            *v = b as f64 / 255.0;
        }
        images.extend(corruption(&x, &mut rng).into_iter().map(to_byte));
    }
    let source = format!("{name} (seed {seed}) of {}; {NOTE}", data.source);
    Dataset { images, labels: data.labels.clone(), rows: data.rows, cols: data.cols, source }
}

/// [0, 1] → the nearest byte.
fn to_byte(v: f64) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// One generated corruption: its name and how long it took.
#[derive(Clone, Debug)]
pub struct Made {
    pub name: &'static str,
    pub seconds: f64,
}

/// Generates every corruption of [`corruptions::ALL`] from `test` into `out` (MNIST-C's layout), then
/// writes `provenance.json` and `README.txt`. `progress` gets one step per corruption.
#[cfg(not(target_arch = "wasm32"))]
pub fn generate(test: &Dataset, out: &Path, seed: u64, progress: &dyn crate::progress::Progress) -> Result<Vec<Made>> {
    let mut made = Vec::new();
    use std::time::Instant;
    progress.start("corrupt mnist", 0, corruptions::ALL.len() as u64);
    for (k, &(name, f)) in corruptions::ALL.iter().enumerate() {
        let t = Instant::now();
        let data = apply(name, f, k as u64, test, seed);
        super::mnist_c::write(out, name, &data)?;
        made.push(Made { name, seconds: t.elapsed().as_secs_f64() });
        progress.advance(k as u64 + 1);
    }
    progress.finish();
    let provenance = serde_json::json!({
        "note": NOTE,
        "generated_by": format!("pathprox {} corrupt mnist", env!("CARGO_PKG_VERSION")),
        "seed": seed,
        "rows": test.len(),
        "source": test.source,
        "corruptions": made.iter().map(|m| m.name).collect::<Vec<_>>(),
        "definitions": "MNIST-C's corruptions.py (github.com/google-research/mnist-c) at its default severities, \
                        reimplemented in Rust from their definitions; random draws from ChaCha8, not NumPy's generator",
    });
    let text = serde_json::to_string_pretty(&provenance).expect("JSON");
    crate::files::write_atomically(&out.join(super::mnist_c::PROVENANCE), text.as_bytes())?;
    let readme = format!(
        "{NOTE}.\n\n\
         These directories follow MNIST-C's layout (<corruption>/test_images.npy [N, 28, 28, 1] uint8 and\n\
         test_labels.npy [N] uint8), made from {} with seed {seed}.\n\
         The corruptions follow the definitions of MNIST-C (Mu & Gilmer 2019, github.com/google-research/mnist-c)\n\
         at their published severities, but the random draws differ and a few library routines are\n\
         reimplemented (see pathprox's docs/analysis.md, \"Corrupted accuracy\"): accuracies on these files are\n\
         comparable among models evaluated on them, not with numbers reported on the published MNIST-C.\n",
        test.source
    );
    crate::files::write_atomically(&out.join("README.txt"), readme.as_bytes())?;
    Ok(made)
}

/// The official MNIST test set (`t10k-*`, with or without `.gz`) in `dir` or `dir/mnist`, cut to its first
/// `max_rows` images if asked. The error says where it looked and how to get the files.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_test_set(dir: &Path, max_rows: Option<usize>) -> Result<Dataset> {
    use super::mnist::{FilePair, TEST_IMAGES, TEST_LABELS};
    let find = |d: &Path, stem: &str| [format!("{stem}.gz"), stem.to_string()].into_iter().map(|f| d.join(f)).find(|p| p.is_file());
    let dirs = [dir.to_path_buf(), dir.join("mnist")];
    let pair = dirs.iter().find_map(|d| Some(FilePair { images: find(d, TEST_IMAGES)?, labels: find(d, TEST_LABELS)? }));
    let pair = pair.ok_or_else(|| crate::Error::DatasetNotFound {
        msg: format!(
            "no official MNIST test set in {0} or {0}/mnist (looked for {TEST_IMAGES}[.gz] and {TEST_LABELS}[.gz]); \
             `pathprox download mnist` fetches it",
            dir.display()
        ),
    })?;
    let data = pair.load(format!("the MNIST test set ({})", pair.images.display()))?;
    Ok(match max_rows.filter(|&m| m < data.len()) {
        Some(m) => data.select(&(0..m).collect::<Vec<_>>(), format!("the first {m} images of {}", data.source)),
        None => data,
    })
}
