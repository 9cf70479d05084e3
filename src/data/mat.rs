//! A reader for numeric arrays in MATLAB 5.0 MAT-files (level 5, little-endian), as MATLAB (`save`,
//! `save -v7`), scipy's `savemat` and Octave write them: what SVHN's `train_32x32.mat` / `test_32x32.mat`
//! are. Other MAT flavours (v4, v7.3 = HDF5, big-endian) are refused with a one-line error.
//!
//! # Format (MathWorks, "MAT-File Format", level 5)
//! - A 128-byte header: 116 bytes of text beginning `MATLAB 5.0 MAT-file`, 8 bytes of subsystem offset,
//!   a u16 version (0x0100) and the endian indicator `IM` (little-endian; `MI` would be big-endian).
//! - Then data elements, each an 8-byte tag (u32 type, u32 byte count) and its data padded to 8 bytes. A
//!   tag whose upper 16 bits of the type are non-zero is a "small data element": type in the low 16 bits,
//!   byte count (≤ 4) in the upper 16, data in the tag's second word.
//! - A variable is one `miMATRIX` element, or one `miCOMPRESSED` element (not padded) holding a zlib stream
//!   of one `miMATRIX` element (what `save -v7`, MATLAB's default, and `savemat(do_compression=True)` write).
//! - A numeric `miMATRIX` holds sub-elements: array flags (`miUINT32` ×2: class in the low byte, complex
//!   0x800, global 0x400, logical 0x200), dimensions (`miINT32` ×n), name (`miINT8`), the real part. Data
//!   are in column-major order. The real part's storage type may be smaller than its class (MATLAB stores a
//!   double array of small integers as `miUINT8`); values are converted to the class.
//!
//! # Bounded memory
//! Every size is checked against the bytes left before anything is allocated, or, inside a compressed
//! element, read incrementally, so memory follows the data actually present, never a claim. Variables not
//! asked for are skipped without being decompressed past their name.

use std::io::{self, Read};

use flate2::read::ZlibDecoder;

use crate::{Error, Result};

/// Size of the MAT v5 header.
pub const HEADER_BYTES: usize = 128;
/// Most dimensions accepted for one array.
const MAX_DIMS: usize = 32;
/// Longest variable name accepted (MATLAB's limit is 63).
const MAX_NAME: u64 = 4096;
/// Reads from a compressed stream are done in steps of this much, growing the buffer as data arrive.
const CHUNK: u64 = 1 << 20;

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

const FLAG_COMPLEX: u32 = 0x800;

/// A MATLAB array class (the low byte of the array flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Cell,
    Struct,
    Object,
    Char,
    Sparse,
    Double,
    Single,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
}

impl Class {
    fn from_code(c: u32) -> Option<Class> {
        use Class::*;
        Some(match c {
            1 => Cell,
            2 => Struct,
            3 => Object,
            4 => Char,
            5 => Sparse,
            6 => Double,
            7 => Single,
            8 => Int8,
            9 => UInt8,
            10 => Int16,
            11 => UInt16,
            12 => Int32,
            13 => UInt32,
            14 => Int64,
            15 => UInt64,
            _ => return None,
        })
    }

    /// MATLAB's name of the class.
    pub fn name(self) -> &'static str {
        use Class::*;
        match self {
            Cell => "cell",
            Struct => "struct",
            Object => "object",
            Char => "char",
            Sparse => "sparse",
            Double => "double",
            Single => "single",
            Int8 => "int8",
            UInt8 => "uint8",
            Int16 => "int16",
            UInt16 => "uint16",
            Int32 => "int32",
            UInt32 => "uint32",
            Int64 => "int64",
            UInt64 => "uint64",
        }
    }

    fn is_numeric(self) -> bool {
        !matches!(self, Class::Cell | Class::Struct | Class::Object | Class::Char | Class::Sparse)
    }
}

/// The values of an array, column-major.
#[derive(Clone, Debug, PartialEq)]
pub enum MatData {
    /// A `uint8` array (stored as `miUINT8`), bytes as they are.
    U8(Vec<u8>),
    /// Any other numeric class, converted to f64 from whatever storage type the file used.
    F64(Vec<f64>),
}

impl MatData {
    pub fn len(&self) -> usize {
        match self {
            MatData::U8(v) => v.len(),
            MatData::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One numeric variable: its name, class, MATLAB dimensions and values in column-major order (the first
/// dimension varies fastest).
#[derive(Clone, Debug, PartialEq)]
pub struct MatArray {
    pub name: String,
    pub class: Class,
    pub dims: Vec<usize>,
    pub data: MatData,
}

/// What [`read`] found: the variables asked for that the file has, and the names of all its variables.
#[derive(Clone, Debug, PartialEq)]
pub struct MatFile {
    pub arrays: Vec<MatArray>,
    pub names: Vec<String>,
}

impl MatFile {
    /// The variable `name`, if it was asked for and found.
    pub fn get(&self, name: &str) -> Option<&MatArray> {
        self.arrays.iter().find(|a| a.name == name)
    }
}

/// Parses a MAT v5 file (`file` names it in messages) and returns the numeric variables named in `wanted`
/// (others are skipped, whatever their class). A wanted variable that is not a real numeric, non-sparse
/// array is an error; one that is absent is not (the caller says what it needs).
pub fn read(file: &str, bytes: &[u8], wanted: &[&str]) -> Result<MatFile> {
    let err = |msg: String| Error::data(file, msg);
    check_header(file, bytes)?;
    let mut out = MatFile { arrays: Vec::new(), names: Vec::new() };
    let mut pos = HEADER_BYTES;
    while pos < bytes.len() {
        let left = bytes.len() - pos;
        if left < 8 {
            return Err(err(format!("truncated: {left} stray bytes at offset {pos}, too few for a data element tag")));
        }
        let ty = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes"));
        let n = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        let body_at = pos + 8;
        if n > bytes.len() - body_at {
            return Err(err(format!(
                "truncated: the data element at offset {pos} claims {n} bytes, {} are left",
                bytes.len() - body_at
            )));
        }
        let body = &bytes[body_at..body_at + n];
        let at = format!("variable at offset {pos}");
        let array = match ty {
            MI_COMPRESSED => {
                let mut z = Limited { r: ZlibDecoder::new(body), left: u64::MAX, file, at: &at, compressed: true };
                let (inner, len) = z.tag()?;
                if inner != MI_MATRIX {
                    return Err(err(format!(
                        "{at}: compressed element holds a {}, expected miMATRIX",
                        type_name(inner)
                    )));
                }
                z.left = len as u64;
                let array = parse_matrix(&mut z, wanted)?;
                if matches!(&array, Some((_, Some(_)))) {
                    // Read to the end of the zlib stream so that its checksum is verified: corrupt deflate
                    // data can decode without an error, into wrong pixels.
                    io::copy(&mut z.r, &mut io::sink()).map_err(|e| z.io_err(e))?;
                }
                array
            }
            MI_MATRIX => {
                let mut r = Limited { r: body, left: n as u64, file, at: &at, compressed: false };
                parse_matrix(&mut r, wanted)?
            }
            other => {
                return Err(err(format!(
                    "{at}: a top-level {} element; a MAT-file holds miMATRIX variables",
                    type_name(other)
                )));
            }
        };
        // Compressed elements are not padded; the others are, to 8 bytes (the last one may omit it).
        pos = body_at + if ty == MI_COMPRESSED { n } else { n.next_multiple_of(8) };
        pos = pos.min(bytes.len());
        if let Some((name, array)) = array {
            if out.names.contains(&name) {
                return Err(err(format!("variable '{name}' appears twice")));
            }
            out.names.push(name);
            out.arrays.extend(array);
        }
    }
    Ok(out)
}

/// Checks the 128-byte header: MAT v5, little-endian. Each other flavour gets its own message.
fn check_header(file: &str, bytes: &[u8]) -> Result<()> {
    let err = |msg: &str| Error::data(file, msg.to_string());
    if bytes.starts_with(b"\x89HDF") {
        return Err(err("is an HDF5 file (MAT v7.3?) without its MAT header; only MAT v5 files are read"));
    }
    if bytes.len() < HEADER_BYTES {
        return Err(Error::data(
            file,
            format!("is too short for a MAT-file: {} bytes, the header alone is 128", bytes.len()),
        ));
    }
    let text = &bytes[..116];
    if text.starts_with(b"MATLAB 7.3") || u16::from_le_bytes([bytes[124], bytes[125]]) == 0x0200 {
        return Err(err(
            "is a MAT v7.3 file (HDF5); only MAT v5 files are read: re-save it with `save(..., '-v7')` in MATLAB",
        ));
    }
    if !text.starts_with(b"MATLAB 5.0") {
        return Err(err(
            "has no 'MATLAB 5.0 MAT-file' header text: not a MAT v5 file (a v4 MAT-file, or not a MAT-file at all)",
        ));
    }
    match &bytes[126..128] {
        b"IM" => {}
        b"MI" => return Err(err("is a big-endian MAT-file; only little-endian ones are read")),
        e => return Err(Error::data(file, format!("bad endian indicator {e:02x?} in the header (expected 'IM')"))),
    }
    let version = u16::from_le_bytes([bytes[124], bytes[125]]);
    if version != 0x0100 {
        return Err(Error::data(
            file,
            format!("unknown MAT-file version {version:#06x} in the header (expected 0x0100)"),
        ));
    }
    Ok(())
}

fn type_name(t: u32) -> String {
    let n = match t {
        MI_INT8 => "miINT8",
        MI_UINT8 => "miUINT8",
        MI_INT16 => "miINT16",
        MI_UINT16 => "miUINT16",
        MI_INT32 => "miINT32",
        MI_UINT32 => "miUINT32",
        MI_SINGLE => "miSINGLE",
        MI_DOUBLE => "miDOUBLE",
        MI_INT64 => "miINT64",
        MI_UINT64 => "miUINT64",
        MI_MATRIX => "miMATRIX",
        MI_COMPRESSED => "miCOMPRESSED",
        16 => "miUTF8",
        17 => "miUTF16",
        18 => "miUTF32",
        t => return format!("data type {t}"),
    };
    n.to_string()
}

/// Bytes of one value of a numeric storage type.
fn type_size(t: u32) -> Option<usize> {
    Some(match t {
        MI_INT8 | MI_UINT8 => 1,
        MI_INT16 | MI_UINT16 => 2,
        MI_INT32 | MI_UINT32 | MI_SINGLE => 4,
        MI_DOUBLE | MI_INT64 | MI_UINT64 => 8,
        _ => return None,
    })
}

/// A reader over one element's bytes that refuses to read past them (`left`), naming the variable in
/// its messages.
struct Limited<'a, R> {
    r: R,
    left: u64,
    file: &'a str,
    at: &'a str,
    compressed: bool,
}

impl<R: Read> Limited<'_, R> {
    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::data(self.file, format!("{}: {msg}", self.at))
    }

    fn io_err(&self, e: io::Error) -> Error {
        if self.compressed {
            self.err(format!("corrupt compressed data: {e}"))
        } else {
            self.err(format!("cannot read: {e}"))
        }
    }

    /// Reads exactly `n` bytes (checked against what is left; grown as they arrive).
    fn bytes(&mut self, n: u64, what: &str) -> Result<Vec<u8>> {
        if n > self.left {
            return Err(self.err(format!("truncated: {what} needs {n} bytes, the element has {} left", self.left)));
        }
        let mut out = Vec::new();
        while (out.len() as u64) < n {
            let step = (n - out.len() as u64).min(CHUNK);
            let got = (&mut self.r).take(step).read_to_end(&mut out).map_err(|e| self.io_err(e))?;
            if got == 0 {
                let end = if self.compressed { "the compressed data end" } else { "the element ends" };
                return Err(self.err(format!("truncated: {what} needs {n} bytes, {end} after {}", out.len())));
            }
        }
        self.left -= n;
        Ok(out)
    }

    fn skip_padding(&mut self, n: u64) -> Result<()> {
        let pad = n.next_multiple_of(8) - n;
        // The last element of a matrix may omit its padding.
        let pad = pad.min(self.left);
        self.bytes(pad, "padding")?;
        Ok(())
    }

    /// A tag (type, byte count); a small data element's data follow in the next 4 bytes, read by `element`.
    fn tag(&mut self) -> Result<(u32, u32)> {
        let b = self.bytes(8, "a data element tag")?;
        let ty = u32::from_le_bytes(b[0..4].try_into().expect("4 bytes"));
        let n = u32::from_le_bytes(b[4..8].try_into().expect("4 bytes"));
        Ok((ty, n))
    }

    /// One whole sub-element: (type, data), small format or not, padding consumed.
    fn element(&mut self, what: &str) -> Result<(u32, Vec<u8>)> {
        self.element_bounded(what, u64::MAX)
    }
}

/// Parses one miMATRIX element's contents. Returns its name and, when it is wanted, the array; `None`
/// for an empty element (MATLAB writes `[]` as a matrix of no bytes).
fn parse_matrix<R: Read>(r: &mut Limited<R>, wanted: &[&str]) -> Result<Option<(String, Option<MatArray>)>> {
    if r.left == 0 {
        return Ok(None);
    }
    let (ty, flags) = r.element("array flags")?;
    if ty != MI_UINT32 || flags.len() != 8 {
        return Err(r.err(format!(
            "array flags are a {} of {} bytes, expected miUINT32 of 8",
            type_name(ty),
            flags.len()
        )));
    }
    let flags = u32::from_le_bytes(flags[..4].try_into().expect("4 bytes"));
    let class_code = flags & 0xff;
    let Some(class) = Class::from_code(class_code) else {
        return Err(r.err(format!("unknown array class {class_code}")));
    };
    let (ty, dims) = r.element("dimensions")?;
    if ty != MI_INT32 || !dims.len().is_multiple_of(4) || dims.len() < 8 || dims.len() > 4 * MAX_DIMS {
        return Err(r.err(format!(
            "dimensions are a {} of {} bytes, expected 2 to {MAX_DIMS} miINT32 values",
            type_name(ty),
            dims.len()
        )));
    }
    let dims: Vec<i32> = dims.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
    let Some(dims) = dims.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<Vec<usize>>>() else {
        return Err(r.err(format!("negative dimension in {dims:?}")));
    };
    let (ty, name) = r.element_bounded("array name", MAX_NAME)?;
    if ty != MI_INT8 && ty != MI_UINT8 {
        return Err(r.err(format!("the array name is a {}, expected miINT8", type_name(ty))));
    }
    let name = String::from_utf8(name).map_err(|_| r.err("the array name is not UTF-8"))?;
    if !wanted.contains(&name.as_str()) {
        return Ok(Some((name, None)));
    }
    let at = format!("variable '{name}'");
    let mut r = Limited { r: &mut r.r, left: r.left, file: r.file, at: &at, compressed: r.compressed };
    if !class.is_numeric() {
        return Err(r.err(format!("is a {} array, expected a numeric one", class.name())));
    }
    if flags & FLAG_COMPLEX != 0 {
        return Err(r.err("is complex; only real arrays are read"));
    }
    let count = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
    // The real part: its tag first, so that its size can be checked against the dimensions before reading.
    let b = r.bytes(4, "real part")?;
    let first = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
    let (ty, data) = if first >> 16 != 0 {
        let (ty, n) = (first & 0xffff, (first >> 16) as usize);
        if n > 4 {
            return Err(r.err(format!("real part: a small data element of {n} bytes (at most 4)")));
        }
        let data = r.bytes(4, "real part")?;
        (ty, data[..n].to_vec())
    } else {
        let n = u32::from_le_bytes(r.bytes(4, "real part")?[..4].try_into().expect("4 bytes")) as u64;
        let size = type_size(first)
            .ok_or_else(|| r.err(format!("real part stored as {}, not a numeric type", type_name(first))))?;
        if count.and_then(|c| c.checked_mul(size as u64)) != Some(n) {
            return Err(r.err(format!(
                "dimensions {dims:?} need {} values of {} ({size} bytes each), the real part holds {n} bytes",
                count.map_or_else(|| "more than 2^64".to_string(), |c| c.to_string()),
                type_name(first)
            )));
        }
        (first, r.bytes(n, "real part")?)
    };
    let size =
        type_size(ty).ok_or_else(|| r.err(format!("real part stored as {}, not a numeric type", type_name(ty))))?;
    if count != Some((data.len() / size) as u64) || !data.len().is_multiple_of(size) {
        return Err(r.err(format!(
            "dimensions {dims:?} do not match the {} bytes of {} in the real part",
            data.len(),
            type_name(ty)
        )));
    }
    let data = match class {
        Class::UInt8 if ty == MI_UINT8 => MatData::U8(data),
        Class::UInt8 => {
            let v = convert(ty, &data);
            if v.iter().any(|&x| !(0.0..=255.0).contains(&x) || x.fract() != 0.0) {
                return Err(r.err(format!("is uint8 but its {} storage holds values outside 0-255", type_name(ty))));
            }
            MatData::U8(v.into_iter().map(|x| x as u8).collect())
        }
        _ => MatData::F64(convert(ty, &data)),
    };
    Ok(Some((name.clone(), Some(MatArray { name, class, dims, data }))))
}

impl<R: Read> Limited<'_, R> {
    /// Like `element`, refusing a (non-small) element longer than `max` bytes.
    fn element_bounded(&mut self, what: &str, max: u64) -> Result<(u32, Vec<u8>)> {
        let b = self.bytes(4, what)?;
        let first = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
        if first >> 16 != 0 {
            let (ty, n) = (first & 0xffff, first >> 16);
            if n > 4 {
                return Err(self.err(format!("{what}: a small data element of {n} bytes (at most 4)")));
            }
            let data = self.bytes(4, what)?;
            return Ok((ty, data[..n as usize].to_vec()));
        }
        let n = u32::from_le_bytes(self.bytes(4, what)?[..4].try_into().expect("4 bytes")) as u64;
        if n > max {
            return Err(self.err(format!("{what} of {n} bytes (at most {max})")));
        }
        let data = self.bytes(n, what)?;
        self.skip_padding(n)?;
        Ok((first, data))
    }
}

/// Little-endian values of storage type `ty` as f64.
fn convert(ty: u32, data: &[u8]) -> Vec<f64> {
    macro_rules! conv {
        ($t:ty) => {
            data.chunks_exact(std::mem::size_of::<$t>())
                .map(|c| <$t>::from_le_bytes(c.try_into().expect("sized")) as f64)
                .collect()
        };
    }
    match ty {
        MI_INT8 => conv!(i8),
        MI_UINT8 => conv!(u8),
        MI_INT16 => conv!(i16),
        MI_UINT16 => conv!(u16),
        MI_INT32 => conv!(i32),
        MI_UINT32 => conv!(u32),
        MI_SINGLE => conv!(f32),
        MI_DOUBLE => conv!(f64),
        MI_INT64 => conv!(i64),
        MI_UINT64 => conv!(u64),
        _ => unreachable!("type_size accepted only numeric types"),
    }
}
