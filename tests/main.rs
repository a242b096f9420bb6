//! The one integration-test binary. Every test runs on whatever adapter wgpu finds
//! (lavapipe in CI); see CONTRIBUTING.md.

mod artifacts;
mod burn;
mod checker;
mod cli;
mod common;
mod compare;
mod diagnosis;
mod dispatches;
mod docs;
mod exports;
mod faults;
mod kernels;
mod lane;
mod layout;
mod memtest;
mod preflight;
mod release;
mod reliability;
mod shaders;
mod spirv;
mod survival;
mod terminal;
mod tune;
mod workflows;
mod writers;
