//! Faults planted in the GPU's output (a switch in the kernel's shader, or a shader
//! dispatched right after it), at shapes above the element-by-element limit: each
//! fails the run (exit 1) with the wrong element or partial named. The shapes of the
//! faults a review found passing (2040x2048x2048 and up) take seconds per dispatch on
//! lavapipe; these are the same fault classes at the smallest shapes of the same
//! checks, and `scripts/fault-matrix` runs the review's own table.

use serde_json::Value;

use crate::common::*;

/// Runs one case with `fault` planted; returns exit code, stderr and result.json.
fn planted(kernel: &str, size: &str, fault: &str) -> (i32, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--kernel",
        kernel,
        "--size",
        size,
        "--warmup",
        "0",
        "--iterations",
        "1",
    ];
    run_with_fault(&args, fault, dir.path())
}

/// Asserts a failed run whose first mismatch is at (row, col), named on stderr; returns
/// the mismatch.
fn caught_at(kernel: &str, size: &str, fault: &str, row: u64, col: u64) -> Value {
    let (code, err, doc) = planted(kernel, size, fault);
    assert_eq!(code, 1, "{kernel} {size} {fault}: {err}");
    let k = &doc["kernels"][0];
    assert_eq!(k["status"], "fail", "{fault}");
    let m = k["verification"]["first_mismatch"].clone();
    assert_eq!(
        (m["row"].as_u64(), m["col"].as_u64()),
        (Some(row), Some(col)),
        "{fault}: {m}"
    );
    assert!(
        err.contains(&format!("(row {row}, col {col})")),
        "{fault}: {err}"
    );
    m
}

/// The grid unit of C at inner dimension `k` (inputs within ±1).
fn c_unit(k: usize) -> f64 {
    let g = gpu_canary::check::reference::Grid::for_k(k, 1.0).unwrap();
    g.unit * g.unit
}

#[test]
fn one_wrong_f32_element_is_caught_wherever_it_is() {
    // 520³ is above the 2²⁷ limit: the exact-grid check. One unit of C is 2⁻¹⁶ here.
    let size = "520x520x520";
    let unit = c_unit(520);
    assert_eq!(unit, 2f64.powi(-16));
    for (r, c, v) in [
        (0, 0, 1.0),
        (519, 519, unit),
        (333, 17, -unit),
        (7, 300, 1.0),
    ] {
        let m = caught_at("matmul-f32", size, &format!("add@{r},{c}={v}"), r, c);
        assert_eq!(m["error"].as_f64(), Some(v.abs()));
        assert_eq!(m["bound"].as_f64(), Some(0.0));
    }
}

#[test]
fn a_zero_tile_a_zero_row_and_no_write_are_caught() {
    // K and N not multiples of 4: the element-wise I/O, with partial tiles.
    let size = "521x519x523";
    // The default tile is 128×128: (300, 400) lies in the tile whose corner is (256, 384).
    caught_at("matmul-f32", size, "tile@300,400", 256, 384);
    caught_at("matmul-u32", size, "tile@520,522", 512, 512);
    let m = caught_at("matmul-f32", size, "zero-row@77", 77, 0);
    assert_eq!(m["actual"].as_f64(), Some(0.0));
    // Nothing written: the poison (a NaN) is what is read back.
    let m = caught_at("matmul-f32", "520x520x520", "no-write", 0, 0);
    assert_eq!(m["actual"], "NaN");
    caught_at("matmul-u32", "520x520x520", "no-write", 0, 0);
}

#[test]
fn paired_high_bit_errors_in_one_u32_row_are_caught() {
    // 2³¹ in two elements of a row cancels in any sum with odd weights.
    for (r, c1, c2) in [(0, 0, 1), (519, 3, 400), (260, 100, 101)] {
        caught_at(
            "matmul-u32",
            "520x520x520",
            &format!("xor@{r},{c1},{c2}=0x80000000"),
            r,
            c1,
        );
    }
}

#[test]
fn a_dispatch_that_never_runs_is_caught() {
    // The last timed dispatch is dropped: without poison it would read back the
    // previous run's good result.
    for kernel in ["matmul-f32", "matmul-u32"] {
        caught_at(kernel, "520x520x520", "stale", 0, 0);
    }
    let (code, err, _) = planted("reduce-f32", "1048579", "stale");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("partial 0 of 129"), "{err}");
}

/// Asserts a failed reduce whose first mismatch is the named partial.
fn reduce_caught(size: &str, fault: &str, named: &str) -> Value {
    let (code, err, doc) = planted("reduce-f32", size, fault);
    assert_eq!(code, 1, "{size} {fault}: {err}");
    let m = doc["kernels"][0]["verification"]["first_mismatch"].clone();
    assert_eq!(m["location"].as_str(), Some(named), "{fault}: {m}");
    assert!(err.contains(named), "{fault}: {err}");
    m
}

#[test]
fn reduce_faults_are_caught_and_the_partial_named() {
    // Every partial written as 0: the output is never computed.
    let m = reduce_caught(
        "16777219",
        "zero-partials",
        "partial 0 of 1024 (pass 1, workgroup 0)",
    );
    assert_eq!(m["actual"].as_f64(), Some(0.0));
    // The input's last vec4 skipped: named as the partial of the workgroup that reads
    // it (the grid-stride loop puts vec4 i in workgroup (i mod G·WG) / WG).
    for n in [1_048_579u32, 1 << 22] {
        let p = gpu_canary::kernels::reduce_f32::ReduceParams::default();
        let n4 = n.div_ceil(4);
        let g = p.groups(n4);
        let w = (n4 - 1) % (g * p.wg) / p.wg;
        reduce_caught(
            &n.to_string(),
            "skip-last",
            &format!("partial {w} of {g} (pass 1, workgroup {w})"),
        );
    }
    let m = reduce_caught(
        "16777219",
        "no-write",
        "partial 0 of 1024 (pass 1, workgroup 0)",
    );
    assert_eq!(m["actual"], "NaN");
}

#[test]
fn a_fault_outside_the_shape_plants_nothing_and_the_run_passes() {
    let (code, err, doc) = planted("matmul-f32", "520x520x520", "add@600,0=1");
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["kernels"][0]["status"], "pass");
}

#[test]
fn a_shader_fault_no_kernel_can_plant_is_a_usage_error() {
    let out = bin()
        .args(["run", "--kernel", "matmul-f32"])
        .env("GPU_CANARY_INJECT_FAULT", "skip-last")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("none of the kernels can plant it"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_vectors_are_fresh_each_run_and_replayable() {
    let seed_of = |extra: &[&str]| -> (u64, String) {
        let dir = tempfile::tempdir().unwrap();
        let out = bin()
            .args(["run", "--kernel", "matmul-u32", "--size", "600x600x600"])
            .args(["--warmup", "0", "--iterations", "1"])
            .args(extra)
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let doc = read_json(&dir.path().join("result.json"));
        (
            doc["config"]["check_seed"].as_u64().unwrap(),
            doc["kernels"][0]["verification"]["checksum"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    let (a, sum_a) = seed_of(&[]);
    let (b, sum_b) = seed_of(&[]);
    assert_ne!(a, b, "two runs drew the same check seed");
    assert_eq!(sum_a, sum_b, "the product itself does not depend on it");
    assert_eq!(seed_of(&["--check-seed", "42"]).0, 42);
}

#[test]
fn tune_refuses_every_configuration_that_computes_a_wrong_result() {
    // 2048×64×1025 is just above the element-by-element limit: tune verifies each
    // configuration with the exact check, and a planted element fails every one.
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["tune", "--kernel", "matmul-f32", "--size", "2048x64x1025"])
        .args(["--iterations", "1", "--out"])
        .arg(dir.path().join("tune.json"))
        .env("GPU_CANARY_INJECT_FAULT", "add@2000,1000=0.001")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains(" verified "), "{stdout}");
    assert!(stdout.matches("WRONG").count() >= 10, "{stdout}");
    let t = read_json(&dir.path().join("tune.json"));
    assert!(t["best"].as_object().unwrap().is_empty(), "{t}");
}

/// Runs a copy or transfer with `fault` planted on the GPU side; asserts exit 1 and the
/// wrong word named; returns the mismatch.
fn copy_caught(kernel: &str, size: &str, fault: &str, word: u64) -> Value {
    let (code, err, doc) = planted(kernel, size, fault);
    assert_eq!(code, 1, "{kernel} {size} {fault}: {err}");
    let k = &doc["kernels"][0];
    assert_eq!(k["status"], "fail", "{kernel} {fault}");
    assert_eq!(k["verification"]["method"], "exact-bytes");
    let m = k["verification"]["first_mismatch"].clone();
    assert_eq!(m["index"].as_u64(), Some(word), "{kernel} {fault}: {m}");
    assert!(
        err.contains(&format!("word {word},")),
        "{kernel} {fault}: {err}"
    );
    m
}

#[test]
fn one_wrong_bit_in_any_copy_or_transfer_is_caught() {
    // 64 MiB, the quick suite's large shape: 16 Mi words, the last is 16777215.
    let last = (64u64 << 20) / 4 - 1;
    for kernel in ["copy-f32", "copy-buffer", "upload", "readback"] {
        let m = copy_caught(kernel, "64MiB", &format!("add@0,{last}=1"), last);
        assert_eq!(
            m["actual"].as_f64().unwrap() - m["expected"].as_f64().unwrap(),
            1.0
        );
        // One bit, far from both ends.
        let m = copy_caught(
            kernel,
            "64MiB",
            "xor@0,5000000,5000001=0x00000100",
            5_000_000,
        );
        let flipped = m["actual"].as_f64().unwrap() as u32 ^ m["expected"].as_f64().unwrap() as u32;
        assert_eq!(flipped, 0x100, "{kernel}");
    }
}

#[test]
fn a_copy_that_moves_nothing_or_too_little_or_never_runs_is_caught() {
    // 4 MiB + 4 bytes: padded to whole 16-byte words, the last word is 1048579.
    for kernel in ["copy-f32", "copy-buffer", "upload", "readback"] {
        let m = copy_caught(kernel, "4194308B", "no-write", 0);
        assert_eq!(
            m["actual"].as_f64(),
            Some(f64::from(gpu_canary::kernels::poison::POISON))
        );
        copy_caught(kernel, "4194308B", "stale", 0);
    }
    // The shader copies vec4 words: the last vec4 starts at word 1048576.
    copy_caught("copy-f32", "4194308B", "skip-last", 1_048_576);
    for kernel in ["copy-buffer", "upload", "readback"] {
        copy_caught(kernel, "4194308B", "skip-last", 1_048_579);
    }
}

#[test]
fn buffers_larger_than_a_binding_are_poisoned_and_planted_into() {
    // 160 MiB is over lavapipe's 128 MiB storage binding: the poison fills it in two
    // bound pieces. The last word, never copied under skip-last, must read back as the
    // poison, so the second piece was filled too (a missed piece would read 0).
    let last = (160u64 << 20) / 4 - 1;
    let m = copy_caught("copy-buffer", "160MiB", "skip-last", last);
    assert_eq!(
        m["actual"].as_f64(),
        Some(f64::from(gpu_canary::kernels::poison::POISON))
    );
    // And the planter binds the window around its word: one bit at the last word.
    let m = copy_caught("readback", "160MiB", &format!("add@0,{last}=1"), last);
    assert_eq!(
        m["actual"].as_f64().unwrap() - m["expected"].as_f64().unwrap(),
        1.0
    );
}
