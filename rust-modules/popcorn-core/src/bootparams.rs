//! The zero page a secondary kernel is entered with, and Popcorn's own
//! `setup_data` entry, which tells it what it owns.
//!
//! ## Zero page
//!
//! A secondary is entered through the 64-bit entry point with `%rsi`
//! holding the physical address of its zero page, `struct boot_params`
//! (`Documentation/arch/x86/boot.rst` and `zero-page.rst`). As the boot
//! protocol asks, [`build_zero_page`] starts from a zeroed page, copies the
//! setup header from the image to the same offsets, then fills in what a
//! boot loader writes. All values little-endian:
//!
//! | Offset            | Size | Field                                  | Value                                        |
//! |-------------------|------|----------------------------------------|----------------------------------------------|
//! | `0x000`           | 4096 | the whole page                         | zero, unless written below                   |
//! | `0x1f1`           | var. | setup header, up to the image's end    | copied from the image                        |
//! | `0x070`           | 8    | `acpi_rsdp_addr`                       | 0: the secondary has no ACPI                 |
//! | `0x0c0`           | 4    | `ext_ramdisk_image`                    | ramdisk address, high 32 bits                |
//! | `0x0c4`           | 4    | `ext_ramdisk_size`                     | ramdisk size, high 32 bits                   |
//! | `0x0c8`           | 4    | `ext_cmd_line_ptr`                     | command line address, high 32 bits           |
//! | `0x1e8`, `0x2d0`  |      | `e820_entries`, `e820_table`           | the secondary's map (`e820.rs`)              |
//! | `0x1ef`           | 1    | `sentinel`                             | 0: the page was built clean                  |
//! | `0x1fa`           | 2    | `vid_mode`                             | `0xffff`, "normal"                           |
//! | `0x210`           | 1    | `type_of_loader`                       | `0xff`, a loader without an assigned id      |
//! | `0x211`           | 1    | `loadflags`                            | the image's, with `CAN_USE_HEAP` cleared     |
//! | `0x218`           | 4    | `ramdisk_image`                        | ramdisk address, low 32 bits (0: none)       |
//! | `0x21c`           | 4    | `ramdisk_size`                         | ramdisk size, low 32 bits (0: none)          |
//! | `0x224`           | 2    | `heap_end_ptr`                         | 0: no real-mode heap                         |
//! | `0x226`           | 2    | `ext_loader_ver`, `ext_loader_type`    | 0                                            |
//! | `0x228`           | 4    | `cmd_line_ptr`                         | command line address, low 32 bits            |
//! | `0x23c`           | 4    | `hardware_subarch`                     | 0, the x86 PC                                |
//! | `0x250`           | 8    | `setup_data`                           | address of the `setup_data` list (0: none)   |
//!
//! Choices, and why:
//!
//! - `loadflags` keeps the image's bits (`LOADED_HIGH`, and `QUIET_FLAG`
//!   and `KEEP_SEGMENTS` if a kernel ever ships with them) except
//!   `CAN_USE_HEAP`: that bit says `heap_end_ptr` is valid, and there is no
//!   real-mode heap because the real-mode setup code never runs.
//!   `KASLR_FLAG` is the decompressor's to set and clear.
//! - `screen_info` (0x000) stays zero: no VGA text console, so the
//!   decompressor and the kernel never write to the screen the primary owns.
//! - `code32_start`, `kernel_alignment`, `hardware_subarch_data` and the
//!   rest of the header stay as in the image: the 64-bit entry does not use
//!   `code32_start`, and the others are the kernel's to report.
//! - The ext fields are written whenever the high halves are non-zero, but
//!   a command line or ramdisk at or above 4 GiB is refused unless the
//!   image sets `XLF_CAN_BE_LOADED_ABOVE_4G`, which boot.rst makes the
//!   condition for placing them there. Without it the ramdisk must also end
//!   at or below the image's `initrd_addr_max` (0x22c); with it that field
//!   is ignored, as other loaders do.
//! - A command line is required (`cmd_line_ptr` 0 means a pre-2.02 loader),
//!   and a ramdisk address with a zero size is refused: it is an empty
//!   initrd file, which the kernel would silently ignore.
//!
//! [`ZeroPageSummary`] reads the key fields back for the debug dump, one
//! `key: value` line each.
//!
//! ## Popcorn's `setup_data` entry
//!
//! A secondary learns what it owns from one node of the zero page's
//! `setup_data` list, of type [`SETUP_POPCORN`]. This is an ABI between
//! kernels: the secondary's C platform code parses it. Everything is
//! little-endian and at fixed offsets, with no padding the table does not
//! show. The node header is Linux's `struct setup_data`:
//!
//! | Offset | Size | Field     | Type  | Value                                           |
//! |--------|------|-----------|-------|-------------------------------------------------|
//! | `0x00` | 8    | `next`    | `u64` | physical address of the next node, 0 at the end |
//! | `0x08` | 4    | `type`    | `u32` | [`SETUP_POPCORN`], `0x504f5043`                 |
//! | `0x0c` | 4    | `len`     | `u32` | payload bytes: 192 (`0xc0`) in version 1        |
//!
//! The payload follows at node offset 0x10 (so 8-byte fields are 8-byte
//! aligned when the node is); offsets below are from the payload's start:
//!
//! | Offset | Size | Field              | Type       | Value                                                     |
//! |--------|------|--------------------|------------|-----------------------------------------------------------|
//! | `0x00` | 4    | `magic`            | `u32`      | [`POPCORN_MAGIC`], `0x4e524f43`: bytes `CORN`             |
//! | `0x04` | 2    | `version`          | `u16`      | 1                                                         |
//! | `0x06` | 2    | `size`             | `u16`      | payload bytes, 192 (`0xc0`); equals the node's `len`      |
//! | `0x08` | 4    | `kernel_id`        | `u32`      | this kernel's id, 1 or more (0 is the primary)            |
//! | `0x0c` | 4    | `nr_cpus`          | `u32`      | CPUs this kernel owns, 1 to 32                            |
//! | `0x10` | 4    | `boot_cpu_apic_id` | `u32`      | APIC ID of the primary's boot CPU                         |
//! | `0x14` | 4    | `notify_apic_id`   | `u32`      | APIC ID to send Popcorn's IPIs to                         |
//! | `0x18` | 128  | `apic_ids`         | `u32[32]`  | this kernel's CPUs, first = its boot CPU; unused are 0    |
//! | `0x98` | 8    | `shared_base`      | `u64`      | physical base of the shared window                        |
//! | `0xa0` | 8    | `shared_size`      | `u64`      | its size in bytes                                         |
//! | `0xa8` | 4    | `tsc_khz`          | `u32`      | TSC frequency in kHz, not 0                               |
//! | `0xac` | 4    | `lapic_khz`        | `u32`      | local APIC timer input frequency in kHz, 0 if unknown     |
//! | `0xb0` | 2    | `console_port`     | `u16`      | I/O port of this kernel's UART (e.g. `0x2f8`), 0 for none |
//! | `0xb2` | 6    | `reserved`         | `u8[6]`    | 0                                                         |
//! | `0xb8` | 8    | `control_phys`     | `u64`      | physical address of this kernel's control page            |
//!
//! Notes for the secondary's side:
//!
//! - [`SETUP_POPCORN`] is far from Linux's own types (1 to 10 so far, and
//!   bit 31 is `SETUP_INDIRECT`, clear here); its hex digits spell `POPC`,
//!   so in memory the little-endian bytes read `CPOP`. The magic's bytes in
//!   memory read `CORN`.
//! - Register `boot_cpu_apic_id` first, as a CPU that is not this kernel's,
//!   then `apic_ids[0..nr_cpus]`: otherwise Linux takes the first CPU
//!   registered after its own boot CPU for the real BSP and decides it is a
//!   crash kernel.
//! - `lapic_khz` is a frequency, not Linux's `lapic_timer_period` (ticks
//!   per jiffy), because the two kernels need not have the same `HZ`: the
//!   secondary sets `lapic_timer_period = lapic_khz * 1000 / HZ`.
//! - A later version may only append fields; it raises `version` and
//!   `size`. A reader refuses versions it does not know.
//!
//! What a reader must check, in this order ([`parse_setup_data`] does the
//! same, and [`build_setup_data`] refuses to write what it would refuse):
//! `type`; `len` at least 8; the node's `len` bytes present; `magic`;
//! `version` is 1; `size` is 192; `len` equals `size`; `reserved` is zero;
//! `kernel_id` not 0; `nr_cpus` from 1 to 32; `apic_ids` past `nr_cpus`
//! zero; no APIC ID is `0xffffffff` (Linux's "no APIC"); no APIC ID twice
//! in `apic_ids`; neither `boot_cpu_apic_id` nor `notify_apic_id` among
//! them; `shared_size` not 0, `shared_base + shared_size` without overflow,
//! both 4 KiB aligned; `tsc_khz` not 0; `control_phys` 4 KiB aligned and
//! its page inside the shared window.
//!
//! Requires: `crate::bzimage` (for [`BzImage`]), `crate::e820` (for
//! [`E820Table`]).

use core::fmt;

use crate::bzimage::{BzImage, SETUP_HEADER_OFFSET};
use crate::e820::{E820Error, E820Table, E820_ENTRY_SIZE, E820_MAX_ENTRIES_ZEROPAGE};
use crate::e820::{ZERO_PAGE_E820_ENTRIES, ZERO_PAGE_E820_TABLE, ZERO_PAGE_SIZE};

/// `type_of_loader` for a loader without an assigned id.
pub const LOADER_TYPE_UNDEFINED: u8 = 0xff;
/// `loadflags` bit: `heap_end_ptr` is valid. Popcorn clears it.
pub const CAN_USE_HEAP: u8 = 1 << 7;
/// `vid_mode` "normal" (`vga=normal`).
pub const VID_MODE_NORMAL: u16 = 0xffff;
/// `hardware_subarch` of the default x86 PC.
pub const SUBARCH_PC: u32 = 0;

/// `setup_data` type of Popcorn's entry; see the module docs.
pub const SETUP_POPCORN: u32 = 0x504f_5043;
/// Magic at the start of the payload: the bytes `CORN` in memory.
pub const POPCORN_MAGIC: u32 = 0x4e52_4f43;
/// The payload version described here.
pub const POPCORN_VERSION: u16 = 1;
/// Most CPUs one secondary can own (`apic_ids` entries).
pub const POPCORN_MAX_CPUS: usize = 32;
/// Size of `struct setup_data` before the payload.
pub const SETUP_DATA_HEADER_SIZE: usize = 16;
/// Size of the version 1 payload.
pub const POPCORN_PAYLOAD_SIZE: usize = 0xc0;
/// Bytes [`build_setup_data`] writes: header and payload.
pub const POPCORN_SETUP_DATA_SIZE: usize = SETUP_DATA_HEADER_SIZE + POPCORN_PAYLOAD_SIZE;
/// An APIC ID no CPU has (Linux's `BAD_APICID`).
pub const INVALID_APIC_ID: u32 = u32::MAX;

// Zero-page offsets (`struct boot_params`).
const OFF_ACPI_RSDP_ADDR: usize = 0x070;
const OFF_EXT_RAMDISK_IMAGE: usize = 0x0c0;
const OFF_EXT_RAMDISK_SIZE: usize = 0x0c4;
const OFF_EXT_CMD_LINE_PTR: usize = 0x0c8;
const OFF_SENTINEL: usize = 0x1ef;
const OFF_VID_MODE: usize = 0x1fa;
const OFF_VERSION: usize = 0x206;
const OFF_TYPE_OF_LOADER: usize = 0x210;
const OFF_LOADFLAGS: usize = 0x211;
const OFF_RAMDISK_IMAGE: usize = 0x218;
const OFF_RAMDISK_SIZE: usize = 0x21c;
const OFF_HEAP_END_PTR: usize = 0x224;
const OFF_EXT_LOADER_VER: usize = 0x226;
const OFF_EXT_LOADER_TYPE: usize = 0x227;
const OFF_CMD_LINE_PTR: usize = 0x228;
const OFF_INITRD_ADDR_MAX: usize = 0x22c;
const OFF_KERNEL_ALIGNMENT: usize = 0x230;
const OFF_XLOADFLAGS: usize = 0x236;
const OFF_CMDLINE_SIZE: usize = 0x238;
const OFF_HARDWARE_SUBARCH: usize = 0x23c;
const OFF_SETUP_DATA: usize = 0x250;

// `struct setup_data` offsets.
const SD_NEXT: usize = 0x00;
const SD_TYPE: usize = 0x08;
const SD_LEN: usize = 0x0c;

// Payload offsets, from the payload's start.
const P_MAGIC: usize = 0x00;
const P_VERSION: usize = 0x04;
const P_SIZE: usize = 0x06;
const P_KERNEL_ID: usize = 0x08;
const P_NR_CPUS: usize = 0x0c;
const P_BOOT_CPU_APIC_ID: usize = 0x10;
const P_NOTIFY_APIC_ID: usize = 0x14;
const P_APIC_IDS: usize = 0x18;
const P_SHARED_BASE: usize = 0x98;
const P_SHARED_SIZE: usize = 0xa0;
const P_TSC_KHZ: usize = 0xa8;
const P_LAPIC_KHZ: usize = 0xac;
const P_CONSOLE_PORT: usize = 0xb0;
const P_RESERVED: usize = 0xb2;
const P_CONTROL_PHYS: usize = 0xb8;
/// The fields `magic`, `version` and `size`: what must be there to tell a
/// payload's version.
const P_PREAMBLE: usize = 8;

const FOUR_GIB: u64 = 1 << 32;
const PAGE_MASK: u64 = 0xfff;

/// Why a zero page or a `setup_data` entry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootParamsError {
    /// The zero-page buffer is shorter than 4096 bytes.
    ZeroPageTooSmall { len: usize },
    /// The image is not the one the [`BzImage`] was parsed from.
    ImageMismatch,
    /// No command line address (0).
    NoCmdline,
    /// A command line at or above 4 GiB, for an image without
    /// `XLF_CAN_BE_LOADED_ABOVE_4G`.
    CmdlineAbove4G { addr: u64 },
    /// A ramdisk address with a zero size.
    EmptyRamdisk { addr: u64 },
    /// `addr + size` of the ramdisk does not fit in 64 bits.
    RamdiskOverflow { addr: u64, size: u64 },
    /// The ramdisk's last byte `last` is above the image's
    /// `initrd_addr_max`, and the image cannot take it above 4 GiB.
    RamdiskTooHigh { last: u64, max: u32 },
    /// Writing the e820 map failed.
    E820(E820Error),
    /// The `setup_data` buffer holds `len` bytes but `needed` are needed.
    BufferTooSmall { len: usize, needed: usize },
    /// A `setup_data` entry of `len` bytes, cut short of `needed`.
    Truncated { len: usize, needed: usize },
    /// A `setup_data` node of another type.
    WrongType { found: u32 },
    /// The node's `len` is not what the payload says it is.
    BadLength { len: u32 },
    /// No [`POPCORN_MAGIC`].
    BadMagic { found: u32 },
    /// A payload version other than [`POPCORN_VERSION`].
    BadVersion { found: u16 },
    /// A payload `size` other than [`POPCORN_PAYLOAD_SIZE`].
    BadSize { found: u16 },
    /// Non-zero reserved byte at payload offset `offset`.
    ReservedNotZero { offset: usize },
    /// Kernel id 0, which is the primary's.
    PrimaryKernelId,
    /// `nr_cpus` is 0 or more than [`POPCORN_MAX_CPUS`].
    BadCpuCount { nr_cpus: u32 },
    /// `apic_ids[index]` is past `nr_cpus` but not zero.
    UnusedApicIdSet { index: usize },
    /// An APIC ID of `0xffffffff`.
    InvalidApicId { apic_id: u32 },
    /// The same APIC ID twice in `apic_ids`.
    DuplicateApicId { apic_id: u32 },
    /// The primary's boot CPU is among the secondary's own.
    BootCpuIsOwn { apic_id: u32 },
    /// The CPU to notify is among the secondary's own.
    NotifyCpuIsOwn { apic_id: u32 },
    /// An empty shared window.
    EmptySharedWindow,
    /// The shared window's base or size is not 4 KiB aligned, or it wraps
    /// past the end of the address space.
    BadSharedWindow { base: u64, size: u64 },
    /// `tsc_khz` is 0.
    NoTscKhz,
    /// `control_phys` is not a 4 KiB aligned page inside the shared window.
    BadControlPage { phys: u64 },
}

impl From<E820Error> for BootParamsError {
    fn from(error: E820Error) -> Self {
        BootParamsError::E820(error)
    }
}

impl fmt::Display for BootParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BootParamsError as E;
        match *self {
            E::ZeroPageTooSmall { len } => {
                write!(f, "zero page is {len} bytes, needs {ZERO_PAGE_SIZE}")
            }
            E::ImageMismatch => write!(f, "image does not match its parsed header"),
            E::NoCmdline => write!(f, "no command line address"),
            E::CmdlineAbove4G { addr } => write!(
                f,
                "command line at {addr:#x} is above 4 GiB, which the kernel does not support"
            ),
            E::EmptyRamdisk { addr } => write!(f, "ramdisk at {addr:#x} is empty"),
            E::RamdiskOverflow { addr, size } => write!(
                f,
                "ramdisk of {size:#x} bytes at {addr:#x} wraps past the end of the address space"
            ),
            E::RamdiskTooHigh { last, max } => write!(
                f,
                "ramdisk ends at {last:#x}, above the kernel's initrd_addr_max {max:#x}"
            ),
            E::E820(error) => write!(f, "e820: {error}"),
            E::BufferTooSmall { len, needed } => {
                write!(f, "setup_data buffer is {len} bytes, needs {needed}")
            }
            E::Truncated { len, needed } => {
                write!(f, "setup_data is {len} bytes, cut short of {needed}")
            }
            E::WrongType { found } => write!(
                f,
                "setup_data type {found:#x} is not Popcorn's ({SETUP_POPCORN:#x})"
            ),
            E::BadLength { len } => write!(
                f,
                "setup_data len {len} does not match the payload ({POPCORN_PAYLOAD_SIZE})"
            ),
            E::BadMagic { found } => write!(
                f,
                "setup_data magic {found:#010x} is not {POPCORN_MAGIC:#010x}"
            ),
            E::BadVersion { found } => {
                write!(f, "setup_data version {found} is not {POPCORN_VERSION}")
            }
            E::BadSize { found } => write!(
                f,
                "setup_data payload size {found} is not {POPCORN_PAYLOAD_SIZE}"
            ),
            E::ReservedNotZero { offset } => {
                write!(f, "setup_data reserved byte at {offset:#x} is not zero")
            }
            E::PrimaryKernelId => write!(f, "kernel id 0 is the primary's"),
            E::BadCpuCount { nr_cpus } => {
                write!(f, "{nr_cpus} CPUs, expected 1 to {POPCORN_MAX_CPUS}")
            }
            E::UnusedApicIdSet { index } => {
                write!(f, "apic_ids[{index}] is past nr_cpus but not zero")
            }
            E::InvalidApicId { apic_id } => write!(f, "invalid APIC ID {apic_id:#x}"),
            E::DuplicateApicId { apic_id } => write!(f, "APIC ID {apic_id} given twice"),
            E::BootCpuIsOwn { apic_id } => write!(
                f,
                "the primary's boot CPU (APIC ID {apic_id}) is among the secondary's CPUs"
            ),
            E::NotifyCpuIsOwn { apic_id } => write!(
                f,
                "the CPU to notify (APIC ID {apic_id}) is among the secondary's CPUs"
            ),
            E::EmptySharedWindow => write!(f, "empty shared window"),
            E::BadSharedWindow { base, size } => write!(
                f,
                "shared window of {size:#x} bytes at {base:#x} is unaligned or wraps"
            ),
            E::NoTscKhz => write!(f, "no TSC frequency"),
            E::BadControlPage { phys } => {
                write!(
                    f,
                    "control page {phys:#x} is not a page of the shared window"
                )
            }
        }
    }
}

/// Where the secondary's boot pieces are, for [`build_zero_page`]. All
/// addresses are physical.
#[derive(Debug, Clone, Copy)]
pub struct ZeroPageParams<'a> {
    /// The NUL-terminated command line. Required.
    pub cmdline_phys: u64,
    /// The initial ramdisk, 0 for none.
    pub ramdisk_phys: u64,
    /// Its size in bytes, 0 for none.
    pub ramdisk_size: u64,
    /// The first `setup_data` node, 0 for none.
    pub setup_data_phys: u64,
    /// The secondary's memory map.
    pub e820: &'a E820Table,
}

/// Builds the zero page for booting the image `image` (parsed as `bz`) in
/// the first 4096 bytes of `out`, as the module docs describe. Bytes of
/// `out` past 4096 are not touched. Refuses, in this order: a buffer under
/// 4096 bytes, an `image` that does not match `bz`, a zero command line
/// address, a command line at or above 4 GiB the image cannot take, a
/// ramdisk address with a zero size, a ramdisk wrapping past 2^64, a
/// ramdisk above what the image can take (see the module docs). On error
/// `out` is unchanged.
pub fn build_zero_page(
    out: &mut [u8],
    image: &[u8],
    bz: &BzImage,
    p: &ZeroPageParams<'_>,
) -> Result<(), BootParamsError> {
    let len = out.len();
    let page = out
        .get_mut(..ZERO_PAGE_SIZE)
        .ok_or(BootParamsError::ZeroPageTooSmall { len })?;

    let header = bz
        .setup_header(image)
        .ok_or(BootParamsError::ImageMismatch)?;
    // Not a proof that `image` is the parsed one, but it catches a mix-up.
    let at = |off: usize| off.checked_sub(SETUP_HEADER_OFFSET).unwrap_or(usize::MAX);
    if read_u16(header, at(OFF_VERSION)) != Some(bz.version())
        || read_u16(header, at(OFF_XLOADFLAGS)) != Some(bz.xloadflags())
        || read_u8(header, at(OFF_LOADFLAGS)) != Some(bz.loadflags())
    {
        return Err(BootParamsError::ImageMismatch);
    }
    let initrd_addr_max =
        read_u32(header, at(OFF_INITRD_ADDR_MAX)).ok_or(BootParamsError::ImageMismatch)?;
    let above_4g = bz.can_load_above_4g();

    if p.cmdline_phys == 0 {
        return Err(BootParamsError::NoCmdline);
    }
    if p.cmdline_phys >= FOUR_GIB && !above_4g {
        return Err(BootParamsError::CmdlineAbove4G {
            addr: p.cmdline_phys,
        });
    }
    if p.ramdisk_size == 0 && p.ramdisk_phys != 0 {
        return Err(BootParamsError::EmptyRamdisk {
            addr: p.ramdisk_phys,
        });
    }
    if p.ramdisk_size != 0 {
        let last = p
            .ramdisk_size
            .checked_sub(1)
            .and_then(|extra| p.ramdisk_phys.checked_add(extra))
            .ok_or(BootParamsError::RamdiskOverflow {
                addr: p.ramdisk_phys,
                size: p.ramdisk_size,
            })?;
        if !above_4g && last > u64::from(initrd_addr_max) {
            return Err(BootParamsError::RamdiskTooHigh {
                last,
                max: initrd_addr_max,
            });
        }
    }

    page.fill(0);
    let header_end = SETUP_HEADER_OFFSET
        .checked_add(header.len())
        .ok_or(BootParamsError::ImageMismatch)?;
    page.get_mut(SETUP_HEADER_OFFSET..header_end)
        .ok_or(BootParamsError::ImageMismatch)?
        .copy_from_slice(header);

    let (cmdline_lo, cmdline_hi) = split(p.cmdline_phys);
    let (ramdisk_lo, ramdisk_hi) = split(p.ramdisk_phys);
    let (size_lo, size_hi) = split(p.ramdisk_size);
    put(page, OFF_ACPI_RSDP_ADDR, 0u64.to_le_bytes())?;
    put(page, OFF_EXT_RAMDISK_IMAGE, ramdisk_hi.to_le_bytes())?;
    put(page, OFF_EXT_RAMDISK_SIZE, size_hi.to_le_bytes())?;
    put(page, OFF_EXT_CMD_LINE_PTR, cmdline_hi.to_le_bytes())?;
    put(page, OFF_SENTINEL, [0])?;
    put(page, OFF_VID_MODE, VID_MODE_NORMAL.to_le_bytes())?;
    put(page, OFF_TYPE_OF_LOADER, [LOADER_TYPE_UNDEFINED])?;
    put(page, OFF_LOADFLAGS, [bz.loadflags() & !CAN_USE_HEAP])?;
    put(page, OFF_RAMDISK_IMAGE, ramdisk_lo.to_le_bytes())?;
    put(page, OFF_RAMDISK_SIZE, size_lo.to_le_bytes())?;
    put(page, OFF_HEAP_END_PTR, 0u16.to_le_bytes())?;
    put(page, OFF_EXT_LOADER_VER, [0])?;
    put(page, OFF_EXT_LOADER_TYPE, [0])?;
    put(page, OFF_CMD_LINE_PTR, cmdline_lo.to_le_bytes())?;
    put(page, OFF_HARDWARE_SUBARCH, SUBARCH_PC.to_le_bytes())?;
    put(page, OFF_SETUP_DATA, p.setup_data_phys.to_le_bytes())?;
    p.e820.write_zero_page(page)?;
    Ok(())
}

/// The low and high 32 bits.
fn split(value: u64) -> (u32, u32) {
    let [a, b, c, d, e, f, g, h] = value.to_le_bytes();
    (
        u32::from_le_bytes([a, b, c, d]),
        u32::from_le_bytes([e, f, g, h]),
    )
}

/// One e820 entry as a zero page holds it, type code unchecked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawE820Entry {
    /// First address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// Type code (1 RAM, 2 reserved, ...).
    pub kind: u32,
}

/// Prints `0x<first>-0x<last> <type>`, 16 hex digits each, the type as
/// `ram`, `reserved` or `type<N>`; an entry of zero bytes or one wrapping
/// past 2^64 prints as `0x<addr>+0x<size> <type> (bad)`.
impl fmt::Display for RawE820Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self
            .size
            .checked_sub(1)
            .and_then(|s| self.addr.checked_add(s));
        match last {
            Some(last) => write!(f, "{:#018x}-{last:#018x} ", self.addr)?,
            None => write!(f, "{:#018x}+{:#x} ", self.addr, self.size)?,
        }
        match self.kind {
            1 => write!(f, "ram")?,
            2 => write!(f, "reserved")?,
            n => write!(f, "type{n}")?,
        }
        if last.is_none() {
            write!(f, " (bad)")?;
        }
        Ok(())
    }
}

/// A built zero page, read back. Any 4096 bytes are accepted: the fields
/// are read as they are, never trusted.
#[derive(Debug, Clone, Copy)]
pub struct ZeroPageSummary<'a> {
    page: &'a [u8],
}

/// Reads back a zero page of at least 4096 bytes (only the first 4096
/// count).
pub fn zero_page_summary(zero_page: &[u8]) -> Result<ZeroPageSummary<'_>, BootParamsError> {
    let page = zero_page
        .get(..ZERO_PAGE_SIZE)
        .ok_or(BootParamsError::ZeroPageTooSmall {
            len: zero_page.len(),
        })?;
    Ok(ZeroPageSummary { page })
}

impl ZeroPageSummary<'_> {
    // The page is 4096 bytes, so every fixed offset below is in it; a
    // failed read still gives 0 rather than a panic.
    fn u8_at(&self, off: usize) -> u8 {
        read_u8(self.page, off).unwrap_or(0)
    }

    fn u16_at(&self, off: usize) -> u16 {
        read_u16(self.page, off).unwrap_or(0)
    }

    fn u32_at(&self, off: usize) -> u32 {
        read_u32(self.page, off).unwrap_or(0)
    }

    fn u64_at(&self, off: usize) -> u64 {
        read_u64(self.page, off).unwrap_or(0)
    }

    fn joined(&self, low: usize, high: usize) -> u64 {
        u64::from(self.u32_at(low)) | u64::from(self.u32_at(high)) << 32
    }

    /// Boot protocol version, 0x020f for 2.15.
    pub fn version(&self) -> u16 {
        self.u16_at(OFF_VERSION)
    }

    /// `type_of_loader`.
    pub fn type_of_loader(&self) -> u8 {
        self.u8_at(OFF_TYPE_OF_LOADER)
    }

    /// `loadflags`.
    pub fn loadflags(&self) -> u8 {
        self.u8_at(OFF_LOADFLAGS)
    }

    /// `xloadflags`.
    pub fn xloadflags(&self) -> u16 {
        self.u16_at(OFF_XLOADFLAGS)
    }

    /// `kernel_alignment`.
    pub fn kernel_alignment(&self) -> u32 {
        self.u32_at(OFF_KERNEL_ALIGNMENT)
    }

    /// `cmdline_size`.
    pub fn cmdline_size(&self) -> u32 {
        self.u32_at(OFF_CMDLINE_SIZE)
    }

    /// Command line address, `ext_cmd_line_ptr` and `cmd_line_ptr` joined.
    pub fn cmd_line_ptr(&self) -> u64 {
        self.joined(OFF_CMD_LINE_PTR, OFF_EXT_CMD_LINE_PTR)
    }

    /// Ramdisk address, high and low halves joined.
    pub fn ramdisk_image(&self) -> u64 {
        self.joined(OFF_RAMDISK_IMAGE, OFF_EXT_RAMDISK_IMAGE)
    }

    /// Ramdisk size, high and low halves joined.
    pub fn ramdisk_size(&self) -> u64 {
        self.joined(OFF_RAMDISK_SIZE, OFF_EXT_RAMDISK_SIZE)
    }

    /// `setup_data`: the first node of the list.
    pub fn setup_data(&self) -> u64 {
        self.u64_at(OFF_SETUP_DATA)
    }

    /// `hardware_subarch`.
    pub fn hardware_subarch(&self) -> u32 {
        self.u32_at(OFF_HARDWARE_SUBARCH)
    }

    /// `vid_mode`.
    pub fn vid_mode(&self) -> u16 {
        self.u16_at(OFF_VID_MODE)
    }

    /// `sentinel`.
    pub fn sentinel(&self) -> u8 {
        self.u8_at(OFF_SENTINEL)
    }

    /// `acpi_rsdp_addr`.
    pub fn acpi_rsdp_addr(&self) -> u64 {
        self.u64_at(OFF_ACPI_RSDP_ADDR)
    }

    /// `e820_entries` as stored, which may exceed the table's 128 slots.
    pub fn e820_entries(&self) -> u8 {
        self.u8_at(ZERO_PAGE_E820_ENTRIES)
    }

    /// The e820 entries, at most 128 whatever `e820_entries` says.
    pub fn e820(&self) -> impl Iterator<Item = RawE820Entry> + '_ {
        let count = usize::from(self.e820_entries()).min(E820_MAX_ENTRIES_ZEROPAGE);
        self.page
            .get(ZERO_PAGE_E820_TABLE..)
            .unwrap_or(&[])
            .chunks_exact(E820_ENTRY_SIZE)
            .take(count)
            .map(|raw| RawE820Entry {
                addr: read_u64(raw, 0).unwrap_or(0),
                size: read_u64(raw, 8).unwrap_or(0),
                kind: read_u32(raw, 16).unwrap_or(0),
            })
    }
}

/// One `key: value` line per field, addresses and flags in hex with `0x`,
/// sizes in decimal, then `e820[i]: ...` per entry ([`RawE820Entry`]).
impl fmt::Display for ZeroPageSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = self.version();
        writeln!(f, "protocol: {}.{:02}", version >> 8, version & 0xff)?;
        writeln!(f, "type_of_loader: {:#04x}", self.type_of_loader())?;
        writeln!(f, "loadflags: {:#04x}", self.loadflags())?;
        writeln!(f, "xloadflags: {:#06x}", self.xloadflags())?;
        writeln!(f, "kernel_alignment: {:#x}", self.kernel_alignment())?;
        writeln!(f, "cmdline_size: {}", self.cmdline_size())?;
        writeln!(f, "cmd_line_ptr: {:#x}", self.cmd_line_ptr())?;
        writeln!(f, "ramdisk_image: {:#x}", self.ramdisk_image())?;
        writeln!(f, "ramdisk_size: {}", self.ramdisk_size())?;
        writeln!(f, "setup_data: {:#x}", self.setup_data())?;
        writeln!(f, "hardware_subarch: {}", self.hardware_subarch())?;
        writeln!(f, "vid_mode: {:#06x}", self.vid_mode())?;
        writeln!(f, "sentinel: {:#04x}", self.sentinel())?;
        writeln!(f, "acpi_rsdp_addr: {:#x}", self.acpi_rsdp_addr())?;
        writeln!(f, "e820_entries: {}", self.e820_entries())?;
        for (i, entry) in self.e820().enumerate() {
            writeln!(f, "e820[{i}]: {entry}")?;
        }
        Ok(())
    }
}

/// The contents of Popcorn's `setup_data` payload (see the module docs).
/// The fields are public; [`build_setup_data`] checks them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PopcornSetupData {
    /// The secondary's kernel id, 1 or more.
    pub kernel_id: u32,
    /// How many of `apic_ids` are its CPUs.
    pub nr_cpus: u32,
    /// APIC ID of the primary's boot CPU.
    pub boot_cpu_apic_id: u32,
    /// APIC ID to send Popcorn's IPIs to.
    pub notify_apic_id: u32,
    /// The secondary's CPUs, its boot CPU first; entries past `nr_cpus`
    /// are zero.
    pub apic_ids: [u32; POPCORN_MAX_CPUS],
    /// Physical base of the shared window.
    pub shared_base: u64,
    /// Size of the shared window in bytes.
    pub shared_size: u64,
    /// TSC frequency in kHz.
    pub tsc_khz: u32,
    /// Local APIC timer input frequency in kHz, 0 if unknown.
    pub lapic_khz: u32,
    /// I/O port of the secondary's UART, 0 for none.
    pub console_port: u16,
    /// Physical address of the secondary's control page.
    pub control_phys: u64,
}

impl PopcornSetupData {
    /// The secondary's CPUs: `apic_ids[..nr_cpus]`, empty if `nr_cpus` is
    /// out of range.
    pub fn cpus(&self) -> &[u32] {
        usize::try_from(self.nr_cpus)
            .ok()
            .and_then(|n| self.apic_ids.get(..n))
            .unwrap_or(&[])
    }

    /// Sets the CPUs (boot CPU first) and `nr_cpus`, zeroing the unused
    /// entries. Refuses more than [`POPCORN_MAX_CPUS`] (leaving `self`
    /// unchanged); the other checks are [`build_setup_data`]'s.
    pub fn set_cpus(&mut self, apic_ids: &[u32]) -> Result<(), BootParamsError> {
        let too_many = BootParamsError::BadCpuCount {
            nr_cpus: u32::try_from(apic_ids.len()).unwrap_or(u32::MAX),
        };
        if apic_ids.len() > POPCORN_MAX_CPUS {
            return Err(too_many);
        }
        self.apic_ids = [0; POPCORN_MAX_CPUS];
        for (slot, &id) in self.apic_ids.iter_mut().zip(apic_ids) {
            *slot = id;
        }
        self.nr_cpus = u32::try_from(apic_ids.len()).map_err(|_| too_many)?;
        Ok(())
    }

    /// Checks everything a reader checks about the contents (the module
    /// docs' list, from `kernel_id` on).
    pub fn validate(&self) -> Result<(), BootParamsError> {
        use BootParamsError as E;
        if self.kernel_id == 0 {
            return Err(E::PrimaryKernelId);
        }
        let count = usize::try_from(self.nr_cpus).unwrap_or(usize::MAX);
        if count == 0 || count > POPCORN_MAX_CPUS {
            return Err(E::BadCpuCount {
                nr_cpus: self.nr_cpus,
            });
        }
        if let Some(index) = self
            .apic_ids
            .iter()
            .enumerate()
            .skip(count)
            .find_map(|(i, &id)| (id != 0).then_some(i))
        {
            return Err(E::UnusedApicIdSet { index });
        }
        let cpus = self.cpus();
        for (i, &apic_id) in cpus.iter().enumerate() {
            if apic_id == INVALID_APIC_ID {
                return Err(E::InvalidApicId { apic_id });
            }
            if cpus.iter().take(i).any(|&other| other == apic_id) {
                return Err(E::DuplicateApicId { apic_id });
            }
        }
        for apic_id in [self.boot_cpu_apic_id, self.notify_apic_id] {
            if apic_id == INVALID_APIC_ID {
                return Err(E::InvalidApicId { apic_id });
            }
        }
        if cpus.contains(&self.boot_cpu_apic_id) {
            return Err(E::BootCpuIsOwn {
                apic_id: self.boot_cpu_apic_id,
            });
        }
        if cpus.contains(&self.notify_apic_id) {
            return Err(E::NotifyCpuIsOwn {
                apic_id: self.notify_apic_id,
            });
        }
        if self.shared_size == 0 {
            return Err(E::EmptySharedWindow);
        }
        if self.shared_base.checked_add(self.shared_size).is_none()
            || (self.shared_base | self.shared_size) & PAGE_MASK != 0
        {
            return Err(E::BadSharedWindow {
                base: self.shared_base,
                size: self.shared_size,
            });
        }
        if self.tsc_khz == 0 {
            return Err(E::NoTscKhz);
        }
        let control_end = self.control_phys.checked_add(PAGE_MASK + 1);
        let shared_end = self.shared_base.saturating_add(self.shared_size);
        if self.control_phys & PAGE_MASK != 0
            || self.control_phys < self.shared_base
            || control_end.is_none_or(|end| end > shared_end)
        {
            return Err(E::BadControlPage {
                phys: self.control_phys,
            });
        }
        Ok(())
    }
}

/// One `key: value` line per field (APIC IDs in decimal as Linux prints
/// them, comma-separated; addresses and the port in hex).
impl fmt::Display for PopcornSetupData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "kernel_id: {}", self.kernel_id)?;
        writeln!(f, "nr_cpus: {}", self.nr_cpus)?;
        write!(f, "apic_ids: ")?;
        for (i, id) in self.cpus().iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "{id}")?;
        }
        writeln!(f)?;
        writeln!(f, "boot_cpu_apic_id: {}", self.boot_cpu_apic_id)?;
        writeln!(f, "notify_apic_id: {}", self.notify_apic_id)?;
        writeln!(f, "shared_base: {:#x}", self.shared_base)?;
        writeln!(f, "shared_size: {:#x}", self.shared_size)?;
        writeln!(f, "tsc_khz: {}", self.tsc_khz)?;
        writeln!(f, "lapic_khz: {}", self.lapic_khz)?;
        writeln!(f, "console_port: {:#x}", self.console_port)?;
        writeln!(f, "control_phys: {:#x}", self.control_phys)
    }
}

/// Writes Popcorn's `setup_data` node (header with `next` = 0, then the
/// payload) at the start of `out` and returns its length,
/// [`POPCORN_SETUP_DATA_SIZE`]. Refuses contents a reader would refuse
/// ([`PopcornSetupData::validate`]) and a buffer that is too short; on
/// error `out` is unchanged.
pub fn build_setup_data(out: &mut [u8], info: &PopcornSetupData) -> Result<usize, BootParamsError> {
    info.validate()?;
    let too_small = BootParamsError::BufferTooSmall {
        len: out.len(),
        needed: POPCORN_SETUP_DATA_SIZE,
    };
    let node = out.get_mut(..POPCORN_SETUP_DATA_SIZE).ok_or(too_small)?;
    node.fill(0);
    // Payload offsets are from the header's end.
    let p = |off: usize| off.saturating_add(SETUP_DATA_HEADER_SIZE);
    put(node, SD_NEXT, 0u64.to_le_bytes())?;
    put(node, SD_TYPE, SETUP_POPCORN.to_le_bytes())?;
    put(node, SD_LEN, payload_size_u32().to_le_bytes())?;
    put(node, p(P_MAGIC), POPCORN_MAGIC.to_le_bytes())?;
    put(node, p(P_VERSION), POPCORN_VERSION.to_le_bytes())?;
    put(node, p(P_SIZE), payload_size_u16().to_le_bytes())?;
    put(node, p(P_KERNEL_ID), info.kernel_id.to_le_bytes())?;
    put(node, p(P_NR_CPUS), info.nr_cpus.to_le_bytes())?;
    put(
        node,
        p(P_BOOT_CPU_APIC_ID),
        info.boot_cpu_apic_id.to_le_bytes(),
    )?;
    put(node, p(P_NOTIFY_APIC_ID), info.notify_apic_id.to_le_bytes())?;
    let mut off = p(P_APIC_IDS);
    for id in info.apic_ids {
        put(node, off, id.to_le_bytes())?;
        off = off.saturating_add(4);
    }
    put(node, p(P_SHARED_BASE), info.shared_base.to_le_bytes())?;
    put(node, p(P_SHARED_SIZE), info.shared_size.to_le_bytes())?;
    put(node, p(P_TSC_KHZ), info.tsc_khz.to_le_bytes())?;
    put(node, p(P_LAPIC_KHZ), info.lapic_khz.to_le_bytes())?;
    put(node, p(P_CONSOLE_PORT), info.console_port.to_le_bytes())?;
    put(node, p(P_CONTROL_PHYS), info.control_phys.to_le_bytes())?;
    // `reserved` stays zero from the fill.
    Ok(POPCORN_SETUP_DATA_SIZE)
}

/// Reads and checks Popcorn's `setup_data` node at the start of `bytes`
/// (header first), as the module docs list; bytes after the node are
/// ignored, and so is `next`.
pub fn parse_setup_data(bytes: &[u8]) -> Result<PopcornSetupData, BootParamsError> {
    use BootParamsError as E;
    let len = bytes.len();
    let truncated = |needed: usize| E::Truncated { len, needed };
    let header = bytes
        .get(..SETUP_DATA_HEADER_SIZE)
        .ok_or(truncated(SETUP_DATA_HEADER_SIZE))?;
    let kind = read_u32(header, SD_TYPE).ok_or(truncated(SETUP_DATA_HEADER_SIZE))?;
    if kind != SETUP_POPCORN {
        return Err(E::WrongType { found: kind });
    }
    let payload_len = read_u32(header, SD_LEN).ok_or(truncated(SETUP_DATA_HEADER_SIZE))?;
    let payload_bytes = usize::try_from(payload_len).unwrap_or(usize::MAX);
    if payload_bytes < P_PREAMBLE {
        return Err(E::BadLength { len: payload_len });
    }
    let needed = SETUP_DATA_HEADER_SIZE.saturating_add(payload_bytes);
    let payload = bytes
        .get(SETUP_DATA_HEADER_SIZE..needed)
        .ok_or(truncated(needed))?;

    // `payload` is at least P_PREAMBLE bytes, and at least
    // POPCORN_PAYLOAD_SIZE once `size` is checked, so no read below fails;
    // a failure would read as a bad field, never a panic.
    let magic = read_u32(payload, P_MAGIC).unwrap_or(0);
    if magic != POPCORN_MAGIC {
        return Err(E::BadMagic { found: magic });
    }
    let version = read_u16(payload, P_VERSION).unwrap_or(0);
    if version != POPCORN_VERSION {
        return Err(E::BadVersion { found: version });
    }
    let size = read_u16(payload, P_SIZE).unwrap_or(0);
    if usize::from(size) != POPCORN_PAYLOAD_SIZE {
        return Err(E::BadSize { found: size });
    }
    if payload_bytes != POPCORN_PAYLOAD_SIZE {
        return Err(E::BadLength { len: payload_len });
    }
    let reserved = payload
        .get(P_RESERVED..P_CONTROL_PHYS)
        .ok_or(E::BadLength { len: payload_len })?;
    if let Some(i) = reserved.iter().position(|&b| b != 0) {
        return Err(E::ReservedNotZero {
            offset: P_RESERVED.saturating_add(i),
        });
    }

    let u32_at = |off: usize| read_u32(payload, off).unwrap_or(0);
    let u64_at = |off: usize| read_u64(payload, off).unwrap_or(0);
    let mut apic_ids = [0u32; POPCORN_MAX_CPUS];
    let ids = payload.get(P_APIC_IDS..P_SHARED_BASE).unwrap_or(&[]);
    for (slot, raw) in apic_ids.iter_mut().zip(ids.chunks_exact(4)) {
        *slot = read_u32(raw, 0).unwrap_or(0);
    }
    let info = PopcornSetupData {
        kernel_id: u32_at(P_KERNEL_ID),
        nr_cpus: u32_at(P_NR_CPUS),
        boot_cpu_apic_id: u32_at(P_BOOT_CPU_APIC_ID),
        notify_apic_id: u32_at(P_NOTIFY_APIC_ID),
        apic_ids,
        shared_base: u64_at(P_SHARED_BASE),
        shared_size: u64_at(P_SHARED_SIZE),
        tsc_khz: u32_at(P_TSC_KHZ),
        lapic_khz: u32_at(P_LAPIC_KHZ),
        console_port: read_u16(payload, P_CONSOLE_PORT).unwrap_or(0),
        control_phys: u64_at(P_CONTROL_PHYS),
    };
    info.validate()?;
    Ok(info)
}

/// [`POPCORN_PAYLOAD_SIZE`] as the `len` field (192 fits).
fn payload_size_u32() -> u32 {
    u32::try_from(POPCORN_PAYLOAD_SIZE).unwrap_or(u32::MAX)
}

/// [`POPCORN_PAYLOAD_SIZE`] as the `size` field (192 fits).
fn payload_size_u16() -> u16 {
    u16::try_from(POPCORN_PAYLOAD_SIZE).unwrap_or(u16::MAX)
}

/// Writes `bytes` at `off`. Every caller's offset is a constant inside a
/// buffer whose length was checked; should one not be, the write fails
/// instead of panicking.
fn put<const N: usize>(buf: &mut [u8], off: usize, bytes: [u8; N]) -> Result<(), BootParamsError> {
    let too_small = BootParamsError::BufferTooSmall {
        len: buf.len(),
        needed: off.saturating_add(N),
    };
    let end = off.checked_add(N).ok_or(too_small)?;
    buf.get_mut(off..end)
        .ok_or(too_small)?
        .copy_from_slice(&bytes);
    Ok(())
}

fn bytes_at<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    let end = off.checked_add(N)?;
    buf.get(off..end)?.try_into().ok()
}

fn read_u8(buf: &[u8], off: usize) -> Option<u8> {
    buf.get(off).copied()
}

fn read_u16(buf: &[u8], off: usize) -> Option<u16> {
    bytes_at(buf, off).map(u16::from_le_bytes)
}

fn read_u32(buf: &[u8], off: usize) -> Option<u32> {
    bytes_at(buf, off).map(u32::from_le_bytes)
}

fn read_u64(buf: &[u8], off: usize) -> Option<u64> {
    bytes_at(buf, off).map(u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::bzimage::{LOADED_HIGH, XLF_CAN_BE_LOADED_ABOVE_4G, XLF_KERNEL_64};
    use crate::e820::E820Kind;
    use proptest::prelude::*;
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    const MIB: u64 = 1 << 20;
    const SHARED: u64 = 0x7b00_0000;
    const SLOT: u64 = SHARED + 0x2_0000;
    const CMDLINE: u64 = SLOT + 0x2000;
    const SETUP_DATA: u64 = SLOT + 0x1000;
    const INITRD: u64 = 0x6a00_0000;
    const INITRD_SIZE: u64 = 0x12_3456;
    const QUIET_FLAG: u8 = 1 << 5;

    fn put_bytes(buf: &mut [u8], off: usize, bytes: &[u8]) {
        buf[off..off + bytes.len()].copy_from_slice(bytes);
    }

    /// An image `BzImage::parse` accepts: protocol 2.15, header to 0x26c,
    /// 64-bit, relocatable, `xloadflags` as given, `heap_end_ptr` and
    /// `CAN_USE_HEAP` set (the loader must clear them), and a recognisable
    /// pattern in the header fields nobody writes.
    fn image_with(xloadflags: u16) -> Vec<u8> {
        let mut image = vec![0u8; 5 * 512 + 4096];
        image[0x1f1] = 4;
        put_bytes(&mut image, 0x1f2, &0x1234u16.to_le_bytes()); // root_flags
        put_bytes(&mut image, 0x1fa, &0xfffdu16.to_le_bytes()); // vid_mode "ask"
        put_bytes(&mut image, 0x1fc, &0x0801u16.to_le_bytes()); // root_dev
        put_bytes(&mut image, 0x1fe, &0xaa55u16.to_le_bytes());
        put_bytes(&mut image, 0x200, &[0xeb, 0x6a]);
        put_bytes(&mut image, 0x202, b"HdrS");
        put_bytes(&mut image, 0x206, &0x020fu16.to_le_bytes());
        put_bytes(&mut image, 0x20e, &0x3b44u16.to_le_bytes()); // kernel_version
        image[0x211] = LOADED_HIGH | CAN_USE_HEAP;
        put_bytes(&mut image, 0x214, &0x10_0000u32.to_le_bytes());
        put_bytes(&mut image, 0x224, &0x53c0u16.to_le_bytes()); // heap_end_ptr
        put_bytes(&mut image, 0x22c, &0x7fff_ffffu32.to_le_bytes());
        put_bytes(&mut image, 0x230, &0x20_0000u32.to_le_bytes());
        image[0x234] = 1;
        image[0x235] = 21;
        put_bytes(&mut image, 0x236, &xloadflags.to_le_bytes());
        put_bytes(&mut image, 0x238, &2047u32.to_le_bytes());
        put_bytes(&mut image, 0x258, &0x100_0000u64.to_le_bytes());
        put_bytes(&mut image, 0x260, &0x10_0000u32.to_le_bytes());
        put_bytes(&mut image, 0x268, &0x44_fd10u32.to_le_bytes()); // kernel_info_offset
                                                                   // The bytes after the header (setup code) must not be copied.
        image[0x26c..0x400].fill(0x90);
        // Nor the sentinel before it.
        image[0x1ef] = 0xff;
        image
    }

    fn image() -> Vec<u8> {
        image_with(XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G)
    }

    fn e820() -> E820Table {
        E820Table::for_secondary(
            0x5b00_0000..0x7b00_0000,
            0x7_0000..0x8_0000,
            SHARED..SHARED + 4 * MIB,
        )
        .unwrap()
    }

    fn params(e820: &E820Table) -> ZeroPageParams<'_> {
        ZeroPageParams {
            cmdline_phys: CMDLINE,
            ramdisk_phys: INITRD,
            ramdisk_size: INITRD_SIZE,
            setup_data_phys: SETUP_DATA,
            e820,
        }
    }

    fn build(image: &[u8], p: &ZeroPageParams<'_>) -> Result<Vec<u8>, BootParamsError> {
        let bz = BzImage::parse(image).unwrap();
        let mut page = vec![0xccu8; 4096];
        build_zero_page(&mut page, image, &bz, p).map(|()| page)
    }

    fn u16_at(page: &[u8], off: usize) -> u16 {
        u16::from_le_bytes(page[off..off + 2].try_into().unwrap())
    }

    fn u32_at(page: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(page[off..off + 4].try_into().unwrap())
    }

    fn u64_at(page: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(page[off..off + 8].try_into().unwrap())
    }

    /// Header bytes the loader writes (offset, length).
    const WRITTEN_IN_HEADER: [(usize, usize); 9] = [
        (0x1fa, 2), // vid_mode
        (0x210, 1), // type_of_loader
        (0x211, 1), // loadflags
        (0x218, 8), // ramdisk_image, ramdisk_size
        (0x224, 2), // heap_end_ptr
        (0x226, 2), // ext_loader_ver, ext_loader_type
        (0x228, 4), // cmd_line_ptr
        (0x23c, 4), // hardware_subarch
        (0x250, 8), // setup_data
    ];

    fn written_in_header(off: usize) -> bool {
        WRITTEN_IN_HEADER
            .iter()
            .any(|&(start, len)| (start..start + len).contains(&off))
    }

    /// Checks a page built from `image` with `p`: header copied except the
    /// loader's fields, which hold `p`'s values, and nothing else set but
    /// the e820 map.
    fn check_page(page: &[u8], image: &[u8], p: &ZeroPageParams<'_>) {
        let bz = BzImage::parse(image).unwrap();
        let header_end = bz.header_end();
        for off in 0x1f1..header_end {
            if !written_in_header(off) {
                assert_eq!(page[off], image[off], "header byte {off:#x}");
            }
        }
        assert_eq!(page[0x210], 0xff);
        assert_eq!(page[0x211], bz.loadflags() & !CAN_USE_HEAP);
        assert_eq!(u16_at(page, 0x1fa), 0xffff);
        assert_eq!(u16_at(page, 0x224), 0);
        assert_eq!(u16_at(page, 0x226), 0);
        assert_eq!(u32_at(page, 0x23c), 0);
        assert_eq!(u32_at(page, 0x228), p.cmdline_phys as u32);
        assert_eq!(u32_at(page, 0x0c8), (p.cmdline_phys >> 32) as u32);
        assert_eq!(u32_at(page, 0x218), p.ramdisk_phys as u32);
        assert_eq!(u32_at(page, 0x0c0), (p.ramdisk_phys >> 32) as u32);
        assert_eq!(u32_at(page, 0x21c), p.ramdisk_size as u32);
        assert_eq!(u32_at(page, 0x0c4), (p.ramdisk_size >> 32) as u32);
        assert_eq!(u64_at(page, 0x250), p.setup_data_phys);
        let mut e820_page = vec![0u8; 4096];
        p.e820.write_zero_page(&mut e820_page).unwrap();
        assert_eq!(page[0x1e8], e820_page[0x1e8]);
        assert_eq!(page[0x2d0..0xcd0], e820_page[0x2d0..0xcd0]);
        // Everything else is zero: screen_info, acpi_rsdp_addr, sentinel,
        // the bytes after the header, EDD.
        for (off, &byte) in page.iter().enumerate().take(4096) {
            let ext = (0x0c0..0x0cc).contains(&off);
            let header = (0x1f1..header_end).contains(&off);
            let e820 = off == 0x1e8 || (0x2d0..0xcd0).contains(&off);
            if !ext && !header && !e820 {
                assert_eq!(byte, 0, "byte {off:#x}");
            }
        }
    }

    #[test]
    fn builds_a_zero_page() {
        let image = image();
        let e820 = e820();
        let p = params(&e820);
        let page = build(&image, &p).unwrap();
        check_page(&page, &image, &p);
        // Spelled out once.
        assert_eq!(page[0x1ef], 0, "sentinel");
        assert_eq!(page[0x211], LOADED_HIGH, "CAN_USE_HEAP cleared");
        assert_eq!(u32_at(&page, 0x228), 0x7b02_2000);
        assert_eq!(u32_at(&page, 0x0c8), 0);
        assert_eq!(u32_at(&page, 0x218), 0x6a00_0000);
        assert_eq!(u32_at(&page, 0x21c), 0x12_3456);
        assert_eq!(u64_at(&page, 0x250), 0x7b02_1000);
        assert_eq!(u64_at(&page, 0x070), 0);
        assert_eq!(u16_at(&page, 0x1fc), 0x0801, "root_dev kept");
        assert_eq!(u32_at(&page, 0x214), 0x10_0000, "code32_start kept");
        assert_eq!(u32_at(&page, 0x230), 0x20_0000, "kernel_alignment kept");
        assert_eq!(u32_at(&page, 0x268), 0x44_fd10, "kernel_info_offset kept");
        assert_eq!(&page[0x202..0x206], b"HdrS");
        assert_eq!(page[0x1e8], 3);
        assert_eq!(u64_at(&page, 0x2d0), 0x7_0000);
        assert!(page[0x26c..0x290].iter().all(|&b| b == 0));
    }

    #[test]
    fn zeroes_only_the_first_page() {
        let image = image();
        let bz = BzImage::parse(&image).unwrap();
        let e820 = e820();
        let mut buf = vec![0xa5u8; 8192];
        build_zero_page(&mut buf, &image, &bz, &params(&e820)).unwrap();
        check_page(&buf[..4096], &image, &params(&e820));
        assert!(buf[4096..].iter().all(|&b| b == 0xa5));
    }

    #[test]
    fn keeps_the_images_loadflags_but_can_use_heap() {
        let mut image = image();
        image[0x211] = LOADED_HIGH | QUIET_FLAG | CAN_USE_HEAP;
        let e820 = e820();
        let page = build(&image, &params(&e820)).unwrap();
        assert_eq!(page[0x211], LOADED_HIGH | QUIET_FLAG);
        image[0x211] = 0;
        let page = build(&image, &params(&e820)).unwrap();
        assert_eq!(page[0x211], 0);
    }

    #[test]
    fn no_ramdisk_and_no_setup_data() {
        let image = image();
        let e820 = e820();
        let p = ZeroPageParams {
            ramdisk_phys: 0,
            ramdisk_size: 0,
            setup_data_phys: 0,
            ..params(&e820)
        };
        let page = build(&image, &p).unwrap();
        check_page(&page, &image, &p);
        assert_eq!(u64_at(&page, 0x218), 0);
        assert_eq!(u64_at(&page, 0x250), 0);
        assert_eq!(u32_at(&page, 0x0c0), 0);
    }

    #[test]
    fn splits_high_addresses_when_the_kernel_allows_them() {
        let image = image();
        let e820 = e820();
        let p = ZeroPageParams {
            cmdline_phys: 0x1_2345_6000,
            ramdisk_phys: 0x2_0000_0000,
            ramdisk_size: 0x1_0000_1000,
            setup_data_phys: 0x3_0000_0010,
            e820: &e820,
        };
        let page = build(&image, &p).unwrap();
        check_page(&page, &image, &p);
        assert_eq!(u32_at(&page, 0x228), 0x2345_6000);
        assert_eq!(u32_at(&page, 0x0c8), 1);
        assert_eq!(u32_at(&page, 0x218), 0);
        assert_eq!(u32_at(&page, 0x0c0), 2);
        assert_eq!(u32_at(&page, 0x21c), 0x1000);
        assert_eq!(u32_at(&page, 0x0c4), 1);
        assert_eq!(u64_at(&page, 0x250), 0x3_0000_0010);
        let s = zero_page_summary(&page).unwrap();
        assert_eq!(s.cmd_line_ptr(), 0x1_2345_6000);
        assert_eq!(s.ramdisk_image(), 0x2_0000_0000);
        assert_eq!(s.ramdisk_size(), 0x1_0000_1000);
        // The last byte of the address space is fine with the flag.
        let p = ZeroPageParams {
            ramdisk_phys: u64::MAX - 0xfff,
            ramdisk_size: 0x1000,
            ..params(&e820)
        };
        assert!(build(&image, &p).is_ok());
    }

    #[test]
    fn refuses_high_addresses_when_the_kernel_does_not_allow_them() {
        let image = image_with(XLF_KERNEL_64);
        let e820 = e820();
        // Highest command line below 4 GiB: fine.
        let p = ZeroPageParams {
            cmdline_phys: 0xffff_f000,
            ..params(&e820)
        };
        assert!(build(&image, &p).is_ok());
        let p = ZeroPageParams {
            cmdline_phys: 0x1_0000_0000,
            ..params(&e820)
        };
        assert_eq!(
            build(&image, &p),
            Err(BootParamsError::CmdlineAbove4G {
                addr: 0x1_0000_0000
            })
        );
        // The ramdisk may end exactly at initrd_addr_max.
        let p = ZeroPageParams {
            ramdisk_phys: 0x7fff_f000,
            ramdisk_size: 0x1000,
            ..params(&e820)
        };
        assert!(build(&image, &p).is_ok());
        let p = ZeroPageParams {
            ramdisk_phys: 0x7fff_f000,
            ramdisk_size: 0x1001,
            ..params(&e820)
        };
        assert_eq!(
            build(&image, &p),
            Err(BootParamsError::RamdiskTooHigh {
                last: 0x8000_0000,
                max: 0x7fff_ffff
            })
        );
        // A lower initrd_addr_max is honoured.
        let mut low = image.clone();
        put_bytes(&mut low, 0x22c, &0x37ff_ffffu32.to_le_bytes());
        assert_eq!(
            build(&low, &params(&e820)),
            Err(BootParamsError::RamdiskTooHigh {
                last: INITRD + INITRD_SIZE - 1,
                max: 0x37ff_ffff
            })
        );
        // The flag lifts the limit.
        let mut high = low;
        put_bytes(
            &mut high,
            0x236,
            &(XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G).to_le_bytes(),
        );
        assert!(build(&high, &params(&e820)).is_ok());
    }

    #[test]
    fn refuses_bad_ramdisks() {
        let image = image();
        let e820 = e820();
        let p = ZeroPageParams {
            ramdisk_size: 0,
            ..params(&e820)
        };
        assert_eq!(
            build(&image, &p),
            Err(BootParamsError::EmptyRamdisk { addr: INITRD })
        );
        let p = ZeroPageParams {
            ramdisk_phys: u64::MAX - 0xfff,
            ramdisk_size: 0x1001,
            ..params(&e820)
        };
        assert_eq!(
            build(&image, &p),
            Err(BootParamsError::RamdiskOverflow {
                addr: u64::MAX - 0xfff,
                size: 0x1001
            })
        );
        // A ramdisk at address 0 with a size is odd but representable.
        let p = ZeroPageParams {
            ramdisk_phys: 0,
            ..params(&e820)
        };
        assert!(build(&image, &p).is_ok());
    }

    #[test]
    fn refuses_a_missing_command_line() {
        let image = image();
        let e820 = e820();
        let p = ZeroPageParams {
            cmdline_phys: 0,
            ..params(&e820)
        };
        assert_eq!(build(&image, &p), Err(BootParamsError::NoCmdline));
    }

    #[test]
    fn refuses_a_short_buffer_and_a_mismatched_image() {
        let image = image();
        let bz = BzImage::parse(&image).unwrap();
        let e820 = e820();
        let p = params(&e820);
        let mut short = vec![0x11u8; 4095];
        assert_eq!(
            build_zero_page(&mut short, &image, &bz, &p),
            Err(BootParamsError::ZeroPageTooSmall { len: 4095 })
        );
        assert!(short.iter().all(|&b| b == 0x11));

        let mut page = vec![0x11u8; 4096];
        // Too short to hold the header.
        assert_eq!(
            build_zero_page(&mut page, &image[..0x240], &bz, &p),
            Err(BootParamsError::ImageMismatch)
        );
        // Another kernel's header.
        for (off, byte) in [(0x206, 0x0e), (0x236, 0x01), (0x211, 0x00)] {
            let mut other = image.clone();
            other[off] = byte;
            assert_eq!(
                build_zero_page(&mut page, &other, &bz, &p),
                Err(BootParamsError::ImageMismatch),
                "{off:#x}"
            );
        }
        assert!(page.iter().all(|&b| b == 0x11));
    }

    #[test]
    fn errors_leave_the_buffer_unchanged() {
        let image = image_with(XLF_KERNEL_64);
        let bz = BzImage::parse(&image).unwrap();
        let e820 = e820();
        let bad = [
            ZeroPageParams {
                cmdline_phys: 0,
                ..params(&e820)
            },
            ZeroPageParams {
                cmdline_phys: 1 << 40,
                ..params(&e820)
            },
            ZeroPageParams {
                ramdisk_size: 0,
                ..params(&e820)
            },
            ZeroPageParams {
                ramdisk_phys: 1 << 33,
                ..params(&e820)
            },
        ];
        for p in bad {
            let mut page = vec![0x77u8; 4096];
            assert!(build_zero_page(&mut page, &image, &bz, &p).is_err());
            assert!(page.iter().all(|&b| b == 0x77));
        }
    }

    #[test]
    fn writes_an_empty_and_a_full_e820_map() {
        let image = image();
        let empty = E820Table::new();
        let page = build(&image, &params(&empty)).unwrap();
        assert_eq!(page[0x1e8], 0);
        assert_eq!(zero_page_summary(&page).unwrap().e820().count(), 0);
        let mut full = E820Table::new();
        let n = crate::e820::E820_TABLE_CAPACITY as u64;
        for i in 0..n {
            full.add(i * 0x2000, 0x1000, E820Kind::Reserved).unwrap();
        }
        let page = build(&image, &params(&full)).unwrap();
        check_page(&page, &image, &params(&full));
        let s = zero_page_summary(&page).unwrap();
        assert_eq!(u64::from(s.e820_entries()), n);
        assert_eq!(
            s.e820().last(),
            Some(RawE820Entry {
                addr: (n - 1) * 0x2000,
                size: 0x1000,
                kind: 2
            })
        );
    }

    #[test]
    fn summary_text() {
        let image = image();
        let e820 = e820();
        let page = build(&image, &params(&e820)).unwrap();
        let s = zero_page_summary(&page).unwrap();
        assert_eq!(s.version(), 0x020f);
        assert_eq!(s.type_of_loader(), 0xff);
        assert_eq!(s.cmd_line_ptr(), CMDLINE);
        assert_eq!(s.ramdisk_image(), INITRD);
        assert_eq!(s.ramdisk_size(), INITRD_SIZE);
        assert_eq!(s.setup_data(), SETUP_DATA);
        assert_eq!(
            s.to_string(),
            "protocol: 2.15\n\
             type_of_loader: 0xff\n\
             loadflags: 0x01\n\
             xloadflags: 0x0003\n\
             kernel_alignment: 0x200000\n\
             cmdline_size: 2047\n\
             cmd_line_ptr: 0x7b022000\n\
             ramdisk_image: 0x6a000000\n\
             ramdisk_size: 1193046\n\
             setup_data: 0x7b021000\n\
             hardware_subarch: 0\n\
             vid_mode: 0xffff\n\
             sentinel: 0x00\n\
             acpi_rsdp_addr: 0x0\n\
             e820_entries: 3\n\
             e820[0]: 0x0000000000070000-0x000000000007ffff ram\n\
             e820[1]: 0x000000005b000000-0x000000007affffff ram\n\
             e820[2]: 0x000000007b000000-0x000000007b3fffff reserved\n"
        );
    }

    #[test]
    fn summary_of_any_page() {
        assert_eq!(
            zero_page_summary(&[0u8; 100]).err(),
            Some(BootParamsError::ZeroPageTooSmall { len: 100 })
        );
        let mut page = vec![0u8; 4096];
        page[0x1e8] = 255;
        let entry = |i: usize, addr: u64, size: u64, kind: u32| {
            let mut raw = Vec::new();
            raw.extend_from_slice(&addr.to_le_bytes());
            raw.extend_from_slice(&size.to_le_bytes());
            raw.extend_from_slice(&kind.to_le_bytes());
            (0x2d0 + i * 20, raw)
        };
        for (off, raw) in [
            entry(0, 0x1000, 0, 1),
            entry(1, u64::MAX, 2, 7),
            entry(2, 0xfee0_0000, 0x1000, 2),
            entry(127, 0x100_0000, 0x100_0000, 1),
        ] {
            put_bytes(&mut page, off, &raw);
        }
        let s = zero_page_summary(&page).unwrap();
        assert_eq!(s.e820_entries(), 255);
        assert_eq!(s.e820().count(), 128);
        let text = s.to_string();
        assert!(text.contains("\ne820_entries: 255\n"));
        assert!(text.contains("\ne820[0]: 0x0000000000001000+0x0 ram (bad)\n"));
        assert!(text.contains("\ne820[1]: 0xffffffffffffffff+0x2 type7 (bad)\n"));
        assert!(text.contains("\ne820[2]: 0x00000000fee00000-0x00000000fee00fff reserved\n"));
        assert!(text.contains("\ne820[3]: 0x0000000000000000+0x0 type0 (bad)\n"));
        assert!(text.ends_with("\ne820[127]: 0x0000000001000000-0x0000000001ffffff ram\n"));
        assert!(!text.contains("e820[128]"));
        // Only the first 4096 bytes count.
        let mut long = page.clone();
        long.extend_from_slice(&[0xff; 100]);
        assert_eq!(zero_page_summary(&long).unwrap().to_string(), text);
    }

    // ---- setup_data ----

    fn info() -> PopcornSetupData {
        let mut info = PopcornSetupData {
            kernel_id: 1,
            boot_cpu_apic_id: 0,
            notify_apic_id: 0,
            shared_base: SHARED,
            shared_size: 4 * MIB,
            tsc_khz: 2_400_000,
            lapic_khz: 1_000_000,
            console_port: 0x2f8,
            control_phys: SHARED + 0x13000,
            ..PopcornSetupData::default()
        };
        info.set_cpus(&[2, 3]).unwrap();
        info
    }

    fn encode(info: &PopcornSetupData) -> Vec<u8> {
        let mut out = vec![0u8; 256];
        let len = build_setup_data(&mut out, info).unwrap();
        out.truncate(len);
        out
    }

    #[test]
    fn setup_data_bytes() {
        let bytes = encode(&info());
        assert_eq!(bytes.len(), 208);
        let mut expected = Vec::new();
        expected.extend_from_slice(&0u64.to_le_bytes()); // next
        expected.extend_from_slice(b"CPOP"); // type 0x504f5043
        expected.extend_from_slice(&192u32.to_le_bytes()); // len
        expected.extend_from_slice(b"CORN"); // magic
        expected.extend_from_slice(&[1, 0, 0xc0, 0]); // version, size
        expected.extend_from_slice(&[1, 0, 0, 0]); // kernel_id
        expected.extend_from_slice(&[2, 0, 0, 0]); // nr_cpus
        expected.extend_from_slice(&[0; 8]); // boot and notify APIC IDs
        expected.extend_from_slice(&[2, 0, 0, 0, 3, 0, 0, 0]); // apic_ids
        expected.extend_from_slice(&[0; 120]);
        expected.extend_from_slice(&[0, 0, 0, 0x7b, 0, 0, 0, 0]); // shared_base
        expected.extend_from_slice(&[0, 0, 0x40, 0, 0, 0, 0, 0]); // shared_size
        expected.extend_from_slice(&2_400_000u32.to_le_bytes());
        expected.extend_from_slice(&1_000_000u32.to_le_bytes());
        expected.extend_from_slice(&[0xf8, 0x02]); // console_port
        expected.extend_from_slice(&[0; 6]); // reserved
        expected.extend_from_slice(&(SHARED + 0x13000).to_le_bytes()); // control_phys
        assert_eq!(bytes, expected);
        assert_eq!(u32_at(&bytes, 8), 0x504f_5043);
        assert_eq!(u32_at(&bytes, 16), 0x4e52_4f43);
    }

    #[test]
    fn setup_data_round_trips() {
        let info = info();
        let bytes = encode(&info);
        assert_eq!(parse_setup_data(&bytes), Ok(info));
        // Trailing bytes and `next` are not the parser's business.
        let mut longer = bytes.clone();
        longer[..8].copy_from_slice(&0x7b02_10c8u64.to_le_bytes());
        longer.extend_from_slice(&[0xff; 64]);
        assert_eq!(parse_setup_data(&longer), Ok(info));
        // The largest content.
        let mut big = info;
        big.kernel_id = u32::MAX;
        big.set_cpus(&(100..132).collect::<Vec<u32>>()).unwrap();
        big.boot_cpu_apic_id = 0xffff_fffe;
        big.notify_apic_id = 7;
        big.shared_base = 0xffff_ffff_fff0_0000;
        big.shared_size = 0x10_0000 - 0x1000;
        big.tsc_khz = u32::MAX;
        big.lapic_khz = 0;
        big.console_port = 0;
        big.control_phys = 0xffff_ffff_fffe_e000;
        assert_eq!(parse_setup_data(&encode(&big)), Ok(big));
    }

    #[test]
    fn build_refuses_a_short_buffer() {
        let mut out = vec![0x55u8; 207];
        assert_eq!(
            build_setup_data(&mut out, &info()),
            Err(BootParamsError::BufferTooSmall {
                len: 207,
                needed: 208
            })
        );
        assert!(out.iter().all(|&b| b == 0x55));
        // Exactly enough; bytes after the node are untouched.
        let mut out = vec![0x55u8; 218];
        assert_eq!(build_setup_data(&mut out, &info()), Ok(208));
        assert!(out[208..].iter().all(|&b| b == 0x55));
    }

    /// Invalid contents with the error both sides give.
    fn invalid_infos() -> Vec<(PopcornSetupData, BootParamsError)> {
        use BootParamsError as E;
        let with = |f: &dyn Fn(&mut PopcornSetupData)| {
            let mut i = info();
            f(&mut i);
            i
        };
        vec![
            (with(&|i| i.kernel_id = 0), E::PrimaryKernelId),
            (
                with(&|i| i.set_cpus(&[]).unwrap()),
                E::BadCpuCount { nr_cpus: 0 },
            ),
            (with(&|i| i.nr_cpus = 33), E::BadCpuCount { nr_cpus: 33 }),
            (
                with(&|i| i.nr_cpus = u32::MAX),
                E::BadCpuCount { nr_cpus: u32::MAX },
            ),
            (
                with(&|i| i.apic_ids[31] = 9),
                E::UnusedApicIdSet { index: 31 },
            ),
            (with(&|i| i.nr_cpus = 1), E::UnusedApicIdSet { index: 1 }),
            (
                with(&|i| i.set_cpus(&[2, u32::MAX]).unwrap()),
                E::InvalidApicId { apic_id: u32::MAX },
            ),
            (
                with(&|i| i.set_cpus(&[2, 3, 4, 3]).unwrap()),
                E::DuplicateApicId { apic_id: 3 },
            ),
            (
                with(&|i| i.boot_cpu_apic_id = u32::MAX),
                E::InvalidApicId { apic_id: u32::MAX },
            ),
            (
                with(&|i| i.notify_apic_id = u32::MAX),
                E::InvalidApicId { apic_id: u32::MAX },
            ),
            (
                with(&|i| i.boot_cpu_apic_id = 3),
                E::BootCpuIsOwn { apic_id: 3 },
            ),
            (
                with(&|i| i.notify_apic_id = 2),
                E::NotifyCpuIsOwn { apic_id: 2 },
            ),
            (with(&|i| i.shared_size = 0), E::EmptySharedWindow),
            (
                with(&|i| i.shared_base = SHARED + 0x800),
                E::BadSharedWindow {
                    base: SHARED + 0x800,
                    size: 4 * MIB,
                },
            ),
            (
                with(&|i| i.shared_size = 4 * MIB + 1),
                E::BadSharedWindow {
                    base: SHARED,
                    size: 4 * MIB + 1,
                },
            ),
            (
                with(&|i| i.shared_base = 0xffff_ffff_ffff_f000),
                E::BadSharedWindow {
                    base: 0xffff_ffff_ffff_f000,
                    size: 4 * MIB,
                },
            ),
            (with(&|i| i.tsc_khz = 0), E::NoTscKhz),
            (
                with(&|i| i.control_phys = SHARED + 0x13008),
                E::BadControlPage {
                    phys: SHARED + 0x13008,
                },
            ),
            (
                with(&|i| i.control_phys = SHARED + 4 * MIB),
                E::BadControlPage {
                    phys: SHARED + 4 * MIB,
                },
            ),
            (
                with(&|i| i.control_phys = SHARED - 0x1000),
                E::BadControlPage {
                    phys: SHARED - 0x1000,
                },
            ),
        ]
    }

    #[test]
    fn both_sides_refuse_invalid_contents() {
        let good = encode(&info());
        for (bad, error) in invalid_infos() {
            assert_eq!(bad.validate(), Err(error), "{bad:?}");
            let mut out = vec![0x33u8; 256];
            assert_eq!(build_setup_data(&mut out, &bad), Err(error));
            assert!(out.iter().all(|&b| b == 0x33));
            // Encode it by hand from a valid node, field by field.
            let mut bytes = good.clone();
            let p = |off: usize| 16 + off;
            bytes[p(P_KERNEL_ID)..][..4].copy_from_slice(&bad.kernel_id.to_le_bytes());
            bytes[p(P_NR_CPUS)..][..4].copy_from_slice(&bad.nr_cpus.to_le_bytes());
            bytes[p(P_BOOT_CPU_APIC_ID)..][..4]
                .copy_from_slice(&bad.boot_cpu_apic_id.to_le_bytes());
            bytes[p(P_NOTIFY_APIC_ID)..][..4].copy_from_slice(&bad.notify_apic_id.to_le_bytes());
            for (i, id) in bad.apic_ids.iter().enumerate() {
                bytes[p(P_APIC_IDS) + 4 * i..][..4].copy_from_slice(&id.to_le_bytes());
            }
            bytes[p(P_SHARED_BASE)..][..8].copy_from_slice(&bad.shared_base.to_le_bytes());
            bytes[p(P_SHARED_SIZE)..][..8].copy_from_slice(&bad.shared_size.to_le_bytes());
            bytes[p(P_TSC_KHZ)..][..4].copy_from_slice(&bad.tsc_khz.to_le_bytes());
            bytes[p(P_CONTROL_PHYS)..][..8].copy_from_slice(&bad.control_phys.to_le_bytes());
            assert_eq!(parse_setup_data(&bytes), Err(error), "{bad:?}");
        }
    }

    #[test]
    fn optional_fields_may_be_zero() {
        let mut i = info();
        i.lapic_khz = 0;
        i.console_port = 0;
        assert_eq!(parse_setup_data(&encode(&i)), Ok(i));
        // The primary's boot CPU may also be the one to notify, and a
        // secondary may own a CPU with APIC ID 0.
        let mut i = info();
        i.set_cpus(&[0, 1]).unwrap();
        i.boot_cpu_apic_id = 4;
        i.notify_apic_id = 4;
        assert_eq!(parse_setup_data(&encode(&i)), Ok(i));
    }

    #[test]
    fn parse_refuses_bad_framing() {
        use BootParamsError as E;
        let good = encode(&info());
        let patched = |off: usize, bytes: &[u8]| {
            let mut b = good.clone();
            put_bytes(&mut b, off, bytes);
            parse_setup_data(&b)
        };
        assert_eq!(
            parse_setup_data(&good[..15]),
            Err(E::Truncated {
                len: 15,
                needed: 16
            })
        );
        assert_eq!(
            parse_setup_data(&[]),
            Err(E::Truncated { len: 0, needed: 16 })
        );
        assert_eq!(
            parse_setup_data(&good[..207]),
            Err(E::Truncated {
                len: 207,
                needed: 208
            })
        );
        assert_eq!(
            patched(8, &6u32.to_le_bytes()),
            Err(E::WrongType { found: 6 })
        );
        assert_eq!(
            patched(8, &(SETUP_POPCORN | 1 << 31).to_le_bytes()),
            Err(E::WrongType {
                found: SETUP_POPCORN | 1 << 31
            })
        );
        // The type is checked before the length.
        assert_eq!(parse_setup_data(&[0u8; 16]), Err(E::WrongType { found: 0 }));
        for len in [0u32, 7] {
            assert_eq!(patched(12, &len.to_le_bytes()), Err(E::BadLength { len }));
        }
        // A len reaching past the bytes is truncation, however large.
        assert_eq!(
            patched(12, &u32::MAX.to_le_bytes()),
            Err(E::Truncated {
                len: 208,
                needed: 16 + u32::MAX as usize
            })
        );
        // Header of 8 payload bytes: magic, version, size only.
        let mut short = good[..24].to_vec();
        put_bytes(&mut short, 12, &8u32.to_le_bytes());
        assert_eq!(parse_setup_data(&short), Err(E::BadLength { len: 8 }));
        short[20] = 2; // version 2 is reported as such
        assert_eq!(parse_setup_data(&short), Err(E::BadVersion { found: 2 }));
        // A longer len with the right size field.
        let mut long = good.clone();
        long.extend_from_slice(&[0; 8]);
        put_bytes(&mut long, 12, &200u32.to_le_bytes());
        assert_eq!(parse_setup_data(&long), Err(E::BadLength { len: 200 }));

        assert_eq!(
            patched(16, b"CORM"),
            Err(E::BadMagic {
                found: u32::from_le_bytes(*b"CORM")
            })
        );
        assert_eq!(
            patched(16, &[0x4e, 0x52, 0x4f, 0x43]),
            Err(E::BadMagic { found: 0x434f_524e })
        );
        for version in [0u16, 2, 0x100] {
            assert_eq!(
                patched(20, &version.to_le_bytes()),
                Err(E::BadVersion { found: version })
            );
        }
        for size in [0u16, 183, 185, 200] {
            assert_eq!(
                patched(22, &size.to_le_bytes()),
                Err(E::BadSize { found: size })
            );
        }
        for i in 0..6 {
            assert_eq!(
                patched(16 + 0xb2 + i, &[1]),
                Err(E::ReservedNotZero { offset: 0xb2 + i })
            );
        }
    }

    #[test]
    fn set_cpus_and_cpus() {
        let mut i = info();
        assert_eq!(i.cpus(), [2, 3]);
        i.apic_ids[5] = 77;
        i.set_cpus(&[9]).unwrap();
        assert_eq!(i.cpus(), [9]);
        assert_eq!(i.nr_cpus, 1);
        assert!(i.apic_ids[1..].iter().all(|&id| id == 0));
        let ids: Vec<u32> = (0..32).collect();
        i.set_cpus(&ids).unwrap();
        assert_eq!(i.cpus(), &ids[..]);
        let before = i;
        let too_many: Vec<u32> = (0..33).collect();
        assert_eq!(
            i.set_cpus(&too_many),
            Err(BootParamsError::BadCpuCount { nr_cpus: 33 })
        );
        assert_eq!(i, before);
        i.nr_cpus = 40;
        assert_eq!(i.cpus(), &[] as &[u32]);
    }

    #[test]
    fn setup_data_text() {
        let mut i = info();
        i.set_cpus(&[2, 3, 10]).unwrap();
        assert_eq!(
            i.to_string(),
            "kernel_id: 1\n\
             nr_cpus: 3\n\
             apic_ids: 2,3,10\n\
             boot_cpu_apic_id: 0\n\
             notify_apic_id: 0\n\
             shared_base: 0x7b000000\n\
             shared_size: 0x400000\n\
             tsc_khz: 2400000\n\
             lapic_khz: 1000000\n\
             console_port: 0x2f8\n\
             control_phys: 0x7b013000\n"
        );
    }

    /// The ABI tables in the module docs say what the code does: every row
    /// names a field at the offset and size the encoder uses, and the rows
    /// cover the node without gaps.
    #[test]
    fn docs_match_the_abi() {
        let source = include_str!("bootparams.rs");
        let start = source.find("//! ## Popcorn's `setup_data` entry").unwrap();
        let mut element_sizes = Vec::new();
        let rows: Vec<(usize, usize, String)> = source[start..]
            .lines()
            .take_while(|line| line.starts_with("//!"))
            .filter(|line| line.starts_with("//! | `0x"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let offset =
                    usize::from_str_radix(cells[1].trim_matches('`').trim_start_matches("0x"), 16)
                        .unwrap();
                let size: usize = cells[2].parse().unwrap();
                // `u32[32]`: element size 4, 32 of them.
                let ty = cells[4].trim_matches('`');
                let (element, count) = match ty.split_once('[') {
                    Some((element, count)) => (
                        element,
                        count.trim_end_matches(']').parse::<usize>().unwrap(),
                    ),
                    None => (ty, 1),
                };
                let element_size = match element {
                    "u8" => 1,
                    "u16" => 2,
                    "u32" => 4,
                    "u64" => 8,
                    other => panic!("type {other}"),
                };
                assert_eq!(element_size * count, size, "{line}");
                element_sizes.push(element_size);
                (offset, size, cells[3].trim_matches('`').to_string())
            })
            .collect();
        let header = [
            (SD_NEXT, 8, "next"),
            (SD_TYPE, 4, "type"),
            (SD_LEN, 4, "len"),
        ];
        let payload = [
            (P_MAGIC, 4, "magic"),
            (P_VERSION, 2, "version"),
            (P_SIZE, 2, "size"),
            (P_KERNEL_ID, 4, "kernel_id"),
            (P_NR_CPUS, 4, "nr_cpus"),
            (P_BOOT_CPU_APIC_ID, 4, "boot_cpu_apic_id"),
            (P_NOTIFY_APIC_ID, 4, "notify_apic_id"),
            (P_APIC_IDS, 4 * POPCORN_MAX_CPUS, "apic_ids"),
            (P_SHARED_BASE, 8, "shared_base"),
            (P_SHARED_SIZE, 8, "shared_size"),
            (P_TSC_KHZ, 4, "tsc_khz"),
            (P_LAPIC_KHZ, 4, "lapic_khz"),
            (P_CONSOLE_PORT, 2, "console_port"),
            (P_RESERVED, P_CONTROL_PHYS - P_RESERVED, "reserved"),
            (P_CONTROL_PHYS, 8, "control_phys"),
        ];
        let expected: Vec<(usize, usize, String)> = header
            .iter()
            .chain(payload.iter())
            .map(|&(o, s, n)| (o, s, n.to_string()))
            .collect();
        assert_eq!(rows, expected);
        for table in [&rows[..3], &rows[3..]] {
            assert_eq!(table[0].0, 0);
            for pair in table.windows(2) {
                assert_eq!(pair[0].0 + pair[0].1, pair[1].0, "gap before {}", pair[1].2);
            }
        }
        // Naturally aligned fields, the payload starting 8-byte aligned.
        for ((offset, _, name), align) in rows.iter().zip(&element_sizes) {
            assert_eq!(offset % align, 0, "{name}");
        }
        let header_end = rows[2].0 + rows[2].1;
        let payload_end = rows[17].0 + rows[17].1;
        assert_eq!(header_end, SETUP_DATA_HEADER_SIZE);
        assert_eq!(payload_end, POPCORN_PAYLOAD_SIZE);
        assert_eq!(payload_end % 8, 0);
        // And the encoder puts each field where the table says.
        let mut i = info();
        i.set_cpus(&[0x1111_1111]).unwrap();
        i.kernel_id = 0x2222_2222;
        i.boot_cpu_apic_id = 0x3333_3333;
        i.notify_apic_id = 0x4444_4444;
        i.shared_base = 0x5555_5555_5555_5000;
        i.shared_size = 0x6000;
        i.tsc_khz = 0x7777_7777;
        i.lapic_khz = 0x8888_8888;
        i.console_port = 0x9999;
        i.control_phys = 0x5555_5555_5555_6000;
        let bytes = encode(&i);
        let field = |name: &str| {
            let &(offset, size, _) = rows[3..].iter().find(|r| r.2 == name).unwrap();
            let mut value = [0u8; 8];
            value[..size.min(8)].copy_from_slice(&bytes[16 + offset..][..size.min(8)]);
            u64::from_le_bytes(value)
        };
        assert_eq!(field("magic"), u64::from(POPCORN_MAGIC));
        assert_eq!(field("version"), 1);
        assert_eq!(field("size"), 192);
        assert_eq!(field("kernel_id"), 0x2222_2222);
        assert_eq!(field("nr_cpus"), 1);
        assert_eq!(field("boot_cpu_apic_id"), 0x3333_3333);
        assert_eq!(field("notify_apic_id"), 0x4444_4444);
        assert_eq!(field("apic_ids"), 0x1111_1111);
        assert_eq!(field("shared_base"), 0x5555_5555_5555_5000);
        assert_eq!(field("shared_size"), 0x6000);
        assert_eq!(field("tsc_khz"), 0x7777_7777);
        assert_eq!(field("lapic_khz"), 0x8888_8888);
        assert_eq!(field("console_port"), 0x9999);
        assert_eq!(field("reserved"), 0);
        assert_eq!(field("control_phys"), 0x5555_5555_5555_6000);
    }

    #[test]
    fn errors_have_log_texts() {
        use BootParamsError as E;
        let cases = [
            (E::ZeroPageTooSmall { len: 10 }, "zero page is 10 bytes, needs 4096"),
            (E::ImageMismatch, "image does not match its parsed header"),
            (E::NoCmdline, "no command line address"),
            (
                E::CmdlineAbove4G { addr: 0x1_0000_0000 },
                "command line at 0x100000000 is above 4 GiB, which the kernel does not support",
            ),
            (E::EmptyRamdisk { addr: 0x1000 }, "ramdisk at 0x1000 is empty"),
            (
                E::RamdiskOverflow {
                    addr: 0xffff_ffff_ffff_f000,
                    size: 0x2000,
                },
                "ramdisk of 0x2000 bytes at 0xfffffffffffff000 wraps past the end of the address space",
            ),
            (
                E::RamdiskTooHigh {
                    last: 0x8000_0000,
                    max: 0x7fff_ffff,
                },
                "ramdisk ends at 0x80000000, above the kernel's initrd_addr_max 0x7fffffff",
            ),
            (
                E::E820(E820Error::Full),
                "e820: e820 table full (16 entries)",
            ),
            (
                E::BufferTooSmall { len: 3, needed: 200 },
                "setup_data buffer is 3 bytes, needs 200",
            ),
            (
                E::Truncated { len: 3, needed: 16 },
                "setup_data is 3 bytes, cut short of 16",
            ),
            (
                E::WrongType { found: 6 },
                "setup_data type 0x6 is not Popcorn's (0x504f5043)",
            ),
            (
                E::BadLength { len: 7 },
                "setup_data len 7 does not match the payload (192)",
            ),
            (
                E::BadMagic { found: 0x1234 },
                "setup_data magic 0x00001234 is not 0x4e524f43",
            ),
            (E::BadVersion { found: 2 }, "setup_data version 2 is not 1"),
            (
                E::BadSize { found: 100 },
                "setup_data payload size 100 is not 192",
            ),
            (
                E::ReservedNotZero { offset: 0xb3 },
                "setup_data reserved byte at 0xb3 is not zero",
            ),
            (E::PrimaryKernelId, "kernel id 0 is the primary's"),
            (E::BadCpuCount { nr_cpus: 33 }, "33 CPUs, expected 1 to 32"),
            (
                E::UnusedApicIdSet { index: 5 },
                "apic_ids[5] is past nr_cpus but not zero",
            ),
            (
                E::InvalidApicId { apic_id: u32::MAX },
                "invalid APIC ID 0xffffffff",
            ),
            (E::DuplicateApicId { apic_id: 3 }, "APIC ID 3 given twice"),
            (
                E::BootCpuIsOwn { apic_id: 0 },
                "the primary's boot CPU (APIC ID 0) is among the secondary's CPUs",
            ),
            (
                E::NotifyCpuIsOwn { apic_id: 2 },
                "the CPU to notify (APIC ID 2) is among the secondary's CPUs",
            ),
            (E::EmptySharedWindow, "empty shared window"),
            (
                E::BadSharedWindow {
                    base: 0x1001,
                    size: 0x1000,
                },
                "shared window of 0x1000 bytes at 0x1001 is unaligned or wraps",
            ),
            (E::NoTscKhz, "no TSC frequency"),
            (
                E::BadControlPage { phys: 0x1234 },
                "control page 0x1234 is not a page of the shared window",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
        assert_eq!(
            BootParamsError::from(E820Error::Full),
            BootParamsError::E820(E820Error::Full)
        );
    }

    fn any_info() -> impl Strategy<Value = PopcornSetupData> {
        (
            any::<u32>(),
            proptest::collection::vec(0u32..64, 0..34),
            0u32..80,
            0u32..80,
            (any::<u64>(), any::<u64>()),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
        )
            .prop_map(
                |(kernel_id, cpus, boot, notify, (base, size), tsc, lapic, port)| {
                    let mut i = PopcornSetupData {
                        kernel_id,
                        boot_cpu_apic_id: boot,
                        notify_apic_id: notify,
                        shared_base: base & !0xfff,
                        shared_size: size & 0xfff_f000,
                        tsc_khz: tsc,
                        lapic_khz: lapic,
                        console_port: port,
                        ..PopcornSetupData::default()
                    };
                    if i.set_cpus(&cpus).is_err() {
                        i.nr_cpus = cpus.len() as u32;
                    }
                    i
                },
            )
    }

    proptest! {
        #[test]
        fn setup_data_build_and_parse_agree(info in any_info()) {
            let mut out = vec![0u8; 256];
            match build_setup_data(&mut out, &info) {
                Ok(len) => {
                    prop_assert_eq!(len, 200);
                    prop_assert_eq!(parse_setup_data(&out[..len]), Ok(info));
                }
                Err(error) => {
                    prop_assert_eq!(info.validate(), Err(error));
                    prop_assert!(out.iter().all(|&b| b == 0));
                }
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_setup_data(&bytes);
        }

        #[test]
        fn corrupted_nodes_never_panic_and_accepted_ones_re_encode(
            patches in proptest::collection::vec((0usize..200, any::<u8>()), 0..6),
            cut in 0usize..201,
        ) {
            let mut bytes = encode(&info());
            for (off, byte) in patches {
                bytes[off] = byte;
            }
            bytes.truncate(200 - cut);
            if let Ok(parsed) = parse_setup_data(&bytes) {
                let again = encode(&parsed);
                // Same bytes, except `next`, which the parser ignores.
                prop_assert_eq!(&again[8..], &bytes[8..200]);
            }
        }

        #[test]
        fn zero_page_never_panics_and_reads_back(
            cmdline in prop_oneof![Just(0u64), any::<u64>(), 0u64..0x1_0000_0000],
            ramdisk in prop_oneof![Just(0u64), any::<u64>(), 0u64..0x1_0000_0000],
            size in prop_oneof![Just(0u64), any::<u64>(), 0u64..0x1000_0000],
            setup_data in any::<u64>(),
            above_4g in any::<bool>(),
            len in prop_oneof![Just(4096usize), 0usize..5000],
        ) {
            let flags = if above_4g { XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G } else { XLF_KERNEL_64 };
            let image = image_with(flags);
            let bz = BzImage::parse(&image).unwrap();
            let e820 = e820();
            let p = ZeroPageParams {
                cmdline_phys: cmdline,
                ramdisk_phys: ramdisk,
                ramdisk_size: size,
                setup_data_phys: setup_data,
                e820: &e820,
            };
            let mut out = vec![0x5au8; len];
            match build_zero_page(&mut out, &image, &bz, &p) {
                Ok(()) => {
                    check_page(&out, &image, &p);
                    let s = zero_page_summary(&out).unwrap();
                    prop_assert_eq!(s.cmd_line_ptr(), cmdline);
                    prop_assert_eq!(s.ramdisk_image(), ramdisk);
                    prop_assert_eq!(s.ramdisk_size(), size);
                    prop_assert_eq!(s.setup_data(), setup_data);
                    prop_assert!(cmdline != 0);
                    prop_assert!(above_4g || cmdline < 1 << 32);
                    prop_assert!(above_4g || size == 0 || ramdisk + (size - 1) <= 0x7fff_ffff);
                }
                Err(_) => prop_assert!(out.iter().all(|&b| b == 0x5a)),
            }
        }

        #[test]
        fn summary_never_panics(bytes in proptest::collection::vec(any::<u8>(), 4096..4200)) {
            let s = zero_page_summary(&bytes).unwrap();
            let text = s.to_string();
            prop_assert!(text.lines().count() <= 15 + 128);
            prop_assert!(text.lines().all(|line| line.contains(": ")));
        }
    }

    // ---- the real kernel ----

    /// The real kernel the project builds: `$POPCORN_BZIMAGE`, or
    /// `build/bzImage` in the repository. `None` (and a note) if missing.
    fn real_image() -> Option<(std::path::PathBuf, Vec<u8>)> {
        let path = std::env::var_os("POPCORN_BZIMAGE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/bzImage")
            });
        match std::fs::read(&path) {
            Ok(image) => Some((path, image)),
            Err(error) => {
                std::println!(
                    "skipped: no bzImage at {} ({error}); set POPCORN_BZIMAGE",
                    path.display()
                );
                None
            }
        }
    }

    /// A build without `CONFIG_RELOCATABLE` is refused by `BzImage::parse`;
    /// to still test on real data, mark a copy relocatable (and say so).
    fn bootable(path: &std::path::Path, mut image: Vec<u8>) -> Vec<u8> {
        if image[0x234] == 0 {
            std::println!(
                "NOTE: {} has relocatable_kernel=0 (CONFIG_RELOCATABLE=n); \
                 building the zero page from a copy with relocatable_kernel=1",
                path.display()
            );
            image[0x234] = 1;
        }
        image
    }

    #[test]
    fn real_image_zero_page() {
        let Some((path, image)) = real_image() else {
            return;
        };
        let image = bootable(&path, image);
        let bz = BzImage::parse(&image).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let e820 = e820();
        let p = ZeroPageParams {
            ramdisk_phys: 0x6000_0000,
            ramdisk_size: 0x40_0000,
            ..params(&e820)
        };
        let mut page = vec![0xeeu8; 4096];
        build_zero_page(&mut page, &image, &bz, &p).unwrap();
        check_page(&page, &image, &p);
        // The kernel's own header marks survive the copy.
        assert_eq!(&page[0x202..0x206], b"HdrS");
        assert_eq!(u16_at(&page, 0x1fe), 0xaa55);
        assert_eq!(page[0x1ef], 0, "the image's sentinel is not copied");
        assert_eq!(image[0x1ef], 0xff, "header.S sets the sentinel");

        let s = zero_page_summary(&page).unwrap();
        let text = s.to_string();
        std::println!("{}:\n{text}", path.display());
        let version = bz.version();
        for line in [
            std::format!("protocol: {}.{:02}", version >> 8, version & 0xff),
            "type_of_loader: 0xff".to_string(),
            std::format!("loadflags: {:#04x}", bz.loadflags() & !CAN_USE_HEAP),
            std::format!("xloadflags: {:#06x}", bz.xloadflags()),
            std::format!("cmdline_size: {}", bz.cmdline_size()),
            "cmd_line_ptr: 0x7b022000".to_string(),
            "ramdisk_image: 0x60000000".to_string(),
            "ramdisk_size: 4194304".to_string(),
            "setup_data: 0x7b021000".to_string(),
            "hardware_subarch: 0".to_string(),
            "sentinel: 0x00".to_string(),
            "e820_entries: 3".to_string(),
            "e820[0]: 0x0000000000070000-0x000000000007ffff ram".to_string(),
            "e820[1]: 0x000000005b000000-0x000000007affffff ram".to_string(),
            "e820[2]: 0x000000007b000000-0x000000007b3fffff reserved".to_string(),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }

        // Addresses above 4 GiB follow the kernel's own flag.
        let high = ZeroPageParams {
            cmdline_phys: 0x1_0000_0000,
            ..p
        };
        let result = build_zero_page(&mut page, &image, &bz, &high);
        if bz.can_load_above_4g() {
            assert_eq!(result, Ok(()));
        } else {
            assert_eq!(
                result,
                Err(BootParamsError::CmdlineAbove4G {
                    addr: 0x1_0000_0000
                })
            );
        }
    }

    #[test]
    fn real_image_with_popcorn_setup_data() {
        let Some((path, image)) = real_image() else {
            return;
        };
        let image = bootable(&path, image);
        let bz = BzImage::parse(&image).unwrap();
        // A whole boot slot: zero page, setup_data, as the module stages it.
        let mut slot = vec![0u8; 0x3000];
        let (zero_page, rest) = slot.split_at_mut(0x1000);
        let e820 = e820();
        build_zero_page(zero_page, &image, &bz, &params(&e820)).unwrap();
        let len = build_setup_data(rest, &info()).unwrap();
        let s = zero_page_summary(zero_page).unwrap();
        // Follow the pointer as the secondary would.
        let offset = (s.setup_data() - SLOT) as usize;
        assert_eq!(offset, 0x1000);
        assert_eq!(parse_setup_data(&slot[offset..offset + len]), Ok(info()));
    }
}
