//! A case against the adapter before anything runs: the device features a kernel needs,
//! its buffers against the binding and buffer limits, its grid and workgroup.

use super::{Kernel, Shape};
use crate::gpu::{Gpu, Needs};

/// What the opened device lacks of `needs`, in words.
pub fn missing(needs: &Needs, gpu: &Gpu) -> Option<String> {
    if needs.tensor_cores() && gpu.cooperative_matrix.is_empty() {
        let have = gpu.adapter.features();
        let why = if !have.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
            "the adapter offers no cooperative matrices (EXPERIMENTAL_COOPERATIVE_MATRIX)"
                .to_owned()
        } else {
            let shapes: Vec<String> = needs
                .cooperative_matrix
                .iter()
                .map(|c| format!("{}x{}x{} {:?} -> {:?}", c.m, c.n, c.k, c.ab, c.cr))
                .collect();
            format!(
                "the adapter lists no cooperative-matrix shape {}",
                shapes.join(" or ")
            )
        };
        return Some(format!("tensor cores not available: {why}"));
    }
    let lacking = needs.required - gpu.features;
    (!lacking.is_empty()).then(|| {
        let names = crate::gpu::feature_names(lacking).join(", ");
        if needs.tensor_cores() {
            format!("tensor cores not usable: the adapter has no {names}")
        } else {
            format!("the adapter has no {names}")
        }
    })
}

/// Validates a case against the adapter's limits before anything runs.
pub fn check_limits(
    kernel: &dyn Kernel,
    shape: Shape,
    limits: &wgpu::Limits,
) -> std::result::Result<(), String> {
    kernel.check_shape(shape)?;
    check_buffers(
        kernel.id(),
        shape,
        &kernel.buffers(shape),
        kernel.binds_buffers(),
        limits,
    )
}

/// Each buffer, as (name, bytes), against the adapter's binding and buffer limits.
pub fn check_buffers(
    id: &str,
    shape: Shape,
    buffers: &[(&str, u64)],
    bound: bool,
    limits: &wgpu::Limits,
) -> std::result::Result<(), String> {
    for &(name, bytes) in buffers {
        if bound && bytes > limits.max_storage_buffer_binding_size {
            return Err(format!(
                "{id} {shape}: buffer {name} needs {bytes} bytes, over this adapter's max_storage_buffer_binding_size of {}; use a smaller --size",
                limits.max_storage_buffer_binding_size
            ));
        }
        if bytes > limits.max_buffer_size {
            return Err(format!(
                "{id} {shape}: buffer {name} needs {bytes} bytes, over this adapter's max_buffer_size of {}; use a smaller --size",
                limits.max_buffer_size
            ));
        }
    }
    Ok(())
}

/// A workgroup grid against `max_compute_workgroups_per_dimension`.
pub fn check_grid(
    id: &str,
    shape: Shape,
    groups: [u32; 3],
    limits: &wgpu::Limits,
) -> std::result::Result<[u32; 3], String> {
    let max = limits.max_compute_workgroups_per_dimension;
    if groups.iter().any(|&g| g > max) {
        return Err(format!(
            "{id} {shape}: a {}x{}x{} grid of workgroups is over this adapter's max_compute_workgroups_per_dimension of {max}; use a smaller --size",
            groups[0], groups[1], groups[2]
        ));
    }
    Ok(groups)
}

/// A workgroup of `size` invocations using `bytes` of workgroup memory against the
/// adapter's limits; `fix` says which launch parameters to lower.
pub fn check_workgroup(
    id: &str,
    size: [u32; 3],
    bytes: u64,
    fix: &str,
    limits: &wgpu::Limits,
) -> std::result::Result<(), String> {
    let invocations = size[0] * size[1] * size[2];
    if size[0] > limits.max_compute_workgroup_size_x
        || size[1] > limits.max_compute_workgroup_size_y
        || size[2] > limits.max_compute_workgroup_size_z
        || invocations > limits.max_compute_invocations_per_workgroup
    {
        return Err(format!(
            "{id}: a {}x{}x{} workgroup ({invocations} invocations) is over this adapter's limits ({}x{}x{}, {} invocations); lower {fix}",
            size[0],
            size[1],
            size[2],
            limits.max_compute_workgroup_size_x,
            limits.max_compute_workgroup_size_y,
            limits.max_compute_workgroup_size_z,
            limits.max_compute_invocations_per_workgroup
        ));
    }
    if bytes > u64::from(limits.max_compute_workgroup_storage_size) {
        return Err(format!(
            "{id}: tiles of {bytes} bytes are over this adapter's max_compute_workgroup_storage_size of {}; lower {fix}",
            limits.max_compute_workgroup_storage_size
        ));
    }
    Ok(())
}
