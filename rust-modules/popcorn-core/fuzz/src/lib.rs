//! What the fuzz targets share: a cursor over the fuzzer's bytes and the
//! adversarial ring memory (`ring_receiver`, `ring_sender`).
//!
//! Fuzz targets, unlike popcorn-core itself, may panic: a failed assertion
//! is how a target reports a finding.

pub mod ringmem;

/// Reads values off the fuzzer's input, little-endian. Past the end every
/// read gives zeros, so a target never runs out of input mid-step; loops
/// stop on [`Bytes::is_empty`].
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// What is left, all of it.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let head = self.take(N);
        out[..head.len()].copy_from_slice(head);
        out
    }

    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// A value in `0..=max`, small ones likelier (one byte, or a full
    /// `u32` when the first byte is 0xff).
    pub fn upto(&mut self, max: usize) -> usize {
        if max == 0 {
            return 0;
        }
        let raw = match self.u8() {
            0xff => self.u32() as usize,
            b => b as usize,
        };
        raw % (max + 1)
    }

    /// An address near an interesting edge: `0`, a page boundary, the end
    /// of user space, 4 GiB or 2^64, give or take a little; or any `u64`.
    pub fn addr(&mut self) -> u64 {
        const EDGES: [u64; 8] = [
            0,
            0x1000,
            0x40_0000,
            0x1_0000_0000,
            0x0000_7fff_ffff_f000,
            1 << 63,
            u64::MAX & !0xfff,
            u64::MAX,
        ];
        let sel = self.u8();
        if sel & 0x80 != 0 {
            return self.u64();
        }
        let base = EDGES[usize::from(sel) % EDGES.len()];
        let delta = u64::from(self.u16()) << if sel & 0x40 != 0 { 12 } else { 0 };
        if sel & 0x20 != 0 {
            base.wrapping_sub(delta)
        } else {
            base.wrapping_add(delta)
        }
    }
}

/// The little-endian `u16` at `at`, 0 where `b` is too short.
pub fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2).map_or(0, |s| u16::from_le_bytes(s.try_into().unwrap()))
}

/// The little-endian `u32` at `at`, 0 where `b` is too short.
pub fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap()))
}

/// The little-endian `u64` at `at`, 0 where `b` is too short.
pub fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap()))
}

/// `len` bytes of a pattern that differs from frame to frame.
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}
