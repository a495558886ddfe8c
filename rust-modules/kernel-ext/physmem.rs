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

impl Drop for PhysMapping {
    fn drop(&mut self) {
        // SAFETY: `virt` came from `memremap` and is unmapped only here.
        unsafe { bindings::memunmap(self.virt.as_ptr().cast::<c_void>()) };
    }
}
