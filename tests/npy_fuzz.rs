//! Fuzzing `apply`'s path: the .npy reader (`gpu_basics::npy`) on arbitrary
//! bytes and on valid files with one mutation, then random shapes, dtypes, orders
//! and axes through every op on every backend (naive, cpu, and gpu where there is
//! an adapter; required with GPU_BASICS_REQUIRE_GPU=1) against a float64 oracle,
//! and a few runs of the binary itself. Properties: no panic or abort; an error
//! names the op (or the file); a result matches the oracle; a failed `apply`
//! leaves the old output untouched and no file behind.
//!
//! Case counts (under 2 s in all with lavapipe on 2 shared cores; each case is
//! small, at most 5 per dimension): reader_arbitrary_bytes 5000,
//! reader_mutated_files 5000, ops_match_the_oracle 1000 (one op, every backend),
//! apply_end_to_end 16 (one process each). For a longer run set PROPTEST_CASES,
//! which replaces every count: `PROPTEST_CASES=30000 cargo test --release --test
//! npy_fuzz -- --skip apply_end` took 3 s here, and 150 end-to-end cases 9 s.

mod common;

use std::path::Path;
use std::process::Command;

use common::{backends, listing};

use gpu_basics::{Op, npy};
use ndarray::{ArrayD, ArrayViewD, Axis, Ix1, Ix2, IxDyn, ShapeBuilder};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const EPS: f64 = f32::EPSILON as f64;

/// `default` cases, or PROPTEST_CASES when set.
fn runner(default: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// A .npy file written here, independently of the reader under test: how a
/// file with these properties must look.
#[derive(Debug, Clone)]
struct Spec {
    shape: Vec<usize>,
    f64: bool,
    big_endian: bool,
    fortran: bool,
    version: u8,
    double_quotes: bool,
    values: Vec<f32>,
}

impl Spec {
    fn descr(&self) -> String {
        format!(
            "{}f{}",
            if self.big_endian { '>' } else { '<' },
            if self.f64 { 8 } else { 4 }
        )
    }

    fn bytes(&self) -> Vec<u8> {
        let q = if self.double_quotes { '"' } else { '\'' };
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        let shape = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        let mut h = format!(
            "{{{q}descr{q}: {q}{}{q}, {q}fortran_order{q}: {}, {q}shape{q}: {shape}, }}",
            self.descr(),
            if self.fortran { "True" } else { "False" }
        );
        let prefix = if self.version == 1 { 10 } else { 12 };
        while (prefix + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut f = b"\x93NUMPY".to_vec();
        f.extend([self.version, 0]);
        if self.version == 1 {
            f.extend((h.len() as u16).to_le_bytes());
        } else {
            f.extend((h.len() as u32).to_le_bytes());
        }
        f.extend(h.as_bytes());
        // The values in file order: row-major, or column-major for Fortran.
        let a = self.array();
        let order: Vec<f32> = if self.fortran {
            a.t().iter().copied().collect()
        } else {
            a.iter().copied().collect()
        };
        for v in order {
            match (self.f64, self.big_endian) {
                (false, false) => f.extend(v.to_le_bytes()),
                (false, true) => f.extend(v.to_be_bytes()),
                (true, false) => f.extend(f64::from(v).to_le_bytes()),
                (true, true) => f.extend(f64::from(v).to_be_bytes()),
            }
        }
        f
    }

    /// The array the file holds (row-major values of `shape`).
    fn array(&self) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.values.clone()).expect("sized")
    }
}

/// Values the oracle's tolerances are written for: finite, |x| <= 8, zeros of
/// both signs included.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![8 => -8.0f32..8.0, 1 => Just(0.0f32), 1 => Just(-0.0f32)]
}

fn spec_of(shape: impl Strategy<Value = Vec<usize>>) -> impl Strategy<Value = Spec> {
    (shape, any::<(bool, bool, bool, bool)>(), 1u8..=3).prop_flat_map(
        |(shape, (f64, big_endian, fortran, double_quotes), version)| {
            let n = shape.iter().product::<usize>();
            proptest::collection::vec(value(), n).prop_map(move |values| Spec {
                shape: shape.clone(),
                f64,
                big_endian,
                fortran,
                version,
                double_quotes,
                values,
            })
        },
    )
}

fn any_shape() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0usize..6, 0..4)
}

/// When the reader accepts bytes, what it returns must be what they hold: the
/// header's shape, and the data as the file's last bytes (decoded here).
fn check_accepted(bytes: &[u8], a: &ArrayD<f32>) -> Result<(), TestCaseError> {
    let h = npy::read_header(&mut &bytes[..], Some(bytes.len() as u64))
        .map_err(|e| TestCaseError::fail(format!("read accepted, read_header refused: {e}")))?;
    prop_assert_eq!(a.shape(), &h.shape[..]);
    let item = if h.descr.ends_with('8') { 8 } else { 4 };
    let data = &bytes[h.data_offset as usize..];
    prop_assert_eq!(data.len(), a.len() * item, "data bytes vs elements");
    let big = h.descr.starts_with('>');
    let decoded: Vec<f32> = data
        .chunks_exact(item)
        .map(|c| match (item, big) {
            (4, false) => f32::from_le_bytes(c.try_into().unwrap()),
            (4, true) => f32::from_be_bytes(c.try_into().unwrap()),
            (_, false) => f64::from_le_bytes(c.try_into().unwrap()) as f32,
            (_, true) => f64::from_be_bytes(c.try_into().unwrap()) as f32,
        })
        .collect();
    let order: Vec<f32> = if h.fortran_order {
        a.t().iter().copied().collect()
    } else {
        a.iter().copied().collect()
    };
    for (i, (g, w)) in order.iter().zip(&decoded).enumerate() {
        prop_assert!(g.to_bits() == w.to_bits(), "[{}] {} vs {}", i, g, w);
    }
    Ok(())
}

#[test]
fn reader_arbitrary_bytes() {
    // Half the inputs start with a valid prefix, so that they reach the header.
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (1u8..=3, proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(v, rest)| {
            let mut f = b"\x93NUMPY".to_vec();
            f.extend([v, 0]);
            f.extend(rest);
            f
        }),
    ];
    runner(5000)
        .run(&bytes, |bytes| match npy::from_bytes(&bytes) {
            Ok(a) => check_accepted(&bytes, &a),
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                Ok(())
            }
        })
        .unwrap();
}

/// One change to a valid file.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    SetByte(usize, u8),
    Truncate(usize),
    Append(Vec<u8>),
    /// A shape length replaced by another number (lying, huge, overflowing).
    Dim(usize, String),
    /// The header length field set to this value.
    HeaderLen(u32),
    /// Header text replaced at an offset.
    Text(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let number = prop_oneof![
        (0u64..20).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("1000000000000".to_string()),
        Just(format!("{}", usize::MAX)),
        Just("99999999999999999999999999".to_string()),
        Just("-1".to_string()),
        Just("3L".to_string()),
    ];
    let text = prop_oneof![
        Just("(".to_string()),
        Just(")".to_string()),
        Just("'".to_string()),
        Just(",".to_string()),
        Just("{".to_string()),
        Just("True".to_string()),
        Just("'descr': '<f4', ".to_string()),
        Just("<i8".to_string()),
        Just("\u{e9}".to_string()),
        "[ -~]{0,6}".prop_map(|s| s),
    ];
    prop_oneof![
        1 => Just(Mutation::None),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        2 => any::<usize>().prop_map(Mutation::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Append),
        3 => (any::<usize>(), number).prop_map(|(i, n)| Mutation::Dim(i, n)),
        1 => prop_oneof![any::<u32>(), 0u32..200].prop_map(Mutation::HeaderLen),
        2 => (any::<usize>(), text).prop_map(|(i, t)| Mutation::Text(i, t)),
    ]
}

fn mutate(spec: &Spec, m: &Mutation) -> Vec<u8> {
    let mut f = spec.bytes();
    let header_end = f.iter().position(|&b| b == b'\n').unwrap_or(f.len());
    match m {
        Mutation::None => {}
        Mutation::SetByte(i, b) => {
            let i = i % f.len();
            f[i] = *b;
        }
        Mutation::Truncate(n) => f.truncate(n % f.len()),
        Mutation::Append(extra) => f.extend(extra),
        Mutation::Dim(i, n) => {
            let dims: Vec<String> = spec.shape.iter().map(|d| d.to_string()).collect();
            if !dims.is_empty() {
                let mut dims = dims;
                let i = i % dims.len();
                dims[i] = n.clone();
                let text = String::from_utf8_lossy(&f[..header_end]).into_owned();
                let start = text.find("shape").unwrap();
                let open = start + text[start..].find('(').unwrap();
                let close = open + text[open..].find(')').unwrap();
                let shape = if dims.len() == 1 {
                    format!("({},)", dims[0])
                } else {
                    format!("({})", dims.join(", "))
                };
                f = [&f[..open], shape.as_bytes(), &f[close + 1..]].concat();
                fix_header_len(&mut f, spec.version);
            }
        }
        Mutation::HeaderLen(n) => {
            if spec.version == 1 {
                f[8..10].copy_from_slice(&(*n as u16).to_le_bytes());
            } else {
                f[8..12].copy_from_slice(&n.to_le_bytes());
            }
        }
        Mutation::Text(i, t) => {
            let start = if spec.version == 1 { 10 } else { 12 };
            let i = start + i % (header_end - start).max(1);
            f = [&f[..i], t.as_bytes(), &f[i..]].concat();
            fix_header_len(&mut f, spec.version);
        }
    }
    f
}

/// Rewrites the header length field to where the header's newline now is.
fn fix_header_len(f: &mut [u8], version: u8) {
    let start = if version == 1 { 10 } else { 12 };
    let end = f
        .iter()
        .position(|&b| b == b'\n')
        .map_or(f.len(), |p| p + 1);
    let len = (end - start) as u32;
    if version == 1 {
        f[8..10].copy_from_slice(&(len as u16).to_le_bytes());
    } else {
        f[8..12].copy_from_slice(&len.to_le_bytes());
    }
}

#[test]
fn reader_mutated_files() {
    runner(5000)
        .run(&(spec_of(any_shape()), mutation()), |(spec, m)| {
            let bytes = mutate(&spec, &m);
            let got = npy::from_bytes(&bytes);
            if let Mutation::None = m {
                let a = got.map_err(|e| TestCaseError::fail(format!("valid file refused: {e}")))?;
                prop_assert_eq!(a, spec.array());
                return Ok(());
            }
            match got {
                Ok(a) => check_accepted(&bytes, &a),
                Err(_) => Ok(()),
            }
        })
        .unwrap();
}

/// Shapes of the right ranks for `op` most of the time, any shape otherwise.
fn shapes_for(op: Op) -> BoxedStrategy<Vec<Vec<usize>>> {
    let d = || 0usize..6;
    let fitting: BoxedStrategy<Vec<Vec<usize>>> = match op {
        Op::Unary(_) => any_shape().prop_map(|s| vec![s]).boxed(),
        Op::Image2vector => (d(), d(), d())
            .prop_map(|(a, b, c)| vec![vec![a, b, c]])
            .boxed(),
        Op::NormalizeRows | Op::Softmax => (d(), d()).prop_map(|(a, b)| vec![vec![a, b]]).boxed(),
        Op::Multiply => any_shape().prop_map(|s| vec![s.clone(), s]).boxed(),
        Op::Dot | Op::L1 | Op::L2 => d().prop_map(|n| vec![vec![n], vec![n]]).boxed(),
        Op::Outer => (d(), d()).prop_map(|(a, b)| vec![vec![a], vec![b]]).boxed(),
        Op::Matvec => (d(), d())
            .prop_map(|(m, k)| vec![vec![m, k], vec![k]])
            .boxed(),
        Op::Matmul => (d(), d(), d())
            .prop_map(|(m, k, n)| vec![vec![m, k], vec![k, n]])
            .boxed(),
    };
    let anything = proptest::collection::vec(any_shape(), op.arity()..=op.arity()).boxed();
    prop_oneof![4 => fitting, 1 => anything].boxed()
}

/// The op in float64 on the inputs' values: the result, and each value's error
/// bound. Bounds (f32 eps units), from the analyses in tests/elementwise.rs,
/// tests/rows.rs and tests/common/products.rs at these sizes (n <= 5, |x| <= 8):
/// the unary ops: at most (4 + 2 (3 + 4|x|)) ulp (tanh_derivative's GPU
/// bound) plus naive's derivatives' 2.5 eps absolutely, so 80 relative; softmax: exp of
/// |t| <= 16 within 43 ulp on the GPU plus a sum within 43, so 128 relative;
/// normalize_rows: a sum of squares and a square root, 64 relative; sums of n
/// products (dot, matvec, matmul, l1, l2): (n + 32) eps times the sum of the
/// terms' magnitudes; multiply and outer: one rounding.
fn oracle(op: Op, x: &[ArrayViewD<'_, f32>], axis: usize) -> Option<(ArrayD<f64>, ArrayD<f64>)> {
    let f = |a: &ArrayViewD<'_, f32>| a.mapv(f64::from);
    let tiny = f64::from(f32::MIN_POSITIVE);
    let rel = |w: &ArrayD<f64>, k: f64| w.mapv(|v| v.abs() * k * EPS + tiny);
    let sum = |terms: Vec<f64>| -> (f64, f64) {
        let n = terms.len() as f64;
        let mag: f64 = terms.iter().map(|t| t.abs()).sum();
        (terms.iter().sum(), (n + 32.0) * EPS * mag + tiny)
    };
    let scalar = |(v, b): (f64, f64)| {
        (
            ArrayD::from_elem(IxDyn(&[]), v),
            ArrayD::from_elem(IxDyn(&[]), b),
        )
    };
    Some(match op {
        Op::Unary(u) => {
            let w = f(&x[0]).mapv(|v| u.reference(v));
            // Within 74 ulp + 2.5 eps absolutely for every op and backend at
            // these sizes (tanh_derivative on the GPU, naive's derivatives).
            let b = rel(&w, 80.0).mapv(|b| b + 2.5 * EPS);
            (w, b)
        }
        Op::Image2vector => {
            let w =
                ArrayD::from_shape_vec(IxDyn(&[x[0].len(), 1]), f(&x[0]).iter().copied().collect())
                    .ok()?;
            let b = w.mapv(|_| 0.0);
            (w, b)
        }
        Op::Multiply => {
            let w = &f(&x[0]) * &f(&x[1]);
            let b = rel(&w, 1.0);
            (w, b)
        }
        Op::NormalizeRows | Op::Softmax => {
            let m = f(&x[0]).into_dimensionality::<Ix2>().ok()?;
            let mut w = m.clone();
            for mut lane in w.lanes_mut(Axis(axis)) {
                if op == Op::Softmax {
                    let max = lane.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
                    lane.mapv_inplace(|v| (v - max).exp());
                    let s: f64 = lane.sum();
                    lane.mapv_inplace(|v| v / s);
                } else {
                    let norm = lane.mapv(|v| v * v).sum().sqrt();
                    if norm > 0.0 {
                        lane.mapv_inplace(|v| v / norm);
                    }
                }
            }
            let w = w.into_dyn();
            let b = rel(&w, if op == Op::Softmax { 128.0 } else { 64.0 });
            (w, b)
        }
        Op::Dot | Op::L1 | Op::L2 => {
            let (a, c) = (f(&x[0]), f(&x[1]));
            let terms = a.iter().zip(c.iter()).map(|(&p, &q)| match op {
                Op::Dot => p * q,
                Op::L1 => (q - p).abs(),
                _ => (q - p) * (q - p),
            });
            scalar(sum(terms.collect()))
        }
        Op::Outer => {
            let (a, c) = (f(&x[0]), f(&x[1]));
            let w = ArrayD::from_shape_fn(IxDyn(&[a.len(), c.len()]), |i| a[[i[0]]] * c[[i[1]]]);
            let b = rel(&w, 1.0);
            (w, b)
        }
        Op::Matvec | Op::Matmul => {
            let a = f(&x[0]).into_dimensionality::<Ix2>().ok()?;
            let c = f(&x[1]);
            let c = if op == Op::Matvec {
                c.into_dimensionality::<Ix1>().ok()?.insert_axis(Axis(1))
            } else {
                c.into_dimensionality::<Ix2>().ok()?
            };
            let (m, n) = (a.nrows(), c.ncols());
            let (mut w, mut b) = (ArrayD::zeros(IxDyn(&[m, n])), ArrayD::zeros(IxDyn(&[m, n])));
            for i in 0..m {
                for j in 0..n {
                    let (v, e) = sum(a
                        .row(i)
                        .iter()
                        .zip(c.column(j))
                        .map(|(p, q)| p * q)
                        .collect());
                    w[[i, j]] = v;
                    b[[i, j]] = e;
                }
            }
            if op == Op::Matvec {
                (
                    w.into_shape_with_order(IxDyn(&[m])).ok()?,
                    b.into_shape_with_order(IxDyn(&[m])).ok()?,
                )
            } else {
                (w, b)
            }
        }
    })
}

/// Runs `op` on every backend; all must agree on accepting or refusing, an
/// error must name the op, a result must match the oracle.
fn check_op(op: Op, inputs: &[ArrayD<f32>], axis: Option<usize>) -> Result<(), TestCaseError> {
    let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
    let shapes: Vec<_> = inputs.iter().map(|a| a.shape().to_vec()).collect();
    let mut outcomes = Vec::new();
    for b in backends() {
        let what = format!("{op} on {} of {shapes:?}, axis {axis:?}", b.name());
        match op.run(b, &views, axis) {
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(
                    msg.starts_with(op.name()),
                    "{}: error does not name the op: {}",
                    what,
                    msg
                );
                outcomes.push((b.name(), Err(msg)));
            }
            Ok(got) => {
                let (want, bound) = oracle(op, &views, axis.unwrap_or(1)).ok_or_else(|| {
                    TestCaseError::fail(format!("{what}: accepted input the oracle cannot take"))
                })?;
                prop_assert_eq!(got.shape(), want.shape(), "{}", what);
                for (i, ((&g, &w), &e)) in got.iter().zip(&want).zip(&bound).enumerate() {
                    let d = (f64::from(g) - w).abs();
                    prop_assert!(
                        d <= e,
                        "{}: [{}] got {} want {} (|diff| {:e} > {:e})",
                        what,
                        i,
                        g,
                        w,
                        d,
                        e
                    );
                }
                outcomes.push((b.name(), Ok(())));
            }
        }
    }
    let first_ok = outcomes[0].1.is_ok();
    prop_assert!(
        outcomes.iter().all(|(_, r)| r.is_ok() == first_ok),
        "{} of {:?}, axis {:?}: backends disagree: {:?}",
        op,
        shapes,
        axis,
        outcomes
    );
    Ok(())
}

#[test]
fn ops_match_the_oracle() {
    let op = proptest::sample::select(Op::ALL.to_vec());
    let case = op.prop_flat_map(|op| {
        let axis = prop_oneof![2 => Just(None), 1 => (0usize..3).prop_map(Some)];
        (
            Just(op),
            shapes_for(op),
            axis,
            any::<(bool, bool, bool, u8)>(),
        )
    });
    let case = case.prop_flat_map(|(op, shapes, axis, flags)| {
        let specs: Vec<_> = shapes
            .into_iter()
            .map(|s| {
                spec_of(Just(s)).prop_map(move |mut spec| {
                    spec.f64 = flags.0;
                    spec.fortran = flags.1;
                    spec.big_endian = flags.2;
                    spec.version = 1 + flags.3 % 3;
                    spec
                })
            })
            .collect();
        (Just(op), specs, Just(axis))
    });
    runner(1000)
        .run(&case, |(op, specs, axis)| {
            // Through the reader, as `apply` does: Fortran files come back in
            // Fortran layout, which every backend must take.
            let inputs: Vec<ArrayD<f32>> = specs
                .iter()
                .map(|s| npy::from_bytes(&s.bytes()).expect("a valid file"))
                .collect();
            for (a, s) in inputs.iter().zip(&specs) {
                prop_assert_eq!(a, &s.array());
            }
            check_op(op, &inputs, axis)
        })
        .unwrap();
    // Fortran layout once more, explicitly: a transposed-stride input.
    let f =
        ArrayD::from_shape_vec(IxDyn(&[2, 3]).f(), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    check_op(Op::Softmax, &[f], Some(0)).unwrap();
}

/// The binary on random (sometimes mutated) files: it exits with a status, never
/// a signal; on success `--out` holds the library's result on that backend, bit
/// for bit; on failure `--out` still holds what it held and no file was added.
#[test]
fn apply_end_to_end() {
    let names: Vec<&str> = backends().iter().map(|b| b.name()).collect();
    let op = proptest::sample::select(Op::ALL.to_vec());
    let case = op.prop_flat_map(move |op| {
        (
            Just(op),
            shapes_for(op).prop_flat_map(|shapes| {
                shapes
                    .into_iter()
                    .map(|s| spec_of(Just(s)))
                    .collect::<Vec<_>>()
            }),
            prop_oneof![3 => Just(Mutation::None), 1 => mutation()],
            prop_oneof![2 => Just(None), 1 => (0usize..3).prop_map(Some)],
            proptest::sample::select(names.clone()),
        )
    });
    runner(16)
        .run(&case, |(op, specs, m, axis, backend)| {
            let dir = tempfile::tempdir().unwrap();
            let mut args = vec!["apply".to_string(), op.name().to_string()];
            for (i, s) in specs.iter().enumerate() {
                let p = dir.path().join(format!("in{i}.npy"));
                let bytes = if i == 0 { mutate(s, &m) } else { s.bytes() };
                std::fs::write(&p, bytes).unwrap();
                args.push(p.to_str().unwrap().into());
            }
            let out = dir.path().join("out.npy");
            std::fs::write(&out, b"the previous result").unwrap();
            let before = listing(dir.path());
            args.extend([
                "--out".into(),
                out.to_str().unwrap().into(),
                "--backend".into(),
                backend.into(),
            ]);
            if let Some(a) = axis {
                args.extend(["--axis".into(), a.to_string()]);
            }
            let o = Command::new(env!("CARGO_BIN_EXE_gpu-basics"))
                .args(&args)
                .output()
                .unwrap();
            let msg = String::from_utf8_lossy(&o.stderr).into_owned();
            prop_assert!(
                o.status.code().is_some(),
                "{:?} died by a signal: {}",
                args,
                msg
            );
            prop_assert_eq!(listing(dir.path()), before, "{:?}", args);
            if o.status.success() {
                let got = npy::read(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let inputs: Vec<ArrayD<f32>> = args[2..2 + specs.len()]
                    .iter()
                    .map(|p| npy::read(Path::new(p)).unwrap())
                    .collect();
                let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
                let b = backends()
                    .into_iter()
                    .find(|b| b.name() == backend)
                    .unwrap();
                let want = op.run(b, &views, axis).unwrap();
                prop_assert_eq!(got.shape(), want.shape());
                prop_assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(g, w)| g.to_bits() == w.to_bits()),
                    "{:?}: {} vs {}",
                    args,
                    got,
                    want
                );
            } else {
                prop_assert!(msg.starts_with("error: "), "{:?}: {}", args, msg);
                prop_assert_eq!(
                    std::fs::read(&out).unwrap(),
                    b"the previous result".to_vec()
                );
            }
            Ok(())
        })
        .unwrap();
}
