// SPDX-License-Identifier: GPL-2.0

//! A wait queue that an interrupt handler can wake, for a thread that must
//! not miss the wake-up.
//!
//! The `kernel` crate's `CondVar` checks its condition under a lock, so an
//! interrupt handler (which cannot take that lock) may wake it between the
//! check and the sleep, and the wake-up is lost. The classic kernel pattern
//! avoids that: `prepare_to_wait()` first (the task is marked sleeping and
//! queued), *then* the condition, then `schedule()`. A wake-up that comes
//! after `prepare_to_wait()` makes the task runnable again, so `schedule()`
//! returns at once. [`IrqWaitQueue::sleep_unless`] is that pattern.
//!
//! The queue is a `static` because the message interrupt's handler has no
//! argument to find it through.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{bindings, types::Opaque};

/// A wait queue usable from a `static`, woken from any context.
///
/// # Invariants
///
/// Once `ready` is true, `head` is an initialised `wait_queue_head` and
/// stays one for as long as the static exists (the module's lifetime).
pub struct IrqWaitQueue {
    head: Opaque<bindings::wait_queue_head>,
    /// Lockdep's class for the queue's lock: static, as lockdep wants,
    /// because the queue is.
    key: Opaque<bindings::lock_class_key>,
    ready: AtomicBool,
}

// SAFETY: the wait queue's own spinlock serialises every access to `head`
// once it is initialised; `ready` is atomic.
unsafe impl Sync for IrqWaitQueue {}

impl IrqWaitQueue {
    /// An uninitialised queue; [`IrqWaitQueue::init`] makes it usable.
    pub const fn new() -> Self {
        IrqWaitQueue {
            head: Opaque::uninit(),
            // SAFETY: a lock class key is plain data whose all-zero value
            // is what a static one starts as.
            key: Opaque::new(unsafe { core::mem::zeroed() }),
            ready: AtomicBool::new(false),
        }
    }

    /// Initialises the queue the first time it is called; later calls do
    /// nothing. Call it before anything can wake or wait on the queue (at
    /// module load, before the interrupt handler is registered).
    pub fn init(&'static self, name: &'static kernel::str::CStr) {
        if self.ready.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: `head` is static memory nobody uses yet (`ready` is false
        // and callers init before anyone waits or wakes); the name and key
        // are static, as lockdep requires.
        unsafe { bindings::__init_waitqueue_head(self.head.get(), name.as_char_ptr(), self.key.get()) };
        // INVARIANT: initialised just above.
        self.ready.store(true, Ordering::Release);
    }

    /// Wakes the thread sleeping in [`IrqWaitQueue::sleep_unless`], if
    /// any. Callable from hard interrupt context.
    pub fn wake(&self) {
        if !self.ready.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: `head` is initialised (invariant); `__wake_up` takes the
        // queue's lock with interrupts saved, so any context may call it.
        unsafe {
            bindings::__wake_up(
                self.head.get(),
                bindings::TASK_NORMAL,
                1,
                core::ptr::null_mut(),
            )
        };
    }

    /// Sleeps up to `ms` milliseconds unless `ready_to_run()` says there is
    /// work. `ready_to_run` runs after the task is queued, so a
    /// [`IrqWaitQueue::wake`] that follows any change it could have seen
    /// cuts the sleep short. Only process context may call this.
    pub fn sleep_unless(&self, ms: u32, ready_to_run: impl FnOnce() -> bool) {
        if !self.ready.load(Ordering::Acquire) {
            return;
        }
        let mut entry = core::mem::MaybeUninit::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `init_wait` initialises the entry in place for the
        // current task; it is used only in this function, which removes it
        // from the queue (`finish_wait`) before returning.
        unsafe { bindings::init_wait(entry.as_mut_ptr()) };
        // SAFETY: `head` is initialised (invariant); the entry is
        // initialised and lives on this stack frame until `finish_wait`.
        unsafe {
            bindings::prepare_to_wait(
                self.head.get(),
                entry.as_mut_ptr(),
                bindings::TASK_INTERRUPTIBLE as i32,
            )
        };
        if !ready_to_run() {
            // SAFETY: process context, as this function requires.
            unsafe {
                let jiffies = bindings::__msecs_to_jiffies(ms);
                bindings::schedule_timeout(jiffies as _);
            }
        }
        // SAFETY: the entry was queued on `head` by `prepare_to_wait`.
        unsafe { bindings::finish_wait(self.head.get(), entry.as_mut_ptr()) };
    }
}
