//! `gpu-basics apply OP INPUT.npy [INPUT2.npy] --out OUT.npy`: one op on .npy
//! files. The result is computed in full before the output file is created, so a
//! failure never leaves a file behind.

use std::path::{Path, PathBuf};

use gpu_basics::Op;
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyError, read_npy, write_npy};

use super::{Choice, pick};

/// A float32 array from `path`; float64 files are converted (the exercise's
/// numpy arrays are float64), anything else is refused with its dtype named.
fn load(path: &Path) -> Result<ArrayD<f32>, String> {
    let shown = path.display();
    match read_npy::<_, ArrayD<f32>>(path) {
        Ok(a) => Ok(a),
        Err(ReadNpyError::WrongDescriptor(_)) => match read_npy::<_, ArrayD<f64>>(path) {
            Ok(a) => Ok(a.mapv(|v| v as f32)),
            Err(ReadNpyError::WrongDescriptor(d)) => Err(format!(
                "{shown}: dtype {d} is not supported (float32 or float64 expected)"
            )),
            Err(e) => Err(format!("{shown}: {e}")),
        },
        Err(e) => Err(format!("{shown}: {e}")),
    }
}

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
        .map(|p| load(p))
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
