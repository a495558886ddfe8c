// SPDX-License-Identifier: GPL-2.0

//! Writing to physical memory the primary reserved for secondary kernels.

use core::ptr::NonNull;
use core::sync::atomic::AtomicU32;
use kernel::{
    bindings,
    error::{code::*, Result},
    ffi::c_void,
};

/// A write-back mapping of a physical range this module owns exclusively
/// (a partition of the pool, a low window, part of the shared window).
///
/// While the range is this kernel's alone, [`PhysMapping::as_mut_slice`]
/// gives it as bytes; once another kernel runs and writes it too, only the
/// volatile accessors ([`PhysMapping::read_u32`], [`PhysMapping::copy_out`],
/// [`PhysMapping::write_u32`]) may be used.
///
/// # Invariants
///
/// `virt` is a mapping of `len` bytes made by `memremap(.., MEMREMAP_WB)`,
/// unmapped on drop, of memory that nothing else in this kernel uses.
pub struct PhysMapping {
    virt: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory, usable from any thread.
unsafe impl Send for PhysMapping {}
// SAFETY: through `&PhysMapping` the memory is only read and written as
// memory shared with another kernel: volatile or atomic accesses, and byte
// copies of data that has no validity invariant (like `copy_to_user()` and
// `copy_from_user()` on memory user threads may change concurrently).
// Racing copies can yield garbage bytes, which callers check, never an
// access outside the mapping.
unsafe impl Sync for PhysMapping {}

impl PhysMapping {
    /// Maps `[base, base + len)`.
    ///
    /// # Safety
    ///
    /// The range must be RAM reserved at boot (never given to the page
    /// allocator) that no one else reads or writes while the mapping lives,
    /// except another kernel to which it is handed over afterwards.
    pub unsafe fn new(base: u64, len: usize) -> Result<Self> {
        // `MEMREMAP_WB` is a small enum constant (1), so the cast is exact.
        // SAFETY: `memremap` accepts any range; RAM in the direct map comes
        // back as its direct-map address.
        let virt = unsafe { bindings::memremap(base, len, bindings::MEMREMAP_WB as usize) };
        let virt = NonNull::new(virt.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: mapped above; exclusivity is the caller's promise.
        Ok(PhysMapping { virt, len })
    }

    /// The mapped bytes.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the mapping covers `len` bytes that only this object
        // accesses (invariant), for as long as `self` lives.
        unsafe { core::slice::from_raw_parts_mut(self.virt.as_ptr(), self.len) }
    }
}

impl PhysMapping {
    /// The address of `size` bytes at `offset`, if they lie inside the
    /// mapping and `offset` is a multiple of `align`.
    fn field(&self, offset: usize, size: usize, align: usize) -> Option<*mut u8> {
        let end = offset.checked_add(size)?;
        if end > self.len || offset % align != 0 {
            return None;
        }
        // SAFETY: `offset + size <= len`, inside the mapping.
        Some(unsafe { self.virt.as_ptr().add(offset) })
    }

    /// Reads the `u32` at `offset` (4-byte aligned) with one volatile load,
    /// as `READ_ONCE` does: for memory another kernel writes while this one
    /// reads. `None` if it is outside the mapping or unaligned.
    pub fn read_u32(&self, offset: usize) -> Option<u32> {
        let ptr = self.field(offset, 4, 4)?;
        // SAFETY: in bounds and aligned (`field`), the mapping is valid
        // while `self` lives (invariant); a volatile read of plain memory
        // has no other requirement.
        Some(u32::from_le(unsafe { ptr.cast::<u32>().read_volatile() }))
    }

    /// Writes the `u32` at `offset` (4-byte aligned) with one volatile
    /// store, as `WRITE_ONCE` does. `None` if outside or unaligned.
    pub fn write_u32(&self, offset: usize, value: u32) -> Option<()> {
        let ptr = self.field(offset, 4, 4)?;
        // SAFETY: as in `read_u32`; the mapping is writable memory.
        unsafe { ptr.cast::<u32>().write_volatile(value.to_le()) };
        Some(())
    }

    /// Copies `dest.len()` bytes from `offset` into `dest`, byte by byte
    /// with volatile loads: a snapshot of memory another kernel may be
    /// writing (each byte is one of the values it had). `None` if the
    /// range is outside the mapping.
    pub fn copy_out(&self, offset: usize, dest: &mut [u8]) -> Option<()> {
        let ptr = self.field(offset, dest.len(), 1)?;
        for (i, byte) in dest.iter_mut().enumerate() {
            // SAFETY: `offset + i < offset + dest.len() <= len`.
            *byte = unsafe { ptr.add(i).read_volatile() };
        }
        Some(())
    }
}

/// Shared memory that another kernel reads and writes at the same time
/// (the message rings): atomics for the indexes, plain copies for the data.
impl PhysMapping {
    /// The `u32` at `offset` (4-byte aligned) as an atomic, for indexes
    /// two kernels exchange with acquire/release order. Both kernels run on
    /// the same cache-coherent machine, so an atomic in shared RAM behaves
    /// as one in this kernel's own memory. `None` if outside or unaligned.
    pub fn atomic_u32(&self, offset: usize) -> Option<&AtomicU32> {
        let ptr = self.field(offset, 4, 4)?;
        // SAFETY: in bounds and aligned (`field`); the mapping lives as
        // long as the returned reference (it borrows `self`); `AtomicU32`
        // has the layout of `u32` and any bit pattern is valid.
        Some(unsafe { &*ptr.cast::<AtomicU32>() })
    }

    /// Copies `bytes` to `offset`. For data the protocol says the other
    /// kernel does not read while it is written (slots not published yet).
    /// `None` if the range is outside the mapping.
    pub fn write_bytes(&self, offset: usize, bytes: &[u8]) -> Option<()> {
        let ptr = self.field(offset, bytes.len(), 1)?;
        // SAFETY: `offset + bytes.len() <= len` (`field`), writable memory
        // of this mapping that `bytes` (ordinary kernel memory) cannot
        // overlap.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) };
        Some(())
    }

    /// Copies `out.len()` bytes from `offset` into `out`, as
    /// `copy_from_user()` copies memory another thread may be changing: a
    /// peer that breaks the protocol can make the bytes garbage, never
    /// make this read outside the mapping, so callers check what they copied
    /// before using it. `None` if the range is outside the mapping.
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Option<()> {
        let ptr = self.field(offset, out.len(), 1)?;
        // SAFETY: `offset + out.len() <= len` (`field`); `out` is this
        // kernel's own memory and cannot overlap the mapping.
        unsafe { core::ptr::copy_nonoverlapping(ptr.cast_const(), out.as_mut_ptr(), out.len()) };
        Some(())
    }
}

impl Drop for PhysMapping {
    fn drop(&mut self) {
        // SAFETY: `virt` came from `memremap` and is unmapped only here.
        unsafe { bindings::memunmap(self.virt.as_ptr().cast::<c_void>()) };
    }
}
