//! Where naga's runtime checks go: each kernel compiled to SPIR-V under the bounds-check
//! policies wgpu's Vulkan backend uses, counted by the instructions the checks add.
//!
//! `cargo run --example spirv_checks` (`GPU_CANARY_SPV_DIR=DIR` also writes the checked
//! modules there, e.g. for `spirv-val`).
//!
//! Policies, as wgpu 30 picks them on Vulkan: with checks, every dynamic index into an
//! array or vector is clamped (`index: Restrict`), and buffer accesses are clamped too
//! unless the driver offers robustBufferAccess2 (`buffer: Unchecked` then, left to the
//! hardware). `--unchecked` turns both off.

#[path = "../tests/spirv.rs"]
mod spirv;

use std::collections::BTreeMap;

const OP_EXT_INST_IMPORT: u32 = 11;
const OP_EXT_INST: u32 = 12;
const OP_SELECT: u32 = 169;
const OP_ULESS_THAN: u32 = 176;
const OP_ULESS_THAN_EQUAL: u32 = 178;
const OP_BRANCH_CONDITIONAL: u32 = 250;
const OP_ACCESS_CHAIN: u32 = 65;
/// GLSL.std.450 UMin.
const GLSL_UMIN: u32 = 38;

fn count(words: &[u32]) -> BTreeMap<&'static str, usize> {
    let mut c = BTreeMap::new();
    let mut glsl = None;
    let mut i = 5; // past the header
    while i < words.len() {
        let (len, op) = ((words[i] >> 16) as usize, words[i] & 0xffff);
        let inst = &words[i..i + len.max(1)];
        *c.entry("instructions").or_default() += 1;
        match op {
            OP_EXT_INST_IMPORT => {
                let name: Vec<u8> = inst[2..]
                    .iter()
                    .flat_map(|w| w.to_le_bytes())
                    .take_while(|&b| b != 0)
                    .collect();
                if name == b"GLSL.std.450" {
                    glsl = Some(inst[1]);
                }
            }
            OP_EXT_INST if Some(inst[3]) == glsl && inst[4] == GLSL_UMIN => {
                *c.entry("UMin (clamp)").or_default() += 1
            }
            OP_SELECT => *c.entry("Select").or_default() += 1,
            OP_ULESS_THAN | OP_ULESS_THAN_EQUAL => *c.entry("ULessThan(Equal)").or_default() += 1,
            OP_BRANCH_CONDITIONAL => *c.entry("BranchConditional").or_default() += 1,
            OP_ACCESS_CHAIN => *c.entry("AccessChain").or_default() += 1,
            _ => {}
        }
        i += len.max(1);
    }
    c
}

fn main() {
    let modes = [
        ("checked, no robustBufferAccess2", true, false),
        ("checked, robustBufferAccess2", true, true),
        ("--unchecked", false, false),
    ];
    let dump = std::env::var_os("GPU_CANARY_SPV_DIR").map(std::path::PathBuf::from);
    for (name, src) in gpu_canary::kernels::shader_sources() {
        println!("{name}");
        for (mode, checked, robust) in modes {
            let words =
                spirv::to_spirv(&src, checked, robust).unwrap_or_else(|e| panic!("{name}: {e}"));
            let row: Vec<String> = count(&words)
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            println!("  {mode:<32} {}", row.join(", "));
            if let (Some(dir), true, false) = (&dump, checked, robust) {
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                std::fs::write(dir.join(format!("{name}.spv")), bytes).expect("writing SPIR-V");
            }
        }
    }
}
