//! `matmul-f32`: C = A·B in f32, checked against an f64 reference within
//! γ_K(2⁻²³)·Σ|a·b| per element (see `verify`).

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::inputs::{self, stream};
use crate::kernels::matmul::{self, Operands, TiledMatmul};
use crate::kernels::{CaseInput, Kernel, Prepared, Shape, ShapeKind, Suite};

pub struct MatmulF32;

impl Kernel for MatmulF32 {
    fn id(&self) -> &'static str {
        "matmul-f32"
    }
    fn describe(&self) -> &'static str {
        "C = A·B in f32, any MxKxN; f64 reference, Freivalds for large shapes"
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
                inputs::f32_values(input.seed, stream::A, d.m * d.k, input.input_scale),
                inputs::f32_values(input.seed, stream::B, d.k * d.n, input.input_scale),
            )
        };
        TiledMatmul::prepare(gpu, input, self.id(), Operands::F32(a, b))
    }
}
