//! A small, safe reader for the Python pickles the CIFAR-10 "python version" ships: a dict of bytes keys
//! holding a uint8 numpy array, a list of ints and a few strings. It understands the opcodes that Python 2's
//! cPickle (protocol 2, how the official files were written) and Python 3 (`pickle.dump`, protocols 1, 2
//! and 4; 4 is today's default) use for such a dict, and nothing else.
//!
//! It never runs anything. A pickle normally names any Python callable (`GLOBAL`) and calls it (`REDUCE`);
//! here the only names accepted are the four a numpy array needs, each replaced by a fixed Rust
//! constructor: `numpy.core.multiarray._reconstruct` (also `numpy._core.…`, numpy ≥ 2) + `numpy.ndarray`
//! make an empty array that `BUILD` fills from its state tuple; `numpy.dtype` makes a plain numeric dtype;
//! `_codecs.encode(str, 'latin1')` is how Python 3 writes `bytes` in protocol 2. Any other name, opcode or
//! argument shape is a one-line error naming the file and the byte offset.
//!
//! Strings pickled by Python 2 (`SHORT_BINSTRING`/`BINSTRING`) come back as [`Value::Bytes`], as Python 3's
//! `pickle.load(f, encoding='bytes')` gives them (that is why the official dict's keys are `b'data'`).
//!
//! # Bounded memory, no deep recursion
//! Every length field is checked against the bytes left before anything is allocated, so a lying length
//! costs nothing; each opcode adds at most one value, so memory is a small multiple of the input size.
//! Containers are restricted so that values can neither form cycles nor nest deeply (dropping a
//! million-deep tuple would overflow the stack): list items are scalars (none, bool, int, bytes, str);
//! dict keys are scalars and dict values anything but a dict or a tuple; tuples nest at most
//! [`MAX_TUPLE_DEPTH`] deep. Arrays and dtypes hold no values. The CIFAR-10 dicts fit well inside this.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::{Error, Result};

/// Deepest nesting of tuples accepted (numpy's array state nests 2 deep).
pub const MAX_TUPLE_DEPTH: u8 = 8;
/// Longest `GLOBAL` module or name line accepted.
const MAX_LINE: usize = 256;

/// A value rebuilt from a pickle. Mutable containers are shared (`Rc<RefCell>`) as Python shares them, so
/// that a memoised list filled later is the same list wherever it is referenced.
#[derive(Clone, Debug)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Bytes(Rc<[u8]>),
    Str(Rc<str>),
    Tuple(Rc<Tuple>),
    List(Rc<RefCell<Vec<Value>>>),
    /// Key/value pairs in the order they were set (a later equal key is kept too; [`Value::get`] takes the
    /// last, as Python would).
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// One of the few callables this reader knows (see the module docs).
    Global(Global),
    Array(Rc<RefCell<NdArray>>),
    Dtype(Rc<RefCell<Dtype>>),
}

/// A tuple and how deeply tuples nest in it (1 for a tuple of no tuple).
#[derive(Debug)]
pub struct Tuple {
    pub items: Vec<Value>,
    depth: u8,
}

/// The callables a pickle may name here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    /// `numpy.core.multiarray._reconstruct`
    Reconstruct,
    /// `numpy.ndarray`
    NdArrayType,
    /// `numpy.dtype`
    DtypeType,
    /// `_codecs.encode`
    CodecsEncode,
}

/// A plain numeric numpy dtype: kind `b` (bool), `u`, `i` or `f`, item size in bytes, byte order `<`, `>`,
/// `|` (not applicable) or `=` (native).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dtype {
    pub kind: char,
    pub size: usize,
    pub endian: char,
}

/// A numpy array: its shape, dtype, memory order and raw bytes (`shape` product × item size of them).
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    /// True when `data` is in column-major (Fortran) order.
    pub fortran: bool,
    pub data: Rc<[u8]>,
    /// Set by `BUILD`; an array used before it is an error.
    built: bool,
}

impl Value {
    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Bytes(_) => "bytes",
            Value::Str(_) => "str",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Array(_) => "numpy array",
            Value::Dtype(_) => "numpy dtype",
        }
    }

    fn is_scalar(&self) -> bool {
        matches!(self, Value::None | Value::Bool(_) | Value::Int(_) | Value::Bytes(_) | Value::Str(_))
    }

    /// The text of a `str`, or of `bytes` that are UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// In a dict, the value of the key `key` given as `str` or as `bytes` (the official files use bytes).
    pub fn get(&self, key: &str) -> Option<Value> {
        let Value::Dict(d) = self else { return None };
        d.borrow().iter().rev().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v.clone())
    }

    /// The keys of a dict that are text, for messages.
    pub fn text_keys(&self) -> Vec<String> {
        let Value::Dict(d) = self else { return vec![] };
        d.borrow().iter().filter_map(|(k, _)| k.as_text().map(str::to_string)).collect()
    }

    fn tuple_depth(&self) -> u8 {
        match self {
            Value::Tuple(t) => t.depth,
            _ => 0,
        }
    }
}

/// Parses a whole pickle (`name` is for messages) and returns the object `STOP` leaves on the stack.
/// Bytes after `STOP` are ignored, as Python's `pickle.load` ignores them.
pub fn load(name: &str, bytes: &[u8]) -> Result<Value> {
    Machine { name, data: bytes, pos: 0, op_at: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() }.run()
}

struct Machine<'a> {
    name: &'a str,
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being run, for messages.
    op_at: usize,
    stack: Vec<Value>,
    /// Stack lengths at each open MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl Machine<'_> {
    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::data(self.name, format!("pickle: {msg} (opcode at byte {})", self.op_at))
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&[u8]> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return Err(self.err(format!("truncated: {what} needs {n} bytes, {left} left in the file")));
        }
        let s = &self.data[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1, "an argument")?[0])
    }

    fn le<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N as u64, "an argument")?.try_into().expect("take returned N bytes"))
    }

    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let Some(end) = rest.iter().take(MAX_LINE + 1).position(|&b| b == b'\n') else {
            return Err(self.err("a text line (GLOBAL, INT) missing its newline (or longer than 256 bytes)"));
        };
        let s = std::str::from_utf8(&rest[..end]).map_err(|_| self.err("a text line is not UTF-8"))?.to_string();
        self.pos += end + 1;
        Ok(s)
    }

    fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    /// Pops one value, never below the innermost open MARK (Python hides the stack below a mark).
    fn pop(&mut self) -> Result<Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err("stack underflow"));
        }
        Ok(self.stack.pop().expect("checked non-empty"))
    }

    fn top(&self) -> Result<&Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err("stack underflow"));
        }
        Ok(self.stack.last().expect("checked non-empty"))
    }

    /// The values pushed since the innermost MARK, which is closed.
    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let Some(mark) = self.marks.pop() else { return Err(self.err("no MARK open")) };
        Ok(self.stack.split_off(mark))
    }

    fn tuple(&self, items: Vec<Value>) -> Result<Value> {
        let depth = 1 + items.iter().map(Value::tuple_depth).max().unwrap_or(0);
        if depth > MAX_TUPLE_DEPTH {
            return Err(self.err(format!("tuples nested more than {MAX_TUPLE_DEPTH} deep")));
        }
        if items.iter().any(|v| matches!(v, Value::Dict(_))) {
            // Not needed by numpy or CIFAR; allowing it would let a dict reach itself through a tuple.
            return Err(self.err("a dict inside a tuple is not supported"));
        }
        Ok(Value::Tuple(Rc::new(Tuple { items, depth })))
    }

    fn text(&mut self, n: u64) -> Result<Value> {
        let bytes = self.take(n, "a string")?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Value::Str(Rc::from(s))),
            Err(_) => Err(self.err("a unicode string that is not UTF-8")),
        }
    }

    fn bytes(&mut self, n: u64) -> Result<Value> {
        Ok(Value::Bytes(Rc::from(self.take(n, "a byte string")?)))
    }

    fn append(&self, list: &Value, items: Vec<Value>) -> Result<()> {
        let Value::List(l) = list else {
            return Err(self.err(format!("APPEND to a {}, expected a list", list.kind())));
        };
        if let Some(v) = items.iter().find(|v| !v.is_scalar()) {
            return Err(self.err(format!("a {} inside a list is not supported (only plain values)", v.kind())));
        }
        l.borrow_mut().extend(items);
        Ok(())
    }

    fn set_items(&self, dict: &Value, items: Vec<Value>) -> Result<()> {
        let Value::Dict(d) = dict else {
            return Err(self.err(format!("SETITEM on a {}, expected a dict", dict.kind())));
        };
        if !items.len().is_multiple_of(2) {
            return Err(self.err("SETITEMS with an odd number of values"));
        }
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if !k.is_scalar() {
                return Err(self.err(format!("a {} as a dict key is not supported", k.kind())));
            }
            if matches!(v, Value::Dict(_) | Value::Tuple(_)) {
                return Err(self.err(format!("a {} as a dict value is not supported", v.kind())));
            }
            d.borrow_mut().push((k, v));
        }
        Ok(())
    }

    fn global(&self, module: &str, name: &str) -> Result<Value> {
        let g = match (module, name) {
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => Global::Reconstruct,
            ("numpy", "ndarray") => Global::NdArrayType,
            ("numpy", "dtype") => Global::DtypeType,
            ("_codecs", "encode") => Global::CodecsEncode,
            _ => {
                return Err(self.err(format!(
                    "refusing global {module}.{name}: this reader rebuilds numpy arrays only and never calls other code"
                )));
            }
        };
        Ok(Value::Global(g))
    }

    fn reduce(&self, callable: Value, args: Value) -> Result<Value> {
        let Value::Global(g) = callable else { return Err(self.err(format!("REDUCE calls a {}", callable.kind()))) };
        let Value::Tuple(args) = args else { return Err(self.err(format!("REDUCE arguments are a {}", args.kind()))) };
        let args = &args.items;
        match g {
            Global::Reconstruct => match args.as_slice() {
                [Value::Global(Global::NdArrayType), Value::Tuple(_), Value::Bytes(_) | Value::Str(_)] => {
                    let dtype = Dtype { kind: 'u', size: 1, endian: '|' };
                    let a = NdArray { shape: vec![0], dtype, fortran: false, data: Rc::from(&[][..]), built: false };
                    Ok(Value::Array(Rc::new(RefCell::new(a))))
                }
                _ => Err(self.err("_reconstruct called with arguments other than (numpy.ndarray, shape, typecode)")),
            },
            Global::DtypeType => match args.as_slice() {
                [spec, Value::Int(_) | Value::Bool(_), Value::Int(_) | Value::Bool(_)] => {
                    let spec = spec.as_text().ok_or_else(|| self.err(format!("numpy.dtype of a {}", spec.kind())))?;
                    let dtype = parse_dtype(spec).ok_or_else(|| {
                        self.err(format!("unsupported numpy dtype '{spec}' (plain bool, int, uint and float only)"))
                    })?;
                    Ok(Value::Dtype(Rc::new(RefCell::new(dtype))))
                }
                _ => Err(self.err("numpy.dtype called with arguments other than (spec, align, copy)")),
            },
            Global::CodecsEncode => match args.as_slice() {
                [Value::Str(s), Value::Str(enc)] if matches!(&**enc, "latin1" | "latin-1" | "iso-8859-1") => {
                    let bytes: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
                    let bytes = bytes.ok_or_else(|| self.err("_codecs.encode of a character past U+00FF in latin1"))?;
                    Ok(Value::Bytes(Rc::from(bytes)))
                }
                _ => Err(self.err("_codecs.encode called with arguments other than (str, 'latin1')")),
            },
            Global::NdArrayType => Err(self.err("calling numpy.ndarray directly is not supported")),
        }
    }

    fn build(&self, target: &Value, state: Value) -> Result<()> {
        let Value::Tuple(state) = state else { return Err(self.err(format!("BUILD with a {} state", state.kind()))) };
        let s = &state.items;
        match target {
            Value::Dtype(d) => {
                // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
                let endian = s.get(1).and_then(Value::as_text).filter(|e| matches!(*e, "<" | ">" | "|" | "="));
                let Some(endian) = endian else { return Err(self.err("numpy dtype state without a byte order")) };
                if s.iter().skip(2).take(3).any(|v| !matches!(v, Value::None)) {
                    return Err(self.err("structured or sub-array numpy dtypes are not supported"));
                }
                let mut d = d.borrow_mut();
                d.endian = endian.chars().next().expect("one character");
                if d.size == 1 {
                    d.endian = '|';
                }
                Ok(())
            }
            Value::Array(a) => {
                // (version, shape, dtype, is_fortran, raw data), or the same without the version.
                let s = match s.as_slice() {
                    [Value::Int(_), rest @ ..] if rest.len() == 4 => rest,
                    rest if rest.len() == 4 => rest,
                    _ => return Err(self.err("numpy array state is not (version, shape, dtype, fortran, data)")),
                };
                let Value::Tuple(shape) = &s[0] else { return Err(self.err("numpy array shape is not a tuple")) };
                let shape: Option<Vec<usize>> = shape
                    .items
                    .iter()
                    .map(|v| match v {
                        Value::Int(n) => usize::try_from(*n).ok(),
                        _ => None,
                    })
                    .collect();
                let shape = shape.ok_or_else(|| self.err("numpy array shape holds something other than sizes"))?;
                let Value::Dtype(dtype) = &s[1] else {
                    return Err(self.err(format!("numpy array dtype is a {}", s[1].kind())));
                };
                let dtype = *dtype.borrow();
                let fortran = match s[2] {
                    Value::Bool(b) => b,
                    Value::Int(i) => i != 0,
                    _ => return Err(self.err("numpy array order flag is not a bool")),
                };
                let Value::Bytes(data) = &s[3] else {
                    return Err(
                        self.err(format!("numpy array data is a {} (object arrays are not supported)", s[3].kind()))
                    );
                };
                let want = shape.iter().try_fold(dtype.size, |acc, &d| acc.checked_mul(d));
                if want != Some(data.len()) {
                    let want = want.map_or_else(|| "an impossible number of".to_string(), |w| w.to_string());
                    return Err(self.err(format!(
                        "numpy array of shape {shape:?} and {}-byte items needs {want} bytes, its data has {}",
                        dtype.size,
                        data.len()
                    )));
                }
                let mut a = a.borrow_mut();
                if a.built {
                    return Err(self.err("BUILD of a numpy array that is already built"));
                }
                *a = NdArray { shape, dtype, fortran, data: data.clone(), built: true };
                Ok(())
            }
            other => Err(self.err(format!("BUILD on a {}, expected a numpy array or dtype", other.kind()))),
        }
    }

    fn run(mut self) -> Result<Value> {
        loop {
            self.op_at = self.pos;
            if self.pos >= self.data.len() {
                return Err(self.err("truncated: the pickle ends before its STOP opcode"));
            }
            let op = self.u8()?;
            match op {
                0x80 => {
                    let v = self.u8()?;
                    if v > 5 {
                        return Err(self.err(format!("pickle protocol {v} is not known (0-5)")));
                    }
                }
                // FRAME: a hint for buffered readers; the bytes follow as ordinary opcodes.
                0x95 => {
                    let n = u64::from_le_bytes(self.le()?);
                    if n > (self.data.len() - self.pos) as u64 {
                        return Err(
                            self.err(format!("truncated: a frame of {n} bytes, {} left", self.data.len() - self.pos))
                        );
                    }
                }
                b'.' => {
                    let v = self.pop()?;
                    if let Value::Array(a) = &v
                        && !a.borrow().built
                    {
                        return Err(self.err("the result is a numpy array that was never built"));
                    }
                    return Ok(v);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                // INT (protocols 0-1): a decimal line; "00" and "01" are how they write False and True.
                b'I' => {
                    let line = self.line()?;
                    let v = match line.as_str() {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        l => Value::Int(
                            l.parse().map_err(|_| self.err(format!("INT line '{l}' is not a 64-bit integer")))?,
                        ),
                    };
                    self.push(v);
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.le()?);
                    self.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le()?);
                    self.push(Value::Int(v.into()));
                }
                0x8a => {
                    let n = self.u8()? as u64;
                    if n > 8 {
                        return Err(self.err(format!("an integer of {n} bytes does not fit in 64 bits")));
                    }
                    let b = self.take(n, "an integer")?;
                    let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) { [0xff; 8] } else { [0; 8] };
                    buf[..b.len()].copy_from_slice(b);
                    self.push(Value::Int(i64::from_le_bytes(buf)));
                }
                b'U' => {
                    let n = self.u8()?.into();
                    let v = self.bytes(n)?;
                    self.push(v);
                }
                b'T' => {
                    let n = i32::from_le_bytes(self.le()?);
                    let n = u64::try_from(n).map_err(|_| self.err(format!("negative string length {n}")))?;
                    let v = self.bytes(n)?;
                    self.push(v);
                }
                b'C' => {
                    let n = self.u8()?.into();
                    let v = self.bytes(n)?;
                    self.push(v);
                }
                b'B' => {
                    let n = u32::from_le_bytes(self.le()?).into();
                    let v = self.bytes(n)?;
                    self.push(v);
                }
                0x8e => {
                    let n = u64::from_le_bytes(self.le()?);
                    let v = self.bytes(n)?;
                    self.push(v);
                }
                b'X' => {
                    let n = u32::from_le_bytes(self.le()?).into();
                    let v = self.text(n)?;
                    self.push(v);
                }
                0x8c => {
                    let n = self.u8()?.into();
                    let v = self.text(n)?;
                    self.push(v);
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.le()?);
                    let v = self.text(n)?;
                    self.push(v);
                }
                b'}' => self.push(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
                b']' => self.push(Value::List(Rc::new(RefCell::new(Vec::new())))),
                b')' => {
                    let t = self.tuple(vec![])?;
                    self.push(t);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let t = self.tuple(items)?;
                    self.push(t);
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    let t = self.tuple(items)?;
                    self.push(t);
                }
                b'a' => {
                    let item = self.pop()?;
                    self.append(self.top()?, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(self.top()?, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(self.top()?, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(self.top()?, items)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = self.global(&module, &name)?;
                    self.push(g);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (&module, &name) else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    let g = self.global(module, name)?;
                    self.push(g);
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    self.build(self.top()?, state)?;
                }
                b'q' => {
                    let i = self.u8()?.into();
                    self.put(i)?;
                }
                b'r' => {
                    let i = u32::from_le_bytes(self.le()?);
                    self.put(i)?;
                }
                0x94 => {
                    let i = u32::try_from(self.memo.len()).map_err(|_| self.err("memo overflow"))?;
                    self.put(i)?;
                }
                b'h' => {
                    let i = self.u8()?.into();
                    self.get(i)?;
                }
                b'j' => {
                    let i = u32::from_le_bytes(self.le()?);
                    self.get(i)?;
                }
                op => {
                    let name = OPCODE_NAMES.iter().find(|(c, _)| *c == op).map_or("unknown", |(_, n)| n);
                    return Err(self.err(format!(
                        "opcode {op:#04x} ({name}) is not supported by this reader (it reads numpy arrays, lists, \
                         dicts, strings and ints only)"
                    )));
                }
            }
        }
    }

    fn put(&mut self, i: u32) -> Result<()> {
        let v = self.top()?.clone();
        self.memo.insert(i, v);
        Ok(())
    }

    fn get(&mut self, i: u32) -> Result<()> {
        let v = self.memo.get(&i).cloned().ok_or_else(|| self.err(format!("memo entry {i} was never stored")))?;
        self.push(v);
        Ok(())
    }
}

/// `u1`, `<i8`, `f4`, `?`, …: a plain numeric dtype spec.
fn parse_dtype(spec: &str) -> Option<Dtype> {
    let (endian, rest) = match spec.chars().next()? {
        c @ ('<' | '>' | '|' | '=') => (c, &spec[1..]),
        _ => ('=', spec),
    };
    if rest == "?" || rest == "b1" {
        return Some(Dtype { kind: 'b', size: 1, endian: '|' });
    }
    let kind = rest.chars().next()?;
    let size: usize = rest[1..].parse().ok()?;
    let ok = match kind {
        'u' | 'i' => matches!(size, 1 | 2 | 4 | 8),
        'f' => matches!(size, 2 | 4 | 8),
        _ => false,
    };
    ok.then_some(Dtype { kind, size, endian: if size == 1 { '|' } else { endian } })
}

/// Names of the opcodes this reader refuses, for messages.
const OPCODE_NAMES: &[(u8, &str)] = &[
    (b'L', "LONG"),
    (b'F', "FLOAT"),
    (b'G', "BINFLOAT"),
    (b'S', "STRING"),
    (b'V', "UNICODE"),
    (b'P', "PERSID"),
    (b'Q', "BINPERSID"),
    (b'i', "INST"),
    (b'o', "OBJ"),
    (b'l', "LIST"),
    (b'd', "DICT"),
    (b'g', "GET"),
    (b'p', "PUT"),
    (b'2', "DUP"),
    (0x81, "NEWOBJ"),
    (0x82, "EXT1"),
    (0x83, "EXT2"),
    (0x84, "EXT4"),
    (0x8b, "LONG4"),
    (0x8f, "EMPTY_SET"),
    (0x90, "ADDITEMS"),
    (0x91, "FROZENSET"),
    (0x92, "NEWOBJ_EX"),
    (0x96, "BYTEARRAY8"),
    (0x97, "NEXT_BUFFER"),
    (0x98, "READONLY_BUFFER"),
];
