// SPDX-License-Identifier: GPL-2.0

//! Writing to physical memory the primary reserved for secondary kernels.

use core::ptr::NonNull;
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

impl Drop for PhysMapping {
    fn drop(&mut self) {
        // SAFETY: `virt` came from `memremap` and is unmapped only here.
        unsafe { bindings::memunmap(self.virt.as_ptr().cast::<c_void>()) };
    }
}
