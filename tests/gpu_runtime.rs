//! The GPU runtime itself: adapter and limits, resident chains (of elementwise ops
//! and of products), a parameter block per dispatch, sharing one `Gpu` between
//! threads (elementwise and product kernels), bounded memory, handing over an
//! existing device, errors. (The splitting paths are tested per op, against the
//! oracle, in each op's file.) The product cases are exact, as in tests/products.rs:
//! small-integer inputs keep every partial sum an integer below 2^24, so the
//! float64 value must come back bit for bit.

mod common;

use common::products::{
    Reduction, check_matmul, check_matrix, check_reduction, int_matrix, int_vector, matmul64,
};
use common::{GpuCase, Outcome, fail, values};
use gpu_basics::{Backend, Cpu, Error, Gpu, GpuOptions};
use ndarray::{Array1, ArrayD, Axis, Ix1, Ix2, IxDyn, s};

fn arr(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), values(n, seed, -8.0, 8.0)).unwrap()
}

/// GPU vs the CPU backend. The bound is the GPU sigmoid's (8 + 2|x|) ulp from
/// tests/elementwise.rs at |x| <= 8 (24 ulp), plus the CPU's 4 ulp.
fn close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>) -> Outcome {
    if got.shape() != want.shape() {
        return Err(fail(format!(
            "{what}: shape {:?} vs {:?}",
            got.shape(),
            want.shape()
        )));
    }
    let tol = 28.0 * f32::EPSILON;
    for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        if (g - w).abs() > tol * w.abs() + f32::MIN_POSITIVE {
            return Err(fail(format!("{what}: [{i}] gpu {g} cpu {w}")));
        }
    }
    Ok(())
}

fn send_sync<T: Send + Sync + Clone>() {}

fn adapter_is_reported(gpu: &Gpu) -> Outcome {
    send_sync::<Gpu>();
    send_sync::<gpu_basics::GpuArray>();
    let a = gpu.adapter();
    if a.name.is_empty() {
        return Err(fail("adapter name is empty"));
    }
    if a.is_software != (a.device_type == wgpu::DeviceType::Cpu) {
        return Err(fail(format!(
            "is_software disagrees with device type: {a:?}"
        )));
    }
    eprintln!("adapter: {a} driver {}", a.driver);
    Ok(())
}

/// The device must carry the adapter's own limits, not wgpu's WebGPU defaults.
fn limits_are_the_adapters(gpu: &Gpu) -> Outcome {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
    let info = gpu.adapter();
    let adapter = adapters
        .iter()
        .find(|a| a.get_info().name == info.name && a.get_info().backend == info.backend)
        .ok_or_else(|| fail("adapter not found again"))?;
    let (want, got) = (adapter.limits(), gpu.limits());
    if got.max_storage_buffer_binding_size != want.max_storage_buffer_binding_size
        || got.max_buffer_size != want.max_buffer_size
        || got.max_compute_invocations_per_workgroup != want.max_compute_invocations_per_workgroup
        || got.max_compute_workgroup_storage_size != want.max_compute_workgroup_storage_size
    {
        return Err(fail(format!(
            "device limits {got:?}\nadapter limits {want:?}"
        )));
    }
    Ok(())
}

/// sigmoid -> sigmoid_derivative -> multiply -> image2vector, all resident.
fn resident_chain_elementwise(gpu: &Gpu) -> Outcome {
    let x = arr(&[4, 5, 3], 1);
    let w = arr(&[4, 5, 3], 2);
    let (gx, gw) = (gpu.upload(&x)?, gpu.upload(&w)?);
    let out = gx
        .sigmoid()?
        .sigmoid_derivative()?
        .multiply(&gw)?
        .image2vector()?;
    if out.shape() != [60, 1] {
        return Err(fail(format!("shape {:?}", out.shape())));
    }
    let cpu = Cpu.multiply(
        Cpu.sigmoid_derivative(Cpu.sigmoid(x.view())?.view())?
            .view(),
        w.view(),
    )?;
    close(
        "chain",
        &out.to_array()?,
        &cpu.into_shape_with_order(IxDyn(&[60, 1])).unwrap(),
    )?;
    // The input arrays are unchanged and still readable after the chain.
    close("input after chain", &gx.to_array()?, &x)
}

/// outer -> matvec -> dot without leaving the device; the scalar is a 0-d array.
fn resident_chain_products(gpu: &Gpu) -> Outcome {
    let (u, v, x) = (
        int_vector(40, 1, -3, 3),
        int_vector(30, 2, -3, 3),
        int_vector(30, 3, -3, 3),
    );
    let m = gpu.upload(&u)?.outer(&gpu.upload(&v)?)?;
    let y = m.matvec(&gpu.upload(&x)?)?;
    let d = y.dot(&gpu.upload(&u)?)?;
    if d.shape() != [] as [usize; 0] || y.shape() != [40] || m.shape() != [40, 30] {
        return Err(fail(format!(
            "shapes {:?} {:?} {:?}",
            m.shape(),
            y.shape(),
            d.shape()
        )));
    }
    let vx: f32 = v.dot(&x);
    let want: f32 = u.iter().map(|&ui| ui * vx * ui).sum();
    let got = d.to_array()?[[]];
    if got != want {
        return Err(fail(format!("chain: got {got}, want {want}")));
    }
    Ok(())
}

/// Every dispatch carries its own parameter block. Many products of different
/// shapes are recorded resident (more than one 32-dispatch batch) before anything
/// is read, so a block overwritten or shared between dispatches would show.
fn parameters_per_dispatch(gpu: &Gpu) -> Outcome {
    let mut pending = Vec::new();
    for i in 0..24usize {
        let (m, k, n) = (1 + i * 3, 1 + (i * 7) % 41, 2 + (i * 5) % 37);
        let (a, c) = (int_matrix(m, k, i as u64), int_matrix(k, n, 100 + i as u64));
        let x = int_vector(k, 200 + i as u64, -2, 2);
        let ga = gpu.upload(&a)?;
        let prod = ga.matmul(&gpu.upload(&c)?)?;
        let mv = ga.matvec(&gpu.upload(&x)?)?;
        let d = gpu.upload(&x)?.dot(&gpu.upload(&x)?)?;
        pending.push((a, c, x, prod, mv, d));
    }
    for (a, c, x, prod, mv, d) in pending {
        let (want, abs) = matmul64(a.view(), c.view());
        let got = prod.to_array()?.into_dimensionality().unwrap();
        check_matrix("resident matmul", got.view(), &want, &abs, 0.0, true)?;
        let got: Array1<f32> = mv.to_array()?.into_dimensionality().unwrap();
        let (want, abs) = matmul64(a.view(), x.view().insert_axis(ndarray::Axis(1)));
        check_matrix(
            "resident matvec",
            got.view().insert_axis(ndarray::Axis(1)),
            &want,
            &abs,
            0.0,
            true,
        )?;
        let got = d.to_array()?;
        let want = x.iter().map(|&v| f64::from(v * v)).sum::<f64>();
        if got.shape() != [] as [usize; 0] || f64::from(got[[]]) != want {
            return Err(fail(format!("resident dot: {got} want {want}")));
        }
    }
    Ok(())
}

/// Eight threads running resident sigmoid -> multiply on vectors of different
/// lengths through one `Gpu` at once, against the CPU backend.
fn threads_share_one_gpu_elementwise(gpu: &Gpu) -> Outcome {
    common::in_threads(8, |t| {
        for i in 0..25u64 {
            let n = 1 + ((t * 131 + i * 977) % 5000) as usize;
            let x = arr(&[n], t * 1000 + i);
            let y = arr(&[n], t * 1000 + i + 500);
            let got = gpu
                .upload(&x)?
                .sigmoid()?
                .multiply(&gpu.upload(&y)?)?
                .to_array()?;
            let want = Cpu.multiply(Cpu.sigmoid(x.view())?.view(), y.view())?;
            close(&format!("thread {t} call {i}"), &got, &want)?;
        }
        Ok(())
    })
}

/// Four threads recording products of different shapes into one `Gpu` at once.
fn threads_share_one_gpu_products(gpu: &Gpu) -> Outcome {
    common::in_threads(4, |t| {
        for i in 0..10u64 {
            let (m, k, n) = (
                (1 + t * 17 + i * 5) as usize,
                (1 + t * 3 + i * 11) as usize,
                (2 + t + i * 7) as usize,
            );
            let (a, c) = (int_matrix(m, k, t * 100 + i), int_matrix(k, n, t + i));
            check_matmul(gpu, a.view(), c.view(), true)?;
            let x = int_vector(k * 50, t + 7 * i, -3, 3);
            check_reduction(gpu, Reduction::L2, x.view(), x.slice(s![..;-1]), true)?;
        }
        Ok(())
    })
}

/// 100,000 resident calls and 2,000 round trips: buffers are reused, so the
/// count of buffers ever created stops growing after the first few calls.
fn memory_is_bounded(_: &Gpu) -> Outcome {
    // A private context, so other tests running at the same time do not move the counters.
    let gpu = Gpu::new()?;
    let x = gpu.upload(&Array1::from(values(1000, 1, -4.0, 4.0)))?;
    let mut y = x.sigmoid()?;
    for _ in 0..100 {
        y = y.sigmoid()?;
    }
    y.to_array()?;
    let warm = gpu.memory_stats();
    for _ in 0..100_000 {
        y = y.sigmoid()?;
    }
    let host = Array1::from(values(777, 2, -4.0, 4.0));
    for _ in 0..2_000 {
        gpu.sigmoid(host.view().into_dyn())?;
    }
    y.to_array()?;
    let after = gpu.memory_stats();
    eprintln!("memory: after warm-up {warm:?}, after 102,000 calls {after:?}");
    if after.buffers_created > warm.buffers_created + 8
        || after.bytes_allocated > warm.bytes_allocated + (1 << 20)
    {
        return Err(fail(format!("memory grew: {warm:?} -> {after:?}")));
    }
    Ok(())
}

/// With a pool that keeps nothing, every buffer is let go when its last owner
/// drops it, often while commands that read it are recorded and not yet
/// submitted: an input uploaded and dropped mid-chain, the row ops' transposed
/// temporaries, the reductions' partial sums. Results must be the default
/// context's, bit for bit (same device, same kernels), and nothing is pooled.
fn buffers_let_go_while_in_use(gpu: &Gpu) -> Outcome {
    let bare = Gpu::with_options(GpuOptions {
        pool_bytes: Some(0),
        ..Default::default()
    })?;
    let x = arr(&[300, 7], 1);
    let v = arr(&[5000], 2);
    let m = arr(&[300, 5000], 3);
    for round in 0..3 {
        let pairs = [
            (
                "upload then sigmoid",
                bare.upload(&x)?.sigmoid()?.to_array()?,
                gpu.upload(&x)?.sigmoid()?.to_array()?,
            ),
            (
                "softmax along axis 0",
                bare.softmax_axis(x.view().into_dimensionality().unwrap(), ndarray::Axis(0))?
                    .into_dyn(),
                gpu.softmax_axis(x.view().into_dimensionality().unwrap(), ndarray::Axis(0))?
                    .into_dyn(),
            ),
            (
                "dot",
                bare.upload(&v)?.dot(&bare.upload(&v)?)?.to_array()?,
                gpu.upload(&v)?.dot(&gpu.upload(&v)?)?.to_array()?,
            ),
            (
                "matvec",
                bare.upload(&m)?.matvec(&bare.upload(&v)?)?.to_array()?,
                gpu.upload(&m)?.matvec(&gpu.upload(&v)?)?.to_array()?,
            ),
        ];
        for (what, got, want) in pairs {
            common::same_bits(&format!("{what}, round {round}"), got.view(), want.view())?;
        }
    }
    let stats = bare.memory_stats();
    if stats.bytes_pooled != 0 {
        return Err(fail(format!("a pool of 0 bytes kept {stats:?}")));
    }
    Ok(())
}

/// An application's own device and queue, handed over.
fn from_existing_device(_: &Gpu) -> Outcome {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .map_err(|e| fail(e.to_string()))?;
    let (device, queue) =
        pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default()))
            .map_err(|e| fail(e.to_string()))?;
    let gpu = Gpu::from_device(device, queue, adapter.get_info(), GpuOptions::default())?;
    let x = arr(&[3, 7], 4);
    close(
        "from_device",
        &gpu.sigmoid(x.view())?,
        &Cpu.sigmoid(x.view())?,
    )
}

fn errors_are_values(gpu: &Gpu) -> Outcome {
    let other = Gpu::new()?;
    let a = gpu.upload(&arr(&[4], 1))?;
    let b = other.upload(&arr(&[4], 2))?;
    match a.multiply(&b) {
        Err(Error::ContextMismatch { op: "multiply" }) => {}
        r => return Err(fail(format!("two contexts: {r:?}"))),
    }
    match a.image2vector() {
        Err(Error::Shape {
            op: "image2vector",
            detail,
        }) if detail.contains("[4]") => {}
        r => return Err(fail(format!("image2vector of 1-D: {r:?}"))),
    }
    match gpu
        .upload(&arr(&[2, 3], 3))?
        .multiply(&gpu.upload(&arr(&[3, 2], 3))?)
    {
        Err(e @ Error::Shape { .. })
            if e.to_string().contains("[2, 3]") && e.to_string().contains("[3, 2]") => {}
        r => return Err(fail(format!("mismatched multiply: {r:?}"))),
    }
    match a.reshape(&[3]) {
        Err(Error::Shape { op: "reshape", .. }) => Ok(()),
        r => Err(fail(format!("bad reshape: {r:?}"))),
    }
}

/// Work the `Backend` path does on an op's behalf (uploads) fails as that op's,
/// naming the input and its shape: before, a too-large input to sigmoid said
/// "upload: array of shape [...]", with no op. A device whose buffers hold 1 MiB
/// makes "too large" cheap to reach.
fn errors_name_the_op_and_shape(_: &Gpu) -> Outcome {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .map_err(|e| fail(e.to_string()))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_limits: wgpu::Limits {
            max_buffer_size: 1 << 20,
            max_storage_buffer_binding_size: 1 << 20,
            ..wgpu::Limits::default()
        },
        ..Default::default()
    }))
    .map_err(|e| fail(e.to_string()))?;
    let small = Gpu::from_device(device, queue, adapter.get_info(), GpuOptions::default())?;
    let n = (1 << 18) + 1; // one f32 past 1 MiB
    let (big, one) = (arr(&[n], 1), arr(&[n], 2));
    let big1 = Array1::from_iter(big.iter().copied());
    let results: Vec<(&str, Result<(), Error>)> = vec![
        (
            "sigmoid: input of shape [262145]",
            small.sigmoid(big.view()).map(drop),
        ),
        (
            "multiply: input 0 of shape [262145]",
            small.multiply(big.view(), one.view()).map(drop),
        ),
        (
            "dot: input 0 of shape [262145]",
            small.dot(big1.view(), big1.view()).map(drop),
        ),
        (
            "upload: array of shape [262145]",
            small.upload(&big).map(drop),
        ),
    ];
    for (want, r) in results {
        match r {
            Err(e @ Error::TooLarge { .. }) if e.to_string().starts_with(want) => {}
            r => return Err(fail(format!("wanted {want:?}...: {r:?}"))),
        }
    }
    Ok(())
}

/// GpuOptions values that make no sense are refused naming the option, not
/// reported as "no GPU adapter".
fn options_that_make_no_sense(_: &Gpu) -> Outcome {
    for (options, name) in [
        (
            GpuOptions {
                max_binding_bytes: Some(0),
                ..Default::default()
            },
            "GpuOptions::max_binding_bytes",
        ),
        (
            GpuOptions {
                max_binding_bytes: Some(8),
                ..Default::default()
            },
            "GpuOptions::max_binding_bytes",
        ),
        (
            GpuOptions {
                max_workgroups_per_dimension: Some(0),
                ..Default::default()
            },
            "GpuOptions::max_workgroups_per_dimension",
        ),
        (
            GpuOptions {
                pin_variants: vec![("map".into(), "wg100x1".into())],
                ..Default::default()
            },
            "GpuOptions::pin_variants",
        ),
        (
            GpuOptions {
                pin_variants: vec![("matmul9".into(), "wg64x1".into())],
                ..Default::default()
            },
            "GpuOptions::pin_variants",
        ),
    ] {
        match Gpu::with_options(options.clone()) {
            Err(e @ Error::Options { option, .. }) if option == name => {
                let msg = e.to_string();
                if !msg.contains(name) || msg.contains("no GPU adapter") {
                    return Err(fail(format!("{options:?}: {msg}")));
                }
            }
            r => return Err(fail(format!("{options:?}: {r:?}"))),
        }
    }
    // The smallest binding any device takes still works.
    let g = Gpu::with_options(GpuOptions {
        max_binding_bytes: Some(256),
        ..Default::default()
    })?;
    let x = arr(&[300], 5);
    close(
        "256-byte bindings",
        &g.sigmoid(x.view())?,
        &Cpu.sigmoid(x.view())?,
    )
}

/// `GpuOptions::checked_kernels` decides how modules are made: with naga's
/// runtime checks, or trusted (docs/trusted-kernels-audit.md). The suite runs
/// in the default mode; this runs every kernel family in both, on 64 KiB
/// bindings and a grid of at most 8 x 8 workgroups (several windows, 2-D grids,
/// matvec rows split into segments), and wants the same bits from both.
fn checked_and_trusted_agree(_: &Gpu) -> Outcome {
    let make = |checked_kernels, pin_variants| {
        Gpu::with_options(GpuOptions {
            checked_kernels,
            max_binding_bytes: Some(64 << 10),
            max_workgroups_per_dimension: Some(8),
            pin_variants,
            ..Default::default()
        })
    };
    let (checked, trusted) = (make(true, vec![])?, make(false, vec![])?);
    // matmul with B packed K-contiguous (matmul_pack, stage_bt) and rows read
    // as vec4s (rows_fused4, and its order along columns) too.
    let packed = || {
        vec![
            ("matmul".to_string(), "64x64r4x4k16bt".to_string()),
            ("rows".to_string(), "pt8s1v4".to_string()),
        ]
    };
    let (checked_bt, trusted_bt) = (make(true, packed())?, make(false, packed())?);
    if !checked.checked_kernels() || trusted.checked_kernels() {
        return Err(fail("checked_kernels() does not report the option"));
    }
    let matrix = |m, n, seed| arr(&[m, n], seed).into_dimensionality::<Ix2>().unwrap();
    let (x, a, b, c, w) = (
        matrix(37, 27, 1),
        matrix(70, 36, 3),
        matrix(36, 68, 4),
        matrix(27, 29, 5),
        matrix(2, 9000, 6),
    );
    let v = arr(&[20_000], 2).into_dimensionality::<Ix1>().unwrap();
    let (v, v40, v30, v9k) = (
        v.view(),
        v.slice(s![..40]),
        v.slice(s![..30]),
        v.slice(s![..9000]),
    );
    let scalar = |f: f32| ArrayD::from_elem(IxDyn(&[]), f);
    // Every kernel family: map, rows (fused, chunked, and along columns),
    // reduce, outer, matvec split into segments, matmul aligned and unaligned
    // (then again with B packed).
    let run = |g: &Gpu| -> gpu_basics::Result<Vec<ArrayD<f32>>> {
        Ok(vec![
            g.sigmoid(v.into_dyn())?,
            g.multiply(v.into_dyn(), v.into_dyn())?,
            g.softmax(x.view())?.into_dyn(),
            g.softmax_axis(x.view(), Axis(0))?.into_dyn(),
            g.normalize_rows(x.view())?.into_dyn(),
            g.normalize_rows(w.view())?.into_dyn(),
            g.softmax_axis(w.slice(s![.., ..4000]).t(), Axis(0))?
                .into_dyn(),
            scalar(g.dot(v, v)?),
            scalar(g.l2(v, v)?),
            g.outer(v40, v30)?.into_dyn(),
            g.matvec(w.view(), v9k)?.into_dyn(),
            g.matmul(a.view(), b.view())?.into_dyn(),
            g.matmul(x.view(), c.view())?.into_dyn(),
        ])
    };
    let run_bt = |g: &Gpu| -> gpu_basics::Result<Vec<ArrayD<f32>>> {
        Ok(vec![
            g.matmul(a.view(), b.view())?.into_dyn(),
            g.matmul(x.view(), c.view())?.into_dyn(),
            g.softmax(b.view())?.into_dyn(),
            g.softmax_axis(b.view(), Axis(0))?.into_dyn(),
        ])
    };
    let mut want = run(&checked)?;
    want.extend(run_bt(&checked_bt)?);
    let mut got = run(&trusted)?;
    got.extend(run_bt(&trusted_bt)?);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let differ =
            w.shape() != g.shape() || w.iter().zip(g).any(|(p, q)| p.to_bits() != q.to_bits());
        if differ {
            return Err(fail(format!("result {i}: checked and trusted differ")));
        }
    }
    Ok(())
}

const GPU_CASES: &[GpuCase] = &[
    ("adapter_is_reported", adapter_is_reported),
    ("limits_are_the_adapters", limits_are_the_adapters),
    ("resident_chain_elementwise", resident_chain_elementwise),
    ("resident_chain_products", resident_chain_products),
    ("parameters_per_dispatch", parameters_per_dispatch),
    (
        "threads_share_one_gpu_elementwise",
        threads_share_one_gpu_elementwise,
    ),
    (
        "threads_share_one_gpu_products",
        threads_share_one_gpu_products,
    ),
    ("memory_is_bounded", memory_is_bounded),
    ("buffers_let_go_while_in_use", buffers_let_go_while_in_use),
    ("from_existing_device", from_existing_device),
    ("errors_are_values", errors_are_values),
    ("errors_name_the_op_and_shape", errors_name_the_op_and_shape),
    ("options_that_make_no_sense", options_that_make_no_sense),
    ("checked_and_trusted_agree", checked_and_trusted_agree),
];

fn main() {
    common::run(&[], GPU_CASES);
}
