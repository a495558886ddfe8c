//! Helpers for the host tests (not part of any kernel module).

extern crate std;
use std::vec::Vec;

/// Pseudo-random bytes (xorshift32) for "garbage never panics" tests:
/// `len` bytes, continuing from `state`.
pub fn garbage(state: &mut u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 17;
            *state ^= *state << 5;
            *state as u8
        })
        .collect()
}
