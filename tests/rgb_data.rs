//! CIFAR-10 and SVHN readers against files in their published formats: every pixel and label read back
//! (channel order, the MAT column-major layout, SVHN's 10 → 0), every layout `cifar::locate` accepts, the
//! seeded Task 3/4 splits, and bad files, each a one-line error naming the file.
//!
//! The pickle and MAT fixtures in tests/fixtures/rgb/ were written by Python, numpy and scipy
//! (tests/fixtures/rgb/make_fixtures.py), not by anything in this crate; the binary batches are written
//! here, the binary `.tar.gz` by Python's tarfile. Pixel (n, c, y, x) of every fixture is [`value`].

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::scratch;
use pathprox::Error;
use pathprox::data::cifar::{self, Layout, Version};
use pathprox::data::rgb::{self, IMAGE_BYTES, RgbDataset};
use pathprox::data::{mat, pickle, svhn};

/// The labels of the fixtures, image by image (make_fixtures.py's LABELS).
const LABELS: [u8; 12] = [3, 0, 7, 9, 1, 4, 8, 2, 6, 5, 0, 9];

/// Pixel (channel c, row y, column x) of image n in every fixture (make_fixtures.py's `value`).
fn value(n: usize, c: usize, y: usize, x: usize) -> u8 {
    ((n * 71 + c * 101 + y * 13 + x * 3 + (x * y) % 7) % 256) as u8
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rgb").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// Checks every pixel and label: image i of `d` is image `first + i` of the fixtures' numbering.
fn check_images(d: &RgbDataset, first: usize, n: usize) {
    assert_eq!(d.len(), n, "{}", d.source);
    assert_eq!(d.images.len(), n * IMAGE_BYTES);
    for i in 0..n {
        assert_eq!(d.labels[i], LABELS[(first + i) % LABELS.len()], "label of image {i} of {}", d.source);
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    assert_eq!(
                        d.pixel(i, c, y, x),
                        value(first + i, c, y, x),
                        "image {i} ({c}, {y}, {x}) of {}",
                        d.source
                    );
                }
            }
        }
    }
    // CHW: the pixel accessor is the flat layout.
    if n > 0 {
        assert_eq!(d.images[(2 * 32 + 5) * 32 + 7], value(first, 2, 5, 7));
    }
}

/// `n` binary records of the fixtures' images `first..first + n`, as the published files lay them out.
fn binary_records(first: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * cifar::RECORD_BYTES);
    for i in first..first + n {
        out.push(LABELS[i % LABELS.len()]);
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    out.push(value(i, c, y, x));
                }
            }
        }
    }
    out
}

/// One line, naming `file`, containing each of `words`.
fn assert_one_line(err: &Error, file: &str, words: &[&str]) {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "not one line: {msg}");
    assert!(msg.contains(file), "does not name {file}: {msg}");
    for w in words {
        assert!(msg.contains(w), "lacks '{w}': {msg}");
    }
}

#[test]
fn a_binary_batch_gives_every_pixel_and_label() {
    let d = cifar::parse_binary_batch("batch.bin", &binary_records(0, 12)).unwrap();
    check_images(&d, 0, 12);
    assert_eq!(d.class_counts().iter().sum::<usize>(), 12);
}

#[test]
fn pickled_batches_from_python_2_and_3_give_every_pixel_and_label() {
    for f in ["cifar_py2.pkl", "cifar_p1.pkl", "cifar_p2.pkl", "cifar_p4.pkl"] {
        let d = cifar::parse_python_batch(f, &read(f)).unwrap();
        check_images(&d, 0, 4);
    }
}

#[test]
fn the_pickle_reader_rebuilds_the_whole_dict() {
    for f in ["cifar_py2.pkl", "cifar_p1.pkl", "cifar_p2.pkl", "cifar_p4.pkl"] {
        let v = pickle::load(f, &read(f)).unwrap();
        let mut keys = v.text_keys();
        keys.sort();
        assert_eq!(keys, ["batch_label", "data", "filenames", "labels"], "{f}");
        assert_eq!(v.get("batch_label").unwrap().as_text(), Some("training batch 1 of 5"), "{f}");
        let pickle::Value::List(names) = v.get("filenames").unwrap() else { panic!("{f}: filenames") };
        let names: Vec<String> = names.borrow().iter().map(|n| n.as_text().unwrap().to_string()).collect();
        assert_eq!(names, ["fixture_0.png", "fixture_1.png", "fixture_2.png", "fixture_3.png"], "{f}");
        let pickle::Value::Array(a) = v.get("data").unwrap() else { panic!("{f}: data") };
        let a = a.borrow();
        assert_eq!((a.shape.as_slice(), a.dtype.kind, a.dtype.size, a.fortran), (&[4, 3072][..], 'u', 1, false), "{f}");
    }
}

#[test]
fn the_pickle_reader_runs_nothing() {
    // What `pickle.dumps(os.system)`-style payloads look like: a global outside the four allowed.
    let evil = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
    let err = pickle::load("evil.pkl", evil).unwrap_err();
    assert_one_line(&err, "evil.pkl", &["refusing global os.system", "never calls"]);
    // Protocol 4's STACK_GLOBAL is checked the same way.
    let evil4 = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
    assert_one_line(&pickle::load("e4.pkl", evil4).unwrap_err(), "e4.pkl", &["refusing global builtins.eval"]);
    // Opcodes it does not know are named.
    assert_one_line(
        &pickle::load("i.pkl", b"\x80\x02F1.5\n.").unwrap_err(),
        "i.pkl",
        &["0x46", "FLOAT", "not supported"],
    );
    // A tuple nested a million deep is refused, not dropped recursively.
    let mut deep = b"\x80\x02N".to_vec();
    deep.extend(std::iter::repeat_n(0x85u8, 1_000_000));
    deep.push(b'.');
    assert_one_line(&pickle::load("deep.pkl", &deep).unwrap_err(), "deep.pkl", &["nested more than 8"]);
}

#[test]
fn the_binary_tar_gz_made_by_python_reads_straight_from_the_archive() {
    let c = cifar::load_archive(&fixture("cifar-10-binary.tar.gz")).unwrap();
    // Five training batches of 2 images each (images 0-9), then the test batch (images 10-11).
    check_images(&c.train, 0, 10);
    check_images(&c.test, 10, 2);
    assert!(c.train.source.contains("binary"), "{}", c.train.source);
}

/// A tar.gz of `files` (name, bytes) under `folder/`, written with the `tar` crate.
fn tar_gz(folder: &str, files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("{folder}/{name}"), &bytes[..]).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// Six pickled batches (the py2 fixture each time) and their names.
fn python_batches() -> Vec<(&'static str, Vec<u8>)> {
    cifar::PYTHON_FILES.iter().map(|f| (*f, read("cifar_py2.pkl"))).collect()
}

fn binary_batches(per: usize) -> Vec<(&'static str, Vec<u8>)> {
    cifar::BINARY_FILES.iter().enumerate().map(|(k, f)| (*f, binary_records(k * per, per))).collect()
}

fn write_all(dir: &Path, files: &[(&str, Vec<u8>)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (f, b) in files {
        std::fs::write(dir.join(f), b).unwrap();
    }
}

#[test]
fn every_layout_is_found_and_read() {
    // Extracted binary folder, under data/cifar10 as `download` + tar would leave it.
    let d = scratch("layout-bin");
    write_all(&d.join("cifar10").join(cifar::BINARY_DIR), &binary_batches(2));
    let layout = cifar::locate(Some(&d)).unwrap();
    assert_eq!(layout, Layout::Dir { dir: d.join("cifar10").join(cifar::BINARY_DIR), version: Version::Binary });
    let c = cifar::load(&layout).unwrap();
    check_images(&c.train, 0, 10);
    check_images(&c.test, 10, 2);
    // The folder itself.
    assert!(matches!(cifar::locate(Some(&d.join("cifar10").join(cifar::BINARY_DIR))).unwrap(), Layout::Dir { .. }));

    // Extracted Python folder.
    let d = scratch("layout-py");
    write_all(&d.join(cifar::PYTHON_DIR), &python_batches());
    let layout = cifar::locate(Some(&d)).unwrap();
    assert_eq!(layout, Layout::Dir { dir: d.join(cifar::PYTHON_DIR), version: Version::Python });
    let c = cifar::load(&layout).unwrap();
    assert_eq!((c.train.len(), c.test.len()), (20, 4));
    for k in 0..5 {
        let part = c.train.select(&(4 * k..4 * k + 4).collect::<Vec<_>>(), "part");
        check_images(&part, 0, 4);
    }
    check_images(&c.test, 0, 4);

    // The Python archive, found in the folder and given directly; an extracted folder wins over it.
    let d = scratch("layout-pytar");
    let archive = d.join(cifar::PYTHON_ARCHIVE);
    let mut files = python_batches();
    files.push(("batches.meta", b"not read".to_vec()));
    std::fs::write(&archive, tar_gz(cifar::PYTHON_DIR, &files)).unwrap();
    assert_eq!(cifar::locate(Some(&d)).unwrap(), Layout::Archive(archive.clone()));
    assert_eq!(cifar::locate(Some(&archive)).unwrap(), Layout::Archive(archive.clone()));
    let c = cifar::load(&Layout::Archive(archive)).unwrap();
    assert!(c.train.source.contains("python"), "{}", c.train.source);
    check_images(&c.test, 0, 4);
    write_all(&d.join(cifar::BINARY_DIR), &binary_batches(1));
    assert!(matches!(cifar::locate(Some(&d)).unwrap(), Layout::Dir { version: Version::Binary, .. }));

    // Nothing there: every place tried is listed, with how to get the files.
    let err = cifar::locate(Some(&scratch("layout-none"))).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(cifar::BINARY_ARCHIVE) && msg.contains("pathprox download cifar10"), "{msg}");
}

#[test]
fn task_splits_are_seeded_disjoint_and_the_papers_sizes() {
    // The paper's sizes: 50,000 → 45,000 / 5,000 and 73,257 → 67,257 / 6,000.
    for (n, val, want) in [(50_000, cifar::TASK3_VAL, 45_000), (73_257, svhn::TASK4_VAL, 67_257)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images: Vec<u8> = (0..n).flat_map(|i| [(i % 251) as u8; IMAGE_BYTES]).collect();
        let all = RgbDataset { images, labels, source: "synthetic".into() };
        let test = all.select(&[0, 1], "test");
        let s = rgb::holdout_split(&all, test, val, 7).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (want, val, 2));
        assert!(s.note.is_none());
    }

    let d = scratch("split");
    write_all(&d.join(cifar::BINARY_DIR), &binary_batches(20));
    let a = cifar::cifar10_splits(Some(&d), 1).unwrap();
    let b = cifar::cifar10_splits(Some(&d), 1).unwrap();
    let c = cifar::cifar10_splits(Some(&d), 2).unwrap();
    // 100 training images: a tenth held out, and a note that says so.
    assert_eq!((a.train.len(), a.val.len(), a.test.len()), (90, 10, 20));
    assert!(a.note.as_deref().unwrap().contains("instead of the paper's 5000"), "{:?}", a.note);
    assert_eq!((&a.train, &a.val), (&b.train, &b.val));
    assert_ne!(a.val.images, c.val.images);
    // Disjoint and complete: every training image (told apart by its first pixel, value(i, 0, 0, 0)) once.
    let mut firsts: Vec<u8> =
        (0..a.train.len()).map(|i| a.train.image(i)[0]).chain((0..a.val.len()).map(|i| a.val.image(i)[0])).collect();
    firsts.sort_unstable();
    let mut want: Vec<u8> = (0..100).map(|i| value(i, 0, 0, 0)).collect();
    want.sort_unstable();
    assert_eq!(firsts, want);
    check_images(&a.test, 100, 20);
}

#[test]
fn svhn_mat_files_from_scipy_give_every_pixel_and_label() {
    for f in ["svhn_plain.mat", "svhn_zlib.mat"] {
        let d = svhn::parse_mat(f, &read(f)).unwrap();
        // LABELS[1] is 0, stored as y = 10.
        check_images(&d, 0, 5);
    }
    let d = svhn::parse_mat("svhn_matlab_style.mat", &read("svhn_matlab_style.mat")).unwrap();
    check_images(&d, 0, 1);
}

#[test]
fn the_mat_reader_sees_the_matlab_layout() {
    let f = "svhn_zlib.mat";
    let m = mat::read(f, &read(f), &["X", "y", "z"]).unwrap();
    assert_eq!(m.names, ["info", "z", "X", "y"]);
    let x = m.get("X").unwrap();
    assert_eq!((x.class, x.dims.as_slice()), (mat::Class::UInt8, &[32, 32, 3, 5][..]));
    let mat::MatData::U8(px) = &x.data else { panic!("X is uint8") };
    // Column-major: X(row 1, col 0, c 0, n 0) is the second byte, X(row 0, col 1, ...) the 33rd.
    assert_eq!((px[1], px[32]), (value(0, 0, 1, 0), value(0, 0, 0, 1)));
    let z = m.get("z").unwrap();
    assert_eq!(
        (z.class, z.dims.as_slice(), &z.data),
        (mat::Class::Double, &[2, 3][..], &mat::MatData::F64(vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]))
    );
    let y = mat::read("m", &read("svhn_matlab_style.mat"), &["y"]).unwrap();
    assert_eq!(y.get("y").unwrap().data, mat::MatData::F64(vec![3.0]));
}

#[test]
fn svhn_is_found_loaded_and_split() {
    let d = scratch("svhn");
    std::fs::create_dir_all(d.join("svhn")).unwrap();
    std::fs::copy(fixture("svhn_zlib.mat"), d.join("svhn").join(svhn::TRAIN_FILE)).unwrap();
    std::fs::copy(fixture("svhn_plain.mat"), d.join("svhn").join(svhn::TEST_FILE)).unwrap();
    let found = svhn::locate(Some(&d)).unwrap();
    let (train, test) = svhn::load(&found).unwrap();
    check_images(&train, 0, 5);
    check_images(&test, 0, 5);
    // Five images: one is held out (a tenth would be none), and the note says so.
    let s = svhn::svhn_splits(Some(&d), 0).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (4, 1, 5));
    assert!(s.note.as_deref().unwrap().contains("instead of the paper's 6000"), "{:?}", s.note);
    let one = RgbDataset { images: vec![0; IMAGE_BYTES], labels: vec![0], source: "one".into() };
    let err = rgb::holdout_split(&one, one.clone(), 6000, 0).unwrap_err();
    assert!(err.to_string().contains("too few images (1)"), "{err}");
    let err = svhn::locate(Some(&scratch("svhn-none"))).unwrap_err();
    assert!(err.to_string().contains("pathprox download svhn"), "{err}");
}

/// `bytes` with the first occurrence of `from` replaced by `to`.
fn patch(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at =
        bytes.windows(from.len()).position(|w| w == from).unwrap_or_else(|| panic!("pattern {from:02x?} not found"));
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

#[test]
fn bad_cifar_files_are_one_line_errors() {
    let recs = binary_records(0, 3);
    let e = cifar::parse_binary_batch("trunc.bin", &recs[..recs.len() - 5]).unwrap_err();
    assert_one_line(&e, "trunc.bin", &["not a whole number of 3,073-byte records", "truncated"]);
    let e = cifar::parse_binary_batch("c100.bin", &vec![1u8; 3074 * 2]).unwrap_err();
    assert_one_line(&e, "c100.bin", &["CIFAR-100"]);
    let e = cifar::parse_binary_batch("empty.bin", &[]).unwrap_err();
    assert_one_line(&e, "empty.bin", &["empty"]);
    let mut bad = recs.clone();
    bad[cifar::RECORD_BYTES] = 10;
    let e = cifar::parse_binary_batch("label.bin", &bad).unwrap_err();
    assert_one_line(&e, "label.bin", &["label 10 of record 1 is out of range 0-9"]);

    let py2 = read("cifar_py2.pkl");
    // Labels [3, 0, 7, 9]: make the third 12.
    let e = cifar::parse_python_batch("l.pkl", &patch(&py2, b"K\x03K\x00K\x07", b"K\x03K\x00K\x0c")).unwrap_err();
    assert_one_line(&e, "l.pkl", &["label 12 of image 2 is out of range"]);
    // A shape that claims 2^31 images (LONG1) or 2^31 - 1 (BININT): refused before any allocation.
    for (f, n) in [("huge.pkl", &b"\x8a\x05\x00\x00\x00\x80\x00"[..]), ("huge2.pkl", b"J\xff\xff\xff\x7f")] {
        let bad = patch(&py2, b"K\x04M\x00\x0c\x86", &[n, b"M\x00\x0c\x86"].concat());
        let e = cifar::parse_python_batch(f, &bad).unwrap_err();
        assert_one_line(&e, f, &["numpy array of shape [", ", 3072] and 1-byte items needs", "its data has 12288"]);
    }
    let e = cifar::parse_python_batch("t.pkl", &py2[..py2.len() / 2]).unwrap_err();
    assert_one_line(&e, "t.pkl", &["truncated"]);
    let e = cifar::parse_python_batch("nokey.pkl", &patch(&py2, b"U\x04data", b"U\x04dada")).unwrap_err();
    assert_one_line(&e, "nokey.pkl", &["no 'data' in the dict", "dada"]);

    // Archives: corrupt gzip, gzip of something that is not a tar, truncated, a member missing, a
    // member whose header claims 8 GiB.
    let d = scratch("bad-archives");
    let good = read("cifar-10-binary.tar.gz");
    let mut flipped = good.clone();
    for b in &mut flipped[200..260] {
        *b ^= 0x5a;
    }
    let not_tar = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&vec![7u8; 5000]).unwrap();
        e.finish().unwrap()
    };
    let missing = tar_gz(cifar::BINARY_DIR, &binary_batches(1)[..5]);
    let huge = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(8 << 30);
        h.set_cksum();
        b.append_data(&mut h, "cifar-10-batches-bin/data_batch_1.bin", &[0u8; 0][..]).unwrap_or(());
        let mut t = b.into_inner().unwrap();
        t.truncate(1024);
        t
    };
    for (f, bytes, words) in [
        ("flipped.tar.gz", flipped, &["corrupt archive"][..]),
        ("truncated.tar.gz", good[..good.len() / 2].to_vec(), &["corrupt archive"][..]),
        ("nottar.tar.gz", not_tar, &["corrupt archive"][..]),
        ("missing.tar.gz", missing, &["lacks CIFAR-10 batch files: test_batch.bin"][..]),
        ("huge.tar", huge, &["claims 8589934592 bytes"][..]),
    ] {
        let path = d.join(f);
        std::fs::write(&path, &bytes).unwrap();
        let e = cifar::load_archive(&path).unwrap_err();
        assert_one_line(&e, f, words);
    }
    let e = cifar::load_archive(&d.join("absent.tar.gz")).unwrap_err();
    assert_one_line(&e, "absent.tar.gz", &["cannot open"]);
    let e = cifar::load_dir(&d, Version::Binary).unwrap_err();
    assert_one_line(&e, "data_batch_1.bin", &["cannot read"]);
}

#[test]
fn bad_mat_files_are_one_line_errors() {
    let plain = read("svhn_plain.mat");
    let zlib = read("svhn_zlib.mat");
    let mut v4 = plain.clone();
    v4[..10].copy_from_slice(b"\0\0\0\0\x01\0\0\0\x01\0");
    let mut be = plain.clone();
    be[126..128].copy_from_slice(b"MI");
    let mut v73 = plain.clone();
    v73[..10].copy_from_slice(b"MATLAB 7.3");
    v73[124..126].copy_from_slice(&0x0200u16.to_le_bytes());
    // Variable names are small data elements: [type 1, length 1, 'X', 0, 0, 0].
    let no_x = patch(&plain, b"\x01\x00\x01\x00X\x00\x00\x00", b"\x01\x00\x01\x00W\x00\x00\x00");
    let no_y = patch(&plain, b"\x01\x00\x01\x00y\x00\x00\x00", b"\x01\x00\x01\x00w\x00\x00\x00");
    // X's dimensions [32, 32, 3, 5] as miINT32.
    let dims = |d: [i32; 4]| {
        [&[5u8, 0, 0, 0, 16, 0, 0, 0][..], &d.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()].concat()
    };
    let wrong_dims = patch(&plain, &dims([32, 32, 3, 5]), &dims([32, 32, 5, 3]));
    let huge = patch(&plain, &dims([32, 32, 3, 5]), &dims([32, 32, 3, i32::MAX]));
    let neg = patch(&plain, &dims([32, 32, 3, 5]), &dims([32, 32, 3, i32::MIN]));
    let mut corrupt_z = zlib.clone();
    let n = corrupt_z.len();
    for b in &mut corrupt_z[n - 600..n - 500] {
        *b ^= 0xa5;
    }
    let y10 = {
        // y = 10.0 is the digit 0; 11.0 is no digit.
        let ten = 10.0f64.to_le_bytes();
        patch(&plain, &ten, &11.0f64.to_le_bytes())
    };
    for (f, bytes, words) in [
        ("short.mat", plain[..100].to_vec(), &["too short for a MAT-file"][..]),
        ("v4.mat", v4, &["not a MAT v5 file"][..]),
        ("be.mat", be, &["big-endian"][..]),
        ("v73.mat", v73, &["v7.3", "HDF5"][..]),
        ("trunc.mat", plain[..plain.len() - 100].to_vec(), &["truncated"][..]),
        ("truncz.mat", zlib[..zlib.len() - 100].to_vec(), &["truncated"][..]),
        ("corruptz.mat", corrupt_z, &["variable"][..]),
        ("nox.mat", no_x, &["no variable 'X'", "info, z, W, y"][..]),
        ("noy.mat", no_y, &["no variable 'y'"][..]),
        ("dims.mat", wrong_dims, &["X has dimensions [32, 32, 5, 3], expected [32, 32, 3, N]"][..]),
        ("huge.mat", huge, &["dimensions [32, 32, 3, 2147483647] need 6597069763584 values"][..]),
        ("neg.mat", neg, &["negative dimension"][..]),
        ("label.mat", y10, &["label 11 of image 1 is out of range 1-10"][..]),
    ] {
        let e = svhn::parse_mat(f, &bytes).unwrap_err();
        assert_one_line(&e, f, words);
    }
    let e = svhn::read_mat(Path::new("/nonexistent/train_32x32.mat")).unwrap_err();
    assert_one_line(&e, "/nonexistent/train_32x32.mat", &["cannot read"]);
}
