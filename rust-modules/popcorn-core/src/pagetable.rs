//! Identity page tables for entering a secondary kernel in long mode.
//!
//! A secondary is entered at its 64-bit entry point (`startup_64`) with
//! paging already on. Until it has built its own tables, every byte it
//! touches — its image, the zero page, the command line, the initrd, and the
//! trampoline that jumps to it — must be mapped at its physical address.
//! The loader places all of those below 4 GiB, so the tables built here map
//! physical `[0, 4 GiB)` onto itself and nothing else.
//!
//! Layout, in [`IDENTITY_TABLES_SIZE`] bytes starting at `table_phys` (the
//! value loaded into CR3):
//!
//! | offset   | table                              |
//! |----------|------------------------------------|
//! | `0x0000` | PML4: entry 0 points at the PDPT   |
//! | `0x1000` | PDPT: entries 0–3 point at the PDs |
//! | `0x2000` | PD for `[0, 1 GiB)`                |
//! | `0x3000` | PD for `[1 GiB, 2 GiB)`            |
//! | `0x4000` | PD for `[2 GiB, 3 GiB)`            |
//! | `0x5000` | PD for `[3 GiB, 4 GiB)`            |
//!
//! Every PD entry maps a 2 MiB page with Present, Writable and PageSize
//! ([`LARGE_PAGE_FLAGS`], `0x83`); entries that point at a table have
//! Present and Writable ([`TABLE_FLAGS`], `0x3`). There is no NX, user or
//! global bit: the secondary runs everything here as supervisor code, may
//! execute from any of it, and reloads CR3 soon anyway, so global entries
//! would only survive that reload to confuse it. 2 MiB pages keep the tables
//! to six pages, and 1 GiB pages are avoided because not every CPU (or
//! every QEMU CPU model) has them.
//!
//! The trampoline loads CR3 from 32-bit code, so the tables themselves must
//! lie below 4 GiB.
//!
//! Requires nothing but `core`.

use core::fmt;

/// Size of one page table, and of the pages the tables are made of.
pub const PAGE_SIZE: usize = 4096;

/// Bytes needed by [`build_identity_tables`]: PML4, one PDPT and four page
/// directories.
pub const IDENTITY_TABLES_SIZE: usize = 6 * PAGE_SIZE;

/// End of the identity mapping, and the limit below which the tables must
/// lie: 4 GiB.
pub const IDENTITY_LIMIT: u64 = 1 << 32;

/// Entry bit: the entry is valid.
pub const PTE_PRESENT: u64 = 1 << 0;
/// Entry bit: writes are allowed.
pub const PTE_WRITABLE: u64 = 1 << 1;
/// Entry bit (PDPT and PD entries): the entry maps a large page instead of
/// pointing at a table.
pub const PTE_PAGE_SIZE: u64 = 1 << 7;

/// Flags of entries that point at a lower-level table.
pub const TABLE_FLAGS: u64 = PTE_PRESENT | PTE_WRITABLE;
/// Flags of PD entries mapping a 2 MiB page.
pub const LARGE_PAGE_FLAGS: u64 = PTE_PRESENT | PTE_WRITABLE | PTE_PAGE_SIZE;

const TWO_MIB: u64 = 2 << 20;
const ENTRY_SIZE: usize = 8;
const ENTRIES_PER_TABLE: u64 = 512;
/// Number of page directories, one per GiB below [`IDENTITY_LIMIT`].
const PAGE_DIRECTORIES: u64 = 4;
/// Page (of the six) holding the PDPT; the PDs follow it.
const PDPT_PAGE: u64 = 1;
const FIRST_PD_PAGE: u64 = 2;
/// `PAGE_SIZE` as a physical-address offset.
const PAGE_BYTES: u64 = 4096;
/// [`IDENTITY_TABLES_SIZE`] as a physical-address length.
const TABLES_BYTES: u64 = (FIRST_PD_PAGE + PAGE_DIRECTORIES) * PAGE_BYTES;
/// Physical-address bits 51:12 of an entry.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Why the identity tables could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageTableError {
    /// The output buffer has `len` bytes, fewer than
    /// [`IDENTITY_TABLES_SIZE`].
    BufferTooSmall { len: usize },
    /// The tables' physical address is not 4 KiB aligned.
    Unaligned { table_phys: u64 },
    /// The tables would not end at or below [`IDENTITY_LIMIT`], so CR3
    /// could not be loaded with them from 32-bit code.
    AboveFourGiB { table_phys: u64 },
}

impl fmt::Display for PageTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PageTableError::BufferTooSmall { len } => write!(
                f,
                "page table buffer of {len} bytes is smaller than {IDENTITY_TABLES_SIZE}"
            ),
            PageTableError::Unaligned { table_phys } => {
                write!(f, "page tables at {table_phys:#x} are not 4 KiB aligned")
            }
            PageTableError::AboveFourGiB { table_phys } => {
                write!(f, "page tables at {table_phys:#x} do not lie below 4 GiB")
            }
        }
    }
}

/// Fills the first [`IDENTITY_TABLES_SIZE`] bytes of `out` with tables that
/// identity map physical `[0, 4 GiB)`, for use at physical address
/// `table_phys`, and returns the value to load into CR3 (`table_phys`
/// itself: no PCD or PWT).
///
/// `table_phys` must be 4 KiB aligned and the tables must end at or below
/// 4 GiB. Bytes of `out` past [`IDENTITY_TABLES_SIZE`] are left alone; on
/// error `out` is unchanged.
pub fn build_identity_tables(out: &mut [u8], table_phys: u64) -> Result<u64, PageTableError> {
    let len = out.len();
    let tables = out
        .get_mut(..IDENTITY_TABLES_SIZE)
        .ok_or(PageTableError::BufferTooSmall { len })?;
    if table_phys & (PAGE_BYTES - 1) != 0 {
        return Err(PageTableError::Unaligned { table_phys });
    }
    let fits = table_phys
        .checked_add(TABLES_BYTES)
        .is_some_and(|end| end <= IDENTITY_LIMIT);
    if !fits {
        return Err(PageTableError::AboveFourGiB { table_phys });
    }
    for (page, table) in (0u64..).zip(tables.chunks_exact_mut(PAGE_SIZE)) {
        for (slot, entry) in (0u64..).zip(table.chunks_exact_mut(ENTRY_SIZE)) {
            let value = identity_entry(table_phys, page, slot);
            for (byte, value_byte) in entry.iter_mut().zip(value.to_le_bytes()) {
                *byte = value_byte;
            }
        }
    }
    Ok(table_phys)
}

/// The entry at index `slot` of page `page` of the identity tables.
fn identity_entry(table_phys: u64, page: u64, slot: u64) -> u64 {
    let page_address = |n: u64| table_phys.saturating_add(n.saturating_mul(PAGE_BYTES));
    match page {
        0 if slot == 0 => page_address(PDPT_PAGE) | TABLE_FLAGS,
        PDPT_PAGE if slot < PAGE_DIRECTORIES => {
            page_address(FIRST_PD_PAGE.saturating_add(slot)) | TABLE_FLAGS
        }
        _ if (FIRST_PD_PAGE..FIRST_PD_PAGE + PAGE_DIRECTORIES).contains(&page) => {
            let large_page = page
                .saturating_sub(FIRST_PD_PAGE)
                .saturating_mul(ENTRIES_PER_TABLE)
                .saturating_add(slot);
            large_page.saturating_mul(TWO_MIB) | LARGE_PAGE_FLAGS
        }
        _ => 0,
    }
}

/// Translates virtual address `virt` by walking page tables, the way the
/// CPU would with CR3 = `table_phys`; `None` if it is not mapped.
///
/// For tests and the debug dump of a secondary's boot state, not for the
/// boot path. `tables` holds the memory starting at physical `table_phys`;
/// a table pointed at outside that memory counts as unmapped, as do
/// non-canonical addresses and entries with a reserved PageSize bit in the
/// PML4. 1 GiB, 2 MiB and 4 KiB pages are followed; permission bits are
/// ignored.
pub fn walk(tables: &[u8], table_phys: u64, virt: u64) -> Option<u64> {
    let sign = virt >> 47;
    if sign != 0 && sign != 0x1_ffff {
        return None;
    }
    let index = |level_shift: u32| (virt >> level_shift) % ENTRIES_PER_TABLE;

    let pml4e = read_entry(tables, table_phys, table_phys & ADDR_MASK, index(39))?;
    if pml4e & PTE_PAGE_SIZE != 0 {
        return None;
    }
    let pdpte = read_entry(tables, table_phys, pml4e & ADDR_MASK, index(30))?;
    if pdpte & PTE_PAGE_SIZE != 0 {
        return Some(large_page(pdpte, virt, 30));
    }
    let pde = read_entry(tables, table_phys, pdpte & ADDR_MASK, index(21))?;
    if pde & PTE_PAGE_SIZE != 0 {
        return Some(large_page(pde, virt, 21));
    }
    let pte = read_entry(tables, table_phys, pde & ADDR_MASK, index(12))?;
    Some(large_page(pte, virt, 12))
}

/// The physical address `virt` maps to through a leaf entry for a page of
/// `1 << page_shift` bytes.
fn large_page(entry: u64, virt: u64, page_shift: u32) -> u64 {
    let offset_mask = !(u64::MAX << page_shift);
    (entry & ADDR_MASK & !offset_mask) | (virt & offset_mask)
}

/// The present entry `index` of the table at physical `table`, read from
/// `tables` (which starts at physical `base`).
fn read_entry(tables: &[u8], base: u64, table: u64, index: u64) -> Option<u64> {
    let at = table
        .checked_sub(base)?
        .checked_add(index.checked_mul(8)?)?;
    let at = usize::try_from(at).ok()?;
    let bytes = tables.get(at..at.checked_add(ENTRY_SIZE)?)?;
    let entry = u64::from_le_bytes(bytes.try_into().ok()?);
    (entry & PTE_PRESENT != 0).then_some(entry)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    const PHYS: u64 = 0x0010_0000;

    fn build(table_phys: u64) -> Vec<u8> {
        let mut out = vec![0xa5; IDENTITY_TABLES_SIZE];
        assert_eq!(build_identity_tables(&mut out, table_phys), Ok(table_phys));
        out
    }

    fn entry(tables: &[u8], page: usize, slot: usize) -> u64 {
        let at = page * PAGE_SIZE + slot * 8;
        u64::from_le_bytes(tables[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn size_is_six_pages() {
        assert_eq!(IDENTITY_TABLES_SIZE, 24576);
        assert_eq!(TABLE_FLAGS, 0x3);
        assert_eq!(LARGE_PAGE_FLAGS, 0x83);
    }

    #[test]
    fn entries_are_exactly_as_specified() {
        let t = build(PHYS);
        assert_eq!(entry(&t, 0, 0), PHYS + 0x1000 + 0x3);
        for pd in 0..4 {
            assert_eq!(entry(&t, 1, pd), PHYS + 0x2000 + 0x1000 * pd as u64 + 0x3);
        }
        for pd in 0..4usize {
            for slot in 0..512usize {
                let phys = (pd as u64 * GIB) + slot as u64 * 2 * MIB;
                assert_eq!(entry(&t, 2 + pd, slot), phys | 0x83);
            }
        }
        // Nothing else is set.
        let nonzero = t
            .chunks_exact(8)
            .filter(|e| e.iter().any(|&b| b != 0))
            .count();
        assert_eq!(nonzero, 1 + 4 + 4 * 512);
        for slot in 1..512 {
            assert_eq!(entry(&t, 0, slot), 0);
        }
        for slot in 4..512 {
            assert_eq!(entry(&t, 1, slot), 0);
        }
    }

    #[test]
    fn little_endian_encoding() {
        let t = build(0x1234_5000);
        assert_eq!(&t[0..8], &[0x03, 0x60, 0x34, 0x12, 0, 0, 0, 0]);
        // PD entry 1 of the second GiB: 0x40200083.
        let at = 3 * PAGE_SIZE + 8;
        assert_eq!(&t[at..at + 8], &[0x83, 0x00, 0x20, 0x40, 0, 0, 0, 0]);
    }

    #[test]
    fn identity_maps_the_low_four_gib() {
        let t = build(PHYS);
        for addr in [
            0,
            0x1000,
            2 * MIB - 1,
            2 * MIB,
            PHYS,
            GIB - 1,
            GIB,
            GIB + 12345,
            2 * GIB,
            3 * GIB + 7,
            4 * GIB - 2 * MIB,
            4 * GIB - 1,
        ] {
            assert_eq!(walk(&t, PHYS, addr), Some(addr), "{addr:#x}");
        }
        for addr in [
            4 * GIB,
            4 * GIB + 1,
            5 * GIB,
            512 * GIB - 1,
            512 * GIB,
            (1 << 47) - 1,
            0xffff_8000_0000_0000,
            0xffff_ffff_8000_0000,
            u64::MAX,
        ] {
            assert_eq!(walk(&t, PHYS, addr), None, "{addr:#x}");
        }
        // Non-canonical addresses are never translated.
        assert_eq!(walk(&t, PHYS, 1 << 47), None);
        assert_eq!(walk(&t, PHYS, 1 << 63), None);
    }

    #[test]
    fn every_two_mib_page_is_identity_mapped() {
        let t = build(0x8000);
        for page in 0..2048u64 {
            let base = page * 2 * MIB;
            assert_eq!(walk(&t, 0x8000, base), Some(base));
            assert_eq!(
                walk(&t, 0x8000, base + 2 * MIB - 1),
                Some(base + 2 * MIB - 1)
            );
        }
    }

    #[test]
    fn overwrites_stale_bytes_and_leaves_the_rest() {
        let mut out = vec![0xffu8; IDENTITY_TABLES_SIZE + 100];
        assert_eq!(build_identity_tables(&mut out, 0), Ok(0));
        assert!(out[IDENTITY_TABLES_SIZE..].iter().all(|&b| b == 0xff));
        let fresh = build(0);
        assert_eq!(&out[..IDENTITY_TABLES_SIZE], &fresh[..]);
        assert_eq!(walk(&out, 0, 0x1234), Some(0x1234));
    }

    #[test]
    fn refuses_small_buffers() {
        for len in [0, 8, PAGE_SIZE, IDENTITY_TABLES_SIZE - 1] {
            let mut out = vec![0x5au8; len];
            assert_eq!(
                build_identity_tables(&mut out, PHYS),
                Err(PageTableError::BufferTooSmall { len })
            );
            assert!(out.iter().all(|&b| b == 0x5a));
        }
    }

    #[test]
    fn refuses_unaligned_addresses() {
        let mut out = vec![0x5au8; IDENTITY_TABLES_SIZE];
        for table_phys in [1, 0x800, PHYS + 8, 4 * GIB - 1, u64::MAX] {
            assert_eq!(
                build_identity_tables(&mut out, table_phys),
                Err(PageTableError::Unaligned { table_phys })
            );
        }
        assert!(out.iter().all(|&b| b == 0x5a));
    }

    #[test]
    fn refuses_tables_that_reach_above_four_gib() {
        let mut out = vec![0u8; IDENTITY_TABLES_SIZE];
        let highest = 4 * GIB - IDENTITY_TABLES_SIZE as u64;
        assert_eq!(build_identity_tables(&mut out, highest), Ok(highest));
        assert_eq!(walk(&out, highest, highest), Some(highest));
        for table_phys in [
            highest + 0x1000,
            4 * GIB - 0x1000,
            4 * GIB,
            8 * GIB,
            u64::MAX - 0xfff,
        ] {
            assert_eq!(
                build_identity_tables(&mut out, table_phys),
                Err(PageTableError::AboveFourGiB { table_phys })
            );
        }
    }

    #[test]
    fn walk_needs_the_right_base() {
        let t = build(PHYS);
        // Read as if at another address, the pointers lead outside the
        // buffer (or to the wrong table), never to a panic.
        assert_eq!(walk(&t, PHYS + 0x10_0000, 0x1000), None);
        assert_eq!(walk(&t, 0, 0x1000), None);
        assert_eq!(walk(&t[..PAGE_SIZE], PHYS, 0x1000), None);
        assert_eq!(walk(&[], PHYS, 0), None);
    }

    #[test]
    fn walk_follows_one_gib_and_four_kib_pages() {
        // PML4 at 0, PDPT at 0x1000, PD at 0x2000, PT at 0x3000.
        fn set(t: &mut [u8], page: usize, slot: usize, value: u64) {
            let at = page * PAGE_SIZE + slot * 8;
            t[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        let mut t = vec![0u8; 4 * PAGE_SIZE];
        set(&mut t, 0, 0, 0x1000 | 0x3);
        set(&mut t, 1, 0, 0x2000 | 0x3);
        set(&mut t, 1, 1, 0x8000_0000 | 0x83 | (1 << 63)); // 1 GiB page, NX
        set(&mut t, 2, 0, 0x3000 | 0x3);
        set(&mut t, 3, 5, 0x7_0000_0000 | 0x3); // 4 KiB page
        set(&mut t, 3, 6, 0x7_0000_1000); // not present
        assert_eq!(walk(&t, 0, GIB + 0x123), Some(2 * GIB + 0x123));
        assert_eq!(walk(&t, 0, 0x5abc), Some(0x7_0000_0abc));
        assert_eq!(walk(&t, 0, 0x6000), None);
        assert_eq!(walk(&t, 0, 0x4000), None);
        assert_eq!(walk(&t, 0, 2 * MIB), None);
        // A PageSize bit in the PML4 is reserved.
        set(&mut t, 0, 0, 0x1000 | 0x83);
        assert_eq!(walk(&t, 0, GIB), None);
    }

    #[test]
    fn display() {
        assert_eq!(
            PageTableError::BufferTooSmall { len: 10 }.to_string(),
            "page table buffer of 10 bytes is smaller than 24576"
        );
        assert_eq!(
            PageTableError::Unaligned { table_phys: 0x1001 }.to_string(),
            "page tables at 0x1001 are not 4 KiB aligned"
        );
        assert_eq!(
            PageTableError::AboveFourGiB {
                table_phys: 0x1_0000_0000
            }
            .to_string(),
            "page tables at 0x100000000 do not lie below 4 GiB"
        );
    }

    proptest! {
        #[test]
        fn low_addresses_map_to_themselves(
            page in 0u64..(IDENTITY_LIMIT - IDENTITY_TABLES_SIZE as u64) / 4096 + 1,
            addrs in proptest::collection::vec(0u64..IDENTITY_LIMIT, 1..32),
            high in IDENTITY_LIMIT..=u64::MAX,
        ) {
            let table_phys = page * 4096;
            let t = build(table_phys);
            prop_assert_eq!(entry(&t, 0, 0), table_phys + 0x1003);
            for addr in addrs {
                prop_assert_eq!(walk(&t, table_phys, addr), Some(addr));
            }
            prop_assert_eq!(walk(&t, table_phys, high), None);
        }

        #[test]
        fn build_never_panics(len in 0usize..IDENTITY_TABLES_SIZE + 16, table_phys in any::<u64>()) {
            let mut out = vec![0u8; len];
            if let Ok(cr3) = build_identity_tables(&mut out, table_phys) {
                prop_assert_eq!(cr3, table_phys);
                prop_assert_eq!(table_phys % 4096, 0);
                prop_assert!(table_phys + IDENTITY_TABLES_SIZE as u64 <= IDENTITY_LIMIT);
            }
        }

        #[test]
        fn walk_survives_corrupted_tables(
            flips in proptest::collection::vec((0..IDENTITY_TABLES_SIZE, any::<u8>()), 1..16),
            virts in proptest::collection::vec(any::<u64>(), 1..16),
        ) {
            let mut t = build(PHYS);
            for (at, value) in flips {
                t[at] = value;
            }
            for virt in virts {
                let _ = walk(&t, PHYS, virt);
                let _ = walk(&t, PHYS, virt % IDENTITY_LIMIT);
            }
        }

        #[test]
        fn walk_never_panics(
            tables in proptest::collection::vec(any::<u8>(), 0..3 * PAGE_SIZE),
            table_phys in any::<u64>(),
            virt in any::<u64>(),
        ) {
            let _ = walk(&tables, table_phys, virt);
        }
    }
}
