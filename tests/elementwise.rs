//! The unary ops (sigmoid, sigmoid_derivative and every other op of
//! `Unary::ALL`), multiply, image2vector (and basic_sigmoid) on every backend: the
//! exercise's numbers, a float64 oracle on random and awkward shapes, each op's
//! edges, and bad input. The unary tests loop over `Unary::ALL`; a new op needs
//! only its tolerance in `unary_tol` (a missing one does not compile).

mod common;

use common::{
    BackendCase, GpuCase, Outcome, Tol, check_close, check_expected, fail, same_bits, values,
};
use gpu_basics::{Backend, Error, Gpu, MapVariant, Unary};
use ndarray::{Array3, ArrayD, ArrayViewD, IxDyn, s};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const EPS: f64 = f32::EPSILON as f64; // 2^-23: one ulp relative, at worst

/// Error in ulp of the exp that `backend` uses, for an argument of magnitude
/// `t`: WGSL's `exp` is accurate to 3 + 2|t| ulp (WGSL spec, "Floating point
/// accuracy"); the CPU backend's own vectorized exp (src/cpu/simd.rs) is within
/// 1.01 ulp, measured over every f32 in [-104, 0] (`exp_error_exhaustive`);
/// Rust's f32 `exp` (naive) within 1 ulp.
fn exp_ulp(backend: &str, t: f64) -> f64 {
    match backend {
        "gpu" => 3.0 + 2.0 * t,
        "cpu" => 1.01,
        _ => 1.0,
    }
}

/// Tolerance for each unary op on `backend`: |got - want| <= atol + rtol(|x|) |want|.
/// Relative errors of the steps add; WGSL's `+`, `-` and `*` are correctly
/// rounded (0.5 ulp) and its `/` is within 2.5 ulp (the CPU's: 0.5).
///
/// - sigmoid, sigmoid_derivative: e = exp(-|x|) (E ulp), 1 + e (0.5 + 0.5E), the
///   division; the derivative's d*d adds 1.5 ulp. gpu: 5 + E = (8 + 2|x|) ulp; naive:
///   1 + 2 * (0.5 + 0.5) + 0.5 + 0.5 = 4 ulp; cpu: the same sum with 1.01 gives
///   4.03 ulp, so 4.5 is allowed. naive's derivative computes s * (1 - s) as
///   the exercise does: once s is close to 1, 1 - s keeps only the absolute
///   error of s (about 1 ulp of 1.0), so the bound there is absolute, 2 ulp of 1.0.
/// - tanh, gpu: below |x| = 0.35 the series is within 1 ulp (its tail is 0.01
///   ulp, the terms after x add up to 4% of x, so their roundings count 0.13 ulp,
///   and the final add 0.5). Above, with e = exp(-2|x|) (E ulp) and
///   w = e / (1 - e) <= 0.99, 1 - e carries 0.5 + E w, 1 + e 0.5 + E w, then
///   the division (2.5): 3.5 + 2 E w; 4 is allowed for the constant. cpu:
///   -m / (2 + m) with m = expm1(-2|x|) within 0.94 ulp (`expm1_error`): -m
///   0.94, 2 + m 0.5 + 0.47 (m's error is at most 0.94 ulp of a value below 1,
///   half an ulp of 2 + m), the division 0.5: 2.41, so 3. naive: glibc
///   documents tanhf within 2 ulp.
/// - tanh_derivative: cpu 4e / (1 + e)^2: e (E), 1 + e squared
///   (2 (0.5 + 0.5E) plus 0.5), 4e exact, the division: 2E + 2. gpu (2 e1)^2 / (1 + e1^2)^2 with
///   e1 = exp(-|x|) (E = 3 + 2|x|): the numerator 2E + 0.5, e1^2 the same,
///   weighted by w = e / (1 + e) <= 1/2 in 1 + e1^2 (0.5 + (2E + 0.5) w),
///   squared (1.5 + (4E + 1) w), the division 2.5: 4.5 + 2E + (4E + 1) w. naive computes
///   1 - t^2: t within 2 ulp (< 2^-23 absolutely), t^2 within 2.3 EPS of 1.0
///   absolutely, the subtraction 0.5 ulp: 2.5 EPS absolute + 1 ulp.
/// - relu, relu_derivative: exact.
/// - everywhere: results below the smallest normal f32 (2^-126) have fewer
///   significant bits, and WGSL may flush them to zero, so 2^-126 is allowed
///   absolutely.
fn unary_tol(op: Unary, backend: &'static str) -> Tol {
    let tiny = f64::from(f32::MIN_POSITIVE);
    let (atol, rtol): (f64, Box<dyn Fn(f64) -> f64 + Sync>) = match (op, backend) {
        (Unary::Sigmoid | Unary::SigmoidDerivative, "gpu") => {
            (tiny, Box::new(|ax| (5.0 + exp_ulp("gpu", ax)) * EPS))
        }
        (Unary::SigmoidDerivative, "naive") => (tiny + 2.0 * EPS, Box::new(|_| 4.0 * EPS)),
        (Unary::Sigmoid | Unary::SigmoidDerivative, "cpu") => (tiny, Box::new(|_| 4.5 * EPS)),
        (Unary::Sigmoid | Unary::SigmoidDerivative, _) => (tiny, Box::new(|_| 4.0 * EPS)),
        (Unary::Tanh, "naive") => (tiny, Box::new(|_| 2.0 * EPS)),
        (Unary::Tanh, "gpu") => (
            tiny,
            Box::new(|ax| {
                let e = (-2.0 * ax).exp();
                let w = if ax < 0.35 { 0.0 } else { e / (1.0 - e) };
                (4.0 + 2.0 * exp_ulp("gpu", 2.0 * ax) * w) * EPS
            }),
        ),
        (Unary::Tanh, _) => (tiny, Box::new(|_| 3.0 * EPS)),
        (Unary::TanhDerivative, "naive") => (tiny + 2.5 * EPS, Box::new(|_| EPS)),
        (Unary::TanhDerivative, "gpu") => (
            tiny,
            Box::new(|ax| {
                let (big_e, e) = (exp_ulp("gpu", ax), (-2.0 * ax).exp());
                (4.5 + 2.0 * big_e + (4.0 * big_e + 1.0) * e / (1.0 + e)) * EPS
            }),
        ),
        (Unary::TanhDerivative, _) => (
            tiny,
            Box::new(move |ax| (2.0 + 2.0 * exp_ulp(backend, 2.0 * ax)) * EPS),
        ),
        (Unary::Relu | Unary::ReluDerivative, _) => (0.0, Box::new(|_| 0.0)),
    };
    Tol { atol, rtol }
}

fn oracle(x: &ArrayViewD<'_, f32>, op: Unary) -> ArrayD<f64> {
    x.mapv(|v| op.reference(f64::from(v)))
}

/// Every unary op on `x` against its float64 reference.
fn check_unary(b: &dyn Backend, x: ArrayViewD<'_, f32>) -> Outcome {
    for &op in Unary::ALL {
        let got = b.unary(op, x.view())?;
        check_close(
            op.name(),
            &x,
            &got,
            &oracle(&x, op),
            &unary_tol(op, b.name()),
        )?;
    }
    Ok(())
}

/// Products of two f32 are exact in f64, so rounding that to f32 is the correctly
/// rounded product every backend must produce bit for bit.
fn check_multiply(b: &dyn Backend, a: ArrayViewD<'_, f32>, c: ArrayViewD<'_, f32>) -> Outcome {
    let got = b.multiply(a.view(), c.view())?;
    let want = ndarray::Zip::from(&a)
        .and(&c)
        .map_collect(|&x, &y| (f64::from(x) * f64::from(y)) as f32);
    same_bits("multiply", got.view(), want.view())
}

fn arr(shape: &[usize], seed: u64, lo: f32, hi: f32) -> ArrayD<f32> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), values(n, seed, lo, hi)).unwrap()
}

// ---- the exercise's numbers ----

fn basic_sigmoid_exercise(b: &dyn Backend) -> Outcome {
    let got = [b.basic_sigmoid(1.0)?, b.basic_sigmoid(3.0)?];
    check_expected(
        "basic_sigmoid",
        &got,
        &[0.7310585786300049, 0.9525741268224334],
        1e-6,
    )?;
    // The float64 scalar function matches the exercise to its printed digits.
    let exact = [
        gpu_basics::basic_sigmoid(1.0),
        gpu_basics::basic_sigmoid(3.0),
    ];
    if (exact[0] - 0.7310585786300049).abs() > 1e-15
        || (exact[1] - 0.9525741268224334).abs() > 1e-15
    {
        return Err(fail(format!("basic_sigmoid (f64): {exact:?}")));
    }
    Ok(())
}

fn sigmoid_exercise(b: &dyn Backend) -> Outcome {
    let x = ndarray::array![1.0f32, 2.0, 3.0].into_dyn();
    let got = b.sigmoid(x.view())?;
    check_expected(
        "sigmoid",
        got.as_slice().unwrap(),
        &[0.73105858, 0.88079708, 0.95257413],
        1e-6,
    )?;
    let got = b.sigmoid_derivative(x.view())?;
    check_expected(
        "sigmoid_derivative",
        got.as_slice().unwrap(),
        &[0.19661193, 0.10499359, 0.04517666],
        1e-6,
    )
}

const X1: [f32; 15] = [9., 2., 5., 0., 0., 7., 5., 0., 0., 0., 9., 2., 5., 0., 0.];
const X2: [f32; 15] = [9., 2., 2., 9., 0., 9., 2., 5., 0., 0., 9., 2., 5., 0., 0.];

fn multiply_exercise(b: &dyn Backend) -> Outcome {
    let (a, c) = (ndarray::arr1(&X1).into_dyn(), ndarray::arr1(&X2).into_dyn());
    let got = b.multiply(a.view(), c.view())?;
    let want = [
        81., 4., 10., 0., 0., 63., 10., 0., 0., 0., 81., 4., 25., 0., 0.,
    ];
    check_expected("multiply", got.as_slice().unwrap(), &want, 0.0)
}

// The exercise's digits verbatim; they round to the nearest f32.
#[allow(clippy::excessive_precision)]
const IMAGE: [f32; 18] = [
    0.67826139, 0.29380381, 0.90714982, 0.52835647, 0.4215251, 0.45017551, 0.92814219, 0.96677647,
    0.85304703, 0.52351845, 0.19981397, 0.27417313, 0.60659855, 0.00533165, 0.10820313, 0.49978937,
    0.34144279, 0.94630077,
];

fn image2vector_exercise(b: &dyn Backend) -> Outcome {
    let image = Array3::from_shape_vec((3, 3, 2), IMAGE.to_vec()).unwrap();
    let got = b.image2vector(image.view())?;
    if got.dim() != (18, 1) {
        return Err(fail(format!("image2vector: shape {:?}", got.dim())));
    }
    let want: Vec<f64> = IMAGE.iter().map(|&v| f64::from(v)).collect();
    check_expected("image2vector", got.as_slice().unwrap(), &want, 0.0)
}

// ---- random inputs of many shapes ----

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn prop_result<T: std::fmt::Debug>(r: Result<(), proptest::test_runner::TestError<T>>) -> Outcome {
    r.map_err(|e| fail(e.to_string()))
}

/// Up to 4-D, each side 0..=9 (so empty arrays, single elements and odd sides come up).
fn shapes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..=9, 0..=4)
}

fn unary_random_shapes(b: &dyn Backend) -> Outcome {
    prop_result(runner(48).run(
        &(shapes(), any::<u64>(), 1.0f32..100.0),
        |(shape, seed, range)| {
            let x = arr(&shape, seed, -range, range);
            check_unary(b, x.view())
                .map_err(|e| TestCaseError::fail(e.message().unwrap_or_default().to_string()))
        },
    ))
}

fn multiply_random_shapes(b: &dyn Backend) -> Outcome {
    prop_result(runner(48).run(&(shapes(), any::<u64>()), |(shape, seed)| {
        let (x, y) = (
            arr(&shape, seed, -1e3, 1e3),
            arr(&shape, seed ^ 1, -1e-3, 1e3),
        );
        check_multiply(b, x.view(), y.view())
            .map_err(|e| TestCaseError::fail(e.message().unwrap_or_default().to_string()))
    }))
}

/// Lengths around the GPU's boundaries: a vec4 (4), a workgroup of 64 vec4s (256
/// elements), many workgroups, and past 65,535 workgroups of one dimension
/// (65,535 * 256 = 16,776,960 elements), where the dispatch folds into 2-D.
fn elementwise_awkward_lengths(b: &dyn Backend) -> Outcome {
    for n in [
        1, 2, 3, 4, 5, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 65_537, 16_776_961,
    ] {
        let x = arr(&[n], n as u64, -40.0, 40.0);
        check_unary(b, x.view())
            .map_err(|e| fail(format!("n = {n}: {}", e.message().unwrap_or_default())))?;
        let y = arr(&[n], n as u64 + 7, -2.0, 2.0);
        check_multiply(b, x.view(), y.view())
            .map_err(|e| fail(format!("n = {n}: {}", e.message().unwrap_or_default())))?;
    }
    Ok(())
}

/// 33,554,432 f32 fill one 128 MiB binding (lavapipe's limit); one more element
/// and the GPU must split the array over two bindings.
fn elementwise_larger_than_one_binding(b: &dyn Backend) -> Outcome {
    let n = 33_554_432 + 1_001;
    let x = arr(&[n], 99, -20.0, 20.0);
    check_unary(b, x.view())?;
    let y = arr(&[n], 98, -3.0, 3.0);
    check_multiply(b, x.view(), y.view())
}

/// Transposed, stepped and permuted views: every backend must read them in logical order.
fn non_contiguous_inputs(b: &dyn Backend) -> Outcome {
    let m = arr(&[37, 65], 5, -10.0, 10.0);
    check_unary(b, m.t().into_dyn())?;
    check_unary(b, m.slice(s![..;3, 1..;2]).into_dyn())?;
    let n = arr(&[65, 37], 6, -10.0, 10.0);
    check_multiply(b, m.t().into_dyn(), n.view())?;
    let img = Array3::from_shape_vec((2, 3, 4), (0..24).map(|v| v as f32).collect()).unwrap();
    let permuted = img.view().permuted_axes([2, 0, 1]);
    let got = b.image2vector(permuted)?;
    let want: Vec<f64> = permuted.iter().map(|&v| f64::from(v)).collect();
    check_expected("image2vector", got.as_slice().unwrap(), &want, 0.0)
}

// ---- edges ----

/// Each op's edges (`Unary::edges`: infinities, signed zeros, NaN), bit for bit
/// (any NaN for NaN), at every place of a vector longer than the backends'
/// vector widths, so vector bodies and tails both see each one.
fn unary_edges(b: &dyn Backend) -> Outcome {
    for &op in Unary::ALL {
        let edges = op.edges();
        let n = 67 * edges.len();
        let x = ArrayD::from_shape_fn(IxDyn(&[n]), |i| edges[i[0] % edges.len()].0);
        let got = b.unary(op, x.view())?;
        if got.shape() != x.shape() {
            return Err(fail(format!(
                "{op}: shape {:?} for {:?}",
                got.shape(),
                x.shape()
            )));
        }
        for (i, &g) in got.iter().enumerate() {
            let (x, w) = edges[i % edges.len()];
            if !(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan())) {
                return Err(fail(format!("{op}({x:e}) at [{i}]: {g:e}, want {w:e}")));
            }
        }
    }
    Ok(())
}

/// The bounds of `unary_tol` over the whole range where the results change:
/// every 1/128 from -110 to 110 (past +-104 sigmoid is 0 or 1 in f32 and tanh
/// is +-1 past 9.01; sigmoid falls below 2^-126 at -87.3 and tanh_derivative
/// at |x| = 44, where a GPU may flush), with the integers and the
/// half-integers among them, plus +-inf.
fn unary_whole_range(b: &dyn Backend) -> Outcome {
    let mut v: Vec<f32> = (-110 * 128..=110 * 128).map(|i| i as f32 / 128.0).collect();
    v.extend([f32::INFINITY, f32::NEG_INFINITY]);
    let n = v.len();
    check_unary(b, ArrayD::from_shape_vec(IxDyn(&[n]), v).unwrap().view())
}

/// Tiny and subnormal inputs (where tanh's series and relu pass x through):
/// within each op's bound of the reference on the CPU backends; on the GPU of
/// the reference at x or at x read as +-0 (WGSL may flush subnormals), or a
/// subnormal result flushed to +-0. Named for the difference it allows.
fn unary_subnormals_gpu_may_flush(b: &dyn Backend) -> Outcome {
    let x: Vec<f32> = [1e-40f32, -1e-40, 1e-45, -3e-39, 1e-30, -1e-37, 1.2e-38]
        .into_iter()
        .cycle()
        .take(1003)
        .collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[x.len()]), x).unwrap();
    let flushed = x.mapv(common::ftz);
    for &op in Unary::ALL {
        let got = b.unary(op, x.view())?;
        let tol = unary_tol(op, b.name());
        let exact = check_close(op.name(), &x.view(), &got, &oracle(&x.view(), op), &tol);
        if b.name() != "gpu" || exact.is_ok() {
            exact?;
            continue;
        }
        // Element by element: IEEE's value, the value at the flushed input, or
        // a flushed result.
        for (i, &g) in got.iter().enumerate() {
            let one = |v: f32| ArrayD::from_elem(IxDyn(&[1]), v);
            let at = |input: f32| {
                let want = ArrayD::from_elem(IxDyn(&[1]), op.reference(f64::from(input)));
                check_close(op.name(), &one(x[i]).view(), &one(g), &want, &tol).is_ok()
            };
            let tiny = f64::from(f32::MIN_POSITIVE);
            let flushed_result = g == 0.0 && op.reference(f64::from(x[i])).abs() < tiny;
            if !(at(x[i]) || at(flushed[i]) || flushed_result) {
                return Err(fail(format!("{op}({:e}) = {g:e}", x[i])));
            }
        }
    }
    Ok(())
}

/// NaN and inf are values: multiply gives IEEE's products (inf * 0 is NaN, the
/// signs of infinities and zeros kept), at every place of a vector longer than
/// the backends' vector widths.
fn multiply_nan_and_inf(b: &dyn Backend) -> Outcome {
    let inf = f32::INFINITY;
    let a = [f32::NAN, inf, inf, -inf, 0.0, 1.0, -0.0, 3.0, -inf];
    let c = [1.0, 0.0, -2.0, -inf, inf, f32::NAN, 5.0, -0.0, -0.0];
    let n = 1003;
    let x = ArrayD::from_shape_fn(IxDyn(&[n]), |i| a[i[0] % a.len()]);
    let y = ArrayD::from_shape_fn(IxDyn(&[n]), |i| c[(i[0] + i[0] / a.len()) % c.len()]);
    check_multiply(b, x.view(), y.view())
}

/// Subnormal operands and products (inf * 1e-40, 1e-40 * 3e38, 1e-20 * 1e-20):
/// IEEE's products on the CPU backends; on the GPU the IEEE product or the one
/// with subnormals read as zero (inf * 0 = NaN), which WGSL allows and
/// SwiftShader gives. Named for the difference it allows.
fn multiply_subnormals_gpu_may_flush(b: &dyn Backend) -> Outcome {
    let inf = f32::INFINITY;
    let a = [
        inf, 1e-40, 1e-40, 1e-20, -1e-40, 1e-40, -inf, 1e-38, 1.5, 3e-39,
    ];
    let c = [1e-40, 3e38, 1.0, 1e-20, 2.0, 0.0, -1e-40, 0.5, 2.0, -3e-39];
    let n = 1003;
    let x = ArrayD::from_shape_fn(IxDyn(&[n]), |i| a[i[0] % a.len()]);
    let y = ArrayD::from_shape_fn(IxDyn(&[n]), |i| c[(i[0] + i[0] / a.len()) % c.len()]);
    let got = b.multiply(x.view(), y.view())?;
    let exact: Vec<f32> = x.iter().zip(&y).map(|(p, q)| p * q).collect();
    let flushed: Vec<f32> = x
        .iter()
        .zip(&y)
        .map(|(&p, &q)| common::ftz(common::ftz(p) * common::ftz(q)))
        .collect();
    let got: Vec<f32> = got.iter().copied().collect();
    common::exact_or_flushed("multiply", b.name(), &got, &exact, &flushed)
}

fn empty_and_single(b: &dyn Backend) -> Outcome {
    for shape in [
        vec![0],
        vec![3, 0],
        vec![0, 5, 2],
        vec![],
        vec![1],
        vec![1, 1, 1],
    ] {
        let x = arr(&shape, 3, -5.0, 5.0);
        check_unary(b, x.view())?;
        check_multiply(b, x.view(), x.view())?;
        if b.sigmoid(x.view())?.shape() != shape.as_slice() {
            return Err(fail(format!("sigmoid changed shape {shape:?}")));
        }
    }
    let empty_image = Array3::<f32>::zeros((0, 3, 2));
    let v = b.image2vector(empty_image.view())?;
    if v.dim() != (0, 1) {
        return Err(fail(format!(
            "image2vector of (0, 3, 2) gave {:?}",
            v.dim()
        )));
    }
    Ok(())
}

fn multiply_shape_mismatch(b: &dyn Backend) -> Outcome {
    let (x, y) = (arr(&[2, 3], 1, 0.0, 1.0), arr(&[3, 2], 2, 0.0, 1.0));
    match b.multiply(x.view(), y.view()) {
        Err(e @ Error::Shape { op: "multiply", .. }) => {
            let msg = e.to_string();
            if msg.contains("[2, 3]") && msg.contains("[3, 2]") {
                Ok(())
            } else {
                Err(fail(format!("message does not name both shapes: {msg}")))
            }
        }
        other => Err(fail(format!(
            "expected a multiply shape error, got {other:?}"
        ))),
    }
}

// ---- the `_into` variants ----

/// Every unary op's `_into` (and the generated `sigmoid_into`) and
/// multiply_into give the allocating ops' results, into contiguous outputs (prefilled with garbage) and into
/// transposed ones, from contiguous and transposed inputs, at empty, scalar,
/// odd and threaded sizes.
fn into_variants(b: &dyn Backend) -> Outcome {
    let shapes: [&[usize]; 8] = [
        &[0],
        &[],
        &[1],
        &[7],
        &[1025],
        &[3, 257],
        &[37, 65],
        &[300_001],
    ];
    for (k, &shape) in shapes.iter().enumerate() {
        let x = arr(shape, 40 + k as u64, -12.0, 12.0);
        let y = arr(shape, 60 + k as u64, -3.0, 3.0);
        let mut out = ArrayD::from_elem(IxDyn(shape), f32::NAN);
        b.sigmoid_into(x.view(), out.view_mut())?;
        same_bits("sigmoid_into", out.view(), b.sigmoid(x.view())?.view())?;
        for &op in Unary::ALL {
            out.fill(7.0);
            b.unary_into(op, x.view(), out.view_mut())?;
            same_bits(op.into_name(), out.view(), b.unary(op, x.view())?.view())?;
        }
        out.fill(-1.0);
        b.multiply_into(x.view(), y.view(), out.view_mut())?;
        same_bits(
            "multiply_into",
            out.view(),
            b.multiply(x.view(), y.view())?.view(),
        )?;
    }
    // A transposed output, and transposed inputs.
    let x = arr(&[37, 65], 7, -12.0, 12.0);
    let y = arr(&[65, 37], 8, -3.0, 3.0);
    let mut backing = ndarray::Array2::<f32>::from_elem((65, 37), f32::NAN);
    let mut out = backing.view_mut().reversed_axes().into_dyn();
    for &op in Unary::ALL {
        out.fill(f32::NAN);
        b.unary_into(op, x.view(), out.view_mut())?;
        let what = format!("{} (transposed out)", op.into_name());
        same_bits(&what, out.view(), b.unary(op, x.view())?.view())?;
    }
    b.multiply_into(x.view(), y.t().into_dyn(), out.view_mut())?;
    same_bits(
        "multiply_into (transposed out and input)",
        out.view(),
        b.multiply(x.view(), y.t().into_dyn())?.view(),
    )?;
    Ok(())
}

/// A wrong `out` is an error that names the op and both shapes; a mismatch of
/// the inputs is multiply's error, under the `_into` name.
fn into_bad_out(b: &dyn Backend) -> Outcome {
    let x = arr(&[2, 3], 1, 0.0, 1.0);
    let mut wrong = ArrayD::<f32>::zeros(IxDyn(&[3, 2]));
    let expect = |r: Result<(), Error>, op: &str, parts: &[&str]| -> Outcome {
        match r {
            Err(e @ Error::Shape { .. }) if e.to_string().contains(op) => {
                let msg = e.to_string();
                match parts.iter().find(|p| !msg.contains(*p)) {
                    None => Ok(()),
                    Some(p) => Err(fail(format!("{op}: message lacks {p}: {msg}"))),
                }
            }
            other => Err(fail(format!("{op}: expected a shape error, got {other:?}"))),
        }
    };
    for &op in Unary::ALL {
        expect(
            b.unary_into(op, x.view(), wrong.view_mut()),
            op.into_name(),
            &["(3, 2)", "(2, 3)"],
        )?;
    }
    expect(
        b.sigmoid_derivative_into(x.view(), wrong.view_mut()),
        "sigmoid_derivative_into",
        &["(3, 2)", "(2, 3)"],
    )?;
    expect(
        b.multiply_into(x.view(), x.view(), wrong.view_mut()),
        "multiply_into",
        &["(3, 2)", "(2, 3)"],
    )?;
    let y = arr(&[3, 2], 2, 0.0, 1.0);
    let mut out = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    expect(
        b.multiply_into(x.view(), y.view(), out.view_mut()),
        "multiply_into",
        &["[2, 3]", "[3, 2]"],
    )
}

/// A context with tiny bindings and a 3-workgroup-per-dimension cap drives the
/// splitting paths with small arrays: many windows, and 2-D grids in each.
fn splitting_paths(_: &Gpu) -> Outcome {
    let small = common::small_gpu(4096, Some(3))?;
    for n in [1, 255, 256, 257, 768, 769, 1023, 1024, 1025, 3000, 9999] {
        let x = arr(&[n], n as u64, -8.0, 8.0);
        let y = arr(&[n], n as u64 + 1, -8.0, 8.0);
        let what = |e: common::Failed| fail(format!("n = {n}: {}", e.message().unwrap_or("")));
        check_unary(&small, x.view()).map_err(what)?;
        check_multiply(&small, x.view(), y.view()).map_err(what)?;
    }
    Ok(())
}

/// Every variant of the `map` family (workgroup size x vec4s per invocation),
/// pinned, gives every op's results within its bound: at lengths around one
/// workgroup's span E (1, E - 1, E, E + 1, several E), on a context with 8 KiB
/// bindings and at most 3 workgroups per dimension, so arrays take many windows,
/// each a 2-D grid whose last row runs past the end (`common::pinned`).
fn every_map_variant(_: &Gpu) -> Outcome {
    for v in MapVariant::ALL {
        let gpu = common::pinned("map", v.name(), "tanh", Some(8 << 10), Some(3))?;
        let e = v.elems_per_group() as usize;
        for n in [1, 3, 5, e - 1, e, e + 1, 2 * e + 3, 5 * e - 1, 40_001] {
            let x = arr(&[n], n as u64, -30.0, 30.0);
            let y = arr(&[n], n as u64 + 1, -8.0, 8.0);
            let what = |e: common::Failed| {
                fail(format!(
                    "{} n = {n}: {}",
                    v.name(),
                    e.message().unwrap_or("")
                ))
            };
            check_unary(gpu, x.view()).map_err(what)?;
            check_multiply(gpu, x.view(), y.view()).map_err(what)?;
        }
    }
    Ok(())
}

const CASES: &[BackendCase] = &[
    ("basic_sigmoid_exercise", basic_sigmoid_exercise),
    ("sigmoid_exercise", sigmoid_exercise),
    ("multiply_exercise", multiply_exercise),
    ("image2vector_exercise", image2vector_exercise),
    ("unary_random_shapes", unary_random_shapes),
    ("multiply_random_shapes", multiply_random_shapes),
    ("elementwise_awkward_lengths", elementwise_awkward_lengths),
    (
        "elementwise_larger_than_one_binding",
        elementwise_larger_than_one_binding,
    ),
    ("non_contiguous_inputs", non_contiguous_inputs),
    ("unary_edges", unary_edges),
    ("unary_whole_range", unary_whole_range),
    (
        "unary_subnormals_gpu_may_flush",
        unary_subnormals_gpu_may_flush,
    ),
    ("multiply_nan_and_inf", multiply_nan_and_inf),
    (
        "multiply_subnormals_gpu_may_flush",
        multiply_subnormals_gpu_may_flush,
    ),
    ("empty_and_single", empty_and_single),
    ("multiply_shape_mismatch", multiply_shape_mismatch),
    ("into_variants", into_variants),
    ("into_bad_out", into_bad_out),
];

const GPU_CASES: &[GpuCase] = &[
    ("splitting_paths", splitting_paths),
    ("every_map_variant", every_map_variant),
];

fn main() {
    common::run(CASES, GPU_CASES);
}
