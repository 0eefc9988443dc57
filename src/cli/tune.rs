//! `gpu-basics tune`: times every variant of each kernel family on this
//! machine's GPU and writes the fastest to the tuning cache that every `Gpu`
//! reads (src/gpu/tune.rs).

use std::path::PathBuf;

use gpu_basics::gpu::{self, TuneOptions};
use gpu_basics::{Gpu, GpuOptions, Tuning};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Smaller arrays and shorter timings (a few seconds)
    #[arg(long)]
    quick: bool,
    /// The cache file to write (default: the user's cache directory, or
    /// GPU_BASICS_TUNE_CACHE)
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub fn tune(args: &Args) -> Result<(), String> {
    // Tuning off: every variant is timed explicitly, whatever a cache says.
    let gpu = Gpu::with_options(GpuOptions {
        tuning: Tuning::Off,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    println!("tuning on {}", gpu.adapter());
    if gpu.adapter().is_software {
        println!("(a software adapter: the picks fit this driver on this CPU, not a GPU)");
    }
    let options = TuneOptions {
        cache: args.cache.clone(),
        ..if args.quick {
            TuneOptions::quick()
        } else {
            TuneOptions::default()
        }
    };
    let (entry, path) = gpu::tune(&gpu, &options).map_err(|e| e.to_string())?;
    for (key, times) in &entry.seconds {
        println!("{key} ({} timing):", entry.timing);
        for (variant, s) in times {
            let pick = if entry.picks.get(key) == Some(variant) {
                "  <- pick"
            } else {
                ""
            };
            println!("  {variant:<14} {:>10.1} us{pick}", s * 1e6);
        }
    }
    println!("wrote {}", path.display());
    Ok(())
}
