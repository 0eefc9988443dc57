//! `gpu-basics bench`: naive loops vs CPU vs GPU, op by op and size by size, as
//! throughput and as a fraction of limits measured in the same run.
//!
//! Method: each figure is the median per-call time of `runs` runs; a run repeats
//! the call until it lasts at least `min_run` (calibrated after a warm-up call).
//! Host backends are timed end to end. The GPU is timed twice: end to end
//! (upload, kernels, readback, as the `Backend` API does it), and on the device
//! alone with inputs resident: timestamp queries around the kernels where the
//! adapter has them ("kernel"), else wall-clock of many resident calls and one
//! wait ("resident", which includes dispatch overhead).
//! Throughput counts the bytes an op must move at least (inputs read once,
//! output written once), so temporaries and second passes show up as lost speed.
//!
//! This file holds the command's arguments and the order of a run; the cases
//! are in `cases` (shared with the criterion suites), how a figure is timed in
//! `timing`, the yardsticks in `limits`, and the outputs in `report`.

mod cases;
mod limits;
mod report;
mod timing;

use std::collections::HashMap;
use std::path::PathBuf;

use gpu_basics::{Backend, Cpu, Gpu, GpuArray, GpuOptions, Naive, Op};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::ArrayD;

use cases::{benchmarked, cases_for, family};
pub use report::Row;
use report::{Report, Skip};
use timing::{Timing, measure, measure_into, measure_resident};

#[derive(clap::Args)]
pub struct Args {
    /// A run of under a minute: fewer sizes, shorter timings.
    #[arg(long)]
    quick: bool,
    /// Only these ops (comma-separated names; every op but image2vector).
    #[arg(long, value_delimiter = ',', value_parser = parse_bench_op)]
    ops: Option<Vec<Op>>,
    /// Only these backends (comma-separated). Naming gpu makes a missing GPU an
    /// error; by default it is only skipped.
    #[arg(long, value_delimiter = ',', value_enum)]
    backends: Option<Vec<BackendName>>,
    /// Write every result as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write every result as CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Plot throughput vs size (SVG), one line per backend in a panel per op family.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Run the GPU's kernels with naga's runtime checks (GpuOptions::checked_kernels),
    /// to measure what trusted kernels gain.
    #[arg(long)]
    checked_kernels: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendName {
    Naive,
    Cpu,
    Gpu,
}

/// A benchmarkable op by name: any op but image2vector, which is a reshape with
/// nothing to time.
fn parse_bench_op(name: &str) -> Result<Op, String> {
    let names: Vec<_> = benchmarked().map(|o| o.name()).collect();
    match super::parse_op(name) {
        Ok(Op::Image2vector) => Err(format!(
            "image2vector is a reshape, with nothing to time; ops: {}",
            names.join(", ")
        )),
        Ok(op) => Ok(op),
        Err(_) => Err(format!("unknown op {name:?}; ops: {}", names.join(", "))),
    }
}

/// The output paths, checked before the (long) run: each can be written, and no
/// two name the same file.
fn check_outputs(args: &Args) -> Result<(), String> {
    let outputs = [
        ("--json", &args.json),
        ("--csv", &args.csv),
        ("--plot", &args.plot),
    ];
    let given: Vec<(&str, &PathBuf)> = outputs
        .iter()
        .filter_map(|(flag, p)| p.as_ref().map(|p| (*flag, p)))
        .collect();
    for (i, (flag, path)) in given.iter().enumerate() {
        super::atomic::check(path).map_err(|e| format!("{flag} {e}"))?;
        if let Some((other, _)) = given[..i].iter().find(|(_, p)| p == path) {
            return Err(format!("{other} and {flag} both name {}", path.display()));
        }
    }
    Ok(())
}

/// A run in progress: what it times on, and what it has found so far.
struct Run {
    timing: Timing,
    /// Naive calls predicted to take longer than this are skipped (and listed).
    naive_budget: f64,
    hosts: Vec<Box<dyn Backend>>,
    gpu: Option<Gpu>,
    rows: Vec<Row>,
    skipped: Vec<Skip>,
    /// Last measured naive (elements, seconds) per op, to predict the next size.
    naive_seen: HashMap<Op, (u64, f64)>,
}

pub fn bench(args: &Args) -> Result<(), String> {
    let (timing, naive_budget) = if args.quick {
        (
            Timing {
                runs: 3,
                min_run: 0.005,
            },
            0.05,
        )
    } else {
        (
            Timing {
                runs: 7,
                min_run: 0.03,
            },
            2.0,
        )
    };
    // Names and values were checked by clap; the paths are checked here, so
    // that nothing is refused after a run of minutes.
    check_outputs(args)?;
    let wanted = |b: BackendName| args.backends.as_ref().is_none_or(|l| l.contains(&b));
    let ops: Vec<Op> = benchmarked()
        .filter(|op| args.ops.as_ref().is_none_or(|l| l.contains(op)))
        .collect();

    let gpu = if wanted(BackendName::Gpu) {
        let options = GpuOptions {
            checked_kernels: args.checked_kernels,
            ..Default::default()
        };
        match Gpu::with_options(options) {
            Ok(g) => Some(g),
            // Asked for by name: a table without it would answer another question.
            Err(e) if args.backends.is_some() => return Err(format!("--backends gpu: {e}")),
            Err(e) => {
                eprintln!("gpu: not benchmarked ({e})");
                None
            }
        }
    } else {
        None
    };
    if let Some(g) = &gpu {
        eprintln!("gpu: {}", g.adapter());
        if g.adapter().is_software {
            eprintln!(
                "gpu: SOFTWARE adapter: its timings measure this CPU, not a GPU; never quote them as GPU speed"
            );
        }
    }
    let mut hosts: Vec<Box<dyn Backend>> = Vec::new();
    if wanted(BackendName::Naive) {
        hosts.push(Box::new(Naive));
    }
    if wanted(BackendName::Cpu) {
        hosts.push(Box::new(Cpu));
    }

    eprintln!("measuring this machine's limits...");
    let limits = limits::measure_limits(gpu.as_ref(), args.quick)?;

    let cases: Vec<(Op, Vec<Vec<usize>>)> = ops
        .iter()
        .flat_map(|&op| cases_for(op, args.quick).into_iter().map(move |s| (op, s)))
        .collect();
    let bar = ProgressBar::new(cases.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut run = Run {
        timing,
        naive_budget,
        hosts,
        gpu,
        rows: Vec::new(),
        skipped: Vec::new(),
        naive_seen: HashMap::new(),
    };
    for (op, input_shapes) in &cases {
        bar.set_message(format!("{op} {input_shapes:?}"));
        run.case(*op, input_shapes)?;
        bar.inc(1);
    }
    bar.finish_and_clear();

    let Run {
        mut rows,
        skipped,
        gpu,
        ..
    } = run;
    report::fill_ratios(&mut rows, &limits);
    report::print_table(&rows, &limits, &skipped, gpu.as_ref());
    let report = Report {
        machine: limits::machine(gpu.as_ref(), args.quick),
        limits,
        results: rows,
        skipped,
    };
    // Each output on its own: one that fails does not keep the others from
    // being written. All failures are reported.
    let mut failed = Vec::new();
    let mut save = |path: &Option<PathBuf>, text: &dyn Fn() -> Result<String, String>| {
        if let Some(path) = path {
            match text().and_then(|t| super::atomic::write(path, t.as_bytes())) {
                Ok(()) => eprintln!("wrote {}", path.display()),
                Err(e) => failed.push(e),
            }
        }
    };
    save(&args.json, &|| {
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())
    });
    save(&args.csv, &|| Ok(report::csv(&report.results)));
    save(&args.plot, &|| super::plot::svg(&report.results));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

impl Run {
    /// Times `op` on inputs of `input_shapes` on every backend: the hosts end to
    /// end (cpu also `_into`), the GPU end to end and resident.
    fn case(&mut self, op: Op, input_shapes: &[Vec<usize>]) -> Result<(), String> {
        let cfg = &self.timing;
        let shape = input_shapes[0].clone();
        let inputs: Vec<ArrayD<f32>> = cases::inputs(input_shapes);
        let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
        let shapes_ref: Vec<&[usize]> = inputs.iter().map(|a| a.shape()).collect();
        let bytes = op.min_bytes(&shapes_ref).map_err(|e| e.to_string())?;
        let flops = op.flops(&shapes_ref).map_err(|e| e.to_string())?;
        let output_elems = op.output_elems(&shapes_ref).map_err(|e| e.to_string())?;
        // The problem size on the plot's x axis: the largest array involved.
        let elements = input_shapes
            .iter()
            .map(|s| s.iter().product::<usize>() as u64)
            .chain([output_elems])
            .max()
            .unwrap_or(0);
        let rows = &mut self.rows;
        let mut push = |backend: &str, timing: &str, secs: f64| {
            rows.push(Row {
                op: op.name().into(),
                family: family(op).into(),
                backend: backend.into(),
                shape: shape.clone(),
                inputs: input_shapes.to_vec(),
                elements,
                bytes,
                flops,
                median_s: secs,
                gbps: bytes as f64 / secs / 1e9,
                gflops: (flops > 0).then(|| flops as f64 / secs / 1e9),
                timing: timing.into(),
                // dot, l1, l2 and matvec read their inputs and write almost
                // nothing: a read-only pass is their yardstick.
                bound: match op {
                    Op::Matmul => "compute",
                    Op::Dot | Op::L1 | Op::L2 | Op::Matvec => "read",
                    _ => "memory",
                }
                .into(),
                fraction_of_limit: None,
                speedup_vs_naive: None,
                speedup_vs_cpu: None,
                variant: None,
            })
        };
        for b in &self.hosts {
            if b.name() == "naive"
                && let Some(&(n0, t0)) = self.naive_seen.get(&op)
            {
                let predicted = t0 * elements as f64 / n0 as f64;
                if predicted > self.naive_budget {
                    self.skipped.push(Skip {
                        op: op.name().into(),
                        shape: shape.clone(),
                        backend: "naive".into(),
                        reason: format!(
                            "predicted {predicted:.2} s per call, over the {} s budget",
                            self.naive_budget
                        ),
                    });
                    continue;
                }
            }
            let secs = measure(cfg, || {
                op.run(b.as_ref(), &views, None)
                    .map(drop)
                    .map_err(|e| e.to_string())
            })?;
            if b.name() == "naive" {
                self.naive_seen.insert(op, (elements, secs));
            }
            push(b.name(), "end_to_end", secs);
            // The other backends' `_into` is the allocating op plus a copy.
            if b.name() == "cpu"
                && let Some(secs) = measure_into(cfg, op, b.as_ref(), &views)?
            {
                push(b.name(), "into", secs);
            }
        }
        if let Some(g) = &self.gpu {
            let secs = measure(cfg, || {
                op.run(g, &views, None).map(drop).map_err(|e| e.to_string())
            })?;
            push("gpu", "end_to_end", secs);
            let resident: Vec<GpuArray> = inputs
                .iter()
                .map(|a| g.upload(a))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let (secs, how) = measure_resident(cfg, g, op, &resident)?;
            push("gpu", how, secs);
            // Variants are picked by the output's size (W's for matvec and
            // the inputs' for dot, l1 and l2: the largest array here), the
            // row ops' by the length of a row (bench runs them along axis 1);
            // `None` for ops without variants.
            let by = match op {
                Op::Matvec | Op::Dot | Op::L1 | Op::L2 => elements,
                Op::Softmax | Op::NormalizeRows => shape.get(1).map_or(0, |&n| n as u64),
                _ => output_elems,
            };
            let variant = g.variant(op.name(), by as usize);
            for r in rows.iter_mut().rev().take(2) {
                r.variant.clone_from(&variant);
            }
        }
        Ok(())
    }
}
