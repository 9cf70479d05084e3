//! NumPy's `.npy` format (versions 1.0, 2.0 and 3.0), the files MNIST-C and CIFAR-10-C ship as: reading
//! C-ordered little-endian integer arrays, and writing uint8 arrays (`pathprox corrupt`).
//!
//! # The format (numpy/lib/format.py, NEP 1)
//! `\x93NUMPY`, major and minor version bytes (minor is always 0), the header length (u16 little-endian in
//! 1.0, u32 in 2.0 and 3.0), then the header: a Python dict literal
//! `{'descr': '|u1', 'fortran_order': False, 'shape': (10000, 28, 28, 1), }` padded with spaces and
//! ended by `\n` (latin-1 in 1.0 and 2.0, utf-8 in 3.0), then the raw array bytes.
//!
//! # What is checked
//! Everything a wrong or damaged file could get wrong is an error naming the file, never a panic: the
//! magic, the version, the header's syntax and its exact three keys, the dtype (only the integer types
//! listed in [`Dtype`], little-endian), C order, and that the shape's byte count equals the bytes present
//! (a truncated file and trailing bytes are both errors). Sizes are computed with checked arithmetic and
//! compared with the file's length before anything is allocated, so a header claiming a huge shape costs
//! nothing.

#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The element types accepted: unsigned and signed integers of 1, 2, 4 or 8 bytes, little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 | Dtype::I8 => 1,
            Dtype::U16 | Dtype::I16 => 2,
            Dtype::U32 | Dtype::I32 => 4,
            Dtype::U64 | Dtype::I64 => 8,
        }
    }

    /// NumPy's name (`uint8`, `int64`, …), for messages.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "uint8",
            Dtype::I8 => "int8",
            Dtype::U16 => "uint16",
            Dtype::I16 => "int16",
            Dtype::U32 => "uint32",
            Dtype::I32 => "int32",
            Dtype::U64 => "uint64",
            Dtype::I64 => "int64",
        }
    }

    /// Parses a `descr` string: an optional byte-order character then a kind and a size, e.g. `|u1`,
    /// `<i8`. Big-endian (`>`) and every non-integer type are refused with the reason.
    fn parse(descr: &str) -> std::result::Result<Dtype, String> {
        let (order, rest) = match descr.chars().next() {
            Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
            _ => ('|', descr),
        };
        let dtype = match rest {
            "u1" => Dtype::U8,
            "i1" => Dtype::I8,
            "u2" => Dtype::U16,
            "i2" => Dtype::I16,
            "u4" => Dtype::U32,
            "i4" => Dtype::I32,
            "u8" => Dtype::U64,
            "i8" => Dtype::I64,
            _ => return Err(format!("unsupported dtype '{descr}': only integer arrays (uint8 images, integer labels) are read")),
        };
        match (order, dtype.size()) {
            (_, 1) => Ok(dtype),
            ('<', _) => Ok(dtype),
            ('>', _) => Err(format!("big-endian dtype '{descr}' is not supported: save the array little-endian (arr.astype('<{rest}'))")),
            // '|' ("not applicable") is wrong for a multi-byte type, and '=' (native) is never written by NumPy.
            _ => Err(format!("dtype '{descr}' has no byte order: expected '<{rest}'")),
        }
    }
}

/// A parsed `.npy` file: shape, element type, and the raw element bytes (C order, little-endian).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Npy<'a> {
    /// (major, minor) version of the file.
    pub version: (u8, u8),
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Exactly `shape.product() * dtype.size()` bytes.
    pub data: &'a [u8],
}

impl<'a> Npy<'a> {
    /// Parses `bytes` (a whole `.npy` file); `name` names it in errors.
    pub fn parse(name: &str, bytes: &'a [u8]) -> Result<Npy<'a>> {
        let err = |msg: String| Error::data(name, msg);
        if bytes.len() < 8 || &bytes[..6] != MAGIC {
            return Err(err("not a NumPy .npy file (no \\x93NUMPY magic)".into()));
        }
        let version = (bytes[6], bytes[7]);
        let (len_bytes, utf8) = match version {
            (1, 0) => (2, false),
            (2, 0) => (4, false),
            (3, 0) => (4, true),
            (a, b) => return Err(err(format!("unknown .npy format version {a}.{b} (1.0, 2.0 and 3.0 are read)"))),
        };
        let start = 8 + len_bytes;
        if bytes.len() < start {
            return Err(err("truncated in the header length".into()));
        }
        let header_len = bytes[8..start].iter().rev().fold(0usize, |n, &b| n << 8 | b as usize);
        let end = start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| {
            err(format!("header of {header_len} bytes runs past the end of the file ({} bytes)", bytes.len()))
        })?;
        let raw = &bytes[start..end];
        let header: String = if utf8 {
            std::str::from_utf8(raw).map_err(|e| err(format!("header is not valid UTF-8: {e}")))?.to_owned()
        } else {
            // Latin-1: every byte is the code point of the same value.
            raw.iter().map(|&b| b as char).collect()
        };
        let h = parse_header(&header).map_err(|m| err(format!("malformed header {:?}: {m}", header.trim_end())))?;
        let dtype = Dtype::parse(&h.descr).map_err(err)?;
        if h.fortran_order {
            return Err(err("Fortran-ordered array: only C order is read (save np.ascontiguousarray(arr))".into()));
        }
        let data = &bytes[end..];
        let elems = h.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let want = elems.and_then(|n| n.checked_mul(dtype.size()));
        match want {
            Some(w) if w == data.len() => Ok(Npy { version, dtype, shape: h.shape, data }),
            Some(w) if w > data.len() => Err(err(format!(
                "truncated: shape {:?} of {} needs {w} bytes of data, the file has {}",
                h.shape,
                dtype.name(),
                data.len()
            ))),
            Some(w) => Err(err(format!("{} bytes after the {w} bytes of shape {:?} of {}", data.len() - w, h.shape, dtype.name()))),
            None => Err(err(format!("shape {:?} is too large to be real (its byte count overflows)", h.shape))),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Element `i` widened to i128 (every accepted type fits).
    fn get(&self, i: usize) -> i128 {
        let s = self.dtype.size();
        let b = &self.data[i * s..(i + 1) * s];
        let mut w = [0u8; 8];
        w[..s].copy_from_slice(b);
        let u = u64::from_le_bytes(w);
        match self.dtype {
            Dtype::U8 | Dtype::U16 | Dtype::U32 | Dtype::U64 => u as i128,
            Dtype::I8 => b[0] as i8 as i128,
            Dtype::I16 => i16::from_le_bytes([b[0], b[1]]) as i128,
            Dtype::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i128,
            Dtype::I64 => u as i64 as i128,
        }
    }

    /// The data of a uint8 array (images); any other dtype is an error. `name` names the file.
    pub fn as_u8(&self, name: &str) -> Result<&'a [u8]> {
        if self.dtype != Dtype::U8 {
            return Err(Error::data(name, format!("dtype {} where uint8 ('|u1') pixels were expected", self.dtype.name())));
        }
        Ok(self.data)
    }

    /// The values of any integer array converted to u8, each checked to lie in `0..=max` (labels).
    pub fn to_u8_checked(&self, name: &str, max: u8) -> Result<Vec<u8>> {
        (0..self.len())
            .map(|i| {
                let v = self.get(i);
                if (0..=max as i128).contains(&v) {
                    Ok(v as u8)
                } else {
                    Err(Error::data(name, format!("value {v} at index {i} is outside 0..={max}")))
                }
            })
            .collect()
    }
}

/// The three keys of a header dict.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses the Python dict literal of a header: exactly the keys `descr` (a string), `fortran_order`
/// (True/False) and `shape` (a tuple of non-negative integers), in any order, with optional trailing
/// commas and whitespace, then only spaces and the final newline.
fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        let dup = match key.as_str() {
            "descr" => descr.replace(p.string()?).is_some(),
            "fortran_order" => fortran.replace(p.boolean()?).is_some(),
            "shape" => shape.replace(p.tuple()?).is_some(),
            other => return Err(format!("unexpected key '{other}'")),
        };
        if dup {
            return Err(format!("key '{key}' appears twice"));
        }
        p.ws();
        if !p.eat(b',') {
            p.ws();
            p.expect(b'}')?;
            break;
        }
    }
    if p.s[p.i..].iter().any(|&b| !matches!(b, b' ' | b'\n')) {
        return Err("text after the closing brace".into());
    }
    if !text.ends_with('\n') {
        return Err("does not end with a newline".into());
    }
    Ok(Header {
        descr: descr.ok_or("no 'descr' key")?,
        fortran_order: fortran.ok_or("no 'fortran_order' key")?,
        shape: shape.ok_or("no 'shape' key")?,
    })
}

/// A cursor over the header's bytes (ASCII syntax; string contents may be any UTF-8).
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&c);
        self.i += hit as usize;
        hit
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) { Ok(()) } else { Err(format!("expected '{}' at byte {}", c as char, self.i)) }
    }

    /// A '…' or "…" string without escapes (NumPy never writes escapes in these keys and values).
    fn string(&mut self) -> std::result::Result<String, String> {
        let q = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a string at byte {}", self.i)),
        };
        let start = self.i + 1;
        let len = self.s[start..].iter().position(|&b| b == q).ok_or("unterminated string")?;
        let body = &self.s[start..start + len];
        if body.contains(&b'\\') {
            return Err("escapes in strings are not supported".into());
        }
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(body).into_owned())
    }

    fn boolean(&mut self) -> std::result::Result<bool, String> {
        for (word, v) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.i..].starts_with(word) {
                self.i += word.len();
                return Ok(v);
            }
        }
        Err(format!("expected True or False at byte {}", self.i))
    }

    /// `()`, `(n,)`, `(a, b, …)` or with a trailing comma; integers only.
    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.ws();
            if self.eat(b')') {
                break;
            }
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if start == self.i {
                return Err(format!("expected a non-negative integer in the shape at byte {start}"));
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII digits");
            dims.push(digits.parse::<usize>().map_err(|_| format!("dimension {digits} is too large"))?);
            // Python writes 10000L in some old files' shapes.
            self.eat(b'L');
            self.ws();
            if !self.eat(b',') {
                self.ws();
                self.expect(b')')?;
                break;
            }
        }
        if dims.len() == 1 && !self.s[..self.i - 1].trim_ascii_end().ends_with(b",") {
            // `(5)` is not a tuple in Python but the integer 5; NumPy never writes it.
            return Err("a one-element shape needs a trailing comma, e.g. (5,)".into());
        }
        Ok(dims)
    }
}

/// A uint8 array as a version 1.0 `.npy` file, byte for byte what `np.save` writes for it (NumPy ≥ 1.14:
/// the header padded with spaces so that the data start at a multiple of 64 bytes).
pub fn to_bytes_u8(shape: &[usize], data: &[u8]) -> Result<Vec<u8>> {
    let elems: usize = shape.iter().product();
    if elems != data.len() {
        return Err(Error::shape("npy::to_bytes_u8", format!("shape {shape:?} holds {elems} bytes, got {}", data.len())));
    }
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {dims}, }}");
    // NumPy's `_wrap_header`: 64 − (unpadded mod 64) spaces, so a full 64 when already aligned.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat(64 - unpadded % 64));
    header.push('\n');
    let len = u16::try_from(header.len()).map_err(|_| Error::shape("npy::to_bytes_u8", "header too long for format 1.0"))?;
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    Ok(out)
}

/// Reads a whole file into memory (the parsed [`Npy`] borrows from it). Errors name the file.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::data(path.display().to_string(), format!("cannot read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_u8_arrays_parse_back_with_numpys_alignment() {
        let data: Vec<u8> = (0..24).collect();
        for shape in [vec![24], vec![2, 3, 4], vec![2, 3, 4, 1]] {
            let bytes = to_bytes_u8(&shape, &data).unwrap();
            let header_end = bytes.len() - data.len();
            assert_eq!(header_end % 64, 0);
            let npy = Npy::parse("t.npy", &bytes).unwrap();
            assert_eq!((npy.version, npy.dtype, npy.shape.clone(), npy.data), ((1, 0), Dtype::U8, shape, &data[..]));
        }
        assert!(to_bytes_u8(&[5], &data).is_err());
    }

    #[test]
    fn header_syntax_variants() {
        let ok = |h: &str| parse_header(h).map(|h| (h.descr, h.fortran_order, h.shape));
        assert_eq!(ok("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }\n").unwrap(), ("<i8".into(), false, vec![3]));
        assert_eq!(ok("{\"shape\": (), \"fortran_order\": True, \"descr\": \"|u1\"}   \n").unwrap(), ("|u1".into(), true, vec![]));
        assert_eq!(ok("{'descr':'u1','fortran_order':False,'shape':(2,3)}\n").unwrap().2, vec![2, 3]);
        for bad in [
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3), }\n",
            "{'descr': '<i8', 'fortran_order': False}\n",
            "{'descr': '<i8', 'fortran_order': 0, 'shape': (3,)}\n",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), 'extra': 1}\n",
            "{'descr': '<i8', 'descr': '<i8', 'fortran_order': False, 'shape': (3,)}\n",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (-3,)}\n",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3,)} x\n",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<i8, 'fortran_order': False, 'shape': (3,)}\n",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999999999999,)}\n",
        ] {
            assert!(ok(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn dtypes() {
        assert_eq!(Dtype::parse("|u1"), Ok(Dtype::U8));
        assert_eq!(Dtype::parse("u1"), Ok(Dtype::U8));
        assert_eq!(Dtype::parse("<i8"), Ok(Dtype::I64));
        assert_eq!(Dtype::parse("<i4"), Ok(Dtype::I32));
        assert!(Dtype::parse(">i8").unwrap_err().contains("big-endian"));
        assert!(Dtype::parse("|i8").is_err());
        assert!(Dtype::parse("<f4").unwrap_err().contains("unsupported dtype"));
        assert!(Dtype::parse("|b1").is_err());
    }
}
