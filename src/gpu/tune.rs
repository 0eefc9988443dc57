//! Autotuning: `tune` times every variant of each kernel family (`map`,
//! `reduce`, `outer`, `rows`, `matmul`, `matvec`) on this adapter, for each size
//! class (line class for `rows`), and keeps the fastest in a cache file, one
//! entry per (adapter, vendor and device id, driver, backend, crate version).
//! A `Gpu` reads its entry when it is made (`GpuOptions::tuning`); it never
//! tunes by itself, so no call pauses for it. A cache that cannot be read, or
//! holds no entry for this adapter, leaves the defaults, and `Gpu::tuning`
//! says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::kernels::{MapOp, ReduceKind};
use super::variants::{
    Choices, ClassFamily, LineClass, MapVariant, MatmulVariant, MatvecVariant, RowsVariant,
    SizeClass, pick_key, rows_key,
};
use super::{Gpu, GpuArray};
use crate::backend::RowOp;
use crate::error::{Error, Result};

/// Where a `Gpu` takes its variants from.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Tuning {
    /// The cache at `default_cache_path()`, if it has an entry for this adapter.
    #[default]
    Cache,
    /// The cache at this path.
    CacheAt(PathBuf),
    /// The defaults, whatever any cache says.
    Off,
    /// The cache at `options.cache` (or the default path); where it has no
    /// entry for this adapter, `Gpu::with_options` first runs `tune` with these
    /// options and writes one, which takes seconds to minutes (opt-in: no
    /// other setting ever tunes by itself). `TuneOptions::quick()` keeps it short.
    TuneIfMissing(TuneOptions),
}

/// `GPU_BASICS_TUNE_CACHE` if set, else `gpu-basics/tune.json` in the user's
/// cache directory (`$XDG_CACHE_HOME`, else `~/.cache`; `~/Library/Caches` on
/// macOS; `%LOCALAPPDATA%` on Windows). `None` if none of those is known.
pub fn default_cache_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GPU_BASICS_TUNE_CACHE") {
        return Some(PathBuf::from(p));
    }
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = if cfg!(windows) {
        var("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|h| h.join("Library/Caches"))
    } else {
        var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache")))
    };
    dir.map(|d| d.join("gpu-basics").join("tune.json"))
}

/// What a cache entry is for: a pick holds only on the same adapter, driver,
/// API and crate version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterKey {
    pub name: String,
    pub vendor: u32,
    pub device: u32,
    pub driver: String,
    pub driver_info: String,
    pub backend: String,
    pub crate_version: String,
}

impl AdapterKey {
    pub(crate) fn of(info: &wgpu::AdapterInfo) -> AdapterKey {
        AdapterKey {
            name: info.name.clone(),
            vendor: info.vendor,
            device: info.device,
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            backend: format!("{:?}", info.backend),
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    entries: Vec<CacheEntry>,
}

/// One adapter's picks, and the timings they came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    pub adapter: AdapterKey,
    /// "kernel" (timestamp queries) or "wall" (wall clock of many dispatches).
    pub timing: String,
    /// ("map/sigmoid/small" -> "wg256x4", ...).
    pub picks: BTreeMap<String, String>,
    /// Seconds per call of every variant: ("map/sigmoid/small" -> ("wg64x1" -> s, ...)).
    pub seconds: BTreeMap<String, BTreeMap<String, f64>>,
}

const FORMAT: u32 = 1;

fn read_cache(path: &Path) -> std::result::Result<CacheFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let file: CacheFile = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if file.format != FORMAT {
        return Err(format!(
            "format {} (this version reads {FORMAT})",
            file.format
        ));
    }
    Ok(file)
}

/// The choices for `key` under `tuning`, and a line saying where they came
/// from (starting with "tuned" when from a cache entry).
pub(crate) fn load(tuning: &Tuning, key: &AdapterKey) -> (Choices, String) {
    let path = match tuning {
        Tuning::Off => return (Choices::default(), "defaults (tuning off)".into()),
        Tuning::CacheAt(p) => p.clone(),
        Tuning::TuneIfMissing(TuneOptions { cache: Some(p), .. }) => p.clone(),
        Tuning::Cache | Tuning::TuneIfMissing(_) => match default_cache_path() {
            Some(p) => p,
            None => return (Choices::default(), "defaults (no cache directory)".into()),
        },
    };
    if !path.exists() {
        let line = format!(
            "defaults (no cache at {}; run `gpu-basics tune`)",
            path.display()
        );
        return (Choices::default(), line);
    }
    let file = match read_cache(&path) {
        Ok(f) => f,
        Err(e) => {
            let line = format!("defaults (cache {} unreadable: {e})", path.display());
            return (Choices::default(), line);
        }
    };
    let Some(entry) = file.entries.iter().find(|e| e.adapter == *key) else {
        let line = format!(
            "defaults (cache {} has no entry for this adapter and driver)",
            path.display()
        );
        return (Choices::default(), line);
    };
    // An entry with a key or variant this version does not know (an older
    // version's `rows/small`, say, from before rows went by line length) is
    // foreign: none of it is used, rather than some picks under another meaning.
    let mut c = Choices::default();
    for (k, v) in &entry.picks {
        if !c.set(k, v) {
            let line = format!(
                "defaults (cache {}: unknown pick {k} = {v})",
                path.display()
            );
            return (Choices::default(), line);
        }
    }
    (c, format!("tuned (cache {})", path.display()))
}

/// What `tune` times, and where it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneOptions {
    /// The cache to write (default: `default_cache_path()`).
    pub cache: Option<PathBuf>,
    /// The array length timed for each size class (default 2^16 and 2^22).
    pub sizes: [usize; 2],
    /// The side of the square matmul timed for each size class (default 256
    /// and 2048; a C under 2^18 elements is small).
    pub matmul_sizes: [usize; 2],
    /// The side of the square W timed for each size class of matvec (default
    /// 256 and 4096; a W under 2^18 elements is small).
    pub matvec_sizes: [usize; 2],
    /// The line length timed for each `rows` class, short, medium and long
    /// (default 16, 512 and 8,192; `LineClass`), as softmax along rows of that
    /// length, as many as make about a third of `sizes[1]` elements: an array
    /// large enough that the shape of a line's work, not launching it,
    /// decides, and the three together about the work the two size classes
    /// were timed on before rows went by line length (so tuning takes as long).
    pub row_lengths: [usize; 3],
    /// Each measurement repeats the op until it lasts this long (default 20 ms).
    pub min_run_s: f64,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions {
            cache: None,
            sizes: [1 << 16, 1 << 22],
            matmul_sizes: [256, 2048],
            matvec_sizes: [256, 4096],
            row_lengths: [16, 512, 8192],
            min_run_s: 0.02,
        }
    }
}

impl TuneOptions {
    /// Smaller sizes and shorter timings: a few seconds on a GPU (what
    /// `gpu-basics tune --quick` runs).
    pub fn quick() -> TuneOptions {
        TuneOptions {
            sizes: [1 << 14, 1 << 18],
            matmul_sizes: [128, 768],
            matvec_sizes: [128, 1024],
            // The default lengths: tuning time goes by `sizes[1]`, not by them.
            row_lengths: [16, 512, 8192],
            min_run_s: 0.005,
            ..Default::default()
        }
    }
}

/// Seconds per call of `f` (resident work, then a wait for the device):
/// device time from timestamp queries where the adapter has them ("kernel"),
/// else wall clock over many calls and one wait ("wall"); the median of three.
fn per_call(gpu: &Gpu, min_run_s: f64, f: &dyn Fn() -> Result<()>) -> Result<(f64, &'static str)> {
    f()?;
    gpu.sync()?;
    let t = Instant::now();
    f()?;
    gpu.sync()?;
    let one = t.elapsed().as_secs_f64().max(1e-7);
    let reps = ((min_run_s / one).ceil() as usize).clamp(1, 10_000);
    let (mut kernel, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        let device = gpu.time_device(|| (0..reps).try_for_each(|_| f()))?;
        gpu.sync()?;
        wall.push(t.elapsed().as_secs_f64() / reps as f64);
        if let Some(d) = device {
            kernel.push(d.as_secs_f64() / reps as f64);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(if kernel.len() == 3 {
        (median(kernel), "kernel")
    } else {
        (median(wall), "wall")
    })
}

/// A `side` x `side` matrix of small integers on the device, for timing a
/// product (`check_sizes` has checked its class).
fn square(gpu: &Gpu, side: usize) -> Result<GpuArray> {
    let data: Vec<f32> = (0..side * side).map(|i| (i % 17) as f32 - 8.0).collect();
    gpu.upload(&ndarray::Array2::from_shape_vec((side, side), data).expect("side^2 values"))
}

/// `Error::Options` naming the option unless each of `sizes`, `matmul_sizes`
/// (as side^2), `matvec_sizes` (as side^2) and `row_lengths` is of its class
/// and at least 1 (an empty array has nothing to time).
fn check_sizes(options: &TuneOptions) -> Result<()> {
    let classes = [
        ("TuneOptions::sizes", options.sizes, 1),
        ("TuneOptions::matmul_sizes", options.matmul_sizes, 2),
        ("TuneOptions::matvec_sizes", options.matvec_sizes, 2),
    ];
    for (option, sizes, dims) in classes {
        for (&class, &n) in SizeClass::ALL.iter().zip(&sizes) {
            let elems = n.saturating_pow(dims);
            if n == 0 || SizeClass::of(elems) != class {
                let what = if dims == 1 {
                    format!("{n} elements")
                } else {
                    format!("{n} x {n}")
                };
                return Err(Error::Options {
                    option,
                    detail: format!(
                        "{what} is not {} (small: 1 to {} elements, large: more)",
                        class.name(),
                        SizeClass::SMALL_BELOW - 1
                    ),
                });
            }
        }
    }
    let lengths = &options.row_lengths;
    for (&class, &len) in LineClass::ALL.iter().zip(lengths) {
        if len == 0 || LineClass::of(len) != class {
            return Err(Error::Options {
                option: "TuneOptions::row_lengths",
                detail: format!(
                    "a line of {len} is not {} (short: 1 to {}, medium: to {}, long: more)",
                    class.name(),
                    LineClass::SHORT_MAX,
                    LineClass::MEDIUM_MAX
                ),
            });
        }
    }
    Ok(())
}

/// The fastest of `times` (variant name -> seconds per call).
fn fastest(times: &BTreeMap<String, f64>) -> String {
    times
        .iter()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(name, _)| name.clone())
        .expect("at least one variant")
}

/// Times every `map` variant on every map op at each size class's length,
/// every `matmul` variant on a square product of each class's side, every
/// `matvec` variant on a square W and every `rows` variant on lines of each
/// line class's length, picks the fastest per op and class, and writes this
/// adapter's entry into the cache (other adapters' entries are kept; the file
/// is replaced atomically). Returns the entry and the path written.
pub fn tune(gpu: &Gpu, options: &TuneOptions) -> Result<(CacheEntry, PathBuf)> {
    // Before any timing, so a bad option costs no minutes.
    check_sizes(options)?;
    let path = match &options.cache {
        Some(p) => p.clone(),
        None => default_cache_path()
            .ok_or_else(|| Error::gpu("tune", "no cache directory is known; name a cache file"))?,
    };
    let mut entry = CacheEntry {
        adapter: gpu.inner.key.clone(),
        timing: String::new(),
        picks: BTreeMap::new(),
        seconds: BTreeMap::new(),
    };
    let mut pick = |key: String, times: Vec<(String, f64, &'static str)>| {
        let times: BTreeMap<String, f64> = times
            .into_iter()
            .map(|(name, s, how)| {
                entry.timing = how.to_string();
                (name, s)
            })
            .collect();
        entry.picks.insert(key.clone(), fastest(&times));
        entry.seconds.insert(key, times);
    };
    let time = |run: &dyn Fn() -> Result<()>| per_call(gpu, options.min_run_s, run);
    let map_shapes = || MapVariant::ALL.into_iter();
    for (&class, &n) in SizeClass::ALL.iter().zip(&options.sizes) {
        let data: Vec<f32> = (0..n).map(|i| (i % 2001) as f32 / 100.0 - 10.0).collect();
        let x = gpu.upload(&ndarray::Array1::from(data))?;
        for op in MapOp::all() {
            let others: Vec<&GpuArray> = match op {
                MapOp::Multiply => vec![&x],
                MapOp::Unary(_) => vec![],
            };
            let run = |v| x.map_variant(op.name(), op, &others, v).map(drop);
            pick(
                pick_key(op, class),
                each(map_shapes(), MapVariant::name, run, time)?,
            );
        }
        // dot, l1 and l2 share a pick (the same memory traffic), timed on dot.
        let run = |v| x.reduce_variant("dot", ReduceKind::Dot, &x, v).map(drop);
        let key = ClassFamily::Reduce.key(class);
        pick(key, each(map_shapes(), MapVariant::name, run, time)?);
        // outer: a square output of about the same size.
        let side = (n as f64).sqrt().ceil() as usize;
        let v1 = gpu.upload(&ndarray::Array1::from_elem(side, 0.5f32))?;
        let run = |v| v1.outer_variant(&v1, v).map(drop);
        let key = ClassFamily::Outer.key(class);
        pick(key, each(map_shapes(), MapVariant::name, run, time)?);
    }
    for (&class, &side) in SizeClass::ALL.iter().zip(&options.matmul_sizes) {
        let a = square(gpu, side)?;
        let run = |v| a.matmul_variant(&a, v).map(drop);
        let key = ClassFamily::Matmul.key(class);
        pick(
            key,
            each(
                // Only those this device has the workgroup memory for.
                MatmulVariant::ALL
                    .into_iter()
                    .filter(|v| v.fits(gpu.workgroup_bytes())),
                MatmulVariant::name,
                run,
                time,
            )?,
        );
    }
    for (&class, &side) in SizeClass::ALL.iter().zip(&options.matvec_sizes) {
        let w = square(gpu, side)?;
        let x = gpu.upload(&ndarray::Array1::from_elem(side, 0.5f32))?;
        let run = |v| {
            w.matvec_variant("matvec", &x, side, side, vec![side], v)
                .map(drop)
        };
        let key = ClassFamily::Matvec.key(class);
        pick(
            key,
            each(
                MatvecVariant::ALL.into_iter(),
                MatvecVariant::name,
                run,
                time,
            )?,
        );
    }
    // softmax and normalize_rows, either axis, share a pick per line class,
    // timed on softmax along rows (columns take the same paths by length).
    for (&class, &cols) in LineClass::ALL.iter().zip(&options.row_lengths) {
        let rows = (options.sizes[1] / 3).div_ceil(cols).max(1);
        let data: Vec<f32> = (0..rows * cols).map(|i| (i % 13) as f32 - 6.0).collect();
        let x = ndarray::Array2::from_shape_vec((rows, cols), data).expect("rows x cols");
        let x = gpu.upload(&x)?;
        let run = |v| x.rows_variant(RowOp::Softmax, 1, v).map(drop);
        pick(
            rows_key(class),
            each(RowsVariant::ALL.into_iter(), RowsVariant::name, run, time)?,
        );
    }
    write_entry(&path, &entry)?;
    Ok((entry, path))
}

/// (name, seconds per call, how timed) of `run` in each of `variants`.
fn each<V: Copy>(
    variants: impl Iterator<Item = V>,
    name: impl Fn(V) -> String,
    run: impl Fn(V) -> Result<()>,
    time: impl Fn(&dyn Fn() -> Result<()>) -> Result<(f64, &'static str)>,
) -> Result<Vec<(String, f64, &'static str)>> {
    variants
        .map(|v| {
            let (s, how) = time(&|| run(v))?;
            Ok((name(v), s, how))
        })
        .collect()
}

/// Replaces this adapter's entry in the cache at `path` (a missing or
/// unreadable file starts afresh), through a temporary file and a rename, so
/// a reader never sees half a file.
fn write_entry(path: &Path, entry: &CacheEntry) -> Result<()> {
    let io = |e: std::io::Error| Error::gpu("tune", format!("{}: {e}", path.display()));
    let mut file = read_cache(path).unwrap_or_default();
    file.format = FORMAT;
    file.entries.retain(|e| e.adapter != entry.adapter);
    file.entries.push(entry.clone());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_string_pretty(&file).map_err(|e| Error::gpu("tune", e))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}
