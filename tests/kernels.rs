//! Each kernel on several shapes, odd ones included, through the library with one
//! shared device; plus exactness and determinism.

use std::sync::OnceLock;

use gpu_canary::gpu::{AdapterFilter, Gpu};
use gpu_canary::kernels::{self, RuntimeChecks, Shape};
use gpu_canary::model::{KernelResult, KernelStatus};
use gpu_canary::runner::Case;
use gpu_canary::runner::{self, CaseOptions, Progress};

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        // SAFETY: set before any thread reads the environment (first use, test setup).
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
        Gpu::open(&AdapterFilter::default(), &kernels::needs())
            .expect("an adapter (install mesa-vulkan-drivers for lavapipe)")
    })
}

fn run(id: &str, shape: Shape, checks: RuntimeChecks) -> KernelResult {
    run_on(gpu(), id, shape, checks)
}

/// Runs one case and asserts it verified and was deterministic.
fn run_on(gpu: &Gpu, id: &str, shape: Shape, checks: RuntimeChecks) -> KernelResult {
    run_with(gpu, id, shape, checks, None)
}

fn run_with(
    gpu: &Gpu,
    id: &str,
    shape: Shape,
    checks: RuntimeChecks,
    params: Option<&kernels::Params>,
) -> KernelResult {
    let case = Case {
        kernel: kernels::find(id).unwrap(),
        shape,
        explicit: true,
    };
    let progress = Progress::default();
    let opt = CaseOptions {
        seed: 7,
        check_seed: gpu_canary::inputs::fresh_seed(),
        warmup: 1,
        iterations: 2,
        input_scale: 1.0,
        checks,
        fault: None,
        fault_dispatches: Default::default(),
        progress: &progress,
        params,
        memory: None,
    };
    let r = runner::run_case(gpu, &case, &opt)
        .unwrap_or_else(|e| panic!("{id} {shape} {params:?}: {e}"))
        .result;
    assert_eq!(
        r.status,
        KernelStatus::Pass,
        "{id} {shape} {params:?}: {:?}",
        r.reason
    );
    let v = r.verification.as_ref().unwrap();
    assert!(
        v.passed && v.deterministic && v.max_error_ratio <= 1.0,
        "{id} {shape}: {v:?}"
    );
    assert_eq!(r.samples_ns.len(), 2);
    r
}

fn mm(m: u32, k: u32, n: u32) -> Shape {
    Shape::Matmul { m, k, n }
}

#[test]
fn matmul_f32_on_odd_and_tile_edge_shapes() {
    for s in [
        mm(1, 1, 1),
        mm(3, 5, 7),
        mm(128, 8, 128),
        mm(129, 9, 127),
        mm(130, 257, 1),
    ] {
        let r = run("matmul-f32", s, RuntimeChecks::Checked);
        assert_eq!(r.verification.unwrap().method, "full");
    }
}

#[test]
fn matmul_f32_large_shape_is_exact_on_the_grid() {
    let r = run("matmul-f32", mm(1000, 999, 1001), RuntimeChecks::Checked);
    let v = r.verification.unwrap();
    assert_eq!(
        (v.method.as_str(), v.reference.as_str()),
        ("exact-grid", "exact-integer")
    );
    assert!(v.checksum_exact && v.max_error == 0.0);
    assert_eq!(v.checked_elements, 1000 * 1001);
    assert!(v.miss_probability.unwrap() < 1e-18);
    // Exact, so the tiled kernel's order does not matter: another tile and K step give
    // the same bits.
    let p = kernels::Params::from([
        ("WG_X".to_owned(), 8.0),
        ("BK".to_owned(), 16.0),
        ("STAGES".to_owned(), 2.0),
    ]);
    let other = run_with(
        gpu(),
        "matmul-f32",
        mm(1000, 999, 1001),
        RuntimeChecks::Checked,
        Some(&p),
    );
    assert_eq!(other.verification.unwrap().checksum, v.checksum);
}

#[test]
fn matmul_f32_unchecked_gives_the_same_bits() {
    let a = run("matmul-f32", mm(129, 65, 131), RuntimeChecks::Checked);
    let b = run("matmul-f32", mm(129, 65, 131), RuntimeChecks::Unchecked);
    assert_eq!(b.launch.unwrap().runtime_checks, "unchecked");
    assert_eq!(
        a.verification.unwrap().checksum,
        b.verification.unwrap().checksum
    );
}

#[test]
fn the_tiled_matmul_verifies_in_every_configuration_tune_tries() {
    // Shapes for both I/O variants, each with partial tiles in every dimension and, at
    // K = 12, fewer K than one step of the larger BKs.
    let shapes = [mm(3, 5, 7), mm(129, 12, 36), mm(67, 40, 132)];
    for id in ["matmul-f32", "matmul-u32"] {
        let candidates = kernels::find(id).unwrap().candidates(gpu());
        assert!(candidates.len() >= 10, "{}", candidates.len());
        for p in &candidates {
            for s in shapes {
                let r = run_with(gpu(), id, s, RuntimeChecks::Checked, Some(p));
                let launch = r.launch.unwrap();
                let Shape::Matmul { k, n, .. } = s else {
                    unreachable!()
                };
                let vec4 = p["VEC4"] == 1.0 && k % 4 == 0 && n % 4 == 0;
                let io = if vec4 { "-vec4-io" } else { "-scalar-io" };
                let db = if p["STAGES"] == 2.0 {
                    "-double-buffered"
                } else {
                    ""
                };
                assert!(
                    launch.variant.ends_with(&format!("{io}{db}")),
                    "{id} {s}: {}",
                    launch.variant
                );
                assert_eq!(&launch.constants, p);
                assert_eq!(
                    launch.workgroup_size,
                    [p["WG_X"] as u32, p["WG_Y"] as u32, 1]
                );
            }
        }
    }
}

#[test]
fn vec4_and_element_wise_io_give_the_same_bits() {
    // Same tile and K step, so the same sums in the same order: only the loads differ.
    let shape = mm(70, 44, 136);
    let with = |vec4: f64| {
        let p = kernels::Params::from([("VEC4".to_owned(), vec4)]);
        run_with(gpu(), "matmul-f32", shape, RuntimeChecks::Checked, Some(&p))
    };
    let (v, s) = (with(1.0), with(0.0));
    assert!(v.launch.unwrap().variant.ends_with("vec4-io"));
    assert!(s.launch.unwrap().variant.ends_with("scalar-io"));
    assert_eq!(
        v.verification.unwrap().checksum,
        s.verification.unwrap().checksum
    );
}

#[test]
fn matmul_u32_is_exact_and_its_checksum_is_the_cpu_one() {
    for s in [mm(1, 1, 1), mm(3, 5, 7), mm(129, 33, 130)] {
        let r = run("matmul-u32", s, RuntimeChecks::Checked);
        let v = r.verification.unwrap();
        assert!(v.checksum_exact && v.max_error == 0.0);
        // The checksum of the CPU's own product: identical on every correct device.
        let Shape::Matmul { m, k, n } = s else {
            unreachable!()
        };
        let (m, k, n) = (m as usize, k as usize, n as usize);
        let a = gpu_canary::inputs::u32_values(7, gpu_canary::inputs::stream::A, m * k);
        let b = gpu_canary::inputs::u32_values(7, gpu_canary::inputs::stream::B, k * n);
        let c: Vec<u32> = (0..m * n)
            .map(|ij| {
                (0..k).fold(0u32, |acc, p| {
                    acc.wrapping_add(a[ij / n * k + p].wrapping_mul(b[p * n + ij % n]))
                })
            })
            .collect();
        assert_eq!(
            v.checksum,
            gpu_canary::check::reference::checksum(bytemuck::cast_slice(&c)),
            "{s}"
        );
    }
    let big = run("matmul-u32", mm(600, 600, 600), RuntimeChecks::Checked);
    let v = big.verification.unwrap();
    assert_eq!(v.method, "exact-freivalds");
    assert_eq!(v.miss_probability, Some(0.5f64.powi(31)));
}

#[test]
fn reduce_f32_any_length() {
    for n in [1, 3, 4, 5, 1023, 1024 * 256 * 4 + 1, (1 << 24) + 3] {
        let r = run("reduce-f32", Shape::Reduce { n }, RuntimeChecks::Checked);
        assert_eq!(r.launch.unwrap().constants.get("WG"), Some(&256.0));
    }
}

#[test]
fn reduce_f32_without_subgroups_uses_the_workgroup_tree() {
    let plain = Gpu::open_without(
        &AdapterFilter::default(),
        &kernels::needs(),
        wgpu::Features::SUBGROUP,
    )
    .unwrap();
    let r = run_on(
        &plain,
        "reduce-f32",
        Shape::Reduce { n: 100_003 },
        RuntimeChecks::Checked,
    );
    assert_eq!(r.launch.unwrap().variant, "workgroup-tree");
    let with = run(
        "reduce-f32",
        Shape::Reduce { n: 100_003 },
        RuntimeChecks::Checked,
    );
    let expected = if gpu().features.contains(wgpu::Features::SUBGROUP) {
        "subgroup-shuffle"
    } else {
        "workgroup-tree"
    };
    assert_eq!(with.launch.unwrap().variant, expected);
}

#[test]
fn reduce_f32_gives_the_simulated_bits_with_either_entry_point() {
    // The subgroup butterfly and the workgroup tree add in the same order: the same
    // bits, which are the CPU simulation's (and so the same on every correct device).
    let plain = Gpu::open_without(
        &AdapterFilter::default(),
        &kernels::needs(),
        wgpu::Features::SUBGROUP,
    )
    .unwrap();
    for n in [5, 1_000_003, (1 << 22) + 3] {
        let shape = Shape::Reduce { n };
        let a = run("reduce-f32", shape, RuntimeChecks::Checked);
        let b = run_on(&plain, "reduce-f32", shape, RuntimeChecks::Checked);
        let (va, vb) = (a.verification.unwrap(), b.verification.unwrap());
        assert_eq!(va.method, "exact-simulated-order");
        assert!(va.checksum_exact);
        assert_eq!(va.checksum, vb.checksum, "n = {n}");
        let x = gpu_canary::inputs::f32_values(7, gpu_canary::inputs::stream::A, n as usize, 1.0);
        let (_, sum) =
            kernels::reduce_f32::simulate(&x, &kernels::reduce_f32::ReduceParams::default());
        assert_eq!(
            va.checksum,
            gpu_canary::check::reference::checksum(&sum.to_le_bytes()),
            "n = {n}"
        );
    }
}

#[test]
fn reduce_f32_is_bitwise_reproducible_across_runs() {
    let a = run(
        "reduce-f32",
        Shape::Reduce { n: 1_000_003 },
        RuntimeChecks::Checked,
    );
    let b = run(
        "reduce-f32",
        Shape::Reduce { n: 1_000_003 },
        RuntimeChecks::Checked,
    );
    assert_eq!(
        a.verification.unwrap().checksum,
        b.verification.unwrap().checksum
    );
}

#[test]
fn matmul_f16_reports_why_it_cannot_run_or_verifies() {
    let k = kernels::find("matmul-f16").unwrap();
    match k.unsupported(gpu()) {
        Some(reason) => assert!(reason.contains("tensor cores"), "{reason}"),
        None => {
            run("matmul-f16", mm(17, 33, 15), RuntimeChecks::Checked);
        }
    }
}
