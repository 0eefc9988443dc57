//! The README's API example, compiled with the crate so it cannot drift:
//! data stays on the GPU across two ops, then the same through the Backend trait.
//!
//!     cargo run --release --example quickstart

use gpu_basics::{Backend, Cpu, Gpu};
use ndarray::array;

fn main() -> gpu_basics::Result<()> {
    let x = array![[1.0f32, 2.0, 3.0], [-1.0, 0.0, 1.0]];
    let gpu = Gpu::new()?; // hardware first; software only if alone
    println!("{}", gpu.adapter()); // name, API, device type

    // Resident: one upload, two kernels, one readback.
    let on_gpu = gpu.upload(&x)?;
    let product = on_gpu.sigmoid()?.multiply(&on_gpu)?;
    let y = product.to_array()?;

    // The same through the Backend trait (upload, op, readback per call).
    let reference = Cpu.multiply(
        Cpu.sigmoid(x.view().into_dyn())?.view(),
        x.view().into_dyn(),
    )?;
    assert!((&y - &reference).iter().all(|d| d.abs() < 1e-5));
    println!("x * sigmoid(x) =\n{y}");

    // A row softmax of the product, from the copy still on the device.
    let probs = product.softmax()?.to_array()?;
    println!("softmax by rows =\n{probs}");
    Ok(())
}
