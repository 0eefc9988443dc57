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
}

const SIGMOID_WGSL: &str = include_str!("../../shaders/sigmoid.wgsl");
const MULTIPLY_WGSL: &str = include_str!("../../shaders/multiply.wgsl");
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
    },
    KernelDesc {
        id: KernelId::SigmoidDerivative,
        file: "sigmoid.wgsl",
        source: SIGMOID_WGSL,
        entry: "sigmoid_derivative",
        reads: 1,
        writes: 1,
        uniform_bytes: 0,
    },
    KernelDesc {
        id: KernelId::Multiply,
        file: "multiply.wgsl",
        source: MULTIPLY_WGSL,
        entry: "multiply",
        reads: 2,
        writes: 1,
        uniform_bytes: 0,
    },
    product(KernelId::Dot, "reduce.wgsl", REDUCE_WGSL, "dot", 16),
    product(KernelId::L1, "reduce.wgsl", REDUCE_WGSL, "l1", 16),
    product(KernelId::L2, "reduce.wgsl", REDUCE_WGSL, "l2", 16),
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

/// Every WGSL file with its name, for the naga validation test.
pub fn shader_sources() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<_> = KERNELS.iter().map(|k| (k.file, k.source)).collect();
    v.dedup();
    v
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
pub(crate) fn build_all(device: &wgpu::Device) -> Result<Vec<Pipeline>> {
    let mut modules: Vec<(&'static str, wgpu::ShaderModule)> = Vec::new();
    let mut out = Vec::with_capacity(KERNELS.len());
    for (i, k) in KERNELS.iter().enumerate() {
        debug_assert_eq!(k.id as usize, i, "KERNELS must be in KernelId order");
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = match modules.iter().find(|(f, _)| *f == k.file) {
            Some((_, m)) => m.clone(),
            None => {
                let m = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(k.file),
                    source: wgpu::ShaderSource::Wgsl(k.source.into()),
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
            compilation_options: Default::default(),
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
