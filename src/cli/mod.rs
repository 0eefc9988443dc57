//! The `gpu-basics` command's subcommands.

pub mod apply;
pub mod atomic;
pub mod bench;
pub mod demo;
pub mod info;
pub mod plot;
pub mod tune;

use clap::ValueEnum;
use gpu_basics::{Backend, Cpu, Gpu, Naive, Op};

/// An op by name, for clap: an unknown name is refused with the list of names.
pub fn parse_op(name: &str) -> Result<Op, String> {
    Op::from_name(name).ok_or_else(|| format!("unknown op {name:?}; {}", op_names()))
}

/// Every op's name, for `apply --help` and errors.
pub fn op_names() -> String {
    let names: Vec<_> = Op::ALL.iter().map(|o| o.name()).collect();
    format!("ops: {}", names.join(", "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Choice {
    /// A hardware GPU if there is one, else the CPU backend.
    Auto,
    /// Any GPU adapter, a software one (lavapipe) included.
    Gpu,
    Cpu,
    Naive,
}

/// The backend for `choice`, and a line saying what was chosen and why.
pub fn pick(choice: Choice) -> Result<(Box<dyn Backend>, String), String> {
    match choice {
        Choice::Cpu => Ok((Box::new(Cpu), "backend: cpu".into())),
        Choice::Naive => Ok((Box::new(Naive), "backend: naive".into())),
        Choice::Gpu => {
            let gpu = Gpu::new().map_err(|e| e.to_string())?;
            let line = format!("backend: gpu on {}", gpu.adapter());
            Ok((Box::new(gpu), line))
        }
        Choice::Auto => match Gpu::new() {
            Ok(gpu) if !gpu.adapter().is_software => {
                let line = format!("backend: gpu on {}", gpu.adapter());
                Ok((Box::new(gpu), line))
            }
            Ok(gpu) => Ok((
                Box::new(Cpu),
                format!(
                    "backend: cpu (the only GPU adapter is software: {}; use --backend gpu to run on it)",
                    gpu.adapter()
                ),
            )),
            Err(e) => Ok((Box::new(Cpu), format!("backend: cpu ({e})"))),
        },
    }
}
