//! What the loader writes where to stage a secondary: the plan it follows,
//! so that all it does itself is map, copy or build, and unmap.
//!
//! Staging writes three physical ranges the primary reserved at boot, each
//! mapped once, one after the other, in this order ([`Area`]):
//!
//! | Area         | Range                                       | Writes, in order                                                   |
//! |--------------|---------------------------------------------|--------------------------------------------------------------------|
//! | `partition`  | the partition cut from the pool             | zeros over all of it; kernel at its load address; initramfs        |
//! | `low window` | the secondary's 64 KiB below 1 MiB          | zeros over all of it                                               |
//! | `boot slot`  | its slot of the shared window (`shared.rs`) | zeros over all of it; command line, setup_data, control page, zero page, page tables |
//!
//! Each area is scrubbed before anything goes into it: the new kernel must
//! not see what the previous one (crashed, forced or stopped) left there.
//! The kernel's protected-mode part goes to the load address and the
//! initramfs to the top of the partition, as `placement.rs` decided; the
//! kernel owns `init_size` bytes from its load address. The boot slot's
//! parts go where `shared.rs` put them, each with its room in the slot
//! (the page tables with [`IDENTITY_TABLES_SIZE`] bytes), and are built in
//! the order shown: command line first, page tables last.
//!
//! [`BootPlan::new`] checks everything the loader used to check while it
//! wrote, before anything is mapped, and refuses, in this order: an area
//! wrapping past 2^64 (or too large to map as one range), two areas that
//! overlap, a kernel longer than its `init_size` range, a write (for the
//! kernel: its whole `init_size` range) outside its area, two writes in one
//! area that overlap. Every write is then given as an offset and length
//! inside its area's mapping, with its physical address.
//!
//! The plan also holds what the loader hands on: the zero page, command
//! line, setup_data, initramfs and control page addresses (the zero page
//! and `setup_data` point at them; the loader watches the control page),
//! and the kernel's 64-bit entry point, which the trampoline jumps to with
//! `%rsi` = the zero page.
//!
//! Requires: `crate::pagetable`, `crate::placement`, `crate::shared`,
//! `crate::trampoline`.

use core::fmt;
use core::ops::Range;

use crate::pagetable::IDENTITY_TABLES_SIZE;
use crate::placement::Placement;
use crate::shared::{
    BootSlot, BOOT_SLOT_SIZE, CMDLINE_MAX, CONTROL_MAX, PAGE_TABLES_MAX, SETUP_DATA_MAX,
    ZERO_PAGE_MAX,
};
use crate::trampoline::ENTRY_64_OFFSET;

// The tables the loader builds fit the room the slot gives them.
const _: () = assert!(TABLES_LEN <= PAGE_TABLES_MAX);

/// How many writes a plan has ([`BootPlan::writes`]).
pub const NR_WRITES: usize = 10;

/// One of the reserved ranges staging writes, each mapped once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The secondary's partition of the pool: its RAM.
    Partition,
    /// Its window below 1 MiB (its own CPUs' start-up trampoline).
    LowWindow,
    /// Its boot slot in the shared window.
    BootSlot,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Area::Partition => "partition",
            Area::LowWindow => "low window",
            Area::BootSlot => "boot slot",
        })
    }
}

/// What one write puts into its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Zeros over the whole area.
    Zeros,
    /// The image's protected-mode part (`BzImage::payload`).
    Kernel,
    /// The initramfs file.
    Initramfs,
    /// The command line (`cmdline.rs`).
    CommandLine,
    /// Popcorn's `setup_data` node (`bootparams.rs`).
    SetupData,
    /// The control page (`control.rs`).
    ControlPage,
    /// The zero page (`bootparams.rs`).
    ZeroPage,
    /// The identity page tables (`pagetable.rs`).
    PageTables,
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Content::Zeros => "scrub",
            Content::Kernel => "kernel",
            Content::Initramfs => "initramfs",
            Content::CommandLine => "command line",
            Content::SetupData => "setup_data",
            Content::ControlPage => "control page",
            Content::ZeroPage => "zero page",
            Content::PageTables => "page tables",
        })
    }
}

/// An area to map: `len` bytes at physical `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Which area.
    pub area: Area,
    /// Its first byte.
    pub base: u64,
    /// Its length; `base + len` fits in 64 bits.
    pub len: usize,
}

/// One write: `len` bytes of `content` at physical `phys`, which is
/// `offset` bytes into the mapping of `area`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    /// The area whose mapping it goes into.
    pub area: Area,
    /// What goes there.
    pub content: Content,
    /// Physical address of its first byte.
    pub phys: u64,
    /// Its offset in the area's mapping.
    pub offset: usize,
    /// Its length: the bytes copied, or the room a builder gets.
    pub len: usize,
}

impl Write {
    /// Its bytes in the area's mapping (inside it, in a plan).
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset.saturating_add(self.len)
    }
}

/// What a secondary is staged from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanInputs {
    /// The partition's first byte.
    pub partition_base: u64,
    /// Its size.
    pub partition_size: u64,
    /// Where kernel and initramfs go in it (`placement::place`).
    pub placement: Placement,
    /// Length of the kernel's protected-mode part.
    pub kernel_len: u64,
    /// The low window's first byte.
    pub low_window_base: u64,
    /// Its size.
    pub low_window_size: u64,
    /// The boot slot (`shared::boot_slot`).
    pub slot: BootSlot,
}

/// Why a secondary cannot be staged as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanError {
    /// `base + size` does not fit in 64 bits, or `size` in a `usize`.
    Wraps { area: Area, base: u64, size: u64 },
    /// Two areas share bytes.
    AreasOverlap { first: Area, second: Area },
    /// The kernel is longer than the `init_size` range it was placed in.
    KernelTooLong { len: u64, room: u64 },
    /// A write does not lie inside its area.
    Outside { content: Content, phys: u64, len: u64 },
    /// Two writes in one area share bytes.
    WritesOverlap { first: Content, second: Content },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PlanError::Wraps { area, base, size } => write!(
                f,
                "{area} of {size:#x} bytes at {base:#x} does not fit the address space"
            ),
            PlanError::AreasOverlap { first, second } => write!(f, "{first} and {second} overlap"),
            PlanError::KernelTooLong { len, room } => write!(
                f,
                "kernel of {len:#x} bytes is longer than its init_size range of {room:#x}"
            ),
            PlanError::Outside { content, phys, len } => write!(
                f,
                "{content} ({len:#x} bytes at {phys:#x}) lies outside its area"
            ),
            PlanError::WritesOverlap { first, second } => write!(f, "{first} and {second} overlap"),
        }
    }
}

/// A checked staging plan: every write lies inside its area, the areas are
/// disjoint, and so are the writes in each area (but the scrubs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootPlan {
    partition: Region,
    low_window: Region,
    slot: Region,
    kernel: Write,
    initramfs: Write,
    cmdline: Write,
    setup_data: Write,
    control: Write,
    zero_page: Write,
    page_tables: Write,
    entry: u64,
}

/// Physical `[start, end)` of something that claims bytes in an area.
#[derive(Clone, Copy)]
struct Claim {
    area: Area,
    content: Content,
    start: u64,
    end: u64,
}

impl Claim {
    fn overlaps(&self, other: &Claim) -> bool {
        self.area == other.area
            && self.start < self.end
            && other.start < other.end
            && self.start < other.end
            && other.start < self.end
    }
}

impl BootPlan {
    /// Plans staging `inputs`; see the module docs for what is refused.
    pub fn new(inputs: &PlanInputs) -> Result<Self, PlanError> {
        let regions = [
            region(Area::Partition, inputs.partition_base, inputs.partition_size)?,
            region(Area::LowWindow, inputs.low_window_base, inputs.low_window_size)?,
            region(Area::BootSlot, inputs.slot.base, BOOT_SLOT_SIZE)?,
        ];
        check_disjoint_areas(&regions)?;
        let p = inputs.placement;
        let room = p.kernel_end.saturating_sub(p.kernel);
        if inputs.kernel_len > room {
            return Err(PlanError::KernelTooLong {
                len: inputs.kernel_len,
                room,
            });
        }
        let s = inputs.slot;
        // The kernel claims its whole init_size range (the decompressor
        // works there); only `kernel_len` bytes of it are copied.
        let claims = [
            claim(Area::Partition, Content::Kernel, p.kernel, room)?,
            claim(Area::Partition, Content::Initramfs, p.initrd, p.initrd_len)?,
            claim(Area::BootSlot, Content::CommandLine, s.cmdline, CMDLINE_MAX)?,
            claim(Area::BootSlot, Content::SetupData, s.setup_data, SETUP_DATA_MAX)?,
            claim(Area::BootSlot, Content::ControlPage, s.control, CONTROL_MAX)?,
            claim(Area::BootSlot, Content::ZeroPage, s.zero_page, ZERO_PAGE_MAX)?,
            claim(Area::BootSlot, Content::PageTables, s.page_tables, TABLES_LEN)?,
        ];
        check_claims(&regions, &claims)?;

        let [partition, low_window, slot] = regions;
        let [_, initrd, cmdline, setup_data, control, zero_page, page_tables] = claims;
        let entry = p
            .kernel
            .checked_add(ENTRY_64_OFFSET)
            .ok_or(PlanError::Outside {
                content: Content::Kernel,
                phys: p.kernel,
                len: ENTRY_64_OFFSET,
            })?;
        Ok(BootPlan {
            partition,
            low_window,
            slot,
            kernel: write(&partition, Content::Kernel, p.kernel, inputs.kernel_len)?,
            initramfs: write_claim(&partition, initrd)?,
            cmdline: write_claim(&slot, cmdline)?,
            setup_data: write_claim(&slot, setup_data)?,
            control: write_claim(&slot, control)?,
            zero_page: write_claim(&slot, zero_page)?,
            page_tables: write_claim(&slot, page_tables)?,
            entry,
        })
    }

    /// The areas to map, in the order to write them.
    pub fn regions(&self) -> [Region; 3] {
        [self.partition, self.low_window, self.slot]
    }

    /// Every write, in order: an area's writes follow each other, its scrub
    /// first, and areas come in the order of [`BootPlan::regions`].
    pub fn writes(&self) -> [Write; NR_WRITES] {
        [
            scrub(&self.partition),
            self.kernel,
            self.initramfs,
            scrub(&self.low_window),
            scrub(&self.slot),
            self.cmdline,
            self.setup_data,
            self.control,
            self.zero_page,
            self.page_tables,
        ]
    }

    /// The writes into `area`, in order.
    pub fn writes_in(&self, area: Area) -> impl Iterator<Item = Write> {
        self.writes().into_iter().filter(move |w| w.area == area)
    }

    /// The partition.
    pub fn partition(&self) -> Region {
        self.partition
    }

    /// The low window.
    pub fn low_window(&self) -> Region {
        self.low_window
    }

    /// The boot slot.
    pub fn slot(&self) -> Region {
        self.slot
    }

    /// The kernel's copy: its load address and length.
    pub fn kernel(&self) -> Write {
        self.kernel
    }

    /// The initramfs: what the zero page gives as the ramdisk.
    pub fn initramfs(&self) -> Write {
        self.initramfs
    }

    /// The command line, which the zero page points at.
    pub fn cmdline(&self) -> Write {
        self.cmdline
    }

    /// The `setup_data` list, which the zero page points at.
    pub fn setup_data(&self) -> Write {
        self.setup_data
    }

    /// The control page, which `setup_data` points at and the loader
    /// watches once the kernel runs.
    pub fn control(&self) -> Write {
        self.control
    }

    /// The zero page, `%rsi` at the kernel's entry.
    pub fn zero_page(&self) -> Write {
        self.zero_page
    }

    /// The identity page tables (CR3 points at their start).
    pub fn page_tables(&self) -> Write {
        self.page_tables
    }

    /// The kernel's 64-bit entry point: load address + [`ENTRY_64_OFFSET`].
    pub fn entry(&self) -> u64 {
        self.entry
    }
}

/// Room the page tables get: what the loader's tables take.
const TABLES_LEN: u64 = IDENTITY_TABLES_SIZE as u64;

/// Every claim inside its area, and no two in one area overlapping.
fn check_claims(regions: &[Region; 3], claims: &[Claim]) -> Result<(), PlanError> {
    for c in claims {
        let inside = regions
            .iter()
            .find(|r| r.area == c.area)
            .is_some_and(|r| c.start >= r.base && c.end <= end_of(r));
        if !inside {
            return Err(PlanError::Outside {
                content: c.content,
                phys: c.start,
                len: c.end.saturating_sub(c.start),
            });
        }
    }
    for (i, first) in claims.iter().enumerate() {
        let mut later = claims.iter().skip(i.saturating_add(1));
        if let Some(second) = later.find(|c| c.overlaps(first)) {
            return Err(PlanError::WritesOverlap {
                first: first.content,
                second: second.content,
            });
        }
    }
    Ok(())
}

fn region(area: Area, base: u64, size: u64) -> Result<Region, PlanError> {
    let wraps = PlanError::Wraps { area, base, size };
    base.checked_add(size).ok_or(wraps)?;
    let len = usize::try_from(size).map_err(|_| wraps)?;
    Ok(Region { area, base, len })
}

/// One past the region's last byte (fits: `region` checked it).
fn end_of(region: &Region) -> u64 {
    u64::try_from(region.len)
        .ok()
        .and_then(|len| region.base.checked_add(len))
        .unwrap_or(u64::MAX)
}

fn check_disjoint_areas(regions: &[Region; 3]) -> Result<(), PlanError> {
    for (i, first) in regions.iter().enumerate() {
        for second in regions.iter().skip(i.saturating_add(1)) {
            let apart = first.len == 0
                || second.len == 0
                || end_of(first) <= second.base
                || end_of(second) <= first.base;
            if !apart {
                return Err(PlanError::AreasOverlap {
                    first: first.area,
                    second: second.area,
                });
            }
        }
    }
    Ok(())
}

fn claim(area: Area, content: Content, start: u64, len: u64) -> Result<Claim, PlanError> {
    let end = start
        .checked_add(len)
        .ok_or(PlanError::Outside { content, phys: start, len })?;
    Ok(Claim {
        area,
        content,
        start,
        end,
    })
}

fn scrub(region: &Region) -> Write {
    Write {
        area: region.area,
        content: Content::Zeros,
        phys: region.base,
        offset: 0,
        len: region.len,
    }
}

fn write_claim(region: &Region, c: Claim) -> Result<Write, PlanError> {
    write(region, c.content, c.start, c.end.saturating_sub(c.start))
}

/// `len` bytes of `content` at `phys`, inside `region` (checked again).
fn write(region: &Region, content: Content, phys: u64, len: u64) -> Result<Write, PlanError> {
    let outside = PlanError::Outside { content, phys, len };
    let offset = phys
        .checked_sub(region.base)
        .and_then(|o| usize::try_from(o).ok())
        .ok_or(outside)?;
    let len = usize::try_from(len).map_err(|_| outside)?;
    match offset.checked_add(len) {
        Some(end) if end <= region.len => Ok(Write {
            area: region.area,
            content,
            phys,
            offset,
            len,
        }),
        _ => Err(outside),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::placement::place;
    use crate::shared::boot_slot;
    use proptest::prelude::*;
    use std::string::ToString;
    use std::vec::Vec;

    const M: u64 = 1 << 20;
    const PART: u64 = 0x4000_0000;
    const SHARED: u64 = 0x7b00_0000;
    const LOW: u64 = 0x7_0000;

    /// A 512 MiB partition, a 40 MiB init_size kernel of 12 MiB, a 3 MiB
    /// initramfs, low window at 0x70000, boot slot 1.
    fn inputs() -> PlanInputs {
        PlanInputs {
            partition_base: PART,
            partition_size: 512 * M,
            placement: place(PART, 512 * M, 2 * M, 40 * M, 3 * M + 5).unwrap(),
            kernel_len: 12 * M,
            low_window_base: LOW,
            low_window_size: 0x1_0000,
            slot: boot_slot(SHARED, 4 * M, 1).unwrap(),
        }
    }

    #[test]
    fn a_normal_plan() {
        let plan = BootPlan::new(&inputs()).unwrap();
        let slot = SHARED + 0x2_0000;
        assert_eq!(
            plan.regions(),
            [
                Region { area: Area::Partition, base: PART, len: 512 << 20 },
                Region { area: Area::LowWindow, base: LOW, len: 0x1_0000 },
                Region { area: Area::BootSlot, base: slot, len: 0x1_0000 },
            ]
        );
        let initrd = (PART + 512 * M - (3 * M + 5)) & !0xfff;
        let w = |area, content, phys: u64, offset: u64, len: u64| Write {
            area,
            content,
            phys,
            offset: offset as usize,
            len: len as usize,
        };
        use Area::*;
        use Content::*;
        assert_eq!(
            plan.writes(),
            [
                w(Partition, Zeros, PART, 0, 512 * M),
                w(Partition, Kernel, PART, 0, 12 * M),
                w(Partition, Initramfs, initrd, initrd - PART, 3 * M + 5),
                w(LowWindow, Zeros, LOW, 0, 0x1_0000),
                w(BootSlot, Zeros, slot, 0, 0x1_0000),
                w(BootSlot, CommandLine, slot + 0x2000, 0x2000, 0x1000),
                w(BootSlot, SetupData, slot + 0x1000, 0x1000, 0x1000),
                w(BootSlot, ControlPage, slot + 0x3000, 0x3000, 0x1000),
                w(BootSlot, ZeroPage, slot, 0, 0x1000),
                w(BootSlot, PageTables, slot + 0x4000, 0x4000, 6 * 4096),
            ]
        );
        assert_eq!(plan.entry(), PART + 0x200);
        assert_eq!(plan.kernel().phys, PART);
        assert_eq!(plan.initramfs().phys, initrd);
        assert_eq!(plan.initramfs().len, 3 * (1 << 20) + 5);
        assert_eq!(plan.cmdline().phys, slot + 0x2000);
        assert_eq!(plan.setup_data().phys, slot + 0x1000);
        assert_eq!(plan.control().phys, slot + 0x3000);
        assert_eq!(plan.control().len, 0x1000);
        assert_eq!(plan.zero_page().phys, slot);
        assert_eq!(plan.page_tables().phys, slot + 0x4000);
        assert_eq!(plan.page_tables().range(), 0x4000..0xa000);
        assert_eq!(plan.partition().base, PART);
        assert_eq!(plan.low_window().len, 0x1_0000);
        assert_eq!(plan.slot().base, slot);
        let slot_writes: Vec<Content> = plan.writes_in(BootSlot).map(|w| w.content).collect();
        assert_eq!(
            slot_writes,
            [Zeros, CommandLine, SetupData, ControlPage, ZeroPage, PageTables]
        );
        assert_eq!(plan.writes_in(LowWindow).count(), 1);
    }

    #[test]
    fn every_slot_and_an_aligned_up_kernel() {
        for k in 0..crate::shared::MAX_BOOT_SLOTS {
            let mut i = inputs();
            i.slot = boot_slot(SHARED, M, k).unwrap();
            i.partition_base = PART + 0x20_0000;
            i.placement = place(i.partition_base, 512 * M, 16 * M, 40 * M, 4096).unwrap();
            let plan = BootPlan::new(&i).unwrap();
            assert_eq!(plan.kernel().offset, 0xe0_0000);
            assert_eq!(plan.entry(), 0x4100_0200);
            assert_eq!(plan.zero_page().phys, SHARED + 0x1_0000 * (k as u64 + 1));
        }
    }

    #[test]
    fn boundaries_are_accepted() {
        // The kernel fills its init_size range exactly; the initramfs ends
        // at the partition's end and starts where the kernel's range ends.
        let mut i = inputs();
        i.placement = Placement {
            kernel: PART,
            kernel_end: PART + 40 * M,
            initrd: PART + 40 * M,
            initrd_len: 472 * M,
        };
        i.kernel_len = 40 * M;
        let plan = BootPlan::new(&i).unwrap();
        assert_eq!(plan.initramfs().range().end, 512 << 20);
        // An empty initramfs, and an empty kernel.
        i.placement.initrd = PART + 512 * M;
        i.placement.initrd_len = 0;
        i.kernel_len = 0;
        let plan = BootPlan::new(&i).unwrap();
        assert_eq!(plan.initramfs().len, 0);
        assert_eq!(plan.kernel().len, 0);
        // Areas that touch do not overlap.
        let mut i = inputs();
        i.low_window_base = PART - 0x1_0000;
        assert!(BootPlan::new(&i).is_ok());
        i.low_window_base = PART + 512 * M;
        assert!(BootPlan::new(&i).is_ok());
        // A partition ending at u64::MAX.
        let mut i = inputs();
        i.partition_base = u64::MAX - 64 * M;
        i.partition_size = 64 * M;
        i.placement = Placement {
            kernel: i.partition_base,
            kernel_end: i.partition_base + 40 * M,
            initrd: u64::MAX - 4096,
            initrd_len: 4096,
        };
        let plan = BootPlan::new(&i).unwrap();
        assert_eq!(plan.initramfs().range().end, 64 << 20);
    }

    #[test]
    fn refuses_areas_wrapping_past_2_64() {
        let mut i = inputs();
        i.partition_base = u64::MAX - 64 * M + 2;
        i.partition_size = 64 * M;
        assert_eq!(
            BootPlan::new(&i),
            Err(PlanError::Wraps {
                area: Area::Partition,
                base: u64::MAX - 64 * M + 2,
                size: 64 * M
            })
        );
        let mut i = inputs();
        i.low_window_size = u64::MAX;
        assert_eq!(
            BootPlan::new(&i),
            Err(PlanError::Wraps {
                area: Area::LowWindow,
                base: LOW,
                size: u64::MAX
            })
        );
        let mut i = inputs();
        i.slot.base = u64::MAX - 0xfff;
        assert_eq!(
            BootPlan::new(&i),
            Err(PlanError::Wraps {
                area: Area::BootSlot,
                base: u64::MAX - 0xfff,
                size: BOOT_SLOT_SIZE
            })
        );
    }

    /// The plan for [`inputs`] as `change` leaves them.
    fn plan_with(change: impl FnOnce(&mut PlanInputs)) -> Result<BootPlan, PlanError> {
        let mut i = inputs();
        change(&mut i);
        BootPlan::new(&i)
    }

    #[test]
    fn refuses_overlapping_areas() {
        use Area::*;
        let overlap = |first, second| Err(PlanError::AreasOverlap { first, second });
        let plan = plan_with(|i| i.low_window_base = PART + 512 * M - 1);
        assert_eq!(plan, overlap(Partition, LowWindow));
        let plan = plan_with(|i| i.slot = boot_slot(PART + 0x1000, 4 * M, 0).unwrap());
        assert_eq!(plan, overlap(Partition, BootSlot));
        let plan = plan_with(|i| i.low_window_base = SHARED + 0x2_ffff);
        assert_eq!(plan, overlap(LowWindow, BootSlot));
    }

    #[test]
    fn refuses_a_kernel_longer_than_its_range() {
        let mut i = inputs();
        i.kernel_len = 40 * M + 1;
        assert_eq!(
            BootPlan::new(&i),
            Err(PlanError::KernelTooLong {
                len: 40 * M + 1,
                room: 40 * M
            })
        );
        // A range that ends before it starts has no room.
        i.placement.kernel_end = PART - 1;
        i.kernel_len = 1;
        assert_eq!(
            BootPlan::new(&i),
            Err(PlanError::KernelTooLong { len: 1, room: 0 })
        );
    }

    #[test]
    fn refuses_writes_outside_their_area() {
        let outside = |content, phys, len| Err(PlanError::Outside { content, phys, len });
        let mut i = inputs();
        i.placement.kernel = PART - 0x1000;
        i.placement.kernel_end = PART + 40 * M;
        assert_eq!(BootPlan::new(&i), outside(Content::Kernel, PART - 0x1000, 40 * M + 0x1000));
        let mut i = inputs();
        i.placement.kernel_end = PART + 512 * M + 1;
        assert_eq!(BootPlan::new(&i), outside(Content::Kernel, PART, 512 * M + 1));
        let mut i = inputs();
        i.placement.initrd = PART + 512 * M - 4096;
        i.placement.initrd_len = 4097;
        assert_eq!(
            BootPlan::new(&i),
            outside(Content::Initramfs, PART + 512 * M - 4096, 4097)
        );
        // Near 2^64: the range's end does not exist.
        let mut i = inputs();
        i.placement.initrd = u64::MAX - 10;
        i.placement.initrd_len = 11;
        assert_eq!(BootPlan::new(&i), outside(Content::Initramfs, u64::MAX - 10, 11));
        // A slot part moved out of its slot.
        let mut i = inputs();
        i.slot.page_tables = i.slot.base + 0xb000;
        assert_eq!(
            BootPlan::new(&i),
            outside(Content::PageTables, i.slot.base + 0xb000, 0x6000)
        );
        let mut i = inputs();
        i.slot.cmdline = i.slot.base - 0x1000;
        assert_eq!(
            BootPlan::new(&i),
            outside(Content::CommandLine, i.slot.base - 0x1000, 0x1000)
        );
    }

    #[test]
    fn refuses_overlapping_writes() {
        use Content::*;
        let overlap = |first, second| Err(PlanError::WritesOverlap { first, second });
        let plan = plan_with(|i| i.placement.initrd = PART + 40 * M - 4096);
        assert_eq!(plan, overlap(Kernel, Initramfs));
        let plan = plan_with(|i| i.slot.control = i.slot.setup_data);
        assert_eq!(plan, overlap(SetupData, ControlPage));
        let plan = plan_with(|i| i.slot.zero_page = i.slot.page_tables + 0x5000);
        assert_eq!(plan, overlap(ZeroPage, PageTables));
    }

    #[test]
    fn refuses_an_entry_past_2_64() {
        let mut i = inputs();
        i.partition_base = u64::MAX - 64 * M;
        i.partition_size = 64 * M;
        i.placement = Placement {
            kernel: u64::MAX - 0xff,
            kernel_end: u64::MAX,
            initrd: i.partition_base,
            initrd_len: 4096,
        };
        i.kernel_len = 0xff;
        assert_eq!(
            BootPlan::new(&i),
            Err(PlanError::Outside {
                content: Content::Kernel,
                phys: u64::MAX - 0xff,
                len: 0x200
            })
        );
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        // Everything wrong at once: the first check speaks.
        let mut i = inputs();
        i.kernel_len = u64::MAX;
        i.placement.initrd = 0;
        i.low_window_base = PART;
        assert!(matches!(BootPlan::new(&i), Err(PlanError::AreasOverlap { .. })));
        i.low_window_base = LOW;
        assert!(matches!(BootPlan::new(&i), Err(PlanError::KernelTooLong { .. })));
        i.kernel_len = 0;
        assert!(matches!(
            BootPlan::new(&i),
            Err(PlanError::Outside { content: Content::Initramfs, .. })
        ));
        i.partition_size = u64::MAX;
        assert!(matches!(BootPlan::new(&i), Err(PlanError::Wraps { .. })));
    }

    #[test]
    fn displays() {
        let cases = [
            (
                PlanError::Wraps { area: Area::LowWindow, base: 0x7_0000, size: u64::MAX },
                "low window of 0xffffffffffffffff bytes at 0x70000 does not fit the address space",
            ),
            (
                PlanError::AreasOverlap { first: Area::Partition, second: Area::BootSlot },
                "partition and boot slot overlap",
            ),
            (
                PlanError::KernelTooLong { len: 0x2800001, room: 0x2800000 },
                "kernel of 0x2800001 bytes is longer than its init_size range of 0x2800000",
            ),
            (
                PlanError::Outside { content: Content::Initramfs, phys: 0x5fff_f000, len: 0x1001 },
                "initramfs (0x1001 bytes at 0x5ffff000) lies outside its area",
            ),
            (
                PlanError::WritesOverlap { first: Content::SetupData, second: Content::ControlPage },
                "setup_data and control page overlap",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
        let names: Vec<_> = [
            Content::Zeros,
            Content::Kernel,
            Content::CommandLine,
            Content::ZeroPage,
            Content::PageTables,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(names, ["scrub", "kernel", "command line", "zero page", "page tables"]);
    }

    /// Everything a plan promises the loader.
    fn check_plan(plan: &BootPlan, i: &PlanInputs) -> Result<(), TestCaseError> {
        let regions = plan.regions();
        let mut seen: Vec<Area> = Vec::new();
        for w in plan.writes() {
            let r = regions.iter().find(|r| r.area == w.area).unwrap();
            prop_assert!(w.range().end <= r.len);
            prop_assert_eq!(r.base + w.offset as u64, w.phys);
            if seen.last() != Some(&w.area) {
                // A new area starts with its scrub, and never comes back.
                prop_assert!(!seen.contains(&w.area));
                prop_assert_eq!(w.content, Content::Zeros);
                prop_assert_eq!(w.len, r.len);
                seen.push(w.area);
            }
        }
        prop_assert_eq!(seen, [Area::Partition, Area::LowWindow, Area::BootSlot]);
        for (n, a) in regions.iter().enumerate() {
            for b in &regions[n + 1..] {
                let (a_end, b_end) = (a.base + a.len as u64, b.base + b.len as u64);
                prop_assert!(a_end <= b.base || b_end <= a.base);
            }
        }
        let k = plan.kernel();
        prop_assert_eq!(k.phys, i.placement.kernel);
        prop_assert_eq!(k.len as u64, i.kernel_len);
        // The kernel's whole init_size range stays clear of the initramfs.
        let room = i.placement.kernel_end.saturating_sub(k.phys);
        prop_assert!(k.len as u64 <= room);
        let rd = plan.initramfs();
        prop_assert!(room == 0 || rd.len == 0 || k.phys + room <= rd.phys || rd.range().end <= k.offset);
        prop_assert_eq!(plan.entry(), k.phys + 0x200);
        let parts = [plan.cmdline(), plan.setup_data(), plan.control(), plan.zero_page(), plan.page_tables()];
        for (n, a) in parts.iter().enumerate() {
            for b in &parts[n + 1..] {
                prop_assert!(a.range().end <= b.offset || b.range().end <= a.offset);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn placed_layouts_are_planned_and_keep_their_promises(
            base_mb in 0u64..(16u64 << 20), size_mb in 0u64..4096, align_log in 12u32..25,
            init_size in 0u64..(128u64 << 20), kernel_cut in 0u64..(128u64 << 20),
            initrd in 0u64..(512u64 << 20), slot in 0usize..8, low in 0u64..16,
        ) {
            let (base, size) = (base_mb << 20, size_mb << 20);
            if let Ok(placement) = place(base, size, 1 << align_log, init_size, initrd) {
                let i = PlanInputs {
                    partition_base: base,
                    partition_size: size,
                    placement,
                    kernel_len: init_size.saturating_sub(kernel_cut),
                    low_window_base: low << 16,
                    low_window_size: 0x1_0000,
                    slot: boot_slot(0x7b00_0000, M, slot).unwrap(),
                };
                // Only areas in each other's way are refused.
                match BootPlan::new(&i) {
                    Ok(plan) => check_plan(&plan, &i)?,
                    Err(e) => prop_assert!(matches!(e, PlanError::AreasOverlap { .. }), "{e}"),
                }
            }
        }

        #[test]
        fn never_panics_and_what_it_accepts_is_sound(
            words in proptest::array::uniform12(any::<u64>()), pick in any::<u16>(),
        ) {
            // Mix wild values with ones near the real layout and 2^64.
            let near = |n: usize, w: u64| match (pick >> n) & 3 {
                0 => w,
                1 => u64::MAX - (w & 0xffff),
                _ => w & 0xffff_ffff,
            };
            let placement = Placement {
                kernel: near(0, words[0]),
                kernel_end: near(2, words[1]),
                initrd: near(4, words[2]),
                initrd_len: near(6, words[3]) & 0xff_ffff,
            };
            let slot = BootSlot {
                index: 0,
                base: near(8, words[4]),
                zero_page: near(10, words[5]),
                setup_data: near(12, words[6]),
                cmdline: near(14, words[7]),
                control: words[8],
                page_tables: words[9],
            };
            let i = PlanInputs {
                partition_base: words[10],
                partition_size: words[11],
                placement,
                kernel_len: words[0] & 0xffff,
                low_window_base: words[1],
                low_window_size: words[2] & 0xffff,
                slot,
            };
            if let Ok(plan) = BootPlan::new(&i) {
                check_plan(&plan, &i)?;
            }
        }
    }
}
