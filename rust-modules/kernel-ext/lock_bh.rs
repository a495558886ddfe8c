// SPDX-License-Identifier: GPL-2.0

//! A spinlock that disables bottom halves while held (`spin_lock_bh()`).
//!
//! 6.12's `kernel::sync::SpinLock` is a plain `spin_lock()`. A lock that a
//! network driver's transmit path takes (with bottom halves off) and that
//! process context takes too must disable bottom halves in process context,
//! or a transmit that interrupts a holder on the same CPU spins forever on
//! it. The message layer's per-peer sender lock is such a lock once popnet
//! transmits through it. The backend plugs into the `kernel` crate's
//! generic `Lock`, so guards and pinned initialisation work as for its own
//! locks; `spin_lock_bh`/`spin_unlock_bh` come from helpers in
//! linux-patches/0009.

use kernel::{bindings, ffi::c_char, sync::lock::Backend};

/// Creates a [`SpinLockBh`] initialiser with a lock class of its own
/// (the call site's), like `new_spinlock!`.
#[macro_export]
macro_rules! new_spinlock_bh {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        kernel::sync::lock::Lock::<_, $crate::lock_bh::SpinLockBhBackend>::new(
            $inner,
            kernel::optional_name!($($name)?),
            kernel::static_lock_class!(),
        )
    };
}

/// A spinlock held with bottom halves disabled.
pub type SpinLockBh<T> = kernel::sync::lock::Lock<T, SpinLockBhBackend>;

/// The `spin_lock_bh()` backend.
pub struct SpinLockBhBackend;

// SAFETY: a `spinlock_t` taken with `spin_lock_bh` gives mutual exclusion
// as `spin_lock` does; `relock` keeps the default (the same `lock`).
unsafe impl Backend for SpinLockBhBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(ptr: *mut Self::State, name: *const c_char, key: *mut bindings::lock_class_key) {
        // SAFETY: the trait's contract: `ptr` is valid for writes, `name`
        // and `key` valid for reads forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: `ptr` points to an initialised lock (the trait's contract).
        unsafe { bindings::spin_lock_bh(ptr) }
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: `ptr` is initialised and held by the caller (contract).
        unsafe { bindings::spin_unlock_bh(ptr) }
    }
}
