// SPDX-License-Identifier: GPL-2.0

//! Popcorn's inter-kernel message layer, and the `/sys/kernel/popcorn` tree.
//!
//! Every other Popcorn module builds on this one, so it owns the sysfs tree
//! through which users and `popcornctl` see the multikernel:
//!
//! ```text
//! /sys/kernel/popcorn/
//!     version           module version
//!     kernel_id         id of the kernel reading the file (0 = primary)
//!     kernels/<id>/     one directory per kernel
//!         id  role  state  cpus  mem_bytes
//! ```
//!
//! One value per file. `cpus` uses the kernel's cpulist format (`0-3,6`);
//! `cpus` and `mem_bytes` are read live, so they follow CPU hotplug.
//! This version knows only the running kernel; secondaries appear as the
//! boot and message layers land.

use core::fmt::Write;
use kernel::{c_str, prelude::*};

// Shared files, included by source (see popcorn-core's docs). Their `pub`
// items are the host crate's API, and this module uses only part of them.
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/cpulist.rs"]
mod cpulist;
#[allow(dead_code, unreachable_pub)]
#[path = "../kernel-ext/sysfs.rs"]
mod sysfs;
#[allow(unreachable_pub)]
#[path = "../kernel-ext/system.rs"]
mod system;
#[allow(dead_code, unreachable_pub)]
#[path = "../popcorn-core/src/text.rs"]
mod text;

use sysfs::{Computed, Constant, Dir, Page};

module! {
    type: PopcornMsg,
    name: "popcorn_msg",
    author: "Popcorn developers",
    description: "Popcorn multikernel: inter-kernel message layer and /sys/kernel/popcorn",
    license: "GPL",
}

/// The module's version, as shown in `/sys/kernel/popcorn/version`.
const VERSION: &str = "0.1.0";

/// The id of the kernel this module runs in. The primary is always 0.
const THIS_KERNEL_ID: u32 = 0;

struct PopcornMsg {
    // Fields drop in declaration order: directories before their parents.
    _this_kernel: Dir,
    _kernels: Dir,
    _root: Dir,
}

fn show_online_cpus(out: &mut Page<'_>) -> Result {
    writeln!(out, "{}", system::online_cpus()).map_err(|_| EFBIG)
}

fn show_total_ram(out: &mut Page<'_>) -> Result {
    writeln!(out, "{}", system::total_ram_bytes()).map_err(|_| EFBIG)
}

impl kernel::Module for PopcornMsg {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut root = Dir::new_in_sys_kernel(c_str!("popcorn")).inspect_err(|e| {
            pr_err!("cannot create /sys/kernel/popcorn: {:?}\n", e);
        })?;
        root.add_file(c_str!("version"), Constant(VERSION))?;
        root.add_file(c_str!("kernel_id"), Constant(THIS_KERNEL_ID))?;

        let kernels = root.new_child(c_str!("kernels"))?;
        let mut this_kernel = kernels.new_child(c_str!("0"))?;
        this_kernel.add_file(c_str!("id"), Constant(THIS_KERNEL_ID))?;
        this_kernel.add_file(c_str!("role"), Constant("primary"))?;
        this_kernel.add_file(c_str!("state"), Constant("running"))?;
        this_kernel.add_file(c_str!("cpus"), Computed(show_online_cpus))?;
        this_kernel.add_file(c_str!("mem_bytes"), Computed(show_total_ram))?;

        pr_info!(
            "popcorn {} loaded: kernel {}, cpus {}, {} MiB\n",
            VERSION,
            THIS_KERNEL_ID,
            system::online_cpus(),
            system::total_ram_bytes() >> 20
        );
        Ok(PopcornMsg {
            _this_kernel: this_kernel,
            _kernels: kernels,
            _root: root,
        })
    }
}

impl Drop for PopcornMsg {
    fn drop(&mut self) {
        pr_info!("popcorn {} unloaded\n", VERSION);
    }
}
