//! The whole card: the memory test covers what it says, says how much of the device's
//! memory that is, fails on every planted cell fault at the first word, past a binding
//! boundary and at the last word of the last buffer (naming the address and the bits),
//! and never passes a run that covered less than `--require-coverage`.

use std::sync::OnceLock;

use serde_json::Value;

use crate::common::*;

/// A small test (three binding windows' worth on lavapipe is too slow for every case):
/// 192 MiB is one buffer of two windows at lavapipe's 128 MiB binding limit.
const MEMORY: &str = "192MiB";

/// `run --kernel memtest --memory MEMORY ARGS` with `fault` planted (or none); exit
/// code, stderr and the schema-valid result.json.
fn memtest(args: &[&str], fault: Option<&str>) -> (i32, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin();
    c.args(["run", "--kernel", "memtest", "--memory", MEMORY])
        .args(args)
        .arg("--out")
        .arg(dir.path());
    if let Some(f) = fault {
        c.env("GPU_CANARY_INJECT_FAULT", f);
    }
    let out = c.output().unwrap();
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        doc,
    )
}

/// The clean run the planted ones are placed by (its windows, its words).
fn clean() -> &'static Value {
    static RUN: OnceLock<Value> = OnceLock::new();
    RUN.get_or_init(|| {
        let (code, err, doc) = memtest(&[], None);
        assert_eq!(code, 0, "{err}");
        doc
    })
}

#[test]
fn the_memory_test_passes_and_states_its_coverage() {
    let doc = clean();
    assert_eq!(doc["verdict"], "pass");
    let k = &doc["kernels"][0];
    assert_eq!(
        (k["id"].as_str(), k["shape"].as_str()),
        (Some("memtest"), Some(MEMORY))
    );
    assert_eq!(k["status"], "pass");
    assert_eq!(k["verification"]["method"], "exact-pattern");
    let m = &doc["coverage"]["memory"];
    assert_eq!(m["tested_bytes"], 192u64 << 20);
    assert_eq!(m["target_bytes"], 192u64 << 20);
    // The device's total, from Vulkan's device-local heaps.
    assert_eq!(m["device_source"], "vulkan");
    let device = m["device_bytes"].as_u64().unwrap();
    assert!(device > 192 << 20, "{m}");
    let fraction = m["fraction"].as_f64().unwrap();
    assert!((fraction - (192u64 << 20) as f64 / device as f64).abs() < 1e-12);
    // lavapipe's memory is the host's: measured, never claimed as a card's.
    assert_eq!(m["claimed"], false);
    assert!(
        m["notes"][0]
            .as_str()
            .unwrap()
            .contains("card coverage is not claimed")
    );
    assert_eq!(
        m["patterns"],
        serde_json::json!([
            "address",
            "address-complement",
            "random",
            "random-complement"
        ])
    );
    assert_eq!(
        (m["passes"].as_u64(), m["passes_verified"].as_u64()),
        (Some(6), Some(6))
    );
    assert_eq!(m["wrong_words"], 0);
    assert!(m["write_bytes_per_s"].as_f64().unwrap() > 0.0);
    assert!(m["read_bytes_per_s"].as_f64().unwrap() > 0.0);
    assert!(m["allocation_s"].as_f64().is_some());
    let dc = &k["dispatch_check"];
    assert_eq!(
        (
            dc["dispatches_total"].as_u64(),
            dc["dispatches_verified"].as_u64()
        ),
        (Some(6), Some(6))
    );
    // Each pass wrote and read every byte.
    assert_eq!(k["throughput"]["work_per_run"], 2.0 * (192u64 << 20) as f64);
}

#[test]
fn every_planted_cell_fault_fails_naming_the_address_and_the_bits() {
    let m = &clean()["coverage"]["memory"];
    let window = m["window_bytes"].as_u64().unwrap() / 8;
    let last = m["tested_bytes"].as_u64().unwrap() / 8 - 1;
    assert!(
        m["windows"].as_u64().unwrap() >= 2,
        "{m}: no binding boundary to cross"
    );
    for (word, place) in [
        (0, "byte 0x0 (binding window 1 of"),
        (window, "(binding window 2 of"),
        (last, &*format!("byte 0x{:x} (binding window", last * 8)),
    ] {
        for (fault, bits) in [
            (format!("stuck@{word}:63=1"), "bit 63 differs"),
            (format!("stuck@{word}:0=0"), "bit 0 differs"),
            (format!("flip@{word}:17"), "bit 17 differs"),
        ] {
            let (code, err, doc) = memtest(&[], Some(&fault));
            assert_eq!(code, 1, "{fault}: {err}");
            assert_eq!(doc["verdict"], "fail");
            let k = &doc["kernels"][0];
            assert!(err.contains(place) && err.contains(bits), "{fault}: {err}");
            let fp = &k["fingerprint"];
            assert_eq!(fp["words"][0]["word"], word, "{fault}: {fp}");
            let (e, a) = (
                fp["words"][0]["expected"].as_str().unwrap(),
                fp["words"][0]["actual"].as_str().unwrap(),
            );
            let x = |h: &str| u64::from_str_radix(&h[2..], 16).unwrap();
            let bit = bits.split(' ').nth(1).unwrap().parse::<u32>().unwrap();
            assert_eq!(x(e) ^ x(a), 1 << bit, "{fault}: {e} {a}");
            assert_eq!(fp["failing_bits"], format!("0x{:016x}", 1u64 << bit));
            assert_eq!(fp["bit_counts"][bit as usize], fp["wrong_words"]);
            assert_eq!(doc["coverage"]["memory"]["wrong_words"], fp["wrong_words"]);
        }
        // Aliasing: the write of the first word lands here; both are caught.
        if word != 0 {
            let fault = format!("alias@0,{word}");
            let (code, err, doc) = memtest(&[], Some(&fault));
            assert_eq!(code, 1, "{fault}: {err}");
            let listed: Vec<u64> = doc["kernels"][0]["fingerprint"]["words"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["word"].as_u64().unwrap())
                .collect();
            assert!(
                listed.contains(&0) && listed.contains(&word),
                "{fault}: {listed:?}"
            );
        }
    }
}

#[test]
fn a_transient_flip_on_one_pass_is_caught_on_that_pass() {
    let dir = tempfile::tempdir().unwrap();
    for pass in ["2", "4"] {
        let out = bin()
            .args(["run", "--kernel", "memtest", "--memory", "64MiB", "--out"])
            .arg(dir.path())
            .arg("--force")
            .env("GPU_CANARY_INJECT_FAULT", "flip@1000:40")
            .env("GPU_CANARY_FAULT_DISPATCH", pass)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = read_json(&dir.path().join("result.json"));
        let fp = &doc["kernels"][0]["fingerprint"];
        assert_eq!(
            fp["dispatches"],
            serde_json::json!([pass.parse::<u64>().unwrap()]),
            "{fp}"
        );
        assert_eq!(fp["wrong_words"], 1);
        assert_eq!(
            doc["kernels"][0]["dispatch_check"]["wrong"][0]["name"],
            format!("pass {pass} of 6")
        );
    }
}

#[test]
fn a_fault_outside_the_covered_memory_is_refused_not_passed() {
    let (code, err, _) = memtest(&[], Some("stuck@99999999999:1=1"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("lies beyond the"), "{err}");
}

#[test]
fn coverage_short_of_the_requirement_is_inconclusive_never_a_pass() {
    let device = clean()["coverage"]["memory"]["device_bytes"]
        .as_u64()
        .unwrap();
    let covered = (192u64 << 20) as f64 / device as f64 * 100.0;
    // Above what was covered: exit 3, inconclusive, the shortfall named everywhere.
    let above = format!("{:.2}", (covered * 2.0).min(100.0));
    let (code, err, doc) = memtest(&["--require-coverage", &above], None);
    assert_eq!(code, 3, "{err}");
    assert_eq!(doc["verdict"], "inconclusive");
    assert_eq!(doc["exit_code"], 3);
    let short = doc["coverage"]["memory"]["shortfall"].as_str().unwrap();
    assert!(short.starts_with("covered "), "{short}");
    assert!(err.contains("inconclusive: covered"), "{err}");
    // At or below it: the same run passes.
    let below = format!("{:.2}", covered * 0.9);
    let (code, err, doc) = memtest(&["--require-coverage", &below], None);
    assert_eq!(code, 0, "{err}");
    assert!(doc["coverage"]["memory"].get("shortfall").is_none());
    // burn as well.
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "burn",
            "--kernel",
            "memtest",
            "--memory",
            "64MiB",
            "--duration",
            "1s",
        ])
        .args(["--require-coverage", &above, "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    assert_eq!(doc["verdict"], "inconclusive");
    // Without the memory test there is nothing to cover: a usage error, before any work.
    let out = bin()
        .args(["run", "--kernel", "reduce-f32", "--require-coverage", "90"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--require-coverage needs the memory test")
    );
}

#[test]
fn burn_keeps_the_memory_under_load_every_pass_verified() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "burn",
            "--kernel",
            "memtest",
            "--memory",
            "64MiB",
            "--duration",
            "3s",
        ])
        .args(["--interval", "1s", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let doc = read_json(&dir.path().join("result.json"));
    assert_schema_valid(&doc);
    let b = &doc["burn"];
    let passes = b["dispatches"].as_u64().unwrap();
    assert!(passes >= 4, "{b}");
    assert_eq!(b["dispatches_verified"], passes);
    assert_eq!(
        b["checks"], 4,
        "the first pass of each pattern against the CPU reference"
    );
    assert_eq!(b["unit"], "GB/s");
    assert!(!b["intervals"].as_array().unwrap().is_empty());
    // The memory's temperature is one of the quantities named, recorded or missing.
    let t = &b["telemetry"];
    let named: Vec<&str> = t["recorded"]
        .as_array()
        .unwrap()
        .iter()
        .chain(t["missing"].as_array().unwrap())
        .filter_map(|v| v.as_str())
        .collect();
    assert!(named.contains(&"memory_temperature"), "{t}");
    let m = &doc["coverage"]["memory"];
    assert_eq!(m["passes"], passes);
    assert_eq!(m["passes_verified"], passes);
    // A stuck bit in the burn fails it.
    let out = bin()
        .args([
            "burn",
            "--kernel",
            "memtest",
            "--memory",
            "64MiB",
            "--duration",
            "3s",
            "--out",
        ])
        .arg(dir.path())
        .arg("--force")
        .env("GPU_CANARY_INJECT_FAULT", "stuck@5:9=1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = read_json(&dir.path().join("result.json"));
    assert!(
        doc["burn"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("byte 0x28"),
        "{}",
        doc["burn"]["errors"]
    );
}

#[test]
fn compare_and_history_know_the_memory_test() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = bin()
            .args(["run", "--kernel", "memtest", "--memory", "64MiB", "--out"])
            .arg(dir.path().join(name))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        dir.path().join(name).join("result.json")
    };
    let (a, b) = (run("a"), run("b"));
    let out = bin()
        .args(["compare", "--format", "json"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let k = doc["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "memtest/64MiB")
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(k["correctness"], "ok", "{k}");
    // Six passes a run: enough samples to be judged, whatever the verdict.
    assert!(!k.to_string().contains("too few samples"), "{k}");
    let svg = dir.path().join("h.svg");
    let out = bin()
        .arg("history")
        .arg(dir.path())
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("| memtest/64MiB |")
            .count(),
        2
    );
    assert!(
        std::fs::read_to_string(&svg)
            .unwrap()
            .contains("memtest/64MiB")
    );
}
