//! The message layer's part of the shared window: the header page, one page
//! per kernel table entry, and where each ring lies.
//!
//! Kernels are named here by *kernel slot*: 0 is the primary, `k + 1` the
//! secondary in boot slot `k` (`shared.rs`), so a slot is reused when a
//! kernel is started in the place of one that ended. Kernel ids (1, 2, ...,
//! never reused) are data in the table.
//!
//! Layout version 2 (offsets from the window's base):
//!
//! | Offset                 | Size      | Contents                                        |
//! |------------------------|-----------|-------------------------------------------------|
//! | `0x0000`               | `0x1000`  | header page: magic, version, geometry           |
//! | `0x1000 * (s + 1)`     | `0x1000`  | entry page of kernel slot `s`, `s` in `0..9`    |
//! | `0x100000`             | the rest  | the rings                                       |
//!
//! (boot slots lie between the entry pages and the rings, `shared.rs`).
//!
//! Header page, written by the primary only, when its module loads:
//!
//! | Offset  | Size       | Field             | Meaning                                        |
//! |---------|------------|-------------------|------------------------------------------------|
//! | `0x000` | 4          | `magic`           | [`WINDOW_MAGIC`], `PCMW`                        |
//! | `0x004` | 4          | `version`         | [`WINDOW_VERSION`]                              |
//! | `0x008` | 4          | `kernel_slots`    | [`KERNEL_SLOTS`]                                |
//! | `0x00c` | 4          | `ring_slots`      | slots per ring (`ring.rs`)                      |
//! | `0x010` | 48         | reserved          | 0                                              |
//!
//! Each kernel slot's entry has a page of its own ([`entry_page`]), so that
//! a secondary can map its own entry writable and every other part of the
//! table read-only ([`entry_access`], [`header_access`]). The entry is the
//! first 64 bytes of the page (one cache line); the rest is 0. It is
//! written by the primary when it starts or reclaims a kernel, and by the
//! kernel itself for `state` (`live`, `starting` when its module unloads)
//! and `heartbeat`:
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
//! ([`KernelEntry::parse`]). A secondary can write only its own entry
//! (through its mappings; a kernel that maps the window itself can write
//! anything), so the primary keeps what it assigned ([`Assignment`]) and
//! trusts only that; secondaries check what they must take from the table
//! ([`check_peer_notify`]). A secondary maps only the rings it is an end
//! of ([`mapped_rings`]).
//!
//! Version 1 had the table in the header page, 64 bytes an entry; a
//! kernel of one version refuses a window of the other ([`check_header`]).
//!
//! Requires: `crate::le`, `crate::ring`.

use core::fmt;

use crate::le::{put, read_u32, read_u64};
use crate::ring::{Layout, MAX_SLOTS, MIN_SLOTS};

/// `magic`: the bytes `PCMW` in memory.
pub const WINDOW_MAGIC: u32 = 0x574d_4350;
/// The layout version described here.
pub const WINDOW_VERSION: u32 = 2;
/// Kernel slots: the primary and one per boot slot.
pub const KERNEL_SLOTS: usize = 9;
/// Bytes of the header at the start of the header page ([`init_header`]).
pub const HEADER_BYTES: usize = 0x40;
/// Offset from the window's base of kernel slot 0's entry page.
pub const ENTRIES_OFFSET: u64 = 0x1000;
/// Size of an entry page (what a kernel maps for one entry).
pub const ENTRY_PAGE_SIZE: u64 = 0x1000;
/// Bytes of a kernel entry, at the start of its page.
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
        let index = Self::ring_index(from, to)?;
        (index as u64)
            .checked_mul(self.stride)
            .and_then(|offset| offset.checked_add(RINGS_OFFSET))
            .ok_or(WindowError::BadSlot { slot: from })
    }
}

/// The rings a kernel in slot `slot` maps, as `(from, to)` pairs: the
/// primary (slot 0) maps every ring, since it resets the rings of a slot
/// before a kernel starts there; a secondary maps only the
/// `2 * (KERNEL_SLOTS - 1)` rings it is an end of. A slot out of range maps
/// none.
pub fn mapped_rings(slot: usize) -> impl Iterator<Item = (usize, usize)> {
    let valid = slot < KERNEL_SLOTS;
    (0..KERNEL_SLOTS)
        .flat_map(|from| (0..KERNEL_SLOTS).map(move |to| (from, to)))
        .filter(move |&(from, to)| valid && from != to && (slot == 0 || from == slot || to == slot))
}

impl WindowLayout {
    /// The index of the ring `from` -> `to` among the [`NR_RINGS`] (its
    /// place in the window, counted in rings).
    pub fn ring_index(from: usize, to: usize) -> Result<usize, WindowError> {
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
            .ok_or(WindowError::BadSlot { slot: from })
    }
}

/// Most CPUs an [`Assignment`] holds (as `control::MAX_CPUS`).
pub const MAX_ASSIGNED_CPUS: usize = 32;
/// The physical destination that reaches every CPU in xAPIC mode.
pub const XAPIC_BROADCAST: u32 = 0xff;
/// The largest unicast APIC ID in xAPIC mode (8-bit destinations: a larger
/// value is cut to its low byte, and `0x1ff` would become a broadcast).
pub const XAPIC_MAX_ID: u32 = 0xfe;
/// The physical destination that reaches every CPU in x2APIC mode.
pub const X2APIC_BROADCAST: u32 = 0xffff_ffff;

/// Why a message interrupt is not sent to an APIC ID read from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpiRefused {
    /// A broadcast destination.
    Broadcast { apic_id: u32 },
    /// Above the largest unicast ID this machine's APIC mode has.
    OutOfRange { apic_id: u32, max: u32 },
    /// One of the sending kernel's own CPUs.
    OwnCpu { apic_id: u32 },
    /// Not a CPU the primary gave the kernel in that slot.
    NotAssigned { apic_id: u32 },
}

impl fmt::Display for IpiRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpiRefused::Broadcast { apic_id } => {
                write!(f, "APIC ID {apic_id:#x} is a broadcast")
            }
            IpiRefused::OutOfRange { apic_id, max } => {
                write!(f, "APIC ID {apic_id:#x} is above the largest one, {max:#x}")
            }
            IpiRefused::OwnCpu { apic_id } => {
                write!(f, "APIC ID {apic_id:#x} is one of our own CPUs")
            }
            IpiRefused::NotAssigned { apic_id } => {
                write!(f, "APIC ID {apic_id:#x} is not one of its CPUs")
            }
        }
    }
}

/// The largest unicast APIC ID, judged from APIC IDs this kernel knows to
/// be real (its own CPUs', the primary's): xAPIC's [`XAPIC_MAX_ID`] unless
/// one of them is larger, which only x2APIC mode has.
pub fn max_apic_id(known: &[u32]) -> u32 {
    if known.iter().any(|&id| id > XAPIC_MAX_ID && id != X2APIC_BROADCAST) {
        X2APIC_BROADCAST - 1
    } else {
        XAPIC_MAX_ID
    }
}

/// A secondary's check of the notify APIC ID a peer's table entry gives:
/// never a broadcast, never above `max` (see [`max_apic_id`]), never one
/// of this kernel's own CPUs (`own`) nor the primary's (`primary`, which
/// the primary told this kernel at boot: a secondary's CPU cannot have
/// it). What passes is still only what the table says: a peer that can
/// write the table can point it at another secondary's CPU.
pub fn check_peer_notify(apic_id: u32, own: &[u32], primary: u32, max: u32) -> Result<u32, IpiRefused> {
    if apic_id == X2APIC_BROADCAST || (max <= XAPIC_MAX_ID && apic_id == XAPIC_BROADCAST) {
        return Err(IpiRefused::Broadcast { apic_id });
    }
    if apic_id > max {
        return Err(IpiRefused::OutOfRange { apic_id, max });
    }
    if own.contains(&apic_id) || apic_id == primary {
        return Err(IpiRefused::OwnCpu { apic_id });
    }
    Ok(apic_id)
}

/// What the primary assigned to the kernel in one slot: its id, the
/// slot's generation, the APIC IDs of its CPUs (the first one, its boot
/// CPU, is where its message interrupt goes). The primary keeps this in its
/// own memory and never takes these values back from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub kernel_id: u32,
    pub generation: u32,
    apic_ids: [u32; MAX_ASSIGNED_CPUS],
    nr_apic_ids: usize,
}

/// Which fields of a table entry disagree with the [`Assignment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Forged {
    pub kernel_id: bool,
    pub generation: bool,
    pub notify_apic_id: bool,
}

impl Forged {
    pub fn any(&self) -> bool {
        self.kernel_id || self.generation || self.notify_apic_id
    }
}

impl Assignment {
    /// A kernel `kernel_id` in generation `generation` on the CPUs with
    /// `apic_ids` (boot CPU first). `None` for no CPUs, more than
    /// [`MAX_ASSIGNED_CPUS`], or a broadcast ID among them.
    pub fn new(kernel_id: u32, generation: u32, apic_ids: &[u32]) -> Option<Self> {
        let nr_apic_ids = apic_ids.len();
        if nr_apic_ids == 0
            || nr_apic_ids > MAX_ASSIGNED_CPUS
            || apic_ids.contains(&X2APIC_BROADCAST)
        {
            return None;
        }
        let mut ids = [0u32; MAX_ASSIGNED_CPUS];
        ids.get_mut(..nr_apic_ids)?.copy_from_slice(apic_ids);
        Some(Assignment {
            kernel_id,
            generation,
            apic_ids: ids,
            nr_apic_ids,
        })
    }

    /// The APIC IDs of the kernel's CPUs, boot CPU first.
    pub fn apic_ids(&self) -> &[u32] {
        self.apic_ids.get(..self.nr_apic_ids).unwrap_or(&[])
    }

    /// The APIC ID the primary writes into the table: the boot CPU's.
    pub fn notify_apic_id(&self) -> u32 {
        self.apic_ids().first().copied().unwrap_or(X2APIC_BROADCAST)
    }

    /// Where the message interrupt goes, given the notify APIC ID the
    /// table has now: that ID if it is one of the kernel's CPUs (it may
    /// pick which), refused otherwise.
    pub fn notify_target(&self, table_value: u32) -> Result<u32, IpiRefused> {
        if self.apic_ids().contains(&table_value) {
            Ok(table_value)
        } else {
            Err(IpiRefused::NotAssigned {
                apic_id: table_value,
            })
        }
    }

    /// The fields of `entry` (read from the table) that disagree with
    /// what was assigned.
    pub fn forged(&self, entry: &KernelEntry) -> Forged {
        Forged {
            kernel_id: entry.kernel_id != self.kernel_id,
            generation: entry.generation != self.generation,
            notify_apic_id: self.notify_target(entry.notify_apic_id).is_err(),
        }
    }
}

/// The state a kernel acts on for a peer slot whose kernel the primary
/// started (or, `assigned == false`, ended or never started): a running
/// kernel's own word is taken only for `starting` and `live` (present,
/// talking or not); anything else it writes reads as `starting`. A slot
/// the primary does not consider running is never `live`, whatever the
/// table says.
pub fn trusted_state(assigned: bool, ended: SlotState, table: Option<SlotState>) -> SlotState {
    if !assigned {
        return match ended {
            SlotState::Live | SlotState::Starting => SlotState::Gone,
            other => other,
        };
    }
    match table {
        Some(SlotState::Live) => SlotState::Live,
        _ => SlotState::Starting,
    }
}

/// Writes a fresh header: magic, version, geometry ([`HEADER_BYTES`]
/// bytes; the entries have pages of their own, [`entry_page`]).
pub fn init_header(page: &mut [u8], layout: &WindowLayout) -> Result<(), WindowError> {
    let needed = HEADER_BYTES;
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

/// Offset from the window's base of kernel slot `slot`'s entry page
/// ([`ENTRY_PAGE_SIZE`] bytes, the entry at its start).
pub fn entry_page(slot: usize) -> Result<u64, WindowError> {
    if slot >= KERNEL_SLOTS {
        return Err(WindowError::BadSlot { slot });
    }
    (slot as u64)
        .checked_mul(ENTRY_PAGE_SIZE)
        .and_then(|offset| offset.checked_add(ENTRIES_OFFSET))
        .ok_or(WindowError::BadSlot { slot })
}

/// How a kernel maps one part of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Loads only: the mapping has no write permission, and the module's
    /// type for it no write accessor.
    ReadOnly,
    /// Loads and stores.
    ReadWrite,
}

/// How the kernel in `self_slot` maps the header page: the primary, which
/// writes it, read-write; a secondary, which only checks it, read-only.
pub fn header_access(self_slot: usize) -> Access {
    if self_slot == 0 {
        Access::ReadWrite
    } else {
        Access::ReadOnly
    }
}

/// How the kernel in `self_slot` maps slot `slot`'s entry page: the
/// primary every entry read-write (it writes them when it starts and
/// reclaims kernels, and restores forged ones); a secondary its own entry
/// read-write (its `state`) and every other read-only (it reads their
/// state, generation, kernel id and notify APIC ID).
pub fn entry_access(self_slot: usize, slot: usize) -> Access {
    if self_slot == 0 || self_slot == slot {
        Access::ReadWrite
    } else {
        Access::ReadOnly
    }
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
        assert!(HEADER_BYTES <= crate::shared::HEADER_SIZE as usize);
        assert!(ENTRY_SIZE as u64 <= ENTRY_PAGE_SIZE);
    }

    #[test]
    fn every_entry_has_a_page_of_its_own_before_the_boot_slots() {
        use crate::shared::{BOOT_SLOTS_OFFSET, HEADER_OFFSET, HEADER_SIZE};
        let mut end = HEADER_OFFSET + HEADER_SIZE;
        for slot in 0..KERNEL_SLOTS {
            let page = entry_page(slot).unwrap();
            assert_eq!(page % 4096, 0);
            // In slot order, right after the header page or the previous
            // entry page: no two overlap, none overlaps the header.
            assert_eq!(page, end);
            end = page + ENTRY_PAGE_SIZE;
        }
        assert_eq!(entry_page(0), Ok(0x1000));
        assert_eq!(entry_page(8), Ok(0x9000));
        assert!(end <= BOOT_SLOTS_OFFSET);
        assert_eq!(entry_page(KERNEL_SLOTS), Err(WindowError::BadSlot { slot: 9 }));
        assert_eq!(entry_page(usize::MAX), Err(WindowError::BadSlot { slot: usize::MAX }));
    }

    #[test]
    fn a_secondary_can_write_only_its_own_entry() {
        assert_eq!(header_access(0), Access::ReadWrite);
        for slot in 0..KERNEL_SLOTS {
            assert_eq!(entry_access(0, slot), Access::ReadWrite);
        }
        for me in 1..KERNEL_SLOTS {
            assert_eq!(header_access(me), Access::ReadOnly);
            let writable: Vec<usize> = (0..KERNEL_SLOTS)
                .filter(|&slot| entry_access(me, slot) == Access::ReadWrite)
                .collect();
            assert_eq!(writable, [me]);
        }
        // A slot out of range writes nothing.
        assert_eq!(header_access(KERNEL_SLOTS), Access::ReadOnly);
        assert!((0..KERNEL_SLOTS).all(|slot| entry_access(KERNEL_SLOTS, slot) == Access::ReadOnly));
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
        assert!(page[0x10..HEADER_BYTES].iter().all(|&b| b == 0));
        assert!(page[HEADER_BYTES..].iter().all(|&b| b == 0xff));
        let other = WindowLayout::for_window(8 * MIB).unwrap();
        assert_eq!(
            check_header(&page, &other),
            Err(WindowError::BadHeader {
                field: "ring_slots",
                found: 512
            })
        );
        page[4] = 3;
        assert_eq!(
            check_header(&page, &l),
            Err(WindowError::BadHeader {
                field: "version",
                found: 3
            })
        );
        assert_eq!(
            check_header(&page[..6], &l),
            Err(WindowError::Short { len: 6, needed: 8 })
        );
        // A version 1 window (the table in the header page) is refused.
        page[4] = 1;
        assert_eq!(
            check_header(&page, &l),
            Err(WindowError::BadHeader {
                field: "version",
                found: 1
            })
        );
        assert_eq!(
            init_header(&mut [0u8; 60], &l),
            Err(WindowError::Short {
                len: 60,
                needed: 0x40
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
    fn a_secondary_maps_only_its_own_rings() {
        let l = WindowLayout::for_window(4 * MIB).unwrap();
        assert_eq!(mapped_rings(0).count(), NR_RINGS);
        assert_eq!(mapped_rings(KERNEL_SLOTS).count(), 0);
        for slot in 1..KERNEL_SLOTS {
            let rings: Vec<_> = mapped_rings(slot).collect();
            assert_eq!(rings.len(), 2 * (KERNEL_SLOTS - 1));
            for other in (0..KERNEL_SLOTS).filter(|&o| o != slot) {
                assert!(rings.contains(&(slot, other)) && rings.contains(&(other, slot)));
            }
            for &(from, to) in &rings {
                assert!(from == slot || to == slot);
                // Every mapped ring is whole pages of its own, clear of
                // the header page and the boot slots.
                let start = l.ring_offset(from, to).unwrap();
                assert_eq!(start % 4096, 0);
                assert!(start >= crate::shared::RINGS_OFFSET);
                assert_eq!(
                    l.ring_offset(from, to).unwrap(),
                    RINGS_OFFSET + WindowLayout::ring_index(from, to).unwrap() as u64 * l.ring_stride()
                );
            }
        }
        let mut seen = [false; NR_RINGS];
        for (from, to) in mapped_rings(0) {
            let i = WindowLayout::ring_index(from, to).unwrap();
            assert!(!seen[i]);
            seen[i] = true;
        }
        assert_eq!(WindowLayout::ring_index(3, 3), Err(WindowError::BadSlot { slot: 3 }));
        assert_eq!(WindowLayout::ring_index(9, 0), Err(WindowError::BadSlot { slot: 9 }));
    }

    #[test]
    fn the_primary_interrupts_only_cpus_it_assigned() {
        let a = Assignment::new(4, 2, &[2, 3]).unwrap();
        assert_eq!(a.notify_apic_id(), 2);
        assert_eq!(a.apic_ids(), &[2, 3]);
        assert_eq!(a.notify_target(2), Ok(2));
        assert_eq!(a.notify_target(3), Ok(3));
        for forged in [0, 1, 4, XAPIC_BROADCAST, X2APIC_BROADCAST, 0x1ff] {
            assert_eq!(
                a.notify_target(forged),
                Err(IpiRefused::NotAssigned { apic_id: forged })
            );
        }
        assert_eq!(Assignment::new(1, 1, &[]), None);
        assert_eq!(Assignment::new(1, 1, &[1, X2APIC_BROADCAST]), None);
        assert_eq!(Assignment::new(1, 1, &[1; MAX_ASSIGNED_CPUS + 1]), None);
        assert!(Assignment::new(1, 1, &[1; MAX_ASSIGNED_CPUS]).is_some());
        let honest = KernelEntry {
            state: SlotState::Live,
            generation: 2,
            kernel_id: 4,
            notify_apic_id: 2,
            nr_cpus: 2,
            mem_bytes: 1 << 28,
            heartbeat: 0,
        };
        assert_eq!(a.forged(&honest), Forged::default());
        assert!(!a.forged(&honest).any());
        let forged = KernelEntry {
            kernel_id: 0,
            generation: 9,
            notify_apic_id: XAPIC_BROADCAST,
            ..honest
        };
        assert_eq!(
            a.forged(&forged),
            Forged {
                kernel_id: true,
                generation: true,
                notify_apic_id: true
            }
        );
        // Another of its own CPUs is its choice.
        assert!(!a.forged(&KernelEntry { notify_apic_id: 3, ..honest }).any());
    }

    #[test]
    fn a_secondary_refuses_broadcasts_and_its_own_cpus() {
        let own = [2, 3];
        let max = max_apic_id(&[2, 3, 0]);
        assert_eq!(max, XAPIC_MAX_ID);
        assert_eq!(check_peer_notify(4, &own, 0, max), Ok(4));
        assert_eq!(check_peer_notify(0xfe, &own, 0, max), Ok(0xfe));
        assert_eq!(
            check_peer_notify(0xff, &own, 0, max),
            Err(IpiRefused::Broadcast { apic_id: 0xff })
        );
        assert_eq!(
            check_peer_notify(X2APIC_BROADCAST, &own, 0, max),
            Err(IpiRefused::Broadcast {
                apic_id: X2APIC_BROADCAST
            })
        );
        // Cut to 8 bits by an xAPIC, 0x1ff would be a broadcast.
        assert_eq!(
            check_peer_notify(0x1ff, &own, 0, max),
            Err(IpiRefused::OutOfRange {
                apic_id: 0x1ff,
                max: 0xfe
            })
        );
        for id in [2, 3, 0] {
            assert_eq!(
                check_peer_notify(id, &own, 0, max),
                Err(IpiRefused::OwnCpu { apic_id: id })
            );
        }
        // With x2APIC IDs about, 0xff and above are ordinary CPUs.
        let max = max_apic_id(&[0x100, 0]);
        assert_eq!(max, 0xffff_fffe);
        assert_eq!(check_peer_notify(0xff, &own, 0, max), Ok(0xff));
        assert_eq!(check_peer_notify(0x1ff, &own, 0, max), Ok(0x1ff));
        assert_eq!(
            check_peer_notify(X2APIC_BROADCAST, &own, 0, max),
            Err(IpiRefused::Broadcast {
                apic_id: X2APIC_BROADCAST
            })
        );
        assert_eq!(max_apic_id(&[X2APIC_BROADCAST]), XAPIC_MAX_ID);
        assert_eq!(
            IpiRefused::NotAssigned { apic_id: 0xff }.to_string(),
            "APIC ID 0xff is not one of its CPUs"
        );
        assert_eq!(
            IpiRefused::OutOfRange { apic_id: 0x1ff, max: 0xfe }.to_string(),
            "APIC ID 0x1ff is above the largest one, 0xfe"
        );
    }

    #[test]
    fn the_table_cannot_revive_or_end_a_kernel_for_the_primary() {
        use SlotState::*;
        for table in [None, Some(Empty), Some(Starting), Some(Live), Some(Gone)] {
            // Not running by the primary's record: never live.
            assert_eq!(trusted_state(false, Gone, table), Gone);
            assert_eq!(trusted_state(false, Empty, table), Empty);
            assert_eq!(trusted_state(false, Live, table), Gone);
        }
        assert_eq!(trusted_state(true, Gone, Some(Live)), Live);
        for table in [None, Some(Empty), Some(Starting), Some(Gone)] {
            assert_eq!(trusted_state(true, Gone, table), Starting);
        }
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
