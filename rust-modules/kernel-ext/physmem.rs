// SPDX-License-Identifier: GPL-2.0

//! Writing to physical memory the primary reserved for secondary kernels,
//! and reading what another kernel owns ([`ReadOnlyMapping`]).

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    bindings,
    error::{code::*, Result},
    ffi::c_void,
    page::PAGE_SIZE,
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

impl PhysMapping {
    /// Whether the CPU may store through each page of the mapping, as its
    /// page-table entries say now (`None` if a page has no present entry).
    /// For tests: a read-only mapping must answer `Some(false)`.
    pub fn hardware_writable(&self) -> Option<bool> {
        let mut writable = None;
        for page in (0..self.len).step_by(PAGE_SIZE) {
            // SAFETY: `page < len`, inside the mapping (invariant).
            let addr = unsafe { self.virt.as_ptr().add(page) } as usize;
            let (pte, _) = kernel_pte(addr)?;
            // SAFETY: `kernel_pte` returned a valid entry of the kernel's
            // page tables that stays while the mapping lives.
            let value = unsafe { core::ptr::read_volatile(pte.cast_const()) };
            let this = value & PAGE_RW != 0;
            if writable.is_some_and(|w| w != this) {
                return None;
            }
            writable = Some(this);
        }
        writable
    }
}

impl Drop for PhysMapping {
    fn drop(&mut self) {
        // SAFETY: `virt` came from `memremap` and is unmapped only here.
        unsafe { bindings::memunmap(self.virt.as_ptr().cast::<c_void>()) };
    }
}

/// The write permission of an x86 page-table entry.
const PAGE_RW: u64 = 1 << bindings::_PAGE_BIT_RW;
/// The dirty bit: Linux's read-only kernel mappings have it clear too
/// (`PAGE_KERNEL_RO`), since Write=0 with Dirty=1 means a shadow-stack page.
const PAGE_DIRTY: u64 = 1 << bindings::_PAGE_BIT_DIRTY;
const PAGE_PRESENT: u64 = 1 << bindings::_PAGE_BIT_PRESENT;

/// The present entry of the kernel's page tables that maps `addr`, and
/// whether it is a 4 KiB page's.
fn kernel_pte(addr: usize) -> Option<(*mut u64, bool)> {
    let mut level: core::ffi::c_uint = 0;
    // SAFETY: `lookup_address` walks the kernel's page tables for any
    // address and returns the entry (or NULL), writing its level.
    let pte = unsafe { bindings::lookup_address(addr, &mut level) };
    if pte.is_null() {
        return None;
    }
    // `pte_t` is one `pteval_t` (u64 on x86-64).
    let pte = pte.cast::<u64>();
    // SAFETY: a non-NULL entry returned just now is valid to read.
    let value = unsafe { core::ptr::read_volatile(pte.cast_const()) };
    if value & PAGE_PRESENT == 0 {
        return None;
    }
    Some((pte, level == bindings::pg_level_PG_LEVEL_4K))
}

/// Flushes the local CPU's TLB, global entries included.
///
/// # Safety
///
/// Called by `on_each_cpu_cond_mask` with preemption off; `_info` unused.
unsafe extern "C" fn flush_local_tlb(_info: *mut c_void) {
    // SAFETY: runs with preemption disabled (contract), as
    // `__flush_tlb_all` requires.
    unsafe { bindings::__flush_tlb_all() };
}

/// A mapping of part of the shared window that this kernel only reads:
/// another kernel's table entry, the header the primary writes.
///
/// It is read-only twice over: the type has loads and copies out, no
/// store; and its page-table entries have no write permission (made so by
/// [`ReadOnlyMapping::new`]), so a stray store by any code of this kernel
/// through this mapping faults here instead of changing what another
/// kernel reads. (The range has no other mapping in this kernel: the
/// window is outside a secondary's RAM, so it is not in its direct map.)
///
/// # Invariants
///
/// `map` maps the range with 4 KiB pages whose page-table entries have no
/// write permission; nothing stores through `map`.
pub struct ReadOnlyMapping {
    map: PhysMapping,
}

impl ReadOnlyMapping {
    /// Maps `[base, base + len)` read-only. Fails with `EINVAL` unless the
    /// range lies outside this kernel's RAM (only then does `memremap`
    /// make a mapping of its own, with 4 KiB pages whose entries may be
    /// changed; RAM would come back as its direct-map address, which
    /// other memory shares).
    ///
    /// Made by mapping the range (`memremap`, write-back), clearing the
    /// write permission in each of the new page-table entries (as
    /// `set_memory_ro()` does, which 6.12 does not export to modules) and
    /// flushing every CPU's TLB before anything reads through it.
    ///
    /// # Safety
    ///
    /// As [`PhysMapping::new`]: memory reserved at boot and used by nothing
    /// else in this kernel.
    pub unsafe fn new(base: u64, len: usize) -> Result<Self> {
        if len == 0 || len % PAGE_SIZE != 0 || base % PAGE_SIZE as u64 != 0 {
            return Err(EINVAL);
        }
        // SAFETY: the caller's promise, as `PhysMapping::new` needs.
        let map = unsafe { PhysMapping::new(base, len)? };
        let start = map.virt.as_ptr() as usize;
        // SAFETY: `is_vmalloc_addr` only compares the address.
        if !unsafe { bindings::is_vmalloc_addr(map.virt.as_ptr().cast_const().cast::<c_void>()) } {
            kernel::pr_err!("popcorn: physmem: {:#x} is RAM here and cannot be mapped read-only\n", base);
            return Err(EINVAL);
        }
        for page in (0..len).step_by(PAGE_SIZE) {
            let (pte, small) = kernel_pte(start.wrapping_add(page)).ok_or(EINVAL)?;
            if !small {
                kernel::pr_err!("popcorn: physmem: {:#x} is mapped with large pages, not made read-only\n", base);
                return Err(EINVAL);
            }
            // SAFETY: the entry maps a 4 KiB page of the vmalloc-area
            // mapping `memremap` made for this object alone: no other
            // code changes it while `map` lives (its other entries in the
            // same table page are other mappings'); one aligned store, as
            // `set_pte()` does without paravirt.
            unsafe {
                let value = core::ptr::read_volatile(pte.cast_const());
                core::ptr::write_volatile(pte, value & !(PAGE_RW | PAGE_DIRTY));
            }
        }
        // No CPU may keep a writable translation of it.
        // SAFETY: `flush_local_tlb` meets `on_each_cpu_cond_mask`'s
        // contract; `__cpu_online_mask` is the kernel's online-CPU mask.
        unsafe {
            bindings::on_each_cpu_cond_mask(
                None,
                Some(flush_local_tlb),
                core::ptr::null_mut(),
                true,
                core::ptr::addr_of!(bindings::__cpu_online_mask),
            )
        };
        if map.hardware_writable() != Some(false) {
            return Err(EINVAL);
        }
        // INVARIANT: 4 KiB pages (checked), write permission cleared.
        Ok(ReadOnlyMapping { map })
    }

    /// The `u32` at `offset` (4-byte aligned) with one atomic load of
    /// `order` (a store's `Release` reads as `Relaxed`, `AcqRel` as
    /// `Acquire`). `None` if outside or unaligned.
    pub fn load_u32(&self, offset: usize, order: Ordering) -> Option<u32> {
        let order = match order {
            Ordering::Acquire | Ordering::AcqRel => Ordering::Acquire,
            Ordering::SeqCst => Ordering::SeqCst,
            _ => Ordering::Relaxed,
        };
        Some(self.map.atomic_u32(offset)?.load(order))
    }

    /// As [`PhysMapping::read_bytes`].
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Option<()> {
        self.map.read_bytes(offset, out)
    }

    /// As [`PhysMapping::hardware_writable`]: `Some(false)` while the
    /// invariant holds.
    pub fn hardware_writable(&self) -> Option<bool> {
        self.map.hardware_writable()
    }
}
