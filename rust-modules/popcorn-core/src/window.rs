//! The message layer's part of the shared window: the header page with the
//! kernel table, and where each ring lies.
//!
//! Kernels are named here by *kernel slot*: 0 is the primary, `k + 1` the
//! secondary in boot slot `k` (`shared.rs`), so a slot is reused when a
//! kernel is started in the place of one that ended. Kernel ids (1, 2, ...,
//! never reused) are data in the table.
//!
//! Header page (offset 0 of the window, `shared::HEADER_OFFSET`):
//!
//! | Offset  | Size       | Field             | Meaning                                        |
//! |---------|------------|-------------------|------------------------------------------------|
//! | `0x000` | 4          | `magic`           | [`WINDOW_MAGIC`], `PCMW`                        |
//! | `0x004` | 4          | `version`         | [`WINDOW_VERSION`]                              |
//! | `0x008` | 4          | `kernel_slots`    | [`KERNEL_SLOTS`]                                |
//! | `0x00c` | 4          | `ring_slots`      | slots per ring (`ring.rs`)                      |
//! | `0x010` | 48         | reserved          | 0                                              |
//! | `0x040` | 64 × 9     | kernel table      | one [`KernelEntry`] per kernel slot            |
//!
//! Kernel entry (64 bytes, one cache line), written by the primary when it
//! starts or reclaims a kernel, and by the kernel itself for `heartbeat`:
//!
//! | Offset | Size | Field            | Meaning                                                  |
//! |--------|------|------------------|----------------------------------------------------------|
//! | `0x00` | 4    | `state`          | [`SlotState`]: 0 empty, 1 starting, 2 live, 3 gone       |
//! | `0x04` | 4    | `generation`     | +1 each time a kernel starts in this slot                |
//! | `0x08` | 4    | `kernel_id`      | the kernel's id                                          |
//! | `0x0c` | 4    | `notify_apic_id` | APIC ID to send its message interrupt to                 |
//! | `0x10` | 4    | `nr_cpus`        | its CPUs                                                 |
//! | `0x14` | 4    | reserved         | 0                                                        |
//! | `0x18` | 8    | `mem_bytes`      | its RAM                                                  |
//! | `0x20` | 8    | `heartbeat`      | bumped by the kernel while it runs                       |
//! | `0x28` | 24   | reserved         | 0                                                        |
//!
//! Rings start at `shared::RINGS_OFFSET` (1 MiB). There is one for every
//! ordered pair of kernel slots (`from` != `to`), 72 for 9 slots, each
//! [`WindowLayout::ring_stride`] bytes apart (the ring's size rounded up to
//! 4 KiB). The ring size is the largest power of two of slots for which all
//! of them fit the window; a window of 1 MiB has no room for rings.
//!
//! A kernel that sees a peer's `generation` change resets both rings with
//! that peer: its sender and receiver start again from a fresh ring. That
//! is how a kernel started in the place of a dead one can talk without the
//! others restarting.
//!
//! Everything read from the table comes from another kernel and is checked
//! ([`KernelEntry::parse`]).
//!
//! Requires: `crate::le`, `crate::ring`.

use core::fmt;

use crate::le::{put, read_u32, read_u64};
use crate::ring::{Layout, MAX_SLOTS, MIN_SLOTS};

/// `magic`: the bytes `PCMW` in memory.
pub const WINDOW_MAGIC: u32 = 0x574d_4350;
/// The layout version described here.
pub const WINDOW_VERSION: u32 = 1;
/// Kernel slots: the primary and one per boot slot.
pub const KERNEL_SLOTS: usize = 9;
/// Offset of the kernel table in the header page.
pub const TABLE_OFFSET: usize = 0x40;
/// Bytes of a kernel entry.
pub const ENTRY_SIZE: usize = 64;
/// Offset of the rings from the window's base (as `shared::RINGS_OFFSET`).
pub const RINGS_OFFSET: u64 = 0x10_0000;
/// Rings are placed on 4 KiB boundaries.
const RING_ALIGN: u64 = 0x1000;
/// Ordered pairs of kernel slots.
pub const NR_RINGS: usize = KERNEL_SLOTS * (KERNEL_SLOTS - 1);

const MAGIC_OFFSET: usize = 0x0;
const VERSION_OFFSET: usize = 0x4;
const KERNEL_SLOTS_OFFSET: usize = 0x8;
const RING_SLOTS_OFFSET: usize = 0xc;

/// A kernel slot's state in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// 0: no kernel.
    Empty,
    /// 1: started, not talking yet.
    Starting,
    /// 2: running its message layer.
    Live,
    /// 3: stopped or crashed; its rings hold nothing for anyone.
    Gone,
}

impl SlotState {
    fn raw(self) -> u32 {
        match self {
            SlotState::Empty => 0,
            SlotState::Starting => 1,
            SlotState::Live => 2,
            SlotState::Gone => 3,
        }
    }

    pub fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            0 => Some(SlotState::Empty),
            1 => Some(SlotState::Starting),
            2 => Some(SlotState::Live),
            3 => Some(SlotState::Gone),
            _ => None,
        }
    }
}

/// One entry of the kernel table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelEntry {
    pub state: SlotState,
    pub generation: u32,
    pub kernel_id: u32,
    pub notify_apic_id: u32,
    pub nr_cpus: u32,
    pub mem_bytes: u64,
    pub heartbeat: u64,
}

/// Why the window or an entry cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// The window is too small for the header page.
    TooSmall { size: u64 },
    /// No ring fits: the window has less than 1 MiB past the rings' start.
    NoRoomForRings { size: u64 },
    /// A kernel slot out of range, or a ring from a slot to itself.
    BadSlot { slot: usize },
    /// The header page's magic, version or geometry is not ours.
    BadHeader { field: &'static str, found: u32 },
    /// An entry with a state no kernel writes.
    BadState { slot: usize, raw: u32 },
    /// A buffer too short for what is written or read.
    Short { len: usize, needed: usize },
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::TooSmall { size } => {
                write!(f, "shared window of {size} bytes is too small")
            }
            WindowError::NoRoomForRings { size } => {
                write!(
                    f,
                    "shared window of {size} bytes has no room for message rings"
                )
            }
            WindowError::BadSlot { slot } => write!(f, "no kernel slot {slot}"),
            WindowError::BadHeader { field, found } => {
                write!(f, "shared window header: unexpected {field} {found:#x}")
            }
            WindowError::BadState { slot, raw } => {
                write!(f, "kernel slot {slot} has the unknown state {raw:#x}")
            }
            WindowError::Short { len, needed } => {
                write!(f, "buffer of {len} bytes, {needed} needed")
            }
        }
    }
}

/// Where the rings lie in a window of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLayout {
    ring: Layout,
    stride: u64,
}

impl WindowLayout {
    /// The largest rings that fit a window of `size` bytes, all
    /// [`NR_RINGS`] of them.
    pub fn for_window(size: u64) -> Result<Self, WindowError> {
        let room = size
            .checked_sub(RINGS_OFFSET)
            .ok_or(WindowError::NoRoomForRings { size })?;
        let mut slots = MAX_SLOTS;
        while slots >= MIN_SLOTS {
            if let Some(ring) = Layout::new(slots) {
                let stride = (ring.size() as u64).next_multiple_of(RING_ALIGN);
                if stride.saturating_mul(NR_RINGS as u64) <= room {
                    return Ok(WindowLayout { ring, stride });
                }
            }
            slots /= 2;
        }
        Err(WindowError::NoRoomForRings { size })
    }

    /// The geometry of every ring.
    pub fn ring(&self) -> Layout {
        self.ring
    }

    /// Distance between two rings.
    pub fn ring_stride(&self) -> u64 {
        self.stride
    }

    /// Offset from the window's base of the ring `from` -> `to`.
    pub fn ring_offset(&self, from: usize, to: usize) -> Result<u64, WindowError> {
        if from >= KERNEL_SLOTS {
            return Err(WindowError::BadSlot { slot: from });
        }
        if to >= KERNEL_SLOTS || to == from {
            return Err(WindowError::BadSlot { slot: to });
        }
        // Each sender's rings in a row, skipping the ring to itself.
        let column = if to < from { to } else { to.saturating_sub(1) };
        from.checked_mul(KERNEL_SLOTS - 1)
            .and_then(|row| row.checked_add(column))
            .and_then(|index| (index as u64).checked_mul(self.stride))
            .and_then(|offset| offset.checked_add(RINGS_OFFSET))
            .ok_or(WindowError::BadSlot { slot: from })
    }
}

/// Writes a fresh header page: magic, version, geometry, an empty table.
pub fn init_header(page: &mut [u8], layout: &WindowLayout) -> Result<(), WindowError> {
    let needed = TABLE_OFFSET + KERNEL_SLOTS * ENTRY_SIZE;
    let len = page.len();
    let header = page
        .get_mut(..needed)
        .ok_or(WindowError::Short { len, needed })?;
    header.fill(0);
    put(header, MAGIC_OFFSET, &WINDOW_MAGIC.to_le_bytes());
    put(header, VERSION_OFFSET, &WINDOW_VERSION.to_le_bytes());
    put(
        header,
        KERNEL_SLOTS_OFFSET,
        &(KERNEL_SLOTS as u32).to_le_bytes(),
    );
    put(
        header,
        RING_SLOTS_OFFSET,
        &layout.ring.nr_slots().to_le_bytes(),
    );
    Ok(())
}

/// Checks a header page another kernel wrote against what this kernel
/// computes for the window: same magic, version, slots and ring size.
pub fn check_header(page: &[u8], layout: &WindowLayout) -> Result<(), WindowError> {
    let fields = [
        ("magic", MAGIC_OFFSET, WINDOW_MAGIC),
        ("version", VERSION_OFFSET, WINDOW_VERSION),
        ("kernel_slots", KERNEL_SLOTS_OFFSET, KERNEL_SLOTS as u32),
        ("ring_slots", RING_SLOTS_OFFSET, layout.ring.nr_slots()),
    ];
    for (field, offset, expected) in fields {
        let found = read_u32(page, offset).ok_or(WindowError::Short {
            len: page.len(),
            needed: offset.saturating_add(4),
        })?;
        if found != expected {
            return Err(WindowError::BadHeader { field, found });
        }
    }
    Ok(())
}

/// Offset of kernel slot `slot`'s entry in the header page.
pub fn entry_offset(slot: usize) -> Result<usize, WindowError> {
    if slot >= KERNEL_SLOTS {
        return Err(WindowError::BadSlot { slot });
    }
    slot.checked_mul(ENTRY_SIZE)
        .and_then(|offset| offset.checked_add(TABLE_OFFSET))
        .ok_or(WindowError::BadSlot { slot })
}

impl KernelEntry {
    /// An empty slot.
    pub const EMPTY: KernelEntry = KernelEntry {
        state: SlotState::Empty,
        generation: 0,
        kernel_id: 0,
        notify_apic_id: 0,
        nr_cpus: 0,
        mem_bytes: 0,
        heartbeat: 0,
    };

    /// Writes the entry into its 64 bytes (reserved bytes zeroed).
    pub fn write(&self, out: &mut [u8]) -> Result<(), WindowError> {
        let len = out.len();
        let entry = out.get_mut(..ENTRY_SIZE).ok_or(WindowError::Short {
            len,
            needed: ENTRY_SIZE,
        })?;
        entry.fill(0);
        put(entry, 0x00, &self.state.raw().to_le_bytes());
        put(entry, 0x04, &self.generation.to_le_bytes());
        put(entry, 0x08, &self.kernel_id.to_le_bytes());
        put(entry, 0x0c, &self.notify_apic_id.to_le_bytes());
        put(entry, 0x10, &self.nr_cpus.to_le_bytes());
        put(entry, 0x18, &self.mem_bytes.to_le_bytes());
        put(entry, 0x20, &self.heartbeat.to_le_bytes());
        Ok(())
    }

    /// Reads slot `slot`'s entry from a copy of its 64 bytes, refusing a
    /// state no kernel writes.
    pub fn parse(bytes: &[u8], slot: usize) -> Result<Self, WindowError> {
        let short = WindowError::Short {
            len: bytes.len(),
            needed: ENTRY_SIZE,
        };
        let entry = bytes.get(..ENTRY_SIZE).ok_or(short)?;
        let u32_at = |off| read_u32(entry, off).unwrap_or(0);
        let raw = u32_at(0x00);
        let state = SlotState::from_raw(raw).ok_or(WindowError::BadState { slot, raw })?;
        Ok(KernelEntry {
            state,
            generation: u32_at(0x04),
            kernel_id: u32_at(0x08),
            notify_apic_id: u32_at(0x0c),
            nr_cpus: u32_at(0x10),
            mem_bytes: read_u64(entry, 0x18).unwrap_or(0),
            heartbeat: read_u64(entry, 0x20).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    const MIB: u64 = 1 << 20;

    #[test]
    fn magic_spells_pcmw() {
        assert_eq!(&WINDOW_MAGIC.to_le_bytes(), b"PCMW");
        assert_eq!(RINGS_OFFSET, crate::shared::RINGS_OFFSET);
        assert_eq!(NR_RINGS, 72);
        assert!(TABLE_OFFSET + KERNEL_SLOTS * ENTRY_SIZE <= crate::shared::HEADER_SIZE as usize);
    }

    #[test]
    fn ring_sizes_for_windows() {
        assert_eq!(
            WindowLayout::for_window(MIB),
            Err(WindowError::NoRoomForRings { size: MIB })
        );
        assert_eq!(
            WindowLayout::for_window(MIB / 2),
            Err(WindowError::NoRoomForRings { size: MIB / 2 })
        );
        // The default 4 MiB window: 512 slots (32 KiB of slots) per ring.
        let l = WindowLayout::for_window(4 * MIB).unwrap();
        assert_eq!(l.ring().nr_slots(), 512);
        assert_eq!(l.ring_stride(), 36 * 1024);
        let l = WindowLayout::for_window(256 * MIB).unwrap();
        assert_eq!(l.ring().nr_slots(), 32768);
        // Just enough room for the smallest rings.
        let smallest = RINGS_OFFSET + 72 * 4096;
        assert_eq!(
            WindowLayout::for_window(smallest)
                .unwrap()
                .ring()
                .nr_slots(),
            32
        );
    }

    #[test]
    fn rings_are_disjoint_and_inside_the_window() {
        for size in [2 * MIB, 4 * MIB, 64 * MIB, 256 * MIB] {
            let l = WindowLayout::for_window(size).unwrap();
            let mut spans: Vec<(u64, u64)> = Vec::new();
            for from in 0..KERNEL_SLOTS {
                for to in 0..KERNEL_SLOTS {
                    if from == to {
                        assert_eq!(
                            l.ring_offset(from, to),
                            Err(WindowError::BadSlot { slot: to })
                        );
                        continue;
                    }
                    let start = l.ring_offset(from, to).unwrap();
                    let end = start + l.ring().size() as u64;
                    assert_eq!(start % 4096, 0);
                    assert!(
                        start >= RINGS_OFFSET && end <= size,
                        "{from}->{to} in {size}"
                    );
                    spans.push((start, end));
                }
            }
            spans.sort();
            assert_eq!(spans.len(), NR_RINGS);
            for pair in spans.windows(2) {
                assert!(pair[0].1 <= pair[1].0);
            }
        }
        let l = WindowLayout::for_window(4 * MIB).unwrap();
        assert_eq!(l.ring_offset(9, 0), Err(WindowError::BadSlot { slot: 9 }));
        assert_eq!(l.ring_offset(0, 9), Err(WindowError::BadSlot { slot: 9 }));
    }

    #[test]
    fn header_round_trip_and_checks() {
        let l = WindowLayout::for_window(4 * MIB).unwrap();
        let mut page = vec![0xffu8; 4096];
        init_header(&mut page, &l).unwrap();
        assert_eq!(&page[..4], b"PCMW");
        assert_eq!(check_header(&page, &l), Ok(()));
        for slot in 0..KERNEL_SLOTS {
            let off = entry_offset(slot).unwrap();
            assert_eq!(
                KernelEntry::parse(&page[off..], slot),
                Ok(KernelEntry::EMPTY)
            );
        }
        let other = WindowLayout::for_window(8 * MIB).unwrap();
        assert_eq!(
            check_header(&page, &other),
            Err(WindowError::BadHeader {
                field: "ring_slots",
                found: 512
            })
        );
        page[4] = 2;
        assert_eq!(
            check_header(&page, &l),
            Err(WindowError::BadHeader {
                field: "version",
                found: 2
            })
        );
        assert_eq!(
            check_header(&page[..6], &l),
            Err(WindowError::Short { len: 6, needed: 8 })
        );
        assert_eq!(entry_offset(9), Err(WindowError::BadSlot { slot: 9 }));
        assert_eq!(
            init_header(&mut [0u8; 100], &l),
            Err(WindowError::Short {
                len: 100,
                needed: 0x280
            })
        );
    }

    #[test]
    fn entries_round_trip_and_refuse_garbage() {
        let entry = KernelEntry {
            state: SlotState::Live,
            generation: 7,
            kernel_id: 12,
            notify_apic_id: 4,
            nr_cpus: 2,
            mem_bytes: 340 << 20,
            heartbeat: 99,
        };
        let mut bytes = vec![0xaau8; 64];
        entry.write(&mut bytes).unwrap();
        assert_eq!(KernelEntry::parse(&bytes, 3), Ok(entry));
        assert!(bytes[0x14..0x18]
            .iter()
            .chain(&bytes[0x28..])
            .all(|&b| b == 0));
        bytes[0] = 9;
        assert_eq!(
            KernelEntry::parse(&bytes, 3),
            Err(WindowError::BadState { slot: 3, raw: 9 })
        );
        assert_eq!(
            KernelEntry::parse(&bytes[..63], 3),
            Err(WindowError::Short {
                len: 63,
                needed: 64
            })
        );
        assert_eq!(
            entry.write(&mut [0u8; 10]),
            Err(WindowError::Short {
                len: 10,
                needed: 64
            })
        );
    }

    #[test]
    fn texts() {
        assert_eq!(
            WindowError::BadState { slot: 2, raw: 9 }.to_string(),
            "kernel slot 2 has the unknown state 0x9"
        );
        assert_eq!(
            WindowError::NoRoomForRings { size: 1 << 20 }.to_string(),
            "shared window of 1048576 bytes has no room for message rings"
        );
    }
}
