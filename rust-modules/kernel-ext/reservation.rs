// SPDX-License-Identifier: GPL-2.0

//! The memory the primary set aside at boot with `popcorn.reserve=`, and the
//! other facts `arch/x86/kernel/popcorn.c` exports for the loader (APIC IDs,
//! timer calibration).
//!
//! A safe copy of what `popcorn_reservation()` (linux-patches/0002) reports. The C side fills it once during
//! early boot and never changes it, so a copy taken at module load stays
//! true for the kernel's lifetime.

use kernel::bindings;

/// A range of physical memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PhysRange {
    pub base: u64,
    pub size: u64,
}

impl PhysRange {
    /// The first address after the range.
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// Most low-memory windows the C side can reserve.
pub const MAX_LOW_WINDOWS: usize = bindings::POPCORN_MAX_LOW_WINDOWS as usize;

/// Size of each low-memory window.
pub const LOW_WINDOW_SIZE: u64 = bindings::POPCORN_LOW_WINDOW_SIZE as u64;

/// What `popcorn.reserve=` set aside.
#[derive(Clone, Copy, Debug)]
pub struct Reservation {
    /// RAM that secondary kernels' partitions are cut from.
    pub pool: PhysRange,
    /// The window every kernel maps.
    pub shared: PhysRange,
    /// One page below 1 MiB for the start-up trampoline.
    pub trampoline: u64,
    /// One window below 1 MiB per secondary that may run at once.
    low_windows: [u64; MAX_LOW_WINDOWS],
    nr_low_windows: usize,
}

impl Reservation {
    /// The reservation, or `None` when the kernel was booted without
    /// `popcorn.reserve=` or it could not be met.
    pub fn get() -> Option<Self> {
        // SAFETY: `popcorn_reservation` has no preconditions; it returns
        // NULL or a pointer to a static that early boot filled and nothing
        // writes afterwards.
        let raw = unsafe { bindings::popcorn_reservation() };
        // SAFETY: a non-NULL result points to that static, valid forever.
        let raw = unsafe { raw.as_ref() }?;
        let nr_low_windows = usize::try_from(raw.nr_low_windows)
            .unwrap_or(0)
            .min(MAX_LOW_WINDOWS);
        Some(Reservation {
            pool: PhysRange {
                base: raw.pool_base,
                size: raw.pool_size,
            },
            shared: PhysRange {
                base: raw.shared_base,
                size: raw.shared_size,
            },
            trampoline: raw.trampoline,
            low_windows: raw.low_window,
            nr_low_windows,
        })
    }

    /// The low-memory windows, one per secondary that may run at once.
    pub fn low_windows(&self) -> impl Iterator<Item = PhysRange> + '_ {
        self.low_windows
            .iter()
            .take(self.nr_low_windows)
            .map(|&base| PhysRange {
                base,
                size: LOW_WINDOW_SIZE,
            })
    }
}

/// Physical APIC ID of `cpu`, or `None` for a CPU that is not possible.
pub fn cpu_apic_id(cpu: u32) -> Option<u32> {
    // SAFETY: `popcorn_cpu_apic_id` accepts any CPU number.
    let id = unsafe { bindings::popcorn_cpu_apic_id(cpu) };
    // BAD_APICID (asm/apic.h) is all ones.
    (id != u32::MAX).then_some(id)
}

/// Physical APIC ID of the CPU this kernel booted on.
pub fn boot_cpu_apic_id() -> u32 {
    // SAFETY: no preconditions; returns a value fixed at boot.
    unsafe { bindings::popcorn_boot_cpu_apic_id() }
}

/// Local APIC timer input frequency in kHz, from this kernel's calibration
/// (`lapic_timer_period` ticks per jiffy).
pub fn lapic_khz() -> u32 {
    // SAFETY: no preconditions; returns a value fixed at boot.
    let per_jiffy = unsafe { bindings::popcorn_lapic_timer_period() };
    per_jiffy.saturating_mul(bindings::CONFIG_HZ) / 1000
}

/// The start-up trampoline the C side assembled
/// (`arch/x86/kernel/popcorn_trampoline.S`), to copy to the trampoline page.
pub fn trampoline_blob() -> &'static [u8] {
    let mut len = 0usize;
    // SAFETY: `popcorn_trampoline_blob` writes the length and returns a
    // pointer into the kernel's read-only data, valid forever.
    let start = unsafe { bindings::popcorn_trampoline_blob(&mut len) };
    if start.is_null() {
        return &[];
    }
    // SAFETY: `len` bytes from `start` are the blob, immutable and static.
    unsafe { core::slice::from_raw_parts(start, len) }
}

/// Sends INIT, then STARTUP with the vector of `start_page`, to `cpu`. The
/// C side refuses (`EINVAL`) the boot CPU, any CPU online here, and an
/// address SIPI cannot start at; `EIO` if the APIC reports an error.
pub fn start_cpu(cpu: u32, start_page: u64) -> kernel::error::Result {
    let eip = usize::try_from(start_page).map_err(|_| kernel::error::code::EINVAL)?;
    // SAFETY: the C side checks every argument; it never touches a CPU
    // this kernel runs on.
    let ret = unsafe { bindings::popcorn_cpu_start(cpu, eip) };
    kernel::error::to_result(ret)
}

/// Sends INIT to `cpu`, which must be offline here: whatever it runs stops,
/// and it waits for STARTUP. Refused like [`start_cpu`].
pub fn init_cpu(cpu: u32) -> kernel::error::Result {
    // SAFETY: as in `start_cpu`.
    let ret = unsafe { bindings::popcorn_cpu_init(cpu) };
    kernel::error::to_result(ret)
}
