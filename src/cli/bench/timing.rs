//! How one figure is timed: the median per-call time of `runs` runs, each run
//! repeating the call until it lasts at least `min_run` (calibrated on a call
//! after a warm-up call), so that short calls are not lost in the clock's
//! resolution and one slow run does not move the figure.

use std::time::Instant;

use gpu_basics::{Backend, Gpu, GpuArray, Op};
use ndarray::{Array2, ArrayD, ArrayViewD, Ix1, Ix2};

pub(super) struct Timing {
    pub runs: usize,
    pub min_run: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median per-call seconds of `f`.
pub(super) fn measure(
    cfg: &Timing,
    mut f: impl FnMut() -> Result<(), String>,
) -> Result<f64, String> {
    f()?;
    let t = Instant::now();
    f()?;
    let one = t.elapsed().as_secs_f64().max(1e-9);
    let reps = ((cfg.min_run / one).ceil() as usize).clamp(1, 1_000_000);
    let mut per_call = Vec::with_capacity(cfg.runs);
    for _ in 0..cfg.runs {
        let t = Instant::now();
        for _ in 0..reps {
            f()?;
        }
        per_call.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    Ok(median(per_call))
}

/// Median per-call seconds of the op's `_into` variant, writing into one
/// output reused call after call (no fresh memory to allocate and fault in),
/// for the ops that have one.
pub(super) fn measure_into(
    cfg: &Timing,
    op: Op,
    b: &dyn Backend,
    v: &[ArrayViewD<'_, f32>],
) -> Result<Option<f64>, String> {
    let err = |e: gpu_basics::Error| e.to_string();
    Ok(Some(match op {
        Op::Unary(_) | Op::Multiply => {
            let mut out = ArrayD::<f32>::zeros(v[0].raw_dim());
            measure(cfg, || {
                match op {
                    Op::Unary(u) => b.unary_into(u, v[0].view(), out.view_mut()),
                    _ => b.multiply_into(v[0].view(), v[1].view(), out.view_mut()),
                }
                .map_err(err)
            })?
        }
        Op::Softmax | Op::NormalizeRows => {
            let x = v[0]
                .view()
                .into_dimensionality::<Ix2>()
                .map_err(|e| e.to_string())?;
            let mut out = Array2::<f32>::zeros(x.raw_dim());
            measure(cfg, || {
                match op {
                    Op::Softmax => b.softmax_into(x.view(), out.view_mut()),
                    _ => b.normalize_rows_into(x.view(), out.view_mut()),
                }
                .map_err(err)
            })?
        }
        Op::Outer => {
            let vector = |i: usize| {
                v[i].view()
                    .into_dimensionality::<Ix1>()
                    .map_err(|e| e.to_string())
            };
            let (a, c) = (vector(0)?, vector(1)?);
            let mut out = Array2::<f32>::zeros((a.len(), c.len()));
            measure(cfg, || {
                b.outer_into(a.view(), c.view(), out.view_mut())
                    .map_err(err)
            })?
        }
        _ => return Ok(None),
    }))
}

/// Device-only time per call with inputs resident: (seconds, "kernel" | "resident").
/// Timestamp queries where the adapter has them; else the wall clock of many
/// resident calls and one wait, which includes dispatch overhead.
pub(super) fn measure_resident(
    cfg: &Timing,
    gpu: &Gpu,
    op: Op,
    inputs: &[GpuArray],
) -> Result<(f64, &'static str), String> {
    let refs: Vec<&GpuArray> = inputs.iter().collect();
    let call = || op.run_resident(&refs, None).map(drop);
    call().map_err(|e| e.to_string())?;
    gpu.sync().map_err(|e| e.to_string())?;
    let t = Instant::now();
    call().map_err(|e| e.to_string())?;
    gpu.sync().map_err(|e| e.to_string())?;
    let one = t.elapsed().as_secs_f64().max(1e-9);
    let reps = ((cfg.min_run / one).ceil() as usize).clamp(1, 100_000);
    let (mut kernel, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..cfg.runs {
        let t = Instant::now();
        let device = gpu
            .time_device(|| {
                for _ in 0..reps {
                    call()?;
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        gpu.sync().map_err(|e| e.to_string())?;
        wall.push(t.elapsed().as_secs_f64() / reps as f64);
        if let Some(d) = device {
            kernel.push(d.as_secs_f64() / reps as f64);
        }
    }
    if kernel.len() == cfg.runs {
        Ok((median(kernel), "kernel"))
    } else {
        Ok((median(wall), "resident"))
    }
}
