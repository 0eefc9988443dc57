//! The `gpu-basics` command: the exercise walked through (`demo`), the adapters
//! (`info`), any op on .npy files (`apply`), and the benchmark (`bench`).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli::Choice;

#[derive(Parser)]
#[command(
    version,
    about = "The 'Python Basics with Numpy' ops on GPU (wgpu), CPU (ndarray) and naive loops"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The exercise, op by op: each result beside the expected value and the CPU reference.
    Demo {
        #[arg(long, value_enum, default_value_t = Choice::Auto)]
        backend: Choice,
    },
    /// Every adapter found, its limits and optional features.
    Info,
    /// Run one op on .npy files (float32, or float64 converted to float32).
    Apply {
        #[arg(value_parser = cli::parse_op, help = cli::op_names())]
        op: gpu_basics::Op,
        /// The input (and, for two-input ops, the second input).
        #[arg(required = true, num_args = 1..=2)]
        inputs: Vec<PathBuf>,
        /// Where to write the result (.npy; scalars as 0-d arrays).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = Choice::Auto)]
        backend: Choice,
        /// The axis to reduce along, for normalize_rows and softmax (default 1: rows).
        #[arg(long)]
        axis: Option<usize>,
    },
    /// Naive loops vs CPU vs GPU for every op and size, as throughput and as a
    /// fraction of this machine's measured limits.
    Bench(cli::bench::Args),
    /// Time every kernel variant on this GPU and keep the fastest in the tuning
    /// cache, which every later run reads.
    Tune(cli::tune::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Demo {
        backend: Choice::Auto,
    }) {
        Command::Info => {
            cli::info::info();
            Ok(())
        }
        Command::Demo { backend } => cli::pick(backend).and_then(|(b, line)| {
            println!("{line}");
            match cli::demo::demo(b.as_ref()) {
                Ok(true) => Ok(()),
                Ok(false) => Err("some results did not match".to_string()),
                Err(e) => Err(e.to_string()),
            }
        }),
        Command::Apply {
            op,
            inputs,
            out,
            backend,
            axis,
        } => cli::apply::apply(op, &inputs, &out, backend, axis),
        Command::Bench(args) => cli::bench::bench(&args),
        Command::Tune(args) => cli::tune::tune(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
