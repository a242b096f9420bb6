//! `cargo bench`: every kernel through the library's own code (no copies), timed on the
//! GPU with timestamp queries where the adapter has them, with throughput; and the CPU
//! references. `GPU_CANARY_BENCH_QUICK=1` shrinks shapes and measurement time so a quick
//! run fits CI.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gpu_canary::check::reference::{self, Dims};
use gpu_canary::gpu::timing::Timestamps;
use gpu_canary::gpu::{AdapterFilter, Gpu};
use gpu_canary::inputs;
use gpu_canary::kernels::golden::{self, Golden};
use gpu_canary::kernels::{self, CaseInput, Prepared, Run, RuntimeChecks, Shape, Suite};
use rayon::prelude::*;

/// A case's input as the benches run it: seed 1, inputs within ±1, no fault.
fn input(shape: Shape, params: Option<&kernels::Params>, checks: RuntimeChecks) -> CaseInput<'_> {
    CaseInput {
        params,
        shape,
        seed: 1,
        input_scale: 1.0,
        checks,
        fault: None,
    }
}

fn quick() -> bool {
    std::env::var_os("GPU_CANARY_BENCH_QUICK").is_some()
}

fn shapes(id: &str) -> Vec<Shape> {
    let mm = |s: u32| Shape::Matmul { m: s, k: s, n: s };
    match (id, quick()) {
        ("reduce-f32", true) => vec![Shape::Reduce { n: 1 << 16 }],
        ("reduce-f32", false) => vec![Shape::Reduce { n: 1 << 22 }, Shape::Reduce { n: 1 << 26 }],
        ("copy-f32" | "copy-buffer" | "upload" | "readback", true) => vec![Shape::mib(4)],
        ("copy-f32" | "copy-buffer" | "upload" | "readback", false) => {
            vec![Shape::mib(64), Shape::mib(256)]
        }
        (_, true) => vec![mm(64)],
        (_, false) => vec![mm(1024), mm(4096)],
    }
}

/// Times `iters` executions: the GPU's own clock when timestamps exist (in batches, as
/// a query set is bounded), else the wall clock around each submit and wait.
fn time(gpu: &Gpu, prepared: &dyn Prepared, iters: u64) -> Duration {
    const BATCH: u64 = 256;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH) as u32;
        match Timestamps::new(gpu, n).filter(|_| prepared.gpu_timed(gpu)) {
            Some(ts) => {
                for i in 0..n {
                    prepared
                        .execute(gpu, Run::timed(Some((&ts, i))))
                        .expect("dispatch");
                }
                let stamps = ts.read(gpu, n).expect("timestamps");
                total +=
                    Duration::from_nanos(stamps.iter().map(|(b, e)| e.saturating_sub(*b)).sum());
            }
            None => {
                for _ in 0..n {
                    total += prepared.execute(gpu, Run::default()).expect("dispatch");
                }
            }
        }
        left -= u64::from(n);
    }
    total
}

fn gpu_kernels(c: &mut Criterion) {
    // SAFETY: set before any thread reads the environment.
    unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    let gpu = match Gpu::open(&AdapterFilter::default(), &kernels::needs()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("no adapter, GPU benches skipped: {e}");
            return;
        }
    };
    // The memory test runs passes over the device's memory, not prepared dispatches.
    for k in kernels::REGISTRY.iter().filter(|k| !k.memory_test()) {
        if let Some(reason) = k.unsupported(&gpu) {
            eprintln!("{}: skipped: {reason}", k.id());
            continue;
        }
        let mut group = c.benchmark_group(k.id());
        for shape in shapes(k.id()) {
            if let Err(e) = kernels::check_limits(*k, shape, &gpu.limits) {
                eprintln!("{e}");
                continue;
            }
            let prepared = k
                .prepare(&gpu, &input(shape, None, RuntimeChecks::Checked))
                .expect("prepare");
            let gpu_canary::kernels::Work {
                per_dispatch: work,
                unit,
            } = prepared.work();
            // Criterion's "elements" are floating-point (or integer) operations here.
            group.throughput(if unit == "GB/s" {
                Throughput::Bytes(work as u64)
            } else {
                Throughput::Elements(work as u64)
            });
            group.bench_function(BenchmarkId::from_parameter(shape), |b| {
                b.iter_custom(|iters| time(&gpu, prepared.as_ref(), iters))
            });
        }
        group.finish();
    }
    matmul_variants(c, &gpu);
    dispatch_check(c, &gpu);
}

/// What verifying every dispatch costs: each kernel's dispatches alone, then each
/// followed by its check pass (compare with the golden copy, poison again), both on the
/// host clock around submit and wait. The ratio of the two is the overhead per dispatch.
fn dispatch_check(c: &mut Criterion, gpu: &Gpu) {
    let mut group = c.benchmark_group("dispatch-check");
    for id in ["matmul-f32", "reduce-f32", "copy-f32"] {
        let k = kernels::find(id).expect("registered");
        // The largest shape a canary runs on this adapter: the quick suite's on a
        // software adapter, the full suite's on a GPU.
        let shape = if quick() {
            *shapes(id).last().expect("a shape")
        } else if gpu.is_software() {
            kernels::largest_shape(k, Suite::Quick)
        } else {
            kernels::largest_shape(k, Suite::Full)
        };
        if kernels::check_limits(k, shape, &gpu.limits).is_err() {
            continue;
        }
        let prepared = k
            .prepare(gpu, &input(shape, None, RuntimeChecks::Checked))
            .expect("prepare");
        prepared.execute(gpu, Run::default()).expect("dispatch");
        let mut golden =
            Golden::new(gpu, &prepared.outputs(), golden::SLOTS, false).expect("golden copy");
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        golden.keep(&mut enc);
        gpu.submit_and_wait(enc.finish()).expect("keep");
        group.bench_function(BenchmarkId::new(format!("{id}-alone"), shape), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| prepared.execute(gpu, Run::default()).expect("dispatch"))
                    .sum()
            })
        });
        group.bench_function(BenchmarkId::new(format!("{id}-checked"), shape), |b| {
            b.iter_custom(|iters| {
                let t0 = std::time::Instant::now();
                for _ in 0..iters {
                    prepared.execute(gpu, Run::default()).expect("dispatch");
                    // As `run` checks: the pass, then its report read back at once.
                    let mut enc = gpu.device.create_command_encoder(&Default::default());
                    golden.encode(&mut enc, true);
                    let from = golden.encoded() - 1;
                    let staging = golden.snapshot(gpu, &mut enc).expect("snapshot");
                    gpu.submit_and_wait(enc.finish()).expect("check");
                    let raw = gpu.read_done(&staging).expect("ledger");
                    let (checks, _) = golden.checks_in(&raw, from, from + 1);
                    assert!(
                        checks
                            .iter()
                            .all(|c| c.finding.is_none() && c.checker.is_none()),
                        "a dispatch differed, or its check did not check"
                    );
                }
                t0.elapsed()
            })
        });
        let (checks, _) = golden.collect(gpu).expect("ledger");
        assert!(
            checks
                .iter()
                .all(|c| c.finding.is_none() && c.checker.is_none()),
            "{id}: a dispatch differed from the first"
        );
    }
    group.finish();
}

/// The tiled matmul's I/O (element-wise or 16-byte) and naga's runtime checks (on or
/// off), side by side on one shape: what each costs on this adapter.
fn matmul_variants(c: &mut Criterion, gpu: &Gpu) {
    let k = kernels::find("matmul-f32").expect("registered");
    let shape = *shapes("matmul-f32").last().expect("a shape");
    if kernels::check_limits(k, shape, &gpu.limits).is_err() {
        return;
    }
    let mut group = c.benchmark_group("matmul-f32-variants");
    for (io, vec4) in [("scalar-io", 0.0), ("vec4-io", 1.0)] {
        for checks in [RuntimeChecks::Checked, RuntimeChecks::Unchecked] {
            let params = kernels::Params::from([("VEC4".to_owned(), vec4)]);
            let prepared = k
                .prepare(gpu, &input(shape, Some(&params), checks))
                .expect("prepare");
            group.throughput(Throughput::Elements(prepared.work().per_dispatch as u64));
            group.bench_function(
                BenchmarkId::new(format!("{io}-{}", checks.name()), shape),
                |b| b.iter_custom(|iters| time(gpu, prepared.as_ref(), iters)),
            );
        }
    }
    group.finish();
}

fn cpu_references(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu-reference");
    // Every element of a 512×384×512 product (the largest shape checked element by
    // element), then the exact check of larger ones.
    let sizes: &[(usize, usize)] = if quick() {
        &[(64, 64), (520, 520)]
    } else {
        &[(512, 384), (1024, 1024), (2048, 2048)]
    };
    for &(s, k) in sizes {
        let d = Dims { m: s, k, n: s };
        let check = reference::MatmulCheck::for_shape(d, 1.0);
        let values = |stream| match check {
            reference::MatmulCheck::Full | reference::MatmulCheck::Probe => {
                inputs::f32_values(1, stream, s * k, 1.0)
            }
            reference::MatmulCheck::ExactGrid(g) => inputs::grid_values(1, stream, s * k, g.q)
                .into_iter()
                .map(|i| g.value(i))
                .collect(),
        };
        let (a, b) = (values(inputs::stream::A), values(inputs::stream::B));
        // A product that verifies, so the bench times the passing path.
        let cmat: Vec<f32> = (0..s)
            .into_par_iter()
            .flat_map_iter(|i| {
                let mut row = vec![0f64; s];
                for p in 0..k {
                    let aip = f64::from(a[i * k + p]);
                    for (r, &bv) in row.iter_mut().zip(&b[p * s..(p + 1) * s]) {
                        *r += aip * f64::from(bv);
                    }
                }
                row.into_iter().map(|v| v as f32)
            })
            .collect();
        group.throughput(Throughput::Elements((s * s) as u64));
        let name = match check {
            reference::MatmulCheck::Full => "matmul-f32-check-full",
            reference::MatmulCheck::ExactGrid(_) => "matmul-f32-check-exact",
            reference::MatmulCheck::Probe => "matmul-f32-check-probe",
        };
        group.bench_function(BenchmarkId::new(name, format!("{s}x{k}x{s}")), |bench| {
            bench.iter(|| reference::float_matmul(&a, &b, &cmat, d, check, 1))
        });
    }
    let x = inputs::f32_values(1, inputs::stream::A, 1 << 22, 1.0);
    group.throughput(Throughput::Bytes((x.len() * 4) as u64));
    let p = kernels::reduce_f32::ReduceParams::default();
    group.bench_function("reduce-f32-simulate/4Mi", |bench| {
        bench.iter(|| kernels::reduce_f32::simulate(&x, &p))
    });
    group.bench_function("reduce-f32-f64-sum/4Mi", |bench| {
        bench.iter(|| reference::float_sum(&x, 0.0, 64))
    });
    group.finish();
}

fn config() -> Criterion {
    let c = Criterion::default();
    if quick() {
        c.sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
    } else {
        c
    }
}

criterion_group! { name = benches; config = config(); targets = gpu_kernels, cpu_references }
criterion_main!(benches);
