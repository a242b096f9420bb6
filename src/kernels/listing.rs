//! What the registry lists: the kernels for `gpu-canary kernels` (text and JSON) and
//! every shader the host may compile, for the shader tests.

use super::{REGISTRY, ShapeKind, Suite, fault, golden, poison};

/// The kernels and their default shapes, for `gpu-canary kernels`.
pub fn listing() -> String {
    let mut s = String::new();
    for k in REGISTRY {
        let shapes = |suite| {
            k.suite(suite)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        s.push_str(&format!(
            "{:<11} {}\n            quick: {}\n            full:  {}\n",
            k.id(),
            k.describe(),
            shapes(Suite::Quick),
            shapes(Suite::Full)
        ));
    }
    s
}

/// The kernels as JSON, for `gpu-canary kernels --json`: per kernel its id,
/// description, kind of shape, default shapes per suite (as `--size` takes them), the
/// device features it requires or uses where present, whether it needs tensor cores,
/// and whether `tune` sweeps it and `burn` can load a GPU with it.
pub fn listing_json() -> String {
    let kernels: Vec<serde_json::Value> = REGISTRY
        .iter()
        .map(|k| {
            let shapes = |suite| {
                k.suite(suite)
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            };
            let needs = k.needs();
            serde_json::json!({
                "id": k.id(),
                "description": k.describe(),
                "shape_kind": match k.shape_kind() {
                    ShapeKind::Matmul => "matmul",
                    ShapeKind::Reduce => "reduce",
                    ShapeKind::Bytes => "bytes",
                    ShapeKind::Memory => "memory",
                },
                "suites": { "quick": shapes(Suite::Quick), "full": shapes(Suite::Full) },
                "needs": {
                    "required": crate::gpu::feature_names(needs.required),
                    "optional": crate::gpu::feature_names(needs.optional),
                    "tensor_cores": needs.tensor_cores(),
                },
                "tunable": k.tunable(),
                "burns": k.burns(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "kernels": kernels }))
        .expect("the listing serialises")
        + "\n"
}

/// Every shader the host may compile, by name: each kernel's, then the poison fill, the
/// golden check and the fault planter.
pub fn shader_sources() -> Vec<(String, String)> {
    REGISTRY
        .iter()
        .flat_map(|k| k.shaders())
        .chain([
            ("poison".to_owned(), poison::POISON_SHADER.to_owned()),
            ("golden".to_owned(), golden::source(false, false)),
            ("golden-vec4".to_owned(), golden::source(true, false)),
            ("golden-subgroups".to_owned(), golden::source(false, true)),
            (
                "golden-vec4-subgroups".to_owned(),
                golden::source(true, true),
            ),
            ("fault-planter".to_owned(), fault::PLANTER_SHADER.to_owned()),
        ])
        .collect()
}
