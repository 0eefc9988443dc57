//! `gpu-basics demo`: the exercise, op by op, each result beside the CPU
//! reference and the exercise's expected value.

use gpu_basics::{Backend, Cpu};
use ndarray::{Array2, Array3, ArrayD, arr1, array};

/// Prints one result beside the expected values and the CPU reference; returns
/// whether it matches both to 1e-6 relative (the exercise prints 8-9 digits).
fn show(name: &str, got: &[f32], cpu: &[f32], expected: &[f64]) -> bool {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1e-12);
    let ok = got.len() == expected.len()
        && got
            .iter()
            .zip(expected)
            .all(|(&g, &e)| close(f64::from(g), e))
        && got
            .iter()
            .zip(cpu)
            .all(|(&g, &c)| close(f64::from(g), f64::from(c)));
    let fmt = |v: &mut dyn Iterator<Item = f64>| {
        v.map(|x| format!("{x:.8}")).collect::<Vec<_>>().join(", ")
    };
    println!("\n{name}  [{}]", if ok { "match" } else { "MISMATCH" });
    println!(
        "  result   : {}",
        fmt(&mut got.iter().map(|&v| f64::from(v)))
    );
    println!(
        "  cpu      : {}",
        fmt(&mut cpu.iter().map(|&v| f64::from(v)))
    );
    println!("  expected : {}", fmt(&mut expected.iter().copied()));
    ok
}

fn flat(a: &ArrayD<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

pub fn demo(b: &dyn Backend) -> Result<bool, gpu_basics::Error> {
    let mut ok = true;
    println!(
        "\nbasic_sigmoid works on one number (the exercise's math.exp); sigmoid on whole arrays."
    );
    let got = [b.basic_sigmoid(3.0)?];
    ok &= show(
        "basic_sigmoid(3)",
        &got,
        &[Cpu.basic_sigmoid(3.0)?],
        &[0.9525741268224334],
    );

    let x = arr1(&[1.0f32, 2.0, 3.0]).into_dyn();
    ok &= show(
        "sigmoid([1, 2, 3])",
        &flat(&b.sigmoid(x.view())?),
        &flat(&Cpu.sigmoid(x.view())?),
        &[0.73105858, 0.88079708, 0.95257413],
    );
    ok &= show(
        "sigmoid_derivative([1, 2, 3])",
        &flat(&b.sigmoid_derivative(x.view())?),
        &flat(&Cpu.sigmoid_derivative(x.view())?),
        &[0.19661193, 0.10499359, 0.04517666],
    );

    #[allow(clippy::excessive_precision)]
    let image: Vec<f32> = vec![
        0.67826139, 0.29380381, 0.90714982, 0.52835647, 0.4215251, 0.45017551, 0.92814219,
        0.96677647, 0.85304703, 0.52351845, 0.19981397, 0.27417313, 0.60659855, 0.00533165,
        0.10820313, 0.49978937, 0.34144279, 0.94630077,
    ];
    let img = Array3::from_shape_vec((3, 3, 2), image.clone()).expect("18 values");
    let v = b.image2vector(img.view())?;
    println!("\nimage2vector: (3, 3, 2) image -> {:?} column", v.dim());
    let expected: Vec<f64> = image.iter().map(|&p| f64::from(p)).collect();
    ok &= show(
        "image2vector(image)",
        &v.iter().copied().collect::<Vec<_>>(),
        &Cpu.image2vector(img.view())?
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        &expected,
    );

    let x1 = arr1(&[
        9.0f32, 2., 5., 0., 0., 7., 5., 0., 0., 0., 9., 2., 5., 0., 0.,
    ])
    .into_dyn();
    let x2 = arr1(&[
        9.0f32, 2., 2., 9., 0., 9., 2., 5., 0., 0., 9., 2., 5., 0., 0.,
    ])
    .into_dyn();
    ok &= show(
        "multiply(x1, x2)",
        &flat(&b.multiply(x1.view(), x2.view())?),
        &flat(&Cpu.multiply(x1.view(), x2.view())?),
        &[
            81., 4., 10., 0., 0., 63., 10., 0., 0., 0., 81., 4., 25., 0., 0.,
        ],
    );

    let x = array![[0.0f32, 3.0, 4.0], [1.0, 6.0, 4.0]];
    ok &= show(
        "normalize_rows([[0, 3, 4], [1, 6, 4]])",
        &b.normalize_rows(x.view())?
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        &Cpu.normalize_rows(x.view())?
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        &[0.0, 0.6, 0.8, 0.13736056, 0.82416338, 0.54944226],
    );
    let x = array![[9.0f32, 2.0, 5.0, 0.0, 0.0], [7.0, 5.0, 0.0, 0.0, 0.0]];
    ok &= show(
        "softmax([[9, 2, 5, 0, 0], [7, 5, 0, 0, 0]])",
        &b.softmax(x.view())?.iter().copied().collect::<Vec<_>>(),
        &Cpu.softmax(x.view())?.iter().copied().collect::<Vec<_>>(),
        &[
            9.80897665e-01,
            8.94462891e-04,
            1.79657674e-02,
            1.21052389e-04,
            1.21052389e-04,
            8.78679856e-01,
            1.18916387e-01,
            8.01252314e-04,
            8.01252314e-04,
            8.01252314e-04,
        ],
    );
    println!(
        "\nsoftmax subtracts each row's maximum first, so softmax([[1000, 1000]]) = [[0.5, 0.5]], not NaN."
    );
    ok &= products(b, &x1, &x2)?;
    ok &= losses(b)?;
    Ok(ok)
}

fn products(
    b: &dyn Backend,
    x1: &ArrayD<f32>,
    x2: &ArrayD<f32>,
) -> Result<bool, gpu_basics::Error> {
    let (v1, v2) = (
        x1.view().into_dimensionality().expect("1-D"),
        x2.view().into_dimensionality().expect("1-D"),
    );
    let mut ok = true;
    println!("\nProducts of x1 and x2, then W @ x1 and A @ B with random W (3x15) and B (15x4).");
    ok &= show(
        "dot(x1, x2)",
        &[b.dot(v1, v2)?],
        &[Cpu.dot(v1, v2)?],
        &[278.0],
    );
    let outer = b.outer(v1, v2)?;
    let cpu_outer = Cpu.outer(v1, v2)?;
    println!("\nouter(x1, x2): a {:?} matrix", outer.dim());
    ok &= show(
        "outer(x1, x2), first row",
        &outer.row(0).to_vec(),
        &cpu_outer.row(0).to_vec(),
        &[
            81., 18., 18., 81., 0., 81., 18., 45., 0., 0., 81., 18., 45., 0., 0.,
        ],
    );
    ok &= show(
        "outer(x1, x2), sum of all entries",
        &[outer.sum()],
        &[cpu_outer.sum()],
        &[2376.0],
    );
    let w = rand_matrix(3, 15, 1);
    let x1_col = Array2::from_shape_vec((15, 1), v1.to_vec()).expect("15 values");
    ok &= show(
        "matvec(W, x1) = W @ x1",
        &b.matvec(w.view(), v1)?.to_vec(),
        &Cpu.matvec(w.view(), v1)?.to_vec(),
        &matmul64(&w, &x1_col),
    );
    let m = rand_matrix(15, 4, 2);
    ok &= show(
        "matmul(W, B) = W @ B (3x4, row by row)",
        &b.matmul(w.view(), m.view())?
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        &Cpu.matmul(w.view(), m.view())?
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        &matmul64(&w, &m),
    );
    Ok(ok)
}

fn losses(b: &dyn Backend) -> Result<bool, gpu_basics::Error> {
    let yhat = arr1(&[0.9f32, 0.2, 0.1, 0.4, 0.9]);
    let y = arr1(&[1.0f32, 0.0, 0.0, 1.0, 1.0]);
    println!("\nLosses of yhat = {yhat} against y = {y}.");
    let mut ok = show(
        "l1(yhat, y)",
        &[b.l1(yhat.view(), y.view())?],
        &[Cpu.l1(yhat.view(), y.view())?],
        &[1.1],
    );
    ok &= show(
        "l2(yhat, y)",
        &[b.l2(yhat.view(), y.view())?],
        &[Cpu.l2(yhat.view(), y.view())?],
        &[0.43],
    );
    Ok(ok)
}

fn rand_matrix(m: usize, n: usize, seed: u64) -> Array2<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Array2::from_shape_fn((m, n), |_| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    })
}

/// A @ B in float64: the expected values for the random products.
fn matmul64(a: &Array2<f32>, b: &Array2<f32>) -> Vec<f64> {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let mut out = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                out[i * n + j] += f64::from(a[[i, p]]) * f64::from(b[[p, j]]);
            }
        }
    }
    out
}
