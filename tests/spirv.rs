//! WGSL to SPIR-V without a GPU, for the shader tests and `examples/spirv_checks.rs`:
//! what wgpu's Vulkan backend emits, under the bounds-check policies it uses.
#![allow(dead_code)]

/// Compiles WGSL to SPIR-V as wgpu's Vulkan backend does, without a GPU: naga's
/// validator, then its SPIR-V writer (overrides at their defaults) with the
/// bounds-check policies of a checked or unchecked module. A writer panic is returned
/// as an error: the validator accepting a shader does not mean the backend can emit it.
pub fn to_spirv(
    src: &str,
    checked: bool,
    robust_buffer_access: bool,
) -> std::result::Result<Vec<u32>, String> {
    to_spirv_with(src, checked, robust_buffer_access, &[]).map(|(words, _)| words)
}

/// [`to_spirv`] with pipeline constants; also returns the module after the overrides
/// are applied (its workgroup size and array lengths resolved).
pub fn to_spirv_with(
    src: &str,
    checked: bool,
    robust_buffer_access: bool,
    constants: &[(&str, f64)],
) -> std::result::Result<(Vec<u32>, naga::Module), String> {
    use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy::*};
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string(src))?;
    let constants: naga::back::PipelineConstants =
        constants.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
    let (module, info) =
        naga::back::pipeline_constants::process_overrides(&module, &info, None, &constants)
            .map_err(|e| format!("overrides: {e}"))?;
    let policies = BoundsCheckPolicies {
        index: if checked { Restrict } else { Unchecked },
        buffer: if checked && !robust_buffer_access {
            Restrict
        } else {
            Unchecked
        },
        ..Default::default()
    };
    // SPIR-V 1.5 (Vulkan 1.2): subgroup operations need 1.3 or later.
    let options = naga::back::spv::Options {
        lang_version: (1, 5),
        bounds_check_policies: policies,
        ..Default::default()
    };
    let words =
        std::panic::catch_unwind(|| naga::back::spv::write_vec(&module, &info, &options, None))
            .map_err(|p| {
                format!(
                    "naga's SPIR-V writer panicked: {}",
                    gpu_canary::error::panic_message(p.as_ref())
                )
            })?
            .map_err(|e| format!("SPIR-V: {e}"))?;
    Ok((words, module.into_owned()))
}
