//! Popcorn's pure logic: everything that needs no kernel and no hardware.
//!
//! Each file here is `no_std` Rust using only `core`. The kernel modules
//! include the files they need by source (`#[path = "..."] mod cpulist;`),
//! because an out-of-tree module in Linux 6.12 can link no crate but
//! `kernel`; the host builds the same files as this crate and runs their
//! tests with `cargo test`.
//!
//! A module includes every file it uses at its crate root, under the file's
//! own name, so a file may use a sibling as `crate::<file>::Item` and
//! nothing else (no `super::`, no re-exports). Each file's docs list the
//! siblings it requires ("Requires: `crate::cpulist`"), and such
//! dependencies are kept few.
//!
//! Code here must not panic on any input, since input comes from users,
//! from files and from other kernels: no `unwrap`, no slice indexing,
//! checked arithmetic. The crate denies clippy's `arithmetic_side_effects`
//! and `indexing_slicing` outside tests (`tests/run` runs clippy), since the
//! kernel builds with overflow checks: an overflowing `+` on a value a peer
//! wrote is a crash. Tests may do as they like.
//!
//! - [`cpulist`]: CPU lists (`0-3,6`).
//! - [`text`]: formatting into fixed buffers, trimming input.
//! - [`size`]: sizes (`512M`).
//! - [`bootreq`]: the line written to `/sys/kernel/popcorn/boot`.
//! - [`bzimage`]: checking a kernel image.
//! - [`e820`]: a secondary's memory map and its zero-page encoding.
//! - [`cmdline`]: a secondary's kernel command line.
//! - [`bootparams`]: a secondary's zero page and Popcorn's `setup_data`.
//! - [`shared`]: layout of the shared window.
//! - [`pool`]: cutting partitions out of the reserved pool.
//! - [`placement`]: where kernel and initramfs go in a partition.
//! - [`pagetable`]: identity page tables for entering a kernel.
//! - [`bootplan`]: what staging a secondary writes where, in which order.
//! - [`le`]: little-endian fields at offsets.
//! - [`ring`]: a single-producer/single-consumer message ring between kernels.
//! - [`window`]: the message layer's header page, kernel table and ring placement.
//! - [`trampoline`]: the start-up trampoline's header.
//! - [`control`]: a secondary's control page and how to judge it.
//! - [`netframe`]: popnet's frames (header, MAC to kernel).
//! - [`migrate`]: task migration's messages.
//! - [`number`]: the one strict syntax of numbers written to sysfs files.
//! - [`admit`]: how much memory another kernel's migrations may take here.

#![no_std]
// Clippy only (the kernel includes the files, not this crate root). Where
// the arithmetic cannot overflow by construction, say why at the site;
// `wrapping_*` only where wrap-around is the meaning (ring counters).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects, clippy::indexing_slicing))]

pub mod admit;
pub mod bootparams;
pub mod bootplan;
pub mod bootreq;
pub mod bzimage;
pub mod cmdline;
pub mod control;
pub mod cpulist;
pub mod e820;
pub mod le;
#[cfg(test)]
pub mod testing;
pub mod migrate;
pub mod netframe;
pub mod number;
pub mod pagetable;
pub mod placement;
pub mod pool;
pub mod ring;
pub mod shared;
pub mod size;
pub mod text;
pub mod trampoline;
pub mod window;
