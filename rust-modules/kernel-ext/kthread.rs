// SPDX-License-Identifier: GPL-2.0

//! A kernel thread that runs until its owner drops it, and monotonic time.
//!
//! Linux 6.12's Rust `kernel` crate has work queues but no kernel threads
//! and no delayed work. A watcher that wakes every few hundred
//! milliseconds, sleeps in between and can be stopped synchronously is a
//! kernel thread: [`KThread::spawn`] starts one running
//! [`ThreadBody::run`], and dropping the [`KThread`] stops it and waits for
//! it (`kthread_stop()`).

use core::ptr::NonNull;
use kernel::{
    bindings,
    error::{from_err_ptr, Result},
    ffi::{c_int, c_void},
    str::CStr,
    sync::Arc,
};

/// What a [`KThread`] runs.
pub trait ThreadBody: Send + Sync + 'static {
    /// The thread's work. It should return soon after
    /// [`ThreadContext::should_stop`] turns true; sleeping through
    /// [`ThreadContext::sleep_ms`] ends early when it does.
    fn run(&self, ctx: &ThreadContext);
}

/// Handed to [`ThreadBody::run`]: only the thread itself holds one.
pub struct ThreadContext(());

impl ThreadContext {
    /// Whether the owner is stopping the thread.
    pub fn should_stop(&self) -> bool {
        // SAFETY: called from a kthread (only `thread_main` makes a
        // `ThreadContext`), which `kthread_should_stop` requires.
        unsafe { bindings::kthread_should_stop() }
    }

    /// Sleeps about `ms` milliseconds, or less if the thread is being
    /// stopped (`kthread_stop` wakes it).
    pub fn sleep_ms(&self, ms: u32) {
        if self.should_stop() {
            return;
        }
        // SAFETY: both functions only read their argument or sleep; a
        // kthread may sleep.
        unsafe {
            let jiffies = bindings::__msecs_to_jiffies(ms);
            bindings::schedule_timeout_interruptible(jiffies as _);
        }
    }
}

/// A running kernel thread; dropping it stops the thread and waits for it.
///
/// # Invariants
///
/// `task` is a kthread created by `kthread_create_on_node` running
/// `thread_main::<T>` with a pointer to the `T` inside `body`. That thread
/// does not exit before `kthread_stop` is called on it (`thread_main` waits
/// for it), so `task` stays valid until `Drop` stops it, and `body` outlives
/// the thread.
pub struct KThread<T: ThreadBody> {
    task: NonNull<bindings::task_struct>,
    body: Arc<T>,
}

// SAFETY: the only use of `task` is `kthread_stop` in `Drop`, which may be
// called from any thread.
unsafe impl<T: ThreadBody> Send for KThread<T> {}
// SAFETY: `&KThread` gives access to nothing but `body`, which is `Sync`.
unsafe impl<T: ThreadBody> Sync for KThread<T> {}

/// The C entry point of every [`KThread`].
///
/// # Safety
///
/// `data` points to a `T` that outlives the thread.
unsafe extern "C" fn thread_main<T: ThreadBody>(data: *mut c_void) -> c_int {
    // SAFETY: the caller's promise.
    let body = unsafe { &*data.cast::<T>() };
    let ctx = ThreadContext(());
    body.run(&ctx);
    // Keep the task alive until kthread_stop(), as `KThread` relies on.
    while !ctx.should_stop() {
        ctx.sleep_ms(1000);
    }
    0
}

impl<T: ThreadBody> KThread<T> {
    /// Starts a kernel thread named `name` running `body.run()`.
    pub fn spawn(name: &CStr, body: Arc<T>) -> Result<Self> {
        Self::spawn_on(name, body, None)
    }

    /// Like [`KThread::spawn`], but the thread runs only on `cpu` (which
    /// must be online), as `kthread_bind()` makes it.
    pub fn spawn_bound(name: &CStr, body: Arc<T>, cpu: u32) -> Result<Self> {
        if !crate::system::cpu_online(cpu) {
            return Err(kernel::error::code::EINVAL);
        }
        Self::spawn_on(name, body, Some(cpu))
    }

    fn spawn_on(name: &CStr, body: Arc<T>, cpu: Option<u32>) -> Result<Self> {
        let data = core::ptr::from_ref::<T>(&body).cast_mut().cast::<c_void>();
        // SAFETY: `thread_main::<T>` matches the thread function type;
        // `data` points into `body`, which the returned `KThread` keeps
        // until the thread is stopped. The format is "%s" with one string
        // argument, NUL-terminated by `CStr`.
        let task = unsafe {
            bindings::kthread_create_on_node(
                Some(thread_main::<T>),
                data,
                bindings::NUMA_NO_NODE,
                kernel::c_str!("%s").as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        let task = from_err_ptr(task)?;
        let task = NonNull::new(task).ok_or(kernel::error::code::ENOMEM)?;
        if let Some(cpu) = cpu {
            // SAFETY: `task` was just created and has not run yet, which
            // `kthread_bind` requires; `cpu` was checked to be online.
            unsafe { bindings::kthread_bind(task.as_ptr(), cpu) };
        }
        // SAFETY: a task just created by kthread_create_on_node, not yet
        // running; waking it starts `thread_main`.
        unsafe { bindings::wake_up_process(task.as_ptr()) };
        // INVARIANT: created above with `thread_main::<T>` and `body`.
        Ok(KThread { task, body })
    }

    /// The body the thread runs.
    pub fn body(&self) -> &Arc<T> {
        &self.body
    }
}

impl<T: ThreadBody> Drop for KThread<T> {
    fn drop(&mut self) {
        // SAFETY: by the invariant, `task` is a kthread that has not
        // exited and has not been stopped; this is the only stop.
        unsafe { bindings::kthread_stop(self.task.as_ptr()) };
    }
}

/// Milliseconds on the monotonic clock (`ktime_get()`), for timeouts.
pub fn monotonic_ms() -> u64 {
    // SAFETY: `ktime_get` has no preconditions.
    let ns = unsafe { bindings::ktime_get() };
    u64::try_from(ns).unwrap_or(0) / 1_000_000
}

/// Sleeps at least `ms` milliseconds (`msleep()`); only where sleeping is
/// allowed, which safe Rust code in process context is.
pub fn sleep_ms(ms: u32) {
    // SAFETY: `msleep` sleeps; it has no other precondition.
    unsafe { bindings::msleep(ms) };
}

/// Nanoseconds on the monotonic clock, for round-trip times.
pub fn monotonic_ns() -> u64 {
    // SAFETY: `ktime_get` has no preconditions.
    let ns = unsafe { bindings::ktime_get() };
    u64::try_from(ns).unwrap_or(0)
}

/// Sleeps between `min_us` and `max_us` microseconds (`usleep_range()`);
/// process context only.
pub fn sleep_us(min_us: u32, max_us: u32) {
    // SAFETY: `usleep_range_state` sleeps; it has no other precondition.
    unsafe {
        bindings::usleep_range_state(
            min_us as _,
            max_us as _,
            bindings::TASK_UNINTERRUPTIBLE,
        )
    };
}

/// Lets the scheduler run something else if it wants to
/// (`cond_resched()`); process context only.
pub fn cond_resched() {
    // SAFETY: a scheduling point; process context may call it.
    unsafe { bindings::__cond_resched() };
}
