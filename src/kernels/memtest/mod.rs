//! `memtest`: the card's memory, nearly all of it. Device-local buffers that together
//! cover a target share of the device's memory are allocated in pieces within the
//! adapter's buffer and binding limits; each pass writes a pattern into every 64-bit
//! word, then reads every word back and compares it on the GPU (`shaders/memtest.wgsl`).
//!
//! - **Patterns** ([`pattern`]): each word's own address XOR a key, its complement, a
//!   seeded random pattern and its complement; a cycle of four passes, new keys each
//!   cycle.
//! - **Allocation that fails closed** ([`device::allocate`]): a buffer refused for lack
//!   of memory ends the allocation; the test covers what it got and says how much.
//! - **The check checks itself** ([`device::judge`]): every compare pass also compares a
//!   sentinel window in which the host planted one wrong word (a place and bits it
//!   chooses per pass), and counts the words it compared. A pass that does not report
//!   exactly that mismatch and exactly every word did not check.
//! - **The CPU reference**: the first pass of each pattern is also read back in blocks
//!   (the first, the last and a seeded one of every buffer) and compared with
//!   [`pattern::value`] on the host.
//!
//! The memory test does not run as dispatches of a prepared kernel (no golden copy, no
//! readback of the whole: the memory is the result); the case runner drives its passes.

pub mod device;
pub mod pattern;

use std::fmt;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::{CaseInput, Kernel, Prepared, Shape, ShapeKind, Suite};

pub const SHADER: &str = include_str!("../../../shaders/memtest.wgsl");

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// What a software or integrated adapter tests by default: its memory is the host's,
/// so a share of it is no share of a card.
pub const SOFTWARE_QUICK: u64 = 256 * MIB;
pub const SOFTWARE_FULL: u64 = GIB;
/// The share of a card's memory both suites test by default, in hundredths of a
/// percent.
pub const DEFAULT_SHARE: u32 = 9000;

/// How much memory the test covers (`--memory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryTarget {
    /// A share of the device's memory in hundredths of a percent; a software or
    /// integrated adapter tests `software` bytes instead unless the share was asked
    /// for by name.
    Share { hundredths: u32, software: u64 },
    /// A size in bytes (a multiple of 16).
    Bytes(u64),
}

impl fmt::Display for MemoryTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match *self {
            MemoryTarget::Share { hundredths, .. } => {
                let p = format!("{:.2}", f64::from(hundredths) / 100.0);
                format!("{}%", p.trim_end_matches('0').trim_end_matches('.'))
            }
            MemoryTarget::Bytes(b) => Shape::Bytes { bytes: b }.to_string(),
        };
        f.pad(&s)
    }
}

impl MemoryTarget {
    /// `90%`, `12.5%`, or a size as the copies take it (`256MiB`, `1GiB`, bytes).
    pub fn parse(s: &str, software: u64) -> std::result::Result<MemoryTarget, String> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| {
                format!("invalid --memory '{s}': use a share like 90% or a size like 256MiB")
            })?;
            let hundredths = (v * 100.0).round();
            if !(1.0..=10000.0).contains(&hundredths) {
                return Err(format!(
                    "invalid --memory '{s}': a share is from 0.01% to 100%, e.g. 90%"
                ));
            }
            return Ok(MemoryTarget::Share {
                hundredths: hundredths as u32,
                software,
            });
        }
        let bytes = match Shape::parse(ShapeKind::Bytes, t) {
            Ok(Shape::Bytes { bytes }) => bytes,
            _ => {
                return Err(format!(
                    "invalid --memory '{s}': use a share like 90% or a size like 256MiB (a multiple of 16 bytes)"
                ));
            }
        };
        if bytes % 16 != 0 || bytes < 64 << 10 {
            return Err(format!(
                "invalid --memory '{s}': the test covers whole 16-byte words, at least 64KiB; use e.g. 256MiB"
            ));
        }
        Ok(MemoryTarget::Bytes(bytes))
    }
}

/// Sizes as the memory test reports them (`crate::text`).
pub use crate::text::size_text;

/// Passes a suite runs: in the quick suite a cycle of the four patterns and the address
/// pair again with a new key (six: enough samples for `compare` to judge one run
/// against another), in the full one three cycles.
pub fn passes(suite: Suite) -> u32 {
    match suite {
        Suite::Quick => 6,
        Suite::Full => 12,
    }
}

pub struct Memtest;

pub static MEMTEST: Memtest = Memtest;

impl Kernel for Memtest {
    fn id(&self) -> &'static str {
        "memtest"
    }
    fn describe(&self) -> &'static str {
        "the device's memory (90 % of a card): address, complement and random patterns in every 64-bit word, compared on the GPU"
    }
    fn shape_kind(&self) -> ShapeKind {
        ShapeKind::Memory
    }
    fn suite(&self, suite: Suite) -> Vec<Shape> {
        let software = match suite {
            Suite::Quick => SOFTWARE_QUICK,
            Suite::Full => SOFTWARE_FULL,
        };
        vec![Shape::Memory(MemoryTarget::Share {
            hundredths: DEFAULT_SHARE,
            software,
        })]
    }
    /// Allocated in pieces within the limits: no single buffer to refuse.
    fn buffers(&self, _shape: Shape) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    fn shaders(&self) -> Vec<(String, String)> {
        vec![("memtest".to_owned(), SHADER.to_owned())]
    }
    fn memory_test(&self) -> bool {
        true
    }
    /// Its indices are guarded by the windows' lengths, but its pass is memory bound:
    /// naga's checks stay on.
    fn supports_unchecked(&self) -> bool {
        false
    }
    fn prepare(&self, _gpu: &Gpu, _input: &CaseInput) -> Result<Box<dyn Prepared>> {
        Err(Error::usage(
            "memtest runs its own passes over the device's memory, not prepared dispatches",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        let share = MemoryTarget::parse("90%", 7).unwrap();
        assert_eq!(
            share,
            MemoryTarget::Share {
                hundredths: 9000,
                software: 7
            }
        );
        assert_eq!(share.to_string(), "90%");
        assert_eq!(
            MemoryTarget::parse("12.5%", 7).unwrap().to_string(),
            "12.5%"
        );
        assert_eq!(
            MemoryTarget::parse("256MiB", 7).unwrap(),
            MemoryTarget::Bytes(256 * MIB)
        );
        assert_eq!(MemoryTarget::Bytes(256 * MIB).to_string(), "256MiB");
        for bad in ["0%", "101%", "x%", "12", "1000004", "-5%", "3KiB"] {
            let e = MemoryTarget::parse(bad, 7).unwrap_err();
            assert!(e.contains("--memory"), "{bad}: {e}");
        }
    }
}
