//! The data layer on real and broken files: the shipped MNIST subset and (when present) the official test
//! set and Debian's Fashion-MNIST parse; every kind of broken IDX file is refused with a message naming the
//! file; the files are found where the docs say; the task splits have the documented sizes, are disjoint,
//! and depend on the seed and nothing else. No GPU needed.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::{gzip, scratch};
use pathprox::Error;
use pathprox::data::idx::{self, encode_images, encode_labels};
use pathprox::data::mnist::{self, CLASSES, FASHION_SYSTEM_DIR};
use pathprox::data::{Dataset, DatasetKind, TaskSplit, mnist_splits};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's shared MNIST directory (the 10k subset and the official test set), beside the checkout in
/// CI; `PATHPROX_SHARED_MNIST` overrides it. `None` (and a message) when absent.
fn shared_mnist() -> Option<PathBuf> {
    let dir = std::env::var_os("PATHPROX_SHARED_MNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data/mnist"));
    if dir.join("t10k-images-idx3-ubyte.gz").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: no official MNIST test set at {} (set PATHPROX_SHARED_MNIST)", dir.display());
        None
    }
}

/// `n` synthetic 28×28 images whose first two pixels spell their index (so split parts can be traced back
/// to the file), with labels cycling through the classes.
fn synthetic(n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut pixels = vec![0u8; n * 784];
    for i in 0..n {
        pixels[i * 784] = (i & 0xff) as u8;
        pixels[i * 784 + 1] = (i >> 8) as u8;
        pixels[i * 784 + 2] = (i * 7 % 256) as u8;
    }
    let labels = (0..n).map(|i| (i * 3 % CLASSES) as u8).collect();
    (pixels, labels)
}

fn write_pair(dir: &Path, images: &str, labels: &str, n: usize, gz: bool) {
    let (pixels, lab) = synthetic(n);
    let (i, l) = (encode_images(28, 28, &pixels), encode_labels(&lab));
    let (i, l, ext) = if gz { (gzip(&i), gzip(&l), ".gz") } else { (i, l, "") };
    std::fs::write(dir.join(format!("{images}{ext}")), i).unwrap();
    std::fs::write(dir.join(format!("{labels}{ext}")), l).unwrap();
}

fn index_of(d: &Dataset, i: usize) -> usize {
    let img = d.image(i);
    img[0] as usize | (img[1] as usize) << 8
}

fn indices(d: &Dataset) -> Vec<usize> {
    (0..d.len()).map(|i| index_of(d, i)).collect()
}

fn data_err(r: Result<impl std::fmt::Debug, Error>) -> (String, String) {
    match r {
        Err(Error::Data { file, msg }) => (file, msg),
        other => panic!("expected Error::Data, got {other:?}"),
    }
}

/// Class counts all within ±25% of an even share: true of every MNIST-family set, false of a mis-parsed one.
fn assert_sane_histogram(d: &Dataset) {
    let counts = d.class_counts();
    let even = d.len() / CLASSES;
    assert!(counts.iter().all(|&c| c * 4 > even * 3 && c * 4 < even * 5), "{counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), d.len());
}

// ---------------------------------------------------------------------------------------------- real files

#[test]
fn shipped_subset_parses() {
    let dir = root().join("data/mnist-10k");
    let images = idx::read_images(&dir.join("train-10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!((images.count, images.rows, images.cols, images.pixels.len()), (10000, 28, 28, 10000 * 784));
    let pair = mnist::FilePair {
        images: dir.join("train-10k-images-idx3-ubyte.gz"),
        labels: dir.join("train-10k-labels-idx1-ubyte.gz"),
    };
    let d = pair.load("subset").unwrap();
    assert_eq!(d.len(), 10000);
    assert_sane_histogram(&d);
    // The first official training labels are 5 0 4 1 9 2 1 3 1 4: the subset keeps the official order.
    assert_eq!(&d.labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    // Real digits: mostly background, some ink, and full-intensity strokes.
    let ink = d.images.iter().filter(|&&p| p > 0).count() as f64 / d.images.len() as f64;
    assert!((0.1..0.3).contains(&ink), "fraction of non-zero pixels {ink}");
    assert_eq!(d.images.iter().max(), Some(&255));
}

#[test]
fn official_test_set_parses() {
    let Some(dir) = shared_mnist() else { return };
    let pair = mnist::FilePair {
        images: dir.join("t10k-images-idx3-ubyte.gz"),
        labels: dir.join("t10k-labels-idx1-ubyte.gz"),
    };
    let d = pair.load("test").unwrap();
    assert_eq!((d.len(), d.rows, d.cols), (10000, 28, 28));
    // The published class counts of the MNIST test set.
    assert_eq!(d.class_counts(), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
}

#[test]
fn official_test_set_matches_the_published_checksums() {
    let Some(dir) = shared_mnist() else { return };
    let files = pathprox::data::download::official_files(DatasetKind::Mnist);
    for f in files.iter().filter(|f| f.name.starts_with("t10k")) {
        assert!(f.md5.is_some() && f.sha256.is_some());
        pathprox::data::download::verify(&dir.join(&f.name), f).unwrap();
    }
}

#[test]
fn shared_directory_trains_on_the_subset_and_tests_on_the_official_set() {
    let Some(dir) = shared_mnist() else { return };
    let found = mnist::locate(Some(&dir), DatasetKind::Mnist).unwrap();
    assert!(found.train_is_subset);
    assert!(found.test.is_some());
    let s = mnist_splits(Some(&dir), DatasetKind::Mnist, TaskSplit::TASK1, 0).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (1000, 9000, 10000));
    assert_eq!(s.train.class_counts(), [100; CLASSES]);
    let note = s.note.expect("the subset is noted");
    assert!(note.contains("subset") && !note.contains("held out"), "{note}");
    let s = mnist_splits(Some(&dir), DatasetKind::Mnist, TaskSplit::TASK2, 0).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (9000, 1000, 10000));
}

#[test]
fn repository_data_dir_splits_the_subset_three_ways() {
    let dir = root().join("data");
    let s = mnist_splits(Some(&dir), DatasetKind::Mnist, TaskSplit::TASK1, 7).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (1000, 8000, 1000));
    assert_eq!(s.train.class_counts(), [100; CLASSES]);
    let note = s.note.expect("a note");
    assert!(note.contains("subset") && note.contains("held out"), "{note}");
    // No image is in two parts (the subset's 10,000 images are pairwise distinct, checked here too).
    let all: Vec<&[u8]> = [&s.train, &s.val, &s.test].iter().flat_map(|d| (0..d.len()).map(|i| d.image(i))).collect();
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 10000);

    let s = mnist_splits(Some(&dir), DatasetKind::Mnist, TaskSplit::TASK2, 7).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (8000, 1000, 1000));
}

#[test]
fn fashion_mnist_loads_when_installed() {
    if !Path::new(FASHION_SYSTEM_DIR).is_dir() {
        eprintln!("skipped: {FASHION_SYSTEM_DIR} absent (apt-get install dataset-fashion-mnist)");
        return;
    }
    let found = mnist::locate(None, DatasetKind::FashionMnist).unwrap();
    assert!(!found.train_is_subset);
    let (train, test) = mnist::load(&found).unwrap();
    let test = test.expect("the package ships the test set");
    // Fashion-MNIST is exactly balanced: 6,000 and 1,000 images per class.
    assert_eq!(train.class_counts(), [6000; CLASSES]);
    assert_eq!(test.class_counts(), [1000; CLASSES]);
    let s = mnist::split(&train, Some(&test), TaskSplit::TASK2, 1, None).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (55000, 5000, 10000));
    assert!(s.note.is_none());
}

// --------------------------------------------------------------------------------------------- broken files

#[test]
fn truncated_files_are_refused_with_both_sizes() {
    let (pixels, labels) = synthetic(3);
    let images = encode_images(28, 28, &pixels);
    let cut = &images[..16 + 1234];
    let (file, msg) = data_err(idx::parse_images("train-images-idx3-ubyte.gz", &gzip(cut)));
    assert_eq!(file, "train-images-idx3-ubyte.gz");
    assert!(msg.starts_with("truncated: header says 3 images of 28×28 (2352 bytes"), "{msg}");
    assert!(msg.contains("file has 1234"), "{msg}");
    let (_, msg) = data_err(idx::parse_images("x", cut));
    assert!(msg.contains("file has 1234"), "{msg}");
    // Cut inside the header.
    let (_, msg) = data_err(idx::parse_images("x", &images[..10]));
    assert!(msg.contains("truncated header"), "{msg}");
    let (_, msg) = data_err(idx::parse_labels("y", &encode_labels(&labels)[..9]));
    assert!(msg.contains("header says 3 labels") && msg.contains("file has 1"), "{msg}");
    let (_, msg) = data_err(idx::parse_labels("empty", &[]));
    assert!(msg.contains("too short"), "{msg}");
}

#[test]
fn trailing_bytes_are_refused() {
    let (pixels, _) = synthetic(2);
    let mut images = encode_images(28, 28, &pixels);
    images.extend_from_slice(&[0; 5]);
    let (_, msg) = data_err(idx::parse_images("a", &images));
    assert!(msg.starts_with("trailing bytes") && msg.contains("file has 1573"), "{msg}");
    let (_, msg) = data_err(idx::parse_images("a.gz", &gzip(&images)));
    assert!(msg.starts_with("trailing bytes") && msg.contains("file has 1573"), "{msg}");
    // Bytes after the gzip stream itself are no second gzip member: refused too, not ignored.
    let mut gz = gzip(&images[..images.len() - 5]);
    gz.extend_from_slice(b"junk");
    let (_, msg) = data_err(idx::parse_images("a.gz", &gz));
    assert!(msg.starts_with("corrupt gzip stream"), "{msg}");
    // Two gzip members are one stream (gzip's own rule), and parse.
    let (one, two) = images[..images.len() - 5].split_at(700);
    let two_members = [gzip(one), gzip(two)].concat();
    assert_eq!(idx::parse_images("a.gz", &two_members).unwrap().pixels, pixels);
}

#[test]
fn wrong_magic_is_refused() {
    let labels = encode_labels(&[1, 2, 3]);
    let (_, msg) = data_err(idx::parse_images("l", &labels));
    assert!(msg.contains("IDX label file (magic 2049)") && msg.contains("expected an IDX image file"), "{msg}");
    let (pixels, _) = synthetic(1);
    let (_, msg) = data_err(idx::parse_labels("i", &gzip(&encode_images(28, 28, &pixels))));
    assert!(msg.contains("IDX image file (magic 2051)"), "{msg}");
    // IDX, but floats (type 0x0d) instead of bytes.
    let mut floats = encode_labels(&[0; 4]);
    floats[2] = 0x0d;
    let (_, msg) = data_err(idx::parse_labels("f", &floats));
    assert!(msg.contains("element type 0x0d"), "{msg}");
}

#[test]
fn not_gzip_but_named_gz_is_refused() {
    // What a failed download often leaves: an HTML page under the archive's name.
    let page = b"<!DOCTYPE html><html><body>Access denied</body></html>";
    let (file, msg) = data_err(idx::parse_images("train-images-idx3-ubyte.gz", page));
    assert_eq!(file, "train-images-idx3-ubyte.gz");
    assert!(msg.starts_with("named .gz but not gzip-compressed, and is not an IDX file"), "{msg}");
    assert!(msg.contains("<!DO"), "{msg}");
}

#[test]
fn corrupt_gzip_is_refused() {
    let (pixels, labels) = synthetic(20);
    let gz = gzip(&encode_images(28, 28, &pixels));
    // A flipped byte in the deflate stream: either the stream no longer decodes or its CRC fails.
    let mut flipped = gz.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    assert!(matches!(idx::parse_images("c.gz", &flipped), Err(Error::Data { .. })));
    // A damaged CRC alone (the last 8 bytes are CRC32 and size): the data decode, the check must fail.
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    let (_, msg) = data_err(idx::parse_images("c.gz", &bad_crc));
    assert!(msg.starts_with("corrupt gzip stream"), "{msg}");
    // A gzip stream cut short.
    let gz = gzip(&encode_labels(&labels));
    assert!(matches!(idx::parse_labels("c.gz", &gz[..gz.len() - 12]), Err(Error::Data { .. })));
}

#[test]
fn zero_and_implausible_dimensions_are_refused() {
    let mut header = encode_images(28, 28, &[0; 784]);
    header[4..8].copy_from_slice(&0u32.to_be_bytes());
    let (_, msg) = data_err(idx::parse_images("z", &header[..16]));
    assert!(msg.contains("zero dimension"), "{msg}");
    let mut header = encode_images(28, 28, &[0; 784]);
    header[12..16].copy_from_slice(&0u32.to_be_bytes());
    let (_, msg) = data_err(idx::parse_images("z", &header));
    assert!(msg.contains("zero dimension"), "{msg}");
    // A header claiming 4 billion labels must be refused before anything is allocated for them.
    let mut huge = encode_labels(&[1]);
    huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    let (_, msg) = data_err(idx::parse_labels("h", &huge));
    assert!(msg.contains("implausible"), "{msg}");
    let mut wide = encode_images(28, 28, &[0; 784]);
    wide[8..12].copy_from_slice(&100_000u32.to_be_bytes());
    let (_, msg) = data_err(idx::parse_images("w", &wide));
    assert!(msg.contains("implausible image size"), "{msg}");
}

#[test]
fn images_and_labels_must_agree() {
    let (pixels, labels) = synthetic(5);
    let images = encode_images(28, 28, &pixels);
    let (file, msg) = data_err(Dataset::from_idx("imgs", &images, "labs", &encode_labels(&labels[..4]), "t"));
    assert_eq!(file, "labs");
    assert!(msg.contains("4 labels for the 5 images of imgs"), "{msg}");
    let mut bad = labels.clone();
    bad[3] = 10;
    let (_, msg) = data_err(Dataset::from_idx("imgs", &images, "labs", &encode_labels(&bad), "t"));
    assert!(msg.contains("label 10 at index 3"), "{msg}");
    let small = encode_images(14, 14, &[0; 196 * 5]);
    let (file, msg) = data_err(Dataset::from_idx("imgs", &small, "labs", &encode_labels(&labels), "t"));
    assert_eq!(file, "imgs");
    assert!(msg.contains("14×14"), "{msg}");
    // And the good pair parses, raw or compressed, to the same thing.
    let a = Dataset::from_idx("i", &images, "l", &encode_labels(&labels), "t").unwrap();
    let b = Dataset::from_idx("i", &gzip(&images), "l", &gzip(&encode_labels(&labels)), "t").unwrap();
    assert_eq!(a, b);
    assert_eq!((a.images, a.labels), (pixels, labels));
}

#[test]
fn unreadable_file_names_the_path() {
    let missing = scratch("unreadable").join("nothing-here.gz");
    let (file, msg) = data_err(idx::read_labels(&missing));
    assert!(file.ends_with("nothing-here.gz") && msg.starts_with("cannot read"), "{file}: {msg}");
}

// ----------------------------------------------------------------------------------------------- discovery

#[test]
fn official_files_are_preferred_over_the_subset() {
    let dir = scratch("prefer");
    std::fs::create_dir_all(dir.join("mnist")).unwrap();
    std::fs::create_dir_all(dir.join("mnist-10k")).unwrap();
    write_pair(&dir.join("mnist-10k"), mnist::SUBSET_IMAGES, mnist::SUBSET_LABELS, 100, true);
    let found = mnist::locate(Some(&dir), DatasetKind::Mnist).unwrap();
    assert!(found.train_is_subset && found.test.is_none());
    // Official files, uncompressed, in dir/mnist.
    write_pair(&dir.join("mnist"), mnist::TRAIN_IMAGES, mnist::TRAIN_LABELS, 200, false);
    write_pair(&dir.join("mnist"), mnist::TEST_IMAGES, mnist::TEST_LABELS, 50, false);
    let found = mnist::locate(Some(&dir), DatasetKind::Mnist).unwrap();
    assert!(!found.train_is_subset);
    assert_eq!(found.train.images, dir.join("mnist").join(mnist::TRAIN_IMAGES));
    assert_eq!(found.test.as_ref().unwrap().labels, dir.join("mnist").join(mnist::TEST_LABELS));
    let s = mnist_splits(Some(&dir), DatasetKind::Mnist, TaskSplit::TASK2, 3).unwrap();
    // A tenth of the 200-image training file validates (fewer than the 5,000 asked for).
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (180, 20, 50));
    assert!(s.note.is_none(), "{:?}", s.note);
    assert!(s.train.source.contains("seed 3") && s.train.source.contains(mnist::TRAIN_IMAGES), "{}", s.train.source);
}

#[test]
fn an_image_file_without_its_labels_is_not_used() {
    let dir = scratch("half");
    write_pair(&dir, mnist::SUBSET_IMAGES, mnist::SUBSET_LABELS, 100, true);
    let (pixels, _) = synthetic(10);
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), gzip(&encode_images(28, 28, &pixels))).unwrap();
    let found = mnist::locate(Some(&dir), DatasetKind::Mnist).unwrap();
    assert!(found.train_is_subset);
}

#[test]
fn nothing_found_lists_the_places_and_the_remedies() {
    let dir = scratch("empty");
    let Err(Error::DatasetNotFound { msg }) = mnist::locate(Some(&dir), DatasetKind::Mnist) else {
        panic!("expected DatasetNotFound")
    };
    assert!(msg.contains(&format!("{}/mnist-10k/", dir.display())), "{msg}");
    assert!(msg.contains(&format!("{}/mnist/", dir.display())), "{msg}");
    assert!(msg.contains("pathprox download mnist") && msg.contains("--data-dir ../shared/data/mnist"), "{msg}");
    let Err(Error::DatasetNotFound { msg }) = mnist::locate(Some(&dir), DatasetKind::FashionMnist) else {
        panic!("expected DatasetNotFound")
    };
    assert!(msg.contains("dataset-fashion-mnist") && msg.contains("fashion-mnist/"), "{msg}");
}

#[test]
fn fashion_looks_in_its_own_subdirectory_first() {
    let dir = scratch("fashion");
    std::fs::create_dir_all(dir.join("fashion-mnist")).unwrap();
    write_pair(&dir, mnist::TRAIN_IMAGES, mnist::TRAIN_LABELS, 30, true);
    write_pair(&dir.join("fashion-mnist"), mnist::TRAIN_IMAGES, mnist::TRAIN_LABELS, 40, true);
    let found = mnist::locate(Some(&dir), DatasetKind::FashionMnist).unwrap();
    assert_eq!(found.train.images.parent(), Some(dir.join("fashion-mnist").as_path()));
    assert!(found.test.is_none());
    // No official test set: a tenth of the training file is held out, and the note says so.
    let s = mnist_splits(Some(&dir), DatasetKind::FashionMnist, TaskSplit::TASK2, 0).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (32, 4, 4));
    assert!(s.note.unwrap().contains("held out"));
}

// -------------------------------------------------------------------------------------------------- splits

fn synthetic_dataset(n: usize) -> Dataset {
    let (pixels, labels) = synthetic(n);
    Dataset::from_idx("i", &encode_images(28, 28, &pixels), "l", &encode_labels(&labels), "synthetic").unwrap()
}

#[test]
fn per_class_split_takes_k_of_each_class_and_the_rest_validates() {
    let train = synthetic_dataset(3000);
    let test = synthetic_dataset(100);
    let s = mnist::split(&train, Some(&test), TaskSplit::PerClass(25), 11, None).unwrap();
    assert_eq!(s.train.class_counts(), [25; CLASSES]);
    assert_eq!(s.val.len(), 3000 - 250);
    assert_eq!(s.test, test);
    assert!(s.note.is_none());
    let (t, v) = (indices(&s.train), indices(&s.val));
    // Disjoint, together the whole file, each part in file order; labels travel with their images.
    let mut all: Vec<usize> = t.iter().chain(&v).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..3000).collect::<Vec<_>>());
    assert!(t.windows(2).all(|w| w[0] < w[1]) && v.windows(2).all(|w| w[0] < w[1]));
    for (k, &i) in t.iter().enumerate() {
        assert_eq!(s.train.labels[k], train.labels[i]);
    }
    // Random, not the first 25 of each class.
    assert!(t.iter().any(|&i| i >= 250));
}

#[test]
fn holdout_split_without_a_test_set_makes_three_disjoint_parts() {
    let train = synthetic_dataset(1000);
    let s = mnist::split(&train, None, TaskSplit::Holdout(5000), 5, Some("subset".into())).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (800, 100, 100));
    let note = s.note.unwrap();
    assert!(note.starts_with("subset\n") && note.contains("100 images held out"), "{note}");
    let parts = [indices(&s.train), indices(&s.val), indices(&s.test)];
    let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..1000).collect::<Vec<_>>());
    // A smaller holdout than a tenth is honoured.
    let s = mnist::split(&train, None, TaskSplit::Holdout(30), 5, None).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (870, 30, 100));
}

#[test]
fn splits_depend_on_the_seed_only() {
    let train = synthetic_dataset(2000);
    for rule in [TaskSplit::TASK1, TaskSplit::Holdout(150)] {
        let a = mnist::split(&train, None, rule, 42, None).unwrap();
        let b = mnist::split(&train, None, rule, 42, None).unwrap();
        let c = mnist::split(&train, None, rule, 43, None).unwrap();
        assert_eq!((&a.train, &a.val, &a.test), (&b.train, &b.val, &b.test));
        assert_ne!(indices(&a.train), indices(&c.train));
        assert_ne!(indices(&a.test), indices(&c.test));
    }
}

#[test]
fn impossible_splits_are_errors() {
    let train = synthetic_dataset(300);
    // 30 images per class in the file (27 left after the test set is held out): 50 per class cannot be had.
    let Err(Error::Other(msg)) = mnist::split(&train, None, TaskSplit::PerClass(50), 0, None) else {
        panic!("expected an error")
    };
    assert!(msg.contains("has only") && msg.contains("50 per class"), "{msg}");
    assert!(mnist::split(&train, None, TaskSplit::Holdout(0), 0, None).is_err());
    assert!(mnist::split(&synthetic_dataset(5), None, TaskSplit::TASK2, 0, None).is_err());
}
