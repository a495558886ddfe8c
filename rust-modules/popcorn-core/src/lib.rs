//! Popcorn's pure logic: everything that needs no kernel and no hardware.
//!
//! Each file here is self-contained `no_std` Rust. The kernel modules include
//! the files they need by source (`#[path = "..."] mod cpulist;`), because an
//! out-of-tree module in Linux 6.12 can link no crate but `kernel`; the host
//! builds the same files as this crate and runs their tests with `cargo test`.
//! A file here must therefore not refer to its siblings through `crate::`.

#![no_std]

pub mod cpulist;
pub mod text;
