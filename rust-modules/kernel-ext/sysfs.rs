// SPDX-License-Identifier: GPL-2.0

//! Safe sysfs directories and files on top of kobjects.
//!
//! Linux 6.12's `kernel` crate has no sysfs abstraction, so Popcorn carries
//! this one. It covers what a module publishing state needs: a directory
//! (a kobject made by `kobject_create_and_add`) and files whose `show` and
//! `store` are methods of a Rust type implementing [`AttributeOps`].
//!
//! Lifetime rules this file relies on (see `fs/kernfs/dir.c`):
//! - removing a kernfs node waits until every running `show`/`store` on it
//!   has returned, and no new one starts afterwards. So once [`Dir`] has
//!   called `kobject_del`, no callback can reach the attribute objects, and
//!   they can be freed, even while user space still holds the file open.
//! - a child kobject holds a reference on its parent. Drop child [`Dir`]s
//!   before their parent so the directory tree is taken down leaves first.
//!
//! Requires the crate to provide `crate::text` (popcorn-core's `text.rs`).

use core::{fmt, fmt::Write, mem::MaybeUninit, ptr, ptr::NonNull};
use kernel::{
    alloc::{flags::GFP_KERNEL, KBox, KVec},
    bindings,
    error::{code::*, to_result, Result},
    ffi::c_char,
    page::PAGE_SIZE,
    prelude::*,
    str::CStr,
    types::Opaque,
};

use crate::text::SliceWriter;

/// The output of a `show` callback: one page, written with `write!`.
///
/// Output that does not fit makes `write!` fail; the callback then returns
/// `EFBIG` rather than a truncated value.
pub struct Page<'a>(SliceWriter<'a>);

impl fmt::Write for Page<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write_str(s)
    }
}

/// What one sysfs file does when read or written.
///
/// Implement `show` for a readable file and `store` for a writable one; the
/// file's mode follows: `0444`, `0200` (root only), or `0644` for both;
/// `0400` and `0600` with [`AttributeOps::ROOT_ONLY`].
#[vtable]
pub trait AttributeOps: Send + Sync + Sized + 'static {
    /// Whether this is a control file, whose callbacks may add or remove
    /// other (non-control) files and directories. Removing a file waits for
    /// its callbacks, which lockdep models as a lock; control files get a
    /// lock class of their own so that this nesting is not a self-deadlock.
    /// A control file's callbacks must not remove control files, and other
    /// files' callbacks must not take locks that control callbacks hold
    /// while removing files.
    const CONTROL: bool = false;

    /// Whether only root may read the file (`0400` instead of `0444`): for
    /// files whose every read costs the kernel something, such as a request
    /// to another kernel.
    const ROOT_ONLY: bool = false;

    /// Writes the file's contents, usually one value and a newline.
    fn show(&self, _out: &mut Page<'_>) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }

    /// Handles one `write(2)` of `input` (at most a page). An error is what
    /// the writer's `write(2)` returns.
    fn store(&self, _input: &[u8]) -> Result {
        kernel::build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// A file's C descriptor followed by the Rust object that serves it.
///
/// `#[repr(C)]` with `raw` first: sysfs hands the callbacks a pointer to
/// `raw`, which is then also a pointer to the whole `Attribute<T>`.
#[repr(C)]
struct Attribute<T: AttributeOps> {
    raw: Opaque<bindings::kobj_attribute>,
    ops: T,
}

/// A static lockdep class for the `active` reference of every file made here,
/// as C's `sysfs_attr_init()` gives each call site one: lockdep refuses keys
/// in heap memory, and our attributes live in the heap.
#[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
struct StaticLockKey(Opaque<bindings::lock_class_key>);

// SAFETY: lockdep only reads the key's address and synchronises internally.
#[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
unsafe impl Sync for StaticLockKey {}

#[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
static ATTRIBUTE_LOCK_KEY: StaticLockKey = StaticLockKey(Opaque::uninit());

/// The lock class of control files (see [`AttributeOps::CONTROL`]).
#[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
static CONTROL_LOCK_KEY: StaticLockKey = StaticLockKey(Opaque::uninit());

impl<T: AttributeOps> Attribute<T> {
    fn new(name: &'static CStr, ops: T) -> Self {
        let mut mode: bindings::umode_t = 0;
        if T::HAS_SHOW {
            mode |= if T::ROOT_ONLY { 0o400 } else { 0o444 };
        }
        if T::HAS_STORE {
            mode |= 0o200;
        }
        // SAFETY: `kobj_attribute` holds integers, raw pointers and optional
        // function pointers, for all of which all-zero is a valid value.
        let mut raw: bindings::kobj_attribute = unsafe { MaybeUninit::zeroed().assume_init() };
        raw.attr.name = name.as_char_ptr();
        raw.attr.mode = mode;
        #[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
        {
            let key = if T::CONTROL {
                &CONTROL_LOCK_KEY
            } else {
                &ATTRIBUTE_LOCK_KEY
            };
            raw.attr.key = key.0.get();
        }
        if T::HAS_SHOW {
            raw.show = Some(show_callback::<T>);
        }
        if T::HAS_STORE {
            raw.store = Some(store_callback::<T>);
        }
        Attribute {
            raw: Opaque::new(raw),
            ops,
        }
    }
}

/// # Safety
///
/// Only for sysfs to call, on a file that [`Dir::add_file`] made with type `T`.
unsafe extern "C" fn show_callback<T: AttributeOps>(
    _kobj: *mut bindings::kobject,
    attr: *mut bindings::kobj_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: sysfs passes the `kobj_attribute` registered by `Dir::add_file`,
    // the first field of a `#[repr(C)] Attribute<T>`. `Dir` frees it only
    // after `kobject_del`, which waits for running callbacks.
    let attr = unsafe { &*attr.cast::<Attribute<T>>() };
    // SAFETY: sysfs gives `show` a buffer of `PAGE_SIZE` bytes that nothing
    // else touches until the callback returns (`sysfs_kf_seq_show`).
    let page = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), PAGE_SIZE) };
    let mut out = Page(SliceWriter::new(page));
    match attr.ops.show(&mut out) {
        // A page is 4 KiB, so the length always fits in an `isize`.
        Ok(()) => out.0.len() as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Only for sysfs to call, on a file that [`Dir::add_file`] made with type `T`.
unsafe extern "C" fn store_callback<T: AttributeOps>(
    _kobj: *mut bindings::kobject,
    attr: *mut bindings::kobj_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: as in `show_callback`.
    let attr = unsafe { &*attr.cast::<Attribute<T>>() };
    // SAFETY: sysfs passes `count` (at most `PAGE_SIZE - 1`) readable bytes
    // copied from the writer, valid until the callback returns.
    let input = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
    match attr.ops.store(input) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// A file owned by a [`Dir`], with its type erased so one list holds all.
struct OwnedFile {
    attr: NonNull<bindings::kobj_attribute>,
    /// Frees `attr` as the `Attribute<T>` it was allocated as.
    free: unsafe fn(NonNull<bindings::kobj_attribute>),
}

/// # Safety
///
/// `attr` must come from `KBox::into_raw` of a `KBox<Attribute<T>>` and must
/// not be used afterwards.
unsafe fn free_attribute<T: AttributeOps>(attr: NonNull<bindings::kobj_attribute>) {
    // SAFETY: guaranteed by the caller.
    drop(unsafe { KBox::from_raw(attr.as_ptr().cast::<Attribute<T>>()) });
}

/// A directory in sysfs and the files in it.
///
/// # Invariants
///
/// - `kobj` points to a kobject made by `kobject_create_and_add`, present in
///   sysfs, on which this object owns one reference.
/// - Every entry of `files` is a live `Attribute<T>`, registered as a file
///   of `kobj`, that only this object frees, after `kobject_del`.
pub struct Dir {
    kobj: NonNull<bindings::kobject>,
    files: KVec<OwnedFile>,
}

// SAFETY: a kobject may be used and released from any thread, and the
// attribute objects are `Send + Sync` (bound on `AttributeOps`).
unsafe impl Send for Dir {}
// SAFETY: `&Dir` exposes no mutation; see `Send`.
unsafe impl Sync for Dir {}

impl Dir {
    /// Creates `/sys/kernel/<name>`.
    pub fn new_in_sys_kernel(name: &CStr) -> Result<Self> {
        // SAFETY: `kernel_kobj` is set once during early boot, before any
        // module can load, and never changes afterwards.
        let parent = unsafe { bindings::kernel_kobj };
        Self::create(name, parent)
    }

    /// Creates a subdirectory `name` of this directory.
    pub fn new_child(&self, name: &CStr) -> Result<Self> {
        Self::create(name, self.kobj.as_ptr())
    }

    fn create(name: &CStr, parent: *mut bindings::kobject) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated and copied by the callee; `parent`
        // is a live kobject (our own, or `kernel_kobj`).
        let kobj = unsafe { bindings::kobject_create_and_add(name.as_char_ptr(), parent) };
        // The C function reports every failure as NULL; its callers in the
        // kernel answer ENOMEM, and so do we.
        let kobj = NonNull::new(kobj).ok_or(ENOMEM)?;
        // INVARIANT: just created and added; the reference is ours.
        Ok(Dir {
            kobj,
            files: KVec::new(),
        })
    }

    /// Adds the file `name`, served by `ops`.
    pub fn add_file<T: AttributeOps>(&mut self, name: &'static CStr, ops: T) -> Result {
        // Reserve first so that nothing can fail once the file is visible.
        self.files.reserve(1, GFP_KERNEL)?;
        let attr = KBox::into_raw(KBox::new(Attribute::new(name, ops), GFP_KERNEL)?);
        // `Attribute` is `#[repr(C)]` with the transparent `Opaque` first, so
        // this is the C descriptor inside it.
        let raw = attr.cast::<bindings::kobj_attribute>();
        // SAFETY: `self.kobj` is live (invariant); `raw` points to an
        // initialised `kobj_attribute` that stays put until we free it.
        let ret = unsafe {
            bindings::sysfs_create_file_ns(
                self.kobj.as_ptr(),
                ptr::addr_of!((*raw).attr),
                ptr::null(),
            )
        };
        if let Err(e) = to_result(ret) {
            // SAFETY: the file was not created, so nothing else knows `attr`,
            // which came from `KBox::into_raw` above.
            unsafe { drop(KBox::from_raw(attr)) };
            return Err(e);
        }
        let file = OwnedFile {
            // SAFETY: `raw` comes from `KBox::into_raw`, which never gives NULL.
            attr: unsafe { NonNull::new_unchecked(raw) },
            free: free_attribute::<T>,
        };
        // INVARIANT: the file is registered and now owned by `files`.
        self.files.push(file, GFP_KERNEL).map_err(|_| {
            // Unreachable after `reserve`, but never leave a file behind.
            // SAFETY: `raw` was registered with the live `self.kobj` above;
            // once it is removed nothing else knows `attr`.
            unsafe {
                bindings::sysfs_remove_file_ns(
                    self.kobj.as_ptr(),
                    ptr::addr_of!((*raw).attr),
                    ptr::null(),
                );
                drop(KBox::from_raw(attr));
            }
            ENOMEM
        })
    }
}

impl Dir {
    /// Removes every file of this directory, waiting for running callbacks.
    /// The directory itself stays.
    pub fn remove_all_files(&mut self) {
        for file in core::mem::replace(&mut self.files, KVec::new()) {
            // SAFETY: `file.attr` is registered with the live `self.kobj`
            // (invariant); removal waits for its callbacks, after which
            // nothing else knows it and it is freed exactly once.
            unsafe {
                bindings::sysfs_remove_file_ns(
                    self.kobj.as_ptr(),
                    ptr::addr_of!((*file.attr.as_ptr()).attr),
                    ptr::null(),
                );
                (file.free)(file.attr);
            }
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: `kobj` is live and ours (invariant). `kobject_del` removes
        // the directory and its files and waits for running callbacks.
        unsafe { bindings::kobject_del(self.kobj.as_ptr()) };
        for file in self.files.as_slice() {
            // SAFETY: the file was removed above, so no callback can reach
            // it, and each entry is freed exactly once: `files` is dropped
            // right after this without touching the pointers.
            unsafe { (file.free)(file.attr) };
        }
        // SAFETY: drops the reference this object owned (invariant).
        unsafe { bindings::kobject_put(self.kobj.as_ptr()) };
    }
}

/// A file showing a value fixed when it is created.
pub struct Constant<V: fmt::Display + Send + Sync + 'static>(pub V);

#[vtable]
impl<V: fmt::Display + Send + Sync + 'static> AttributeOps for Constant<V> {
    fn show(&self, out: &mut Page<'_>) -> Result {
        writeln!(out, "{}", self.0).map_err(|_| EFBIG)
    }
}

/// A file whose contents a function computes on every read.
pub struct Computed(pub fn(&mut Page<'_>) -> Result);

#[vtable]
impl AttributeOps for Computed {
    fn show(&self, out: &mut Page<'_>) -> Result {
        (self.0)(out)
    }
}
