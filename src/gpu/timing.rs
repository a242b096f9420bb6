//! GPU timestamps around each timed dispatch. The method is chosen from the adapter's
//! features and recorded with every result; without timestamps the runner falls back
//! to the wall clock around submit and wait.

use crate::error::Result;
use crate::gpu::Gpu;

/// Slots (begin and end) of one query set: wgpu caps a query set at 4096 queries.
pub const SLOTS_PER_SET: u32 = 2048;

/// Query sets with two queries (begin, end) per timed dispatch, as many sets of
/// [`SLOTS_PER_SET`] slots as the dispatches need: any iteration count fits, at 16 bytes
/// of resolve buffer a dispatch.
pub struct Timestamps {
    sets: Vec<(wgpu::QuerySet, wgpu::Buffer)>,
    capacity: u32,
}

impl Timestamps {
    /// `None` when the device was opened without `TIMESTAMP_QUERY`.
    pub fn new(gpu: &Gpu, dispatches: u32) -> Option<Timestamps> {
        if !gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) || dispatches == 0 {
            return None;
        }
        let sets = (0..dispatches.div_ceil(SLOTS_PER_SET))
            .map(|i| {
                let count = (dispatches - i * SLOTS_PER_SET).min(SLOTS_PER_SET) * 2;
                let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("dispatch timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count,
                });
                let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamp resolve"),
                    size: u64::from(count) * 8,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                (set, resolve)
            })
            .collect();
        Some(Timestamps {
            sets,
            capacity: dispatches,
        })
    }

    /// The query set of `slot` and the slot's index in it.
    fn at(&self, slot: u32) -> (&wgpu::QuerySet, u32) {
        assert!(
            slot < self.capacity,
            "timestamp slot {slot} out of {}",
            self.capacity
        );
        (
            &self.sets[(slot / SLOTS_PER_SET) as usize].0,
            slot % SLOTS_PER_SET,
        )
    }

    pub fn writes(&self, slot: u32) -> wgpu::ComputePassTimestampWrites<'_> {
        let (set, i) = self.at(slot);
        wgpu::ComputePassTimestampWrites {
            query_set: set,
            beginning_of_pass_write_index: Some(i * 2),
            end_of_pass_write_index: Some(i * 2 + 1),
        }
    }

    /// Writes slot `slot`'s begin (`end` false) or end timestamp between commands of
    /// an encoder (needs `TIMESTAMP_QUERY_INSIDE_ENCODERS`).
    pub fn write(&self, enc: &mut wgpu::CommandEncoder, slot: u32, end: bool) {
        let (set, i) = self.at(slot);
        enc.write_timestamp(set, i * 2 + u32::from(end));
    }

    /// Records, in `enc`, the resolve of the first `n` slots (of the first set: at most
    /// [`SLOTS_PER_SET`]) and their copy into a new mappable buffer: read it with
    /// [`Timestamps::decode`] once that submission is done, with no submission of its
    /// own (burn keeps the queue full meanwhile).
    pub fn resolve_into(
        &self,
        gpu: &Gpu,
        enc: &mut wgpu::CommandEncoder,
        n: u32,
    ) -> Result<wgpu::Buffer> {
        let n = n.min(SLOTS_PER_SET);
        let (set, resolve) = &self.sets[0];
        let staging = gpu.staging("timestamp readback", u64::from(n) * 16)?;
        enc.resolve_query_set(set, 0..n * 2, resolve, 0);
        enc.copy_buffer_to_buffer(resolve, 0, &staging, 0, u64::from(n) * 16);
        Ok(staging)
    }

    /// (begin, end) pairs in nanoseconds from resolved ticks.
    pub fn decode(gpu: &Gpu, raw: &[u8]) -> Vec<(u64, u64)> {
        let ticks: &[u64] = bytemuck::cast_slice(raw);
        let p = gpu.timestamp_period_ns;
        ticks
            .chunks_exact(2)
            .map(|c| ((c[0] as f64 * p) as u64, (c[1] as f64 * p) as u64))
            .collect()
    }

    /// (begin, end) of the first `n` slots, in nanoseconds on the GPU's clock.
    pub fn read(&self, gpu: &Gpu, n: u32) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::with_capacity(n as usize);
        for (i, (set, resolve)) in self.sets.iter().enumerate() {
            let done = i as u32 * SLOTS_PER_SET;
            if done >= n {
                break;
            }
            let k = (n - done).min(SLOTS_PER_SET);
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            enc.resolve_query_set(set, 0..k * 2, resolve, 0);
            gpu.submit_and_wait(enc.finish())?;
            let raw = gpu.read_buffer(resolve, u64::from(k) * 16)?;
            out.extend(Self::decode(gpu, &raw));
        }
        Ok(out)
    }
}
