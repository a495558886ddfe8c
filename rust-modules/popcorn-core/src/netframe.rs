//! popnet's frames: how an Ethernet frame travels as one message, and how
//! a MAC names a kernel.
//!
//! A message of popnet's kind is an 8-byte header followed by the whole
//! Ethernet frame (destination MAC first). The header carries what the
//! sending stack left undone, as virtio-net's header does, since the data
//! never leaves memory and checksumming or segmenting it twice would be
//! wasted work:
//!
//! | Offset | Size | Field         | Meaning                                              |
//! |--------|------|---------------|------------------------------------------------------|
//! | 0      | 1    | `flags`       | bit 0: checksum to be filled in (`csum_*` valid)     |
//! | 1      | 1    | `gso`         | 0 none, 1 TCP/IPv4, 2 TCP/IPv6; bit 7: ECN           |
//! | 2      | 2    | `csum_start`  | where checksumming starts, from the frame's start    |
//! | 4      | 2    | `csum_offset` | where the checksum goes, from `csum_start`           |
//! | 6      | 2    | `gso_size`    | payload bytes per segment, for a `gso` frame         |
//!
//! Little-endian. Everything here comes from another kernel, so
//! [`NetHeader::parse`] checks it against the frame it describes before
//! the receiving stack acts on it.
//!
//! Requires: `crate::le`.

use crate::le::{put, read_u16};

/// Bytes of the header in front of every frame.
pub const HEADER_SIZE: usize = 8;
/// Bytes of an Ethernet header.
pub const ETH_HLEN: usize = 14;
/// The first three bytes of every popnet MAC (locally administered,
/// unicast; `PC` in ASCII after the `02`).
pub const MAC_PREFIX: [u8; 3] = [0x02, 0x50, 0x43];

const FLAG_CSUM: u8 = 1;
const GSO_ECN: u8 = 0x80;

/// The MAC of kernel `id`'s device: the prefix, then the id's low 24 bits.
pub fn mac_of(id: u32) -> [u8; 6] {
    let [_, a, b, c] = id.to_be_bytes();
    [MAC_PREFIX[0], MAC_PREFIX[1], MAC_PREFIX[2], a, b, c]
}

/// Where a frame goes, by its destination MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// Broadcast or multicast: every live kernel.
    All,
    /// One kernel, by id.
    Kernel(u32),
    /// A unicast MAC that is not a popnet device's (or no MAC at all).
    Unknown,
}

/// The destination of `frame` (an Ethernet frame, header first).
pub fn dest_of(frame: &[u8]) -> Dest {
    let Some(mac) = frame.get(..6) else {
        return Dest::Unknown;
    };
    if mac.first().is_some_and(|b| b & 1 != 0) {
        return Dest::All;
    }
    match mac {
        [p0, p1, p2, a, b, c] if [*p0, *p1, *p2] == MAC_PREFIX => {
            Dest::Kernel(u32::from_be_bytes([0, *a, *b, *c]))
        }
        _ => Dest::Unknown,
    }
}

/// The transmit queue of a frame to `dest`, sent by kernel `self_id`: a
/// live kernel's frames go on the queue of its table slot (`slot_of`
/// says which, `None` once the kernel is gone), so that a kernel whose
/// ring stays full holds up only its own frames. Broadcast, multicast,
/// frames to ourselves, to nobody or to a slot past the last queue go on
/// `shared`, a queue the driver never stops (those frames are sent best
/// effort, or dropped).
pub fn tx_queue(dest: Dest, self_id: u32, shared: u16, slot_of: impl FnOnce(u32) -> Option<usize>) -> u16 {
    match dest {
        Dest::Kernel(id) if id != self_id => slot_of(id)
            .and_then(|slot| u16::try_from(slot).ok())
            .filter(|&queue| queue < shared)
            .unwrap_or(shared),
        _ => shared,
    }
}

/// Segmentation the receiver's stack is to do (or pass on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsoKind {
    TcpV4,
    TcpV6,
}

/// A segmented ("GSO") frame: one large TCP packet standing for several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gso {
    pub kind: GsoKind,
    /// TCP payload bytes per segment.
    pub size: u16,
    /// The packet uses ECN (the stack must keep CWR on one segment only).
    pub ecn: bool,
}

/// What the sender's stack left for the receiver's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetHeader {
    /// `(csum_start, csum_offset)`: the checksum is not filled in; the
    /// data is intact (it never left memory), so the receiver may trust it
    /// and fills it in only if the packet leaves again.
    pub csum: Option<(u16, u16)>,
    pub gso: Option<Gso>,
}

/// Why a received header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than the header plus an Ethernet header.
    TooShort { len: usize },
    /// Longer than the device's MTU allows.
    TooLong { len: usize, max: usize },
    /// Unknown bits in `flags` or `gso`.
    BadFlags { flags: u8, gso: u8 },
    /// The checksum field lies outside the frame.
    BadChecksum { start: u16, offset: u16 },
    /// Segmentation without a segment size or without a checksum to fill.
    BadGso { size: u16 },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            FrameError::TooShort { len } => write!(f, "{len} bytes, shorter than the headers"),
            FrameError::TooLong { len, max } => write!(f, "{len} bytes, more than the MTU allows ({max})"),
            FrameError::BadFlags { flags, gso } => write!(f, "unknown flags {flags:#x}/{gso:#x}"),
            FrameError::BadChecksum { start, offset } => {
                write!(f, "checksum at {start}+{offset} outside the frame")
            }
            FrameError::BadGso { size } => write!(f, "segmentation with segment size {size}"),
        }
    }
}

impl NetHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        let (start, offset) = self.csum.unwrap_or((0, 0));
        let flags = if self.csum.is_some() { FLAG_CSUM } else { 0 };
        let (gso, size) = match self.gso {
            None => (0, 0),
            Some(g) => {
                let kind = match g.kind {
                    GsoKind::TcpV4 => 1,
                    GsoKind::TcpV6 => 2,
                };
                (kind | if g.ecn { GSO_ECN } else { 0 }, g.size)
            }
        };
        put(&mut out, 0, &[flags, gso]);
        put(&mut out, 2, &start.to_le_bytes());
        put(&mut out, 4, &offset.to_le_bytes());
        put(&mut out, 6, &size.to_le_bytes());
        out
    }

    /// Splits a received message into its header and Ethernet frame,
    /// checking both: the frame holds at least an Ethernet header and at
    /// most `max_frame` bytes, and the checksum field lies inside it.
    pub fn parse(message: &[u8], max_frame: usize) -> Result<(NetHeader, &[u8]), FrameError> {
        let (Some(head), Some(frame)) = (message.get(..HEADER_SIZE), message.get(HEADER_SIZE..)) else {
            return Err(FrameError::TooShort { len: message.len() });
        };
        if frame.len() < ETH_HLEN {
            return Err(FrameError::TooShort { len: message.len() });
        }
        if frame.len() > max_frame {
            return Err(FrameError::TooLong {
                len: frame.len(),
                max: max_frame,
            });
        }
        let flags = head.first().copied().unwrap_or(0);
        let gso = head.get(1).copied().unwrap_or(0);
        let start = read_u16(head, 2).unwrap_or(0);
        let offset = read_u16(head, 4).unwrap_or(0);
        let size = read_u16(head, 6).unwrap_or(0);
        if flags & !FLAG_CSUM != 0 || gso & !GSO_ECN > 2 {
            return Err(FrameError::BadFlags { flags, gso });
        }
        let csum = if flags & FLAG_CSUM != 0 {
            // The 2-byte checksum field must lie after the Ethernet header
            // and inside the frame.
            let field_end = usize::from(start).checked_add(usize::from(offset)).and_then(|at| at.checked_add(2));
            if usize::from(start) < ETH_HLEN || field_end.is_none_or(|end| end > frame.len()) {
                return Err(FrameError::BadChecksum { start, offset });
            }
            Some((start, offset))
        } else {
            None
        };
        let gso = match gso & !GSO_ECN {
            0 => None,
            kind => {
                // A segmented packet always leaves its checksum to fill in.
                if size == 0 || csum.is_none() {
                    return Err(FrameError::BadGso { size });
                }
                Some(Gso {
                    kind: if kind == 1 { GsoKind::TcpV4 } else { GsoKind::TcpV6 },
                    size,
                    ecn: gso & GSO_ECN != 0,
                })
            }
        };
        Ok((NetHeader { csum, gso }, frame))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn message(header: &NetHeader, frame_len: usize) -> Vec<u8> {
        let mut m = header.encode().to_vec();
        m.extend((0..frame_len).map(|i| i as u8));
        m
    }

    #[test]
    fn macs_name_kernels() {
        assert_eq!(mac_of(0), [2, 0x50, 0x43, 0, 0, 0]);
        assert_eq!(mac_of(0x01_0203), [2, 0x50, 0x43, 1, 2, 3]);
        assert_eq!(dest_of(&mac_of(7)), Dest::Kernel(7));
        assert_eq!(dest_of(&[0xff; 14]), Dest::All);
        assert_eq!(dest_of(&[0x33, 0x33, 0, 0, 0, 1]), Dest::All);
        assert_eq!(dest_of(&[0x02, 0x50, 0x44, 0, 0, 1]), Dest::Unknown);
        assert_eq!(dest_of(&[0x02, 0x50]), Dest::Unknown);
    }

    #[test]
    fn queue_per_peer_slot() {
        let slots = |id: u32| match id {
            3 => Some(1),
            12 => Some(2),
            99 => Some(70_000),
            _ => None,
        };
        assert_eq!(tx_queue(Dest::Kernel(3), 0, 9, slots), 1);
        assert_eq!(tx_queue(Dest::Kernel(12), 0, 9, slots), 2);
        // Gone, ourselves, broadcast, nobody, a slot past the queues.
        assert_eq!(tx_queue(Dest::Kernel(4), 0, 9, slots), 9);
        assert_eq!(tx_queue(Dest::Kernel(3), 3, 9, slots), 9);
        assert_eq!(tx_queue(Dest::All, 0, 9, slots), 9);
        assert_eq!(tx_queue(Dest::Unknown, 0, 9, slots), 9);
        assert_eq!(tx_queue(Dest::Kernel(99), 0, 9, slots), 9);
        assert_eq!(tx_queue(Dest::Kernel(12), 0, 2, slots), 2);
    }

    #[test]
    fn headers_round_trip() {
        let cases = [
            NetHeader::default(),
            NetHeader {
                csum: Some((34, 16)),
                gso: None,
            },
            NetHeader {
                csum: Some((34, 16)),
                gso: Some(Gso {
                    kind: GsoKind::TcpV4,
                    size: 1448,
                    ecn: false,
                }),
            },
            NetHeader {
                csum: Some((54, 16)),
                gso: Some(Gso {
                    kind: GsoKind::TcpV6,
                    size: 1428,
                    ecn: true,
                }),
            },
        ];
        for h in cases {
            let m = message(&h, 1514);
            let (parsed, frame) = NetHeader::parse(&m, 1514).unwrap();
            assert_eq!(parsed, h);
            assert_eq!(frame.len(), 1514);
            assert_eq!(frame[0], 0);
        }
    }

    #[test]
    fn lengths_are_checked() {
        let h = NetHeader::default();
        assert_eq!(NetHeader::parse(&[0; 7], 1514), Err(FrameError::TooShort { len: 7 }));
        assert_eq!(
            NetHeader::parse(&message(&h, 13), 1514),
            Err(FrameError::TooShort { len: 21 })
        );
        assert!(NetHeader::parse(&message(&h, 14), 1514).is_ok());
        assert_eq!(
            NetHeader::parse(&message(&h, 1515), 1514),
            Err(FrameError::TooLong { len: 1515, max: 1514 })
        );
    }

    #[test]
    fn checksum_fields_must_lie_inside_the_frame() {
        let at = |start, offset| NetHeader {
            csum: Some((start, offset)),
            gso: None,
        };
        assert!(NetHeader::parse(&message(&at(34, 16), 52), 1514).is_ok());
        assert_eq!(
            NetHeader::parse(&message(&at(34, 16), 51), 1514),
            Err(FrameError::BadChecksum { start: 34, offset: 16 })
        );
        assert!(NetHeader::parse(&message(&at(10, 16), 100), 1514).is_err());
        assert!(NetHeader::parse(&message(&at(u16::MAX, u16::MAX), 1514), 1514).is_err());
    }

    #[test]
    fn bad_flags_and_gso_are_refused() {
        let mut m = message(&NetHeader::default(), 60);
        m[0] = 0x80;
        assert!(matches!(NetHeader::parse(&m, 1514), Err(FrameError::BadFlags { .. })));
        let mut m = message(&NetHeader::default(), 60);
        m[1] = 3;
        assert!(matches!(NetHeader::parse(&m, 1514), Err(FrameError::BadFlags { .. })));
        // Segmentation without a checksum to fill, or with no segment size.
        let mut m = message(&NetHeader::default(), 60);
        m[1] = 1;
        m[6] = 100;
        assert_eq!(NetHeader::parse(&m, 1514), Err(FrameError::BadGso { size: 100 }));
        let mut m = message(
            &NetHeader {
                csum: Some((34, 16)),
                gso: None,
            },
            60,
        );
        m[1] = 2;
        assert_eq!(NetHeader::parse(&m, 1514), Err(FrameError::BadGso { size: 0 }));
    }

    #[test]
    fn any_bytes_parse_without_panicking() {
        let mut state = 0x1234_5678u32;
        for len in 0..200 {
            for _ in 0..50 {
                let m = crate::testing::garbage(&mut state, len);
                if let Ok((h, frame)) = NetHeader::parse(&m, 150) {
                    assert!(frame.len() >= ETH_HLEN && frame.len() <= 150);
                    if let Some((s, o)) = h.csum {
                        assert!(usize::from(s) + usize::from(o) + 2 <= frame.len());
                    }
                }
            }
        }
    }
}
