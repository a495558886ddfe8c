// SPDX-License-Identifier: GPL-2.0

//! Reading whole files (kernel images, initramfs) from the filesystem.

use core::ptr::NonNull;
use kernel::{
    bindings,
    error::{Error, Result},
    ffi::c_void,
    str::CStr,
};

/// What a file is read for; security modules (IMA, LoadPin) may check it.
#[derive(Clone, Copy)]
pub enum Purpose {
    KernelImage,
    Initramfs,
}

/// A file's contents in a `vmalloc` buffer.
///
/// # Invariants
///
/// `data` points to `len` initialised bytes allocated by
/// `kernel_read_file_from_path`, owned by this object and freed on drop.
pub struct FileContents {
    data: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer is plain memory owned by this object.
unsafe impl Send for FileContents {}
// SAFETY: `&FileContents` only reads.
unsafe impl Sync for FileContents {}

impl FileContents {
    /// Reads all of `path`, refusing files larger than `max_len` (`EFBIG`).
    /// Errors are those of opening and reading (`ENOENT`, `EACCES`, ...).
    pub fn read(path: &CStr, max_len: usize, purpose: Purpose) -> Result<Self> {
        let id = match purpose {
            Purpose::KernelImage => bindings::kernel_read_file_id_READING_KEXEC_IMAGE,
            Purpose::Initramfs => bindings::kernel_read_file_id_READING_KEXEC_INITRAMFS,
        };
        let mut buf: *mut c_void = core::ptr::null_mut();
        // SAFETY: `path` is NUL-terminated; `buf` is NULL, so the callee
        // allocates a buffer of at most `max_len` bytes and stores it there.
        let ret = unsafe {
            bindings::kernel_read_file_from_path(
                path.as_char_ptr(),
                0,
                &mut buf,
                max_len,
                core::ptr::null_mut(),
                id,
            )
        };
        if ret < 0 {
            let errno = i32::try_from(ret).unwrap_or(kernel::error::code::EIO.to_errno());
            return Err(Error::from_errno(errno));
        }
        let len = usize::try_from(ret).map_err(|_| kernel::error::code::EIO)?;
        let data = NonNull::new(buf.cast::<u8>()).ok_or(kernel::error::code::EIO)?;
        // INVARIANT: on success the callee returned the byte count and its
        // buffer, which is now ours.
        Ok(FileContents { data, len })
    }

    /// The contents.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: by the invariant, `data` holds `len` initialised bytes
        // that live as long as `self`.
        unsafe { core::slice::from_raw_parts(self.data.as_ptr(), self.len) }
    }
}

impl Drop for FileContents {
    fn drop(&mut self) {
        // SAFETY: the buffer came from `vmalloc` inside
        // `kernel_read_file_from_path` and is freed only here.
        unsafe { bindings::vfree(self.data.as_ptr().cast::<c_void>()) };
    }
}
