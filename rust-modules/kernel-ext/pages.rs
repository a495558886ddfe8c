// SPDX-License-Identifier: GPL-2.0

//! Pages taken from the page allocator as they are, without clearing: for
//! the test that checks what a new kernel finds in its free memory
//! (`msgtest/stale_pages`).

use kernel::{
    alloc::{flags, KVVec},
    page::{Page, PAGE_SIZE},
    prelude::*,
};

/// Free pages taken from the allocator (uncleared) until it has none to
/// give without waiting, or `limit` of them; given back on drop.
pub struct FreePages {
    pages: KVVec<Page>,
}

impl FreePages {
    /// Takes up to `limit` free pages, never reclaiming or waking the OOM
    /// killer (`GFP_NOWAIT | __GFP_NOWARN`).
    pub fn take(limit: usize) -> Result<Self> {
        let mut pages = KVVec::new();
        while pages.len() < limit {
            let Ok(page) = Page::alloc_page(flags::GFP_NOWAIT | flags::__GFP_NOWARN) else {
                break;
            };
            pages.push(page, GFP_KERNEL)?;
        }
        Ok(FreePages { pages })
    }

    /// How many pages were taken.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    /// Calls `f` with the bytes of each page, as the allocator had them,
    /// copied into `buf` (`EINVAL` if it is shorter than a page).
    pub fn for_each(&self, buf: &mut [u8], mut f: impl FnMut(&[u8])) -> Result {
        let buf = buf.get_mut(..PAGE_SIZE).ok_or(EINVAL)?;
        for page in self.pages.iter() {
            // SAFETY: `buf` is valid for writing `PAGE_SIZE` bytes, and the
            // page is ours alone (just allocated, not shared or mapped
            // elsewhere), so nothing writes it during the read.
            unsafe { page.read_raw(buf.as_mut_ptr(), 0, PAGE_SIZE)? };
            f(buf);
        }
        Ok(())
    }
}
