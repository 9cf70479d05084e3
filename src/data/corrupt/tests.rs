//! One test per corruption, each checking a property the definition implies, plus seeding.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use super::corruptions::*;
use super::filters::N;
use crate::data::mnist::Dataset;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(7)
}

/// A "digit": a ring of radius 4–8 around the centre, 1 inside the ring, 0 elsewhere.
fn ring() -> Vec<f64> {
    (0..N * N)
        .map(|p| {
            let (y, x) = ((p / N) as f64 - 13.5, (p % N) as f64 - 13.5);
            let r = x.hypot(y);
            if (4.0..8.0).contains(&r) { 1.0 } else { 0.0 }
        })
        .collect()
}

/// A pattern with no symmetry: pixel (y, x) = ((7y + 3x) mod 11)/10.
fn pattern() -> Vec<f64> {
    (0..N * N).map(|p| ((7 * (p / N) + 3 * (p % N)) % 11) as f64 / 10.0).collect()
}

fn sum(v: &[f64]) -> f64 {
    v.iter().sum()
}

fn in_unit_range(v: &[f64]) -> bool {
    v.iter().all(|x| (0.0..=1.0).contains(x))
}

#[test]
fn identity_keeps_the_image() {
    assert_eq!(identity(&pattern(), &mut rng()), pattern());
}

#[test]
fn shot_noise_is_poisson_at_three_counts() {
    let mut r = rng();
    let ones = vec![1.0; N * N];
    let outs: Vec<f64> = (0..50).flat_map(|_| shot_noise(&ones, &mut r)).collect();
    assert!(outs.iter().all(|&v| [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0].iter().any(|&q| (v - q).abs() < 1e-12)));
    // E[min(Poisson(3)/3, 1)] = P(1)/3 + 2P(2)/3 + P(≥3) = 0.7761.
    let mean = sum(&outs) / outs.len() as f64;
    assert!((mean - 0.7761).abs() < 0.01, "{mean}");
    // Black stays black: Poisson(0) = 0.
    assert!(shot_noise(&vec![0.0; N * N], &mut r).iter().all(|&v| v == 0.0));
}

#[test]
fn impulse_noise_hits_seventeen_percent_with_salt_and_pepper() {
    let mut r = rng();
    let grey = vec![0.5; N * N];
    let outs: Vec<f64> = (0..50).flat_map(|_| impulse_noise(&grey, &mut r)).collect();
    let hit: Vec<f64> = outs.iter().copied().filter(|&v| v != 0.5).collect();
    assert!(hit.iter().all(|&v| v == 0.0 || v == 1.0));
    let frac = hit.len() as f64 / outs.len() as f64;
    let salt = hit.iter().filter(|&&v| v == 1.0).count() as f64 / hit.len() as f64;
    assert!((frac - 0.17).abs() < 0.01 && (salt - 0.5).abs() < 0.03, "{frac} {salt}");
}

#[test]
fn glass_blur_blurs_vertically_and_shuffles_locally() {
    let x = ring();
    let out = glass_blur(&x, &mut rng());
    assert!(in_unit_range(&out) && out != x);
    // Blurs and swaps move ink, they do not make or destroy it (up to the byte quantisation in between).
    assert!((sum(&out) - sum(&x)).abs() < 0.02 * sum(&x), "{} vs {}", sum(&out), sum(&x));
    // The blur is vertical only: a horizontal bar keeps no ink more than 3 rows below it per blur plus the
    // two rows the sweeps can push pixels down.
    let mut bar = vec![0.0; N * N];
    bar[10 * N..11 * N].fill(1.0);
    let out = glass_blur(&bar, &mut rng());
    assert!(out[19 * N..].iter().all(|&v| v < 1e-9), "ink below row 18");
    assert!(out[11 * N + 5] > 0.1, "the blur reaches the next row");
    assert_ne!(glass_blur(&x, &mut ChaCha8Rng::seed_from_u64(8)), glass_blur(&x, &mut rng()));
}

#[test]
fn motion_blur_smears_and_keeps_ink() {
    let x = ring();
    let out = motion_blur(&x, &mut rng());
    assert!(in_unit_range(&out));
    assert!(out.iter().cloned().fold(0.0, f64::max) < 1.0, "a blur lowers the peaks of a thin ring");
    assert!((sum(&out) - sum(&x)).abs() < 0.05 * sum(&x));
}

#[test]
fn shear_moves_rows_sideways_about_the_centre() {
    assert!(shear_by(&pattern(), 0.0).iter().zip(pattern()).all(|(a, b)| (a - b).abs() < 1e-12));
    // A vertical bar (column 13) sheared: rows above and below the centre shift in opposite directions.
    let mut bar = vec![0.0; N * N];
    for y in 0..N {
        bar[y * N + 13] = 1.0;
    }
    let out = shear_by(&bar, 0.4);
    let centroid = |y: usize| (0..N).map(|x| x as f64 * out[y * N + x]).sum::<f64>() / (0..N).map(|x| out[y * N + x]).sum::<f64>();
    let (top, bottom) = (centroid(3), centroid(24));
    assert!((top - 13.0).abs() > 2.0 && (bottom - 13.0).abs() > 2.0 && (top - 13.0).signum() != (bottom - 13.0).signum(), "{top} {bottom}");
    let out = shear(&pattern(), &mut rng());
    assert!(in_unit_range(&out) && out != pattern());
}

#[test]
fn scale_shrinks_the_digit_to_seven_tenths() {
    assert!(scale_by(&pattern(), 1.0).iter().zip(pattern()).all(|(a, b)| (a - b).abs() < 1e-12));
    let x = ring();
    let out = scale(&x, &mut rng());
    // Area scales by 0.7² = 0.49.
    let ratio = sum(&out) / sum(&x);
    assert!((ratio - 0.49).abs() < 0.04, "{ratio}");
    // The ring's outer radius 8 becomes 5.6: nothing left at radius 6.5.
    assert!(out[(13 + 7) * N + 13] < 1e-9 && x[(13 + 7) * N + 13] == 1.0);
}

#[test]
fn rotate_by_a_right_angle_is_an_exact_permutation() {
    let x = pattern();
    let out = rotate_by(&x, std::f64::consts::FRAC_PI_2);
    // Inverse map (col, row) → (27 − row, col): output (y, x) reads input (row x, column 27 − y).
    for y in 0..N {
        for c in 0..N {
            assert!((out[y * N + c] - x[c * N + (N - 1 - y)]).abs() < 1e-9, "({y}, {c})");
        }
    }
    let out = rotate(&ring(), &mut rng());
    // The ring is (nearly) rotation invariant: its ink stays.
    assert!((sum(&out) - sum(&ring())).abs() < 0.05 * sum(&ring()));
}

#[test]
fn brightness_adds_half_and_raises_the_mean() {
    let x = pattern();
    let out = brightness(&x, &mut rng());
    assert!(sum(&out) > sum(&x) + 0.3 * (N * N) as f64);
    assert!(out.iter().zip(&x).all(|(o, i)| (o - (i + 0.5).min(1.0)).abs() < 1e-12));
}

#[test]
fn translate_shifts_by_three_pixels() {
    let x = pattern();
    let out = translate_by(&x, 3.0, -3.0);
    for y in 0..N {
        for c in 0..N {
            let (sy, sc) = (y as i64 - 3, c as i64 + 3);
            let want = if (0..N as i64).contains(&sy) && (0..N as i64).contains(&sc) { x[sy as usize * N + sc as usize] } else { 0.0 };
            assert!((out[y * N + c] - want).abs() < 1e-12);
        }
    }
    let out = translate(&ring(), &mut rng());
    assert!((sum(&out) - sum(&ring())).abs() < 1e-9, "a 3-pixel shift keeps the whole ring inside");
    assert_ne!(out, ring());
}

#[test]
fn stripe_inverts_the_outer_columns() {
    let x = pattern();
    let out = stripe(&x, &mut rng());
    for p in 0..N * N {
        let c = p % N;
        let want = if (7..21).contains(&c) { x[p] } else { 1.0 - x[p] };
        assert_eq!(out[p], want);
    }
    assert!(stripe(&out, &mut rng()).iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-12), "an involution");
}

#[test]
fn fog_veils_the_background_but_keeps_the_digit_brighter() {
    let x = ring();
    let out = fog(&x, &mut rng());
    assert!(in_unit_range(&out));
    let (mut ink, mut bg) = ((0.0, 0), (0.0, 0));
    for p in 0..N * N {
        if x[p] == 1.0 { ink = (ink.0 + out[p], ink.1 + 1) } else { bg = (bg.0 + out[p], bg.1 + 1) }
    }
    let (ink, bg) = (ink.0 / ink.1 as f64, bg.0 / bg.1 as f64);
    assert!(bg > 0.05, "the fog covers the background: {bg}");
    assert!(ink > bg + 0.1, "{ink} vs {bg}");
    // With max(x) = 1: out = (x + 3f)/4 ≤ 1, so nothing saturates.
    assert!(out.iter().all(|&v| v <= 1.0));
}

#[test]
fn spatter_paints_grey_mud_and_nothing_else() {
    let x = pattern();
    let mut r = rng();
    let mut changed = 0;
    for _ in 0..20 {
        let out = spatter(&x, &mut r);
        for (o, i) in out.iter().zip(&x) {
            if (o - i).abs() > 1e-12 {
                changed += 1;
                // x(1 − m) + (63/255)m lies between x and the mud colour.
                let mud = 63.0 / 255.0;
                assert!(o - 1e-12 <= i.max(mud) && o + 1e-12 >= i.min(mud));
            }
        }
    }
    assert!(changed > 0, "some mud in 20 images");
}

#[test]
fn dotted_line_draws_only_in_every_other_column_pair() {
    let x = vec![0.0; N * N];
    let mut r = rng();
    for _ in 0..20 {
        let out = dotted_line(&x, &mut r);
        assert!(out.iter().any(|&v| v > 0.9), "a line is drawn");
        for (p, &v) in out.iter().enumerate() {
            let c = p % N;
            if (c / 2).is_multiple_of(2) || c == 27 {
                assert_eq!(v, 0.0, "column {c} stays empty");
            }
        }
    }
    let y = pattern();
    assert!(dotted_line(&y, &mut r).iter().zip(&y).all(|(o, i)| o >= i), "the line is added");
}

#[test]
fn zigzag_adds_a_band_across_the_image() {
    let x = vec![0.0; N * N];
    let mut r = rng();
    let mut whole = 0;
    for _ in 0..20 {
        let out = zigzag(&x, &mut r);
        let cols: Vec<usize> = (0..N).filter(|&c| (0..N).any(|y| out[y * N + c] > 0.0)).collect();
        // Between columns 2 and 25 (±2 rows across a line tilted by at most atan(5/23)); rows near the top or
        // bottom can leave parts of it outside the image.
        assert!(!cols.is_empty() && cols[0] >= 1 && *cols.last().unwrap() <= 26, "{cols:?}");
        if (4..22).all(|c| cols.contains(&c)) {
            whole += 1;
            // A zigzag, not a straight line: the stroke's centre row goes up and down along the columns.
            let centre = |c: usize| (0..N).map(|y| y as f64 * out[y * N + c]).sum::<f64>() / (0..N).map(|y| out[y * N + c]).sum::<f64>();
            let centres: Vec<f64> = (4..22).map(centre).collect();
            let turns = centres.windows(3).filter(|w| (w[1] - w[0]) * (w[2] - w[1]) < 0.0).count();
            assert!(turns >= 3, "{centres:?}");
        }
    }
    assert!(whole >= 10, "most zigzags lie inside the image: {whole} of 20");
    let y = pattern();
    assert!(zigzag(&y, &mut r).iter().zip(&y).all(|(o, i)| o >= i), "the zigzag is added");
}

#[test]
fn canny_edges_outline_the_ring() {
    let out = canny_edges(&ring(), &mut rng());
    assert!(out.iter().all(|&v| v == 0.0 || v == 1.0));
    // Edges on the ring's circles, none in its hole or far outside it.
    let at = |y: usize, x: usize| out[y * N + x];
    assert_eq!(at(13, 0) + at(0, 13) + at(13, 14), 0.0);
    let row: Vec<usize> = (0..N).filter(|&c| at(13, c) == 1.0).collect();
    assert!(row.len() >= 4, "{row:?}");
}

#[test]
fn apply_is_seeded_keeps_labels_and_streams_are_independent() {
    let images: Vec<u8> = (0..3).flat_map(|k| ring().into_iter().map(move |v| (v * (200.0 + k as f64 * 20.0)) as u8)).collect();
    let data = Dataset { images, labels: vec![3, 1, 4], rows: N, cols: N, source: "test".into() };
    for (k, &(name, f)) in ALL.iter().enumerate() {
        let a = super::apply(name, f, k as u64, &data, 5);
        assert_eq!(a.labels, data.labels, "{name} keeps the labels");
        assert_eq!(a.images.len(), data.images.len());
        assert!(a.source.contains("not the published MNIST-C"));
        assert_eq!(a, super::apply(name, f, k as u64, &data, 5), "{name} is deterministic per seed");
        let random = !matches!(name, "identity" | "scale" | "brightness" | "stripe" | "canny_edges");
        if random {
            assert_ne!(a.images, super::apply(name, f, k as u64, &data, 6).images, "{name} depends on the seed");
        }
        if name != "identity" {
            assert_ne!(a.images, data.images, "{name} changes the images");
        }
    }
}
