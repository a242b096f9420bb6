//! What a result is checked against and what a run's outcome is: the CPU references,
//! error bounds and exact checks (reference.rs), and how a run ended and what it
//! measured turned into a verdict, an exit code and what to do next (verdict.rs, pure).

pub mod reference;
pub mod verdict;
