//! The `gpu-basics` command: `apply` against the library through .npy files, its
//! errors (non-zero exit, a message, no output file), and the shape of the
//! `demo` and `bench --quick` output. `apply` and `demo` run on every backend (gpu
//! where there is an adapter); the rest on the CPU backends.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{backends, listing};

use gpu_basics::{Backend, Cpu, Op};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyExt, WriteNpyExt, read_npy, write_npy};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpu-basics"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// `gpu-basics apply sigmoid INPUT --out OUT --backend BACKEND`.
fn sigmoid_on(backend: &str, input: &str, out: &str) -> Output {
    run(&[
        "apply",
        "sigmoid",
        input,
        "--out",
        out,
        "--backend",
        backend,
    ])
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn array(shape: &[usize], seed: usize) -> ArrayD<f32> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n)
            .map(|i| ((i * 7919 + seed * 31) % 997) as f32 / 100.0 - 5.0)
            .collect(),
    )
    .unwrap()
}

/// Inputs of the right ranks and sizes for each op.
fn shapes_for(op: Op) -> Vec<Vec<usize>> {
    match op {
        Op::Image2vector => vec![vec![3, 4, 2]],
        Op::NormalizeRows | Op::Softmax => vec![vec![5, 7]],
        Op::Unary(_) => vec![vec![4, 6]],
        Op::Multiply => vec![vec![4, 6], vec![4, 6]],
        Op::Dot | Op::L1 | Op::L2 => vec![vec![9], vec![9]],
        Op::Outer => vec![vec![4], vec![5]],
        Op::Matvec => vec![vec![4, 6], vec![6]],
        Op::Matmul => vec![vec![4, 6], vec![6, 3]],
    }
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// `apply` on every op and backend gives the library's own result on that
/// backend, bit for bit (the same kernels on the same device): the command adds
/// only file handling.
#[test]
fn apply_matches_the_library_on_every_op() {
    let dir = tempfile::tempdir().unwrap();
    for backend in backends() {
        let name = backend.name();
        for &op in Op::ALL {
            let inputs: Vec<ArrayD<f32>> = shapes_for(op)
                .iter()
                .enumerate()
                .map(|(i, s)| array(s, i))
                .collect();
            let mut args = vec!["apply".to_string(), op.name().to_string()];
            for (i, a) in inputs.iter().enumerate() {
                let p = path(dir.path(), &format!("{op}_in{i}.npy"));
                write_npy(&p, a).unwrap();
                args.push(p);
            }
            let out = path(dir.path(), &format!("{op}_{name}_out.npy"));
            args.extend(["--out".into(), out.clone(), "--backend".into(), name.into()]);
            let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(o.status.success(), "{op} on {name}: {}", text(&o));
            let got: ArrayD<f32> = read_npy(&out).unwrap();
            let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
            let want = op.run(backend, &views, None).unwrap();
            assert_eq!(got, want, "{op} on {name}");
        }
    }
}

/// With `--out /dev/stdout`, stdout holds the .npy file and nothing else (the
/// status line goes to stderr).
#[cfg(unix)]
#[test]
fn apply_to_stdout_writes_only_the_array() {
    let dir = tempfile::tempdir().unwrap();
    let input = path(dir.path(), "x.npy");
    let x = array(&[3, 5], 1);
    write_npy(&input, &x).unwrap();
    let o = sigmoid_on("cpu", &input, "/dev/stdout");
    assert!(o.status.success(), "{}", text(&o));
    let got =
        ArrayD::<f32>::read_npy(&o.stdout[..]).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let want = Cpu.sigmoid(x.view()).unwrap();
    assert_eq!(got, want);
    let mut file = Vec::new();
    want.write_npy(&mut file).unwrap();
    assert!(o.stdout == file, "stdout is not exactly the .npy file");
    assert!(String::from_utf8_lossy(&o.stderr).contains("sigmoid -> /dev/stdout"));
}

#[test]
fn apply_reads_float64_and_takes_an_axis() {
    let dir = tempfile::tempdir().unwrap();
    let x64 = array(&[4, 3], 1).mapv(f64::from);
    let input = path(dir.path(), "x64.npy");
    write_npy(&input, &x64).unwrap();
    let out = path(dir.path(), "out.npy");
    let o = run(&[
        "apply",
        "softmax",
        &input,
        "--out",
        &out,
        "--backend",
        "naive",
        "--axis",
        "0",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let got: ArrayD<f32> = read_npy(&out).unwrap();
    let x32 = x64
        .mapv(|v| v as f32)
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let want = Cpu
        .softmax_axis(x32.view(), ndarray::Axis(0))
        .unwrap()
        .into_dyn();
    assert!(
        (&got - &want).iter().all(|d| d.abs() < 1e-6),
        "{got} vs {want}"
    );
}

/// Each bad call: a non-zero exit, a message containing `expect`, no output file.
#[test]
fn apply_errors_are_clear_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, ints, vec1) = (
        path(dir.path(), "a.npy"),
        path(dir.path(), "b.npy"),
        path(dir.path(), "ints.npy"),
        path(dir.path(), "v.npy"),
    );
    write_npy(&a, &array(&[2, 3], 1)).unwrap();
    write_npy(&b, &array(&[3, 2], 2)).unwrap();
    write_npy(&ints, &ndarray::arr1(&[1i64, 2, 3])).unwrap();
    write_npy(&vec1, &array(&[5], 3)).unwrap();
    let out = path(dir.path(), "out.npy");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["apply", "multiply", &a, &b], "[2, 3]"),
        (vec!["apply", "sigmoid", &ints], "dtype"),
        (
            vec!["apply", "sigmoid", "/nonexistent/x.npy"],
            "/nonexistent/x.npy",
        ),
        (vec!["apply", "softmax", &vec1], "2-D"),
        (vec!["apply", "image2vector", &a], "3-D"),
        (vec!["apply", "frobnicate", &a], "unknown op"),
        (vec!["apply", "multiply", &a], "2 input"),
        (vec!["apply", "sigmoid", &a, "--axis", "0"], "axis"),
        (vec!["apply", "softmax", &a, "--axis", "2"], "axis 2"),
        (vec!["apply", "matmul", &a, &a], "inner dimensions"),
        (vec!["apply", "dot", &vec1, &a], "1-D"),
    ];
    for (mut args, expect) in cases {
        args.extend(["--out", &out, "--backend", "cpu"]);
        let o = run(&args);
        let msg = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded: {msg}");
        assert!(
            msg.contains(expect),
            "{args:?}: message lacks {expect:?}: {msg}"
        );
        assert!(!Path::new(&out).exists(), "{args:?} left an output file");
    }
}

#[test]
fn demo_shows_every_result_matching() {
    for backend in backends() {
        demo_on(backend.name());
    }
}

fn demo_on(backend: &str) {
    let o = run(&["demo", "--backend", backend]);
    let out = text(&o);
    assert!(o.status.success(), "{backend}: {out}");
    for name in [
        "basic_sigmoid",
        "sigmoid(",
        "sigmoid_derivative",
        "image2vector",
        "multiply",
        "normalize_rows",
        "softmax",
    ] {
        assert!(out.contains(name), "demo lacks {name}: {out}");
    }
    assert!(out.matches("[match]").count() >= 7, "{out}");
    assert!(!out.contains("MISMATCH"), "{out}");
}

#[test]
fn bench_quick_writes_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = path(dir.path(), "bench.json");
    let csv = path(dir.path(), "bench.csv");
    let o = run(&[
        "bench",
        "--quick",
        "--ops",
        "sigmoid,softmax",
        "--backends",
        "naive,cpu",
        "--json",
        &json,
        "--csv",
        &csv,
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("GB/s") && out.contains("vs naive") && out.contains("limits:"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    // 2 ops x 2 quick shapes x 2 backends end to end, unless naive was skipped
    // (listed then), and each op's 2 shapes again as "cpu into" (its _into
    // variant into a reused output).
    let skipped = report["skipped"].as_array().unwrap().len();
    let timing = |t: &str| results.iter().filter(|r| r["timing"] == t).count();
    assert_eq!(timing("end_to_end") + skipped, 8, "{report}");
    assert_eq!(timing("into"), 4, "{report}");
    assert!(
        results
            .iter()
            .filter(|r| r["timing"] == "into")
            .all(|r| r["backend"] == "cpu"),
        "{report}"
    );
    for r in results {
        for field in [
            "op",
            "backend",
            "shape",
            "median_s",
            "gbps",
            "timing",
            "fraction_of_limit",
        ] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
        assert!(r["median_s"].as_f64().unwrap() > 0.0);
    }
    assert!(report["limits"]["cpu_copy_gbps"].as_f64().unwrap() > 0.0);
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap().lines().count(),
        results.len() + 1
    );
}

/// `bench --quick --backends gpu` with `args`, its JSON report; `None` without a GPU.
fn gpu_bench(args: &[&str]) -> Option<serde_json::Value> {
    if !backends().iter().any(|b| b.name() == "gpu") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = path(dir.path(), "bench.json");
    let common = ["bench", "--quick", "--backends", "gpu", "--json", &json];
    let o = run(&[&common[..], args].concat());
    assert!(o.status.success(), "{}", text(&o));
    Some(serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap())
}

/// The GPU's rows of `bench --quick` are judged against yardsticks measured in
/// the same run: the elementwise ops against a device copy, dot and matvec
/// against a read-only pass, matmul against multiply-add chains; each kernel
/// row has its fraction and names its variant. (On a CPU driver the figures
/// are the CPU's; only their presence is checked.)
#[test]
fn bench_gpu_rows_are_fractions_of_gpu_yardsticks() {
    let Some(report) = gpu_bench(&["--ops", "sigmoid,dot,matvec,matmul"]) else {
        return; // backends() said why (or panicked where a GPU is required)
    };
    assert_eq!(report["machine"]["gpu_kernels"], "trusted");
    let limits = &report["limits"];
    for field in ["gpu_copy_gbps", "gpu_read_gbps", "gpu_fma_gflops"] {
        let v = limits[field].as_f64().unwrap_or(0.0);
        assert!(v > 0.0 && v.is_finite(), "{field}: {limits}");
    }
    let kernel_rows: Vec<_> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["backend"] == "gpu" && r["timing"] != "end_to_end")
        .collect();
    for op in ["sigmoid", "dot", "matvec", "matmul"] {
        let rows: Vec<_> = kernel_rows.iter().filter(|r| r["op"] == op).collect();
        assert!(!rows.is_empty(), "no {op} kernel row: {report}");
        for r in rows {
            let (limit, figure) = match op {
                "sigmoid" => ("gpu_copy_gbps", "gbps"),
                "dot" | "matvec" => ("gpu_read_gbps", "gbps"),
                _ => ("gpu_fma_gflops", "gflops"),
            };
            let want = r[figure].as_f64().unwrap() / limits[limit].as_f64().unwrap();
            let got = r["fraction_of_limit"].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-9 * want,
                "{op} against {limit}: {r}"
            );
            assert!(r["variant"].is_string(), "{r}");
        }
    }
}

/// `bench --checked-kernels` runs the GPU's kernels with naga's checks (to
/// measure what trusted kernels gain) and says so in the report.
#[test]
fn bench_checked_kernels_is_reported() {
    let Some(report) = gpu_bench(&["--checked-kernels", "--ops", "relu"]) else {
        return; // backends() said why (or panicked where a GPU is required)
    };
    assert_eq!(report["machine"]["gpu_kernels"], "checked", "{report}");
}

#[test]
fn unknown_bench_op_is_an_error() {
    let o = run(&["bench", "--quick", "--ops", "nope", "--backends", "cpu"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("unknown op"));
}

/// A .npy file whose header (padded as numpy pads it) says `shape` of `descr`,
/// followed by `data`: a header that may lie about the data.
fn npy_file(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut f = b"\x93NUMPY\x01\x00".to_vec();
    f.extend((h.len() as u16).to_le_bytes());
    f.extend(h.as_bytes());
    f.extend(data);
    f
}

/// Headers that claim more (or less) data than the file holds are refused with
/// the file named, an exit status of 1 and no signal: before the checks, the
/// (10^12,) case aborted on allocating 4 TB.
#[test]
fn apply_refuses_lying_headers_without_aborting() {
    let dir = tempfile::tempdir().unwrap();
    let out = path(dir.path(), "out.npy");
    let cases = [
        ("<f4", "(1000000000000,)", vec![0u8; 4]),
        ("<f8", "(1000000, 1000000)", vec![0u8; 8]),
        (
            "<f4",
            "(18446744073709551615, 18446744073709551615)",
            vec![],
        ),
        ("<f4", "(2, 3)", vec![0u8; 20]),
        ("<f4", "(2,)", vec![0u8; 12]),
    ];
    for (i, (descr, shape, data)) in cases.iter().enumerate() {
        let input = path(dir.path(), &format!("lie{i}.npy"));
        std::fs::write(&input, npy_file(descr, shape, data)).unwrap();
        for backend in ["cpu", "naive"] {
            let o = sigmoid_on(backend, &input, &out);
            let msg = text(&o);
            assert_eq!(o.status.code(), Some(1), "{shape}: {msg}");
            assert!(
                msg.contains(&input) && msg.contains("header"),
                "{shape}: {msg}"
            );
            assert!(!Path::new(&out).exists(), "{shape} left an output file");
        }
    }
    // The same header telling the truth is read.
    let input = path(dir.path(), "honest.npy");
    let data: Vec<u8> = [1.0f32, -2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&input, npy_file("<f4", "(2,)", &data)).unwrap();
    let o = sigmoid_on("cpu", &input, &out);
    assert!(o.status.success(), "{}", text(&o));
}

/// A write that fails leaves what was at `--out` as it was, and no new file:
/// before, `apply` removed the path on any write error (a read-only result of
/// the user's, or, as root, /dev/full itself).
#[test]
fn failed_writes_leave_the_old_output_untouched() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let input = path(dir.path(), "x.npy");
    write_npy(&input, &array(&[2, 3], 1)).unwrap();
    let old = path(dir.path(), "old.npy");
    std::fs::write(&old, b"the user's result").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = listing(dir.path());
    for (out, expect) in [
        (old.as_str(), "read-only"),
        ("/dev/full", "/dev/full"),
        ("/nonexistent/r.npy", "/nonexistent"),
        (dir.path().to_str().unwrap(), "directory"),
    ] {
        let o = sigmoid_on("cpu", &input, out);
        let msg = text(&o);
        assert_eq!(o.status.code(), Some(1), "--out {out}: {msg}");
        assert!(msg.contains(expect), "--out {out}: {msg}");
        assert_eq!(listing(dir.path()), before, "--out {out}");
    }
    assert_eq!(std::fs::read(&old).unwrap(), b"the user's result");
    let full = std::fs::metadata("/dev/full").unwrap();
    assert!(full.file_type().is_char_device(), "/dev/full was replaced");
    // A writable old result is replaced whole, keeping its permissions.
    let out = path(dir.path(), "r.npy");
    std::fs::write(&out, b"stale").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = sigmoid_on("cpu", &input, &out);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(read_npy::<_, ArrayD<f32>>(&out).unwrap().shape(), &[2, 3]);
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(listing(dir.path()), ["old.npy", "r.npy", "x.npy"]);
}

/// Bad bench arguments fail at once (before the minutes of measuring), with the
/// valid values listed; before, unknown backends gave an empty table and exit 0,
/// and a bad --json path failed only after the run.
#[test]
fn bench_arguments_are_checked_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let csv = path(dir.path(), "b.csv");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--backends", "nonsense"],
            vec!["nonsense", "naive, cpu, gpu"],
        ),
        (
            vec!["--backends", "cpu,nonsense"],
            vec!["nonsense", "naive, cpu, gpu"],
        ),
        (vec!["--backends", ""], vec!["naive, cpu, gpu"]),
        (
            vec!["--ops", "image2vector"],
            vec!["image2vector", "sigmoid, sigmoid_derivative"],
        ),
        (vec!["--ops", "sigmoid,nope"], vec!["\"nope\"", "softmax"]),
        (
            vec!["--json", "/nonexistent/r.json", "--csv", &csv],
            vec!["--json", "/nonexistent"],
        ),
        (
            vec!["--csv", &csv, "--plot", "/nonexistent/p.svg"],
            vec!["--plot", "/nonexistent"],
        ),
        (
            vec!["--json", &csv, "--csv", &csv],
            vec!["--json and --csv"],
        ),
        (
            vec!["--plot", dir.path().to_str().unwrap()],
            vec!["is a directory"],
        ),
    ];
    for (args, expect) in cases {
        let mut all = vec!["bench", "--quick"];
        all.extend(&args);
        let start = std::time::Instant::now();
        let o = run(&all);
        let msg = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded: {msg}");
        for e in expect {
            assert!(msg.contains(e), "{args:?}: message lacks {e:?}: {msg}");
        }
        assert!(
            !msg.contains("measuring"),
            "{args:?} started the run: {msg}"
        );
        assert!(
            start.elapsed().as_secs() < 5,
            "{args:?} took {:?}",
            start.elapsed()
        );
        assert!(listing(dir.path()).is_empty(), "{args:?} left a file");
    }
}
