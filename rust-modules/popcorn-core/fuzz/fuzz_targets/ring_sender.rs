//! The sending end of a ring (`ring::Sender`) against a receiver that may
//! lie: `tail` and `waiting` that change between two loads, scribbles, and
//! an honest receiver in between (`ringmem`). Checks, for every operation:
//!
//! - `tail` and `waiting` are loaded at most once, `head` never (the
//!   sender keeps its own); nothing outside the slot area is touched;
//! - a frame is written only into the slots `[head, head + needed)`,
//!   which the one `tail` it saw left free, each byte once, header then
//!   payload exactly, and published (`head`) only after it is written;
//! - a refusal writes nothing and says what the memory showed;
//! - while nobody tampered, the honest receiver gets every frame once, in
//!   order, intact.

#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use popcorn_core::ring::{Layout, Receiver, RingError, Sender, FRAME_HEADER_SIZE, SLOT_SIZE};
use popcorn_core_fuzz::pattern;
use popcorn_core_fuzz::ringmem::{self, Event, SentFrame};

/// Whether a sender at `head` that sees `tail` has room for `len` bytes,
/// as the protocol says: a corrupt `tail` (more used than the ring has)
/// counts as room, so that the next send reports it.
fn room_for(layout: Layout, head: u32, tail: u32, len: usize) -> bool {
    let used = head.wrapping_sub(tail);
    used > layout.nr_slots() || layout.nr_slots() - used >= layout.slots_for(len)
}

fuzz_target!(|data: &[u8]| {
    let mem = ringmem::ring_for(data);
    let layout = mem.layout();
    let nr = layout.nr_slots();
    let area = layout.slot_area();
    let max = layout.max_payload();

    let mut tx = Sender::new(&mem, layout);
    let mut head = 0u32; // what the sender's head must be
    let mut room = 0u32;
    let mut peer = Receiver::new(mem.peer(), layout);
    let mut sent: VecDeque<SentFrame> = VecDeque::new();
    let mut peer_buf = vec![0u8; max];

    while !mem.input().is_empty() {
        let op = mem.input().u8();
        match op % 12 {
            0..=3 => {
                // Send one frame in up to three parts.
                let (kind, lens, salt) = {
                    let mut i = mem.input();
                    let kind = i.u16();
                    let nparts = 1 + i.u8() % 3;
                    // Now and then a length past the maximum.
                    let lens: Vec<usize> = (0..nparts).map(|_| i.upto(max + 64)).collect();
                    (kind, lens, i.u8())
                };
                let parts: Vec<Vec<u8>> =
                    lens.iter().enumerate().map(|(n, &len)| pattern(len, salt.wrapping_add(n as u8))).collect();
                let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
                let len: usize = lens.iter().sum();
                mem.begin_op();
                let result = tx.send_parts(kind, &refs);
                let log = mem.take_log();
                let (heads, tails, waits, rooms) = ringmem::load_counts(&log);
                assert_eq!(heads + rooms, 0, "send loaded its own fields back: {log:?}");
                assert!(tails <= 1 && waits <= 1, "send loaded an index twice: {log:?}");
                let needed = layout.slots_for(len);
                match result {
                    Err(RingError::TooLarge { len: l, max: m }) => {
                        assert_eq!((l, m), (len, max));
                        assert!(len > max);
                        assert!(log.is_empty(), "a refused frame touched the ring: {log:?}");
                    }
                    Err(e) => {
                        assert!(len <= max, "a frame past the maximum was not refused as such");
                        let [Event::LoadTail(tail)] = log[..] else { panic!("a refused send did more than load tail: {log:?}") };
                        let used = head.wrapping_sub(tail);
                        match e {
                            RingError::Full { needed: n, free } => {
                                assert!(used <= nr);
                                assert_eq!((n, free), (needed, nr - used));
                                assert!(free < needed);
                            }
                            RingError::BadIndexes { head: h, tail: t } => {
                                assert_eq!((h, t), (head, tail));
                                assert!(used > nr);
                                assert!(mem.tampered(), "an untouched ring has bad indexes");
                            }
                            other => panic!("send reported {other:?}"),
                        }
                    }
                    Ok(s) => {
                        assert!(len <= max);
                        assert_eq!(s.seq, head);
                        let Event::LoadTail(tail) = log[0] else { panic!("send did not start by loading tail: {log:?}") };
                        let used = head.wrapping_sub(tail);
                        assert!(used <= nr && nr - used >= needed, "{needed} slots written, {} free", nr.wrapping_sub(used));
                        // Writes, then head, then a fence, then waiting.
                        let n = log.len();
                        assert!(n >= 4, "send: {log:?}");
                        assert_eq!(log[n - 3], Event::StoreHead(head.wrapping_add(needed)));
                        assert_eq!(log[n - 2], Event::Fence);
                        let Event::LoadWaiting(waiting) = log[n - 1] else { panic!("send: {log:?}") };
                        assert_eq!(s.notify, waiting);
                        let writes = ringmem::writes(&log[1..n - 3]);
                        assert_eq!(writes.len(), n - 4, "send did more than write the frame before publishing it: {log:?}");
                        ringmem::assert_disjoint(&writes, "send wrote");
                        let start = (head & (nr - 1)) as usize * SLOT_SIZE;
                        let written = ringmem::contiguous(&writes, start, FRAME_HEADER_SIZE + len, area);
                        // Only into the frame's own slots.
                        let end = (start + written.len() + SLOT_SIZE - 1) / SLOT_SIZE;
                        assert!(end - start / SLOT_SIZE <= needed as usize);
                        let mut expected = Vec::with_capacity(written.len());
                        expected.extend_from_slice(&(len as u16).to_le_bytes());
                        expected.extend_from_slice(&kind.to_le_bytes());
                        expected.extend_from_slice(&head.to_le_bytes());
                        for p in &parts {
                            expected.extend_from_slice(p);
                        }
                        assert_eq!(written, expected, "the frame was written wrong");
                        head = head.wrapping_add(needed);
                        if !mem.tampered() {
                            sent.push_back((kind, parts.concat(), s.seq));
                        }
                    }
                }
            }
            4 => {
                let len = mem.input().upto(max);
                mem.begin_op();
                let ok = tx.want_room(len);
                let log = mem.take_log();
                room = room.wrapping_add(1);
                let [Event::StoreRoom(r), Event::Fence, Event::LoadTail(tail)] = log[..] else { panic!("want_room: {log:?}") };
                assert_eq!(r, room);
                assert_eq!(ok, room_for(layout, head, tail, len));
            }
            5 => {
                let len = mem.input().upto(max);
                mem.begin_op();
                let ok = tx.has_room_for(len);
                let log = mem.take_log();
                let [Event::LoadTail(tail)] = log[..] else { panic!("has_room_for: {log:?}") };
                assert_eq!(ok, room_for(layout, head, tail, len));
            }
            6 => {
                mem.begin_op();
                let abandoned = tx.restart_at_tail();
                let log = mem.take_log();
                let [Event::LoadTail(tail), Event::StoreHead(h)] = log[..] else { panic!("restart_at_tail: {log:?}") };
                assert_eq!(h, tail);
                let used = head.wrapping_sub(tail);
                assert_eq!(abandoned, if used <= nr { used } else { 0 });
                head = tail;
                if !mem.tampered() {
                    // What the receiver had not taken is given up.
                    sent.clear();
                }
            }
            7 => {
                // The sender's module reloads.
                mem.begin_op();
                tx = Sender::resume(&mem, layout);
                let log = mem.take_log();
                let (heads, _, _, rooms) = ringmem::load_counts(&log);
                assert_eq!((heads, rooms, log.len()), (1, 1, 2), "resume: {log:?}");
                for e in &log {
                    match *e {
                        Event::LoadHead(h) => {
                            assert!(mem.tampered() || h == head, "our own head changed");
                            head = h;
                        }
                        Event::LoadRoom(r) => room = r,
                        _ => unreachable!(),
                    }
                }
            }
            8 | 9 => {
                // The honest receiver takes a frame.
                match peer.receive(&mut peer_buf) {
                    Ok(Some(frame)) => {
                        if !mem.tampered() {
                            ringmem::assert_is_next(&mut sent, frame, &peer_buf[..frame.len]);
                        }
                    }
                    Ok(None) => assert!(mem.tampered() || sent.is_empty(), "a sent frame went missing"),
                    Err(e) => {
                        assert!(mem.tampered(), "an untouched ring gave the receiver {e}");
                        peer.resync();
                        sent.clear();
                    }
                }
                if mem.input().bool() {
                    peer.room_wanted();
                }
            }
            10 => {
                if peer.prepare_to_sleep() && mem.input().bool() {
                    peer.woken();
                }
            }
            _ => {
                // The receiver scribbles.
                let mut i = mem.input();
                let what = i.u8() % 3;
                match what {
                    0 => {
                        let v = if i.bool() { i.u32() } else { head.wrapping_sub(i.upto(2 * nr as usize) as u32) };
                        drop(i);
                        mem.scribble_tail(v);
                    }
                    1 => {
                        let v = i.u32();
                        drop(i);
                        mem.scribble_waiting(v);
                    }
                    _ => {
                        let v = i.u32();
                        drop(i);
                        mem.scribble_room(v);
                    }
                }
            }
        }
    }

    if !mem.tampered() {
        ringmem::assert_all_arrive(&mut peer, &mut sent);
    }
});
