//! GPU timestamps around each timed dispatch. The method is chosen from the adapter's
//! features and recorded with every result; without timestamps the runner falls back
//! to the wall clock around submit and wait.

use crate::error::Result;
use crate::gpu::Gpu;

/// A query set with two slots (begin, end) per timed dispatch.
pub struct Timestamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    capacity: u32,
}

impl Timestamps {
    /// `None` when the device was opened without `TIMESTAMP_QUERY`.
    pub fn new(gpu: &Gpu, dispatches: u32) -> Option<Timestamps> {
        if !gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) || dispatches == 0 {
            return None;
        }
        let count = dispatches * 2;
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
        Some(Timestamps {
            set,
            resolve,
            capacity: dispatches,
        })
    }

    pub fn writes(&self, slot: u32) -> wgpu::ComputePassTimestampWrites<'_> {
        assert!(
            slot < self.capacity,
            "timestamp slot {slot} out of {}",
            self.capacity
        );
        wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(slot * 2),
            end_of_pass_write_index: Some(slot * 2 + 1),
        }
    }

    /// Writes slot `slot`'s begin (`end` false) or end timestamp between commands of
    /// an encoder (needs `TIMESTAMP_QUERY_INSIDE_ENCODERS`).
    pub fn write(&self, enc: &mut wgpu::CommandEncoder, slot: u32, end: bool) {
        assert!(
            slot < self.capacity,
            "timestamp slot {slot} out of {}",
            self.capacity
        );
        enc.write_timestamp(&self.set, slot * 2 + u32::from(end));
    }

    /// Records, in `enc`, the resolve of the first `n` slots and their copy into a new
    /// mappable buffer: read it with [`Timestamps::decode`] once that submission is
    /// done, with no submission of its own (burn keeps the queue full meanwhile).
    pub fn resolve_into(&self, gpu: &Gpu, enc: &mut wgpu::CommandEncoder, n: u32) -> wgpu::Buffer {
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamp readback"),
            size: u64::from(n) * 16,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        enc.resolve_query_set(&self.set, 0..n * 2, &self.resolve, 0);
        enc.copy_buffer_to_buffer(&self.resolve, 0, &staging, 0, u64::from(n) * 16);
        staging
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
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        enc.resolve_query_set(&self.set, 0..n * 2, &self.resolve, 0);
        gpu.submit_and_wait(enc.finish())?;
        let raw = gpu.read_buffer(&self.resolve, u64::from(n) * 16)?;
        Ok(Self::decode(gpu, &raw))
    }
}
