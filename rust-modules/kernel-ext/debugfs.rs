// SPDX-License-Identifier: GPL-2.0

//! Read-only debugfs files holding text, for tests and debugging.
//!
//! Only what Popcorn needs: a directory, and blob files whose contents are
//! fixed when created (`debugfs_create_blob`). debugfs reports its own
//! errors as `ERR_PTR`s and is allowed to be absent; callers treat a failure
//! as "no debug file", never as a reason to fail the real operation.

use core::ptr::NonNull;
use kernel::{
    alloc::{flags::GFP_KERNEL, KBox, KVec},
    bindings,
    error::{code::*, Result},
    str::CStr,
};

fn checked_dentry(ptr: *mut bindings::dentry) -> Result<NonNull<bindings::dentry>> {
    // `ERR_PTR` values are the top 4095 addresses.
    if (ptr as usize) >= (usize::MAX - 4095) {
        return Err(ENODEV);
    }
    NonNull::new(ptr).ok_or(ENODEV)
}

/// A debugfs directory, removed with everything in it on drop.
///
/// # Invariants
///
/// `dentry` is a directory this object created and has not removed.
pub struct DebugfsDir {
    dentry: NonNull<bindings::dentry>,
}

// SAFETY: debugfs dentries may be used and removed from any thread.
unsafe impl Send for DebugfsDir {}
// SAFETY: `&DebugfsDir` only creates children, which debugfs serialises.
unsafe impl Sync for DebugfsDir {}

impl DebugfsDir {
    /// Creates `name` in `parent`, or in the debugfs root.
    ///
    /// A subdirectory must be dropped before its parent.
    pub fn new(name: &CStr, parent: Option<&DebugfsDir>) -> Result<Self> {
        let parent = parent.map_or(core::ptr::null_mut(), |p| p.dentry.as_ptr());
        // SAFETY: `name` is NUL-terminated and copied; `parent` is a live
        // directory of ours or NULL for the debugfs root.
        let dentry = unsafe { bindings::debugfs_create_dir(name.as_char_ptr(), parent) };
        Ok(DebugfsDir {
            dentry: checked_dentry(dentry)?,
        })
    }
}

impl Drop for DebugfsDir {
    fn drop(&mut self) {
        // SAFETY: created by us and not removed yet (invariant).
        unsafe { bindings::debugfs_remove(self.dentry.as_ptr()) };
    }
}

/// A read-only file in a [`DebugfsDir`] with fixed text.
///
/// # Invariants
///
/// `dentry` is a blob file served from `*blob`, which points into `text`;
/// both live until `drop` has removed the file.
pub struct DebugfsText {
    dentry: NonNull<bindings::dentry>,
    _blob: KBox<bindings::debugfs_blob_wrapper>,
    _text: KVec<u8>,
}

// SAFETY: see `DebugfsDir`; the text is only read.
unsafe impl Send for DebugfsText {}
// SAFETY: `&DebugfsText` exposes nothing.
unsafe impl Sync for DebugfsText {}

impl DebugfsText {
    /// Creates `name` in `dir` holding `text` (mode 0400: root only).
    ///
    /// Drop it before `dir`.
    pub fn new(dir: &DebugfsDir, name: &CStr, text: KVec<u8>) -> Result<Self> {
        let mut blob = KBox::new(
            bindings::debugfs_blob_wrapper {
                data: core::ptr::null_mut(),
                size: 0,
            },
            GFP_KERNEL,
        )?;
        let mut this_text = text;
        blob.data = this_text.as_mut_ptr().cast();
        blob.size = this_text.len() as _;
        // SAFETY: `dir` is live; `blob` and the text it points to are owned
        // by the returned object and outlive the file (removed in `drop`).
        let dentry = unsafe {
            bindings::debugfs_create_blob(
                name.as_char_ptr(),
                0o400,
                dir.dentry.as_ptr(),
                &mut *blob,
            )
        };
        Ok(DebugfsText {
            dentry: checked_dentry(dentry)?,
            _blob: blob,
            _text: this_text,
        })
    }
}

impl Drop for DebugfsText {
    fn drop(&mut self) {
        // SAFETY: created by us and not removed yet (invariant).
        // `debugfs_remove` waits for readers to finish, so `blob` and
        // `text` can be freed afterwards.
        unsafe { bindings::debugfs_remove(self.dentry.as_ptr()) };
    }
}
