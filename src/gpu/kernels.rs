//! The table of kernels: each is described once (source file, entry point,
//! bindings), and its pipeline is built once per `Gpu`.
//!
//! Binding convention, the same in every shader: read-only storage inputs first
//! (bindings 0..reads), then read-write outputs, then the uniform parameter block
//! if the kernel has one. Arguments are passed to `Runtime::dispatch` in that order.

use crate::error::{Error, Result};

/// Every kernel the crate can dispatch. The discriminant indexes the pipeline table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KernelId {
    Sigmoid,
    SigmoidDerivative,
    Multiply,
    SoftmaxShort,
    SoftmaxFused,
    SoftmaxPartials,
    SoftmaxMerge,
    SoftmaxApply,
    NormalizeShort,
    NormalizeFused,
    NormalizePartials,
    NormalizeMerge,
    NormalizeApply,
    Transpose,
    Dot,
    L1,
    L2,
    ReducePartials,
    Outer,
    Matvec,
    Matmul,
    MatmulUnaligned,
}

pub(crate) struct KernelDesc {
    pub id: KernelId,
    /// The file under shaders/, for labels and error messages.
    pub file: &'static str,
    pub source: &'static str,
    pub entry: &'static str,
    pub reads: u32,
    pub writes: u32,
    /// Size of the uniform parameter block in bytes, 0 for none.
    pub uniform_bytes: u64,
    /// Values for the shader's `override` constants (one source, several pipelines).
    pub constants: &'static [(&'static str, f64)],
}

const SIGMOID_WGSL: &str = include_str!("../../shaders/sigmoid.wgsl");
const MULTIPLY_WGSL: &str = include_str!("../../shaders/multiply.wgsl");
const ROWS_WGSL: &str = include_str!("../../shaders/rows.wgsl");
const TRANSPOSE_WGSL: &str = include_str!("../../shaders/transpose.wgsl");

/// `OP` in shaders/rows.wgsl: which row reduction a pipeline computes.
const SOFTMAX: &[(&str, f64)] = &[("OP", 0.0)];
const NORMALIZE: &[(&str, f64)] = &[("OP", 1.0)];

/// A stage of shaders/rows.wgsl; every stage takes its parameters in a 32-byte
/// `Params` block (`RowParams` in src/gpu/rows.rs).
const fn rows(
    id: KernelId,
    entry: &'static str,
    reads: u32,
    writes: u32,
    op: &'static [(&'static str, f64)],
) -> KernelDesc {
    KernelDesc {
        id,
        file: "rows.wgsl",
        source: ROWS_WGSL,
        entry,
        reads,
        writes,
        uniform_bytes: 32,
        constants: op,
    }
}

const REDUCE_WGSL: &str = include_str!("../../shaders/reduce.wgsl");
const OUTER_WGSL: &str = include_str!("../../shaders/outer.wgsl");
const MATVEC_WGSL: &str = include_str!("../../shaders/matvec.wgsl");
const MATMUL_WGSL: &str = include_str!("../../shaders/matmul.wgsl");

/// The products' kernels: two inputs, one output, one parameter block.
const fn product(
    id: KernelId,
    file: &'static str,
    source: &'static str,
    entry: &'static str,
    uniform_bytes: u64,
) -> KernelDesc {
    KernelDesc {
        id,
        file,
        source,
        entry,
        reads: 2,
        writes: 1,
        uniform_bytes,
        constants: &[],
    }
}

/// In `KernelId` order.
pub(crate) const KERNELS: &[KernelDesc] = &[
    KernelDesc {
        id: KernelId::Sigmoid,
        file: "sigmoid.wgsl",
        source: SIGMOID_WGSL,
        entry: "sigmoid",
        reads: 1,
        writes: 1,
        uniform_bytes: 0,
        constants: &[],
    },
    KernelDesc {
        id: KernelId::SigmoidDerivative,
        file: "sigmoid.wgsl",
        source: SIGMOID_WGSL,
        entry: "sigmoid_derivative",
        reads: 1,
        writes: 1,
        uniform_bytes: 0,
        constants: &[],
    },
    KernelDesc {
        id: KernelId::Multiply,
        file: "multiply.wgsl",
        source: MULTIPLY_WGSL,
        entry: "multiply",
        reads: 2,
        writes: 1,
        uniform_bytes: 0,
        constants: &[],
    },
    rows(KernelId::SoftmaxShort, "rows_short", 1, 1, SOFTMAX),
    rows(KernelId::SoftmaxFused, "rows_fused", 1, 1, SOFTMAX),
    rows(KernelId::SoftmaxPartials, "rows_partials", 1, 1, SOFTMAX),
    rows(KernelId::SoftmaxMerge, "rows_merge", 1, 1, SOFTMAX),
    rows(KernelId::SoftmaxApply, "rows_apply", 2, 1, SOFTMAX),
    rows(KernelId::NormalizeShort, "rows_short", 1, 1, NORMALIZE),
    rows(KernelId::NormalizeFused, "rows_fused", 1, 1, NORMALIZE),
    rows(
        KernelId::NormalizePartials,
        "rows_partials",
        1,
        1,
        NORMALIZE,
    ),
    rows(KernelId::NormalizeMerge, "rows_merge", 1, 1, NORMALIZE),
    rows(KernelId::NormalizeApply, "rows_apply", 2, 1, NORMALIZE),
    KernelDesc {
        id: KernelId::Transpose,
        file: "transpose.wgsl",
        source: TRANSPOSE_WGSL,
        entry: "transpose",
        reads: 1,
        writes: 1,
        uniform_bytes: 16,
        constants: &[],
    },
    KernelDesc {
        constants: &[("KIND", 0.0)],
        ..product(KernelId::Dot, "reduce.wgsl", REDUCE_WGSL, "pair_sums", 16)
    },
    KernelDesc {
        constants: &[("KIND", 1.0)],
        ..product(KernelId::L1, "reduce.wgsl", REDUCE_WGSL, "pair_sums", 16)
    },
    KernelDesc {
        constants: &[("KIND", 2.0)],
        ..product(KernelId::L2, "reduce.wgsl", REDUCE_WGSL, "pair_sums", 16)
    },
    product(
        KernelId::ReducePartials,
        "reduce.wgsl",
        REDUCE_WGSL,
        "reduce_partials",
        16,
    ),
    product(KernelId::Outer, "outer.wgsl", OUTER_WGSL, "outer", 16),
    product(KernelId::Matvec, "matvec.wgsl", MATVEC_WGSL, "matvec", 32),
    product(KernelId::Matmul, "matmul.wgsl", MATMUL_WGSL, "matmul", 48),
    product(
        KernelId::MatmulUnaligned,
        "matmul.wgsl",
        MATMUL_WGSL,
        "matmul_unaligned",
        48,
    ),
];

// `KERNELS[id as usize]` is kernel `id`: checked when the crate compiles.
const _: () = {
    let mut i = 0;
    while i < KERNELS.len() {
        assert!(
            KERNELS[i].id as usize == i,
            "KERNELS must be in KernelId order"
        );
        i += 1;
    }
    // ...and every id has an entry (MatmulUnaligned is the last variant).
    assert!(KERNELS.len() == KernelId::MatmulUnaligned as usize + 1);
};

const REDUCE_WORKGROUP_WGSL: &str = include_str!("../../shaders/shared/reduce_workgroup.wgsl");
const REDUCE_SUBGROUP_WGSL: &str = include_str!("../../shaders/shared/reduce_subgroup.wgsl");

/// Shaders that reduce across a workgroup carry two placeholders in the entry
/// points that call `reduce_segment`; the function itself comes from one of
/// two shared files. With subgroups, the entry points receive the subgroup
/// builtins (which do not compile on devices without the feature, so the plain
/// variant must not mention them at all).
pub(crate) fn expand(source: &str, subgroups: bool) -> String {
    const BUILTINS: &str = "/*SUBGROUP_BUILTINS*/";
    const INIT: &str = "/*SUBGROUP_INIT*/";
    if !source.contains(INIT) {
        return source.to_string();
    }
    if subgroups {
        let s = source
            .replace(
                BUILTINS,
                "@builtin(subgroup_size) sg_size: u32, @builtin(subgroup_invocation_id) sg_lid: u32,",
            )
            .replace(INIT, "");
        s + "\n" + REDUCE_SUBGROUP_WGSL
    } else {
        // The same names, so the call sites are one text; the fallback ignores them.
        source
            .replace(BUILTINS, "")
            .replace(INIT, "let sg_size = 1u; let sg_lid = 0u;")
            + "\n"
            + REDUCE_WORKGROUP_WGSL
    }
}

/// Every module as the device compiles it, each variant named, for the naga
/// validation test: the distinct modules of `kernel_variants`.
pub fn shader_sources() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for k in kernel_variants() {
        if !out.iter().any(|(module, _)| *module == k.module) {
            out.push((k.module, k.source));
        }
    }
    out
}

/// One pipeline as the crate builds it: the module text handed to the device,
/// its entry point and its override constants. Every kernel appears once per
/// subgroup variant of its module, so a second WGSL compiler (Tint, in CI) can
/// build exactly the pipelines a device builds.
pub struct KernelVariant {
    /// The file under shaders/, with " (subgroups)" for the subgroup variant.
    pub module: String,
    /// Whether the module uses subgroup builtins (Tint needs `enable subgroups;`).
    pub subgroups: bool,
    pub source: String,
    pub entry: &'static str,
    pub constants: &'static [(&'static str, f64)],
}

/// Every (module variant, entry point, constants) the crate can build.
pub fn kernel_variants() -> Vec<KernelVariant> {
    let mut out = Vec::new();
    for subgroups in [false, true] {
        for k in KERNELS {
            if subgroups && !k.source.contains("/*SUBGROUP_INIT*/") {
                continue;
            }
            out.push(KernelVariant {
                module: if subgroups {
                    format!("{} (subgroups)", k.file)
                } else {
                    k.file.to_string()
                },
                subgroups,
                source: expand(k.source, subgroups),
                entry: k.entry,
                constants: k.constants,
            });
        }
    }
    out
}

/// The .wgsl files under shaders/ that the kernel table uses.
pub fn shader_files() -> Vec<&'static str> {
    let mut files: Vec<&'static str> = KERNELS.iter().map(|k| k.file).collect();
    files.dedup();
    files.extend([
        "shared/reduce_workgroup.wgsl",
        "shared/reduce_subgroup.wgsl",
    ]);
    files
}

pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn uniform_entry(binding: u32, bytes: u64) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: wgpu::BufferSize::new(bytes),
        },
        count: None,
    }
}

/// Builds every pipeline in `KERNELS`. Shader and pipeline errors are caught in an
/// error scope and returned, so a driver that rejects a kernel gives an `Err`
/// from `Gpu::new`, not a panic on first use.
pub(crate) fn build_all(device: &wgpu::Device, subgroups: bool) -> Result<Vec<Pipeline>> {
    let mut modules: Vec<(&'static str, wgpu::ShaderModule)> = Vec::new();
    let mut out = Vec::with_capacity(KERNELS.len());
    for k in KERNELS {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = match modules.iter().find(|(f, _)| *f == k.file) {
            Some((_, m)) => m.clone(),
            None => {
                let m = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(k.file),
                    source: wgpu::ShaderSource::Wgsl(expand(k.source, subgroups).into()),
                });
                modules.push((k.file, m.clone()));
                m
            }
        };
        let mut entries: Vec<_> = (0..k.reads).map(|b| storage_entry(b, true)).collect();
        entries.extend((k.reads..k.reads + k.writes).map(|b| storage_entry(b, false)));
        if k.uniform_bytes > 0 {
            entries.push(uniform_entry(k.reads + k.writes, k.uniform_bytes));
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(k.entry),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(k.entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(k.entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(k.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: k.constants,
                ..Default::default()
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::gpu(
                "Gpu::new",
                format!("building kernel {} in shaders/{}: {e}", k.entry, k.file),
            ));
        }
        out.push(Pipeline { pipeline, layout });
    }
    Ok(out)
}
