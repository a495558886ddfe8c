//! How much memory another kernel may make this one set aside for
//! incoming migrations (issue 14, item 3).
//!
//! A `Begin` announces how many pages a process will send, and the
//! destination reserves room for all of them up front. Another kernel is
//! not trusted, so what it may ask for is bounded:
//!
//! - at most [`MAX_PENDING_PER_PEER`] migrations from one kernel that are
//!   not running yet (staged, or launched and not restored);
//! - one migration takes at most half of the memory available now
//!   (`MemAvailable`): whatever is admitted, this kernel keeps at least
//!   half of what it had free;
//! - everything one kernel has staged, this migration included, stays
//!   within half of the memory staging could use at all (what is
//!   available now plus what every kernel has staged already), so one
//!   kernel cannot take the room other kernels' migrations need.
//!
//! The module maps a refusal to an errno for the peer ([`Refusal::errno`])
//! and logs one rate-limited line with its `Display`.

use core::fmt;

/// Migrations from one kernel that may be pending (not yet running) here.
pub const MAX_PENDING_PER_PEER: u32 = 2;

/// What one kernel has staged here now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerLoad {
    /// Its migrations not yet running.
    pub pending: u32,
    /// Bytes set aside for them.
    pub bytes: u64,
}

/// Why a migration is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The kernel has [`MAX_PENDING_PER_PEER`] migrations pending already.
    TooMany { pending: u32 },
    /// The size does not even fit in 64 bits.
    Overflow,
    /// More than half of the available memory.
    TooLarge { bytes: u64, available: u64 },
    /// More than this kernel's share.
    OverShare { bytes: u64, staged: u64, share: u64 },
}

impl Refusal {
    /// The errno (positive) the peer gets: `EBUSY` for too many at once
    /// (try again later), `ENOMEM` for too much memory.
    pub fn errno(&self) -> i32 {
        const EBUSY: i32 = 16;
        const ENOMEM: i32 = 12;
        match self {
            Refusal::TooMany { .. } => EBUSY,
            _ => ENOMEM,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooMany { pending } => {
                write!(f, "{} of its migrations are pending here already (at most {})", pending, MAX_PENDING_PER_PEER)
            }
            Refusal::Overflow => write!(f, "its size overflows"),
            Refusal::TooLarge { bytes, available } => {
                write!(f, "{} bytes asked for, more than half of the {} available", bytes, available)
            }
            Refusal::OverShare { bytes, staged, share } => write!(
                f,
                "{} bytes asked for on top of {} staged, more than its share of {}",
                bytes, staged, share
            ),
        }
    }
}

/// Bytes the destination sets aside for a migration of `pages` pages of
/// `page_size` bytes: the pages and their 8-byte addresses. `None` if that
/// does not fit in 64 bits.
pub fn staging_bytes(pages: u64, page_size: u64) -> Option<u64> {
    pages.checked_mul(page_size.checked_add(8)?)
}

/// Whether a migration that needs `bytes` may be staged, given what its
/// kernel has staged (`peer`), what all kernels have staged (`all_staged`,
/// `peer` included) and the memory available now (`available`).
pub fn admit(peer: PeerLoad, all_staged: u64, bytes: u64, available: u64) -> Result<(), Refusal> {
    if peer.pending >= MAX_PENDING_PER_PEER {
        return Err(Refusal::TooMany { pending: peer.pending });
    }
    if bytes > available / 2 {
        return Err(Refusal::TooLarge { bytes, available });
    }
    let share = available.saturating_add(all_staged) / 2;
    let after = peer.bytes.checked_add(bytes).ok_or(Refusal::Overflow)?;
    if after > share {
        return Err(Refusal::OverShare { bytes, staged: peer.bytes, share });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn an_ordinary_migration_is_admitted() {
        assert_eq!(admit(PeerLoad::default(), 0, 64 * MIB, 200 * MIB), Ok(()));
        assert_eq!(admit(PeerLoad { pending: 1, bytes: 10 * MIB }, 10 * MIB, 10 * MIB, 200 * MIB), Ok(()));
    }

    #[test]
    fn more_than_half_of_what_is_available_is_refused() {
        assert_eq!(
            admit(PeerLoad::default(), 0, 101 * MIB, 200 * MIB),
            Err(Refusal::TooLarge { bytes: 101 * MIB, available: 200 * MIB })
        );
        assert_eq!(admit(PeerLoad::default(), 0, 100 * MIB, 200 * MIB), Ok(()));
        // All of RAM, or more than any machine has.
        assert!(admit(PeerLoad::default(), 0, u64::MAX, 200 * MIB).is_err());
        assert!(admit(PeerLoad::default(), 0, 1, 0).is_err());
    }

    #[test]
    fn one_kernel_gets_at_most_its_pending_count() {
        let peer = PeerLoad { pending: MAX_PENDING_PER_PEER, bytes: 0 };
        let refused = admit(peer, 0, 1, 200 * MIB);
        assert_eq!(refused, Err(Refusal::TooMany { pending: MAX_PENDING_PER_PEER }));
        assert_eq!(refused.unwrap_err().errno(), 16);
        // Another kernel is not affected by it.
        assert_eq!(admit(PeerLoad::default(), 0, 1, 200 * MIB), Ok(()));
    }

    #[test]
    fn one_kernel_cannot_take_the_room_of_the_others() {
        // Kernel A staged 60 MiB (available dropped from 200 to 140):
        // a second 40 MiB from A would hold 100 of the 200: admitted; a
        // second 50 MiB is more than half of what staging can use.
        let a = PeerLoad { pending: 1, bytes: 60 * MIB };
        assert_eq!(admit(a, 60 * MIB, 40 * MIB, 140 * MIB), Ok(()));
        let refused = admit(a, 60 * MIB, 50 * MIB, 140 * MIB);
        assert_eq!(refused, Err(Refusal::OverShare { bytes: 50 * MIB, staged: 60 * MIB, share: 100 * MIB }));
        assert_eq!(refused.unwrap_err().errno(), 12);
        // Kernel B still gets 50 MiB.
        assert_eq!(admit(PeerLoad::default(), 60 * MIB, 50 * MIB, 140 * MIB), Ok(()));
    }

    #[test]
    fn sizes_that_overflow_are_refused() {
        assert_eq!(staging_bytes(u64::MAX, 4096), None);
        assert_eq!(staging_bytes(3, 4096), Some(3 * 4104));
        assert_eq!(staging_bytes(u64::from(u32::MAX), u64::MAX), None);
        let peer = PeerLoad { pending: 0, bytes: u64::MAX };
        assert!(admit(peer, u64::MAX, 1, u64::MAX).is_err());
    }

    #[test]
    fn refusals_say_why() {
        extern crate std;
        use std::string::ToString;
        let text = Refusal::TooLarge { bytes: 3, available: 4 }.to_string();
        assert!(text.contains("more than half of the 4 available"), "{}", text);
        let text = Refusal::TooMany { pending: 2 }.to_string();
        assert!(text.contains("at most 2"), "{}", text);
    }
}
