//! naga parses and validates every shader without a GPU, the cooperative-matrix one
//! included, so a broken kernel fails CI even on an adapter that cannot run it.

use crate::spirv;

use naga::valid::{Capabilities, ValidationFlags, Validator};

fn validate(name: &str, src: &str) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
}

#[test]
fn every_shader_validates() {
    let sources = gpu_canary::kernels::shader_sources();
    for (name, src) in &sources {
        validate(name, src);
    }
    // Every file in shaders/ is part of something the host compiles, so none escapes
    // the checks here.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "wgsl") {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                sources.iter().any(|(_, s)| s.contains(&text)),
                "{} is compiled by no kernel",
                p.display()
            );
            n += 1;
        }
    }
    assert!(n >= 6);
}

/// Lengths of the module's workgroup arrays once its overrides are applied.
fn workgroup_lengths(module: &naga::Module) -> Vec<u32> {
    module
        .global_variables
        .iter()
        .filter(|(_, g)| g.space == naga::AddressSpace::WorkGroup)
        .map(|(_, g)| match module.types[g.ty].inner {
            naga::TypeInner::Array { size, .. } => match size.resolve(module.to_ctx()).unwrap() {
                naga::proc::IndexableLength::Known(n) => n,
                other => panic!("tile length {other:?}"),
            },
            ref other => panic!("tile type {other:?}"),
        })
        .collect()
}

#[test]
fn the_tiled_matmul_compiles_at_every_tuned_size() {
    // Pipeline constants size the workgroup tiles: every configuration the tuner tries
    // must come out of naga as SPIR-V, for both I/O variants, with the tiles it implies.
    for (wg_x, wg_y, bk, stages) in gpu_canary::kernels::matmul::tune_grid() {
        for vec4 in [false, true] {
            let src = gpu_canary::kernels::matmul::source("f32", vec4);
            let constants = [
                ("WG_X", f64::from(wg_x)),
                ("WG_Y", f64::from(wg_y)),
                ("BK", f64::from(bk)),
                ("STAGES", f64::from(stages)),
            ];
            let (_, module) = spirv::to_spirv_with(&src, true, false, &constants)
                .unwrap_or_else(|e| panic!("{wg_x}x{wg_y} BK {bk}: {e}"));
            assert_eq!(module.entry_points[0].workgroup_size, [wg_x, wg_y, 1]);
            assert_eq!(
                workgroup_lengths(&module),
                [stages * bk * 2 * wg_y, stages * bk * 2 * wg_x]
            );
        }
    }
}

#[test]
fn the_staged_f16_matmul_compiles_at_every_tuned_size() {
    // The cooperative-matrix kernel cannot run here: its every tuned configuration
    // must at least come out of naga's SPIR-V writer, with one 32-wide subgroup per
    // 32×32 sub-tile and two padded stages of each tile.
    let src = gpu_canary::kernels::matmul_f16::SHADER_STAGED;
    for (bm, bn, bk) in gpu_canary::kernels::matmul_f16::tune_grid() {
        let wg = (bm / 32) * (bn / 32) * 32;
        let constants = [
            ("WG", f64::from(wg)),
            ("BM", f64::from(bm)),
            ("BN", f64::from(bn)),
            ("BK", f64::from(bk)),
        ];
        for checked in [true, false] {
            let (_, module) = spirv::to_spirv_with(src, checked, false, &constants)
                .unwrap_or_else(|e| panic!("{bm}x{bn}x{bk}: {e}"));
            assert_eq!(module.entry_points[0].workgroup_size, [wg, 1, 1]);
            assert_eq!(
                workgroup_lengths(&module),
                [2 * bm * (bk + 8), 2 * bk * (bn + 8)]
            );
        }
    }
}

#[test]
fn the_cooperative_matrix_shader_needs_its_capability() {
    // Without COOPERATIVE_MATRIX the validator must refuse it: proves the test above
    // really validated cooperative-matrix code rather than skipping it.
    let src = gpu_canary::kernels::matmul_f16::SHADER;
    let module = naga::front::wgsl::parse_str(src).unwrap();
    let caps = Capabilities::all() - Capabilities::COOPERATIVE_MATRIX;
    assert!(
        Validator::new(ValidationFlags::all(), caps)
            .validate(&module)
            .is_err()
    );
}

/// The validator accepting a shader is not enough: wgpu hands naga's SPIR-V writer the
/// module on Vulkan, and that writer can still fail (it once panicked on the
/// cooperative-matrix store). Every shader must come out, checked and unchecked; where
/// `spirv-val` is installed, the modules it understands must also pass it.
#[test]
fn every_shader_compiles_to_spirv() {
    let dir = tempfile::tempdir().unwrap();
    let spirv_val = std::process::Command::new("spirv-val")
        .arg("--version")
        .output()
        .is_ok();
    for (name, src) in gpu_canary::kernels::shader_sources() {
        for (checked, robust) in [(true, false), (true, true), (false, false)] {
            let words = spirv::to_spirv(&src, checked, robust)
                .unwrap_or_else(|e| panic!("{name} (checked {checked}): {e}"));
            assert_eq!(words[0], 0x0723_0203, "{name}: SPIR-V magic");
            // spirv-val from Debian 12 (2023.1) predates SPV_KHR_cooperative_matrix.
            if spirv_val && checked && !robust && !name.starts_with("matmul-f16") {
                let file = dir.path().join(format!("{name}.spv"));
                std::fs::write(
                    &file,
                    words
                        .iter()
                        .flat_map(|w| w.to_le_bytes())
                        .collect::<Vec<u8>>(),
                )
                .unwrap();
                let out = std::process::Command::new("spirv-val")
                    .args(["--target-env", "vulkan1.2"])
                    .arg(&file)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{name}: spirv-val: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

#[test]
fn bounds_checks_cost_clamps_that_unchecked_drops() {
    // The --unchecked module of the tiled matmul is strictly smaller: the checks are
    // really gone, not just recorded as gone.
    let src = gpu_canary::kernels::matmul::source("f32", true);
    let checked = spirv::to_spirv(&src, true, false).unwrap();
    let unchecked = spirv::to_spirv(&src, false, false).unwrap();
    assert!(
        unchecked.len() < checked.len(),
        "{} vs {}",
        unchecked.len(),
        checked.len()
    );
}

#[test]
fn every_fault_switch_compiles_to_spirv() {
    // The test-only faults are code in the kernels' shaders too: each one the kernels
    // know must come out of naga's SPIR-V writer, and so must every planter operation.
    use gpu_canary::kernels::fault::code;
    for (name, src) in gpu_canary::kernels::shader_sources() {
        // The check pass, the poison fill, the planter and the memory test have switches
        // of their own (tested below), not the kernels'.
        if name.starts_with("golden")
            || ["poison", "fault-planter", "memtest"].contains(&name.as_str())
        {
            continue;
        }
        for c in [
            code::ZERO_PARTIALS,
            code::SKIP_LAST,
            code::TILE,
            code::NO_WRITE,
            code::TF32,
        ] {
            let constants = [
                ("FAULT", f64::from(c)),
                ("FAULT_ROW", 100.0),
                ("FAULT_COL", 37.0),
            ];
            spirv::to_spirv_with(&src, true, false, &constants)
                .unwrap_or_else(|e| panic!("{name} FAULT {c}: {e}"));
        }
    }
    for op in 1..=4 {
        let constants = [
            ("OP", f64::from(op)),
            ("VALUE", 0.5),
            ("MASK", 2147483648.0),
        ];
        spirv::to_spirv_with(
            gpu_canary::kernels::fault::PLANTER_SHADER,
            true,
            false,
            &constants,
        )
        .unwrap_or_else(|e| panic!("planter OP {op}: {e}"));
    }
    // Each step of the check every dispatch gets (compare, record, end the pass), with
    // and without subgroups, and the dead compare of the tests.
    for vec4 in [false, true] {
        for subgroups in [false, true] {
            for mode in 0..=2 {
                for dead in [0.0, 1.0] {
                    let constants = [("MODE", f64::from(mode)), ("SLOTS", 4096.0), ("DEAD", dead)];
                    spirv::to_spirv_with(
                        &gpu_canary::kernels::golden::source(vec4, subgroups),
                        true,
                        false,
                        &constants,
                    )
                    .unwrap_or_else(|e| {
                        panic!("golden vec4 {vec4} subgroups {subgroups} MODE {mode}: {e}")
                    });
                }
            }
        }
    }
    // The memory test's write, compare and record, and its cells' faults (stuck, alias,
    // flip) on words above 2^32.
    for mode in 0..=2 {
        for fault in 0..=3 {
            let constants = [
                ("MODE", f64::from(mode)),
                ("WG", 64.0),
                ("FAULT", f64::from(fault)),
                ("FAULT_A_LO", 7.0),
                ("FAULT_A_HI", 3.0),
                ("FAULT_B_LO", 4294967295.0),
                ("FAULT_B_HI", 1.0),
                ("FAULT_BIT", 40.0),
                ("FAULT_VALUE", 1.0),
            ];
            spirv::to_spirv_with(
                gpu_canary::kernels::memtest::SHADER,
                true,
                false,
                &constants,
            )
            .unwrap_or_else(|e| panic!("memtest MODE {mode} FAULT {fault}: {e}"));
        }
    }
}
