//! Reading .npy files as float32 arrays, checking the header against the file
//! before anything is allocated.
//!
//! Why not `ndarray_npy::read_npy`: it allocates what the header claims before
//! reading, so a 16-byte file whose header says shape (10^12,) aborts the process
//! on the failed allocation. Here the header is parsed by hand (magic, version
//! 1/2/3, header length, the `{'descr', 'fortran_order', 'shape'}` dict), the
//! byte count it implies is computed with checked arithmetic and compared with
//! what the file holds after the header, and only then is memory reserved (with
//! `try_reserve`, so even an honest but too-large file is an error, not an abort).
//!
//! Accepted: float32 and float64 (`<f4`, `>f4`, `<f8`, `>f8`, and `=` for this
//! machine's order; float64 is converted to float32, as numpy arrays from the
//! exercise are float64), C or Fortran order, any rank (0-d included).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use ndarray::{ArrayD, IxDyn, ShapeBuilder};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy itself refuses headers over 10,000 bytes by default (`max_header_size`);
/// a real float header is under 128 bytes. 1 MiB leaves room for huge ranks while
/// bounding what a lying header length can make us read.
const MAX_HEADER: usize = 1 << 20;

/// Why a .npy file could not be read. The message says what the file claims and
/// what it holds; [`read`] prefixes the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NpyError(String);

type Result<T> = std::result::Result<T, NpyError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(NpyError(msg.into()))
}

/// What the header says about the data that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The dtype as written in the file (`<f4`, `>f8`, ...).
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Bytes from the start of the file to the first data byte.
    pub data_offset: u64,
}

#[derive(Clone, Copy)]
enum Elem {
    F32,
    F64,
}

impl Header {
    fn elem(&self) -> Result<(Elem, bool)> {
        let big = match self.descr.as_bytes().first() {
            Some(b'<') => false,
            Some(b'>') => true,
            Some(b'=') => cfg!(target_endian = "big"),
            _ => return self.unsupported(),
        };
        match &self.descr[1..] {
            "f4" => Ok((Elem::F32, big)),
            "f8" => Ok((Elem::F64, big)),
            _ => self.unsupported(),
        }
    }

    fn unsupported<T>(&self) -> Result<T> {
        err(format!(
            "dtype {} is not supported (float32 or float64 expected)",
            self.descr
        ))
    }

    /// Elements and data bytes the header implies, or an error when they do not
    /// fit this machine (checked arithmetic: a header can claim any numbers).
    fn sizes(&self, itemsize: u64) -> Result<(usize, u64)> {
        let too_big = || {
            NpyError(format!(
                "header says shape {:?}, too large for this machine",
                self.shape
            ))
        };
        // ndarray requires the product of the non-zero lengths to fit isize,
        // even when another length is 0.
        let nonzero = self
            .shape
            .iter()
            .filter(|&&d| d != 0)
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(too_big)?;
        let count = if self.shape.contains(&0) { 0 } else { nonzero };
        let bytes = (count as u64).checked_mul(itemsize).ok_or_else(too_big)?;
        Ok((count, bytes))
    }
}

/// Reads the magic string, version, header length and header dict from `r`.
/// `available`, when known, is the number of bytes `r` holds: a header length
/// past it is refused before the header is read.
pub fn read_header(r: &mut impl Read, available: Option<u64>) -> Result<Header> {
    let mut prefix = [0u8; 8];
    read_exact(r, &mut prefix, "the .npy magic string and version")?;
    if &prefix[..6] != MAGIC {
        return err("not a .npy file (no \\x93NUMPY magic string at the start)");
    }
    let (major, minor) = (prefix[6], prefix[7]);
    let len_bytes = match major {
        1 => 2,
        2 | 3 => 4,
        _ => {
            return err(format!(
                ".npy version {major}.{minor} is not supported (1, 2 or 3)"
            ));
        }
    };
    let mut len = [0u8; 4];
    read_exact(r, &mut len[..len_bytes], "the header length")?;
    let header_len = u32::from_le_bytes(len) as usize;
    let data_offset = (8 + len_bytes + header_len) as u64;
    if header_len > MAX_HEADER {
        return err(format!(
            "header length {header_len} is over the {MAX_HEADER}-byte limit"
        ));
    }
    if let Some(n) = available
        && data_offset > n
    {
        return err(format!(
            "header length {header_len} runs past the end of the file ({n} bytes)"
        ));
    }
    let mut text = Vec::new();
    r.take(header_len as u64)
        .read_to_end(&mut text)
        .map_err(|e| NpyError(format!("reading the header: {e}")))?;
    if text.len() != header_len {
        return err(format!(
            "header length {header_len} runs past the end of the file"
        ));
    }
    let text = std::str::from_utf8(&text)
        .ok()
        .filter(|t| t.is_ascii())
        .ok_or_else(|| NpyError("header is not ASCII text".into()))?;
    let (descr, fortran_order, shape) =
        dict::parse(text).map_err(|e| NpyError(format!("header {}: {e}", shown(text))))?;
    Ok(Header {
        descr,
        fortran_order,
        shape,
        data_offset,
    })
}

/// The header text for messages: trimmed, and cut short if long.
fn shown(text: &str) -> String {
    let t = text.trim_end();
    if t.len() > 120 {
        format!("{:?}...", &t[..120])
    } else {
        format!("{t:?}")
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        NpyError(if e.kind() == io::ErrorKind::UnexpectedEof {
            format!("file ends before {what}")
        } else {
            format!("reading {what}: {e}")
        })
    })
}

/// A float32 array from `r`: a whole .npy file. `available` as in [`read_header`];
/// when it is `None` (a pipe), the data is read in chunks, so memory still grows
/// only with the bytes actually there.
pub fn read_from(r: &mut impl Read, available: Option<u64>) -> Result<ArrayD<f32>> {
    let header = read_header(r, available)?;
    let (elem, big) = header.elem()?;
    let itemsize = match elem {
        Elem::F32 => 4,
        Elem::F64 => 8,
    };
    let (count, bytes) = header.sizes(itemsize)?;
    let lie = |held: String| {
        NpyError(format!(
            "header says shape {:?} of {} ({bytes} data bytes), but the file holds {held} after the header",
            header.shape, header.descr
        ))
    };
    let remaining = available.map(|n| n - header.data_offset);
    if let Some(held) = remaining
        && held != bytes
    {
        return Err(lie(format!("{held} bytes")));
    }
    let mut data: Vec<f32> = Vec::new();
    // Unknown length: reserve as the bytes arrive, never what the header claims.
    let reserve = if remaining.is_some() {
        count
    } else {
        count.min(1 << 16)
    };
    data.try_reserve_exact(reserve).map_err(|e| {
        NpyError(format!(
            "shape {:?}: cannot allocate {count} float32 values: {e}",
            header.shape
        ))
    })?;
    let mut chunk = vec![0u8; 1 << 16];
    let mut left = bytes;
    while left > 0 {
        let want = left.min(chunk.len() as u64) as usize;
        let got =
            fill(r, &mut chunk[..want]).map_err(|e| NpyError(format!("reading the data: {e}")))?;
        if got < want {
            return Err(lie(format!("only {} bytes", bytes - left + got as u64)));
        }
        data.try_reserve(want / itemsize as usize).map_err(|e| {
            NpyError(format!(
                "shape {:?}: cannot allocate {count} float32 values: {e}",
                header.shape
            ))
        })?;
        decode(&chunk[..want], elem, big, &mut data);
        left -= want as u64;
    }
    if remaining.is_none() && fill(r, &mut [0u8; 1]).unwrap_or(0) != 0 {
        return Err(lie("more bytes".into()));
    }
    let shape = IxDyn(&header.shape);
    let array = if header.fortran_order {
        ArrayD::from_shape_vec(shape.f(), data)
    } else {
        ArrayD::from_shape_vec(shape, data)
    };
    array.map_err(|e| NpyError(format!("shape {:?}: {e}", header.shape)))
}

/// Reads until `buf` is full or the reader ends; the number of bytes read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn decode(bytes: &[u8], elem: Elem, big: bool, out: &mut Vec<f32>) {
    match elem {
        Elem::F32 => out.extend(bytes.chunks_exact(4).map(|c| {
            let b = c.try_into().expect("chunks of 4");
            if big {
                f32::from_be_bytes(b)
            } else {
                f32::from_le_bytes(b)
            }
        })),
        Elem::F64 => out.extend(bytes.chunks_exact(8).map(|c| {
            let b = c.try_into().expect("chunks of 8");
            (if big {
                f64::from_be_bytes(b)
            } else {
                f64::from_le_bytes(b)
            }) as f32
        })),
    }
}

/// A float32 array from the bytes of a whole .npy file.
pub fn from_bytes(bytes: &[u8]) -> Result<ArrayD<f32>> {
    read_from(&mut &bytes[..], Some(bytes.len() as u64))
}

/// A float32 array from the .npy file at `path`; errors name the path. A regular
/// file's size is checked against its header before any data is read.
pub fn read(path: &Path) -> Result<ArrayD<f32>> {
    let named = |e: NpyError| NpyError(format!("{}: {e}", path.display()));
    let open = || -> io::Result<(File, Option<u64>)> {
        let f = File::open(path)?;
        let meta = f.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::other("is a directory"));
        }
        Ok((f, meta.is_file().then_some(meta.len())))
    };
    let (file, len) = open().map_err(|e| NpyError(format!("{}: {e}", path.display())))?;
    read_from(&mut io::BufReader::new(file), len).map_err(named)
}

/// The header dict: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`,
/// a Python literal. Only what numpy writes is accepted: exactly these three
/// keys, strings in single or double quotes, `True`/`False`, and a tuple of
/// non-negative integers. No recursion, so no input can exhaust the stack.
mod dict {
    struct Cursor<'a> {
        s: &'a [u8],
        i: usize,
    }

    type R<T> = Result<T, String>;

    impl Cursor<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }

        fn peek(&mut self) -> Option<u8> {
            self.ws();
            self.s.get(self.i).copied()
        }

        fn eat(&mut self, c: u8) -> bool {
            if self.peek() == Some(c) {
                self.i += 1;
                true
            } else {
                false
            }
        }

        fn expect(&mut self, c: u8) -> R<()> {
            if self.eat(c) {
                Ok(())
            } else {
                Err(format!("expected {:?} at byte {}", c as char, self.i))
            }
        }

        fn string(&mut self) -> R<String> {
            let q = match self.peek() {
                Some(q @ (b'\'' | b'"')) => q,
                _ => return Err(format!("expected a string at byte {}", self.i)),
            };
            let start = self.i + 1;
            let len = self.s[start..]
                .iter()
                .position(|&c| c == q || c == b'\\')
                .ok_or("unterminated string")?;
            if self.s[start + len] == b'\\' {
                return Err("escapes in strings are not supported".into());
            }
            self.i = start + len + 1;
            Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
        }

        fn word(&mut self) -> &[u8] {
            self.ws();
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
                self.i += 1;
            }
            &self.s[start..self.i]
        }

        fn boolean(&mut self) -> R<bool> {
            match self.word() {
                b"True" => Ok(true),
                b"False" => Ok(false),
                w => Err(format!(
                    "fortran_order must be True or False, not {:?}",
                    String::from_utf8_lossy(w)
                )),
            }
        }

        fn shape(&mut self) -> R<Vec<usize>> {
            self.expect(b'(')?;
            let mut dims = Vec::new();
            loop {
                if self.eat(b')') {
                    break;
                }
                let w = self.word().to_vec();
                let digits = w.strip_suffix(b"L").unwrap_or(&w); // Python 2's longs
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return Err(format!(
                        "shape holds {:?}, not a non-negative integer",
                        String::from_utf8_lossy(&w)
                    ));
                }
                let d = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|t| t.parse::<usize>().ok())
                    .ok_or_else(|| {
                        format!(
                            "shape length {} does not fit this machine",
                            String::from_utf8_lossy(digits)
                        )
                    })?;
                dims.push(d);
                if !self.eat(b',') {
                    self.expect(b')')?;
                    break;
                }
            }
            // Python writes a 1-tuple as "(n,)"; "(n)" is just n, but numpy's
            // reader accepts neither differently, so neither do we.
            Ok(dims)
        }
    }

    pub(super) fn parse(text: &str) -> R<(String, bool, Vec<usize>)> {
        let mut c = Cursor {
            s: text.as_bytes(),
            i: 0,
        };
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        c.expect(b'{')?;
        while !c.eat(b'}') {
            let key = c.string()?;
            c.expect(b':')?;
            let dup = match key.as_str() {
                "descr" => match c.peek() {
                    Some(b'[') => return Err("structured dtypes are not supported".into()),
                    _ => descr.replace(c.string()?).is_some(),
                },
                "fortran_order" => fortran.replace(c.boolean()?).is_some(),
                "shape" => shape.replace(c.shape()?).is_some(),
                k => return Err(format!("unexpected key {k:?}")),
            };
            if dup {
                return Err(format!("key {key:?} given twice"));
            }
            if !c.eat(b',') {
                c.expect(b'}')?;
                break;
            }
        }
        if c.peek().is_some() {
            return Err(format!("unexpected text after the dict at byte {}", c.i));
        }
        match (descr, fortran, shape) {
            (Some(d), Some(f), Some(s)) => Ok((d, f, s)),
            _ => Err("missing one of the keys 'descr', 'fortran_order', 'shape'".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend([1, 0]);
        v.extend((header.len() as u16).to_le_bytes());
        v.extend(header.as_bytes());
        v.extend(data);
        v
    }

    #[test]
    fn a_lying_header_is_an_error_before_allocating() {
        // The case: 16 bytes claiming 10^12 elements.
        let f = file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }\n",
            &[0; 4],
        );
        let e = from_bytes(&f).unwrap_err().to_string();
        assert!(e.contains("1000000000000") && e.contains("4 bytes"), "{e}");
        // Overflowing products and lengths.
        let huge = format!("{}", usize::MAX);
        for shape in [
            format!("({huge}, {huge})"),
            format!("({huge}, 3, 0)"),
            "(99999999999999999999999,)".into(),
        ] {
            let h = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
            let e = from_bytes(&file(&h, &[])).unwrap_err().to_string();
            assert!(
                e.contains("too large") || e.contains("does not fit"),
                "{shape}: {e}"
            );
        }
    }

    #[test]
    fn orders_dtypes_and_ranks() {
        let le: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let c = from_bytes(&file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &le,
        ))
        .unwrap();
        assert_eq!(
            c,
            ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).into_dyn()
        );
        let f = from_bytes(&file(
            "{'shape': (2, 3), 'fortran_order': True, 'descr': '<f4'}",
            &le,
        ))
        .unwrap();
        assert_eq!(
            f,
            ndarray::arr2(&[[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]).into_dyn()
        );
        let be: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let b = from_bytes(&file(
            "{\"descr\": \">f8\", \"fortran_order\": False, \"shape\": (2L,)}",
            &be,
        ))
        .unwrap();
        assert_eq!(b, ndarray::arr1(&[1.5f32, -2.0]).into_dyn());
        let s = from_bytes(&file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
            &le[..4],
        ))
        .unwrap();
        assert_eq!(s.shape(), &[] as &[usize]);
        let e = from_bytes(&file(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        ))
        .unwrap_err();
        assert!(e.to_string().contains("dtype <i8"), "{e}");
    }

    #[test]
    fn ndarray_npy_files_read_back() {
        let a = ndarray::Array3::from_shape_fn((2, 3, 4), |(i, j, k)| {
            (i * 12 + j * 4 + k) as f64 - 7.5
        });
        let mut bytes = Vec::new();
        ndarray_npy::WriteNpyExt::write_npy(&a, &mut bytes).unwrap();
        assert_eq!(from_bytes(&bytes).unwrap(), a.mapv(|v| v as f32).into_dyn());
        let mut t = Vec::new();
        ndarray_npy::WriteNpyExt::write_npy(&a.t(), &mut t).unwrap();
        assert_eq!(from_bytes(&t).unwrap(), a.t().mapv(|v| v as f32).into_dyn());
    }

    #[test]
    fn streams_are_checked_as_they_arrive() {
        let f = file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }",
            &[0; 4],
        );
        let e = read_from(&mut &f[..], None).unwrap_err().to_string();
        assert!(e.contains("only 4 bytes"), "{e}");
        let f = file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        );
        let e = read_from(&mut &f[..], None).unwrap_err().to_string();
        assert!(e.contains("more bytes"), "{e}");
    }
}
