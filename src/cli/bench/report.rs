//! What a benchmark run reports: one row per (op, shape, backend, timing), its
//! ratios to the measured limits and to the naive and cpu backends, and the
//! forms it is written in (the table on stdout, CSV, JSON). Other tools read
//! the CSV and JSON fields by name (benches/cpu_vs_peers.py, `bench --plot`),
//! so their names and order are an interface.

use gpu_basics::Gpu;
use serde::Serialize;

use super::limits::{Limits, Machine};

/// One figure: an op on one shape and backend, timed one way.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub op: String,
    pub family: String,
    pub backend: String,
    /// The first input's shape (for matching with other tools' figures).
    pub shape: Vec<usize>,
    /// Every input's shape.
    pub inputs: Vec<Vec<usize>>,
    pub elements: u64,
    pub bytes: u64,
    pub flops: u64,
    pub median_s: f64,
    pub gbps: f64,
    pub gflops: Option<f64>,
    /// "end_to_end", "into" (the `_into` variant into a reused output), "kernel"
    /// (timestamp queries) or "resident" (wall clock, inputs on the device).
    pub timing: String,
    /// What limits the op: "memory" (judged in GB/s against a copy), "read" (ops
    /// that mostly read: against a read-only pass) or "compute" (GFLOP/s against
    /// the multiply-add peak).
    pub bound: String,
    pub fraction_of_limit: Option<f64>,
    pub speedup_vs_naive: Option<f64>,
    pub speedup_vs_cpu: Option<f64>,
    /// The kernel variant a GPU row ran (`gpu-basics tune` picks them), for the
    /// families that have variants.
    pub variant: Option<String>,
}

/// A case not measured on a backend, and why.
#[derive(Debug, Serialize)]
pub(super) struct Skip {
    pub op: String,
    pub shape: Vec<usize>,
    pub backend: String,
    pub reason: String,
}

/// The JSON report: the machine, its limits, every row and every skipped case.
#[derive(Serialize)]
pub(super) struct Report {
    pub machine: Machine,
    pub limits: Limits,
    pub results: Vec<Row>,
    pub skipped: Vec<Skip>,
}

/// Fractions of the measured limits, and speedups against naive and cpu (both
/// timed end to end) for the same op and shape.
pub(super) fn fill_ratios(rows: &mut [Row], limits: &Limits) {
    let key = |r: &Row| (r.op.clone(), r.shape.clone());
    let find = |rows: &[Row], k: &(String, Vec<usize>), backend: &str| {
        rows.iter()
            .find(|r| key(r) == *k && r.backend == backend && r.timing == "end_to_end")
            .map(|r| r.median_s)
    };
    let snapshot = rows.to_vec();
    for r in rows.iter_mut() {
        let k = key(r);
        r.speedup_vs_naive = find(&snapshot, &k, "naive").map(|t| t / r.median_s);
        r.speedup_vs_cpu = find(&snapshot, &k, "cpu").map(|t| t / r.median_s);
        r.fraction_of_limit = match (r.backend.as_str(), r.timing.as_str(), r.bound.as_str()) {
            ("gpu", "end_to_end", _) => None, // bound by the host link, not device memory
            ("gpu", _, "memory") => limits.gpu_copy_gbps.map(|l| r.gbps / l),
            ("gpu", _, "read") => limits.gpu_read_gbps.map(|l| r.gbps / l),
            ("gpu", _, _) => limits.gpu_fma_gflops.zip(r.gflops).map(|(l, g)| g / l),
            (_, _, "memory") => Some(r.gbps / limits.cpu_copy_gbps),
            (_, _, "read") => Some(r.gbps / limits.cpu_read_gbps),
            (_, _, _) => r.gflops.map(|g| g / limits.cpu_peak_gflops_estimate),
        };
    }
}

/// Seconds in the unit that keeps the figure readable.
fn fmt_time(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.1} us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// The table on stdout: the limits, one line per row, then the skipped cases.
pub(super) fn print_table(rows: &[Row], limits: &Limits, skipped: &[Skip], gpu: Option<&Gpu>) {
    println!(
        "limits: cpu copy {:.1} GB/s ({} thread(s)), cpu read {:.1} GB/s, cpu multiply-add peak ~{:.0} GFLOP/s{}",
        limits.cpu_copy_gbps,
        limits.cpu_copy_threads,
        limits.cpu_read_gbps,
        limits.cpu_peak_gflops_estimate,
        match (limits.gpu_copy_gbps, gpu) {
            (Some(c), Some(g)) => format!(
                ", gpu copy {c:.1} GB/s, read {:.1} GB/s, multiply-add {:.0} GFLOP/s on {}{}",
                limits.gpu_read_gbps.unwrap_or(f64::NAN),
                limits.gpu_fma_gflops.unwrap_or(f64::NAN),
                g.adapter().name,
                if g.adapter().is_software {
                    " (SOFTWARE: not GPU speed)"
                } else {
                    ""
                }
            ),
            _ => String::new(),
        }
    );
    println!(
        "{:<20} {:<14} {:<24} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "op", "shape", "backend", "time", "GB/s", "GFLOP/s", "of limit", "vs naive", "vs cpu"
    );
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".to_string(), f);
    for r in rows {
        let mut backend = if r.timing == "end_to_end" {
            r.backend.clone()
        } else {
            format!("{} {}", r.backend, r.timing)
        };
        if let Some(v) = &r.variant {
            backend = format!("{backend} {v}");
        }
        println!(
            "{:<20} {:<14} {:<24} {:>10} {:>9.2} {:>9} {:>9} {:>9} {:>9}",
            r.op,
            format!("{:?}", r.shape),
            backend,
            fmt_time(r.median_s),
            r.gbps,
            opt(r.gflops, &|g| format!("{g:.1}")),
            opt(r.fraction_of_limit, &|f| format!("{:.0}%", f * 100.0)),
            opt(r.speedup_vs_naive, &|x| format!("{x:.1}x")),
            opt(r.speedup_vs_cpu, &|x| format!("{x:.2}x")),
        );
    }
    for s in skipped {
        println!(
            "skipped: {} {:?} on {}: {}",
            s.op, s.shape, s.backend, s.reason
        );
    }
}

/// One line per row, with a header; empty cells for absent values.
pub(super) fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "op,family,backend,timing,shape,elements,bytes,flops,median_s,gbps,gflops,fraction_of_limit,speedup_vs_naive,speedup_vs_cpu,variant\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
    for r in rows {
        let shape = r
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        out += &format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.op,
            r.family,
            r.backend,
            r.timing,
            shape,
            r.elements,
            r.bytes,
            r.flops,
            r.median_s,
            r.gbps,
            opt(r.gflops),
            opt(r.fraction_of_limit),
            opt(r.speedup_vs_naive),
            opt(r.speedup_vs_cpu),
            r.variant.as_deref().unwrap_or("")
        );
    }
    out
}
