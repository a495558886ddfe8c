// SPDX-License-Identifier: GPL-2.0

//! What 6.12's `KVec` lacks and Popcorn needs: removing an element.

use kernel::alloc::{Allocator, Vec};

/// Removes the element at `index` and returns it, moving the last element
/// into its place (order is not kept). `None` if `index` is out of range.
pub fn swap_remove<T, A: Allocator>(list: &mut Vec<T, A>, index: usize) -> Option<T> {
    let len = list.len();
    if index >= len {
        return None;
    }
    list.as_mut_slice().swap(index, len - 1);
    // SAFETY: the element at `len - 1` is initialised. After `set_len` the
    // vector no longer owns it, so reading it out moves it to the caller
    // exactly once.
    unsafe {
        list.set_len(len - 1);
        Some(list.as_ptr().add(len - 1).read())
    }
}

/// Removes every element `gone` says so of, dropping them.
pub fn remove_where<T, A: Allocator>(list: &mut Vec<T, A>, mut gone: impl FnMut(&T) -> bool) {
    let mut index = 0;
    while index < list.len() {
        if list.as_slice().get(index).is_some_and(&mut gone) {
            drop(swap_remove(list, index));
        } else {
            index += 1;
        }
    }
}
