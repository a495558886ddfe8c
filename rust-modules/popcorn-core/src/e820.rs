//! The e820 memory map a secondary kernel boots with.
//!
//! A secondary must see only the memory it was given: the map Popcorn puts
//! in its zero page is its whole view of physical memory. It has three
//! entries, built by [`E820Table::for_secondary`]:
//!
//! - its RAM partition, cut from the primary's reserved pool (RAM);
//! - its window below 1 MiB, where x86 needs real-mode memory to start
//!   application processors (RAM, so the secondary's early allocator can
//!   use it; entirely below 1 MiB);
//! - the window shared by all kernels (Reserved, so the secondary never
//!   allocates from it and maps it only on purpose; it must not overlap a
//!   RAM entry).
//!
//! [`E820Table`] is stricter than the firmware maps Linux copes with:
//! entries must not overlap, must be page aligned, and must not reach the
//! end of the 64-bit address space (`addr + size` must fit a `u64`, so no
//! consumer computing the end can wrap). Touching entries are fine and are
//! not merged. Entries are kept sorted by address, the order Linux prints
//! and expects.
//!
//! The zero-page layout (`struct boot_params`,
//! `arch/x86/include/uapi/asm/bootparam.h`): `e820_entries` (u8) at 0x1e8,
//! `e820_table` at 0x2d0, up to 128 packed 20-byte entries of
//! `addr: u64, size: u64, type: u32`, little-endian.
//!
//! A table is 3 KiB; keep it in the secondary's boot context rather than on
//! a kernel stack.
//!
//! Requires nothing but `core`.

use core::fmt;
use core::ops::Range;

/// How many entries the zero page holds (`E820_MAX_ENTRIES_ZEROPAGE`).
pub const E820_MAX_ENTRIES_ZEROPAGE: usize = 128;

/// How many entries an [`E820Table`] holds. A secondary's map has three;
/// the zero page's 128 would make the table 3 KiB, and building one on a
/// 16 KiB kernel stack overflowed it (the loader runs in a `write(2)`).
pub const E820_TABLE_CAPACITY: usize = 16;
/// Offset of `e820_entries` (u8) in `struct boot_params`.
pub const ZERO_PAGE_E820_ENTRIES: usize = 0x1e8;
/// Offset of `e820_table` in `struct boot_params`.
pub const ZERO_PAGE_E820_TABLE: usize = 0x2d0;
/// Size of one `struct boot_e820_entry`.
pub const E820_ENTRY_SIZE: usize = 20;
/// Size of `struct boot_params`: the zero page is one page.
pub const ZERO_PAGE_SIZE: usize = 4096;
/// Alignment of every entry's address and size.
pub const PAGE_SIZE: u64 = 4096;
/// The end of real-mode memory: low windows must lie below it.
pub const LOW_MEMORY_END: u64 = 1 << 20;

/// Entry types, as the zero page encodes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum E820Kind {
    /// `E820_TYPE_RAM`: usable memory.
    Ram = 1,
    /// `E820_TYPE_RESERVED`: memory the kernel must not allocate.
    Reserved = 2,
}

impl E820Kind {
    /// The type code written to the zero page.
    pub const fn code(self) -> u32 {
        match self {
            E820Kind::Ram => 1,
            E820Kind::Reserved => 2,
        }
    }

    /// The name Linux prints in its boot log.
    pub const fn name(self) -> &'static str {
        match self {
            E820Kind::Ram => "usable",
            E820Kind::Reserved => "reserved",
        }
    }
}

/// One entry: `size` bytes from `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820Entry {
    /// First address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// What the memory is.
    pub kind: E820Kind,
}

impl E820Entry {
    /// The first address after the entry. Saturates, though entries in an
    /// [`E820Table`] never need to.
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
    }

    /// Whether the two entries share a byte. Entries that touch do not.
    pub fn overlaps(&self, other: &E820Entry) -> bool {
        self.addr < other.end() && other.addr < self.end()
    }

    /// The entry's 20 bytes as the zero page stores them.
    pub fn to_bytes(&self) -> [u8; E820_ENTRY_SIZE] {
        let mut bytes = [0; E820_ENTRY_SIZE];
        let fields = self
            .addr
            .to_le_bytes()
            .into_iter()
            .chain(self.size.to_le_bytes())
            .chain(self.kind.code().to_le_bytes());
        for (slot, byte) in bytes.iter_mut().zip(fields) {
            *slot = byte;
        }
        bytes
    }
}

/// Prints like Linux's boot log: `[mem 0x0000000001000000-0x0000000040ffffff] usable`.
impl fmt::Display for E820Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[mem {:#018x}-{:#018x}] {}",
            self.addr,
            self.end().saturating_sub(1),
            self.kind.name()
        )
    }
}

/// Why an entry, a secondary's layout or a zero page was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum E820Error {
    /// An entry of zero bytes.
    ZeroSize { addr: u64 },
    /// A range whose end is below its start.
    Reversed { start: u64, end: u64 },
    /// `addr + size` does not fit in 64 bits.
    Overflow { addr: u64, size: u64 },
    /// Address or size not a multiple of 4 KiB.
    Unaligned { addr: u64, size: u64 },
    /// The new entry shares memory with `existing`.
    Overlap { new: E820Entry, existing: E820Entry },
    /// The table already has [`E820_TABLE_CAPACITY`] entries.
    Full,
    /// A low-memory window that reaches above 1 MiB.
    LowWindowAbove1M { start: u64, end: u64 },
    /// The shared window overlaps a RAM entry (`ram`).
    SharedOverlapsRam { ram: E820Entry },
    /// A zero page shorter than [`ZERO_PAGE_SIZE`].
    ZeroPageTooSmall { len: usize },
}

impl fmt::Display for E820Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            E820Error::ZeroSize { addr } => write!(f, "empty memory range at {addr:#x}"),
            E820Error::Reversed { start, end } => {
                write!(f, "reversed memory range {start:#x}-{end:#x}")
            }
            E820Error::Overflow { addr, size } => write!(
                f,
                "memory range of {size:#x} bytes at {addr:#x} wraps past the end of the address space"
            ),
            E820Error::Unaligned { addr, size } => write!(
                f,
                "memory range of {size:#x} bytes at {addr:#x} is not 4 KiB aligned"
            ),
            E820Error::Overlap { new, existing } => write!(f, "{new} overlaps {existing}"),
            E820Error::Full => write!(
                f,
                "e820 table full ({E820_TABLE_CAPACITY} entries)"
            ),
            E820Error::LowWindowAbove1M { start, end } => write!(
                f,
                "low window {start:#x}-{end:#x} is not below 1 MiB"
            ),
            E820Error::SharedOverlapsRam { ram } => {
                write!(f, "shared window overlaps RAM {ram}")
            }
            E820Error::ZeroPageTooSmall { len } => write!(
                f,
                "zero page is {len} bytes, needs {ZERO_PAGE_SIZE}"
            ),
        }
    }
}

const EMPTY: E820Entry = E820Entry {
    addr: 0,
    size: 0,
    kind: E820Kind::Reserved,
};

/// A sorted map of non-overlapping, page-aligned entries that fits the zero
/// page.
#[derive(Clone)]
pub struct E820Table {
    /// `entries[..len]` are in use, sorted by `addr`.
    entries: [E820Entry; E820_TABLE_CAPACITY],
    len: usize,
}

/// Tables are equal when their entries are; unused slots do not count.
impl PartialEq for E820Table {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for E820Table {}

impl Default for E820Table {
    fn default() -> Self {
        Self::new()
    }
}

impl E820Table {
    /// The empty table.
    pub const fn new() -> Self {
        E820Table {
            entries: [EMPTY; E820_TABLE_CAPACITY],
            len: 0,
        }
    }

    /// A secondary's map: its RAM `partition`, its RAM `low_window` (below
    /// 1 MiB) and the Reserved `shared_window`, which must not overlap
    /// either RAM range. Besides what [`E820Table::add`] refuses, refuses a
    /// low window reaching above 1 MiB and a shared window overlapping RAM.
    pub fn for_secondary(
        partition: Range<u64>,
        low_window: Range<u64>,
        shared_window: Range<u64>,
    ) -> Result<Self, E820Error> {
        let mut table = E820Table::new();
        table.add_range(partition, E820Kind::Ram)?;
        if low_window.end > LOW_MEMORY_END {
            return Err(E820Error::LowWindowAbove1M {
                start: low_window.start,
                end: low_window.end,
            });
        }
        table.add_range(low_window, E820Kind::Ram)?;
        let shared = entry_from_range(shared_window, E820Kind::Reserved)?;
        if let Some(ram) = table
            .entries()
            .find(|e| e.kind == E820Kind::Ram && e.overlaps(&shared))
        {
            return Err(E820Error::SharedOverlapsRam { ram });
        }
        table.add(shared.addr, shared.size, shared.kind)?;
        Ok(table)
    }

    /// Adds an entry, keeping the table sorted. Refuses, in this order: a
    /// zero size, an end past `u64::MAX`, an address or size that is not a
    /// multiple of 4 KiB, an overlap with an existing entry, a full table.
    /// A refused entry leaves the table unchanged.
    pub fn add(&mut self, addr: u64, size: u64, kind: E820Kind) -> Result<(), E820Error> {
        if size == 0 {
            return Err(E820Error::ZeroSize { addr });
        }
        if addr.checked_add(size).is_none() {
            return Err(E820Error::Overflow { addr, size });
        }
        if (addr | size) & (PAGE_SIZE - 1) != 0 {
            return Err(E820Error::Unaligned { addr, size });
        }
        let new = E820Entry { addr, size, kind };
        if let Some(existing) = self.entries().find(|e| e.overlaps(&new)) {
            return Err(E820Error::Overlap { new, existing });
        }
        if self.len >= E820_TABLE_CAPACITY {
            return Err(E820Error::Full);
        }
        let pos = self.entries().take_while(|e| e.addr < addr).count();
        // Shift `entries[pos..len]` up by one, `new` going in at `pos`.
        let tail = self
            .entries
            .get_mut(pos..=self.len)
            .ok_or(E820Error::Full)?;
        let mut carry = new;
        for slot in tail {
            carry = core::mem::replace(slot, carry);
        }
        self.len = self.len.saturating_add(1);
        Ok(())
    }

    /// The entries, by increasing address.
    pub fn entries(&self) -> impl Iterator<Item = E820Entry> + '_ {
        self.as_slice().iter().copied()
    }

    /// The entries as a slice, by increasing address.
    pub fn as_slice(&self) -> &[E820Entry] {
        self.entries.get(..self.len).unwrap_or(&[])
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total bytes of RAM entries.
    pub fn ram_bytes(&self) -> u64 {
        // Entries do not overlap and end at most at u64::MAX, so the sum
        // fits; saturate anyway.
        self.entries()
            .filter(|e| e.kind == E820Kind::Ram)
            .fold(0u64, |sum, e| sum.saturating_add(e.size))
    }

    /// Writes the map into a zero page (`struct boot_params`, at least
    /// [`ZERO_PAGE_SIZE`] bytes): the count at 0x1e8 and the entries at
    /// 0x2d0. Unused entry slots are zeroed; nothing else is touched.
    pub fn write_zero_page(&self, zero_page: &mut [u8]) -> Result<(), E820Error> {
        let too_small = E820Error::ZeroPageTooSmall {
            len: zero_page.len(),
        };
        if zero_page.len() < ZERO_PAGE_SIZE {
            return Err(too_small);
        }
        // At most 128: fits the u8.
        let count = u8::try_from(self.len).map_err(|_| E820Error::Full)?;
        *zero_page.get_mut(ZERO_PAGE_E820_ENTRIES).ok_or(too_small)? = count;
        let table_end = E820_MAX_ENTRIES_ZEROPAGE * E820_ENTRY_SIZE + ZERO_PAGE_E820_TABLE;
        let table = zero_page
            .get_mut(ZERO_PAGE_E820_TABLE..table_end)
            .ok_or(too_small)?;
        let mut slots = table.chunks_exact_mut(E820_ENTRY_SIZE);
        // Entries first: `zip` then stops without taking an extra slot.
        for (entry, slot) in self.entries().zip(slots.by_ref()) {
            slot.copy_from_slice(&entry.to_bytes());
        }
        for slot in slots {
            slot.fill(0);
        }
        Ok(())
    }

    fn add_range(&mut self, range: Range<u64>, kind: E820Kind) -> Result<(), E820Error> {
        let entry = entry_from_range(range, kind)?;
        self.add(entry.addr, entry.size, entry.kind)
    }
}

/// Prints one entry per line, as Linux's boot log does.
impl fmt::Display for E820Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in self.entries() {
            writeln!(f, "{entry}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for E820Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

fn entry_from_range(range: Range<u64>, kind: E820Kind) -> Result<E820Entry, E820Error> {
    let size = range
        .end
        .checked_sub(range.start)
        .ok_or(E820Error::Reversed {
            start: range.start,
            end: range.end,
        })?;
    Ok(E820Entry {
        addr: range.start,
        size,
        kind,
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn ram(addr: u64, size: u64) -> E820Entry {
        E820Entry {
            addr,
            size,
            kind: E820Kind::Ram,
        }
    }

    fn reserved(addr: u64, size: u64) -> E820Entry {
        E820Entry {
            addr,
            size,
            kind: E820Kind::Reserved,
        }
    }

    fn table(entries: &[E820Entry]) -> E820Table {
        let mut t = E820Table::new();
        for e in entries {
            t.add(e.addr, e.size, e.kind).unwrap();
        }
        t
    }

    /// A table holding [16 MiB, 32 MiB).
    fn one() -> E820Table {
        table(&[ram(16 * MIB, 16 * MIB)])
    }

    fn overlap_with(t: &E820Table, addr: u64, size: u64) -> Result<(), E820Error> {
        t.clone().add(addr, size, E820Kind::Reserved)
    }

    #[test]
    fn touching_entries_are_fine() {
        let t = one();
        assert_eq!(overlap_with(&t, 15 * MIB, MIB), Ok(()));
        assert_eq!(overlap_with(&t, 32 * MIB, MIB), Ok(()));
        let mut t = t;
        t.add(15 * MIB, MIB, E820Kind::Ram).unwrap();
        t.add(32 * MIB, MIB, E820Kind::Ram).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.ram_bytes(), 18 * MIB);
    }

    #[test]
    fn refuses_every_kind_of_overlap() {
        let t = one();
        let existing = ram(16 * MIB, 16 * MIB);
        let cases = [
            (16 * MIB, 16 * MIB, "identical"),
            (16 * MIB, 4096, "same start, shorter"),
            (16 * MIB, 32 * MIB, "same start, longer"),
            (20 * MIB, 4096, "contained"),
            (0, GIB, "containing"),
            (15 * MIB, MIB + 4096, "over the start"),
            (32 * MIB - 4096, 8192, "over the end"),
            (32 * MIB - 4096, 4096, "last page"),
            (16 * MIB, 4096, "first page"),
            (8 * MIB, 24 * MIB, "same end"),
        ];
        for (addr, size, what) in cases {
            assert_eq!(
                overlap_with(&t, addr, size),
                Err(E820Error::Overlap {
                    new: reserved(addr, size),
                    existing
                }),
                "{what}"
            );
        }
    }

    #[test]
    fn reports_the_first_overlapping_entry() {
        let t = table(&[ram(0, MIB), ram(2 * MIB, MIB)]);
        assert_eq!(
            overlap_with(&t, 0, 4 * MIB),
            Err(E820Error::Overlap {
                new: reserved(0, 4 * MIB),
                existing: ram(0, MIB)
            })
        );
    }

    #[test]
    fn refuses_zero_sizes() {
        let mut t = E820Table::new();
        assert_eq!(
            t.add(4096, 0, E820Kind::Ram),
            Err(E820Error::ZeroSize { addr: 4096 })
        );
        // Even inside an existing entry: size is checked first.
        let mut t = one();
        assert_eq!(
            t.add(20 * MIB, 0, E820Kind::Ram),
            Err(E820Error::ZeroSize { addr: 20 * MIB })
        );
    }

    #[test]
    fn refuses_unaligned_entries() {
        let mut t = E820Table::new();
        for (addr, size) in [
            (1, 4096),
            (4096, 1),
            (0x800, 0x800),
            (4096, 4097),
            (4095, 4096),
        ] {
            assert_eq!(
                t.add(addr, size, E820Kind::Ram),
                Err(E820Error::Unaligned { addr, size })
            );
        }
        assert!(t.is_empty());
    }

    #[test]
    fn refuses_entries_reaching_the_end_of_the_address_space() {
        let mut t = E820Table::new();
        let last_page = u64::MAX - 4095;
        assert_eq!(
            t.add(last_page, 4096, E820Kind::Ram),
            Err(E820Error::Overflow {
                addr: last_page,
                size: 4096
            })
        );
        assert_eq!(
            t.add(4096, u64::MAX, E820Kind::Ram),
            Err(E820Error::Overflow {
                addr: 4096,
                size: u64::MAX
            })
        );
        assert_eq!(
            t.add(u64::MAX, u64::MAX, E820Kind::Ram),
            Err(E820Error::Overflow {
                addr: u64::MAX,
                size: u64::MAX
            })
        );
        // The last page but one ends exactly at u64::MAX - 4095: fine.
        t.add(last_page - 4096, 4096, E820Kind::Ram).unwrap();
        assert_eq!(t.as_slice()[0].end(), last_page);
        // Largest aligned entry from 0.
        let mut t = E820Table::new();
        t.add(0, last_page, E820Kind::Ram).unwrap();
        assert_eq!(t.ram_bytes(), last_page);
    }

    #[test]
    fn keeps_entries_sorted() {
        let mut t = E820Table::new();
        for addr in [5u64, 1, 9, 3, 7, 0, 8] {
            t.add(addr * MIB, MIB, E820Kind::Ram).unwrap();
        }
        let addrs: Vec<u64> = t.entries().map(|e| e.addr / MIB).collect();
        assert_eq!(addrs, [0, 1, 3, 5, 7, 8, 9]);
    }

    #[test]
    fn refuses_a_129th_entry() {
        let mut t = E820Table::new();
        for i in 0..E820_TABLE_CAPACITY as u64 {
            // In reverse, so every insertion shifts the whole table.
            t.add((200 - i) * 8192, 4096, E820Kind::Ram).unwrap();
        }
        assert_eq!(t.len(), E820_TABLE_CAPACITY);
        assert_eq!(t.add(0, 4096, E820Kind::Ram), Err(E820Error::Full));
        assert_eq!(t.len(), E820_TABLE_CAPACITY);
        assert!(t.as_slice().windows(2).all(|w| w[0].end() <= w[1].addr));
        // An overlap is still reported as such when the table is full.
        assert!(matches!(
            t.add(200 * 8192, 4096, E820Kind::Ram),
            Err(E820Error::Overlap { .. })
        ));
    }

    #[test]
    fn counts_only_ram() {
        let t = table(&[ram(0, MIB), reserved(MIB, MIB), ram(4 * GIB, GIB)]);
        assert_eq!(t.ram_bytes(), GIB + MIB);
        assert_eq!(E820Table::new().ram_bytes(), 0);
    }

    #[test]
    fn writes_the_zero_page() {
        let t = table(&[
            reserved(0xfee0_0000, 0x1000),
            ram(0x9_a000, 0x1000),
            ram(0x1_0000_0000, 0x4000_0000),
        ]);
        let mut page = vec![0xccu8; 4096];
        t.write_zero_page(&mut page).unwrap();
        assert_eq!(page[0x1e8], 3);
        let mut expected = Vec::new();
        for (addr, size, kind) in [
            (0x9_a000u64, 0x1000u64, 1u32),
            (0xfee0_0000, 0x1000, 2),
            (0x1_0000_0000, 0x4000_0000, 1),
        ] {
            expected.extend_from_slice(&addr.to_le_bytes());
            expected.extend_from_slice(&size.to_le_bytes());
            expected.extend_from_slice(&kind.to_le_bytes());
        }
        assert_eq!(&page[0x2d0..0x2d0 + 60], &expected[..]);
        // Spelled out once, byte by byte.
        assert_eq!(
            &page[0x2d0..0x2d0 + 20],
            &[
                0x00, 0xa0, 0x09, 0, 0, 0, 0, 0, // addr
                0x00, 0x10, 0, 0, 0, 0, 0, 0, // size
                1, 0, 0, 0, // type
            ]
        );
        // Unused slots zeroed, everything else untouched.
        assert!(page[0x2d0 + 60..0x2d0 + 128 * 20].iter().all(|&b| b == 0));
        assert!(page[..0x1e8].iter().all(|&b| b == 0xcc));
        assert!(page[0x1e9..0x2d0].iter().all(|&b| b == 0xcc));
        assert!(page[0x2d0 + 128 * 20..].iter().all(|&b| b == 0xcc));
    }

    #[test]
    fn writes_a_full_and_an_empty_table() {
        let mut full = E820Table::new();
        let n = E820_TABLE_CAPACITY as u64;
        for i in 0..n {
            full.add(i * 8192, 4096, E820Kind::Ram).unwrap();
        }
        let mut page = [0xffu8; 4096];
        full.write_zero_page(&mut page).unwrap();
        assert_eq!(usize::from(page[0x1e8]), E820_TABLE_CAPACITY);
        let last = 0x2d0 + (E820_TABLE_CAPACITY - 1) * 20;
        assert_eq!(&page[last..last + 8], &((n - 1) * 8192).to_le_bytes());
        // The zero page's unused slots, up to its 128, are cleared.
        assert!(page[last + 20..0x2d0 + 128 * 20].iter().all(|&b| b == 0));
        E820Table::new().write_zero_page(&mut page).unwrap();
        assert_eq!(page[0x1e8], 0);
        assert!(page[0x2d0..0x2d0 + 128 * 20].iter().all(|&b| b == 0));
    }

    #[test]
    fn refuses_a_short_zero_page() {
        let mut page = [0u8; 4095];
        assert_eq!(
            one().write_zero_page(&mut page),
            Err(E820Error::ZeroPageTooSmall { len: 4095 })
        );
        assert!(page.iter().all(|&b| b == 0));
        assert!(one().write_zero_page(&mut [0u8; 8192]).is_ok());
    }

    #[test]
    fn builds_a_secondary_map() {
        let t = E820Table::for_secondary(
            0x1_0000_0000..0x1_4000_0000,
            0x9_0000..0x9_8000,
            0x8000_0000..0x8040_0000,
        )
        .unwrap();
        assert_eq!(
            t.as_slice(),
            [
                ram(0x9_0000, 0x8000),
                reserved(0x8000_0000, 0x40_0000),
                ram(0x1_0000_0000, 0x4000_0000)
            ]
        );
        assert_eq!(t.ram_bytes(), 0x4000_8000);
        assert_eq!(
            t.to_string(),
            "[mem 0x0000000000090000-0x0000000000097fff] usable\n\
             [mem 0x0000000080000000-0x00000000803fffff] reserved\n\
             [mem 0x0000000100000000-0x000000013fffffff] usable\n"
        );
    }

    #[test]
    fn low_window_must_be_below_1mib() {
        let partition = 0x1_0000_0000..0x1_4000_0000;
        let shared = 0x8000_0000..0x8040_0000;
        assert!(
            E820Table::for_secondary(partition.clone(), 0xf_f000..0x10_0000, shared.clone())
                .is_ok()
        );
        assert_eq!(
            E820Table::for_secondary(partition.clone(), 0xf_f000..0x10_1000, shared.clone()),
            Err(E820Error::LowWindowAbove1M {
                start: 0xf_f000,
                end: 0x10_1000
            })
        );
        assert_eq!(
            E820Table::for_secondary(partition, 0x20_0000..0x20_8000, shared),
            Err(E820Error::LowWindowAbove1M {
                start: 0x20_0000,
                end: 0x20_8000
            })
        );
    }

    #[test]
    fn shared_window_must_not_overlap_ram() {
        let partition = 0x1_0000_0000..0x1_4000_0000;
        let low = 0x9_0000..0x9_8000;
        assert_eq!(
            E820Table::for_secondary(partition.clone(), low.clone(), 0x1_3fff_f000..0x1_4000_1000),
            Err(E820Error::SharedOverlapsRam {
                ram: ram(0x1_0000_0000, 0x4000_0000)
            })
        );
        assert_eq!(
            E820Table::for_secondary(partition.clone(), low.clone(), 0..MIB),
            Err(E820Error::SharedOverlapsRam {
                ram: ram(0x9_0000, 0x8000)
            })
        );
        // Touching is fine.
        assert!(E820Table::for_secondary(partition, low, 0x1_4000_0000..0x1_4040_0000).is_ok());
    }

    #[test]
    fn secondary_ranges_are_checked_like_entries() {
        let partition = 0x1_0000_0000..0x1_4000_0000;
        let low = 0x9_0000..0x9_8000;
        let shared = 0x8000_0000..0x8040_0000;
        assert_eq!(
            E820Table::for_secondary(0x1000..0x1000, low.clone(), shared.clone()),
            Err(E820Error::ZeroSize { addr: 0x1000 })
        );
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 0x2000..0x1000;
        assert_eq!(
            E820Table::for_secondary(partition.clone(), low.clone(), reversed),
            Err(E820Error::Reversed {
                start: 0x2000,
                end: 0x1000
            })
        );
        assert_eq!(
            E820Table::for_secondary(partition.clone(), 0x9_0000..0x9_0800, shared.clone()),
            Err(E820Error::Unaligned {
                addr: 0x9_0000,
                size: 0x800
            })
        );
        assert_eq!(
            E820Table::for_secondary(0x8_0000..0x10_0000, low, shared.clone()),
            Err(E820Error::Overlap {
                new: ram(0x9_0000, 0x8000),
                existing: ram(0x8_0000, 0x8_0000)
            })
        );
        assert_eq!(
            E820Table::for_secondary(partition, 0x9_0000..0x9_0000, shared),
            Err(E820Error::ZeroSize { addr: 0x9_0000 })
        );
    }

    #[test]
    fn errors_have_log_texts() {
        let cases = [
            (E820Error::ZeroSize { addr: 0x1000 }, "empty memory range at 0x1000"),
            (
                E820Error::Reversed {
                    start: 0x2000,
                    end: 0x1000,
                },
                "reversed memory range 0x2000-0x1000",
            ),
            (
                E820Error::Overflow {
                    addr: 0x1000,
                    size: u64::MAX,
                },
                "memory range of 0xffffffffffffffff bytes at 0x1000 wraps past the end of the address space",
            ),
            (
                E820Error::Unaligned {
                    addr: 0x1,
                    size: 0x1000,
                },
                "memory range of 0x1000 bytes at 0x1 is not 4 KiB aligned",
            ),
            (
                E820Error::Overlap {
                    new: reserved(0, 0x2000),
                    existing: ram(0x1000, 0x1000),
                },
                "[mem 0x0000000000000000-0x0000000000001fff] reserved overlaps \
                 [mem 0x0000000000001000-0x0000000000001fff] usable",
            ),
            (E820Error::Full, "e820 table full (16 entries)"),
            (
                E820Error::LowWindowAbove1M {
                    start: 0xff000,
                    end: 0x101000,
                },
                "low window 0xff000-0x101000 is not below 1 MiB",
            ),
            (
                E820Error::SharedOverlapsRam {
                    ram: ram(0, 0x1000),
                },
                "shared window overlaps RAM [mem 0x0000000000000000-0x0000000000000fff] usable",
            ),
            (
                E820Error::ZeroPageTooSmall { len: 100 },
                "zero page is 100 bytes, needs 4096",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    fn any_kind() -> impl Strategy<Value = E820Kind> {
        prop_oneof![Just(E820Kind::Ram), Just(E820Kind::Reserved)]
    }

    /// Page-aligned ranges in a small space, so that overlaps are common,
    /// plus a few arbitrary values.
    fn any_entry() -> impl Strategy<Value = (u64, u64, E820Kind)> {
        prop_oneof![
            4 => (0u64..64, 0u64..16, any_kind()).prop_map(|(p, n, k)| (p * 4096, n * 4096, k)),
            1 => (any::<u64>(), any::<u64>(), any_kind()),
            1 => (any::<u64>(), 1u64..4, any_kind()).prop_map(|(a, n, k)| (a & !0xfff, n * 4096, k)),
        ]
    }

    proptest! {
        #[test]
        fn add_keeps_the_table_sorted_and_disjoint(adds in proptest::collection::vec(any_entry(), 0..200)) {
            let mut t = E820Table::new();
            let mut accepted: Vec<E820Entry> = Vec::new();
            for (addr, size, kind) in adds {
                let before = t.clone();
                let new = E820Entry { addr, size, kind };
                match t.add(addr, size, kind) {
                    Ok(()) => {
                        prop_assert!(size > 0 && addr % 4096 == 0 && size % 4096 == 0);
                        prop_assert!(addr.checked_add(size).is_some());
                        prop_assert!(!accepted.iter().any(|e| e.overlaps(&new)));
                        accepted.push(new);
                    }
                    Err(error) => {
                        prop_assert_eq!(&t, &before);
                        if let E820Error::Overlap { existing, .. } = error {
                            prop_assert!(existing.overlaps(&new));
                            prop_assert!(accepted.contains(&existing));
                        }
                        if error == E820Error::Full {
                            prop_assert_eq!(t.len(), E820_TABLE_CAPACITY);
                        }
                    }
                }
                let entries = t.as_slice();
                prop_assert!(entries.windows(2).all(|w| w[0].end() <= w[1].addr));
                prop_assert_eq!(entries.len(), accepted.len());
            }
            accepted.sort_by_key(|e| e.addr);
            prop_assert_eq!(t.as_slice(), &accepted[..]);
            let ram: u64 = accepted.iter().filter(|e| e.kind == E820Kind::Ram).map(|e| e.size).sum();
            prop_assert_eq!(t.ram_bytes(), ram);
        }

        #[test]
        fn zero_page_round_trips(adds in proptest::collection::vec(any_entry(), 0..40)) {
            let mut t = E820Table::new();
            for (addr, size, kind) in adds {
                let _ = t.add(addr, size, kind);
            }
            let mut page = vec![0u8; 4096];
            t.write_zero_page(&mut page).unwrap();
            prop_assert_eq!(usize::from(page[0x1e8]), t.len());
            for (i, entry) in t.entries().enumerate() {
                let raw = &page[0x2d0 + i * 20..][..20];
                prop_assert_eq!(u64::from_le_bytes(raw[..8].try_into().unwrap()), entry.addr);
                prop_assert_eq!(u64::from_le_bytes(raw[8..16].try_into().unwrap()), entry.size);
                prop_assert_eq!(u32::from_le_bytes(raw[16..].try_into().unwrap()), entry.kind.code());
            }
        }

        #[test]
        fn for_secondary_never_panics(
            p in (any::<u64>(), any::<u64>()),
            l in (0u64..0x20_0000, 0u64..0x20_0000),
            s in (any::<u64>(), any::<u64>()),
        ) {
            if let Ok(t) = E820Table::for_secondary(p.0..p.1, l.0..l.1, s.0..s.1) {
                prop_assert_eq!(t.len(), 3);
                prop_assert_eq!(t.ram_bytes(), (p.1 - p.0) + (l.1 - l.0));
            }
        }
    }
}
