//! Yardsticks for benchmarks: what this device does at best, measured by
//! work that does nothing else, so that `gpu-basics bench` can read each op's
//! figure as a fraction of it in the same run. A device-to-device copy (the
//! elementwise and row ops' limit), a read-only pass (the reductions' and
//! matvec's) and chains of multiply-adds (matmul's), the last two from
//! shaders/yardsticks.wgsl. Each only records work: time it with
//! `Gpu::time_device` (or the wall clock around `Gpu::sync`).

use bytemuck::{Pod, Zeroable};

use super::Gpu;
use super::kernels::{Kernel, Yardstick};
use super::runtime::Binding;
use crate::error::Result;

// Rust twin of `Params` in shaders/yardsticks.wgsl (keep in sync).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct YardstickParams {
    n4: u32,
    iters: u32,
    never: f32,
    mul: f32,
    add: f32,
    groups: u32,
    pad: [u32; 2],
}

/// Steps of `fma_chains` per invocation, and flops per step (16 chains of
/// vec4 fmas, 2 flops each).
const FMA_ITERS: u32 = 256;
const FMA_FLOPS_PER_STEP: u64 = 16 * 4 * 2;

impl Gpu {
    /// Records `reps` device-to-device copies of `bytes` bytes (read once, written
    /// once each): the device's practical memory bandwidth, for benchmarks.
    pub fn record_copies(&self, bytes: u64, reps: usize) -> Result<()> {
        let bytes = bytes.div_ceil(16) * 16;
        let src = self.inner.rt.alloc("record_copies", (bytes / 4) as usize)?;
        let dst = self.inner.rt.alloc("record_copies", (bytes / 4) as usize)?;
        for _ in 0..reps {
            self.inner.rt.copy(&src.buffer, &dst.buffer, bytes);
        }
        Ok(())
    }

    /// Records `reps` passes that read every vec4 of a buffer of `bytes`
    /// bytes (rounded up to 16, at most one storage binding) and write almost
    /// nothing: the device's practical read bandwidth, for benchmarks.
    /// Returns the bytes each pass reads.
    pub fn record_reads(&self, bytes: u64, reps: usize) -> Result<u64> {
        let op = "record_reads";
        let window = self.inner.window_elems as u64 * 4;
        let bytes = bytes.div_ceil(16).saturating_mul(16).min(window / 16 * 16);
        let n4 = bytes / 16;
        let src = self.inner.rt.alloc(op, (bytes / 4) as usize)?;
        let dst = self.inner.rt.alloc(op, 4)?;
        let params = YardstickParams {
            n4: u32::try_from(n4).expect("a binding's vec4s fit u32"),
            never: -1.0,
            ..YardstickParams::zeroed()
        };
        // About 8 vec4s per invocation: enough loads in flight, few workgroups.
        let groups = n4.div_ceil(256 * 8).clamp(1, self.inner.rt.max_groups());
        for _ in 0..reps {
            self.inner.rt.dispatch(
                op,
                Kernel::Yardstick(Yardstick::Read),
                &[
                    Binding {
                        buffer: &src.buffer,
                        offset: 0,
                        size: bytes,
                    },
                    Binding {
                        buffer: &dst.buffer,
                        offset: 0,
                        size: 16,
                    },
                ],
                Some(bytemuck::bytes_of(&params)),
                groups,
            )?;
        }
        Ok(bytes)
    }

    /// Records `reps` dispatches of `groups` workgroups of 256 invocations that
    /// only multiply-add (16 independent chains each); returns the flops
    /// recorded (an fma counted as 2): the device's practical f32 peak, for
    /// benchmarks.
    pub fn record_fmas(&self, groups: u32, reps: usize) -> Result<u64> {
        let op = "record_fmas";
        let max = self.inner.rt.max_groups();
        let groups = groups.clamp(1, u32::try_from(max).unwrap_or(u32::MAX));
        let src = self.inner.rt.alloc(op, 4)?;
        let dst = self.inner.rt.alloc(op, 4)?;
        let params = YardstickParams {
            iters: FMA_ITERS,
            never: -1.0,
            mul: 0.999,
            add: 0.001,
            groups,
            ..YardstickParams::zeroed()
        };
        let binding = |b| Binding {
            buffer: b,
            offset: 0,
            size: 16,
        };
        for _ in 0..reps {
            self.inner.rt.dispatch(
                op,
                Kernel::Yardstick(Yardstick::Fma),
                &[binding(&src.buffer), binding(&dst.buffer)],
                Some(bytemuck::bytes_of(&params)),
                u64::from(groups),
            )?;
        }
        Ok(reps as u64 * u64::from(groups) * 256 * u64::from(FMA_ITERS) * FMA_FLOPS_PER_STEP)
    }
}
