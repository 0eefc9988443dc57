//! `gpu-basics apply OP INPUT.npy [INPUT2.npy] --out OUT.npy`: one op on .npy
//! files. Every argument is checked before any input is read: the op's arity and
//! axis, that `--out` can be written, and the backend. Inputs are read by
//! `gpu_basics::npy`, which checks each header against its file before allocating.
//! The result is written atomically (`atomic`): a failure leaves whatever was at
//! `--out` untouched and no new file behind.

use std::path::{Path, PathBuf};

use gpu_basics::Op;
use ndarray_npy::WriteNpyExt;

use super::{Choice, atomic, pick};

/// `op`'s arguments as the command line gives them, checked before any work.
fn check_args(op: Op, inputs: &[PathBuf], axis: Option<usize>) -> Result<(), String> {
    if inputs.len() != op.arity() {
        return Err(format!(
            "{op} takes {} input file(s), got {}",
            op.arity(),
            inputs.len()
        ));
    }
    match axis {
        Some(_) if !op.has_axis() => Err(format!("{op} takes no --axis")),
        // The ops with an axis take 2-D input (checked again, with its shape,
        // once the file is read).
        Some(a) if a > 1 => Err(format!(
            "{op}: --axis {a} is out of range; a 2-D input has axis 0 (columns) and 1 (rows)"
        )),
        _ => Ok(()),
    }
}

pub fn apply(
    op: Op,
    inputs: &[PathBuf],
    out: &Path,
    backend: Choice,
    axis: Option<usize>,
) -> Result<(), String> {
    check_args(op, inputs, axis)?;
    atomic::check(out).map_err(|e| format!("--out {e}"))?;
    let (b, line) = pick(backend)?;
    let arrays = inputs
        .iter()
        .map(|p| gpu_basics::npy::read(p).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
    let result = op
        .run(b.as_ref(), &views, axis)
        .map_err(|e| e.to_string())?;
    atomic::write_with(out, |w| result.write_npy(w).map_err(|e| e.to_string()))?;
    // A status line, on stderr: `--out /dev/stdout` gives the .npy bytes alone.
    eprintln!("{op} -> {} {:?} ({line})", out.display(), result.shape());
    Ok(())
}
