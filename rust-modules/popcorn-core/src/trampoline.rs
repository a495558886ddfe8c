//! The start-up trampoline's header: what the loader fills in before it
//! sends INIT/SIPI to a secondary's first CPU, and what it reads back.
//!
//! The trampoline is assembled into the primary kernel
//! (`arch/x86/kernel/popcorn_trampoline.S`, linux-patches/0005) and copied
//! to the page below 1 MiB that `popcorn.reserve=` set aside. The CPU starts
//! at the page's first byte in real mode (SIPI vector = page number), makes
//! its own absolute addresses from `%cs`, loads the page tables, enables
//! long mode and jumps to the kernel's 64-bit entry with `%rsi` = zero page.
//! The header is at the start of the page (a short jump skips it):
//!
//! | Offset | Size | Field       | Written by                                          |
//! |--------|------|-------------|-----------------------------------------------------|
//! | `0x00` | 2    | `jmp`       | blob                                                |
//! | `0x04` | 4    | `magic`     | blob: [`MAGIC`], `PCTR`                             |
//! | `0x08` | 4    | `status`    | loader 0; trampoline 1, 2, 3 ([`Progress`])         |
//! | `0x0c` | 4    | `version`   | blob: [`VERSION`]                                   |
//! | `0x10` | 24   | GDTR, far jumps | blob, relocated by the trampoline itself        |
//! | `0x28` | 4    | `cr3`       | loader: identity page tables, below 4 GiB           |
//! | `0x30` | 8    | `entry`     | loader: kernel load address + [`ENTRY_64_OFFSET`]   |
//! | `0x38` | 8    | `zero_page` | loader: physical address of `struct boot_params`    |
//! | `0x40` | 32   | GDT         | blob                                                |
//!
//! The offsets are also `#define`s in `include/linux/popcorn.h`; the kernel
//! module checks at build time that both agree.
//!
//! The trampoline writes `status` 3 only after it has read every field, so
//! once the loader sees 3 it may reuse the page for the next kernel.
//!
//! Requires: `crate::le`.

use core::fmt;

use crate::le::{put, read_u32};

/// `magic`: the bytes `PCTR` in memory.
pub const MAGIC: u32 = 0x5254_4350;
/// The header version this file describes.
pub const VERSION: u32 = 1;
/// Offset of `magic`.
pub const MAGIC_OFFSET: usize = 0x04;
/// Offset of `status`.
pub const STATUS_OFFSET: usize = 0x08;
/// Offset of `version`.
pub const VERSION_OFFSET: usize = 0x0c;
/// Offset of `cr3`.
pub const CR3_OFFSET: usize = 0x28;
/// Offset of `entry`.
pub const ENTRY_OFFSET: usize = 0x30;
/// Offset of `zero_page`.
pub const ZERO_PAGE_OFFSET: usize = 0x38;
/// The header ends here; the blob is longer.
pub const HEADER_SIZE: usize = 0x60;
/// The page the trampoline runs in.
pub const PAGE_SIZE: usize = 4096;
/// The 64-bit entry point's offset from the kernel's load address
/// (`Documentation/arch/x86/boot.rst`).
pub const ENTRY_64_OFFSET: u64 = 0x200;
/// SIPI can start a CPU only below this (vectors 0xa0-0xff are reserved).
const SIPI_LIMIT: u64 = 0xa_0000;

/// How far the CPU got, from `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// 0: the CPU never ran the trampoline.
    NotStarted,
    /// 1: in real mode.
    RealMode,
    /// 2: in protected mode, about to enable paging.
    ProtectedMode,
    /// 3: in long mode, jumped to the kernel.
    LongMode,
    /// Anything else: the page was overwritten.
    Invalid(u32),
}

impl Progress {
    /// Decodes `status`.
    pub fn from_status(status: u32) -> Self {
        match status {
            0 => Progress::NotStarted,
            1 => Progress::RealMode,
            2 => Progress::ProtectedMode,
            3 => Progress::LongMode,
            other => Progress::Invalid(other),
        }
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::NotStarted => write!(f, "the CPU never ran the trampoline"),
            Progress::RealMode => write!(f, "stopped in real mode"),
            Progress::ProtectedMode => write!(f, "stopped in protected mode"),
            Progress::LongMode => write!(f, "reached the kernel's 64-bit entry"),
            Progress::Invalid(v) => write!(f, "unknown trampoline status {v:#x}"),
        }
    }
}

/// Why a trampoline cannot be prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrampolineError {
    /// The page is 0, not page aligned, or too high for SIPI.
    BadPage { addr: u64 },
    /// The blob is shorter than its header or longer than a page.
    BadBlobLength { len: usize },
    /// The destination is shorter than the blob.
    PageTooSmall { len: usize },
    /// The blob does not start with the expected header.
    BadMagic { found: u32 },
    /// The blob's header has another version.
    BadVersion { found: u32 },
    /// CR3 must be page aligned and below 4 GiB (loaded in 32-bit mode).
    BadCr3 { cr3: u64 },
}

impl fmt::Display for TrampolineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrampolineError::BadPage { addr } => {
                write!(f, "trampoline page {addr:#x} cannot be started by SIPI")
            }
            TrampolineError::BadBlobLength { len } => {
                write!(
                    f,
                    "trampoline code is {len} bytes, not {HEADER_SIZE} to {PAGE_SIZE}"
                )
            }
            TrampolineError::PageTooSmall { len } => {
                write!(f, "trampoline page mapping is only {len} bytes")
            }
            TrampolineError::BadMagic { found } => {
                write!(f, "trampoline code has magic {found:#x}, not {MAGIC:#x}")
            }
            TrampolineError::BadVersion { found } => {
                write!(f, "trampoline header version {found}, not {VERSION}")
            }
            TrampolineError::BadCr3 { cr3 } => {
                write!(
                    f,
                    "page tables at {cr3:#x} are not page aligned below 4 GiB"
                )
            }
        }
    }
}

/// The SIPI vector that starts a CPU at `addr`: the page number. Refuses
/// 0, an unaligned address and anything at or above 0xa0000.
pub fn sipi_vector(addr: u64) -> Result<u8, TrampolineError> {
    if addr == 0 || !addr.is_multiple_of(PAGE_SIZE as u64) || addr >= SIPI_LIMIT {
        return Err(TrampolineError::BadPage { addr });
    }
    u8::try_from(addr >> 12).map_err(|_| TrampolineError::BadPage { addr })
}

/// Copies `blob` to the start of `page` (the rest of the page is left as
/// it is) and fills in the header: `status` 0, `cr3`, `entry` and
/// `zero_page`. Checks the blob's magic and version and the values first;
/// on error `page` is unchanged.
pub fn prepare(
    page: &mut [u8],
    blob: &[u8],
    cr3: u64,
    entry: u64,
    zero_page: u64,
) -> Result<(), TrampolineError> {
    let len = blob.len();
    if !(HEADER_SIZE..=PAGE_SIZE).contains(&len) {
        return Err(TrampolineError::BadBlobLength { len });
    }
    let page_len = page.len();
    let dest = page
        .get_mut(..len)
        .ok_or(TrampolineError::PageTooSmall { len: page_len })?;
    let magic = read_u32(blob, MAGIC_OFFSET).unwrap_or(0);
    if magic != MAGIC {
        return Err(TrampolineError::BadMagic { found: magic });
    }
    let version = read_u32(blob, VERSION_OFFSET).unwrap_or(0);
    if version != VERSION {
        return Err(TrampolineError::BadVersion { found: version });
    }
    let cr3_32 = u32::try_from(cr3).map_err(|_| TrampolineError::BadCr3 { cr3 })?;
    if cr3 == 0 || !cr3.is_multiple_of(PAGE_SIZE as u64) {
        return Err(TrampolineError::BadCr3 { cr3 });
    }
    dest.copy_from_slice(blob);
    // The blob is at least HEADER_SIZE bytes: every field fits.
    put(dest, STATUS_OFFSET, &0u32.to_le_bytes());
    put(dest, CR3_OFFSET, &cr3_32.to_le_bytes());
    put(dest, ENTRY_OFFSET, &entry.to_le_bytes());
    put(dest, ZERO_PAGE_OFFSET, &zero_page.to_le_bytes());
    Ok(())
}

/// Reads `status` from a prepared page (0 if the page is too short).
pub fn status(page: &[u8]) -> Progress {
    Progress::from_status(read_u32(page, STATUS_OFFSET).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    /// A blob shaped like the real one: jump, magic, status, version.
    fn blob() -> Vec<u8> {
        let mut b = vec![0x90u8; 0x110];
        b[0] = 0xeb;
        b[1] = 0x5e;
        b[4..8].copy_from_slice(b"PCTR");
        b[8..12].copy_from_slice(&0u32.to_le_bytes());
        b[12..16].copy_from_slice(&1u32.to_le_bytes());
        b[0x28..0x40].fill(0);
        b
    }

    #[test]
    fn magic_spells_pctr() {
        assert_eq!(&MAGIC.to_le_bytes(), b"PCTR");
    }

    #[test]
    fn prepare_fills_the_header() {
        let mut page = vec![0xccu8; PAGE_SIZE];
        page[STATUS_OFFSET] = 3;
        prepare(&mut page, &blob(), 0x7b01_4000, 0x3f40_0200, 0x7b01_0000).unwrap();
        assert_eq!(&page[4..8], b"PCTR");
        assert_eq!(status(&page), Progress::NotStarted);
        assert_eq!(
            &page[CR3_OFFSET..CR3_OFFSET + 4],
            &0x7b01_4000u32.to_le_bytes()
        );
        assert_eq!(
            &page[ENTRY_OFFSET..ENTRY_OFFSET + 8],
            &0x3f40_0200u64.to_le_bytes()
        );
        assert_eq!(
            &page[ZERO_PAGE_OFFSET..ZERO_PAGE_OFFSET + 8],
            &0x7b01_0000u64.to_le_bytes()
        );
        // Code after the header is copied untouched, the rest left alone.
        assert!(page[0x60..0x110].iter().all(|&b| b == 0x90));
        assert!(page[0x110..].iter().all(|&b| b == 0xcc));
    }

    #[test]
    fn prepare_refuses_and_leaves_the_page() {
        let good = blob();
        let mut bad_magic = good.clone();
        bad_magic[4] = b'X';
        let mut bad_version = good.clone();
        bad_version[12] = 2;
        let cases: Vec<(Vec<u8>, u64, TrampolineError)> = vec![
            (
                good[..0x5f].to_vec(),
                0x1000,
                TrampolineError::BadBlobLength { len: 0x5f },
            ),
            (
                vec![0; PAGE_SIZE + 1],
                0x1000,
                TrampolineError::BadBlobLength { len: PAGE_SIZE + 1 },
            ),
            (
                bad_magic,
                0x1000,
                TrampolineError::BadMagic { found: 0x5254_4358 },
            ),
            (
                bad_version,
                0x1000,
                TrampolineError::BadVersion { found: 2 },
            ),
            (
                good.clone(),
                0x1_0000_0000,
                TrampolineError::BadCr3 { cr3: 0x1_0000_0000 },
            ),
            (
                good.clone(),
                0x1008,
                TrampolineError::BadCr3 { cr3: 0x1008 },
            ),
            (good.clone(), 0, TrampolineError::BadCr3 { cr3: 0 }),
        ];
        for (blob, cr3, error) in cases {
            let mut page = vec![0xccu8; PAGE_SIZE];
            assert_eq!(prepare(&mut page, &blob, cr3, 1, 2), Err(error));
            assert!(page.iter().all(|&b| b == 0xcc));
        }
        let mut short = vec![0u8; 0x100];
        assert_eq!(
            prepare(&mut short, &good, 0x1000, 1, 2),
            Err(TrampolineError::PageTooSmall { len: 0x100 })
        );
    }

    #[test]
    fn sipi_vectors() {
        assert_eq!(sipi_vector(0x9e000), Ok(0x9e));
        assert_eq!(sipi_vector(0x1000), Ok(1));
        for addr in [0, 0x9e001, 0xa0000, 0x10_0000, u64::MAX] {
            assert_eq!(sipi_vector(addr), Err(TrampolineError::BadPage { addr }));
        }
    }

    #[test]
    fn progress_decodes_and_reads() {
        assert_eq!(Progress::from_status(0), Progress::NotStarted);
        assert_eq!(Progress::from_status(2), Progress::ProtectedMode);
        assert_eq!(Progress::from_status(9), Progress::Invalid(9));
        assert_eq!(status(&[0u8; 4]), Progress::NotStarted);
        let mut page = vec![0u8; 16];
        page[STATUS_OFFSET] = 3;
        assert_eq!(status(&page), Progress::LongMode);
        assert_eq!(
            Progress::LongMode.to_string(),
            "reached the kernel's 64-bit entry"
        );
        assert_eq!(
            Progress::Invalid(0x42).to_string(),
            "unknown trampoline status 0x42"
        );
    }

    #[test]
    fn errors_have_log_texts() {
        let cases = [
            (
                TrampolineError::BadPage { addr: 0xa0000 },
                "trampoline page 0xa0000 cannot be started by SIPI",
            ),
            (
                TrampolineError::BadBlobLength { len: 5 },
                "trampoline code is 5 bytes, not 96 to 4096",
            ),
            (
                TrampolineError::BadCr3 { cr3: 0x1008 },
                "page tables at 0x1008 are not page aligned below 4 GiB",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
