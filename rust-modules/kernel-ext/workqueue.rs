// SPDX-License-Identifier: GPL-2.0

//! A work queue a module owns: work items run on kernel worker threads,
//! and dropping the queue waits for every item queued on it.
//!
//! Linux 6.12's `kernel::workqueue` can queue work on the system queues
//! (`Queue::try_spawn`) but cannot allocate a queue, and a module must not
//! leave work on a system queue when it unloads (the item's code is the
//! module's). [`OwnedQueue`] allocates one with `alloc_workqueue()`,
//! queues closures on it, and destroys it (which drains it) when dropped.

use core::ptr::NonNull;
use kernel::{
    alloc::{flags::GFP_KERNEL, AllocError},
    bindings, c_str,
    ffi::{c_int, c_uint},
    prelude::*,
    str::CStr,
    workqueue::Queue,
};

/// An unbound work queue owned by its creator.
///
/// # Invariants
///
/// `0` is a queue from `alloc_workqueue`, not destroyed before `drop`.
pub struct OwnedQueue(NonNull<bindings::workqueue_struct>);

// SAFETY: a workqueue may be used from any thread; the pointer is only
// used through the workqueue API, which does its own locking.
unsafe impl Send for OwnedQueue {}
// SAFETY: as above.
unsafe impl Sync for OwnedQueue {}

impl OwnedQueue {
    /// An unbound queue named `name` on which at most `max_active` items
    /// run at once (more wait their turn).
    pub fn new(name: &CStr, max_active: u32) -> Result<Self> {
        let max_active = c_int::try_from(max_active).map_err(|_| EINVAL)?;
        // SAFETY: `"%s"` and a NUL-terminated name, which
        // alloc_workqueue copies.
        let queue = unsafe {
            bindings::alloc_workqueue(
                c_str!("%s").as_char_ptr(),
                bindings::wq_flags_WQ_UNBOUND as c_uint,
                max_active,
                name.as_char_ptr(),
            )
        };
        // INVARIANT: a queue just allocated (or NULL: an error).
        NonNull::new(queue).map(OwnedQueue).ok_or(ENOMEM)
    }

    fn queue(&self) -> &Queue {
        // SAFETY: a live queue (invariant) for as long as `self` is.
        unsafe { Queue::from_raw(self.0.as_ptr()) }
    }

    /// Runs `f` on a worker thread, soon.
    pub fn spawn<F: FnOnce() + Send + 'static>(&self, f: F) -> Result<(), AllocError> {
        self.queue().try_spawn(GFP_KERNEL, f)
    }

    /// Waits until every item queued so far has run.
    pub fn flush(&self) {
        // SAFETY: a live queue (invariant).
        unsafe { bindings::__flush_workqueue(self.0.as_ptr()) };
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        // SAFETY: a live queue (invariant), destroyed once; this waits for
        // every item on it. Not called from one of its own items: the owner
        // keeps the queue where no item holds it.
        unsafe { bindings::destroy_workqueue(self.0.as_ptr()) };
    }
}
