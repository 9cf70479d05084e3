//! The IDX file format of MNIST-family data sets: parsing image and label files from bytes (gzip-compressed
//! or raw, told apart by the gzip magic), with every header field checked against the payload, and the
//! encoder that tests use to make files.
//!
//! An IDX file is a big-endian header, `00 00 <type> <ndims>` then one u32 per dimension, then the data in
//! row-major order. MNIST uses type 0x08 (unsigned byte): images have 3 dimensions `[count, rows, cols]`
//! (magic 2051 = 0x00000803), labels one `[count]` (magic 2049 = 0x00000801).
//!
//! A gzip file may hold several members (they concatenate, as gzip itself has it); anything after the last
//! member that is not another member is an error, like any byte past the payload the header announces.
//!
//! Parsing works on a byte slice so that the browser build can parse what it fetched; only
//! [`read_images`]/[`read_labels`] touch the file system. Every failure is an [`Error::Data`] naming the
//! file, never a panic.

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

use crate::{Error, Result};

/// Magic number of an IDX image file: unsigned bytes, 3 dimensions.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX label file: unsigned bytes, 1 dimension.
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest image side accepted. MNIST-family images are 28×28; anything past this is a corrupt header, and
/// refusing it early keeps a bad header from asking for gigabytes.
pub const MAX_SIDE: usize = 1024;
/// Largest payload accepted (bytes after the header): 1 GiB, 20× the 60,000-image MNIST training set.
pub const MAX_PAYLOAD: u64 = 1 << 30;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Cap on the buffer reserved up front from a header's claim, so a lying header cannot make us allocate
/// more than this before any data has arrived.
const MAX_RESERVE: u64 = 64 << 20;

/// An IDX image file: `count` images of `rows`×`cols` bytes, row-major, image after image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

/// True when `bytes` start with the gzip magic (1f 8b).
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Parses an IDX image file (magic 2051). `name` is used in error messages only.
pub fn parse_images(name: &str, bytes: &[u8]) -> Result<Images> {
    let (dims, pixels) = parse(name, bytes, IMAGES_MAGIC)?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    Ok(Images { count, rows, cols, pixels })
}

/// Parses an IDX label file (magic 2049) into one byte per label. The range of the labels is the caller's
/// to check (it knows how many classes the set has). `name` is used in error messages only.
pub fn parse_labels(name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    Ok(parse(name, bytes, LABELS_MAGIC)?.1)
}

/// Reads and parses an IDX image file from disk.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_images(path: &std::path::Path) -> Result<Images> {
    parse_images(&path.display().to_string(), &read_file(path)?)
}

/// Reads and parses an IDX label file from disk.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_labels(path: &std::path::Path) -> Result<Vec<u8>> {
    parse_labels(&path.display().to_string(), &read_file(path)?)
}

#[cfg(not(target_arch = "wasm32"))]
fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::data(path.display().to_string(), format!("cannot read: {e}")))
}

/// An uncompressed IDX image file holding `pixels` as images of `rows`×`cols`.
///
/// # Panics
/// If `pixels.len()` is not a multiple of `rows * cols` or a dimension does not fit in a u32 (a bug in the
/// caller: this writes files, it does not validate user input).
pub fn encode_images(rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    assert!(rows * cols > 0 && pixels.len().is_multiple_of(rows * cols), "pixels must hold whole {rows}x{cols} images");
    encode(IMAGES_MAGIC, &[pixels.len() / (rows * cols), rows, cols], pixels)
}

/// An uncompressed IDX label file.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    encode(LABELS_MAGIC, &[labels.len()], labels)
}

fn encode(magic: u32, dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&magic.to_be_bytes());
    for &d in dims {
        out.extend_from_slice(&u32::try_from(d).expect("IDX dimensions are u32").to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// The number of dimensions an IDX magic number declares (its low byte).
fn ndims(magic: u32) -> usize {
    (magic & 0xff) as usize
}

/// What a magic number says, for error messages: "IDX label file (magic 2049)" or why it is no IDX magic.
fn describe_magic(magic: u32) -> String {
    match magic {
        IMAGES_MAGIC => "an IDX image file (magic 2051)".into(),
        LABELS_MAGIC => "an IDX label file (magic 2049)".into(),
        m if m >> 16 == 0 => {
            format!("an IDX file of element type {:#04x} with {} dimensions (magic {m})", (m >> 8) & 0xff, m & 0xff)
        }
        m => {
            let b = m.to_be_bytes();
            let text: String = b.iter().map(|&c| if c.is_ascii_graphic() || c == b' ' { c as char } else { '.' }).collect();
            format!("not an IDX file (first bytes {:02x} {:02x} {:02x} {:02x}, \"{text}\")", b[0], b[1], b[2], b[3])
        }
    }
}

fn describe_dims(magic: u32, dims: &[usize]) -> String {
    if magic == IMAGES_MAGIC {
        format!("{} images of {}×{}", dims[0], dims[1], dims[2])
    } else {
        format!("{} labels", dims[0])
    }
}

fn parse(name: &str, bytes: &[u8], magic: u32) -> Result<(Vec<usize>, Vec<u8>)> {
    if is_gzip(bytes) {
        parse_stream(name, MultiGzDecoder::new(bytes), magic, true)
    } else {
        let hint = if name.ends_with(".gz") { "named .gz but not gzip-compressed, and " } else { "" };
        parse_stream(name, bytes, magic, false).map_err(|e| match e {
            Error::Data { file, msg } if !hint.is_empty() && msg.starts_with("is ") => {
                Error::Data { file, msg: format!("{hint}{msg}") }
            }
            e => e,
        })
    }
}

/// Reads as much of `buf` as `r` holds; returns how much that was.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Parses one IDX stream (already decompressed by `r` when `gzip`), requiring the payload to be exactly
/// what the header announces. Reads at most one byte past the announced payload before deciding, and
/// counts (without storing) any further trailing bytes, so a lying header costs no memory.
fn parse_stream(name: &str, mut r: impl Read, magic: u32, gzip: bool) -> Result<(Vec<usize>, Vec<u8>)> {
    let err = |msg: String| Error::data(name, msg);
    let corrupt = |e: io::Error| err(format!("corrupt gzip stream: {e}"));
    let (header_len, what) = (4 + 4 * ndims(magic), if magic == IMAGES_MAGIC { "image" } else { "label" });
    let decompressed = if gzip { " (after decompression)" } else { "" };

    let mut header = vec![0u8; header_len];
    let got = read_up_to(&mut r, &mut header).map_err(corrupt)?;
    if got < 4 {
        return Err(err(format!("is too short for an IDX file: {got} bytes{decompressed}")));
    }
    let found = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if found != magic {
        return Err(err(format!("is {}, expected an IDX {what} file (magic {magic})", describe_magic(found))));
    }
    if got < header_len {
        return Err(err(format!("truncated header: {got} bytes{decompressed}, an IDX {what} header has {header_len}")));
    }
    let dims: Vec<usize> = header[4..]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    if dims.contains(&0) {
        return Err(err(format!("header has a zero dimension: {dims:?}")));
    }
    if dims[1..].iter().any(|&d| d > MAX_SIDE) {
        return Err(err(format!("implausible image size {}×{} in the header (at most {MAX_SIDE} per side)", dims[1], dims[2])));
    }
    let expected = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64)).filter(|&n| n <= MAX_PAYLOAD);
    let Some(expected) = expected else {
        return Err(err(format!("implausible header: {} (more than {MAX_PAYLOAD} bytes)", describe_dims(magic, &dims))));
    };

    let mut payload = Vec::with_capacity(expected.min(MAX_RESERVE) as usize);
    (&mut r).take(expected + 1).read_to_end(&mut payload).map_err(corrupt)?;
    let claim = format!("header says {} ({expected} bytes after the {header_len}-byte header)", describe_dims(magic, &dims));
    let have = payload.len() as u64;
    if have < expected {
        return Err(err(format!("truncated: {claim}, file has {have}{decompressed}")));
    }
    if have > expected {
        let extra = 1 + io::copy(&mut r, &mut io::sink()).map_err(corrupt)?;
        return Err(err(format!("trailing bytes: {claim}, file has {}{decompressed}", expected + extra)));
    }
    Ok((dims, payload))
}
