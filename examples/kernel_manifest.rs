//! Prints every pipeline the crate can build as JSON (module text, entry point,
//! override constants, workgroup memory where it may pass 16 KiB), for compiling them with a second WGSL compiler:
//! `.ci/tint/check.mjs` feeds this to Tint (Dawn) in CI.
//!
//!     cargo run --release --example kernel_manifest > kernels.json

fn main() {
    let kernels: Vec<serde_json::Value> = gpu_basics::gpu::kernel_variants()
        .into_iter()
        .map(|k| {
            let constants: serde_json::Map<String, serde_json::Value> = k
                .constants
                .iter()
                .map(|(name, v)| (name.to_string(), serde_json::json!(v)))
                .collect();
            serde_json::json!({
                "module": k.module,
                "subgroups": k.subgroups,
                "source": k.source,
                "entry": k.entry,
                "constants": constants,
                "workgroup_bytes": k.workgroup_bytes,
            })
        })
        .collect();
    println!("{}", serde_json::Value::Array(kernels));
}
