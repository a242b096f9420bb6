//! The shapes a kernel runs at: how they are written (`--size`), parsed and ordered,
//! and the suites that name the defaults.

use std::fmt;

use super::{Kernel, memtest};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeKind {
    Matmul,
    Reduce,
    /// A size in bytes (copies and transfers).
    Bytes,
    /// How much of the device's memory: a share or a size (the memory test).
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Matmul { m: u32, k: u32, n: u32 },
    Reduce { n: u32 },
    Bytes { bytes: u64 },
    Memory(memtest::MemoryTarget),
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

impl fmt::Display for Shape {
    /// Honours width and alignment (`{:<16}`), as the one-line listings need.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match *self {
            Shape::Matmul { m, k, n } => format!("{m}x{k}x{n}"),
            Shape::Reduce { n } => format!("{n}"),
            Shape::Bytes { bytes } => match bytes {
                b if b % GIB == 0 => format!("{}GiB", b / GIB),
                b if b % MIB == 0 => format!("{}MiB", b / MIB),
                b if b % KIB == 0 => format!("{}KiB", b / KIB),
                b => format!("{b}B"),
            },
            Shape::Memory(t) => t.to_string(),
        };
        f.pad(&s)
    }
}

impl Shape {
    /// The work a shape stands for, to order a kernel's shapes: multiply-adds,
    /// elements or bytes.
    pub fn size(&self) -> u64 {
        match *self {
            Shape::Matmul { m, k, n } => u64::from(m) * u64::from(k) * u64::from(n),
            Shape::Reduce { n } => u64::from(n),
            Shape::Bytes { bytes } => bytes,
            Shape::Memory(memtest::MemoryTarget::Bytes(b)) => b,
            Shape::Memory(memtest::MemoryTarget::Share { software, .. }) => software,
        }
    }

    /// A copy or transfer of `mib` MiB.
    pub const fn mib(mib: u64) -> Shape {
        Shape::Bytes { bytes: mib * MIB }
    }
}

impl Shape {
    /// Parses `MxKxN` or `N` for the given kind; the error names the value and the fix.
    pub fn parse(kind: ShapeKind, s: &str) -> std::result::Result<Shape, String> {
        let dim = |part: &str| -> std::result::Result<u32, String> {
            let v: u64 = part
                .trim()
                .parse()
                .map_err(|_| format!("invalid --size '{s}': '{part}' is not a whole number"))?;
            if v == 0 {
                return Err(format!("invalid --size '{s}': sizes must be at least 1"));
            }
            u32::try_from(v).map_err(|_| {
                format!(
                    "invalid --size '{s}': {v} does not fit in 32 bits (max {})",
                    u32::MAX
                )
            })
        };
        match kind {
            ShapeKind::Matmul => {
                let parts: Vec<&str> = s.split(['x', 'X']).collect();
                if parts.len() != 3 {
                    return Err(format!(
                        "invalid --size '{s}' for a matmul kernel; use MxKxN, e.g. 1024x1024x1024"
                    ));
                }
                Ok(Shape::Matmul {
                    m: dim(parts[0])?,
                    k: dim(parts[1])?,
                    n: dim(parts[2])?,
                })
            }
            ShapeKind::Reduce => {
                if s.contains(['x', 'X']) {
                    return Err(format!(
                        "invalid --size '{s}' for a reduce kernel; use N, e.g. 16777219"
                    ));
                }
                Ok(Shape::Reduce { n: dim(s)? })
            }
            ShapeKind::Bytes => {
                let t = s.trim();
                let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                let (num, unit) = t.split_at(split);
                let unit_bytes = match unit.trim() {
                    "" | "B" => 1,
                    "KiB" => KIB,
                    "MiB" => MIB,
                    "GiB" => GIB,
                    _ => {
                        return Err(format!(
                            "invalid --size '{s}' for a copy kernel; use bytes with an optional KiB, MiB or GiB, e.g. 256MiB"
                        ));
                    }
                };
                let bytes = num
                    .parse::<u64>()
                    .ok()
                    .and_then(|v| v.checked_mul(unit_bytes))
                    .ok_or_else(|| {
                        format!(
                            "invalid --size '{s}': not a whole number of bytes; use e.g. 256MiB"
                        )
                    })?;
                if bytes == 0 || bytes % 4 != 0 {
                    return Err(format!(
                        "invalid --size '{s}': copies move whole 4-byte words; use a positive multiple of 4 bytes"
                    ));
                }
                Ok(Shape::Bytes { bytes })
            }
            ShapeKind::Memory => memtest::MemoryTarget::parse(s, memtest::SOFTWARE_QUICK)
                .map(Shape::Memory)
                .map_err(|e| e.replace("--memory", "--size")),
        }
    }

    /// The kind of shape `s` is written as: `MxKxN`, a unit of bytes, or `N`.
    pub fn kind_of(s: &str) -> ShapeKind {
        if s.contains(['x', 'X']) {
            ShapeKind::Matmul
        } else if s.trim_end().ends_with('B') {
            ShapeKind::Bytes
        } else {
            ShapeKind::Reduce
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Quick,
    Full,
}

/// `--size` for `kernel`: parsed as its kind of shape, and refused where the kernel
/// cannot check it ([`Kernel::check_shape`]).
pub fn parse_shape(kernel: &dyn Kernel, s: &str) -> std::result::Result<Shape, String> {
    let shape = Shape::parse(kernel.shape_kind(), s)?;
    kernel.check_shape(shape)?;
    Ok(shape)
}

/// Bytes for `count` elements of `size` bytes, saturating at u64::MAX (which every
/// limit check then refuses).
pub fn bytes(count: &[u32], size: u64) -> u64 {
    count
        .iter()
        .try_fold(size, |acc, &c| acc.checked_mul(u64::from(c)))
        .unwrap_or(u64::MAX)
}
