//! A property test of the CIFAR-10 (binary, pickle, tar.gz) and MAT/SVHN readers: thousands of mutated
//! valid files (truncations, flipped bytes, huge length and size fields, inserted and deleted ranges)
//! from a seeded mutator must each give an error or a valid data set, never a panic, and never make the
//! reader hold more memory than a small multiple of the file's size. Memory is measured by a counting
//! global allocator (peak live bytes during the call, on this thread).
//!
//! The bound: 8 × the input size + 64 KiB for the uncompressed formats (the output images alone are about
//! 1× the input; a pickle value costs up to ~24 bytes per 1-2 byte opcode), and 16 × + 256 KiB where the
//! input is compressed (zlib MAT, tar.gz: a zlib decoder holds ~76 KiB of state, and the real content is
//! larger than the file).
//! A reader that trusted a size field (2^31 images, a 4 GiB element) would blow far past either.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::time::Instant;

use pathprox::data::rgb::RgbDataset;
use pathprox::data::{cifar, svhn};

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize) {
    // try_with: the thread-locals may already be gone while a thread exits.
    let _ = LIVE.try_with(|l| {
        let v = l.get() + n;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn sub(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size);
        sub(layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result and the peak bytes it held beyond what was live before.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}

/// SplitMix64: a seeded stream, enough for a mutator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to three random mutations of `valid`.
fn mutate(valid: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = valid.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = v.len();
        match rng.below(8) {
            0 => v.truncate(rng.below(len + 1)),
            1 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(len);
                    if i < v.len() {
                        v[i] = rng.next() as u8;
                    }
                }
            }
            2 | 3 => {
                // A huge or odd size field: 4 bytes at a random (often aligned) place.
                let word = [0xffff_ffffu32, 0x7fff_ffff, 0x8000_0000, 0x0001_0000, rng.next() as u32][rng.below(5)];
                let i = if rng.below(2) == 0 { rng.below(len / 4) * 4 } else { rng.below(len) };
                for (k, b) in word.to_le_bytes().into_iter().enumerate() {
                    if let Some(x) = v.get_mut(i + k) {
                        *x = b;
                    }
                }
            }
            4 => {
                // A huge 8-byte length (BINBYTES8, FRAME).
                let i = rng.below(len);
                for (k, b) in (u64::MAX >> rng.below(40)).to_le_bytes().into_iter().enumerate() {
                    if let Some(x) = v.get_mut(i + k) {
                        *x = b;
                    }
                }
            }
            5 => {
                let (a, n) = (rng.below(len), 1 + rng.below(64));
                v.drain(a..(a + n).min(len));
            }
            6 => {
                let a = rng.below(len + 1);
                let junk: Vec<u8> = (0..1 + rng.below(32)).map(|_| rng.next() as u8).collect();
                v.splice(a..a, junk);
            }
            _ => {
                // Duplicate a range (repeats opcodes, elements, records).
                let (a, n) = (rng.below(len), 1 + rng.below(256));
                let chunk = v[a..(a + n).min(len)].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
        }
    }
    v
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rgb").join(name)).unwrap()
}

fn valid(d: &RgbDataset) {
    d.check("fuzz").unwrap();
}

struct Target {
    name: &'static str,
    input: Vec<u8>,
    iters: usize,
    compressed: bool,
    run: Run,
}

/// A reader run on one input: it panics only if the reader does, or if it returns an invalid set.
type Run = Box<dyn Fn(&[u8])>;

#[test]
fn mutated_files_give_an_error_or_a_valid_set_never_a_panic_or_a_big_allocation() {
    let mut records = Vec::new();
    for i in 0..3u8 {
        records.push(i * 3);
        records.extend((0..3072).map(|k| (k as u8).wrapping_mul(i + 1)));
    }
    let archive_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rgb_fuzz.tar.gz");
    let ap = archive_path.clone();
    let pickle = |bytes: &[u8]| {
        if let Ok(d) = cifar::parse_python_batch("fuzz.pkl", bytes) {
            valid(&d);
        }
    };
    let mat = |bytes: &[u8]| {
        if let Ok(d) = svhn::parse_mat("fuzz.mat", bytes) {
            valid(&d);
        }
        let _ = pathprox::data::mat::read("fuzz.mat", bytes, &["X", "y", "z", "info"]);
    };
    let targets = [
        Target {
            name: "binary batch",
            input: records,
            iters: 3000,
            compressed: false,
            run: Box::new(|b| {
                if let Ok(d) = cifar::parse_binary_batch("fuzz.bin", b) {
                    valid(&d);
                }
            }),
        },
        Target {
            name: "pickle py2",
            input: fixture("cifar_py2.pkl"),
            iters: 3000,
            compressed: false,
            run: Box::new(pickle),
        },
        Target {
            name: "pickle p1",
            input: fixture("cifar_p1.pkl"),
            iters: 3000,
            compressed: false,
            run: Box::new(pickle),
        },
        Target {
            name: "pickle p2",
            input: fixture("cifar_p2.pkl"),
            iters: 3000,
            compressed: false,
            run: Box::new(pickle),
        },
        Target {
            name: "pickle p4",
            input: fixture("cifar_p4.pkl"),
            iters: 3000,
            compressed: false,
            run: Box::new(pickle),
        },
        Target {
            name: "MAT plain",
            input: fixture("svhn_plain.mat"),
            iters: 3000,
            compressed: false,
            run: Box::new(mat),
        },
        Target { name: "MAT zlib", input: fixture("svhn_zlib.mat"), iters: 3000, compressed: true, run: Box::new(mat) },
        Target {
            name: "MAT MATLAB-style",
            input: fixture("svhn_matlab_style.mat"),
            iters: 3000,
            compressed: true,
            run: Box::new(mat),
        },
        Target {
            name: "tar.gz",
            input: fixture("cifar-10-binary.tar.gz"),
            iters: 1000,
            compressed: true,
            run: Box::new(move |b| {
                std::fs::write(&ap, b).unwrap();
                if let Ok(c) = cifar::load_archive(&ap) {
                    valid(&c.train);
                    valid(&c.test);
                }
            }),
        },
    ];

    let start = Instant::now();
    let mut total = 0;
    let mut failures = Vec::new();
    for (ti, t) in targets.iter().enumerate() {
        let t0 = Instant::now();
        let (mut worst, mut largest) = (0.0f64, 0usize);
        // Iteration 0 is the valid file itself (tests/rgb_data.rs checks what it gives).
        for i in 0..=t.iters {
            let mut rng = Rng(0x5eed_0000 + (ti as u64) * 1_000_003 + i as u64);
            let input = if i == 0 { t.input.clone() } else { mutate(&t.input, &mut rng) };
            let bound = if t.compressed { 16 * input.len() + (256 << 10) } else { 8 * input.len() + (64 << 10) };
            let (result, peak) =
                measured(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (t.run)(&input))));
            if result.is_err() {
                failures.push(format!("{}: iteration {i} panicked ({} bytes in)", t.name, input.len()));
            }
            if peak > bound {
                failures.push(format!(
                    "{}: iteration {i} held {peak} bytes for a {}-byte file (bound {bound})",
                    t.name,
                    input.len()
                ));
            }
            largest = largest.max(peak);
            if input.len() >= 1024 {
                worst = worst.max(peak as f64 / input.len() as f64);
            }
            total += 1;
        }
        eprintln!(
            "{:18} {:5} mutations of a {:6}-byte file in {:5.2} s; peak memory at most {:7} bytes, {:4.1}× the file \
             (files of 1 KiB or more)",
            t.name,
            t.iters,
            t.input.len(),
            t0.elapsed().as_secs_f64(),
            largest,
            worst
        );
    }
    eprintln!("{total} files in {:.2} s", start.elapsed().as_secs_f64());
    let _ = std::fs::remove_file(&archive_path);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
