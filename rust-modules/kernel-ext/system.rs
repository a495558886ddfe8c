// SPDX-License-Identifier: GPL-2.0

//! What the running kernel owns and knows: its CPUs, its RAM, its clocks.
//!
//! Safe wrappers over the cpumask helpers, `si_meminfo` and boot-time
//! constants. Requires the
//! crate to provide `crate::cpulist` (popcorn-core's `cpulist.rs`).

use core::mem::MaybeUninit;
use kernel::bindings;

use crate::cpulist::CpuSet;

/// The CPUs online in this kernel right now.
///
/// A snapshot: CPU hotplug may change it as soon as this returns.
pub fn online_cpus() -> CpuSet {
    (0..nr_cpu_ids()).filter(|&cpu| cpu_online(cpu)).collect()
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

/// Number of CPU ids this kernel can use (`nr_cpu_ids`).
pub fn nr_cpu_ids() -> u32 {
    // SAFETY: `nr_cpu_ids` is written once during early SMP bring-up,
    // before modules can load, and is read-only afterwards.
    unsafe { bindings::nr_cpu_ids }
}

/// Whether `cpu` exists on this machine (may ever be brought online).
pub fn cpu_possible(cpu: u32) -> bool {
    // SAFETY: `cpu_possible` only tests a bit of the possible mask; the
    // number is range-checked first.
    cpu < nr_cpu_ids() && unsafe { bindings::cpu_possible(cpu) }
}

/// Whether `cpu` is online in this kernel right now.
pub fn cpu_online(cpu: u32) -> bool {
    // SAFETY: as in `cpu_possible`.
    cpu < nr_cpu_ids() && unsafe { bindings::cpu_online(cpu) }
}

/// The TSC frequency this kernel calibrated at boot, in kHz.
pub fn tsc_khz() -> u32 {
    // SAFETY: `tsc_khz` is calibrated during boot; later refinements are
    // single aligned word stores, so a read sees one value or the other.
    unsafe { bindings::tsc_khz }
}

/// Memory available for new allocations without swapping, in bytes
/// (`MemAvailable`: free pages plus what can be reclaimed easily).
pub fn available_ram_bytes() -> u64 {
    // SAFETY: `si_mem_available` only reads the page allocator's counters.
    let pages = unsafe { bindings::si_mem_available() };
    u64::try_from(pages).unwrap_or(0).saturating_mul(kernel::page::PAGE_SIZE as u64)
}
