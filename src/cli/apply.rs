//! `gpu-basics apply OP INPUT.npy [INPUT2.npy] --out OUT.npy`: one op on .npy
//! files. Inputs are read by `gpu_basics::npy`, which checks each header against
//! its file before allocating (float32, or float64 converted). `--out` is checked
//! before the inputs are read, and the result is written atomically (`atomic`):
//! a failure leaves whatever was at `--out` untouched and no new file behind.

use std::path::{Path, PathBuf};

use gpu_basics::Op;
use ndarray_npy::WriteNpyExt;

use super::{Choice, atomic, pick};

pub fn apply(
    op: &str,
    inputs: &[PathBuf],
    out: &Path,
    backend: Choice,
    axis: Option<usize>,
) -> Result<(), String> {
    let op = Op::from_name(op).ok_or_else(|| {
        let names: Vec<_> = Op::ALL.iter().map(|o| o.name()).collect();
        format!("unknown op {op:?}; ops: {}", names.join(", "))
    })?;
    if inputs.len() != op.arity() {
        return Err(format!(
            "{op} takes {} input file(s), got {}",
            op.arity(),
            inputs.len()
        ));
    }
    if axis.is_some() && !op.has_axis() {
        return Err(format!("{op} takes no --axis"));
    }
    atomic::check(out).map_err(|e| format!("--out {e}"))?;
    let arrays = inputs
        .iter()
        .map(|p| gpu_basics::npy::read(p).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let (b, line) = pick(backend)?;
    let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
    let result = op
        .run(b.as_ref(), &views, axis)
        .map_err(|e| e.to_string())?;
    atomic::write_with(out, |w| result.write_npy(w).map_err(|e| e.to_string()))?;
    println!("{op} -> {} {:?} ({line})", out.display(), result.shape());
    Ok(())
}
