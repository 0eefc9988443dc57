//! What the criterion suites share: the backends to time, and the rule that a
//! software GPU adapter is not timed unless asked for (its figures would say
//! nothing about GPU speed).

#![allow(dead_code)] // each suite uses a different part of this module

use gpu_basics::{Backend, Cpu, Gpu, Naive};

/// A hardware GPU, or a software one when GPU_BASICS_BENCH_SOFTWARE=1; else `None`
/// with the reason printed.
pub fn gpu() -> Option<Gpu> {
    match Gpu::new() {
        Ok(g) if !g.adapter().is_software || std::env::var("GPU_BASICS_BENCH_SOFTWARE").is_ok() => {
            Some(g)
        }
        Ok(g) => {
            eprintln!("gpu benches skipped: {} is a software adapter", g.adapter());
            None
        }
        Err(e) => {
            eprintln!("gpu benches skipped: {e}");
            None
        }
    }
}

/// naive, cpu, and the GPU when there is one to time.
pub fn backends(gpu: &Option<Gpu>) -> Vec<Box<dyn Backend>> {
    let mut v: Vec<Box<dyn Backend>> = vec![Box::new(Naive), Box::new(Cpu)];
    if let Some(g) = gpu {
        v.push(Box::new(g.clone()));
    }
    v
}
