// SPDX-License-Identifier: GPL-2.0

//! What the running kernel owns: its online CPUs and its RAM.
//!
//! Safe wrappers over the cpumask helpers and `si_meminfo`. Requires the
//! crate to provide `crate::cpulist` (popcorn-core's `cpulist.rs`).

use core::mem::MaybeUninit;
use kernel::bindings;

use crate::cpulist::CpuSet;

/// The CPUs online in this kernel right now.
///
/// A snapshot: CPU hotplug may change it as soon as this returns.
pub fn online_cpus() -> CpuSet {
    // SAFETY: `nr_cpu_ids` is written once during early SMP bring-up,
    // before modules can load, and is read-only afterwards.
    let nr_cpu_ids = unsafe { bindings::nr_cpu_ids };
    (0..nr_cpu_ids)
        // SAFETY: `cpu_online` only tests a bit of the online mask; any CPU
        // number below `nr_cpu_ids` is in range.
        .filter(|&cpu| unsafe { bindings::cpu_online(cpu) })
        .collect()
}

/// RAM managed by this kernel's page allocator, in bytes (`MemTotal`).
pub fn total_ram_bytes() -> u64 {
    let mut info = MaybeUninit::<bindings::sysinfo>::zeroed();
    // SAFETY: `si_meminfo` fills the `sysinfo` it is given and keeps no
    // reference to it.
    unsafe { bindings::si_meminfo(info.as_mut_ptr()) };
    // SAFETY: zeroed is a valid `sysinfo` (plain integers), and
    // `si_meminfo` has filled it.
    let info = unsafe { info.assume_init() };
    let pages = u64::try_from(info.totalram).unwrap_or(u64::MAX);
    pages.saturating_mul(u64::from(info.mem_unit))
}
