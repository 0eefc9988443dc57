//! The table of kernels: each is described once (source file, entry point,
//! bindings), and its pipeline is built once per `Gpu`. The unary ops' kernels
//! are generated, one module per op, from shaders/unary.wgsl and the op's
//! definition (src/unary/); the others are listed in `KERNELS`.
//!
//! Binding convention, the same in every shader: read-only storage inputs first
//! (bindings 0..reads), then read-write outputs, then the uniform parameter block
//! if the kernel has one. Arguments are passed to `Runtime::dispatch` in that order.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::unary::Unary;

/// Every kernel the crate can dispatch: a unary op's generated one, or one of
/// the table `KERNELS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    Unary(Unary),
    Fixed(KernelId),
}

impl From<KernelId> for Kernel {
    fn from(k: KernelId) -> Kernel {
        Kernel::Fixed(k)
    }
}

impl Kernel {
    /// Its place in `descs()` and in the pipeline table: the unary ops in their
    /// list's order, then `KERNELS`.
    pub(crate) fn index(self) -> usize {
        match self {
            Kernel::Unary(u) => u as usize,
            Kernel::Fixed(k) => Unary::ALL.len() + k as usize,
        }
    }
}

/// The kernels of `KERNELS`. The discriminant indexes that table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KernelId {
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

#[derive(Clone)]
pub(crate) struct KernelDesc {
    /// For `KERNELS`, its id; unary kernels use `Kernel::Unary`'s.
    pub id: Option<KernelId>,
    /// The module's name: its file under shaders/ (for a unary op's, the
    /// template's and the op's name), for labels and error messages; pipelines
    /// of one module share its compiled shader.
    pub module: Cow<'static, str>,
    /// The WGSL text before `expand`.
    pub source: Cow<'static, str>,
    pub entry: &'static str,
    pub reads: u32,
    pub writes: u32,
    /// Size of the uniform parameter block in bytes, 0 for none.
    pub uniform_bytes: u64,
    /// Values for the shader's `override` constants (one source, several pipelines).
    pub constants: &'static [(&'static str, f64)],
}

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
        id: Some(id),
        module: Cow::Borrowed("rows.wgsl"),
        source: Cow::Borrowed(ROWS_WGSL),
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
    product_with(id, file, source, entry, uniform_bytes, &[])
}

/// `product` with override constants.
const fn product_with(
    id: KernelId,
    file: &'static str,
    source: &'static str,
    entry: &'static str,
    uniform_bytes: u64,
    constants: &'static [(&'static str, f64)],
) -> KernelDesc {
    KernelDesc {
        id: Some(id),
        module: Cow::Borrowed(file),
        source: Cow::Borrowed(source),
        entry,
        reads: 2,
        writes: 1,
        uniform_bytes,
        constants,
    }
}

/// In `KernelId` order.
pub(crate) const KERNELS: &[KernelDesc] = &[
    KernelDesc {
        id: Some(KernelId::Multiply),
        module: Cow::Borrowed("multiply.wgsl"),
        source: Cow::Borrowed(MULTIPLY_WGSL),
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
        id: Some(KernelId::Transpose),
        module: Cow::Borrowed("transpose.wgsl"),
        source: Cow::Borrowed(TRANSPOSE_WGSL),
        entry: "transpose",
        reads: 1,
        writes: 1,
        uniform_bytes: 16,
        constants: &[],
    },
    product_with(
        KernelId::Dot,
        "reduce.wgsl",
        REDUCE_WGSL,
        "pair_sums",
        16,
        &[("KIND", 0.0)],
    ),
    product_with(
        KernelId::L1,
        "reduce.wgsl",
        REDUCE_WGSL,
        "pair_sums",
        16,
        &[("KIND", 1.0)],
    ),
    product_with(
        KernelId::L2,
        "reduce.wgsl",
        REDUCE_WGSL,
        "pair_sums",
        16,
        &[("KIND", 2.0)],
    ),
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
            matches!(KERNELS[i].id, Some(id) if id as usize == i),
            "KERNELS must be in KernelId order"
        );
        i += 1;
    }
    // ...and every id has an entry (MatmulUnaligned is the last variant).
    assert!(KERNELS.len() == KernelId::MatmulUnaligned as usize + 1);
};

const UNARY_WGSL: &str = include_str!("../../shaders/unary.wgsl");
const ELEMENTWISE_WGSL: &str = include_str!("../../shaders/shared/elementwise.wgsl");

/// A unary op's module: the template calling the op's function, the shared
/// helpers, and the function from the op's definition.
fn unary_source(op: Unary) -> String {
    format!(
        "{}\n{ELEMENTWISE_WGSL}\n// {}, from src/unary/\n{}",
        UNARY_WGSL.replace("OP_FN", &format!("op_{}", op.name())),
        op.name(),
        op.wgsl()
    )
}

/// Every kernel, in `Kernel::index` order.
pub(crate) fn descs() -> Vec<KernelDesc> {
    let unary = Unary::ALL.iter().map(|&op| KernelDesc {
        id: None,
        module: Cow::Owned(format!("unary.wgsl ({op})")),
        source: Cow::Owned(unary_source(op)),
        entry: "unary",
        reads: 1,
        writes: 1,
        uniform_bytes: 0,
        constants: &[],
    });
    unary.chain(KERNELS.iter().cloned()).collect()
}

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
    let descs = descs();
    for subgroups in [false, true] {
        for k in &descs {
            if subgroups && !k.source.contains("/*SUBGROUP_INIT*/") {
                continue;
            }
            out.push(KernelVariant {
                module: if subgroups {
                    format!("{} (subgroups)", k.module)
                } else {
                    k.module.to_string()
                },
                subgroups,
                source: expand(&k.source, subgroups),
                entry: k.entry,
                constants: k.constants,
            });
        }
    }
    out
}

/// The .wgsl files under shaders/ that the kernel table uses.
pub fn shader_files() -> Vec<&'static str> {
    let mut files: Vec<&'static str> = KERNELS
        .iter()
        .map(|k| match &k.module {
            Cow::Borrowed(file) => *file,
            Cow::Owned(_) => unreachable!("KERNELS name their files"),
        })
        .collect();
    files.dedup();
    files.extend([
        "unary.wgsl",
        "shared/elementwise.wgsl",
        "shared/reduce_workgroup.wgsl",
        "shared/reduce_subgroup.wgsl",
    ]);
    files
}

/// A built kernel, with what `Runtime::dispatch` checks its arguments against.
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub entry: &'static str,
    pub reads: u32,
    pub writes: u32,
    pub uniform_bytes: u64,
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

/// Builds every kernel's pipeline, in `Kernel::index` order. Shader and
/// pipeline errors are caught in an error scope and returned, so a driver that
/// rejects a kernel gives an `Err` from `Gpu::new`, not a panic on first use.
pub(crate) fn build_all(device: &wgpu::Device, subgroups: bool) -> Result<Vec<Pipeline>> {
    let descs = descs();
    let mut modules: Vec<(&str, wgpu::ShaderModule)> = Vec::new();
    let mut out = Vec::with_capacity(descs.len());
    for k in &descs {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = match modules.iter().find(|(f, _)| *f == k.module) {
            Some((_, m)) => m.clone(),
            None => {
                let m = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(&k.module),
                    source: wgpu::ShaderSource::Wgsl(expand(&k.source, subgroups).into()),
                });
                modules.push((&k.module, m.clone()));
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
                format!("building kernel {} in shaders/{}: {e}", k.entry, k.module),
            ));
        }
        out.push(Pipeline {
            pipeline,
            layout,
            entry: k.entry,
            reads: k.reads,
            writes: k.writes,
            uniform_bytes: k.uniform_bytes,
        });
    }
    Ok(out)
}
