//! The GPU backend: WGSL kernels from `shaders/`, dispatched through wgpu.
//!
//! - `Gpu` owns a device, its pipelines (built once) and a buffer pool.
//! - `GpuArray` is data resident on that device; ops on it return new resident
//!   arrays, so chains run without readbacks. The `Backend` impl is a thin layer:
//!   upload, run the resident op, read back.
//! - `runtime` holds the one dispatch path, batching and readback.

mod array;
mod elementwise;
mod kernels;
mod pool;
mod products;
mod rows;
mod runtime;
mod tune;
mod variants;
mod yardsticks;

use std::sync::{Arc, Mutex};

use ndarray::{
    Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD, Axis, Ix1, Ix2,
};

pub use array::GpuArray;
pub use kernels::{KernelVariant, kernel_variants, shader_files, shader_sources};
pub use pool::MemoryStats;
pub use tune::{AdapterKey, CacheEntry, TuneOptions, Tuning, default_cache_path, tune};
pub use variants::{
    FAMILIES, LineClass, MapVariant, MatmulVariant, MatvecVariant, RowsVariant, SizeClass,
    WEBGPU_WORKGROUP_BYTES,
};

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::unary::Unary;
use kernels::Kernel;
use runtime::Runtime;
use variants::{Choices, Variant};

/// Knobs for `Gpu::with_options`. The defaults suit every use; the limits exist so
/// tests can drive the splitting paths (several bindings per array, 2-D dispatch
/// grids) with small arrays, and can only lower what the device allows.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Use at most this many bytes per storage binding (rounded down to the
    /// device's offset alignment; below it, or below 16, is `Error::Options`).
    pub max_binding_bytes: Option<u64>,
    /// Use at most this many workgroups per dispatch dimension (0 is `Error::Options`).
    pub max_workgroups_per_dimension: Option<u32>,
    /// Use at most this many bytes of workgroup memory per workgroup, e.g.
    /// 16384 to act as a device with only WebGPU's guaranteed minimum: the
    /// matmul variants that need more are then refused when pinned and not
    /// timed by `tune`. Below 16384 is `Error::Options`.
    pub max_workgroup_storage_bytes: Option<u32>,
    /// Use the workgroup-memory reductions even where the device has subgroup
    /// operations (to test the fallback, or to avoid a driver's subgroup bug).
    pub disable_subgroups: bool,
    /// Keep at most this many bytes of free device buffers for reuse (default:
    /// 1 GiB, or the device's largest buffer if smaller, at least 64 MiB). With
    /// 0 every buffer is let go as soon as its last user drops it.
    pub pool_bytes: Option<u64>,
    /// Where the kernel variants come from: the tuning cache that `gpu-basics
    /// tune` writes (default), another cache file, or the defaults.
    pub tuning: Tuning,
    /// Run a kernel family in one variant, for every op and size, whatever the
    /// cache says: pairs of (family, variant name), e.g. `("map", "wg256x4")`
    /// (`gpu::FAMILIES`, `MapVariant::ALL`, ...). Every variant is correct
    /// within the op's bounds (some give the very same bits: README); an
    /// unknown name is `Error::Options`.
    pub pin_variants: Vec<(String, String)>,
    /// Build every kernel with naga's runtime checks: array indices clamped,
    /// loops bounded, integer division guarded (`create_shader_module`).
    /// Default `false`: the kernels are trusted (`create_shader_module_trusted`
    /// with `ShaderRuntimeChecks::unchecked()`), since each keeps its indices
    /// in bounds, its loops finite and its divisors non-zero by itself
    /// (docs/trusted-kernels-audit.md). Results are the same bits either way.
    ///
    /// Trusted is the default because it was measurably faster, on CPU
    /// drivers only (no GPU was available): device time trusted / checked,
    /// medians of paired runs, **lavapipe (a CPU driver, not a GPU)**: softmax
    /// 1024 x 1024 0.93, 4096 x 1024 0.91; **SwiftShader (also a CPU driver,
    /// not a GPU)**: matvec 3162 x 3162 0.75, softmax 4096 x 1024 0.85, dot
    /// 10^7 0.88. matvec and sigmoid on lavapipe and sigmoid on SwiftShader
    /// did not change; matmul was 2-4% slower trusted on lavapipe (1.02-1.04).
    /// The table and method are in the audit's "Measured" section. Set this to
    /// `true` for the checks (e.g. while changing a kernel or its host code).
    pub checked_kernels: bool,
}

impl GpuOptions {
    /// Values that no device could use, refused before any device is opened.
    /// (A binding below a device's alignment is refused once the device is known.)
    fn check(&self) -> Result<()> {
        let refuse = |option, detail: &str| {
            Err(Error::Options {
                option,
                detail: detail.into(),
            })
        };
        Choices::default().pin(&self.pin_variants)?;
        if let Some(b) = self.max_workgroup_storage_bytes
            && b < WEBGPU_WORKGROUP_BYTES
        {
            return refuse(
                "GpuOptions::max_workgroup_storage_bytes",
                &format!(
                    "{b} is below {WEBGPU_WORKGROUP_BYTES}, what every WebGPU device has \
                     (and the default matmul needs)"
                ),
            );
        }
        match (self.max_binding_bytes, self.max_workgroups_per_dimension) {
            (Some(b), _) if b < 16 => refuse(
                "GpuOptions::max_binding_bytes",
                &format!("{b} is below 16, one vec4: no array would fit in a binding"),
            ),
            (_, Some(0)) => refuse(
                "GpuOptions::max_workgroups_per_dimension",
                "0 workgroups per dimension could run no kernel",
            ),
            _ => Ok(()),
        }
    }
}

/// What a `Gpu` runs on.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    pub name: String,
    /// The graphics API: Vulkan, Metal, Dx12, ...
    pub backend: wgpu::Backend,
    pub device_type: wgpu::DeviceType,
    pub driver: String,
    /// True for a CPU implementation such as Mesa's lavapipe: correct, not fast.
    pub is_software: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:?}, {:?}",
            self.name, self.backend, self.device_type
        )?;
        if self.is_software {
            write!(f, ", software: correct but not fast")?;
        }
        write!(f, ")")
    }
}

/// A GPU context: device, queue, pipelines, buffer pool. Cheap to clone (shared
/// inside), `Send + Sync`: threads may share one and call it at once.
#[derive(Clone)]
pub struct Gpu {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    rt: Runtime,
    adapter: AdapterSummary,
    limits: wgpu::Limits,
    features: wgpu::Features,
    /// The subgroup size where the row reductions use subgroup operations
    /// (one fixed size), `None` where they reduce in workgroup memory.
    subgroup_size: Option<u32>,
    /// `GpuOptions::checked_kernels`.
    checked_kernels: bool,
    /// Elements of f32 per storage binding: arrays longer than this are processed
    /// in windows of this many elements.
    window_elems: usize,
    /// The storage-binding offset alignment, in f32 elements.
    align_elems: usize,
    /// Bytes of workgroup memory a workgroup may use (the device's limit, or
    /// less: `GpuOptions::max_workgroup_storage_bytes`).
    workgroup_bytes: u32,
    /// Which variant of each kernel family runs.
    choices: Choices,
    /// What a tuning cache entry for this device is keyed by.
    key: AdapterKey,
    /// Where `choices` came from, for `Gpu::tuning`.
    tuning: String,
}

/// Hardware first: discrete, integrated, virtual, other, then CPU (software).
fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

const NO_ADAPTER_HINT: &str = "no Vulkan, Metal or DX12 adapter was found. On Linux without a GPU, \
     install Mesa's software Vulkan driver (Debian/Ubuntu: apt-get install mesa-vulkan-drivers libvulkan1)";

impl Gpu {
    /// The best adapter on this machine: a hardware GPU if there is one, else a
    /// software one (reported by `adapter().is_software`). No adapter: `Err`.
    pub fn new() -> Result<Gpu> {
        Gpu::with_options(GpuOptions::default())
    }

    pub fn with_options(options: GpuOptions) -> Result<Gpu> {
        options.check()?;
        if let Tuning::TuneIfMissing(t) = &options.tuning {
            return Gpu::tuned_on_first_use(&options, t);
        }
        pollster::block_on(async {
            // From env so WGPU_BACKEND can restrict the choice; GL is left out: it has
            // no subgroups and, on llvmpipe, only duplicates the Vulkan adapter.
            let instance = wgpu::Instance::new(
                wgpu::InstanceDescriptor::new_without_display_handle_from_env(),
            );
            let mut adapters = instance.enumerate_adapters(wgpu::Backends::PRIMARY).await;
            if adapters.is_empty() {
                return Err(Error::NoAdapter(NO_ADAPTER_HINT.into()));
            }
            adapters.sort_by_key(|a| rank(a.get_info().device_type));
            let mut refusals = Vec::new();
            let mut option_errors = Vec::new();
            for adapter in adapters {
                match Gpu::open(&adapter, &options).await {
                    Ok(gpu) => return Ok(gpu),
                    Err(e @ Error::Options { .. }) => option_errors.push(e),
                    Err(e) => refusals.push(format!("{}: {e}", adapter.get_info().name)),
                }
            }
            // Refused only for an option: say so, not "no GPU adapter".
            if refusals.is_empty()
                && let Some(e) = option_errors.into_iter().next()
            {
                return Err(e);
            }
            Err(Error::NoAdapter(format!(
                "every adapter refused: {}",
                refusals.join("; ")
            )))
        })
    }

    async fn open(adapter: &wgpu::Adapter, options: &GpuOptions) -> Result<Gpu> {
        // Ask for the adapter's real limits: a device gets only what it requests,
        // and the WebGPU defaults (128 MiB bindings, 256 MiB buffers) are far below
        // what most hardware offers.
        let wanted = wgpu::Features::SUBGROUP
            | wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("gpu-basics"),
                required_features: adapter.features() & wanted,
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::gpu("Gpu::new", e))?;
        // wgpu's default handler panics; a library must return errors instead.
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&errors);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(e.to_string());
        }));
        let sink = Arc::clone(&errors);
        device.set_device_lost_callback(move |reason, msg| {
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("device lost ({reason:?}): {msg}"));
        });
        Gpu::build(device, queue, adapter.get_info(), options, errors)
    }

    /// Wraps a device and queue the application already has. gpu-basics uses the
    /// limits and features the device was created with, and does not replace the
    /// application's uncaptured-error handler (wgpu's default one panics; install
    /// your own if you want errors as values).
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        options: GpuOptions,
    ) -> Result<Gpu> {
        Gpu::build(
            device,
            queue,
            info,
            &options,
            Arc::new(Mutex::new(Vec::new())),
        )
    }

    fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        options: &GpuOptions,
        errors: Arc<Mutex<Vec<String>>>,
    ) -> Result<Gpu> {
        let limits = device.limits();
        let features = device.features();
        // Window offsets must be multiples of the storage offset alignment, and of
        // 16 bytes since kernels address vec4s.
        let align = u64::from(limits.min_storage_buffer_offset_alignment).max(16);
        let mut binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        if let Some(b) = options.max_binding_bytes {
            binding = binding.min(b);
        }
        // Kernels and dispatch parameters index a window with u32. Vulkan and
        // DX12 report bindings under 4 GiB, but wgpu's Metal backend reports its
        // largest buffer, which can be larger: cap the window so that every
        // in-window offset and size fits u32.
        binding = binding.min(u64::from(u32::MAX));
        let window_bytes = binding / align * align;
        if window_bytes == 0 {
            return Err(match options.max_binding_bytes {
                Some(b) => Error::Options {
                    option: "GpuOptions::max_binding_bytes",
                    detail: format!(
                        "{b} is below this device's storage-binding alignment of {align} bytes"
                    ),
                },
                None => Error::gpu(
                    "Gpu::new",
                    format!("binding size {binding} is below the alignment {align}"),
                ),
            });
        }
        let mut max_workgroups = limits.max_compute_workgroups_per_dimension;
        if let Some(w) = options.max_workgroups_per_dimension {
            max_workgroups = max_workgroups.min(w);
        }
        // Subgroup reductions need the feature and one fixed subgroup size (cubecl's
        // rule: a varying size is where drivers have had bugs).
        let subgroups = !options.disable_subgroups
            && features.contains(wgpu::Features::SUBGROUP)
            && info.subgroup_min_size == info.subgroup_max_size
            && info.subgroup_min_size.is_power_of_two()
            && info.subgroup_min_size <= 256;
        let key = AdapterKey::of(&info);
        let (choices, mut tuning) = tune::load(&options.tuning, &key);
        let mut choices = choices.pin(&options.pin_variants)?;
        if !options.pin_variants.is_empty() {
            tuning += ", with pinned variants";
        }
        let workgroup_bytes = options
            .max_workgroup_storage_bytes
            .map_or(limits.max_compute_workgroup_storage_size, |b| {
                b.min(limits.max_compute_workgroup_storage_size)
            });
        let pinned_matmul = options.pin_variants.iter().any(|(f, _)| f == "matmul");
        for note in choices.fit_workgroup_memory(workgroup_bytes, pinned_matmul)? {
            tuning += &format!(", {note}");
        }
        let builder = kernels::Builder::new(device.clone(), subgroups, options.checked_kernels);
        let adapter = AdapterSummary {
            is_software: info.device_type == wgpu::DeviceType::Cpu,
            name: info.name,
            backend: info.backend,
            device_type: info.device_type,
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
        };
        let rt = Runtime::new(
            device,
            queue,
            builder,
            limits.max_buffer_size,
            options.pool_bytes,
            max_workgroups,
            errors,
        );
        // Build what this Gpu will run now, so that a driver that rejects a
        // kernel fails here; other variants are built when first asked for.
        let picked: Vec<Variant> = choices.picks().into_iter().map(|(_, v)| v).collect();
        for kernel in Kernel::all() {
            let runs = match kernel {
                Kernel::Line(_, _, pt) => picked
                    .iter()
                    .any(|v| matches!(v, Variant::Rows(r) if r.per_thread == pt)),
                Kernel::Map(_, v) => picked.contains(&Variant::Map(v)),
                Kernel::Reduce(v, _) => picked.contains(&Variant::Reduce(v)),
                Kernel::Outer(v) => picked.contains(&Variant::Outer(v)),
                Kernel::Matmul(v, _) => picked.contains(&Variant::Matmul(v)),
                Kernel::Matvec(v, _) => picked.contains(&Variant::Matvec(v)),
                Kernel::Yardstick(_) => false,
            };
            if runs {
                rt.pipeline("Gpu::new", kernel)?;
            }
        }
        Ok(Gpu {
            inner: Arc::new(Inner {
                rt,
                adapter,
                limits,
                features,
                subgroup_size: subgroups.then_some(info.subgroup_min_size),
                checked_kernels: options.checked_kernels,
                window_elems: (window_bytes / 4) as usize,
                align_elems: (align / 4) as usize,
                workgroup_bytes,
                choices,
                key,
                tuning,
            }),
        })
    }

    /// `Tuning::TuneIfMissing`: the context the cache gives, after tuning this
    /// adapter into the cache if it had no entry for it.
    fn tuned_on_first_use(options: &GpuOptions, t: &TuneOptions) -> Result<Gpu> {
        let path = t
            .cache
            .clone()
            .or_else(default_cache_path)
            .ok_or_else(|| Error::Options {
                option: "GpuOptions::tuning",
                detail: "no cache directory is known; name a cache file in TuneOptions::cache"
                    .into(),
            })?;
        let cached = GpuOptions {
            tuning: Tuning::CacheAt(path.clone()),
            ..options.clone()
        };
        let gpu = Gpu::with_options(cached.clone())?;
        if gpu.tuning().starts_with("tuned") {
            return Ok(gpu);
        }
        drop(gpu);
        // Every variant is timed explicitly, whatever is pinned.
        let untuned = Gpu::with_options(GpuOptions {
            tuning: Tuning::Off,
            pin_variants: Vec::new(),
            ..options.clone()
        })?;
        tune::tune(
            &untuned,
            &TuneOptions {
                cache: Some(path),
                ..t.clone()
            },
        )?;
        drop(untuned);
        Gpu::with_options(cached)
    }

    /// The variant this context runs for the op named `op` on `len`, by name
    /// (`MapVariant::name`, `MatmulVariant::name`, `MatvecVariant::name`,
    /// `RowsVariant::name`); `None` for ops without variants. `len` is what
    /// the op's family is picked by: for softmax and normalize_rows the length
    /// of the line reduced (the row length along axis 1, the column length
    /// along axis 0; `LineClass`); elsewhere elements (`SizeClass`): the
    /// output's for the elementwise ops, outer and matmul, W's for matvec
    /// (m x k), each input's for dot, l1 and l2.
    pub fn variant(&self, op: &str, len: usize) -> Option<String> {
        let c = &self.inner.choices;
        match op {
            "matmul" => return Some(c.matmul_for(len).name()),
            "matvec" => return Some(c.matvec_for(len).name()),
            "dot" | "l1" | "l2" => return Some(c.reduce_for(len).name()),
            "outer" => return Some(c.outer_for(len).name()),
            "softmax" | "normalize_rows" => return Some(c.rows_for(len).name()),
            _ => {}
        }
        let map = kernels::MapOp::all().find(|m| m.name() == op)?;
        Some(self.inner.choices.map_for(map, len).name())
    }

    /// Every pick this context runs, as (key, variant name): `map/<op>/<size
    /// class>`, `<family>/<size class>`, and `rows/<line class>`.
    pub fn variants(&self) -> Vec<(String, String)> {
        let picks = self.inner.choices.picks();
        picks.into_iter().map(|(k, v)| (k, v.name())).collect()
    }

    /// Where the variants came from: the tuning cache (and which), or the
    /// defaults and why (no cache, no entry for this adapter, unreadable).
    pub fn tuning(&self) -> &str {
        &self.inner.tuning
    }

    /// The adapter this context runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.inner.adapter
    }

    /// The limits the device was created with (the adapter's own, not wgpu's defaults).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.inner.limits
    }

    /// Bytes of workgroup memory a kernel may use here: the device's limit, or
    /// `GpuOptions::max_workgroup_storage_bytes` if lower. Matmul variants
    /// needing more (`MatmulVariant::fits`) do not run here.
    pub fn workgroup_bytes(&self) -> u32 {
        self.inner.workgroup_bytes
    }

    /// The optional features enabled on the device.
    pub fn features(&self) -> wgpu::Features {
        self.inner.features
    }

    /// Whether reductions use subgroup operations (see `GpuOptions::disable_subgroups`).
    pub fn uses_subgroups(&self) -> bool {
        self.inner.subgroup_size.is_some()
    }

    /// Whether the kernels keep naga's runtime checks (see
    /// `GpuOptions::checked_kernels`); false: trusted modules.
    pub fn checked_kernels(&self) -> bool {
        self.inner.checked_kernels
    }

    /// Buffer-pool counters: how many buffers were ever made, and bytes held.
    pub fn memory_stats(&self) -> MemoryStats {
        self.inner.rt.pool.stats()
    }

    /// Submits recorded work without waiting for it. Reads do this themselves;
    /// call it to start long resident work early.
    pub fn flush(&self) -> Result<()> {
        self.inner.rt.flush("flush")
    }

    /// Waits until all work recorded so far has run on the device.
    pub fn sync(&self) -> Result<()> {
        self.inner.rt.sync("sync")
    }

    /// Device time of the work that `f` records (timestamp queries written before
    /// and after it), or `None` if the device cannot write timestamps between
    /// passes. Meant for benchmarks; `f`'s results stay on the device.
    pub fn time_device(
        &self,
        f: impl FnOnce() -> Result<()>,
    ) -> Result<Option<std::time::Duration>> {
        self.inner.rt.time_device("time_device", f)
    }

    pub(crate) fn same(&self, other: &Gpu) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.inner.adapter)
            .finish()
    }
}

impl Backend for Gpu {
    fn name(&self) -> &'static str {
        "gpu"
    }

    fn basic_sigmoid(&self, x: f32) -> Result<f32> {
        let op = "basic_sigmoid";
        scalar(op, self.input(op, &ndarray::arr0(x).view())?.sigmoid()?)
    }

    fn unary(&self, op: Unary, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        result(op.name(), self.input(op.name(), &x)?.unary(op)?)
    }

    fn multiply(&self, a: ArrayViewD<'_, f32>, b: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        crate::backend::check_same_shape("multiply", a.shape(), b.shape())?;
        let (a, b) = self.inputs("multiply", &a, &b)?;
        result("multiply", a.multiply(&b)?)
    }

    fn image2vector(&self, image: ArrayView3<'_, f32>) -> Result<Array2<f32>> {
        let op = "image2vector";
        to_2d(op, result(op, self.input(op, &image)?.image2vector()?)?)
    }

    fn normalize_rows_axis(&self, x: ArrayView2<'_, f32>, axis: Axis) -> Result<Array2<f32>> {
        let op = "normalize_rows";
        let y = self.input(op, &x)?.normalize_rows_axis(axis.0)?;
        to_2d(op, result(op, y)?)
    }

    fn softmax_axis(&self, x: ArrayView2<'_, f32>, axis: Axis) -> Result<Array2<f32>> {
        let op = "softmax";
        to_2d(op, result(op, self.input(op, &x)?.softmax_axis(axis.0)?)?)
    }

    fn dot(&self, a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> Result<f32> {
        crate::backend::check_same_len("dot", a.shape(), b.shape())?;
        let (a, b) = self.inputs("dot", &a, &b)?;
        scalar("dot", a.dot(&b)?)
    }

    fn outer(&self, a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>) -> Result<Array2<f32>> {
        let (a, b) = self.inputs("outer", &a, &b)?;
        to_2d("outer", result("outer", a.outer(&b)?)?)
    }

    fn matvec(&self, w: ArrayView2<'_, f32>, x: ArrayView1<'_, f32>) -> Result<Array1<f32>> {
        crate::backend::check_inner("matvec", w.shape(), x.shape(), 1)?;
        let (w, x) = self.inputs("matvec", &w, &x)?;
        result("matvec", w.matvec(&x)?)?
            .into_dimensionality::<Ix1>()
            .map_err(|e| Error::shape("matvec", e.to_string()))
    }

    fn matmul(&self, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        crate::backend::check_inner("matmul", a.shape(), b.shape(), 2)?;
        let (a, b) = self.inputs("matmul", &a, &b)?;
        to_2d("matmul", result("matmul", a.matmul(&b)?)?)
    }

    fn l1(&self, yhat: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Result<f32> {
        crate::backend::check_same_len("l1", yhat.shape(), y.shape())?;
        let (yhat, y) = self.inputs("l1", &yhat, &y)?;
        scalar("l1", yhat.l1(&y)?)
    }

    fn l2(&self, yhat: ArrayView1<'_, f32>, y: ArrayView1<'_, f32>) -> Result<f32> {
        crate::backend::check_same_len("l2", yhat.shape(), y.shape())?;
        let (yhat, y) = self.inputs("l2", &yhat, &y)?;
        scalar("l2", yhat.l2(&y)?)
    }
}

// The `Backend` path uploads and reads back on an op's behalf: its errors are
// the op's, and say which array ("sigmoid: input of shape [600000000]: needs a
// buffer of ..."), not "upload: ..." with no op.
impl Gpu {
    fn input<D: ndarray::Dimension>(
        &self,
        op: &'static str,
        x: &ndarray::ArrayView<'_, f32, D>,
    ) -> Result<GpuArray> {
        self.upload_as(op, "input", x)
    }

    fn inputs<D: ndarray::Dimension, E: ndarray::Dimension>(
        &self,
        op: &'static str,
        a: &ndarray::ArrayView<'_, f32, D>,
        b: &ndarray::ArrayView<'_, f32, E>,
    ) -> Result<(GpuArray, GpuArray)> {
        Ok((
            self.upload_as(op, "input 0", a)?,
            self.upload_as(op, "input 1", b)?,
        ))
    }
}

fn result(op: &'static str, x: GpuArray) -> Result<ArrayD<f32>> {
    x.to_array_as(op, "result")
}

fn to_2d(op: &'static str, a: ArrayD<f32>) -> Result<Array2<f32>> {
    a.into_dimensionality::<Ix2>()
        .map_err(|e| Error::shape(op, e.to_string()))
}

/// Reads back a 0-d result.
fn scalar(op: &'static str, x: GpuArray) -> Result<f32> {
    Ok(result(op, x)?.iter().copied().next().unwrap_or(0.0))
}
