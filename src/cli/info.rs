//! `gpu-basics info`: every adapter, the limits that matter here and the
//! optional features; then the adapter a `Gpu` picks and the kernel variants it
//! runs (from the tuning cache or the defaults).

use gpu_basics::Gpu;

pub fn info() {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
    if adapters.is_empty() {
        println!("no GPU adapter found");
    }
    for a in adapters {
        let i = a.get_info();
        let l = a.limits();
        println!(
            "{} ({:?}, {:?}, driver {} {})",
            i.name, i.backend, i.device_type, i.driver, i.driver_info
        );
        println!(
            "  max storage binding {} B, max buffer {} B, workgroup storage {} B, invocations/workgroup {}, workgroups/dim {}",
            l.max_storage_buffer_binding_size,
            l.max_buffer_size,
            l.max_compute_workgroup_storage_size,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroups_per_dimension
        );
        let f = a.features();
        println!(
            "  subgroups {} (size {}..{}), f16 {}, timestamp queries {}",
            f.contains(wgpu::Features::SUBGROUP),
            i.subgroup_min_size,
            i.subgroup_max_size,
            f.contains(wgpu::Features::SHADER_F16),
            f.contains(wgpu::Features::TIMESTAMP_QUERY)
        );
    }
    match Gpu::new() {
        Ok(gpu) => {
            println!("Gpu::new() runs on {}", gpu.adapter());
            if gpu.checked_kernels() {
                println!("  kernels: checked (naga clamps indices and bounds loops)");
            } else {
                println!(
                    "  kernels: trusted (no naga bounds checks or loop bounding; docs/trusted-kernels-audit.md)"
                );
            }
            println!("  variants: {}", gpu.tuning());
            for (key, variant) in gpu.variants() {
                println!("    {key}: {variant}");
            }
        }
        Err(e) => println!("Gpu::new(): {e}"),
    }
}
