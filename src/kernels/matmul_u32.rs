//! `matmul-u32`: the same tiled product in wrapping u32 arithmetic. Exact, so its
//! checksum is identical on every correct device and run.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::inputs::{self, stream};
use crate::kernels::matmul::{self, Operands, TiledMatmul};
use crate::kernels::{CaseInput, Kernel, Prepared, Shape, ShapeKind, Suite};

pub struct MatmulU32;

impl Kernel for MatmulU32 {
    fn id(&self) -> &'static str {
        "matmul-u32"
    }
    fn describe(&self) -> &'static str {
        "C = A·B in wrapping u32, any MxKxN; exact, device-independent checksum"
    }
    fn shape_kind(&self) -> ShapeKind {
        ShapeKind::Matmul
    }
    fn suite(&self, suite: Suite) -> Vec<Shape> {
        matmul::suite(suite)
    }
    fn buffers(&self, shape: Shape) -> Vec<(&'static str, u64)> {
        matmul::buffers(shape, 4)
    }
    fn prepare(&self, gpu: &Gpu, input: &CaseInput) -> Result<Box<dyn Prepared>> {
        let d = matmul::dims(input.shape);
        let (a, b) = {
            let _s = tracing::info_span!("generate_inputs").entered();
            (
                inputs::u32_values(input.seed, stream::A, d.m * d.k),
                inputs::u32_values(input.seed, stream::B, d.k * d.n),
            )
        };
        TiledMatmul::prepare(gpu, input, self.id(), Operands::U32(a, b))
    }
}
