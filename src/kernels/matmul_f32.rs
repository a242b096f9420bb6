//! `matmul-f32`: C = A·B in f32, checked against an f64 reference within
//! γ_K(2⁻²³)·Σ|a·b| per element (see `verify`).

use crate::kernels::CaseInput;
use crate::kernels::inputs::{self, stream};
use crate::kernels::matmul::{Operands, Tiled};
use crate::verify::Dims;

pub static MATMUL_F32: Tiled = Tiled {
    id: "matmul-f32",
    describe: "C = A·B in f32, any MxKxN; f64 reference, Freivalds for large shapes",
    operands,
};

fn operands(input: &CaseInput, d: Dims) -> Operands {
    Operands::F32(
        inputs::f32_values(input.seed, stream::A, d.m * d.k, input.input_scale),
        inputs::f32_values(input.seed, stream::B, d.k * d.n, input.input_scale),
    )
}
