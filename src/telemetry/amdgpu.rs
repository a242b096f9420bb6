//! amdgpu's own files beside the DRM card's: why the GPU throttles (`gpu_metrics`), its
//! busy percentage, its RAS (ECC) counters, and the board's unique id and serial.

use std::path::Path;

use super::Class;

/// amdgpu's ASIC-independent throttlers (`indep_throttle_status` of `gpu_metrics`, bit
/// numbers from the kernel's `SMU_THROTTLER_*_BIT`), named as in the kernel, lowercased
/// and prefixed `amd_`. Power and current limits (PPT, SPL, TDC, EDC, APCC) are the
/// power cap's peers; temperatures, VRHOT and PROCHOT are slowdowns; PPM and FIT
/// (platform power management, reliability limit) are recorded only.
const THROTTLERS: [(u32, &str); 34] = [
    (0, "amd_ppt0"),
    (1, "amd_ppt1"),
    (2, "amd_ppt2"),
    (3, "amd_ppt3"),
    (4, "amd_spl"),
    (5, "amd_fppt"),
    (6, "amd_sppt"),
    (7, "amd_sppt_apu"),
    (16, "amd_tdc_gfx"),
    (17, "amd_tdc_soc"),
    (18, "amd_tdc_mem"),
    (19, "amd_tdc_vdd"),
    (20, "amd_tdc_cvip"),
    (21, "amd_edc_cpu"),
    (22, "amd_edc_gfx"),
    (23, "amd_apcc"),
    (32, "amd_temp_gpu"),
    (33, "amd_temp_core"),
    (34, "amd_temp_mem"),
    (35, "amd_temp_edge"),
    (36, "amd_temp_hotspot"),
    (37, "amd_temp_soc"),
    (38, "amd_temp_vr_gfx"),
    (39, "amd_temp_vr_soc"),
    (40, "amd_temp_vr_mem0"),
    (41, "amd_temp_vr_mem1"),
    (42, "amd_temp_liquid0"),
    (43, "amd_temp_liquid1"),
    (44, "amd_vrhot0"),
    (45, "amd_vrhot1"),
    (46, "amd_prochot_cpu"),
    (47, "amd_prochot_gfx"),
    (56, "amd_ppm"),
    (57, "amd_fit"),
];

/// amdgpu's throttlers: temperatures, VRHOT and PROCHOT (bits 32 to 47) slow a run
/// down, power and current limits (bits 0 to 23) are the power cap.
pub fn class(reason: &str) -> Option<Class> {
    let &(bit, _) = THROTTLERS.iter().find(|&&(_, name)| name == reason)?;
    match bit {
        32..48 => Some(Class::Slowdown),
        0..32 => Some(Class::PowerCap),
        _ => Some(Class::Other),
    }
}

/// The throttlers active in an amdgpu `gpu_metrics` table: `None` unless the table is
/// format 1, content 3 (the discrete GPUs' layout with ASIC-independent bits: Navi and
/// MI200 on current kernels), or when the driver fills the field with its "not
/// supported" ones. Tables 1.0 to 1.2 carry only ASIC-specific bits, and MI300's (1.4,
/// 1.5) another layout: those stay unread rather than guessed.
pub fn throttlers(table: &[u8]) -> Option<Vec<String>> {
    // struct gpu_metrics_v1_3 (kgd_pp_interface.h): a 4-byte header (structure_size
    // u16, format_revision u8, content_revision u8), indep_throttle_status a u64 at
    // byte 112 of 120.
    const SIZE: usize = 120;
    const INDEP: usize = 112;
    let size = usize::from(u16::from_le_bytes([*table.first()?, *table.get(1)?]));
    let (format, content) = (*table.get(2)?, *table.get(3)?);
    if format != 1 || content != 3 || size != SIZE || table.len() < SIZE {
        return None;
    }
    let bits = u64::from_le_bytes(table[INDEP..INDEP + 8].try_into().ok()?);
    if bits == u64::MAX {
        return None;
    }
    Some(
        THROTTLERS
            .iter()
            .filter(|&&(bit, _)| bits >> bit & 1 == 1)
            .map(|&(_, name)| name.to_owned())
            .collect(),
    )
}

/// The throttlers of the card at `device` (its PCI device directory), where its
/// `gpu_metrics` has readable ones.
pub fn read_throttlers(device: &Path) -> Option<Vec<String>> {
    std::fs::read(device.join("gpu_metrics"))
        .ok()
        .and_then(|t| throttlers(&t))
}

/// The RAS counters of the card's memory (uncorrected, corrected), where it has ECC
/// memory: `ras/umc_err_count` holds "ue: 0\nce: 3".
pub fn ecc(device: &Path) -> (Option<u64>, Option<u64>) {
    let ras = std::fs::read_to_string(device.join("ras/umc_err_count")).ok();
    let count = |key: &str| {
        ras.as_ref()?
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    (count("ue:"), count("ce:"))
}

/// The board's `unique_id` and `serial_number`, where it has them.
pub fn ids(device: &Path) -> (Option<String>, Option<String>) {
    let text = |f: &str| {
        std::fs::read_to_string(device.join(f))
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    (text("unique_id"), text("serial_number"))
}
