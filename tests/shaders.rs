//! naga parses and validates every shader without a GPU, the cooperative-matrix one
//! included, so a broken kernel fails CI even on an adapter that cannot run it.

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
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "wgsl") {
            validate(
                &p.display().to_string(),
                &std::fs::read_to_string(&p).unwrap(),
            );
            n += 1;
        }
    }
    assert!(n >= 3);
    // The u32 variant of the tiled matmul, as the host compiles it.
    validate(
        "matmul u32",
        &gpu_canary::kernels::matmul::SHADER.replacen("alias Elem = f32;", "alias Elem = u32;", 1),
    );
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
