//! `gpu-basics demo`: the exercise, op by op, each result beside the CPU
//! reference and the exercise's expected value.

use gpu_basics::{Backend, Cpu};
use ndarray::{Array3, ArrayD, arr1, array};

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
    Ok(ok)
}
