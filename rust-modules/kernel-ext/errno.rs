// SPDX-License-Identifier: GPL-2.0

//! Errnos that Linux 6.12's `kernel::error::code` does not name, for the
//! message layer's callers (network-style failures of a peer kernel).

use kernel::{bindings, error::Error};

fn from(code: u32) -> Error {
    // The bindings' errno constants are small positive numbers.
    Error::from_errno(-(code as i32))
}

/// The peer kernel is not running (or not talking).
pub fn ehostunreach() -> Error {
    from(bindings::EHOSTUNREACH)
}

/// The peer kernel went away while we waited for it.
pub fn ehostdown() -> Error {
    from(bindings::EHOSTDOWN)
}

/// No answer in time, or no room in time.
pub fn etimedout() -> Error {
    from(bindings::ETIMEDOUT)
}

/// A message longer than a ring carries.
pub fn emsgsize() -> Error {
    from(bindings::EMSGSIZE)
}

/// Too many requests in flight.
pub fn enobufs() -> Error {
    from(bindings::ENOBUFS)
}

/// The peer handles no such request.
pub fn eopnotsupp() -> Error {
    from(bindings::EOPNOTSUPP)
}

/// The shared window was written by something that does not speak our
/// protocol.
pub fn eproto() -> Error {
    from(bindings::EPROTO)
}
