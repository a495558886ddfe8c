//! The boot request: the line a user writes to `/sys/kernel/popcorn/boot`.
//!
//! ```text
//! cpus=LIST [mem=SIZE] [kernel=PATH] [initrd=PATH] [cmdline=VALUE]
//! ```
//!
//! - Tokens are `key=value`, separated by one or more spaces or tabs, in any
//!   order, each key at most once. Leading separators are allowed; trailing
//!   ASCII whitespace (the newline of `echo`) is ignored. Keys are lower
//!   case and exact.
//! - `cpus` is a CPU list ([`crate::cpulist`]) and is required.
//! - `mem` is a size ([`crate::size`]), `512M` or `1G`, and must not be zero.
//! - `kernel` and `initrd` are absolute paths of at most [`MAX_PATH_LEN`]
//!   bytes.
//! - `cmdline` is the secondary's own kernel command line, at most
//!   [`MAX_CMDLINE_LEN`] bytes.
//!
//! `kernel`, `initrd` and `cmdline` may be written bare (`kernel=/boot/bz`)
//! or double-quoted (`cmdline="console=ttyS0 quiet"`). Inside quotes, `\"`
//! stands for `"` and `\\` for `\`; any other backslash is an error, so
//! every string has exactly one spelling and a future escape can be added
//! without changing the meaning of an old request. A bare value must not
//! contain `"` or `\` (quote it instead), so neither is ever silently taken
//! literally. Quoting is the only way to put a space into a value. Control
//! characters (bytes below 0x20, and 0x7f) are refused everywhere, quoted or
//! not, because a NUL would cut a path or command line short and a newline
//! would forge a line in the kernel log. Bytes from 0x80 up (UTF-8) are
//! allowed in paths and the command line.
//!
//! `cpus` and `mem` are never quoted; a quote there is reported by their
//! parsers as an unexpected character.
//!
//! There is no allocator, so a parsed [`BootRequest`] borrows from the line:
//! a quoted value is kept as written ([`Quoted`]) and unescaped on the way
//! out, into the buffer that needs it.
//!
//! All offsets in errors, including those inside [`BootReqError::BadCpus`]
//! and [`BootReqError::BadSize`], are byte offsets into the whole line.
//!
//! Requires: `crate::cpulist`, `crate::size`, `crate::text`.

use core::fmt;

use crate::cpulist::{self, CpuSet};
use crate::size::{self, SizeError};
use crate::text::trim_end;

/// Longest `kernel=` or `initrd=` path, in bytes after unescaping. Linux
/// allows longer paths (`PATH_MAX` is 4096), but the request is one sysfs
/// write of at most a page and a boot image lives somewhere short.
pub const MAX_PATH_LEN: usize = 255;

/// Longest user `cmdline=`, in bytes after unescaping. The secondary's whole
/// command line (Popcorn's own arguments plus this) must also fit the image's
/// `cmdline_size`, which `bzimage.rs` reads; this limit leaves room for
/// Popcorn's arguments within the usual 2048.
pub const MAX_CMDLINE_LEN: usize = 1024;

/// The keys of a boot request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `cpus=`: the CPUs the secondary gets.
    Cpus,
    /// `mem=`: how much RAM it gets.
    Mem,
    /// `kernel=`: the bzImage it boots.
    Kernel,
    /// `initrd=`: its initial RAM disk.
    Initrd,
    /// `cmdline=`: its kernel command line.
    Cmdline,
}

impl Key {
    /// Every key, in the order the syntax lists them.
    pub const ALL: [Key; 5] = [Key::Cpus, Key::Mem, Key::Kernel, Key::Initrd, Key::Cmdline];

    /// The key as written in a request.
    pub const fn name(self) -> &'static str {
        match self {
            Key::Cpus => "cpus",
            Key::Mem => "mem",
            Key::Kernel => "kernel",
            Key::Initrd => "initrd",
            Key::Cmdline => "cmdline",
        }
    }

    fn from_name(name: &[u8]) -> Option<Key> {
        Key::ALL
            .into_iter()
            .find(|key| key.name().as_bytes() == name)
    }

    /// Whether the value is a string that may be quoted.
    const fn is_string(self) -> bool {
        matches!(self, Key::Kernel | Key::Initrd | Key::Cmdline)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many bytes of an unknown key [`KeyName`] keeps.
const KEY_NAME_MAX: usize = 32;

/// The start of an unknown key, copied so that [`BootReqError`] does not
/// borrow the request and can outlive it (in a log line or a status file).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyName {
    bytes: [u8; KEY_NAME_MAX],
    len: u8,
    truncated: bool,
}

impl KeyName {
    /// Keeps the first 32 bytes of `name` (also used by `crate::cmdline`
    /// for a refused word of the user's command line).
    pub fn new(name: &[u8]) -> Self {
        let mut bytes = [0; KEY_NAME_MAX];
        let mut len = 0u8;
        for (slot, &byte) in bytes.iter_mut().zip(name) {
            *slot = byte;
            len = len.saturating_add(1);
        }
        KeyName {
            bytes,
            len,
            truncated: name.len() > KEY_NAME_MAX,
        }
    }

    /// The kept bytes: the whole key, or its first 32 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Whether the key was longer than what is kept.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

/// Prints the key with non-printable bytes escaped (`\n`, `\xff`) and `...`
/// when it was cut short, so a hostile key cannot forge log output.
impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().escape_ascii())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyName(\"{self}\")")
    }
}

/// Why a boot request was refused. Offsets are byte offsets into the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootReqError {
    /// The line is blank.
    Empty,
    /// No `cpus=`.
    MissingCpus,
    /// A key that is not one of [`Key::ALL`], starting at `at`.
    UnknownKey { at: usize, name: KeyName },
    /// A key given a second time, at `at`.
    DuplicateKey { key: Key, at: usize },
    /// A key without `=`, or with nothing after it.
    MissingValue { key: Key },
    /// The `cpus=` value is not a valid CPU list.
    BadCpus(cpulist::ParseError),
    /// The `mem=` value is not a valid size.
    BadSize(SizeError),
    /// `mem=0`.
    ZeroMem,
    /// A path that does not start with `/`.
    PathNotAbsolute { key: Key },
    /// A path longer than [`MAX_PATH_LEN`] after unescaping; `len` is its
    /// length.
    PathTooLong { key: Key, len: usize },
    /// A quoted value without its closing quote.
    UnterminatedQuote { key: Key },
    /// A backslash, at `at`, not followed by `"` or `\`.
    BadEscape { key: Key, at: usize },
    /// A control character, at `at`, in a value.
    ControlCharacter { key: Key, at: usize },
    /// A `cmdline=` longer than [`MAX_CMDLINE_LEN`] after unescaping; `len`
    /// is its length.
    CmdlineTooLong { len: usize },
    /// A byte that cannot appear where it is: `"` or `\` in a bare value, or
    /// anything but a separator right after a closing quote.
    Junk { key: Key, at: usize },
}

impl fmt::Display for BootReqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BootReqError::Empty => write!(f, "empty boot request"),
            BootReqError::MissingCpus => write!(f, "cpus= is required"),
            BootReqError::UnknownKey { at, name } => {
                write!(f, "unknown key '{name}' at offset {at}")
            }
            BootReqError::DuplicateKey { key, at } => {
                write!(f, "{key}= given twice (again at offset {at})")
            }
            BootReqError::MissingValue { key } => write!(f, "{key}= needs a value"),
            BootReqError::BadCpus(error) => write!(f, "cpus: {error}"),
            BootReqError::BadSize(error) => write!(f, "mem: {error}"),
            BootReqError::ZeroMem => write!(f, "mem: size must not be zero"),
            BootReqError::PathNotAbsolute { key } => {
                write!(f, "{key}: path must start with '/'")
            }
            BootReqError::PathTooLong { key, len } => {
                write!(f, "{key}: path is {len} bytes, at most {MAX_PATH_LEN}")
            }
            BootReqError::UnterminatedQuote { key } => write!(f, "{key}: missing closing quote"),
            BootReqError::BadEscape { key, at } => write!(
                f,
                "{key}: backslash at offset {at} escapes neither '\"' nor '\\'"
            ),
            BootReqError::ControlCharacter { key, at } => {
                write!(f, "{key}: control character at offset {at}")
            }
            BootReqError::CmdlineTooLong { len } => write!(
                f,
                "cmdline: {len} bytes after unescaping, at most {MAX_CMDLINE_LEN}"
            ),
            BootReqError::Junk { key, at } => {
                write!(f, "{key}: unexpected character at offset {at}")
            }
        }
    }
}

/// A string value as written in the request, between its quotes if it had
/// any, with its escapes (`\"`, `\\`) still in place.
///
/// A `Quoted` is only made from text whose every backslash starts a valid
/// escape and whose every `"` is escaped, so unescaping cannot fail. Each
/// string has exactly one escaped form, so two values are equal exactly when
/// their unescaped bytes are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Quoted<'a> {
    raw: &'a [u8],
}

/// Why [`Quoted::from_escaped`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapeError {
    /// A backslash, at `at`, not followed by `"` or `\`.
    BadEscape { at: usize },
    /// A `"` without a backslash before it, at `at`.
    BareQuote { at: usize },
}

impl fmt::Display for EscapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EscapeError::BadEscape { at } => {
                write!(f, "backslash at offset {at} escapes neither '\"' nor '\\'")
            }
            EscapeError::BareQuote { at } => write!(f, "unescaped quote at offset {at}"),
        }
    }
}

/// [`Quoted::write_unescaped`] was given a buffer of fewer than `needed`
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall {
    /// The unescaped length.
    pub needed: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "buffer too small: {} bytes needed", self.needed)
    }
}

impl<'a> Quoted<'a> {
    /// Checks escaped text (what stands between the quotes) and wraps it.
    /// Text without `"` and `\` is its own escaped form.
    pub fn from_escaped(raw: &'a [u8]) -> Result<Self, EscapeError> {
        let mut bytes = raw.iter().enumerate();
        while let Some((at, &byte)) = bytes.next() {
            match byte {
                b'\\' => match bytes.next() {
                    Some((_, b'"' | b'\\')) => {}
                    _ => return Err(EscapeError::BadEscape { at }),
                },
                b'"' => return Err(EscapeError::BareQuote { at }),
                _ => {}
            }
        }
        Ok(Quoted { raw })
    }

    /// The escaped text.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The unescaped bytes.
    pub fn bytes(&self) -> Unescaped<'a> {
        Unescaped {
            rest: self.raw.iter(),
        }
    }

    /// Length after unescaping.
    pub fn unescaped_len(&self) -> usize {
        self.bytes().count()
    }

    /// Whether the value is the empty string (`cmdline=""`).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Whether the unescaped value is `other`.
    pub fn eq_unescaped(&self, other: &[u8]) -> bool {
        self.bytes().eq(other.iter().copied())
    }

    /// Writes the unescaped bytes to the start of `out` and returns how many
    /// there are. Writes nothing if they do not fit.
    pub fn write_unescaped(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let needed = self.unescaped_len();
        let dest = out.get_mut(..needed).ok_or(BufferTooSmall { needed })?;
        for (slot, byte) in dest.iter_mut().zip(self.bytes()) {
            *slot = byte;
        }
        Ok(needed)
    }
}

/// Shows the value in request syntax with non-ASCII and control bytes
/// escaped as `\xNN`: `"console=ttyS0 foo=\"a b\""`.
impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &byte in self.raw {
            match byte {
                // Already escaped, or the start of an escape.
                b'"' | b'\\' => write!(f, "{}", char::from(byte))?,
                _ => write!(f, "{}", core::ascii::escape_default(byte))?,
            }
        }
        f.write_str("\"")
    }
}

/// Iterator over the unescaped bytes of a [`Quoted`].
#[derive(Clone)]
pub struct Unescaped<'a> {
    rest: core::slice::Iter<'a, u8>,
}

impl Iterator for Unescaped<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        match *self.rest.next()? {
            // `Quoted` guarantees a byte after every backslash.
            b'\\' => self.rest.next().copied(),
            byte => Some(byte),
        }
    }
}

/// A parsed boot request. String values borrow from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootRequest<'a> {
    /// The CPUs to give the secondary; never empty.
    pub cpus: CpuSet,
    /// RAM to give it in bytes, if `mem=` was given; never zero. Alignment
    /// and availability are the caller's to check.
    pub mem: Option<u64>,
    /// `kernel=`: an absolute path of at most [`MAX_PATH_LEN`] bytes.
    pub kernel: Option<Quoted<'a>>,
    /// `initrd=`: an absolute path of at most [`MAX_PATH_LEN`] bytes.
    pub initrd: Option<Quoted<'a>>,
    /// `cmdline=`: at most [`MAX_CMDLINE_LEN`] bytes; may be empty.
    pub cmdline: Option<Quoted<'a>>,
}

impl<'a> BootRequest<'a> {
    /// Parses a request line; see the module docs for the syntax.
    pub fn parse(line: &'a [u8]) -> Result<Self, BootReqError> {
        let line = trim_end(line);
        let mut cpus = None;
        let mut mem = None;
        let mut kernel = None;
        let mut initrd = None;
        let mut cmdline = None;
        let mut seen_any = false;
        let mut pos = skip_separators(line, 0);
        while pos < line.len() {
            seen_any = true;
            let token = Token::parse(line, pos)?;
            let is_new = match token.key {
                Key::Cpus => cpus.is_none(),
                Key::Mem => mem.is_none(),
                Key::Kernel => kernel.is_none(),
                Key::Initrd => initrd.is_none(),
                Key::Cmdline => cmdline.is_none(),
            };
            if !is_new {
                return Err(BootReqError::DuplicateKey {
                    key: token.key,
                    at: pos,
                });
            }
            match token.key {
                Key::Cpus => cpus = Some(parse_cpus(token.value, token.value_at)?),
                Key::Mem => mem = Some(parse_mem(token.value, token.value_at)?),
                Key::Kernel => kernel = Some(check_path(Key::Kernel, token.string()?)?),
                Key::Initrd => initrd = Some(check_path(Key::Initrd, token.string()?)?),
                Key::Cmdline => cmdline = Some(check_cmdline(token.string()?)?),
            }
            pos = skip_separators(line, token.end);
        }
        if !seen_any {
            return Err(BootReqError::Empty);
        }
        Ok(BootRequest {
            cpus: cpus.ok_or(BootReqError::MissingCpus)?,
            mem,
            kernel,
            initrd,
            cmdline,
        })
    }
}

/// One `key=value` token. For a quoted value, `value` is what stands between
/// the quotes.
struct Token<'a> {
    key: Key,
    value: &'a [u8],
    /// Offset of `value` in the line.
    value_at: usize,
    quoted: bool,
    /// Offset of the first byte after the token.
    end: usize,
}

impl<'a> Token<'a> {
    /// Reads the token starting at `start`, which is not a separator.
    fn parse(line: &'a [u8], start: usize) -> Result<Self, BootReqError> {
        let rest = line.get(start..).unwrap_or(&[]);
        let key_len = rest
            .iter()
            .position(|&b| b == b'=' || is_separator(b))
            .unwrap_or(rest.len());
        let (name, after_name) = rest.split_at_checked(key_len).unwrap_or((rest, &[]));
        let Some(key) = Key::from_name(name) else {
            return Err(BootReqError::UnknownKey {
                at: start,
                name: KeyName::new(name),
            });
        };
        let Some((b'=', value)) = after_name.split_first() else {
            return Err(BootReqError::MissingValue { key });
        };
        let value_at = start.saturating_add(key_len).saturating_add(1);
        match value.split_first() {
            Some((b'"', quoted)) if key.is_string() => {
                Token::parse_quoted(key, quoted, value_at.saturating_add(1))
            }
            _ => {
                let len = value
                    .iter()
                    .position(|&b| is_separator(b))
                    .unwrap_or(value.len());
                let value = value.get(..len).unwrap_or(value);
                if value.is_empty() {
                    return Err(BootReqError::MissingValue { key });
                }
                if let Some(at) = value.iter().position(|&b| is_control(b)) {
                    return Err(BootReqError::ControlCharacter {
                        key,
                        at: value_at.saturating_add(at),
                    });
                }
                if key.is_string() {
                    if let Some(at) = value.iter().position(|&b| b == b'"' || b == b'\\') {
                        return Err(BootReqError::Junk {
                            key,
                            at: value_at.saturating_add(at),
                        });
                    }
                }
                Ok(Token {
                    key,
                    value,
                    value_at,
                    quoted: false,
                    end: value_at.saturating_add(len),
                })
            }
        }
    }

    /// Reads a quoted value; `text` follows the opening quote, at `text_at`.
    fn parse_quoted(key: Key, text: &'a [u8], text_at: usize) -> Result<Self, BootReqError> {
        let mut bytes = text.iter().enumerate();
        let close = loop {
            let Some((i, &byte)) = bytes.next() else {
                return Err(BootReqError::UnterminatedQuote { key });
            };
            let at = text_at.saturating_add(i);
            match byte {
                b'"' => break i,
                b'\\' => match bytes.next() {
                    Some((_, b'"' | b'\\')) => {}
                    Some((_, _)) => return Err(BootReqError::BadEscape { key, at }),
                    None => return Err(BootReqError::UnterminatedQuote { key }),
                },
                byte if is_control(byte) => {
                    return Err(BootReqError::ControlCharacter { key, at });
                }
                _ => {}
            }
        };
        let value = text.get(..close).unwrap_or(text);
        // The first byte after the closing quote.
        let end = text_at.saturating_add(close).saturating_add(1);
        match text.get(close.saturating_add(1)) {
            None => {}
            Some(&b) if is_separator(b) => {}
            Some(_) => return Err(BootReqError::Junk { key, at: end }),
        }
        Ok(Token {
            key,
            value,
            value_at: text_at,
            quoted: true,
            end,
        })
    }

    /// The value of a string key.
    fn string(&self) -> Result<Quoted<'a>, BootReqError> {
        // `parse` has checked the escapes (quoted) or that there are no `"`
        // and `\` (bare); this cannot fail, but an error is better than a
        // panic should the two ever disagree.
        Quoted::from_escaped(self.value).map_err(|error| {
            let at = match error {
                EscapeError::BadEscape { at } | EscapeError::BareQuote { at } => at,
            };
            let at = self.value_at.saturating_add(at);
            if self.quoted {
                BootReqError::BadEscape { key: self.key, at }
            } else {
                BootReqError::Junk { key: self.key, at }
            }
        })
    }
}

fn parse_cpus(value: &[u8], value_at: usize) -> Result<CpuSet, BootReqError> {
    use cpulist::ParseError;
    CpuSet::parse(value).map_err(|error| {
        let shift = |at: usize| value_at.saturating_add(at);
        BootReqError::BadCpus(match error {
            ParseError::Junk { at } => ParseError::Junk { at: shift(at) },
            ParseError::MissingNumber { at } => ParseError::MissingNumber { at: shift(at) },
            ParseError::TooLarge { at } => ParseError::TooLarge { at: shift(at) },
            other => other,
        })
    })
}

fn parse_mem(value: &[u8], value_at: usize) -> Result<u64, BootReqError> {
    match size::parse_size(value) {
        Ok(0) => Err(BootReqError::ZeroMem),
        Ok(bytes) => Ok(bytes),
        Err(SizeError::Junk { at }) => Err(BootReqError::BadSize(SizeError::Junk {
            at: value_at.saturating_add(at),
        })),
        Err(error) => Err(BootReqError::BadSize(error)),
    }
}

fn check_path(key: Key, path: Quoted<'_>) -> Result<Quoted<'_>, BootReqError> {
    // `/` is never escaped, so the raw and unescaped first bytes agree.
    if path.raw().first() != Some(&b'/') {
        return Err(BootReqError::PathNotAbsolute { key });
    }
    let len = path.unescaped_len();
    if len > MAX_PATH_LEN {
        return Err(BootReqError::PathTooLong { key, len });
    }
    Ok(path)
}

fn check_cmdline(cmdline: Quoted<'_>) -> Result<Quoted<'_>, BootReqError> {
    let len = cmdline.unescaped_len();
    if len > MAX_CMDLINE_LEN {
        return Err(BootReqError::CmdlineTooLong { len });
    }
    Ok(cmdline)
}

fn is_separator(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// The offset of the first non-separator at or after `pos`, or the line's
/// length.
fn skip_separators(line: &[u8], pos: usize) -> usize {
    let rest = line.get(pos..).unwrap_or(&[]);
    let skipped = rest
        .iter()
        .position(|&b| !is_separator(b))
        .unwrap_or(rest.len());
    pos.saturating_add(skipped)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use cpulist::ParseError;
    use proptest::prelude::*;
    use std::format;
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    fn parse(s: &str) -> Result<BootRequest<'_>, BootReqError> {
        BootRequest::parse(s.as_bytes())
    }

    fn err(s: &str) -> BootReqError {
        parse(s).expect_err("request should be refused")
    }

    fn unescape(q: &Quoted<'_>) -> Vec<u8> {
        q.bytes().collect()
    }

    fn cpus(list: &str) -> CpuSet {
        CpuSet::parse(list.as_bytes()).unwrap()
    }

    /// Quotes `value` in request syntax.
    fn quote(value: &[u8]) -> Vec<u8> {
        let mut out = vec![b'"'];
        for &b in value {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
        out
    }

    #[test]
    fn parses_a_minimal_request() {
        let req = parse("cpus=2-3").unwrap();
        assert_eq!(req.cpus, cpus("2-3"));
        assert_eq!(req.mem, None);
        assert!(req.kernel.is_none() && req.initrd.is_none() && req.cmdline.is_none());
    }

    #[test]
    fn parses_a_full_request_in_any_order() {
        let line = "cmdline=\"console=ttyS0 quiet\" initrd=/boot/initrd.gz mem=512M \
                    kernel=/boot/bzImage cpus=1,3\n";
        let req = parse(line).unwrap();
        assert_eq!(req.cpus, cpus("1,3"));
        assert_eq!(req.mem, Some(512 << 20));
        assert!(req.kernel.unwrap().eq_unescaped(b"/boot/bzImage"));
        assert!(req.initrd.unwrap().eq_unescaped(b"/boot/initrd.gz"));
        assert!(req.cmdline.unwrap().eq_unescaped(b"console=ttyS0 quiet"));
    }

    #[test]
    fn separators_are_runs_of_spaces_and_tabs() {
        let req = parse(" \t cpus=0 \t\t mem=1G  \r\n").unwrap();
        assert_eq!(req.cpus, cpus("0"));
        assert_eq!(req.mem, Some(1 << 30));
        assert_eq!(parse("cpus=0\tmem=4K").unwrap().mem, Some(4096));
    }

    #[test]
    fn refuses_blank_lines_and_missing_cpus() {
        assert_eq!(err(""), BootReqError::Empty);
        assert_eq!(err("\n"), BootReqError::Empty);
        assert_eq!(err(" \t \n"), BootReqError::Empty);
        assert_eq!(err("mem=1G"), BootReqError::MissingCpus);
        assert_eq!(err("kernel=/bz cmdline=x\n"), BootReqError::MissingCpus);
    }

    #[test]
    fn refuses_unknown_keys() {
        let e = err("cpus=1 memory=1G");
        assert_eq!(
            e,
            BootReqError::UnknownKey {
                at: 7,
                name: KeyName::new(b"memory")
            }
        );
        assert_eq!(e.to_string(), "unknown key 'memory' at offset 7");
        assert!(matches!(
            err("CPUS=1"),
            BootReqError::UnknownKey { at: 0, .. }
        ));
        assert!(matches!(
            err("cpus:1"),
            BootReqError::UnknownKey { at: 0, .. }
        ));
        assert!(matches!(err("=1"), BootReqError::UnknownKey { at: 0, .. }));
        assert!(matches!(
            err("cpus=1 x"),
            BootReqError::UnknownKey { at: 7, .. }
        ));
        // A newline in the middle is not a separator.
        assert!(matches!(
            err("mem=1G\ncpus=1"),
            BootReqError::ControlCharacter {
                key: Key::Mem,
                at: 6
            }
        ));
    }

    #[test]
    fn unknown_keys_are_shortened_and_escaped_for_the_log() {
        let e = err("cpus=1 averyveryveryveryveryverylongkeyname=1");
        let BootReqError::UnknownKey { name, .. } = e else {
            panic!("{e:?}")
        };
        assert!(name.is_truncated());
        assert_eq!(name.as_bytes(), b"averyveryveryveryveryverylongkey");
        assert_eq!(
            e.to_string(),
            "unknown key 'averyveryveryveryveryverylongkey...' at offset 7"
        );
        let e = BootRequest::parse(b"k\x1b[31m\xff=1").unwrap_err();
        assert_eq!(e.to_string(), "unknown key 'k\\x1b[31m\\xff' at offset 0");
        assert_eq!(err("=1").to_string(), "unknown key '' at offset 0");
    }

    #[test]
    fn refuses_duplicate_keys() {
        assert_eq!(
            err("cpus=1 cpus=2"),
            BootReqError::DuplicateKey {
                key: Key::Cpus,
                at: 7
            }
        );
        assert_eq!(
            err("cpus=1 mem=1G mem=1G"),
            BootReqError::DuplicateKey {
                key: Key::Mem,
                at: 14
            }
        );
        for key in ["kernel=/a", "initrd=/a", "cmdline=a"] {
            let line = format!("cpus=1 {key} {key}");
            assert!(
                matches!(err(&line), BootReqError::DuplicateKey { .. }),
                "{line}"
            );
        }
        assert_eq!(
            err("cpus=1 cpus=2").to_string(),
            "cpus= given twice (again at offset 7)"
        );
    }

    #[test]
    fn refuses_missing_values() {
        for key in Key::ALL {
            let name = key.name();
            assert_eq!(err(name), BootReqError::MissingValue { key });
            assert_eq!(err(&format!("{name}=")), BootReqError::MissingValue { key });
            assert_eq!(
                err(&format!("{name}= cpus=1")),
                BootReqError::MissingValue { key }
            );
            assert_eq!(
                err(&format!("{name} =1")),
                BootReqError::MissingValue { key }
            );
        }
        assert_eq!(err("mem=").to_string(), "mem= needs a value");
    }

    #[test]
    fn cpu_list_errors_point_into_the_line() {
        assert_eq!(
            err("mem=1G cpus=1,x"),
            BootReqError::BadCpus(ParseError::Junk { at: 14 })
        );
        assert_eq!(
            err("cpus=3-1"),
            BootReqError::BadCpus(ParseError::Reversed { start: 3, end: 1 })
        );
        assert_eq!(
            err("cpus=1,"),
            BootReqError::BadCpus(ParseError::MissingNumber { at: 7 })
        );
        assert_eq!(
            err("cpus=9999"),
            BootReqError::BadCpus(ParseError::TooLarge { at: 5 })
        );
        assert_eq!(
            err("cpus=1,1"),
            BootReqError::BadCpus(ParseError::Duplicate { cpu: 1 })
        );
        assert_eq!(
            err("cpus=\"1\""),
            BootReqError::BadCpus(ParseError::Junk { at: 5 })
        );
        assert_eq!(
            err("cpus=1,x").to_string(),
            "cpus: unexpected character at offset 7"
        );
    }

    #[test]
    fn size_errors_point_into_the_line() {
        assert_eq!(
            err("cpus=1 mem=1GB"),
            BootReqError::BadSize(SizeError::Junk { at: 13 })
        );
        assert_eq!(
            err("cpus=1 mem=99999999999T"),
            BootReqError::BadSize(SizeError::Overflow)
        );
        assert_eq!(
            err("cpus=1 mem=\"1G\""),
            BootReqError::BadSize(SizeError::Junk { at: 11 })
        );
        assert_eq!(err("cpus=1 mem=0"), BootReqError::ZeroMem);
        assert_eq!(err("cpus=1 mem=0G"), BootReqError::ZeroMem);
        assert_eq!(
            err("cpus=1 mem=0").to_string(),
            "mem: size must not be zero"
        );
        assert_eq!(
            err("mem=1x").to_string(),
            "mem: unexpected character at offset 5"
        );
    }

    #[test]
    fn paths_must_be_absolute_and_short() {
        assert_eq!(
            err("cpus=1 kernel=boot/bz"),
            BootReqError::PathNotAbsolute { key: Key::Kernel }
        );
        assert_eq!(
            err("cpus=1 initrd=\"\""),
            BootReqError::PathNotAbsolute { key: Key::Initrd }
        );
        assert_eq!(
            err("cpus=1 initrd=\" /a\""),
            BootReqError::PathNotAbsolute { key: Key::Initrd }
        );
        let longest = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
        let line = format!("cpus=1 kernel={longest}");
        let req = parse(&line).unwrap();
        assert_eq!(req.kernel.unwrap().unescaped_len(), MAX_PATH_LEN);
        assert_eq!(
            err(&format!("cpus=1 kernel={longest}a")),
            BootReqError::PathTooLong {
                key: Key::Kernel,
                len: 256
            }
        );
        // The limit applies after unescaping: 200 escaped quotes are 400
        // bytes raw but 200 unescaped.
        let escaped = format!("\"/{}\"", "\\\"".repeat(200));
        let line = format!("cpus=1 initrd={escaped}");
        let req = parse(&line).unwrap();
        assert_eq!(req.initrd.unwrap().unescaped_len(), 201);
        assert_eq!(
            err("kernel=a").to_string(),
            "kernel: path must start with '/'"
        );
        assert_eq!(
            err(&format!("kernel={longest}a")).to_string(),
            "kernel: path is 256 bytes, at most 255"
        );
    }

    #[test]
    fn quoted_paths_may_hold_spaces_and_escapes() {
        let req = parse(r#"cpus=1 kernel="/my kernels/bz \"new\"" initrd="/a\\b""#).unwrap();
        assert_eq!(unescape(&req.kernel.unwrap()), b"/my kernels/bz \"new\"");
        assert_eq!(req.kernel.unwrap().raw(), br#"/my kernels/bz \"new\""#);
        assert_eq!(unescape(&req.initrd.unwrap()), b"/a\\b");
        // UTF-8 is allowed.
        let req = parse("cpus=1 kernel=/boot/é").unwrap();
        assert!(req.kernel.unwrap().eq_unescaped("/boot/é".as_bytes()));
    }

    #[test]
    fn bare_values_refuse_quotes_and_backslashes() {
        assert_eq!(
            err(r#"cpus=1 kernel=/a"b""#),
            BootReqError::Junk {
                key: Key::Kernel,
                at: 16
            }
        );
        assert_eq!(
            err(r"cpus=1 cmdline=a\b"),
            BootReqError::Junk {
                key: Key::Cmdline,
                at: 16
            }
        );
        assert_eq!(
            err(r"cmdline=a\b").to_string(),
            "cmdline: unexpected character at offset 9"
        );
    }

    #[test]
    fn quoted_values_must_end_in_a_separator() {
        assert_eq!(
            err(r#"cpus=1 cmdline="a"b"#),
            BootReqError::Junk {
                key: Key::Cmdline,
                at: 18
            }
        );
        assert_eq!(
            err(r#"cpus=1 cmdline="a""b""#),
            BootReqError::Junk {
                key: Key::Cmdline,
                at: 18
            }
        );
        assert!(parse("cpus=1 cmdline=\"a\"\tmem=1G").is_ok());
        assert!(parse("cmdline=\"a\" cpus=1").is_ok());
    }

    #[test]
    fn refuses_unterminated_quotes() {
        for line in [
            "cpus=1 cmdline=\"",
            "cpus=1 cmdline=\"abc",
            "cpus=1 cmdline=\"abc\\\"",
            "cpus=1 cmdline=\"abc\\",
            "cpus=1 cmdline=\"abc\n",
            "cpus=1 kernel=\"/a b",
        ] {
            assert!(
                matches!(err(line), BootReqError::UnterminatedQuote { .. }),
                "{line:?}"
            );
        }
        assert_eq!(
            err("cmdline=\"x").to_string(),
            "cmdline: missing closing quote"
        );
    }

    #[test]
    fn refuses_unknown_escapes() {
        assert_eq!(
            err(r#"cpus=1 cmdline="a\nb""#),
            BootReqError::BadEscape {
                key: Key::Cmdline,
                at: 17
            }
        );
        assert_eq!(
            err(r#"cpus=1 kernel="/\x41""#),
            BootReqError::BadEscape {
                key: Key::Kernel,
                at: 16
            }
        );
        assert_eq!(
            err(r#"cmdline="\ ""#).to_string(),
            "cmdline: backslash at offset 9 escapes neither '\"' nor '\\'"
        );
    }

    #[test]
    fn refuses_control_characters_quoted_or_not() {
        let cases: [(&[u8], Key, usize); 7] = [
            (b"cpus=1 cmdline=\"a\0b\"", Key::Cmdline, 17),
            (b"cpus=1 cmdline=\"a\nb\"", Key::Cmdline, 17),
            (b"cpus=1 cmdline=\"a\tb\"", Key::Cmdline, 17),
            (b"cpus=1 cmdline=a\x7f", Key::Cmdline, 16),
            (b"cpus=1 kernel=/a\0", Key::Kernel, 16),
            (b"cpus=1 initrd=\"/\x1b\"", Key::Initrd, 16),
            (b"cpus=1\x00 mem=1G", Key::Cpus, 6),
        ];
        for (line, key, at) in cases {
            assert_eq!(
                BootRequest::parse(line),
                Err(BootReqError::ControlCharacter { key, at }),
                "{:?}",
                line.escape_ascii().to_string()
            );
        }
        assert_eq!(
            BootRequest::parse(b"cmdline=\"\0\"")
                .unwrap_err()
                .to_string(),
            "cmdline: control character at offset 9"
        );
    }

    #[test]
    fn cmdline_limit_applies_after_unescaping() {
        let longest = "x".repeat(MAX_CMDLINE_LEN);
        let line = format!("cpus=1 cmdline={longest}");
        let req = parse(&line).unwrap();
        assert_eq!(req.cmdline.unwrap().unescaped_len(), MAX_CMDLINE_LEN);
        assert_eq!(
            err(&format!("cpus=1 cmdline={longest}x")),
            BootReqError::CmdlineTooLong { len: 1025 }
        );
        let escaped = "\\\\".repeat(MAX_CMDLINE_LEN);
        let line = format!("cpus=1 cmdline=\"{escaped}\"");
        let req = parse(&line).unwrap();
        assert_eq!(req.cmdline.unwrap().unescaped_len(), MAX_CMDLINE_LEN);
        assert_eq!(
            err(&format!("cpus=1 cmdline=\"{escaped}\\\\\"")),
            BootReqError::CmdlineTooLong { len: 1025 }
        );
        assert_eq!(
            err(&format!("cmdline={longest}x")).to_string(),
            "cmdline: 1025 bytes after unescaping, at most 1024"
        );
    }

    #[test]
    fn empty_quoted_cmdline_is_allowed() {
        let req = parse("cpus=1 cmdline=\"\"").unwrap();
        let cmdline = req.cmdline.unwrap();
        assert!(cmdline.is_empty());
        assert_eq!(cmdline.unescaped_len(), 0);
    }

    #[test]
    fn errors_are_reported_left_to_right() {
        assert!(matches!(
            err("bogus=1 cpus=x"),
            BootReqError::UnknownKey { .. }
        ));
        assert!(matches!(err("cpus=x bogus=1"), BootReqError::BadCpus(_)));
        assert_eq!(err("mem=0 cpus=x"), BootReqError::ZeroMem);
    }

    #[test]
    fn remaining_error_texts() {
        assert_eq!(err("").to_string(), "empty boot request");
        assert_eq!(err("mem=1G").to_string(), "cpus= is required");
        assert_eq!(err("cpus=1-0").to_string(), "cpus: reversed range 1-0");
        assert_eq!(
            err("mem=1 mem=1").to_string(),
            "mem= given twice (again at offset 6)"
        );
    }

    #[test]
    fn quoted_from_escaped_checks_escapes() {
        assert!(Quoted::from_escaped(b"").is_ok());
        assert!(Quoted::from_escaped(br#"a \" \\ b"#).is_ok());
        assert_eq!(
            Quoted::from_escaped(br"a\"),
            Err(EscapeError::BadEscape { at: 1 })
        );
        assert_eq!(
            Quoted::from_escaped(br"\n"),
            Err(EscapeError::BadEscape { at: 0 })
        );
        assert_eq!(
            Quoted::from_escaped(br#"a"b"#),
            Err(EscapeError::BareQuote { at: 1 })
        );
        assert_eq!(
            EscapeError::BareQuote { at: 1 }.to_string(),
            "unescaped quote at offset 1"
        );
        assert_eq!(
            EscapeError::BadEscape { at: 2 }.to_string(),
            "backslash at offset 2 escapes neither '\"' nor '\\'"
        );
    }

    #[test]
    fn quoted_unescapes_into_buffers() {
        let q = Quoted::from_escaped(br#"say \"hi\" \\o/"#).unwrap();
        assert_eq!(q.unescaped_len(), 12);
        assert_eq!(unescape(&q), br#"say "hi" \o/"#);
        let mut buf = [0xaa; 16];
        assert_eq!(q.write_unescaped(&mut buf), Ok(12));
        assert_eq!(&buf[..12], br#"say "hi" \o/"#);
        assert_eq!(&buf[12..], [0xaa; 4]);
        let mut exact = [0; 12];
        assert_eq!(q.write_unescaped(&mut exact), Ok(12));
        let mut small = [0; 11];
        assert_eq!(
            q.write_unescaped(&mut small),
            Err(BufferTooSmall { needed: 12 })
        );
        assert_eq!(small, [0; 11]);
        assert_eq!(
            BufferTooSmall { needed: 12 }.to_string(),
            "buffer too small: 12 bytes needed"
        );
        assert_eq!(format!("{q:?}"), r#""say \"hi\" \\o/""#);
        let q = Quoted::from_escaped("é\t".as_bytes()).unwrap();
        assert_eq!(format!("{q:?}"), r#""\xc3\xa9\t""#);
    }

    /// Bytes a string value may hold: no control characters.
    fn value_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                0x20u8..0x7f,
                Just(b'"'),
                Just(b'\\'),
                Just(b' '),
                0x80u8..=0xff
            ],
            0..max,
        )
    }

    fn key_order() -> impl Strategy<Value = Vec<usize>> {
        Just((0..5).collect::<Vec<usize>>()).prop_shuffle()
    }

    proptest! {
        #[test]
        fn written_requests_parse_back(
            cpu_list in proptest::collection::vec(0u32..cpulist::MAX_CPUS as u32, 1..8),
            mem in proptest::option::of(1u64..(1 << 40)),
            kernel in proptest::option::of(value_bytes(60)),
            initrd in proptest::option::of(value_bytes(60)),
            cmdline in proptest::option::of(value_bytes(200)),
            order in key_order(),
            sep in "[ \t]{1,3}",
            tail in "[ \t\r\n]{0,3}",
        ) {
            let set: CpuSet = cpu_list.into_iter().collect();
            let kernel = kernel.map(|k| [b"/".as_slice(), &k].concat());
            let initrd = initrd.map(|k| [b"/".as_slice(), &k].concat());
            let mut tokens: Vec<Vec<u8>> = Vec::new();
            for i in order {
                let token = match i {
                    0 => Some(format!("cpus={set}").into_bytes()),
                    1 => mem.map(|m| format!("mem={}", crate::size::DisplaySize(m)).into_bytes()),
                    2 => kernel.as_ref().map(|k| [b"kernel=".as_slice(), &quote(k)].concat()),
                    3 => initrd.as_ref().map(|k| [b"initrd=".as_slice(), &quote(k)].concat()),
                    _ => cmdline.as_ref().map(|c| [b"cmdline=".as_slice(), &quote(c)].concat()),
                };
                tokens.extend(token);
            }
            let mut line = tokens.join(sep.as_bytes());
            line.extend_from_slice(tail.as_bytes());
            let req = BootRequest::parse(&line);
            prop_assert!(req.is_ok(), "{:?} -> {:?}", String::from_utf8_lossy(&line), req);
            let req = req.unwrap();
            prop_assert_eq!(req.cpus, set);
            prop_assert_eq!(req.mem, mem);
            prop_assert_eq!(req.kernel.map(|q| unescape(&q)), kernel);
            prop_assert_eq!(req.initrd.map(|q| unescape(&q)), initrd);
            prop_assert_eq!(req.cmdline.map(|q| unescape(&q)), cmdline);
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = BootRequest::parse(&input);
        }

        #[test]
        fn request_like_text_never_panics(
            input in r#"((cpus|mem|kernel|initrd|cmdline|x)(=)?("|\\|[ a-z0-9/,\-]|\t|\n|\x00){0,12}){0,6}"#
        ) {
            if let Ok(req) = parse(&input) {
                // Whatever is accepted obeys the documented limits.
                prop_assert!(!req.cpus.is_empty());
                prop_assert!(req.mem != Some(0));
                for path in [req.kernel, req.initrd].into_iter().flatten() {
                    prop_assert_eq!(path.bytes().next(), Some(b'/'));
                    prop_assert!(path.unescaped_len() <= MAX_PATH_LEN);
                    prop_assert!(!path.bytes().any(is_control));
                }
                if let Some(c) = req.cmdline {
                    prop_assert!(!c.bytes().any(is_control));
                }
            }
        }

        #[test]
        fn quoting_round_trips(value in proptest::collection::vec(any::<u8>(), 0..64)) {
            let quoted = quote(&value);
            let inner = &quoted[1..quoted.len() - 1];
            let q = Quoted::from_escaped(inner).unwrap();
            prop_assert_eq!(unescape(&q), value.clone());
            prop_assert_eq!(q.unescaped_len(), value.len());
            prop_assert!(q.eq_unescaped(&value));
            let mut buf = vec![0; value.len()];
            prop_assert_eq!(q.write_unescaped(&mut buf), Ok(value.len()));
            prop_assert_eq!(buf, value);
        }

        #[test]
        fn from_escaped_never_panics(raw in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), any::<u8>()], 0..32)) {
            if let Ok(q) = Quoted::from_escaped(&raw) {
                prop_assert_eq!(q.unescaped_len(), q.bytes().count());
            }
        }
    }
}
