//! The tuning cache (src/gpu/tune.rs) on the adapter at hand: `tune` writes an
//! entry for this adapter whose picks a `Gpu` then runs; pins override it; a
//! corrupt cache, another adapter's entry or `Tuning::Off` leave the defaults and
//! say why; a second adapter's entry survives a retune; `TuneIfMissing` tunes
//! once; and a tuned context gives the default context's bits for map and
//! matmul (a matvec or reduce variant may change the last bits: another order
//! of adds); softmax and normalize_rows run the pick of their line length's
//! class, along either axis; sizes outside their classes are refused before any timing;
//! an older version's `rows/small` entry is refused whole. Every variant's correctness is tested elsewhere, pinned:
//! `every_map_variant` (tests/elementwise.rs), `every_matmul_variant`
//! (tests/matmul.rs), `every_matvec_variant` and `every_outer_variant`
//! (tests/products.rs), `every_reduce_variant` (tests/reductions.rs). The
//! timings here prove nothing about speed on a software adapter, only that a
//! winner is picked and kept.

mod common;

use std::path::Path;

use common::{GpuCase, Outcome, fail, values};
use gpu_basics::gpu::{
    CacheEntry, LineClass, MapVariant, MatmulVariant, MatvecVariant, RowsVariant, TuneOptions,
    WEBGPU_WORKGROUP_BYTES, tune,
};
use gpu_basics::{Backend, Error, Gpu, GpuOptions, Tuning, Unary};
use ndarray::{Array1, Array2, Axis};

fn with(tuning: Tuning, pins: &[(&str, &str)]) -> gpu_basics::Result<Gpu> {
    Gpu::with_options(GpuOptions {
        tuning,
        pin_variants: pins
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    })
}

fn entries(path: &Path) -> Result<Vec<CacheEntry>, common::Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    serde_json::from_value(v["entries"].clone()).map_err(|e| fail(e.to_string()))
}

/// Writes a cache at `path` holding `entry` alone, as `tune` writes it.
fn write_cache(path: &Path, entry: &CacheEntry) -> Outcome {
    let file = serde_json::json!({ "format": 1, "entries": [entry] });
    std::fs::write(path, file.to_string()).map_err(|e| fail(e.to_string()))
}

fn quick(path: &Path) -> TuneOptions {
    TuneOptions {
        cache: Some(path.to_path_buf()),
        sizes: [1000, 300_001],
        // 512^2 is the smallest large C (2^18 elements).
        matmul_sizes: [24, 512],
        matvec_sizes: [24, 512],
        // The longest short and medium lines, the shortest long one.
        row_lengths: [LineClass::SHORT_MAX, LineClass::MEDIUM_MAX, 2049],
        min_run_s: 0.0005,
    }
}

/// Tunes a context that acts as a device with WebGPU's guaranteed 16 KiB of
/// workgroup memory (so the matmul variants needing more are not timed), then
/// runs the picks from the cache it wrote.
fn tune_then_run_the_picks(_: &Gpu) -> Outcome {
    let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let path = dir.path().join("sub").join("tune.json");
    let off = Gpu::with_options(GpuOptions {
        tuning: Tuning::Off,
        max_workgroup_storage_bytes: Some(WEBGPU_WORKGROUP_BYTES),
        ..Default::default()
    })?;
    let matmuls = MatmulVariant::ALL
        .iter()
        .filter(|v| v.fits(WEBGPU_WORKGROUP_BYTES))
        .count();
    assert!(
        matmuls < MatmulVariant::ALL.len(),
        "some variant needs more"
    );
    let (entry, written) = tune(&off, &quick(&path))?;
    if written != path || entries(&path)?.len() != 1 {
        return Err(fail(format!(
            "wrote {written:?}, entries {:?}",
            entries(&path)?
        )));
    }
    // One pick per map op (the unary ops and multiply) and size class, one
    // per size class for matmul, matvec, reduce and outer, and one per line
    // class for rows.
    let picks_wanted = 2 * (Unary::ALL.len() + 1) + 2 * 4 + 3;
    let rows_keys = ["rows/short", "rows/medium", "rows/long"];
    if entry.adapter.name != off.adapter().name
        || entry.picks.len() != picks_wanted
        || rows_keys.iter().any(|k| !entry.picks.contains_key(*k))
    {
        return Err(fail(format!("entry {entry:?}")));
    }
    for (key, pick) in &entry.picks {
        let times = &entry.seconds[key];
        let best = times.iter().min_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        let known = match key.split('/').next() {
            Some("matmul") => MatmulVariant::from_name(pick).is_some() && times.len() == matmuls,
            Some("matvec") => {
                MatvecVariant::from_name(pick).is_some() && times.len() == MatvecVariant::ALL.len()
            }
            Some("rows") => {
                RowsVariant::from_name(pick).is_some() && times.len() == RowsVariant::ALL.len()
            }
            _ => MapVariant::from_name(pick).is_some() && times.len() == MapVariant::ALL.len(),
        };
        if !known || best != pick {
            return Err(fail(format!("{key}: pick {pick}, times {times:?}")));
        }
    }
    let tuned = with(Tuning::CacheAt(path.clone()), &[])?;
    let picks: Vec<(String, String)> = entry.picks.clone().into_iter().collect();
    let mut runs = tuned.variants();
    runs.sort();
    if runs != picks || !tuned.tuning().starts_with("tuned") {
        return Err(fail(format!(
            "runs {runs:?} ({}), picked {picks:?}",
            tuned.tuning()
        )));
    }
    // Any variant gives the same bits (the same function per element).
    for n in [1000, 300_001] {
        let x = Array1::from(values(n, 7, -20.0, 20.0));
        for &op in Unary::ALL {
            let a = tuned.upload(&x)?.unary(op)?.to_array()?;
            let b = off.upload(&x)?.unary(op)?.to_array()?;
            if a.iter().zip(&b).any(|(p, q)| p.to_bits() != q.to_bits()) {
                return Err(fail(format!(
                    "{op} at n = {n}: tuned and default bits differ"
                )));
            }
        }
    }
    for (m, k, n) in [(24, 24, 24), (512, 40, 512)] {
        let a = ndarray::Array2::from_shape_vec((m, k), values(m * k, 8, -2.0, 2.0)).unwrap();
        let c = ndarray::Array2::from_shape_vec((k, n), values(k * n, 9, -2.0, 2.0)).unwrap();
        let (x, y) = (
            tuned.matmul(a.view(), c.view())?,
            off.matmul(a.view(), c.view())?,
        );
        if x.iter().zip(&y).any(|(p, q)| p.to_bits() != q.to_bits()) {
            return Err(fail(format!(
                "matmul ({m}, {k}) x ({k}, {n}): tuned and default bits differ"
            )));
        }
    }
    // A pin wins over the cache, per family.
    let pins = [
        ("map", "wg128x2"),
        ("matmul", "128x128r8x8k8"),
        ("matvec", "lanes256"),
        ("reduce", "wg64x4"),
        ("outer", "wg256x2"),
        ("rows", "pt16s4"),
    ];
    let pinned = with(Tuning::CacheAt(path.clone()), &pins)?;
    let wrong = pinned.variants().into_iter().any(|(key, v)| {
        let family = key.split('/').next().unwrap_or("");
        pins.iter().all(|&(f, pin)| f != family || v != pin)
    });
    if wrong || !pinned.tuning().contains("pinned") {
        return Err(fail(format!(
            "pinned: {:?} ({})",
            pinned.variants(),
            pinned.tuning()
        )));
    }
    // A cache pick needing more workgroup memory than the device has (a
    // cache from another device, or edited): the default runs there, and
    // `tuning()` says why; a device with the memory runs the pick.
    let big = "128x128r8x8k32";
    let mut beyond = entry.clone();
    beyond.picks.insert("matmul/large".into(), big.into());
    let beyond_path = dir.path().join("beyond.json");
    write_cache(&beyond_path, &beyond)?;
    let small = Gpu::with_options(GpuOptions {
        tuning: Tuning::CacheAt(beyond_path.clone()),
        max_workgroup_storage_bytes: Some(WEBGPU_WORKGROUP_BYTES),
        ..Default::default()
    })?;
    let full = with(Tuning::CacheAt(beyond_path), &[])?;
    let default = MatmulVariant::DEFAULT.name();
    if small.variant("matmul", 1 << 20) != Some(default)
        || !small.tuning().contains("workgroup memory")
        || full.variant("matmul", 1 << 20).as_deref() != Some(big)
    {
        return Err(fail(format!(
            "a {big} pick: {:?} ({}) on 16 KiB, {:?} on the device",
            small.variant("matmul", 1 << 20),
            small.tuning(),
            full.variant("matmul", 1 << 20)
        )));
    }
    rows_by_line_length(&off, entry, &path)
}

/// softmax and normalize_rows run the pick of their line's class (the row
/// length along axis 1, the column length along axis 0), not of the array's
/// size: a cache picks a different, non-default variant per line class, and
/// arrays whose line is medium but whose size is large give the medium pick's
/// bits (which differ from the long pick's on them).
fn rows_by_line_length(off: &Gpu, mut entry: CacheEntry, path: &Path) -> Outcome {
    let picks = [
        ("rows/short", "pt16s16"),
        ("rows/medium", "pt16s1"),
        ("rows/long", "pt8s4"),
    ];
    for (k, v) in picks {
        entry.picks.insert(k.into(), v.into());
    }
    write_cache(path, &entry)?;
    let gpu = with(Tuning::CacheAt(path.to_path_buf()), &[])?;
    let wanted = [
        (1, "pt16s16"),
        (LineClass::SHORT_MAX, "pt16s16"),
        (LineClass::SHORT_MAX + 1, "pt16s1"),
        (LineClass::MEDIUM_MAX, "pt16s1"),
        (LineClass::MEDIUM_MAX + 1, "pt8s4"),
        (1 << 24, "pt8s4"),
    ];
    for op in ["softmax", "normalize_rows"] {
        for (line, v) in wanted {
            let runs = gpu.variant(op, line);
            if runs.as_deref() != Some(v) {
                return Err(fail(format!(
                    "{op} on lines of {line} runs {runs:?}, not {v}"
                )));
            }
        }
    }
    // The medium pick's bits; off runs pt8s1, which reads a line of 100 as
    // the long pick (pt8s4) would: 16 invocations, 8 elements each.
    let medium = with(Tuning::Off, &[("rows", "pt16s1")])?;
    // Lines of 70 and 100 in arrays of over 2,048 elements; the second's rows
    // are long.
    for (shape, axis) in [((300, 100), 1), ((70, 2049), 0)] {
        let x = Array2::from_shape_vec(shape, values(shape.0 * shape.1, 12, -30.0, 30.0)).unwrap();
        let bits = |g: &Gpu| -> Result<Vec<u32>, common::Failed> {
            let y = g.softmax_axis(x.view(), Axis(axis))?;
            Ok(y.iter().map(|v| v.to_bits()).collect())
        };
        let (got, want, long) = (bits(&gpu)?, bits(&medium)?, bits(off)?);
        if want == long || got != want {
            return Err(fail(format!(
                "softmax of {shape:?} along axis {axis}: not the medium pick's bits (the \
                 medium and long picks' bits differ: {})",
                want != long
            )));
        }
    }
    bench_names_the_line_pick(path)
}

/// `gpu-basics bench` names the variant of the row ops' lines (its quick
/// softmax cases: rows of 64 and of 1,024, a million elements each) from the
/// cache `rows_by_line_length` wrote.
fn bench_names_the_line_pick(cache: &Path) -> Outcome {
    let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let json = dir.path().join("bench.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-basics"))
        .args(["bench", "--quick", "--ops", "softmax", "--backends", "gpu"])
        .arg("--json")
        .arg(&json)
        .env("GPU_BASICS_TUNE_CACHE", cache)
        .output()
        .map_err(|e| fail(e.to_string()))?;
    let text = std::fs::read_to_string(&json).map_err(|e| {
        fail(format!(
            "bench wrote no json ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    })?;
    let report: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let rows = report["results"].as_array().cloned().unwrap_or_default();
    let named = |shape: [u64; 2], v: &str| {
        let of_shape: Vec<_> = rows
            .iter()
            .filter(|r| r["shape"] == serde_json::json!(shape))
            .collect();
        !of_shape.is_empty() && of_shape.iter().all(|r| r["variant"] == v)
    };
    if !named([16384, 64], "pt16s16") || !named([1024, 1024], "pt16s1") {
        return Err(fail(format!("bench rows: {rows:?}")));
    }
    Ok(())
}

/// Sizes outside their classes (or empty) are an `Error::Options` naming the
/// option, before any timing: nothing is written. (The matmul and matvec
/// sides were once checked only when their turn came, after the map timings.)
fn bad_sizes(gpu: &Gpu) -> Outcome {
    let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let path = dir.path().join("tune.json");
    let mut cases: Vec<(&str, TuneOptions)> = [
        [0, 512, 8192],
        [65, 512, 8192],
        [16, 64, 8192],
        [16, 2049, 8192],
        [16, 512, 2048],
    ]
    .into_iter()
    .map(|row_lengths| {
        let o = TuneOptions {
            row_lengths,
            ..quick(&path)
        };
        ("TuneOptions::row_lengths", o)
    })
    .collect();
    for sizes in [[0, 300_001], [300_001, 1000], [1000, 1000]] {
        let o = TuneOptions {
            sizes,
            ..quick(&path)
        };
        cases.push(("TuneOptions::sizes", o));
    }
    for sides in [[512, 512], [0, 512]] {
        let o = TuneOptions {
            matmul_sizes: sides,
            ..quick(&path)
        };
        cases.push(("TuneOptions::matmul_sizes", o));
        let o = TuneOptions {
            matvec_sizes: sides,
            ..quick(&path)
        };
        cases.push(("TuneOptions::matvec_sizes", o));
    }
    for (name, options) in cases {
        match tune(gpu, &options) {
            Err(Error::Options { option, .. }) if option == name && !path.exists() => {}
            other => {
                return Err(fail(format!(
                    "{name} {options:?}: {:?}, cache written: {}",
                    other.map(|(e, _)| e.picks),
                    path.exists()
                )));
            }
        }
    }
    Ok(())
}

fn caches_that_do_not_apply(_: &Gpu) -> Outcome {
    let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let defaults = |gpu: &Gpu, why: &str| -> Outcome {
        let all_default = gpu.variants().iter().all(|(key, v)| {
            *v == match key.split('/').next() {
                Some("matmul") => MatmulVariant::DEFAULT.name(),
                Some("matvec") => MatvecVariant::DEFAULT.name(),
                Some("reduce") => MapVariant::DEFAULT_REDUCE.name(),
                Some("rows") => RowsVariant::DEFAULT.name(),
                _ => MapVariant::DEFAULT.name(),
            }
        });
        if all_default && gpu.tuning().contains(why) {
            Ok(())
        } else {
            Err(fail(format!(
                "want defaults ({why}): {:?} ({})",
                gpu.variants(),
                gpu.tuning()
            )))
        }
    };
    let path = dir.path().join("tune.json");
    defaults(&with(Tuning::CacheAt(path.clone()), &[])?, "no cache at")?;
    std::fs::write(&path, "{ \"format\": 1, \"entries\": [").map_err(|e| fail(e.to_string()))?;
    defaults(&with(Tuning::CacheAt(path.clone()), &[])?, "unreadable")?;
    // Another adapter's entry: ours has a different name.
    let off = with(Tuning::Off, &[])?;
    let (ours, _) = tune(&off, &quick(&path))?;
    let mut entry = ours.clone();
    entry.adapter.name = format!("not {}", entry.adapter.name);
    write_cache(&path, &entry)?;
    defaults(&with(Tuning::CacheAt(path.clone()), &[])?, "no entry")?;
    // Our entry as an older version wrote it, rows by size class: none of it
    // is used (the format is the same; the keys say it is foreign).
    let mut old = ours;
    old.picks.retain(|k, _| !k.starts_with("rows/"));
    old.picks.insert("rows/small".into(), "pt16s16".into());
    old.picks.insert("rows/large".into(), "pt16s1".into());
    write_cache(&path, &old)?;
    defaults(
        &with(Tuning::CacheAt(path.clone()), &[])?,
        "unknown pick rows/large = pt16s1",
    )?;
    write_cache(&path, &entry)?;
    defaults(&with(Tuning::Off, &[])?, "tuning off")?;
    // Retuning keeps the other adapter's entry and adds ours.
    tune(&off, &quick(&path))?;
    let names: Vec<String> = entries(&path)?
        .into_iter()
        .map(|e| e.adapter.name)
        .collect();
    if names.len() != 2 || !names.contains(&off.adapter().name) {
        return Err(fail(format!("entries after a retune: {names:?}")));
    }
    Ok(())
}

/// `Tuning::TuneIfMissing`: a context on a cache without this adapter tunes
/// first and runs the picks; the next one reads them without tuning again (the
/// file is unchanged, timings included).
fn tune_on_first_use(_: &Gpu) -> Outcome {
    let dir = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
    let path = dir.path().join("tune.json");
    let first = with(Tuning::TuneIfMissing(quick(&path)), &[])?;
    let written = std::fs::read(&path).map_err(|e| fail(format!("no cache written: {e}")))?;
    if !first.tuning().starts_with("tuned") || entries(&path)?.len() != 1 {
        return Err(fail(format!("first use: {}", first.tuning())));
    }
    let again = with(Tuning::TuneIfMissing(quick(&path)), &[])?;
    let now = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
    if now != written || again.variants() != first.variants() {
        return Err(fail("the second context tuned again"));
    }
    Ok(())
}

const GPU_CASES: &[GpuCase] = &[
    ("tune_then_run_the_picks", tune_then_run_the_picks),
    ("caches_that_do_not_apply", caches_that_do_not_apply),
    ("tune_on_first_use", tune_on_first_use),
    ("bad_sizes", bad_sizes),
];

fn main() {
    common::run(&[], GPU_CASES);
}
