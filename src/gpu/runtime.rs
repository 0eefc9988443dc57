//! The one way work reaches the device: `dispatch` records a kernel into the
//! current batch, `upload` and `read` move data, and batches are submitted when
//! they are full or when a result must come back.
//!
//! Why batches: a submit followed by a wait is a full round trip (about 110 us on
//! lavapipe, tens of us on real GPUs), which would dominate small kernels. So
//! dispatches go into one open compute pass of one encoder; the encoder is
//! submitted every `MAX_BATCH` dispatches (without waiting) or when a readback
//! needs it. At most `MAX_IN_FLIGHT` batches are queued before the recorder waits
//! for the oldest, which bounds the memory a long chain of resident ops can pin.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, mpsc};
use std::time::Duration;

use super::kernels::{Builder, Kernel, Pipeline};
use super::pool::{Kind, Pool, PooledBuffer};
use crate::error::{Error, Result};

/// Dispatches per submit. tfjs measured ~15 kernels per submit as a win, cubecl
/// uses 32; kernels here are short, so a little more batching costs nothing.
const MAX_BATCH: usize = 32;
/// Submitted batches allowed to be pending on the device before recording waits.
const MAX_IN_FLIGHT: usize = 3;
/// Longest wait for the device. Generous: a software driver may take seconds on
/// the largest test arrays; a hang should still end in an `Err`, not a stuck test.
const WAIT_TIMEOUT: Duration = Duration::from_secs(120);

/// One buffer range bound to a kernel, in binding order.
pub(crate) struct Binding<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
}

#[derive(Default)]
struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    dispatches: usize,
    /// Parameter blocks written by `queue.write_buffer` for this batch; returned
    /// to the pool only after submit, so no later dispatch in the same batch can
    /// overwrite one (writes run before the batch's commands).
    held: Vec<PooledBuffer>,
    in_flight: VecDeque<wgpu::SubmissionIndex>,
}

pub(crate) struct Runtime {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub pool: Arc<Pool>,
    /// Pipelines built so far; `builder` adds the others on first use.
    pipelines: RwLock<HashMap<Kernel, Arc<Pipeline>>>,
    builder: Mutex<Builder>,
    recorder: Mutex<Recorder>,
    /// Errors wgpu reported through the uncaptured-error handler or device loss.
    errors: Arc<Mutex<Vec<String>>>,
    pub max_workgroups: u32,
}

impl Runtime {
    pub(crate) fn new(
        device: wgpu::Device,
        queue: wgpu::Queue,
        builder: Builder,
        max_buffer_size: u64,
        pool_bytes: Option<u64>,
        max_workgroups: u32,
        errors: Arc<Mutex<Vec<String>>>,
    ) -> Self {
        Runtime {
            pool: Arc::new(Pool::new(device.clone(), max_buffer_size, pool_bytes)),
            device,
            queue,
            pipelines: RwLock::new(HashMap::new()),
            builder: Mutex::new(builder),
            recorder: Mutex::new(Recorder::default()),
            errors,
            max_workgroups,
        }
    }

    /// `kernel`'s pipeline, built now if this is its first use (errors name `op`).
    pub(crate) fn pipeline(&self, op: &'static str, kernel: Kernel) -> Result<Arc<Pipeline>> {
        let built = self.pipelines.read().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = built.get(&kernel) {
            return Ok(Arc::clone(p));
        }
        drop(built);
        let mut builder = self.builder.lock().unwrap_or_else(|p| p.into_inner());
        // Another thread may have built it while this one waited for the builder.
        if let Some(p) = self
            .pipelines
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&kernel)
        {
            return Ok(Arc::clone(p));
        }
        let p = Arc::new(builder.build(op, kernel)?);
        self.pipelines
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kernel, Arc::clone(&p));
        Ok(p)
    }

    fn lock(&self) -> MutexGuard<'_, Recorder> {
        // A panic while recording leaves at worst a half-recorded batch, which
        // wgpu validates; keep serving other threads rather than poisoning them all.
        self.recorder.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_errors(&self, op: &'static str) -> Result<()> {
        let mut errs = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errs.is_empty() {
            Ok(())
        } else {
            let msg = errs.join("; ");
            errs.clear();
            Err(Error::gpu(op, msg))
        }
    }

    /// Storage for `len` f32 values. Rounded up to whole vec4s, since kernels read
    /// and write 16 bytes at a time; the padding is never read back.
    pub(crate) fn alloc(&self, op: &'static str, len: usize) -> Result<PooledBuffer> {
        let bytes = (len as u64).div_ceil(4) * 16;
        self.pool.get(op, Kind::Storage, bytes)
    }

    /// Workgroups one dispatch can have: `grid` folds them into x and y.
    pub(crate) fn max_groups(&self) -> u64 {
        let per_dim = u64::from(self.max_workgroups);
        per_dim * per_dim
    }

    /// Splits `groups` workgroups over x and y when x alone cannot hold them
    /// (65,535 per dimension on most devices). Kernels rebuild the linear id as
    /// `wg.x + wg.y * num_workgroups.x` and bounds-check it, since x * y may
    /// exceed `groups` by less than one row of x.
    pub(crate) fn grid(&self, op: &'static str, groups: u64) -> Result<(u32, u32)> {
        let max = u64::from(self.max_workgroups);
        if groups <= max {
            return Ok((groups as u32, 1));
        }
        let y = groups.div_ceil(max);
        if y > max {
            return Err(Error::TooLarge {
                op,
                detail: format!("{groups} workgroups exceed {max} x {max}"),
            });
        }
        Ok((groups.div_ceil(y) as u32, y as u32))
    }

    /// Records one kernel over `groups` workgroups (a linear count; see `grid`).
    pub(crate) fn dispatch(
        &self,
        op: &'static str,
        kernel: Kernel,
        bindings: &[Binding<'_>],
        params: Option<&[u8]>,
        groups: u64,
    ) -> Result<()> {
        let desc = self.pipeline(op, kernel)?;
        let desc = desc.as_ref();
        let given = params.map_or(0, |p| p.len() as u64);
        if bindings.len() as u32 != desc.reads + desc.writes || given != desc.uniform_bytes {
            // A bind group that does not match the layout would invalidate the whole
            // batch, other callers' dispatches included; and a short parameter block
            // would leave the kernel reading stale bytes. Refuse it here.
            return Err(Error::gpu(
                op,
                format!(
                    "kernel {}: given {} bindings and {given} parameter bytes, its layout has {} and {}",
                    desc.entry,
                    bindings.len(),
                    desc.reads + desc.writes,
                    desc.uniform_bytes
                ),
            ));
        }
        if groups == 0 {
            return Ok(());
        }
        let (gx, gy) = self.grid(op, groups)?;
        let uniform = match params {
            Some(bytes) => {
                let buf = self.pool.get(op, Kind::Uniform, desc.uniform_bytes)?;
                self.queue.write_buffer(&buf.buffer, 0, bytes);
                Some(buf)
            }
            None => None,
        };
        let mut entries: Vec<wgpu::BindGroupEntry<'_>> = bindings
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: b.buffer,
                    offset: b.offset,
                    size: wgpu::BufferSize::new(b.size),
                }),
            })
            .collect();
        if let Some(u) = &uniform {
            entries.push(wgpu::BindGroupEntry {
                binding: bindings.len() as u32,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &u.buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(desc.uniform_bytes),
                }),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(desc.entry),
            layout: &desc.layout,
            entries: &entries,
        });

        let mut rec = self.lock();
        if rec.pass.is_none() {
            let encoder = rec.encoder.get_or_insert_with(|| {
                self.device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("gpu-basics batch"),
                    })
            });
            let pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("gpu-basics batch"),
                    timestamp_writes: None,
                })
                .forget_lifetime();
            rec.pass = Some(pass);
        }
        let pass = rec.pass.as_mut().expect("pass opened above");
        pass.set_pipeline(&desc.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
        rec.dispatches += 1;
        rec.held.extend(uniform);
        if rec.dispatches >= MAX_BATCH {
            self.submit(op, &mut rec)?;
        }
        Ok(())
    }

    /// Submits whatever is recorded (nothing if the batch is empty).
    fn submit(
        &self,
        op: &'static str,
        rec: &mut Recorder,
    ) -> Result<Option<wgpu::SubmissionIndex>> {
        rec.pass = None;
        let Some(encoder) = rec.encoder.take() else {
            return Ok(None);
        };
        let index = self.queue.submit([encoder.finish()]);
        rec.dispatches = 0;
        rec.held.clear();
        rec.in_flight.push_back(index.clone());
        while rec.in_flight.len() > MAX_IN_FLIGHT {
            let oldest = rec.in_flight.pop_front().expect("non-empty");
            self.wait(op, oldest)?;
        }
        // Let wgpu retire finished work and free what it held, without blocking.
        let _ = self.device.poll(wgpu::PollType::Poll);
        self.check_errors(op)?;
        Ok(Some(index))
    }

    fn wait(&self, op: &'static str, index: wgpu::SubmissionIndex) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(WAIT_TIMEOUT),
            })
            .map_err(|e| Error::gpu(op, format!("waiting for the device: {e}")))?;
        Ok(())
    }

    /// Submits pending work without waiting for it.
    pub(crate) fn flush(&self, op: &'static str) -> Result<()> {
        let mut rec = self.lock();
        self.submit(op, &mut rec).map(|_| ())
    }

    /// Copies `data` into a new device buffer.
    pub(crate) fn upload(&self, op: &'static str, data: &[f32]) -> Result<PooledBuffer> {
        let buf = self.alloc(op, data.len())?;
        // `write_buffer` runs before the commands of the next submit. The buffer may
        // have just come back to the pool from an array whose readers are recorded
        // but unsubmitted; submitting them first keeps their reads before this write.
        {
            let mut rec = self.lock();
            self.submit(op, &mut rec)?;
            self.queue
                .write_buffer(&buf.buffer, 0, bytemuck::cast_slice(data));
        }
        Ok(buf)
    }

    /// Reads `len` f32 values from the start of `src`, after all recorded work.
    pub(crate) fn read(
        &self,
        op: &'static str,
        src: &wgpu::Buffer,
        len: usize,
    ) -> Result<Vec<f32>> {
        let bytes = self.read_bytes(op, src, len as u64 * 4)?;
        Ok(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes))
    }

    /// Reads the first `bytes` bytes of `src`, after all recorded work.
    pub(crate) fn read_bytes(
        &self,
        op: &'static str,
        src: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Vec<u8>> {
        let staging = self.pool.get(op, Kind::Readback, bytes)?;
        let index = {
            let mut rec = self.lock();
            rec.pass = None;
            let encoder = rec.encoder.get_or_insert_with(|| {
                self.device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("gpu-basics batch"),
                    })
            });
            encoder.copy_buffer_to_buffer(src, 0, &staging.buffer, 0, bytes);
            self.submit(op, &mut rec)?.expect("the copy was recorded")
        };
        let (tx, rx) = mpsc::channel();
        staging
            .buffer
            .slice(..bytes)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        let read = || -> Result<Vec<u8>> {
            self.wait(op, index)?;
            // The callback runs inside a poll; ours or another thread's has made it
            // by now, unless the map itself failed to resolve.
            let mapped = rx
                .recv_timeout(WAIT_TIMEOUT)
                .map_err(|_| Error::gpu(op, "readback map never completed"))?;
            mapped.map_err(|e| Error::gpu(op, format!("mapping the readback buffer: {e}")))?;
            let view = staging
                .buffer
                .slice(..bytes)
                .get_mapped_range()
                .map_err(|e| Error::gpu(op, format!("reading the mapped buffer: {e}")))?;
            Ok(view.to_vec())
        };
        match read() {
            Ok(out) => {
                staging.buffer.unmap();
                self.check_errors(op)?;
                Ok(out)
            }
            Err(e) => {
                // Mapped or map-pending: pooled, it would fail every later read of its size.
                staging.discard();
                Err(e)
            }
        }
    }

    /// Waits until everything recorded so far has run.
    pub(crate) fn sync(&self, op: &'static str) -> Result<()> {
        let index = {
            let mut rec = self.lock();
            self.submit(op, &mut rec)?
        };
        match index {
            Some(i) => self.wait(op, i),
            None => {
                // Nothing new; wait for whatever is still in flight.
                let last = self.lock().in_flight.back().cloned();
                last.map_or(Ok(()), |i| self.wait(op, i))?;
                self.check_errors(op)
            }
        }
    }

    /// Device time of the work `f` records, from timestamps written into the
    /// command stream before and after it; `None` where the device cannot write
    /// timestamps between passes. For benchmarks: it creates a query set per call.
    pub(crate) fn time_device(
        &self,
        op: &'static str,
        f: impl FnOnce() -> Result<()>,
    ) -> Result<Option<std::time::Duration>> {
        if !self
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
        {
            f()?;
            return Ok(None);
        }
        let set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("gpu-basics timing"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("gpu-basics timing"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let stamp = |i: u32| {
            let mut rec = self.lock();
            rec.pass = None;
            self.encoder(&mut rec).write_timestamp(&set, i);
        };
        stamp(0);
        f()?;
        stamp(1);
        {
            let mut rec = self.lock();
            rec.pass = None;
            self.encoder(&mut rec)
                .resolve_query_set(&set, 0..2, &resolve, 0);
        }
        let raw = self.read_bytes(op, &resolve, 16)?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&raw);
        let ns =
            ticks[1].saturating_sub(ticks[0]) as f64 * f64::from(self.queue.get_timestamp_period());
        Ok(Some(std::time::Duration::from_nanos(ns as u64)))
    }

    /// Records a device-to-device copy of `bytes` (the memory-bandwidth yardstick).
    pub(crate) fn copy(&self, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
        let mut rec = self.lock();
        rec.pass = None;
        self.encoder(&mut rec)
            .copy_buffer_to_buffer(src, 0, dst, 0, bytes);
    }

    fn encoder<'r>(&self, rec: &'r mut Recorder) -> &'r mut wgpu::CommandEncoder {
        rec.encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("gpu-basics batch"),
                })
        })
    }
}
