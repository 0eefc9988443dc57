//! `gpu-basics apply OP INPUT.npy [INPUT2.npy] --out OUT.npy`: one op on .npy
//! files. Inputs are read by `gpu_basics::npy`, which checks each header against
//! its file before allocating (float32, or float64 converted). The result is computed in full before the output file is created, so a
//! failure never leaves a file behind.

use std::path::{Path, PathBuf};

use gpu_basics::Op;
use ndarray_npy::write_npy;

use super::{Choice, pick};

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
    let arrays = inputs
        .iter()
        .map(|p| gpu_basics::npy::read(p).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let (b, line) = pick(backend)?;
    let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
    let result = op
        .run(b.as_ref(), &views, axis)
        .map_err(|e| e.to_string())?;
    if let Err(e) = write_npy(out, &result) {
        let _ = std::fs::remove_file(out);
        return Err(format!("{}: {e}", out.display()));
    }
    println!("{op} -> {} {:?} ({line})", out.display(), result.shape());
    Ok(())
}
