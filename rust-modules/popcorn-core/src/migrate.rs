//! Task migration on the wire: the messages that move a process from one
//! kernel to another (`docs/migration.md`).
//!
//! Every message of migration's kind starts with a 16-byte header:
//!
//! | Offset | Size | Field     | Meaning                                          |
//! |--------|------|-----------|--------------------------------------------------|
//! | 0      | 2    | `op`      | [`Op`]                                           |
//! | 2      | 2    | `version` | [`VERSION`]                                      |
//! | 4      | 4    | reserved  | 0                                                |
//! | 8      | 8    | `id`      | the migration: origin kernel id << 32 \| counter |
//!
//! then the op's body, little-endian:
//!
//! - `Begin` (a request): [`Begin`], the process's identity and memory
//!   layout, and its home: the kernel it started on, which keeps its stub;
//!   then the path of its program (up to [`MAX_PATH`] bytes, none if
//!   empty). Answered when the destination has made room for it.
//! - `Vmas`: a `u32` count, 4 bytes reserved, then that many [`Vma`]s of
//!   32 bytes (start, end, [`Vma::flags`], reserved, offset in the
//!   program's file).
//! - `Pages`: a `u32` count, 4 bytes reserved, that many `u64` addresses,
//!   then that many 4 KiB pages.
//! - `State`: the 27 registers of `struct user_regs_struct` (216 bytes),
//!   the signal state ([`Signals`], 2,080 bytes), the process's identity
//!   ([`Creds`], 344 bytes), then the XSAVE image (the rest).
//! - `Commit` (a request): empty. The destination starts the process.
//! - `Abort`: empty. The origin gave up; the destination drops what it has.
//! - `Signal`: a `u32` signal number, for the process (home to holder).
//! - `Exited`: an `i32` wait status (holder to home).
//! - `Moving` (a request, holder to home): a `u32` kernel id. The holder
//!   is about to send the process there: the home's stub holds its signals
//!   back until it knows where the process ended up.
//! - `Arrived` (holder to home): empty. The kernel named in `Moving` has
//!   the process now (it committed; the process runs there soon).
//! - `Stayed` (holder to home): empty. The move failed; it stays.
//!
//! A process is named by two ids: a transfer's (`Begin` to `Commit`, and
//! `Abort`: the sender's id) and its stub's (`Signal`, `Exited`, `Moving`,
//! `Arrived`, `Stayed`: the home's id of the first migration, which stays
//! the same however often the process moves on).
//!
//! The receiver checks every count against the message's length and every
//! address against the user address space before using it: the sender is
//! another kernel.
//!
//! Requires: `crate::le`, `crate::number`.

use crate::le::{put, read_u32, read_u64};

/// Bytes of the common header.
pub const HEADER_SIZE: usize = 16;
/// The wire format's version; a different one is refused.
pub const VERSION: u16 = 4;
/// Bytes of a page.
pub const PAGE_SIZE: usize = 4096;
/// Bytes of a [`Vma`] record.
pub const VMA_SIZE: usize = 32;
/// Longest program path a `Begin` carries.
pub const MAX_PATH: usize = 255;
/// Registers in `struct user_regs_struct` (x86-64).
pub const NR_REGS: usize = 27;
/// Bytes of the registers in a `State` message.
pub const REGS_SIZE: usize = NR_REGS * 8;
/// Largest XSAVE image accepted (AMX-less x86-64 needs under 3 KiB; this
/// leaves room and still fits a message).
pub const MAX_XSAVE: usize = 16 * 1024;
/// User addresses end here (x86-64, 4-level paging: `TASK_SIZE_MAX`).
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;

/// What a message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Begin = 1,
    Vmas = 2,
    Pages = 3,
    State = 4,
    Commit = 5,
    Abort = 6,
    Signal = 7,
    Exited = 8,
    Moving = 9,
    Arrived = 10,
    Stayed = 11,
}

impl Op {
    fn from_raw(raw: u16) -> Option<Op> {
        Some(match raw {
            1 => Op::Begin,
            2 => Op::Vmas,
            3 => Op::Pages,
            4 => Op::State,
            5 => Op::Commit,
            6 => Op::Abort,
            7 => Op::Signal,
            8 => Op::Exited,
            9 => Op::Moving,
            10 => Op::Arrived,
            11 => Op::Stayed,
            _ => return None,
        })
    }
}

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its header or than what its counts say, or longer.
    BadLength { len: usize },
    /// An op this side does not know.
    UnknownOp(u16),
    /// Another version of the format.
    Version(u16),
    /// An address or range outside user space, unaligned, or empty.
    BadAddress(u64),
    /// A count or size out of bounds.
    BadCount(u64),
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            WireError::BadLength { len } => write!(f, "a message of {len} bytes does not add up"),
            WireError::UnknownOp(op) => write!(f, "unknown operation {op}"),
            WireError::Version(v) => write!(f, "format version {v}, not {VERSION}"),
            WireError::BadAddress(a) => write!(f, "bad address {a:#x}"),
            WireError::BadCount(n) => write!(f, "bad count or size {n}"),
        }
    }
}

/// The common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub op: Op,
    pub id: u64,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        put(&mut out, 0, &(self.op as u16).to_le_bytes());
        put(&mut out, 2, &VERSION.to_le_bytes());
        put(&mut out, 8, &self.id.to_le_bytes());
        out
    }

    /// The header of `message` and the body after it.
    pub fn parse(message: &[u8]) -> Result<(Header, &[u8]), WireError> {
        let (Some(head), Some(body)) = (message.get(..HEADER_SIZE), message.get(HEADER_SIZE..)) else {
            return Err(WireError::BadLength { len: message.len() });
        };
        let word = read_u32(head, 0).unwrap_or(0);
        let version = (word >> 16) as u16;
        if version != VERSION {
            return Err(WireError::Version(version));
        }
        let raw = (word & 0xffff) as u16;
        let op = Op::from_raw(raw).ok_or(WireError::UnknownOp(raw))?;
        let id = read_u64(head, 8).unwrap_or(0);
        Ok((Header { op, id }, body))
    }
}

/// The offset-in-page bits of an address.
const PAGE_MASK: u64 = PAGE_SIZE as u64 - 1;

/// Whether `[start, end)` is a page-aligned, non-empty range of user space.
pub fn user_range_ok(start: u64, end: u64) -> bool {
    start & PAGE_MASK == 0 && end & PAGE_MASK == 0 && start < end && end <= USER_END
}

/// Offset of item `i` of `stride` bytes in a table starting at `base`.
/// Saturates: a saturated offset reads as absent ([`read_u64`] and
/// [`put`] check bounds), it never wraps to a wrong field.
fn item_at(base: usize, i: usize, stride: usize) -> usize {
    base.saturating_add(i.saturating_mul(stride))
}

/// The process as a whole: identity and memory layout (`Begin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Begin {
    /// Its PID on the origin.
    pub origin_pid: u32,
    pub vmas: u32,
    pub pages: u32,
    /// Bytes of the XSAVE image the `State` message will carry.
    pub xsave_len: u32,
    /// `mm_struct` fields, in this order: start_code, end_code,
    /// start_data, end_data, start_brk, brk, start_stack, arg_start,
    /// arg_end, env_start, env_end.
    pub mm: [u64; 11],
    /// Where the vDSO's pages begin, its data pages first (0: none).
    pub vdso: u64,
    /// The process's name (`comm`), NUL-padded.
    pub comm: [u8; 16],
    /// The kernel the process started on, which keeps its stub: the
    /// sender for a first migration; the destination itself when the
    /// process goes home (into its stub).
    pub home: u32,
    /// The stub's id on `home`.
    pub stub: u64,
    /// The program's path on the sending kernel (`path_len` bytes; no
    /// NUL, absolute), for mapping its text from the destination's copy.
    pub path: [u8; MAX_PATH],
    pub path_len: u8,
}

impl Default for Begin {
    fn default() -> Self {
        Begin {
            origin_pid: 0,
            vmas: 0,
            pages: 0,
            xsave_len: 0,
            mm: [0; 11],
            vdso: 0,
            comm: [0; 16],
            home: 0,
            stub: 0,
            path: [0; MAX_PATH],
            path_len: 0,
        }
    }
}

/// Bytes of a `Begin` body before the path.
pub const BEGIN_SIZE: usize = 16 + 11 * 8 + 8 + 16 + 16;

impl Begin {
    /// The program's path, if the sender gave one.
    pub fn path(&self) -> &[u8] {
        self.path.get(..usize::from(self.path_len)).unwrap_or(&[])
    }

    /// Sets the path; false (and no path) if it is not one `parse` takes.
    pub fn set_path(&mut self, path: &[u8]) -> bool {
        if !path_ok(path) {
            self.path_len = 0;
            return false;
        }
        if let Some(place) = self.path.get_mut(..path.len()) {
            place.copy_from_slice(path);
        }
        self.path_len = path.len() as u8;
        true
    }

    /// The fixed part; the path ([`Begin::path`]) follows it.
    pub fn encode(&self) -> [u8; BEGIN_SIZE] {
        let mut out = [0u8; BEGIN_SIZE];
        put(&mut out, 0, &self.origin_pid.to_le_bytes());
        put(&mut out, 4, &self.vmas.to_le_bytes());
        put(&mut out, 8, &self.pages.to_le_bytes());
        put(&mut out, 12, &self.xsave_len.to_le_bytes());
        for (i, value) in self.mm.iter().enumerate() {
            put(&mut out, item_at(16, i, 8), &value.to_le_bytes());
        }
        put(&mut out, 16 + 88, &self.vdso.to_le_bytes());
        put(&mut out, 16 + 96, &self.comm);
        put(&mut out, 16 + 112, &self.stub.to_le_bytes());
        put(&mut out, 16 + 120, &self.home.to_le_bytes());
        out
    }

    /// Checks sizes and addresses (the counts bound what the destination
    /// will allocate; the caller also checks them against its memory).
    pub fn parse(body: &[u8], max_pages: u32) -> Result<Begin, WireError> {
        if body.len() < BEGIN_SIZE || body.len() > BEGIN_SIZE + MAX_PATH {
            return Err(WireError::BadLength { len: body.len() });
        }
        let u32_at = |off| read_u32(body, off).unwrap_or(0);
        let mut b = Begin {
            origin_pid: u32_at(0),
            vmas: u32_at(4),
            pages: u32_at(8),
            xsave_len: u32_at(12),
            vdso: read_u64(body, 104).unwrap_or(0),
            stub: read_u64(body, 128).unwrap_or(0),
            home: u32_at(136),
            ..Begin::default()
        };
        for (i, value) in b.mm.iter_mut().enumerate() {
            *value = read_u64(body, item_at(16, i, 8)).unwrap_or(0);
            if *value > USER_END {
                return Err(WireError::BadAddress(*value));
            }
        }
        if let Some(comm) = body.get(112..128) {
            b.comm.copy_from_slice(comm);
        }
        if b.vmas == 0 || b.vmas > 4096 {
            return Err(WireError::BadCount(b.vmas.into()));
        }
        if b.pages > max_pages {
            return Err(WireError::BadCount(b.pages.into()));
        }
        if b.xsave_len as usize > MAX_XSAVE {
            return Err(WireError::BadCount(b.xsave_len.into()));
        }
        // The peer chose `vdso`: near 2^64 its end does not exist.
        if b.vdso != 0 && b.vdso.checked_add(PAGE_SIZE as u64).is_none_or(|end| !user_range_ok(b.vdso, end)) {
            return Err(WireError::BadAddress(b.vdso));
        }
        // A stub's id names its kernel in the upper half.
        if (b.stub >> 32) as u32 != b.home {
            return Err(WireError::BadCount(b.stub));
        }
        let path = body.get(BEGIN_SIZE..).unwrap_or(&[]);
        if !path.is_empty() && !b.set_path(path) {
            return Err(WireError::BadLength { len: body.len() });
        }
        Ok(b)
    }
}

/// Whether `path` is one a `Begin` may carry: absolute, no NUL, not too
/// long.
fn path_ok(path: &[u8]) -> bool {
    path.len() <= MAX_PATH && path.first() == Some(&b'/') && !path.contains(&0)
}

/// One mapping of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    /// [`Vma::READ`] and friends.
    pub flags: u32,
    /// With [`Vma::FILE`]: where in the program's file the mapping starts.
    pub offset: u64,
}

impl Vma {
    pub const READ: u32 = 1;
    pub const WRITE: u32 = 2;
    pub const EXEC: u32 = 4;
    /// The stack: grows down.
    pub const GROWSDOWN: u32 = 8;
    /// Mapped from the program's file, at `offset`, and never written:
    /// the destination may map its own copy of the file there, once it
    /// found the same bytes in it.
    pub const FILE: u32 = 16;
    const KNOWN: u32 = 31;

    pub fn encode(&self) -> [u8; VMA_SIZE] {
        let mut out = [0u8; VMA_SIZE];
        put(&mut out, 0, &self.start.to_le_bytes());
        put(&mut out, 8, &self.end.to_le_bytes());
        put(&mut out, 16, &self.flags.to_le_bytes());
        put(&mut out, 24, &self.offset.to_le_bytes());
        out
    }

    fn parse(bytes: &[u8]) -> Result<Vma, WireError> {
        let vma = Vma {
            start: read_u64(bytes, 0).unwrap_or(0),
            end: read_u64(bytes, 8).unwrap_or(0),
            flags: read_u32(bytes, 16).unwrap_or(0),
            offset: read_u64(bytes, 24).unwrap_or(0),
        };
        if !user_range_ok(vma.start, vma.end) {
            return Err(WireError::BadAddress(vma.start));
        }
        if vma.flags & !Vma::KNOWN != 0 {
            return Err(WireError::BadCount(vma.flags.into()));
        }
        // A file offset is page aligned and leaves room for the mapping.
        let fits = vma.end.checked_sub(vma.start).and_then(|len| vma.offset.checked_add(len));
        if vma.offset & PAGE_MASK != 0 || fits.is_none() {
            return Err(WireError::BadCount(vma.offset));
        }
        Ok(vma)
    }
}

/// Splits a `Vmas` or `Pages` body into its count and the rest, checking
/// that the rest is exactly `count * per_item` bytes.
fn counted(body: &[u8], per_item: usize) -> Result<(usize, &[u8]), WireError> {
    let count = read_u32(body, 0).ok_or(WireError::BadLength { len: body.len() })? as usize;
    let rest = body.get(8..).ok_or(WireError::BadLength { len: body.len() })?;
    if count == 0 || count.checked_mul(per_item) != Some(rest.len()) {
        return Err(WireError::BadLength { len: body.len() });
    }
    Ok((count, rest))
}

/// The `Vma`s of a `Vmas` body, checked, in order.
pub fn parse_vmas(body: &[u8]) -> Result<impl Iterator<Item = Result<Vma, WireError>> + '_, WireError> {
    let (_, rest) = counted(body, VMA_SIZE)?;
    Ok(rest.chunks_exact(VMA_SIZE).map(Vma::parse))
}

/// The body of a `Vmas` message: a count header for `count` records.
pub fn vmas_header(count: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    put(&mut out, 0, &count.to_le_bytes());
    out
}

/// The pages of a `Pages` body: `(address, contents)`, addresses checked.
pub fn parse_pages(body: &[u8]) -> Result<impl Iterator<Item = Result<(u64, &[u8]), WireError>> + '_, WireError> {
    let (count, rest) = counted(body, 8 + PAGE_SIZE)?;
    let bad = WireError::BadLength { len: body.len() };
    let Some((addrs, data)) = count.checked_mul(8).and_then(|n| Some((rest.get(..n)?, rest.get(n..)?))) else {
        return Err(bad);
    };
    Ok((0..count).map(move |i| {
        let addr = read_u64(addrs, item_at(0, i, 8)).unwrap_or(u64::MAX);
        let page = i.checked_mul(PAGE_SIZE).and_then(|from| data.get(from..)?.get(..PAGE_SIZE));
        match page {
            Some(page) if user_range_ok(addr, addr.saturating_add(PAGE_SIZE as u64)) => Ok((addr, page)),
            _ => Err(WireError::BadAddress(addr)),
        }
    }))
}

/// The count header of a `Pages` message with `count` pages (then the
/// addresses, then the pages).
pub fn pages_header(count: u32) -> [u8; 8] {
    vmas_header(count)
}

/// Signals numbered 1 to this have a disposition.
pub const NR_SIGNALS: usize = 64;
/// Bytes of [`Signals`] in a `State` message.
pub const SIGNALS_SIZE: usize = 32 + NR_SIGNALS * 32;
/// `sigaltstack` flags a task may hold: `SS_DISABLE`, `SS_AUTODISARM`.
const ALTSTACK_FLAGS: u32 = 2 | 1 << 31;

/// What a signal does: `struct sigaction` as the kernel keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SigAction {
    /// `SIG_DFL` (0), `SIG_IGN` (1) or the handler's address.
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    /// Signals blocked while the handler runs (bit n-1: signal n).
    pub mask: u64,
}

/// A process's signal state: dispositions, blocked set, alternate stack.
/// Pending signals are not part of it: the home forwards them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signals {
    pub blocked: u64,
    pub altstack_sp: u64,
    pub altstack_size: u64,
    pub altstack_flags: u32,
    /// Signal n's at index n-1.
    pub actions: [SigAction; NR_SIGNALS],
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            blocked: 0,
            altstack_sp: 0,
            altstack_size: 0,
            altstack_flags: 2,
            actions: [SigAction::default(); NR_SIGNALS],
        }
    }
}

impl Signals {
    /// Writes the [`SIGNALS_SIZE`] bytes of the record into `out` (into a
    /// buffer, not returned: kernel stacks are small).
    pub fn encode_into(&self, out: &mut [u8]) {
        put(out, 0, &self.blocked.to_le_bytes());
        put(out, 8, &self.altstack_sp.to_le_bytes());
        put(out, 16, &self.altstack_size.to_le_bytes());
        put(out, 24, &self.altstack_flags.to_le_bytes());
        let records = out.get_mut(32..).unwrap_or(&mut []).chunks_exact_mut(32);
        for (a, record) in self.actions.iter().zip(records) {
            put(record, 0, &a.handler.to_le_bytes());
            put(record, 8, &a.flags.to_le_bytes());
            put(record, 16, &a.restorer.to_le_bytes());
            put(record, 24, &a.mask.to_le_bytes());
        }
    }

    /// Checks that handlers, restorers and the alternate stack are in user
    /// space and the stack's flags are ones a task can have, and fills
    /// `s` (in place: kernel stacks are small). On error `s` may be
    /// partly written.
    pub fn parse_into(bytes: &[u8], s: &mut Signals) -> Result<(), WireError> {
        if bytes.len() != SIGNALS_SIZE {
            return Err(WireError::BadLength { len: bytes.len() });
        }
        let word = |at| read_u64(bytes, at).unwrap_or(0);
        s.blocked = word(0);
        s.altstack_sp = word(8);
        s.altstack_size = word(16);
        s.altstack_flags = read_u32(bytes, 24).unwrap_or(0);
        if s.altstack_flags & !ALTSTACK_FLAGS != 0 {
            return Err(WireError::BadCount(s.altstack_flags.into()));
        }
        if s.altstack_size != 0 && s.altstack_sp.checked_add(s.altstack_size).is_none_or(|end| end > USER_END) {
            return Err(WireError::BadAddress(s.altstack_sp));
        }
        // The length is checked: a record for every signal.
        let records = bytes.get(32..).unwrap_or(&[]).chunks_exact(32);
        for (a, record) in s.actions.iter_mut().zip(records) {
            let word = |at| read_u64(record, at).unwrap_or(0);
            *a = SigAction { handler: word(0), flags: word(8), restorer: word(16), mask: word(24) };
            for addr in [a.handler, a.restorer] {
                // SIG_DFL, SIG_IGN (below USER_END) or a user address.
                if addr >= USER_END {
                    return Err(WireError::BadAddress(addr));
                }
            }
        }
        Ok(())
    }
}

/// Most supplementary groups a migrated process may have (the origin
/// refuses one with more).
pub const MAX_GROUPS: usize = 64;
/// The highest capability number (`CAP_LAST_CAP`, Linux 6.12).
pub const CAP_LAST_CAP: u32 = 40;
/// The capability bits a set may hold.
pub const CAP_VALID: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;
/// `securebits` a task may hold: `SECBIT_NOROOT`, `SECBIT_NO_SETUID_FIXUP`,
/// `SECBIT_KEEP_CAPS`, `SECBIT_NO_CAP_AMBIENT_RAISE` and their locks.
pub const SECUREBITS_VALID: u32 = 0xff;
/// `SUID_DUMP_ROOT`, the largest dumpable setting.
const DUMPABLE_MAX: u8 = 2;
/// Bytes of [`Creds`] in a `State` message.
pub const CREDS_SIZE: usize = 88 + 4 * MAX_GROUPS;

/// Which capability set is where in [`Creds::caps`].
pub mod cap {
    pub const INHERITABLE: usize = 0;
    pub const PERMITTED: usize = 1;
    pub const EFFECTIVE: usize = 2;
    pub const BOUNDING: usize = 3;
    pub const AMBIENT: usize = 4;
}

/// A process's identity, which it keeps wherever it runs: its
/// credentials (ids of the initial user namespace: a process in another
/// is refused), and what goes with them.
///
/// | Offset | Size | Field |
/// |--------|------|-------|
/// | 0 | 16 | `uid`: real, effective, saved, filesystem (`u32` each) |
/// | 16 | 16 | `gid`: the same |
/// | 32 | 40 | `caps`: inheritable, permitted, effective, bounding, ambient (`u64` each) |
/// | 72 | 4 | `securebits` |
/// | 76 | 2 | `umask` |
/// | 78 | 1 | `no_new_privs` (0 or 1) |
/// | 79 | 1 | `dumpable` (`SUID_DUMP_*`, 0 to 2) |
/// | 80 | 4 | `ngroups` (up to [`MAX_GROUPS`]) |
/// | 84 | 4 | reserved, 0 |
/// | 88 | 256 | the supplementary groups, then zeros |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    /// Real, effective, saved and filesystem user ids.
    pub uid: [u32; 4],
    /// Real, effective, saved and filesystem group ids.
    pub gid: [u32; 4],
    /// The capability sets, in [`cap`]'s order (bit n: capability n).
    pub caps: [u64; 5],
    pub securebits: u32,
    /// The file mode creation mask.
    pub umask: u16,
    /// Set by `prctl(PR_SET_NO_NEW_PRIVS)`; never cleared.
    pub no_new_privs: bool,
    /// Whether its memory may be dumped and ptraced by its user
    /// (`prctl(PR_GET_DUMPABLE)`).
    pub dumpable: u8,
    pub ngroups: u32,
    pub groups: [u32; MAX_GROUPS],
}

impl Default for Creds {
    /// Nobody with nothing: what a process is never given by mistake.
    fn default() -> Self {
        Creds {
            uid: [INVALID_ID - 1; 4],
            gid: [INVALID_ID - 1; 4],
            caps: [0; 5],
            securebits: 0,
            umask: 0o077,
            no_new_privs: true,
            dumpable: 0,
            ngroups: 0,
            groups: [0; MAX_GROUPS],
        }
    }
}

/// `(uid_t)-1`: no id (what `setresuid` takes as "unchanged").
const INVALID_ID: u32 = u32::MAX;

impl Creds {
    /// The supplementary groups.
    pub fn groups(&self) -> &[u32] {
        self.groups.get(..self.ngroups as usize).unwrap_or(&[])
    }

    /// Sets the supplementary groups; false (and none set) if there are
    /// more than [`MAX_GROUPS`].
    pub fn set_groups(&mut self, groups: &[u32]) -> bool {
        self.ngroups = 0;
        self.groups = [0; MAX_GROUPS];
        let Some(slots) = self.groups.get_mut(..groups.len()) else {
            return false;
        };
        slots.copy_from_slice(groups);
        self.ngroups = groups.len() as u32;
        true
    }

    /// Writes the [`CREDS_SIZE`] bytes of the record into `out`.
    pub fn encode_into(&self, out: &mut [u8]) {
        for (at, id) in (0..32).step_by(4).zip(self.uid.iter().chain(&self.gid)) {
            put(out, at, &id.to_le_bytes());
        }
        for (at, set) in (32..72).step_by(8).zip(&self.caps) {
            put(out, at, &set.to_le_bytes());
        }
        put(out, 72, &self.securebits.to_le_bytes());
        put(out, 76, &self.umask.to_le_bytes());
        put(out, 78, &[u8::from(self.no_new_privs), self.dumpable]);
        put(out, 80, &self.ngroups.to_le_bytes());
        put(out, 84, &[0; 4]);
        for (at, gid) in (88..CREDS_SIZE).step_by(4).zip(&self.groups) {
            put(out, at, &gid.to_le_bytes());
        }
    }

    /// Checks that the record is one a Linux task can have (valid ids, at
    /// most [`MAX_GROUPS`] groups and zeros after them, capability bits up
    /// to [`CAP_LAST_CAP`] only, ambient within permitted and inheritable,
    /// effective within permitted, known securebits and flags), and fills
    /// `c` (on error, partly).
    pub fn parse_into(bytes: &[u8], c: &mut Creds) -> Result<(), WireError> {
        if bytes.len() != CREDS_SIZE {
            return Err(WireError::BadLength { len: bytes.len() });
        }
        let word = |at| read_u32(bytes, at).unwrap_or(INVALID_ID);
        for (at, id) in (0..32).step_by(4).zip(c.uid.iter_mut().chain(c.gid.iter_mut())) {
            *id = word(at);
            if *id == INVALID_ID {
                return Err(WireError::BadCount(INVALID_ID.into()));
            }
        }
        for (at, set) in (32..72).step_by(8).zip(c.caps.iter_mut()) {
            *set = read_u64(bytes, at).unwrap_or(u64::MAX);
            if *set & !CAP_VALID != 0 {
                return Err(WireError::BadCount(*set));
            }
        }
        let [inheritable, permitted, effective, _, ambient] = c.caps;
        if ambient & !(permitted & inheritable) != 0 || effective & !permitted != 0 {
            return Err(WireError::BadCount(ambient | effective));
        }
        c.securebits = word(72);
        if c.securebits & !SECUREBITS_VALID != 0 {
            return Err(WireError::BadCount(c.securebits.into()));
        }
        c.umask = (word(76) & 0xffff) as u16;
        if c.umask & !0o777 != 0 {
            return Err(WireError::BadCount(c.umask.into()));
        }
        let flags = bytes.get(78..80).unwrap_or(&[0xff, 0xff]);
        c.no_new_privs = match flags.first() {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(WireError::BadCount(flags.first().copied().unwrap_or(0xff).into())),
        };
        c.dumpable = flags.get(1).copied().unwrap_or(0xff);
        if c.dumpable > DUMPABLE_MAX {
            return Err(WireError::BadCount(c.dumpable.into()));
        }
        c.ngroups = word(80);
        if c.ngroups as usize > MAX_GROUPS || word(84) != 0 {
            return Err(WireError::BadCount(c.ngroups.into()));
        }
        for (i, (at, gid)) in (88..CREDS_SIZE).step_by(4).zip(c.groups.iter_mut()).enumerate() {
            *gid = word(at);
            let used = i < c.ngroups as usize;
            if (used && *gid == INVALID_ID) || (!used && *gid != 0) {
                return Err(WireError::BadCount((*gid).into()));
            }
        }
        Ok(())
    }
}

/// What keeps a process from migrating beyond its credentials, as the
/// kernel reports it (one bit each: `popcorn_confinement()` in
/// linux-patches/0010), and the reason the origin logs.
const CONFINEMENTS: [&str; 11] = [
    "it is in a user namespace of its own",
    "it is in a pid namespace of its own (or its children will be)",
    "it is in a mount namespace of its own",
    "it is in a network namespace of its own",
    "it is in an IPC namespace of its own",
    "it is in a UTS namespace of its own",
    "it is in a cgroup namespace of its own",
    "it is in a time namespace of its own (or its children will be)",
    "it has a seccomp filter (or strict mode)",
    "it has a security module's label",
    "its root directory is not the system's (chroot)",
];

/// Why a process confined as `bits` says cannot migrate (the first
/// reason found), or `None` if nothing confines it.
pub fn confinement_refusal(bits: u32) -> Option<&'static str> {
    if bits == 0 {
        return None;
    }
    let first = bits.trailing_zeros() as usize;
    Some(CONFINEMENTS.get(first).copied().unwrap_or("it is confined in a way this kernel does not know"))
}

/// Bytes of a `State` body with an XSAVE image of `xsave_len` bytes
/// (`usize::MAX` if that does not fit: no body is that long).
pub fn state_size(xsave_len: usize) -> usize {
    (REGS_SIZE + SIGNALS_SIZE + CREDS_SIZE).saturating_add(xsave_len)
}

/// The registers as a `State` message carries them.
pub fn encode_regs(regs: &[u64; NR_REGS]) -> [u8; REGS_SIZE] {
    let mut out = [0u8; REGS_SIZE];
    for (r, place) in regs.iter().zip(out.chunks_exact_mut(8)) {
        place.copy_from_slice(&r.to_le_bytes());
    }
    out
}

/// Splits a `State` body into registers, signal state (parsed into
/// `signals`), identity (into `creds`) and the XSAVE image.
pub fn parse_state<'a>(
    body: &'a [u8],
    xsave_len: usize,
    signals: &mut Signals,
    creds: &mut Creds,
) -> Result<([u64; NR_REGS], &'a [u8]), WireError> {
    if body.len() != state_size(xsave_len) {
        return Err(WireError::BadLength { len: body.len() });
    }
    let mut regs = [0u64; NR_REGS];
    for (reg, bytes) in regs.iter_mut().zip(body.chunks_exact(8)) {
        *reg = read_u64(bytes, 0).unwrap_or(0);
    }
    const CREDS_AT: usize = REGS_SIZE + SIGNALS_SIZE;
    Signals::parse_into(body.get(REGS_SIZE..CREDS_AT).unwrap_or(&[]), signals)?;
    Creds::parse_into(body.get(CREDS_AT..CREDS_AT + CREDS_SIZE).unwrap_or(&[]), creds)?;
    Ok((regs, body.get(CREDS_AT + CREDS_SIZE..).unwrap_or(&[])))
}

/// The `u32` or `i32` body of `Signal` and `Exited`.
pub fn parse_word(body: &[u8]) -> Result<u32, WireError> {
    if body.len() != 4 {
        return Err(WireError::BadLength { len: body.len() });
    }
    read_u32(body, 0).ok_or(WireError::BadLength { len: body.len() })
}

/// Parses `PID KERNEL`, what `/sys/kernel/popcorn/migration/migrate` takes,
/// in the strict syntax of [`crate::number`].
pub fn parse_request(text: &[u8]) -> Option<(u32, u32)> {
    let ([pid, kernel], _) = crate::number::parse_many::<2>(text, 2, u64::from(u32::MAX)).ok()?;
    Some((u32::try_from(pid).ok()?, u32::try_from(kernel).ok()?))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn headers_round_trip_and_check_version() {
        let h = Header {
            op: Op::Pages,
            id: 0x1_0000_0002,
        };
        let mut m = h.encode().to_vec();
        m.extend_from_slice(b"body");
        let (parsed, body) = Header::parse(&m).unwrap();
        assert_eq!(parsed, h);
        assert_eq!(body, b"body");
        m[2] = 9;
        assert_eq!(Header::parse(&m), Err(WireError::Version(9)));
        let mut m = h.encode();
        m[0] = 99;
        assert_eq!(Header::parse(&m), Err(WireError::UnknownOp(99)));
        assert!(Header::parse(&m[..10]).is_err());
    }

    #[test]
    fn begin_round_trips_and_bounds() {
        let b = Begin {
            origin_pid: 42,
            vmas: 7,
            pages: 100,
            xsave_len: 2696,
            mm: [0x40_0000; 11],
            vdso: 0x7fff_f7fc_1000,
            comm: *b"migtest\0\0\0\0\0\0\0\0\0",
            home: 1,
            stub: 0x1_0000_0003,
            ..Begin::default()
        };
        assert_eq!(Begin::parse(&b.encode(), 1000), Ok(b));
        let mut with_path = b;
        assert!(with_path.set_path(b"/usr/bin/migtest"));
        let mut body = with_path.encode().to_vec();
        body.extend_from_slice(with_path.path());
        assert_eq!(Begin::parse(&body, 1000), Ok(with_path));
        assert_eq!(Begin::parse(&body, 1000).unwrap().path(), b"/usr/bin/migtest");
        for bad_path in [&b"relative"[..], b"/nul\0inside", &[b'/'; MAX_PATH + 1]] {
            let mut body = b.encode().to_vec();
            body.extend_from_slice(bad_path);
            assert!(Begin::parse(&body, 1000).is_err(), "{bad_path:?}");
            assert!(!with_path.clone().set_path(bad_path));
        }
        assert_eq!(Begin::parse(&b.encode(), 99), Err(WireError::BadCount(100)));
        let mut bad = b;
        bad.xsave_len = 1 << 20;
        assert!(Begin::parse(&bad.encode(), 1000).is_err());
        let mut bad = b;
        bad.mm[5] = u64::MAX;
        assert!(Begin::parse(&bad.encode(), 1000).is_err());
        assert!(Begin::parse(&b.encode()[1..], 1000).is_err());
        let mut bad = b;
        bad.home = 2;
        assert_eq!(Begin::parse(&bad.encode(), 1000), Err(WireError::BadCount(0x1_0000_0003)));
    }

    #[test]
    fn vmas_and_pages_are_checked() {
        let vmas = [
            Vma { start: 0x40_0000, end: 0x40_2000, flags: Vma::READ | Vma::EXEC | Vma::FILE, offset: 0x1000 },
            Vma {
                start: 0x7fff_0000_0000,
                end: 0x7fff_0002_1000,
                flags: Vma::READ | Vma::WRITE | Vma::GROWSDOWN,
                offset: 0,
            },
        ];
        let mut body = vmas_header(2).to_vec();
        for v in &vmas {
            body.extend_from_slice(&v.encode());
        }
        let parsed: Vec<_> = parse_vmas(&body).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(parsed, vmas);
        assert!(parse_vmas(&body[..body.len() - 1]).is_err());
        let mut unaligned = body.clone();
        unaligned[8] = 1;
        assert!(parse_vmas(&unaligned).unwrap().any(|v| v.is_err()));
        let mut bad_offset = body.clone();
        bad_offset[8 + 24] = 1;
        assert!(parse_vmas(&bad_offset).unwrap().any(|v| v.is_err()));

        let mut pages = pages_header(2).to_vec();
        pages.extend_from_slice(&0x1000u64.to_le_bytes());
        pages.extend_from_slice(&USER_END.to_le_bytes());
        pages.extend(core::iter::repeat_n(7u8, 2 * PAGE_SIZE));
        let got: Vec<_> = parse_pages(&pages).unwrap().collect();
        assert_eq!(got[0], Ok((0x1000, &[7u8; PAGE_SIZE][..])));
        assert_eq!(got[1], Err(WireError::BadAddress(USER_END)));
        assert!(parse_pages(&pages[..100]).is_err());
        assert!(parse_pages(&pages_header(0)).is_err());
    }

    fn some_signals() -> Signals {
        let mut s = Signals { blocked: 1 << 11, altstack_sp: 0x7f00_0000_0000, altstack_size: 0x4000, ..Signals::default() };
        s.altstack_flags = 1 << 31;
        s.actions[14] = SigAction { handler: 0x40_1234, flags: 0x0c00_0000, restorer: 0x40_5678, mask: 1 << 9 };
        s.actions[16].handler = 1;
        s
    }

    fn encoded(s: &Signals) -> Vec<u8> {
        let mut out = std::vec![0u8; SIGNALS_SIZE];
        s.encode_into(&mut out);
        out
    }

    fn parsed(bytes: &[u8]) -> Result<Signals, WireError> {
        let mut s = Signals::default();
        Signals::parse_into(bytes, &mut s).map(|()| s)
    }

    #[test]
    fn state_and_words() {
        let regs_in: [u64; NR_REGS] = core::array::from_fn(|i| i as u64);
        let mut body = encode_regs(&regs_in).to_vec();
        body.extend_from_slice(&encoded(&some_signals()));
        body.extend_from_slice(&creds_bytes(&some_creds()));
        body.extend_from_slice(&[0xaa; 512]);
        let mut signals = Signals::default();
        let mut creds = Creds::default();
        let (regs, xsave) = parse_state(&body, 512, &mut signals, &mut creds).unwrap();
        assert_eq!(regs, regs_in);
        assert_eq!(signals, some_signals());
        assert_eq!(creds, some_creds());
        assert_eq!(xsave, &[0xaa; 512][..]);
        assert!(parse_state(&body, 511, &mut signals, &mut creds).is_err());
        // Bad credentials spoil the whole state.
        let mut bad = some_creds();
        bad.caps[cap::BOUNDING] = 1 << 41;
        let at = REGS_SIZE + SIGNALS_SIZE;
        body[at..at + CREDS_SIZE].copy_from_slice(&creds_bytes(&bad));
        assert_eq!(parse_state(&body, 512, &mut signals, &mut creds), Err(WireError::BadCount(1 << 41)));
        assert_eq!(parse_word(&15u32.to_le_bytes()), Ok(15));
        assert!(parse_word(&[1, 2]).is_err());
    }

    #[test]
    fn signals_are_checked() {
        assert_eq!(parsed(&encoded(&Signals::default())), Ok(Signals::default()));
        let mut bad = some_signals();
        bad.actions[3].handler = USER_END;
        assert_eq!(parsed(&encoded(&bad)), Err(WireError::BadAddress(USER_END)));
        let mut bad = some_signals();
        bad.actions[63].restorer = u64::MAX;
        assert!(parsed(&encoded(&bad)).is_err());
        let mut bad = some_signals();
        bad.altstack_sp = USER_END - 0x1000;
        assert!(parsed(&encoded(&bad)).is_err());
        let mut bad = some_signals();
        bad.altstack_flags = 1;
        assert!(parsed(&encoded(&bad)).is_err());
        assert!(parsed(&encoded(&some_signals())[1..]).is_err());
    }

    /// An ordinary user with a few capabilities kept (those of migtest
    /// --identity).
    fn some_creds() -> Creds {
        let mut c = Creds {
            uid: [1000, 1000, 1001, 1000],
            gid: [1000, 1000, 1001, 1002],
            caps: [0x2400, 0x2420, 0x420, 0x2421, 0x400],
            securebits: 0x13,
            umask: 0o027,
            no_new_privs: true,
            dumpable: 1,
            ..Creds::default()
        };
        assert!(c.set_groups(&[100, 1000]));
        c
    }

    fn creds_bytes(c: &Creds) -> Vec<u8> {
        let mut out = std::vec![0u8; CREDS_SIZE];
        c.encode_into(&mut out);
        out
    }

    fn creds_parsed(bytes: &[u8]) -> Result<Creds, WireError> {
        let mut c = Creds::default();
        Creds::parse_into(bytes, &mut c).map(|()| c)
    }

    #[test]
    fn creds_round_trip() {
        assert_eq!(creds_parsed(&creds_bytes(&some_creds())), Ok(some_creds()));
        assert_eq!(some_creds().groups(), &[100, 1000]);
        let root = Creds {
            uid: [0; 4],
            gid: [0; 4],
            caps: [0, CAP_VALID, CAP_VALID, CAP_VALID, 0],
            securebits: 0,
            umask: 0o022,
            no_new_privs: false,
            dumpable: 1,
            ..Creds::default()
        };
        assert_eq!(creds_parsed(&creds_bytes(&root)), Ok(root));
        let mut full = some_creds();
        let many: Vec<u32> = (0..MAX_GROUPS as u32).collect();
        assert!(full.set_groups(&many));
        assert_eq!(creds_parsed(&creds_bytes(&full)).unwrap().groups(), &many[..]);
        // More groups than a record holds: not set at all.
        let too_many: Vec<u32> = (0..=MAX_GROUPS as u32).collect();
        assert!(!full.set_groups(&too_many));
        assert_eq!(full.groups(), &[] as &[u32]);
        // The default gives nothing away.
        let nobody = Creds::default();
        assert!(nobody.uid.iter().chain(nobody.gid.iter()).all(|&id| id != 0));
        assert_eq!(nobody.caps, [0; 5]);
        assert!(nobody.no_new_privs);
    }

    #[test]
    fn creds_are_checked() {
        let good = some_creds();
        let bytes = creds_bytes(&good);
        assert!(creds_parsed(&bytes[1..]).is_err());
        assert!(creds_parsed(&[bytes.clone(), std::vec![0]].concat()).is_err());
        let bad_ones: [fn(&mut Creds); 12] = [
            |c| c.uid[2] = u32::MAX,
            |c| c.gid[3] = u32::MAX,
            // Capability 41 does not exist.
            |c| c.caps[cap::PERMITTED] |= 1 << (CAP_LAST_CAP + 1),
            |c| c.caps[cap::BOUNDING] = u64::MAX,
            // Ambient outside permitted, or outside inheritable.
            |c| c.caps[cap::AMBIENT] |= 1 << 5,
            |c| c.caps[cap::AMBIENT] |= 1 << 12,
            // Effective outside permitted.
            |c| c.caps[cap::EFFECTIVE] |= 1,
            |c| c.securebits = 0x100,
            |c| c.umask = 0o1000,
            |c| c.dumpable = 3,
            |c| c.ngroups = MAX_GROUPS as u32 + 1,
            // A group id that is none.
            |c| c.groups[1] = u32::MAX,
        ];
        for (i, spoil) in bad_ones.iter().enumerate() {
            let mut bad = good;
            spoil(&mut bad);
            assert!(creds_parsed(&creds_bytes(&bad)).is_err(), "case {i}: {bad:?}");
        }
        // A group past the count, a reserved byte, a flag that is not 0/1.
        for (at, value) in [(88 + 4 * 5, 7u8), (84, 1), (78, 2)] {
            let mut spoiled = bytes.clone();
            spoiled[at] = value;
            assert!(creds_parsed(&spoiled).is_err(), "byte {at} = {value}");
        }
    }

    #[test]
    fn confinement_reasons() {
        assert_eq!(confinement_refusal(0), None);
        assert_eq!(confinement_refusal(1 << 5), Some("it is in a UTS namespace of its own"));
        // The first reason of several; unknown bits are still a refusal.
        assert_eq!(confinement_refusal(1 << 2 | 1 << 8), Some("it is in a mount namespace of its own"));
        assert_eq!(confinement_refusal(1 << 8), Some("it has a seccomp filter (or strict mode)"));
        assert!(confinement_refusal(1 << 31).is_some());
        assert!(confinement_refusal(u32::MAX).is_some());
    }

    #[test]
    fn requests() {
        assert_eq!(parse_request(b"123 1\n"), Some((123, 1)));
        assert_eq!(parse_request(b"123"), None);
        assert_eq!(parse_request(b"123 1 2"), None);
        assert_eq!(parse_request(b"-1 1"), None);
        assert_eq!(parse_request(b"\xff 1"), None);
        for bad in [&b"+123 1"[..], b"0123 1", b"123  1", b"123 1 ", b" 123 1", b"123\t1", b"123 1\n\n", b"4294967296 1"] {
            assert_eq!(parse_request(bad), None, "{:?}", bad.escape_ascii());
        }
        assert_eq!(parse_request(b"4294967295 0"), Some((u32::MAX, 0)));
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x9e37_79b9u32;
        for len in 0..300 {
            let m = crate::testing::garbage(&mut state, len);
            let _ = Header::parse(&m);
            let _ = Begin::parse(&m, 10);
            if let Ok(it) = parse_vmas(&m) {
                it.for_each(drop);
            }
            if let Ok(it) = parse_pages(&m) {
                it.for_each(drop);
            }
            let _ = parse_state(&m, 10, &mut Signals::default(), &mut Creds::default());
            let _ = parsed(&m);
            let _ = creds_parsed(&m);
            let _ = confinement_refusal(read_u32(&m, 0).unwrap_or(0));
            let _ = parse_request(&m);
        }
        // Identity records of the right size: random ones, and a good one
        // with one byte changed. Whatever is accepted encodes back to the
        // same bytes (nothing is read loosely).
        let good = creds_bytes(&some_creds());
        for i in 0..4 * CREDS_SIZE {
            let random = crate::testing::garbage(&mut state, CREDS_SIZE);
            let mut m = good.clone();
            m[i % CREDS_SIZE] ^= random[0] | 1;
            for record in [random, m] {
                if let Ok(c) = creds_parsed(&record) {
                    assert_eq!(creds_bytes(&c), record);
                }
            }
        }
    }
}
