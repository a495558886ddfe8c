//! Every migration message (`migrate.rs`) as another kernel sends it, taken
//! apart the way the module's receive path does: the header, then the
//! op's body parser; for a `Begin`, the admission of what it asks for
//! (`admit.rs`).
//!
//! Properties: an accepted message holds only what the wire format allows
//! (counts within their bounds and matching the length, addresses page
//! aligned inside user space, credentials a Linux task can have, paths
//! absolute) and the parsed values re-encode to the bytes received (except
//! reserved bytes the format does not check); admission never lets one
//! kernel take more than the documented share.

#![no_main]

use libfuzzer_sys::fuzz_target;
use popcorn_core::admit::{self, PeerLoad, Refusal, MAX_PENDING_PER_PEER};
use popcorn_core::migrate::{
    parse_pages, parse_state, parse_vmas, parse_word, state_size, user_range_ok, Begin, Creds, Header, Op, Signals,
    WireError, BEGIN_SIZE, CAP_VALID, CREDS_SIZE, HEADER_SIZE, MAX_GROUPS, MAX_PATH, MAX_XSAVE, NR_REGS,
    PAGE_SIZE, REGS_SIZE, SECUREBITS_VALID, SIGNALS_SIZE, USER_END, VERSION, VMA_SIZE,
};
use popcorn_core_fuzz::{Bytes, le32, le64};

/// What the destination has staged when the `Begin` comes.
#[derive(Clone, Copy)]
struct Load {
    peer: PeerLoad,
    all: u64,
    available: u64,
}

fn check_begin(body: &[u8], max_pages: u32, load: &Load) {
    let Ok(b) = Begin::parse(body, max_pages) else {
        return;
    };
    assert!(body.len() >= BEGIN_SIZE && body.len() <= BEGIN_SIZE + MAX_PATH);
    assert!(b.vmas >= 1 && b.vmas <= 4096);
    assert!(b.pages <= max_pages);
    assert!(b.xsave_len as usize <= MAX_XSAVE);
    assert!(b.mm.iter().all(|&a| a <= USER_END));
    assert!(b.vdso == 0 || user_range_ok(b.vdso, b.vdso + PAGE_SIZE as u64));
    assert_eq!(b.stub >> 32, u64::from(b.home));
    let path = b.path();
    assert_eq!(path, &body[BEGIN_SIZE..]);
    assert!(path.is_empty() || (path[0] == b'/' && !path.contains(&0)));
    // Back to bytes: the same, but for the 4 reserved bytes.
    let mut again = b.encode().to_vec();
    again.extend_from_slice(path);
    let mut expected = body.to_vec();
    expected[140..144].fill(0);
    assert_eq!(again, expected);
    assert_eq!(Begin::parse(&again, max_pages), Ok(b));

    // The destination sets room aside for its pages, if admitted.
    let bytes = admit::staging_bytes(u64::from(b.pages), PAGE_SIZE as u64);
    assert_eq!(bytes, Some(u64::from(b.pages) * (PAGE_SIZE as u64 + 8)));
    let bytes = bytes.unwrap();
    let Load { peer, all, available } = *load;
    match admit::admit(peer, all, bytes, available) {
        Ok(()) => {
            assert!(peer.pending < MAX_PENDING_PER_PEER);
            assert!(bytes <= available / 2, "more than half of what is free");
            let share = ((u128::from(available) + u128::from(all)) / 2).min(u128::from(u64::MAX));
            assert!(u128::from(peer.bytes) + u128::from(bytes) <= share, "more than its share");
        }
        Err(r) => {
            assert!(r.errno() == 16 || r.errno() == 12);
            match r {
                Refusal::TooMany { pending } => assert!(pending >= MAX_PENDING_PER_PEER),
                Refusal::TooLarge { bytes: b2, available: a } => assert!(b2 > a / 2),
                Refusal::Overflow => assert!(peer.bytes.checked_add(bytes).is_none()),
                Refusal::OverShare { .. } => {}
            }
        }
    }
}

fn check_vmas(body: &[u8]) {
    let Ok(vmas) = parse_vmas(body) else {
        return;
    };
    let count = le32(body, 0) as usize;
    assert!(count >= 1 && body.len() == 8 + count * VMA_SIZE);
    let mut n = 0;
    for (i, vma) in vmas.enumerate() {
        n += 1;
        let raw = &body[8 + i * VMA_SIZE..8 + (i + 1) * VMA_SIZE];
        let Ok(v) = vma else { continue };
        assert!(user_range_ok(v.start, v.end));
        assert!(v.start % 4096 == 0 && v.end % 4096 == 0 && v.start < v.end && v.end <= USER_END);
        assert_eq!(v.flags & !31, 0);
        assert!(v.offset % 4096 == 0 && v.offset.checked_add(v.end - v.start).is_some());
        let mut expected = raw.to_vec();
        expected[20..24].fill(0);
        assert_eq!(&v.encode()[..], &expected[..]);
    }
    assert_eq!(n, count);
}

fn check_pages(body: &[u8]) {
    let Ok(pages) = parse_pages(body) else {
        return;
    };
    let count = le32(body, 0) as usize;
    assert!(count >= 1 && body.len() == 8 + count * (8 + PAGE_SIZE));
    let data = &body[8 + 8 * count..];
    let mut n = 0;
    for (i, page) in pages.enumerate() {
        n += 1;
        let addr = le64(body, 8 + 8 * i);
        match page {
            Ok((a, bytes)) => {
                assert_eq!(a, addr);
                assert!(a % 4096 == 0 && a < USER_END);
                assert_eq!(bytes, &data[i * PAGE_SIZE..(i + 1) * PAGE_SIZE]);
            }
            Err(e) => {
                assert_eq!(e, WireError::BadAddress(addr));
                assert!(!(addr % 4096 == 0 && addr < USER_END));
            }
        }
    }
    assert_eq!(n, count);
}

fn check_signals(s: &Signals, raw: &[u8]) {
    assert_eq!(s.altstack_flags & !(2 | 1 << 31), 0);
    if s.altstack_size != 0 {
        assert!(s.altstack_sp.checked_add(s.altstack_size).is_some_and(|end| end <= USER_END));
    }
    for a in &s.actions {
        assert!(a.handler < USER_END && a.restorer < USER_END);
    }
    let mut again = vec![0u8; SIGNALS_SIZE];
    s.encode_into(&mut again);
    let mut expected = raw.to_vec();
    expected[28..32].fill(0);
    assert_eq!(again, expected);
}

fn check_creds(c: &Creds, raw: &[u8]) {
    assert!(c.uid.iter().chain(&c.gid).all(|&id| id != u32::MAX));
    assert!(c.caps.iter().all(|&set| set & !CAP_VALID == 0));
    let [inh, perm, eff, _, amb] = c.caps;
    assert_eq!(amb & !(perm & inh), 0, "ambient outside permitted and inheritable");
    assert_eq!(eff & !perm, 0, "effective outside permitted");
    assert_eq!(c.securebits & !SECUREBITS_VALID, 0);
    assert_eq!(c.umask & !0o777, 0);
    assert!(c.dumpable <= 2);
    assert!(c.ngroups as usize <= MAX_GROUPS);
    assert!(c.groups().iter().all(|&g| g != u32::MAX));
    assert!(c.groups[c.ngroups as usize..].iter().all(|&g| g == 0));
    let mut again = vec![0u8; CREDS_SIZE];
    c.encode_into(&mut again);
    assert_eq!(again, raw, "credentials do not re-encode to what was received");
}

fn check_state(body: &[u8], xsave_len: usize) {
    let mut signals = Signals::default();
    let mut creds = Creds::default();
    let Ok((regs, xsave)) = parse_state(body, xsave_len, &mut signals, &mut creds) else {
        return;
    };
    assert_eq!(body.len(), state_size(xsave_len));
    for (i, r) in regs.iter().enumerate().take(NR_REGS) {
        assert_eq!(*r, le64(body, 8 * i));
    }
    let creds_at = REGS_SIZE + SIGNALS_SIZE;
    check_signals(&signals, &body[REGS_SIZE..creds_at]);
    check_creds(&creds, &body[creds_at..creds_at + CREDS_SIZE]);
    assert_eq!(xsave, &body[creds_at + CREDS_SIZE..]);
    assert_eq!(xsave.len(), xsave_len);
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    let max_pages = if input.bool() { 1 << 18 } else { input.u32() };
    let xsave_len = if input.bool() { 0 } else { input.upto(MAX_XSAVE + 64) };
    let peer = PeerLoad { pending: u32::from(input.u8() % 4), bytes: if input.bool() { input.u64() } else { input.u32().into() } };
    let load = Load {
        peer,
        all: peer.bytes.saturating_add(if input.bool() { input.u64() } else { input.u32().into() }),
        available: if input.bool() { input.u64() } else { u64::from(input.u32()) << 12 },
    };
    let message = input.rest();

    let Ok((header, body)) = Header::parse(message) else {
        if message.len() >= HEADER_SIZE {
            let version = u16::from_le_bytes([message[2], message[3]]);
            let op = u16::from_le_bytes([message[0], message[1]]);
            assert!(version != VERSION || op == 0 || op > 11, "a good header refused");
        }
        return;
    };
    assert_eq!(body, &message[HEADER_SIZE..]);
    assert_eq!(header.id, le64(message, 8));
    let mut expected = message[..HEADER_SIZE].to_vec();
    expected[4..8].fill(0);
    assert_eq!(&header.encode()[..], &expected[..]);

    match header.op {
        Op::Begin => check_begin(body, max_pages, &load),
        Op::Vmas => check_vmas(body),
        Op::Pages => check_pages(body),
        Op::State => check_state(body, xsave_len),
        Op::Signal | Op::Exited | Op::Moving => match parse_word(body) {
            Ok(w) => assert_eq!((body.len(), w), (4, le32(body, 0))),
            Err(e) => assert_eq!((e, body.len() != 4), (WireError::BadLength { len: body.len() }, true)),
        },
        Op::Commit | Op::Abort | Op::Arrived | Op::Stayed => {}
    }
});
