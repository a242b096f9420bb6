//! The kept-busy instance of the case, and what a submission leaves on the queue.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::fault::Planter;
use crate::kernels::{Prepared, Stamp};

/// A submission on the queue.
pub(super) struct Pending {
    pub(super) index: wgpu::SubmissionIndex,
    pub(super) number: u32,
    pub(super) dispatches: u64,
    /// Its passes' timestamps (one slot per dispatch), to be read once it is done.
    pub(super) stamps: Option<wgpu::Buffer>,
    /// The ledger as the submission left it, and the check passes it recorded.
    pub(super) ledger: wgpu::Buffer,
    pub(super) passes: std::ops::Range<u64>,
    pub(super) check: Option<PendingCheck>,
    pub(super) submitted_us: f64,
}

/// A dispatch whose outputs were copied out, before their poisoning, for the check
/// against the CPU reference.
pub(super) struct PendingCheck {
    pub(super) outputs: Vec<wgpu::Buffer>,
    /// The checked dispatch, counted from the burn's first.
    pub(super) dispatch: u64,
    pub(super) number: u64,
}

/// The kept-busy instance of the case, and the faults planted into it (tests only).
pub(super) struct Load {
    pub(super) prepared: Box<dyn Prepared>,
    pub(super) planter: Option<Planter>,
    /// A dispatch the fault hits is left out (`stale`).
    pub(super) stale: bool,
}

impl Load {
    /// Records dispatch `hit`-or-not into a pass of its own, timestamped into `ts`;
    /// `times` > 1 under the planted slowdown.
    pub(super) fn encode(
        &self,
        enc: &mut wgpu::CommandEncoder,
        ts: Stamp<'_>,
        times: u32,
        hit: bool,
    ) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("burn"),
            timestamp_writes: ts.map(|(t, slot)| t.writes(slot)),
        });
        if !(hit && self.stale) {
            for _ in 0..times {
                self.prepared.encode(&mut pass);
            }
        }
        if let (true, Some(p)) = (hit, &self.planter) {
            p.encode(&mut pass);
        }
    }

    /// Fresh mappable copies of the outputs (poison-filled first, so a copy that never
    /// ran reads back as poison).
    pub(super) fn copy_out(
        &self,
        gpu: &Gpu,
        enc: &mut wgpu::CommandEncoder,
    ) -> Result<Vec<wgpu::Buffer>> {
        self.prepared
            .outputs()
            .into_iter()
            .map(|o| {
                let staging = gpu.staging("check readback", o.bytes)?;
                enc.copy_buffer_to_buffer(o.buffer, 0, &staging, 0, o.bytes);
                Ok(staging)
            })
            .collect()
    }
}
