//! popnet's frames (`netframe.rs`) as another kernel sends them: the
//! 8-byte header in front of the Ethernet frame, the destination MAC, and
//! the transmit queue a frame goes on.
//!
//! Properties: an accepted message's frame is the message after the
//! header, holds an Ethernet header and fits the MTU; a checksum field it
//! names lies after the Ethernet header and inside the frame; segmentation
//! comes only with a segment size and a checksum to fill; the header
//! re-encodes to the same meaning (`parse(encode(h)) == h`, and `encode`
//! keeps every byte the parser gave a meaning). A refusal names a rule the
//! message broke. A MAC names a kernel exactly when it is popnet's.

#![no_main]

use libfuzzer_sys::fuzz_target;
use popcorn_core::netframe::{
    dest_of, mac_of, tx_queue, Dest, FrameError, NetHeader, ETH_HLEN, HEADER_SIZE, MAC_PREFIX,
};
use popcorn_core_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    let max_frame = if input.bool() { 1514 } else { input.upto(70_000) };
    let self_id = input.u32() & 0xff_ffff;
    let shared = input.u16();
    let slot = if input.bool() { Some(input.upto(u16::MAX as usize + 2)) } else { None };
    let message = input.rest();

    match NetHeader::parse(message, max_frame) {
        Ok((h, frame)) => {
            assert_eq!(frame, &message[HEADER_SIZE..]);
            assert!(frame.len() >= ETH_HLEN && frame.len() <= max_frame);
            let (flags, gso) = (message[0], message[1]);
            assert_eq!(flags & !1, 0);
            assert_eq!(h.csum.is_some(), flags & 1 != 0);
            if let Some((start, offset)) = h.csum {
                assert!(usize::from(start) >= ETH_HLEN);
                assert!(usize::from(start) + usize::from(offset) + 2 <= frame.len(), "checksum field outside the frame");
            }
            if let Some(g) = h.gso {
                assert!(g.size > 0 && h.csum.is_some());
                assert_eq!(g.ecn, gso & 0x80 != 0);
            } else {
                assert_eq!(gso & 0x7f, 0);
            }
            let encoded = h.encode();
            let mut again = encoded.to_vec();
            again.extend_from_slice(frame);
            assert_eq!(NetHeader::parse(&again, max_frame), Ok((h, frame)));
            // Every byte with a meaning is kept.
            assert_eq!(encoded[0], flags);
            if h.csum.is_some() {
                assert_eq!(encoded[2..6], message[2..6]);
            }
            if h.gso.is_some() {
                assert_eq!((encoded[1], &encoded[6..8]), (gso, &message[6..8]));
            }
        }
        Err(FrameError::TooShort { len }) => {
            assert_eq!(len, message.len());
            assert!(len < HEADER_SIZE + ETH_HLEN);
        }
        Err(FrameError::TooLong { len, max }) => {
            assert_eq!((len, max), (message.len() - HEADER_SIZE, max_frame));
            assert!(len > max);
        }
        Err(FrameError::BadFlags { flags, gso }) => {
            assert_eq!((flags, gso), (message[0], message[1]));
            assert!(flags & !1 != 0 || gso & 0x7f > 2);
        }
        Err(FrameError::BadChecksum { start, offset }) => {
            assert_eq!(message[0] & 1, 1);
            let end = usize::from(start) + usize::from(offset) + 2;
            assert!(usize::from(start) < ETH_HLEN || end > message.len() - HEADER_SIZE);
        }
        Err(FrameError::BadGso { size }) => {
            assert_ne!(message[1] & 0x7f, 0);
            assert!(size == 0 || message[0] & 1 == 0);
        }
    }

    // Where the frame in the message goes.
    let frame = message.get(HEADER_SIZE..).unwrap_or(&[]);
    let dest = dest_of(frame);
    match dest {
        Dest::All => assert_eq!(frame[0] & 1, 1),
        Dest::Kernel(id) => {
            assert!(id <= 0xff_ffff);
            assert_eq!(&mac_of(id)[..], &frame[..6]);
        }
        Dest::Unknown => assert!(frame.len() < 6 || (frame[0] & 1 == 0 && frame[..3] != MAC_PREFIX)),
    }
    let queue = tx_queue(dest, self_id, shared, |_| slot);
    let to_peer_slot = matches!(dest, Dest::Kernel(id) if id != self_id)
        && slot.is_some_and(|s| s < usize::from(shared));
    if to_peer_slot {
        assert_eq!(usize::from(queue), slot.unwrap());
    } else {
        assert_eq!(queue, shared, "a frame that is not for one peer's slot left the shared queue");
    }
    // Every kernel's MAC names it.
    assert_eq!(dest_of(&mac_of(self_id)), Dest::Kernel(self_id));
});
