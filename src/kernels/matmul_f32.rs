//! `matmul-f32`: C = A·B in f32. Checked element by element against an f64 reference
//! within γ_K(2⁻²³)·Σ|a·b| up to 2²⁷ multiply-adds (fractional inputs); above that, on
//! inputs from an exact grid, exactly (see `check::reference`).

use crate::check::reference::{Dims, MatmulCheck};
use crate::inputs::{self, stream};
use crate::kernels::CaseInput;
use crate::kernels::matmul::{Operands, Tiled};

pub static MATMUL_F32: Tiled = Tiled {
    id: "matmul-f32",
    describe: "C = A·B in f32, K up to 2^24; every element against f64 where the bound is sharp (K ≤ 423), exact-grid inputs and an exact check otherwise",
    elem: "f32",
    operands,
    probe: None,
};

/// The precision probe of `matmul-f32` (its tiled kernel, its launch parameters): inputs
/// whose exact f32 products and sums give one bit pattern and every reduced format
/// another (`check::reference::probe_values`), run in both suites, in `burn` with its first
/// check and in `tune` with every configuration.
pub static PRECISION_F32: Tiled = Tiled {
    id: "precision-f32",
    describe: "proves f32 arithmetic (not TF32, bf16 or f16): matmul-f32's kernel on inputs whose exact f32 result differs from every reduced format's, bit for bit",
    elem: "f32",
    operands: probe_operands,
    probe: Some("matmul-f32"),
};

fn probe_operands(_input: &CaseInput, d: Dims, _check: MatmulCheck) -> Operands {
    Operands::F32(
        crate::check::reference::probe_values(d.m * d.k, 0),
        crate::check::reference::probe_values(d.k * d.n, 1),
    )
}

fn operands(input: &CaseInput, d: Dims, check: MatmulCheck) -> Operands {
    let values = |s, len| match check {
        MatmulCheck::Full => inputs::f32_values(input.seed, s, len, input.input_scale),
        MatmulCheck::ExactGrid(g) => inputs::grid_values(input.seed, s, len, g.q)
            .into_iter()
            .map(|i| g.value(i))
            .collect(),
        MatmulCheck::Probe => crate::check::reference::probe_values(len, s as usize),
    };
    Operands::F32(values(stream::A, d.m * d.k), values(stream::B, d.k * d.n))
}
