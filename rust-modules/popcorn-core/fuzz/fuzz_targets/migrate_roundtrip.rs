//! Migration messages (`migrate.rs`) built by the encoders from values the
//! fuzzer picks, valid or not, then parsed back.
//!
//! Properties: the parser accepts a message exactly when the documented
//! rules hold for the values in it (a reference predicate below, written
//! from the docs), and what it accepts parses back to the values encoded:
//! `parse(encode(x)) == x` for the header, `Begin`, `Vma`s, pages, the
//! signal state, the credentials and whole `State` bodies.

#![no_main]

use libfuzzer_sys::fuzz_target;
use popcorn_core::migrate::{
    confinement_refusal, encode_regs, pages_header, parse_pages, parse_state, parse_vmas, parse_word, vmas_header,
    Begin, Creds, Header, Op, SigAction, Signals, Vma, CAP_VALID, CREDS_SIZE, MAX_GROUPS, MAX_PATH, MAX_XSAVE,
    NR_REGS, NR_SIGNALS, PAGE_SIZE, SECUREBITS_VALID, SIGNALS_SIZE, USER_END,
};
use popcorn_core_fuzz::Bytes;

const OPS: [Op; 11] = [
    Op::Begin,
    Op::Vmas,
    Op::Pages,
    Op::State,
    Op::Commit,
    Op::Abort,
    Op::Signal,
    Op::Exited,
    Op::Moving,
    Op::Arrived,
    Op::Stayed,
];

/// A user range `[start, end)` as the docs define it.
fn user_range(start: u64, end: u64) -> bool {
    start % 4096 == 0 && end % 4096 == 0 && start < end && end <= USER_END
}

/// A page-aligned address, now and then not.
fn page_addr(input: &mut Bytes) -> u64 {
    let a = input.addr();
    if input.u8() < 0xf0 {
        a & !0xfff
    } else {
        a
    }
}

fn begin(input: &mut Bytes) -> (Begin, Vec<u8>, u32, bool) {
    let max_pages = if input.bool() { 1 << 18 } else { input.u32() };
    let home = input.u32();
    let mut b = Begin {
        origin_pid: input.u32(),
        vmas: input.upto(5000) as u32,
        pages: if input.bool() { input.upto(1 << 19) as u32 } else { input.u32() },
        xsave_len: if input.bool() { input.upto(MAX_XSAVE + 64) as u32 } else { input.u32() },
        vdso: if input.bool() { 0 } else { page_addr(input) },
        home,
        stub: if input.u8() < 0xf0 { u64::from(home) << 32 | u64::from(input.u32()) } else { input.u64() },
        ..Begin::default()
    };
    for m in &mut b.mm {
        *m = if input.u8() < 0xf8 { input.addr() % (USER_END + 1) } else { input.addr() };
    }
    let n = input.upto(16);
    for (d, &c) in b.comm.iter_mut().zip(input.take(n)) {
        *d = c;
    }
    let path_len = input.upto(MAX_PATH + 8);
    let mut path: Vec<u8> = input.take(path_len).iter().map(|&c| if c == 0 { b'x' } else { c }).collect();
    match input.u8() % 4 {
        0 if !path.is_empty() => path[0] = b'/',
        1 if !path.is_empty() => {
            path[0] = b'/';
            let at = input.upto(path.len() - 1);
            path[at] = 0;
        }
        _ => {}
    }
    let path_ok = path.len() <= MAX_PATH && (path.is_empty() || (path[0] == b'/' && !path.contains(&0)));
    let valid = (1..=4096).contains(&b.vmas)
        && b.pages <= max_pages
        && b.xsave_len as usize <= MAX_XSAVE
        && b.mm.iter().all(|&a| a <= USER_END)
        && (b.vdso == 0 || b.vdso.checked_add(4096).is_some_and(|end| user_range(b.vdso, end)))
        && b.stub >> 32 == u64::from(b.home)
        && path_ok;
    if path_ok && !path.is_empty() {
        assert!(b.set_path(&path));
        assert_eq!(b.path(), &path[..]);
    }
    (b, path, max_pages, valid)
}

fn signals(input: &mut Bytes) -> (Signals, bool) {
    let mut s = Signals {
        blocked: input.u64(),
        altstack_sp: if input.bool() { 0 } else { input.addr() },
        altstack_size: if input.bool() { 0 } else { input.addr() },
        altstack_flags: match input.u8() % 4 {
            0 => 0,
            1 => 2,
            2 => 1 << 31,
            _ => input.u32(),
        },
        ..Signals::default()
    };
    let mut valid = s.altstack_flags & !(2 | 1 << 31) == 0
        && (s.altstack_size == 0 || s.altstack_sp.checked_add(s.altstack_size).is_some_and(|end| end <= USER_END));
    let n = input.upto(NR_SIGNALS);
    for a in s.actions.iter_mut().take(n) {
        *a = SigAction {
            handler: if input.u8() < 0xf8 { input.addr() % USER_END } else { input.addr() },
            flags: input.u64(),
            restorer: if input.u8() < 0xf8 { input.addr() % USER_END } else { input.addr() },
            mask: input.u64(),
        };
        valid &= a.handler < USER_END && a.restorer < USER_END;
    }
    (s, valid)
}

/// A user or group id, now and then the invalid one.
fn id(input: &mut Bytes) -> u32 {
    if input.u8() < 0xf8 {
        input.u32() % u32::MAX
    } else {
        u32::MAX
    }
}

fn creds(input: &mut Bytes) -> (Creds, bool) {
    let uid = [id(input), id(input), id(input), id(input)];
    let gid = [id(input), id(input), id(input), id(input)];
    let mut caps = [0u64; 5];
    for c in &mut caps {
        *c = if input.u8() < 0xf0 { input.u64() & CAP_VALID } else { input.u64() };
    }
    if input.bool() {
        // Usually the sets are nested as a task's are.
        caps[1] |= caps[2] | caps[4];
        caps[0] |= caps[4];
    }
    let mut c = Creds {
        uid,
        gid,
        caps,
        securebits: if input.bool() { u32::from(input.u8()) } else { input.u32() },
        umask: if input.bool() { input.u16() & 0o777 } else { input.u16() },
        no_new_privs: input.bool(),
        dumpable: input.u8() % 4,
        ..Creds::default()
    };
    let ngroups = input.upto(MAX_GROUPS + 2);
    let groups: Vec<u32> = (0..ngroups.min(MAX_GROUPS)).map(|_| id(input)).collect();
    assert!(c.set_groups(&groups));
    assert_eq!(c.groups(), &groups[..]);
    if ngroups > MAX_GROUPS {
        // More than a task may have, as the raw count says.
        c.ngroups = ngroups as u32;
    } else if input.u8() == 0xff && ngroups < MAX_GROUPS {
        // A non-zero group past the count.
        c.groups[ngroups] = input.u32() | 1;
    }
    let [inh, perm, eff, _, amb] = c.caps;
    let valid = c.uid.iter().chain(&c.gid).all(|&i| i != u32::MAX)
        && c.caps.iter().all(|&s| s & !CAP_VALID == 0)
        && amb & !(perm & inh) == 0
        && eff & !perm == 0
        && c.securebits & !SECUREBITS_VALID == 0
        && c.umask & !0o777 == 0
        && c.dumpable <= 2
        && c.ngroups as usize <= MAX_GROUPS
        && c.groups.iter().enumerate().all(|(i, &g)| if i < c.ngroups as usize { g != u32::MAX } else { g == 0 });
    (c, valid)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    match input.u8() % 6 {
        0 => {
            let h = Header { op: OPS[usize::from(input.u8()) % OPS.len()], id: input.u64() };
            let mut msg = h.encode().to_vec();
            let body = input.take(16).to_vec();
            msg.extend_from_slice(&body);
            assert_eq!(Header::parse(&msg), Ok((h, &body[..])));
            let word = input.u32();
            assert_eq!(parse_word(&word.to_le_bytes()), Ok(word));
            let bits = input.u32();
            assert_eq!(confinement_refusal(bits).is_none(), bits == 0);
        }
        1 => {
            let (b, path, max_pages, valid) = begin(&mut input);
            let mut body = b.encode().to_vec();
            body.extend_from_slice(&path);
            let parsed = Begin::parse(&body, max_pages);
            assert_eq!(parsed.is_ok(), valid, "Begin {b:?} with path {path:?}: {parsed:?}");
            if let Ok(p) = parsed {
                assert_eq!(p, b);
            }
        }
        2 => {
            let n = 1 + input.upto(8);
            let vmas: Vec<Vma> = (0..n)
                .map(|_| Vma {
                    start: page_addr(&mut input),
                    end: page_addr(&mut input),
                    flags: if input.bool() { u32::from(input.u8() & 31) } else { input.u32() },
                    offset: if input.bool() { 0 } else { page_addr(&mut input) },
                })
                .collect();
            let mut body = vmas_header(n as u32).to_vec();
            for v in &vmas {
                body.extend_from_slice(&v.encode());
            }
            let parsed: Vec<_> = parse_vmas(&body).expect("a well-counted Vmas body refused").collect();
            assert_eq!(parsed.len(), n);
            for (v, p) in vmas.iter().zip(parsed) {
                let valid = user_range(v.start, v.end)
                    && v.flags & !31 == 0
                    && v.offset % 4096 == 0
                    && v.offset.checked_add(v.end - v.start).is_some();
                assert_eq!(p.is_ok(), valid, "{v:?}: {p:?}");
                if let Ok(p) = p {
                    assert_eq!(&p, v);
                }
            }
        }
        3 => {
            let n = 1 + input.upto(3);
            let addrs: Vec<u64> = (0..n).map(|_| page_addr(&mut input)).collect();
            let mut body = pages_header(n as u32).to_vec();
            for a in &addrs {
                body.extend_from_slice(&a.to_le_bytes());
            }
            for i in 0..n {
                body.extend(std::iter::repeat_n(i as u8, PAGE_SIZE));
            }
            let parsed: Vec<_> = parse_pages(&body).expect("a well-counted Pages body refused").collect();
            assert_eq!(parsed.len(), n);
            for (i, (&a, p)) in addrs.iter().zip(parsed).enumerate() {
                let valid = a.checked_add(4096).is_some_and(|end| user_range(a, end));
                assert_eq!(p.is_ok(), valid, "page at {a:#x}: {p:?}");
                if let Ok((addr, page)) = p {
                    assert_eq!(addr, a);
                    assert!(page.len() == PAGE_SIZE && page.iter().all(|&b| b == i as u8));
                }
            }
        }
        4 => {
            let (s, valid) = signals(&mut input);
            let mut raw = vec![0u8; SIGNALS_SIZE];
            s.encode_into(&mut raw);
            let mut back = Signals::default();
            let parsed = Signals::parse_into(&raw, &mut back);
            assert_eq!(parsed.is_ok(), valid, "{s:?}: {parsed:?}");
            if parsed.is_ok() {
                assert_eq!(back, s);
            }
        }
        _ => {
            let (c, creds_valid) = creds(&mut input);
            let (s, signals_valid) = signals(&mut input);
            let mut regs = [0u64; NR_REGS];
            for r in &mut regs {
                *r = input.u64();
            }
            let xsave_len = input.upto(MAX_XSAVE);
            let xsave = input.take(xsave_len).to_vec();
            let mut body = encode_regs(&regs).to_vec();
            let mut raw = vec![0u8; SIGNALS_SIZE];
            s.encode_into(&mut raw);
            body.extend_from_slice(&raw);
            let mut raw = vec![0u8; CREDS_SIZE];
            c.encode_into(&mut raw);
            body.extend_from_slice(&raw);
            body.extend_from_slice(&xsave);
            let (mut s2, mut c2) = (Signals::default(), Creds::default());
            let parsed = parse_state(&body, xsave.len(), &mut s2, &mut c2);
            assert_eq!(parsed.is_ok(), creds_valid && signals_valid, "{c:?} {s:?}: {parsed:?}");
            if let Ok((r, x)) = parsed {
                assert_eq!((r, x, s2, c2), (regs, &xsave[..], s, c));
            }
            // Credentials alone.
            let mut back = Creds::default();
            assert_eq!(Creds::parse_into(&raw, &mut back).is_ok(), creds_valid);
            if creds_valid {
                assert_eq!(back, c);
            }
        }
    }
});
