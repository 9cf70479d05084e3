//! The `.npy` reader on files NumPy wrote (tests/fixtures/npy, made by make.py there) and on damaged
//! ones; the MNIST-C and CIFAR-10-C readers on directories laid out like the published sets.

mod common;

use std::path::Path;

use common::scratch;
use pathprox::data::npy::{self, Dtype, Npy};
use pathprox::data::{cifar10_c, mnist_c};

fn fixture(name: &str) -> (String, Vec<u8>) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npy").join(name);
    (p.display().to_string(), std::fs::read(&p).expect("fixture present"))
}

/// A .npy file of the given version with an arbitrary header text (padded and newline-ended by the
/// caller or not) and data.
fn handmade(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn reads_numpys_uint8_images_in_all_three_versions() {
    for (file, version) in [("images_v1.npy", (1, 0)), ("images_v2.npy", (2, 0)), ("images_v3.npy", (3, 0))] {
        let (name, bytes) = fixture(file);
        let npy = Npy::parse(&name, &bytes).unwrap();
        assert_eq!(npy.version, version, "{file}");
        assert_eq!((npy.dtype, npy.shape.clone()), (Dtype::U8, vec![3, 4, 5, 1]));
        let px = npy.as_u8(&name).unwrap();
        assert_eq!(px.len(), 60);
        for (i, &v) in px.iter().enumerate() {
            assert_eq!(v as usize, (37 * i) % 256, "{file} value {i}");
        }
    }
}

#[test]
fn reads_labels_of_every_integer_dtype_numpy_wrote() {
    for file in ["labels_u1.npy", "labels_i8.npy", "labels_i4.npy", "labels_i8_v2.npy"] {
        let (name, bytes) = fixture(file);
        let npy = Npy::parse(&name, &bytes).unwrap();
        assert_eq!(npy.shape, vec![3], "{file}");
        assert_eq!(npy.to_u8_checked(&name, 9).unwrap(), vec![7, 0, 9], "{file}");
    }
    let (name, bytes) = fixture("labels_i8.npy");
    let e = Npy::parse(&name, &bytes).unwrap().as_u8(&name).unwrap_err().to_string();
    assert!(e.contains("int64") && e.contains("labels_i8.npy"), "{e}");
    let e = Npy::parse(&name, &bytes).unwrap().to_u8_checked(&name, 8).unwrap_err().to_string();
    assert!(e.contains("value 9 at index 2"), "{e}");
    let (name, bytes) = fixture("labels_negative.npy");
    let e = Npy::parse(&name, &bytes).unwrap().to_u8_checked(&name, 9).unwrap_err().to_string();
    assert!(e.contains("value -1 at index 1"), "{e}");
}

#[test]
fn refuses_what_numpy_can_write_but_we_do_not_read() {
    for (file, why) in [("fortran.npy", "Fortran"), ("labels_big_endian.npy", "big-endian"), ("float32.npy", "unsupported dtype '<f4'")] {
        let (name, bytes) = fixture(file);
        let e = Npy::parse(&name, &bytes).unwrap_err().to_string();
        assert!(e.contains(why) && e.contains(file), "{file}: {e}");
    }
}

#[test]
fn every_truncation_and_trailing_bytes_are_errors() {
    let (_, bytes) = fixture("images_v2.npy");
    for len in 0..bytes.len() {
        let e = Npy::parse("cut.npy", &bytes[..len]).unwrap_err().to_string();
        assert!(e.starts_with("cut.npy: "), "{len}: {e}");
    }
    let header_end = bytes.len() - 60;
    let e = Npy::parse("cut.npy", &bytes[..header_end + 59]).unwrap_err().to_string();
    assert!(e.contains("truncated") && e.contains("needs 60 bytes"), "{e}");
    let mut long = bytes.clone();
    long.push(0);
    let e = Npy::parse("long.npy", &long).unwrap_err().to_string();
    assert!(e.contains("1 bytes after"), "{e}");
}

#[test]
fn every_flipped_header_byte_is_an_error() {
    for file in ["images_v1.npy", "images_v3.npy", "labels_i8.npy"] {
        let (_, bytes) = fixture(file);
        let npy = Npy::parse(file, &bytes).unwrap();
        let header_end = bytes.len() - npy.data.len();
        for i in 0..header_end {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= mask;
                if i == 6 && matches!((bytes[6], b[6]), (2, 3) | (3, 2)) {
                    // Versions 2.0 and 3.0 share their layout and an ASCII header is valid in both.
                    let other = Npy::parse(file, &b).unwrap();
                    assert_eq!((other.shape, other.data), (npy.shape.clone(), npy.data));
                    continue;
                }
                assert!(Npy::parse(file, &b).is_err(), "{file}: byte {i} ^ {mask:#x} ({:?}) accepted", bytes[i] as char);
            }
        }
    }
}

#[test]
fn huge_or_malformed_headers_are_errors_without_allocating() {
    let pad = |h: &str| format!("{h}{}\n", " ".repeat(40));
    for (header, why) in [
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }", "overflows"),
        ("{'descr': '<i8', 'fortran_order': False, 'shape': (4611686018427387904,), }", "overflows"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (1000000000000, 28, 28), }", "truncated"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (18446744073709551616,), }", "too large"),
        ("{'descr': '|u1', 'fortran_order': False}", "no 'shape' key"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), 'x': 1}", "unexpected key 'x'"),
        ("['descr', '|u1']", "expected '{'"),
    ] {
        let e = Npy::parse("h.npy", &handmade(1, &pad(header), &[1, 2, 3, 4])).unwrap_err().to_string();
        assert!(e.starts_with("h.npy: ") && e.contains(why), "{header}: {e}");
    }
    // A header length pointing past the end of the file, and an unknown version.
    let mut b = handmade(2, &pad("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }"), &[1, 2, 3, 4]);
    b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Npy::parse("h.npy", &b).unwrap_err().to_string().contains("runs past the end"));
    let b = handmade(4, &pad("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }"), &[1, 2, 3, 4]);
    assert!(Npy::parse("h.npy", &b).unwrap_err().to_string().contains("version 4.0"));
    // Version 3.0's header must be UTF-8 (1.0 and 2.0 are latin-1, where any byte is a character).
    let mut h = pad("{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }").into_bytes();
    h[2] = 0xff;
    let mut b = handmade(3, "", &[]);
    b[8..12].copy_from_slice(&(h.len() as u32).to_le_bytes());
    b.extend_from_slice(&h);
    b.extend_from_slice(&[1, 2, 3, 4]);
    assert!(Npy::parse("h.npy", &b).unwrap_err().to_string().contains("UTF-8"));
    // A scalar (shape ()) holds one element.
    let b = handmade(1, &pad("{'descr': '|u1', 'fortran_order': False, 'shape': (), }"), &[42]);
    assert_eq!(Npy::parse("h.npy", &b).unwrap().as_u8("h.npy").unwrap(), &[42]);
}

#[test]
fn our_writer_matches_numpys_bytes() {
    // np.save of the fixture's images writes exactly what we write for the same array.
    let (_, numpy) = fixture("images_v1.npy");
    let px: Vec<u8> = (0..60).map(|i| ((37 * i) % 256) as u8).collect();
    assert_eq!(npy::to_bytes_u8(&[3, 4, 5, 1], &px).unwrap(), numpy);
    let (_, numpy) = fixture("labels_u1.npy");
    assert_eq!(npy::to_bytes_u8(&[3], &[7, 0, 9]).unwrap(), numpy);
}

fn mnist_c_images(n: usize, k: u8) -> Vec<u8> {
    (0..n * 784).map(|i| (i as u8).wrapping_mul(k)).collect()
}

#[test]
fn mnist_c_reader_finds_loads_and_checks_shapes() {
    let root = scratch("mnistc");
    let dir = root.join("mnist_c");
    for (c, k) in [("shot_noise", 3u8), ("zigzag", 5), ("identity", 1)] {
        let d = dir.join(c);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("test_images.npy"), npy::to_bytes_u8(&[3, 28, 28, 1], &mnist_c_images(3, k)).unwrap()).unwrap();
        // Labels as NumPy wrote them (int64 in the fixture).
        std::fs::write(d.join("test_labels.npy"), fixture("labels_i8.npy").1).unwrap();
    }
    let found = mnist_c::locate(&root).unwrap();
    assert_eq!(found.dir, dir);
    assert_eq!(found.corruptions, vec!["shot_noise", "zigzag"]);
    assert!(found.identity && found.generated_locally.is_none());
    let z = found.load("zigzag").unwrap();
    assert_eq!((z.len(), z.rows, z.cols, z.labels.clone()), (3, 28, 28, vec![7, 0, 9]));
    assert_eq!(z.images, mnist_c_images(3, 5));

    // Images and labels that disagree, and images that are not 28×28×1.
    let d = dir.join("shot_noise");
    std::fs::write(d.join("test_labels.npy"), npy::to_bytes_u8(&[4], &[1, 2, 3, 4]).unwrap()).unwrap();
    let e = found.load("shot_noise").unwrap_err().to_string();
    assert!(e.contains("test_labels.npy") && e.contains("[4]") && e.contains("3 images"), "{e}");
    std::fs::write(d.join("test_images.npy"), npy::to_bytes_u8(&[1, 28, 28, 3], &vec![0; 784 * 3]).unwrap()).unwrap();
    let e = found.load("shot_noise").unwrap_err().to_string();
    assert!(e.contains("test_images.npy") && e.contains("[1, 28, 28, 3]"), "{e}");
    std::fs::write(d.join("test_labels.npy"), npy::to_bytes_u8(&[1], &[10]).unwrap()).unwrap();
    std::fs::write(d.join("test_images.npy"), npy::to_bytes_u8(&[1, 28, 28], &[0; 784]).unwrap()).unwrap();
    let e = found.load("shot_noise").unwrap_err().to_string();
    assert!(e.contains("value 10"), "{e}");

    let e = mnist_c::locate(&root.join("nothing")).unwrap_err().to_string();
    assert!(e.contains("no MNIST-C") && e.contains("zenodo") && e.contains("pathprox corrupt mnist"), "{e}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn cifar10_c_reader_splits_severities_and_converts_to_chw() {
    // 10 images (2 per severity), pixel (n, y, x, c) = n + 3y + 5x + 7c (mod 256).
    let value = |n: usize, y: usize, x: usize, c: usize| ((n + 3 * y + 5 * x + 7 * c) % 256) as u8;
    let mut hwc = Vec::new();
    for n in 0..10 {
        for y in 0..32 {
            for x in 0..32 {
                for c in 0..3 {
                    hwc.push(value(n, y, x, c));
                }
            }
        }
    }
    let labels: Vec<u8> = (0..10).map(|i| (i * 7 % 10) as u8).collect();
    let root = scratch("cifarc");
    let dir = root.join("CIFAR-10-C");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fog.npy"), npy::to_bytes_u8(&[10, 32, 32, 3], &hwc).unwrap()).unwrap();
    std::fs::write(dir.join("labels.npy"), npy::to_bytes_u8(&[10], &labels).unwrap()).unwrap();
    std::fs::write(dir.join("snow.npy"), npy::to_bytes_u8(&[5, 32, 32, 3], &hwc[..5 * 3072]).unwrap()).unwrap();
    let found = cifar10_c::locate(&root).expect("found");
    assert_eq!(found.corruptions, vec!["snow", "fog"]);
    let l = found.labels().unwrap();
    assert_eq!(l, labels);
    let fog = found.load("fog", &l).unwrap();
    assert_eq!((fog.len(), fog.per_severity(), fog.severity_rows(3)), (10, 2, 4..6));
    assert_eq!(fog.hwc, hwc);
    let chw = fog.chw();
    for n in [0, 9] {
        for (y, x, c) in [(0, 0, 0), (31, 0, 2), (5, 17, 1), (31, 31, 2)] {
            assert_eq!(chw[n * 3072 + c * 1024 + y * 32 + x], value(n, y, x, c));
        }
    }
    let e = found.load("snow", &l).unwrap_err().to_string();
    assert!(e.contains("snow.npy") && e.contains("5 images but 10 labels"), "{e}");
    let e = cifar10_c::from_npy("x.npy", &npy::to_bytes_u8(&[7, 32, 32, 3], &hwc[..7 * 3072]).unwrap(), &[0; 7], "labels.npy").unwrap_err().to_string();
    assert!(e.contains("5 equal severities"), "{e}");
    let e = cifar10_c::from_npy("x.npy", &npy::to_bytes_u8(&[10, 3, 32, 32], &hwc).unwrap(), &labels, "labels.npy").unwrap_err().to_string();
    assert!(e.contains("HWC"), "{e}");
    assert!(cifar10_c::locate(&root.join("CIFAR-10-C").join("nothing")).is_none());
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn hwc_to_chw_on_a_tiny_image() {
    // One 1×2 image of 3 channels: HWC [r0 g0 b0 r1 g1 b1] → CHW [r0 r1 g0 g1 b0 b1].
    assert_eq!(cifar10_c::hwc_to_chw(&[1, 2, 3, 4, 5, 6], 1, 2, 3), vec![1, 4, 2, 5, 3, 6]);
}
