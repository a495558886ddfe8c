//! Layout of the shared window, version 2.
//!
//! The primary reserves one window of physical memory at boot (base and
//! size from `popcorn.reserve=...,shared=SIZE`: at least 1 MiB, 2 MiB
//! aligned, below 4 GiB) that every kernel maps. A secondary's e820 map
//! lists it as Reserved (`e820.rs` does that; this file needs nothing from
//! it), so no kernel ever allocates from it and what the primary stages
//! there stays put while a secondary boots.
//!
//! Offsets are from the window's base:
//!
//! | Offset              | Size           | Contents                                        |
//! |---------------------|----------------|-------------------------------------------------|
//! | `0x0000`            | `0x1000`       | header page: message layer header               |
//! | `0x1000 * (s + 1)`  | `0x1000`       | kernel table entry of slot `s`, `s` in `0..9`   |
//! | `0xa000`            | `0x6000`       | reserved                                        |
//! | `0x10000 * (k + 1)` | `0x10000`      | boot slot `k`, for `k` in `0..8`                |
//! | `0x90000`           | `0x70000`      | reserved                                        |
//! | `0x100000`          | rest of window | message rings (none in a 1 MiB window)          |
//!
//! A *boot slot* holds what the primary builds to start one secondary. Slot
//! `k` belongs to the secondary that also has low-memory window `k` (the
//! 64 KiB below 1 MiB it starts its own CPUs with), so a slot is free
//! exactly when its low window is. Offsets inside a slot:
//!
//! | Offset   | Size     | Contents                                                      |
//! |----------|----------|---------------------------------------------------------------|
//! | `0x0000` | `0x1000` | zero page (`struct boot_params`), `%rsi` at entry             |
//! | `0x1000` | `0x1000` | `setup_data` list (Popcorn's entry: see `bootparams.rs`)      |
//! | `0x2000` | `0x1000` | kernel command line, NUL-terminated                           |
//! | `0x3000` | `0x1000` | control page: state, heartbeats, requests (`control.rs`)      |
//! | `0x4000` | `0xc000` | identity page tables (at most; CR3 points here)               |
//!
//! The page tables are loaded into CR3 by the start-up trampoline while it
//! still runs 32-bit code, so they, and therefore the whole window, must
//! lie below 4 GiB; [`boot_slot`] checks that along with everything else.
//! How much of the page-table area the tables actually use is the caller's
//! business: it checks its size against [`PAGE_TABLES_MAX`].
//!
//! Every part of a slot is page aligned as long as the window's base is,
//! which [`boot_slot`] also checks (the primary reserves it 2 MiB aligned).
//!
//! A later layout gets a new [`LAYOUT_VERSION`]; the message layer's header
//! records which one a window uses. Version 2 gave each kernel table entry
//! a page of its own (`window.rs`), in what version 1 left reserved, so
//! that a secondary can map only its own entry writable.
//!
//! Requires nothing but `core`.

use core::fmt;

/// Version of the layout described here.
pub const LAYOUT_VERSION: u32 = 2;

/// Offset of the header page (the message layer's header; the kernel
/// table's entries follow it, a page each: `window::entry_page`).
pub const HEADER_OFFSET: u64 = 0;
/// Size of the header page.
pub const HEADER_SIZE: u64 = 0x1000;

/// How many boot slots there are: one per possible secondary, like the
/// low-memory windows (`kernels=` is at most 8).
pub const MAX_BOOT_SLOTS: usize = 8;
/// Offset of boot slot 0; slot `k` is at `BOOT_SLOTS_OFFSET + k * BOOT_SLOT_SIZE`.
pub const BOOT_SLOTS_OFFSET: u64 = 0x1_0000;
/// Size of one boot slot.
pub const BOOT_SLOT_SIZE: u64 = 0x1_0000;

/// Offset of the zero page inside a boot slot.
pub const ZERO_PAGE_OFFSET: u64 = 0x0000;
/// Room for the zero page (exactly one `struct boot_params`).
pub const ZERO_PAGE_MAX: u64 = 0x1000;
/// Offset of the `setup_data` list inside a boot slot.
pub const SETUP_DATA_OFFSET: u64 = 0x1000;
/// Room for the `setup_data` list.
pub const SETUP_DATA_MAX: u64 = 0x1000;
/// Offset of the command line inside a boot slot.
pub const CMDLINE_OFFSET: u64 = 0x2000;
/// Room for the command line, its NUL included.
pub const CMDLINE_MAX: u64 = 0x1000;
/// Offset of the control page inside a boot slot.
pub const CONTROL_OFFSET: u64 = 0x3000;
/// Size of the control page.
pub const CONTROL_MAX: u64 = 0x1000;
/// Offset of the identity page tables inside a boot slot.
pub const PAGE_TABLES_OFFSET: u64 = 0x4000;
/// Room for the identity page tables: up to the end of the slot.
pub const PAGE_TABLES_MAX: u64 = 0xc000;

/// Offset where the message rings start; everything from here to the end
/// of the window is theirs.
pub const RINGS_OFFSET: u64 = 0x10_0000;

/// The window must end at or below this (4 GiB).
pub const WINDOW_LIMIT: u64 = 1 << 32;
/// Alignment the window's base needs for the slots' parts to be pages.
pub const WINDOW_ALIGN: u64 = 0x1000;

/// Why a boot slot's addresses could not be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedError {
    /// Slot index not below [`MAX_BOOT_SLOTS`].
    NoSuchSlot { slot: usize },
    /// The window's base is not 4 KiB aligned.
    Unaligned { base: u64 },
    /// `base + size` does not fit in 64 bits.
    Overflow { base: u64, size: u64 },
    /// The window ends above 4 GiB.
    Above4G { base: u64, size: u64 },
    /// The window is `size` bytes but the slot (or area) needs `needed`.
    TooSmall { size: u64, needed: u64 },
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SharedError::NoSuchSlot { slot } => {
                write!(f, "boot slot {slot} does not exist (0..{MAX_BOOT_SLOTS})")
            }
            SharedError::Unaligned { base } => {
                write!(f, "shared window at {base:#x} is not 4 KiB aligned")
            }
            SharedError::Overflow { base, size } => write!(
                f,
                "shared window of {size:#x} bytes at {base:#x} wraps past the end of the address space"
            ),
            SharedError::Above4G { base, size } => write!(
                f,
                "shared window of {size:#x} bytes at {base:#x} does not end below 4 GiB"
            ),
            SharedError::TooSmall { size, needed } => write!(
                f,
                "shared window is {size:#x} bytes, needs at least {needed:#x}"
            ),
        }
    }
}

/// Physical addresses of one boot slot's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootSlot {
    /// Slot index (same as the secondary's low-memory window).
    pub index: usize,
    /// First byte of the slot.
    pub base: u64,
    /// The zero page ([`ZERO_PAGE_MAX`] bytes).
    pub zero_page: u64,
    /// The `setup_data` list ([`SETUP_DATA_MAX`] bytes).
    pub setup_data: u64,
    /// The command line ([`CMDLINE_MAX`] bytes).
    pub cmdline: u64,
    /// The control page ([`CONTROL_MAX`] bytes).
    pub control: u64,
    /// The identity page tables (at most [`PAGE_TABLES_MAX`] bytes).
    pub page_tables: u64,
}

impl BootSlot {
    /// One past the slot's last byte.
    pub fn end(&self) -> u64 {
        self.base.saturating_add(BOOT_SLOT_SIZE)
    }
}

/// One `key: value` line per part, addresses in hex.
impl fmt::Display for BootSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "slot: {}", self.index)?;
        writeln!(f, "slot_base: {:#x}", self.base)?;
        writeln!(f, "zero_page: {:#x}", self.zero_page)?;
        writeln!(f, "setup_data: {:#x}", self.setup_data)?;
        writeln!(f, "cmdline: {:#x}", self.cmdline)?;
        writeln!(f, "control: {:#x}", self.control)?;
        writeln!(f, "page_tables: {:#x}", self.page_tables)
    }
}

/// The physical addresses of boot slot `slot` in the shared window of
/// `shared_size` bytes at `shared_base`. Refuses, in this order: a slot
/// index out of range, an unaligned base, a window wrapping past 2^64, a
/// window ending above 4 GiB, a window too small to hold the slot.
pub fn boot_slot(shared_base: u64, shared_size: u64, slot: usize) -> Result<BootSlot, SharedError> {
    if slot >= MAX_BOOT_SLOTS {
        return Err(SharedError::NoSuchSlot { slot });
    }
    check_window(shared_base, shared_size)?;
    // slot < 8, so none of this can overflow; the checks say so anyway.
    let overflow = SharedError::Overflow {
        base: shared_base,
        size: shared_size,
    };
    let offset = u64::try_from(slot)
        .ok()
        .and_then(|k| k.checked_mul(BOOT_SLOT_SIZE))
        .and_then(|o| o.checked_add(BOOT_SLOTS_OFFSET))
        .ok_or(overflow)?;
    let needed = offset.checked_add(BOOT_SLOT_SIZE).ok_or(overflow)?;
    if shared_size < needed {
        return Err(SharedError::TooSmall {
            size: shared_size,
            needed,
        });
    }
    // The window's end fits in 64 bits and the slot is inside it.
    let base = shared_base.checked_add(offset).ok_or(overflow)?;
    let part = |off: u64| base.checked_add(off).ok_or(overflow);
    Ok(BootSlot {
        index: slot,
        base,
        zero_page: part(ZERO_PAGE_OFFSET)?,
        setup_data: part(SETUP_DATA_OFFSET)?,
        cmdline: part(CMDLINE_OFFSET)?,
        control: part(CONTROL_OFFSET)?,
        page_tables: part(PAGE_TABLES_OFFSET)?,
    })
}

/// The physical range of the message rings: from [`RINGS_OFFSET`] to the
/// end of the window, empty when the window is exactly 1 MiB. Refuses what
/// [`boot_slot`] refuses about the window, and a window under 1 MiB.
pub fn rings_area(
    shared_base: u64,
    shared_size: u64,
) -> Result<core::ops::Range<u64>, SharedError> {
    check_window(shared_base, shared_size)?;
    if shared_size < RINGS_OFFSET {
        return Err(SharedError::TooSmall {
            size: shared_size,
            needed: RINGS_OFFSET,
        });
    }
    let overflow = SharedError::Overflow {
        base: shared_base,
        size: shared_size,
    };
    let start = shared_base.checked_add(RINGS_OFFSET).ok_or(overflow)?;
    let end = shared_base.checked_add(shared_size).ok_or(overflow)?;
    Ok(start..end)
}

fn check_window(base: u64, size: u64) -> Result<(), SharedError> {
    if base & (WINDOW_ALIGN - 1) != 0 {
        return Err(SharedError::Unaligned { base });
    }
    let end = base
        .checked_add(size)
        .ok_or(SharedError::Overflow { base, size })?;
    if end > WINDOW_LIMIT {
        return Err(SharedError::Above4G { base, size });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;

    const MIB: u64 = 1 << 20;
    const BASE: u64 = 0x7b00_0000;

    #[test]
    fn slot_addresses() {
        let s = boot_slot(BASE, 4 * MIB, 0).unwrap();
        assert_eq!(
            s,
            BootSlot {
                index: 0,
                base: BASE + 0x1_0000,
                zero_page: BASE + 0x1_0000,
                setup_data: BASE + 0x1_1000,
                cmdline: BASE + 0x1_2000,
                control: BASE + 0x1_3000,
                page_tables: BASE + 0x1_4000,
            }
        );
        assert_eq!(s.end(), BASE + 0x2_0000);
        let s = boot_slot(BASE, 4 * MIB, 7).unwrap();
        assert_eq!(s.base, BASE + 0x8_0000);
        assert_eq!(s.page_tables, BASE + 0x8_4000);
        assert_eq!(s.end(), BASE + 0x9_0000);
    }

    #[test]
    fn slots_are_disjoint_and_stay_out_of_the_header_and_rings() {
        for k in 0..MAX_BOOT_SLOTS {
            let s = boot_slot(BASE, MIB, k).unwrap();
            assert!(s.base >= BASE + HEADER_OFFSET + HEADER_SIZE);
            assert!(s.end() <= BASE + RINGS_OFFSET);
            for j in 0..k {
                let t = boot_slot(BASE, MIB, j).unwrap();
                assert!(t.end() <= s.base);
            }
            // Parts in order, page aligned, inside the slot.
            let parts = [
                (s.zero_page, ZERO_PAGE_MAX),
                (s.setup_data, SETUP_DATA_MAX),
                (s.cmdline, CMDLINE_MAX),
                (s.control, CONTROL_MAX),
                (s.page_tables, PAGE_TABLES_MAX),
            ];
            for (addr, size) in parts {
                assert_eq!(addr % 4096, 0);
                assert!(addr >= s.base && addr + size <= s.end());
            }
            for pair in parts.windows(2) {
                assert!(pair[0].0 + pair[0].1 <= pair[1].0);
            }
        }
        assert_eq!(PAGE_TABLES_OFFSET + PAGE_TABLES_MAX, BOOT_SLOT_SIZE);
        assert_eq!(
            BOOT_SLOTS_OFFSET + MAX_BOOT_SLOTS as u64 * BOOT_SLOT_SIZE,
            0x9_0000
        );
    }

    #[test]
    fn refuses_missing_slots() {
        for slot in [8, 9, usize::MAX] {
            assert_eq!(
                boot_slot(BASE, MIB, slot),
                Err(SharedError::NoSuchSlot { slot })
            );
        }
    }

    #[test]
    fn refuses_a_window_too_small_for_the_slot() {
        // Slot 3 ends at 0x50000.
        assert!(boot_slot(BASE, 0x5_0000, 3).is_ok());
        assert_eq!(
            boot_slot(BASE, 0x4_ffff, 3),
            Err(SharedError::TooSmall {
                size: 0x4_ffff,
                needed: 0x5_0000
            })
        );
        assert_eq!(
            boot_slot(BASE, 0, 0),
            Err(SharedError::TooSmall {
                size: 0,
                needed: 0x2_0000
            })
        );
    }

    #[test]
    fn refuses_bad_windows() {
        assert_eq!(
            boot_slot(BASE + 0x800, MIB, 0),
            Err(SharedError::Unaligned { base: BASE + 0x800 })
        );
        assert_eq!(
            boot_slot(0xffff_ffff_ffff_f000, MIB, 0),
            Err(SharedError::Overflow {
                base: 0xffff_ffff_ffff_f000,
                size: MIB
            })
        );
        assert_eq!(
            boot_slot(0x1_0000_0000, MIB, 0),
            Err(SharedError::Above4G {
                base: 0x1_0000_0000,
                size: MIB
            })
        );
        // Ending exactly at 4 GiB is fine.
        let s = boot_slot(0x1_0000_0000 - MIB, MIB, 7).unwrap();
        assert_eq!(s.end(), 0x1_0000_0000 - 0x7_0000);
        assert_eq!(
            boot_slot(0x1_0000_0000 - MIB, MIB + 4096, 0),
            Err(SharedError::Above4G {
                base: 0x1_0000_0000 - MIB,
                size: MIB + 4096
            })
        );
        // The slot index is checked first.
        assert_eq!(boot_slot(1, 0, 8), Err(SharedError::NoSuchSlot { slot: 8 }));
    }

    #[test]
    fn rings() {
        assert_eq!(rings_area(BASE, 4 * MIB), Ok(BASE + MIB..BASE + 4 * MIB));
        assert_eq!(rings_area(BASE, MIB), Ok(BASE + MIB..BASE + MIB));
        assert_eq!(
            rings_area(BASE, MIB - 1),
            Err(SharedError::TooSmall {
                size: MIB - 1,
                needed: MIB
            })
        );
        assert_eq!(
            rings_area(BASE + 1, MIB),
            Err(SharedError::Unaligned { base: BASE + 1 })
        );
        assert_eq!(
            rings_area(0xffff_f000, 2 * MIB),
            Err(SharedError::Above4G {
                base: 0xffff_f000,
                size: 2 * MIB
            })
        );
    }

    #[test]
    fn displays() {
        assert_eq!(
            boot_slot(0x7b00_0000, MIB, 1).unwrap().to_string(),
            "slot: 1\n\
             slot_base: 0x7b020000\n\
             zero_page: 0x7b020000\n\
             setup_data: 0x7b021000\n\
             cmdline: 0x7b022000\n\
             control: 0x7b023000\n\
             page_tables: 0x7b024000\n"
        );
        let cases = [
            (
                SharedError::NoSuchSlot { slot: 9 },
                "boot slot 9 does not exist (0..8)",
            ),
            (
                SharedError::Unaligned { base: 0x1234 },
                "shared window at 0x1234 is not 4 KiB aligned",
            ),
            (
                SharedError::Overflow {
                    base: 0xffff_ffff_ffff_f000,
                    size: 0x10_0000,
                },
                "shared window of 0x100000 bytes at 0xfffffffffffff000 wraps past the end of the address space",
            ),
            (
                SharedError::Above4G {
                    base: 0xfff0_0000,
                    size: 0x20_0000,
                },
                "shared window of 0x200000 bytes at 0xfff00000 does not end below 4 GiB",
            ),
            (
                SharedError::TooSmall {
                    size: 0x1000,
                    needed: 0x2_0000,
                },
                "shared window is 0x1000 bytes, needs at least 0x20000",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_slots_fit(base in any::<u64>(), size in any::<u64>(), slot in 0usize..12) {
            if let Ok(s) = boot_slot(base, size, slot) {
                prop_assert!(slot < MAX_BOOT_SLOTS);
                prop_assert!(s.base >= base && s.end() <= base + size);
                prop_assert!(base + size <= WINDOW_LIMIT);
                prop_assert_eq!(s.base - base, 0x1_0000 * (slot as u64 + 1));
            }
            if let Ok(r) = rings_area(base, size) {
                prop_assert_eq!(r.start, base + RINGS_OFFSET);
                prop_assert_eq!(r.end, base + size);
            }
        }
    }
}
