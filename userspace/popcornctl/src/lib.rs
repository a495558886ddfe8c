//! `popcornctl`: the user's view of a Popcorn multikernel.
//!
//! Everything here reads the sysfs tree that `popcorn_msg.ko` publishes
//! (`/sys/kernel/popcorn`, documented in `docs/sysfs.md`). The root is a
//! parameter so the host tests can point it at a fake tree.

pub mod boot;
pub mod migrate;
pub mod ping;
pub mod status;
