//! `matmul-u32`: the same tiled product in wrapping u32 arithmetic. Exact, so its
//! checksum is identical on every correct device and run.

use crate::check::reference::{Dims, MatmulCheck};
use crate::inputs::{self, stream};
use crate::kernels::CaseInput;
use crate::kernels::matmul::{Operands, Tiled};

pub static MATMUL_U32: Tiled = Tiled {
    id: "matmul-u32",
    describe: "C = A·B in wrapping u32, any MxKxN; exact, device-independent checksum",
    elem: "u32",
    operands,
    probe: None,
};

fn operands(input: &CaseInput, d: Dims, _check: MatmulCheck) -> Operands {
    Operands::U32(
        inputs::u32_values(input.seed, stream::A, d.m * d.k),
        inputs::u32_values(input.seed, stream::B, d.k * d.n),
    )
}
