//! Buffer reuse. Every device buffer the crate makes comes from here and goes back
//! here when its last owner drops it, so a loop of calls reaches a steady state
//! instead of allocating per call.
//!
//! Sizes are rounded to classes with two significant bits (256, 384, 512, 768, ...),
//! as vello's resource pool does: at most a third of a buffer is slack, and a
//! buffer fits every request of its class. Free buffers are kept up to a byte cap;
//! past it their handles are dropped (wgpu frees them once no work uses them),
//! which bounds memory however the sizes wander.
//!
//! Handing a buffer back while commands that use it are recorded but not yet
//! submitted is safe: the next user's commands are recorded after them in the
//! same queue, and wgpu orders the accesses. The one hazard, `queue.write_buffer`
//! (which runs before the commands of the next submit), is handled where uploads
//! are made (`Runtime::upload` submits pending work first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Array data: bound as storage, copied to and from.
    Storage,
    /// Staging for readback.
    Readback,
    /// Small per-dispatch parameter blocks.
    Uniform,
}

impl Kind {
    fn usage(self) -> wgpu::BufferUsages {
        use wgpu::BufferUsages as U;
        match self {
            Kind::Storage => U::STORAGE | U::COPY_SRC | U::COPY_DST,
            Kind::Readback => U::MAP_READ | U::COPY_DST,
            Kind::Uniform => U::UNIFORM | U::COPY_DST,
        }
    }
}

/// Counters exposed through [`crate::gpu::Gpu::memory_stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Buffers created since the `Gpu` was made.
    pub buffers_created: u64,
    /// Bytes in buffers that exist now (in use or free in the pool).
    pub bytes_allocated: u64,
    /// Bytes in free buffers waiting for reuse.
    pub bytes_pooled: u64,
}

pub(crate) struct Pool {
    device: wgpu::Device,
    max_buffer_size: u64,
    cap_bytes: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    free: HashMap<(Kind, u64), Vec<wgpu::Buffer>>,
    stats: MemoryStats,
}

/// A buffer on loan from the pool; goes back on drop.
pub(crate) struct PooledBuffer {
    pub(crate) buffer: wgpu::Buffer,
    kind: Kind,
    class: u64,
    pool: Arc<Pool>,
    reusable: bool,
}

impl PooledBuffer {
    /// Lets the buffer go instead of pooling it: for a buffer left in a state the
    /// next user could not work with (a readback whose map failed or never
    /// completed stays mapped or map-pending, and every later copy into it fails).
    pub(crate) fn discard(mut self) {
        self.reusable = false;
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if self.reusable {
            self.pool
                .give_back(self.kind, self.class, self.buffer.clone());
        } else {
            self.pool.forget(self.class);
        }
    }
}

/// The size class for `bytes`: the smallest of 2^k and 1.5 * 2^k that holds it.
pub(crate) fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let p = bytes.next_power_of_two();
    let three_quarters = p / 4 * 3;
    if bytes <= three_quarters {
        three_quarters
    } else {
        p
    }
}

impl Pool {
    pub(crate) fn new(device: wgpu::Device, max_buffer_size: u64, cap: Option<u64>) -> Self {
        // By default keep up to 1 GiB of free buffers, or the largest buffer the
        // device allows if that is smaller: enough for a few working sets of the
        // sizes the benches use, without hoarding a small device's memory.
        let cap_bytes = cap.unwrap_or((1u64 << 30).min(max_buffer_size.max(1 << 26)));
        Pool {
            device,
            max_buffer_size,
            cap_bytes,
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn stats(&self) -> MemoryStats {
        self.state.lock().expect("pool lock").stats
    }

    /// A buffer of at least `bytes` bytes.
    pub(crate) fn get(
        self: &Arc<Self>,
        op: &'static str,
        kind: Kind,
        bytes: u64,
    ) -> Result<PooledBuffer> {
        if bytes > self.max_buffer_size {
            return Err(Error::TooLarge {
                op,
                detail: format!(
                    "needs a buffer of {bytes} bytes; this device's largest buffer is {} bytes",
                    self.max_buffer_size
                ),
            });
        }
        // A class may round past the device's limit; then the exact (4-aligned) size is used.
        let mut class = size_class(bytes);
        if class > self.max_buffer_size {
            class = bytes.div_ceil(4) * 4;
        }
        if let Some(buffer) = self.take_free(kind, class) {
            return Ok(self.loan(buffer, kind, class));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("gpu-basics pooled buffer"),
            size: class,
            usage: kind.usage(),
            mapped_at_creation: false,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::gpu(op, format!("allocating {class} bytes: {e}")));
        }
        let mut st = self.state.lock().expect("pool lock");
        st.stats.buffers_created += 1;
        st.stats.bytes_allocated += class;
        drop(st);
        Ok(self.loan(buffer, kind, class))
    }

    fn take_free(&self, kind: Kind, class: u64) -> Option<wgpu::Buffer> {
        let mut st = self.state.lock().expect("pool lock");
        let buffer = st.free.get_mut(&(kind, class))?.pop()?;
        st.stats.bytes_pooled -= class;
        Some(buffer)
    }

    fn loan(self: &Arc<Self>, buffer: wgpu::Buffer, kind: Kind, class: u64) -> PooledBuffer {
        PooledBuffer {
            buffer,
            kind,
            class,
            pool: Arc::clone(self),
            reusable: true,
        }
    }

    /// Accounts for a loaned buffer that is not coming back (its handle drops).
    fn forget(&self, class: u64) {
        if let Ok(mut st) = self.state.lock() {
            st.stats.bytes_allocated -= class;
        }
    }

    fn give_back(&self, kind: Kind, class: u64, buffer: wgpu::Buffer) {
        let mut st = match self.state.lock() {
            Ok(st) => st,
            Err(_) => return, // a panicking thread poisoned the pool: let wgpu free the buffer
        };
        if st.stats.bytes_pooled + class > self.cap_bytes {
            st.stats.bytes_allocated -= class;
            // Dropped, never destroyed: commands that use it may be recorded
            // but not yet submitted (the next call's temporaries, an array
            // dropped mid-chain), and destroy() would fail that submit. wgpu
            // frees a dropped buffer once no submitted work uses it.
            drop(st);
            drop(buffer);
            return;
        }
        st.stats.bytes_pooled += class;
        st.free.entry((kind, class)).or_default().push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_hold_the_request_with_at_most_a_third_slack() {
        for bytes in [
            1u64,
            4,
            255,
            256,
            257,
            384,
            385,
            1000,
            4096,
            4097,
            134_217_732,
        ] {
            let c = size_class(bytes);
            assert!(c >= bytes, "{bytes} -> {c}");
            assert!(c <= (bytes.max(256) * 3).div_ceil(2), "{bytes} -> {c}");
        }
        assert_eq!(size_class(257), 384);
        assert_eq!(size_class(385), 512);
    }
}
