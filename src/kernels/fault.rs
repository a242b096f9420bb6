//! Faults planted on the GPU side to prove the checks (the poison fill every check
//! starts from is `poison`).
//!
//! The faults (tests only, through `--inject-fault`) come two ways, both on the GPU:
//! work a kernel leaves undone is a switch in the kernel's own shader (the pipeline
//! constants `FAULT`, `FAULT_ROW`, `FAULT_COL`, never set in a normal run, so the
//! compiler removes the switch); a wrong value is planted into the result by a small
//! shader dispatched right after the kernel, in the same pass.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::{RuntimeChecks, ShapeKind};

pub const PLANTER_SHADER: &str = include_str!("../../shaders/fault.wgsl");

/// Codes of the in-kernel switch (`FAULT` in the kernels' shaders).
pub mod code {
    /// reduce-f32: every partial, and the sum, written as 0.
    pub const ZERO_PARTIALS: u32 = 1;
    /// reduce-f32: the input's last vec4 skipped; copies: the last word not copied.
    pub const SKIP_LAST: u32 = 2;
    /// matmul: the workgroup's (or subgroup's) output tile holding (FAULT_ROW,
    /// FAULT_COL) stored as zeros.
    pub const TILE: u32 = 3;
    /// Nothing stored at all.
    pub const NO_WRITE: u32 = 4;
    /// matmul-f32: the inputs rounded to TF32 as they are staged.
    pub const TF32: u32 = 5;
}

/// A fault planted on the GPU side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShaderFault {
    /// `value` added to element (row, col) of the result (f32 add; wrapping for u32).
    Add {
        row: u32,
        col: u32,
        value: f64,
    },
    /// The bits of `mask` flipped in elements (row, col) and (row, col2).
    Xor {
        row: u32,
        col: u32,
        col2: u32,
        mask: u32,
    },
    /// Row `row` of the result overwritten with zeros.
    ZeroRow {
        row: u32,
    },
    /// The output tile holding (row, col) stored as zeros by the kernel.
    Tile {
        row: u32,
        col: u32,
    },
    ZeroPartials,
    SkipLast,
    NoWrite,
    /// The f32 matmul's inputs rounded to TF32 by its own shader (reduced precision).
    Tf32,
    /// memtest: bit `bit` (0 to 63) of 64-bit word `word` (over the covered memory)
    /// stuck at `value` over the whole test; with `every` > 0, of every `every`th word
    /// from it too (periodic addresses, as a bank or a channel fails; `=V/S`).
    Stuck {
        word: u64,
        bit: u32,
        value: u32,
        every: u32,
    },
    /// memtest: the write of word `a` lands at word `b` (a decoder fault).
    Alias {
        a: u64,
        b: u64,
    },
    /// memtest: bit `bit` of word `word` flipped after each write (with
    /// `--fault-dispatch`, on the passes chosen: a transient flip).
    Flip {
        word: u64,
        bit: u32,
    },
}

/// The forms `--inject-fault` takes for a shader fault.
pub const FORMS: &str = "add@ROW,COL[=VALUE], xor@ROW,COL,COL2[=MASK], zero-row@ROW, tile@ROW,COL, zero-partials, skip-last, no-write, tf32, and for memtest stuck@WORD:BIT=0|1[/EVERY], alias@WORD_A,WORD_B, flip@WORD:BIT";

impl ShaderFault {
    /// Parses one of [`FORMS`]; `None` when `s` is not a shader fault at all.
    // Long (about 100 lines): an arm per fault form, each parsing its own arguments.
    pub fn parse(s: &str) -> Option<std::result::Result<ShaderFault, String>> {
        let (name, rest) = s.split_once('@').unwrap_or((s, ""));
        let (at, value) = rest
            .split_once('=')
            .map_or((rest, None), |(a, v)| (a, Some(v)));
        let bad = || format!("invalid --inject-fault '{s}'; use one of: {FORMS}");
        let nums = || -> std::result::Result<Vec<u32>, String> {
            at.split(',')
                .map(|p| p.trim().parse::<u32>().map_err(|_| bad()))
                .collect()
        };
        // memtest's words are 64-bit and counted over the whole covered memory.
        let word_bit = || -> std::result::Result<(u64, u32), String> {
            let (w, b) = at.split_once(':').ok_or_else(bad)?;
            let w: u64 = w.trim().parse().map_err(|_| bad())?;
            match b.trim().parse::<u32>() {
                Ok(b) if b < 64 => Ok((w, b)),
                _ => Err(format!(
                    "invalid --inject-fault '{s}': BIT is 0 to 63 (a memtest word has 64 bits); use one of: {FORMS}"
                )),
            }
        };
        let parsed = match name {
            "stuck" => word_bit().and_then(|(word, bit)| {
                let v = value.map(str::trim).unwrap_or_default();
                let (v, every) = match v.split_once('/') {
                    Some((v, e)) => (v, e.trim().parse::<u32>().ok().filter(|&e| e > 0).ok_or_else(bad)?),
                    None => (v, 0),
                };
                match v {
                    "0" | "1" => Ok(ShaderFault::Stuck {
                        word,
                        bit,
                        value: u32::from(v == "1"),
                        every,
                    }),
                    _ => Err(bad()),
                }
            }),
            "flip" if value.is_none() => word_bit().map(|(word, bit)| ShaderFault::Flip { word, bit }),
            "alias" if value.is_none() => {
                let words: Vec<Option<u64>> = at.split(',').map(|p| p.trim().parse::<u64>().ok()).collect();
                match words[..] {
                    [Some(a), Some(b)] if a == b => Err(format!(
                        "invalid --inject-fault '{s}': a word aliased to itself is no fault; use two different words in one of: {FORMS}"
                    )),
                    [Some(a), Some(b)] => Ok(ShaderFault::Alias { a, b }),
                    _ => Err(bad()),
                }
            }
            "flip" | "alias" => Err(bad()),
            "add" => nums().and_then(|v| match (&v[..], value) {
                (&[row, col], None) => Ok(ShaderFault::Add {
                    row,
                    col,
                    value: 1.0,
                }),
                (&[row, col], Some(x)) => x
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map(|value| ShaderFault::Add { row, col, value })
                    .ok_or_else(bad),
                _ => Err(bad()),
            }),
            "xor" => nums().and_then(|v| {
                let mask = match value {
                    None => 1 << 31,
                    Some(m) => {
                        let m = m.trim_start_matches("0x");
                        u32::from_str_radix(m, 16).map_err(|_| bad())?
                    }
                };
                match v[..] {
                    // One word flipped twice is no fault at all.
                    [_, col, col2] if col == col2 => Err(format!(
                        "invalid --inject-fault '{s}': xor flips two different columns (COL2 other than COL); use one of: {FORMS}"
                    )),
                    [row, col, col2] => Ok(ShaderFault::Xor {
                        row,
                        col,
                        col2,
                        mask,
                    }),
                    _ => Err(bad()),
                }
            }),
            "zero-row" => nums().and_then(|v| match v[..] {
                [row] => Ok(ShaderFault::ZeroRow { row }),
                _ => Err(bad()),
            }),
            "tile" => nums().and_then(|v| match v[..] {
                [row, col] => Ok(ShaderFault::Tile { row, col }),
                _ => Err(bad()),
            }),
            "zero-partials" | "skip-last" | "no-write" | "tf32" if !rest.is_empty() => Err(bad()),
            "tf32" => Ok(ShaderFault::Tf32),
            "zero-partials" => Ok(ShaderFault::ZeroPartials),
            "skip-last" => Ok(ShaderFault::SkipLast),
            "no-write" => Ok(ShaderFault::NoWrite),
            _ => return None,
        };
        Some(parsed)
    }

    /// As written on the command line (and recorded in `config.fault`).
    pub fn name(&self) -> String {
        match *self {
            ShaderFault::Add { row, col, value } => format!("add@{row},{col}={value}"),
            ShaderFault::Xor {
                row,
                col,
                col2,
                mask,
            } => format!("xor@{row},{col},{col2}=0x{mask:08x}"),
            ShaderFault::ZeroRow { row } => format!("zero-row@{row}"),
            ShaderFault::Tile { row, col } => format!("tile@{row},{col}"),
            ShaderFault::ZeroPartials => "zero-partials".into(),
            ShaderFault::SkipLast => "skip-last".into(),
            ShaderFault::NoWrite => "no-write".into(),
            ShaderFault::Tf32 => "tf32".into(),
            ShaderFault::Stuck {
                word,
                bit,
                value,
                every: 0,
            } => format!("stuck@{word}:{bit}={value}"),
            ShaderFault::Stuck {
                word,
                bit,
                value,
                every,
            } => format!("stuck@{word}:{bit}={value}/{every}"),
            ShaderFault::Alias { a, b } => format!("alias@{a},{b}"),
            ShaderFault::Flip { word, bit } => format!("flip@{word}:{bit}"),
        }
    }

    /// A fault of the memory test's cells (planted by its own write pass).
    pub fn memory(&self) -> bool {
        matches!(
            self,
            ShaderFault::Stuck { .. } | ShaderFault::Alias { .. } | ShaderFault::Flip { .. }
        )
    }

    /// Whether kernels of this kind can plant it.
    pub fn applies_to(&self, kind: ShapeKind) -> bool {
        if self.memory() || kind == ShapeKind::Memory {
            return self.memory() && kind == ShapeKind::Memory;
        }
        match self {
            ShaderFault::Tile { .. } | ShaderFault::Tf32 => kind == ShapeKind::Matmul,
            ShaderFault::ZeroPartials => kind == ShapeKind::Reduce,
            ShaderFault::SkipLast => matches!(kind, ShapeKind::Reduce | ShapeKind::Bytes),
            _ => true,
        }
    }

    /// The kernel's own switch as pipeline constants; empty for faults the planter
    /// plants.
    pub fn switch(&self) -> Vec<(&'static str, f64)> {
        let (c, row, col) = match *self {
            ShaderFault::Tile { row, col } => (code::TILE, row, col),
            ShaderFault::ZeroPartials => (code::ZERO_PARTIALS, 0, 0),
            ShaderFault::SkipLast => (code::SKIP_LAST, 0, 0),
            ShaderFault::NoWrite => (code::NO_WRITE, 0, 0),
            ShaderFault::Tf32 => (code::TF32, 0, 0),
            _ => return Vec::new(),
        };
        vec![
            ("FAULT", f64::from(c)),
            ("FAULT_ROW", f64::from(row)),
            ("FAULT_COL", f64::from(col)),
        ]
    }
}

/// Where a kernel's result lies in its output buffer: `rows`×`cols` elements, row `i`
/// starting at element `i·stride`; `float` for f32 elements, else u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub rows: u32,
    pub cols: u32,
    pub stride: u32,
    pub float: bool,
}

/// A planter ready to dispatch after the kernel, in the same pass.
pub struct Planter {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    groups: u32,
}

impl Planter {
    /// The planter of `fault` into `result`, or `None` when the kernel plants it itself
    /// or the position lies outside this result (the fault then fires at other shapes
    /// only).
    pub fn new(
        gpu: &Gpu,
        fault: ShaderFault,
        result: &wgpu::Buffer,
        layout: Layout,
    ) -> Result<Option<Planter>> {
        const OP_ADD_F32: u32 = 1;
        const OP_ADD_U32: u32 = 2;
        const OP_XOR: u32 = 3;
        const OP_ZERO_ROW: u32 = 4;
        let inside =
            |row: u32, cols: &[u32]| row < layout.rows && cols.iter().all(|&c| c < layout.cols);
        let (op, row, col, col2, value, mask, groups) = match fault {
            ShaderFault::Add { row, col, value } if inside(row, &[col]) => {
                if !layout.float && value.fract() != 0.0 {
                    return Err(crate::error::Error::usage(format!(
                        "--inject-fault {}: this result holds whole u32 words; add a whole number",
                        fault.name()
                    )));
                }
                let op = if layout.float { OP_ADD_F32 } else { OP_ADD_U32 };
                (op, row, col, 0, value, 0, 1)
            }
            ShaderFault::Xor {
                row,
                col,
                col2,
                mask,
            } if inside(row, &[col, col2]) => (OP_XOR, row, col, col2, 0.0, mask, 1),
            ShaderFault::ZeroRow { row } if inside(row, &[0]) => (
                OP_ZERO_ROW,
                row,
                0,
                0,
                0.0,
                0,
                layout.cols.div_ceil(64).min(1024),
            ),
            _ => return Ok(None),
        };
        // The window of the result the planted words lie in, bound from an aligned offset:
        // a result larger than a storage binding is planted into all the same.
        let at = u64::from(row) * u64::from(layout.stride);
        let (first, last) = match op {
            OP_ZERO_ROW => (at, at + u64::from(layout.cols) - 1),
            OP_XOR => (at + u64::from(col.min(col2)), at + u64::from(col.max(col2))),
            _ => (at + u64::from(col), at + u64::from(col)),
        };
        let align = u64::from(gpu.limits.min_storage_buffer_offset_alignment).max(4);
        let offset = first * 4 / align * align;
        let size = (last + 1) * 4 - offset;
        if size > gpu.limits.max_storage_buffer_binding_size {
            return Err(crate::error::Error::usage(format!(
                "--inject-fault {}: the planted words span {size} bytes, over this adapter's max_storage_buffer_binding_size of {}; plant closer words",
                fault.name(),
                gpu.limits.max_storage_buffer_binding_size
            )));
        }
        let constants = [
            ("OP", f64::from(op)),
            ("ROW", f64::from(row)),
            ("COL", f64::from(col)),
            ("COL2", f64::from(col2)),
            ("STRIDE", f64::from(layout.stride)),
            ("COLS", f64::from(layout.cols)),
            ("VALUE", value),
            ("MASK", f64::from(mask)),
            // Wrapping: -1 adds 2^32 - 1.
            ("ADD", (value as i64).rem_euclid(1 << 32) as f64),
            ("BASE", (offset / 4) as f64),
        ];
        let pipeline = crate::gpu::pipeline::compile_module(
            gpu,
            "fault-planter",
            PLANTER_SHADER,
            &constants,
            RuntimeChecks::Checked,
        )?;
        let bind_group = crate::gpu::pipeline::bind_range(gpu, &pipeline, result, offset, size)?;
        Ok(Some(Planter {
            pipeline,
            bind_group,
            groups,
        }))
    }

    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        crate::gpu::pipeline::encode_one(
            pass,
            &self.pipeline,
            &self.bind_group,
            [self.groups, 1, 1],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shader_faults_parse_and_print_back() {
        for s in [
            "add@2039,2047=1",
            "add@0,0=0.5",
            "xor@5,1,300=0x80000000",
            "zero-row@17",
            "tile@2055,2047",
            "zero-partials",
            "skip-last",
            "no-write",
            "tf32",
            "stuck@0:63=1",
            "stuck@33554431:0=0",
            "alias@0,16777216",
            "flip@7:31",
        ] {
            let f = ShaderFault::parse(s).unwrap().unwrap();
            assert_eq!(f.name(), s);
            assert_eq!(ShaderFault::parse(&f.name()).unwrap().unwrap(), f);
        }
        assert_eq!(
            ShaderFault::parse("add@3,4").unwrap().unwrap(),
            ShaderFault::Add {
                row: 3,
                col: 4,
                value: 1.0
            }
        );
        assert_eq!(
            ShaderFault::parse("xor@1,2,3").unwrap().unwrap(),
            ShaderFault::Xor {
                row: 1,
                col: 2,
                col2: 3,
                mask: 1 << 31
            }
        );
        for bad in [
            "xor@1,2,2",
            "add@1",
            "add@x,2",
            "add@1,2=nan",
            "tile@1",
            "no-write@3",
            "xor@1,2",
            "stuck@1:64=1",
            "stuck@1:3=2",
            "stuck@1=1",
            "alias@3,3",
            "flip@1:2=1",
        ] {
            let e = ShaderFault::parse(bad).unwrap().unwrap_err();
            assert!(e.contains(FORMS), "{bad}: {e}");
        }
        assert!(ShaderFault::parse("stall").is_none());
    }

    #[test]
    fn kernels_plant_work_faults_and_the_planter_plants_values() {
        let tile = ShaderFault::Tile { row: 1, col: 2 };
        assert_eq!(
            tile.switch(),
            vec![("FAULT", 3.0), ("FAULT_ROW", 1.0), ("FAULT_COL", 2.0)]
        );
        assert!(ShaderFault::ZeroRow { row: 0 }.switch().is_empty());
        assert!(!tile.applies_to(ShapeKind::Reduce));
        assert!(!ShaderFault::SkipLast.applies_to(ShapeKind::Matmul));
        assert!(ShaderFault::NoWrite.applies_to(ShapeKind::Reduce));
        let stuck = ShaderFault::Stuck {
            word: 0,
            bit: 0,
            value: 1,
            every: 0,
        };
        assert!(stuck.applies_to(ShapeKind::Memory) && !stuck.applies_to(ShapeKind::Bytes));
        assert!(!ShaderFault::NoWrite.applies_to(ShapeKind::Memory));
        assert!(stuck.switch().is_empty());
    }
}
