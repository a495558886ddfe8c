//! A secondary kernel's command line, built into a caller's buffer.
//!
//! The command line is Popcorn's own arguments (`popcorn.id=2`, `console=`
//! and the like, chosen by the module) followed by the user's `cmdline=` from
//! the boot request, unescaped, all separated by single spaces and ended by a
//! NUL, as the boot protocol wants it.
//!
//! Popcorn's arguments come first because Linux hands everything after a
//! `--` to init: a user `--` then cannot push Popcorn's arguments out of the
//! kernel's reach. Each of Popcorn's arguments must be one word: no space,
//! no quote and no control character, which would split it, change how the
//! kernel groups the words that follow, or end the line early. The user's
//! part was checked by [`crate::bootreq`]; it is checked again for control
//! characters here, since a NUL in it would silently cut the line.
//!
//! The result must fit both the buffer and the kernel's `cmdline_size`
//! (from `bzimage.rs`), which by the boot protocol counts the bytes
//! before the NUL. A line that does not fit is refused whole, with how many
//! bytes too long it is, never truncated: a truncated command line boots a
//! kernel with arguments nobody asked for.
//!
//! Requires: `crate::bootreq` (for [`Quoted`]), and through it
//! `crate::cpulist` and `crate::size`.

use core::fmt;

use crate::bootreq::Quoted;

/// Why a command line could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdlineError {
    /// Popcorn's argument number `index` is empty.
    EmptyWord { index: usize },
    /// Popcorn's argument number `index` has a space, quote or control
    /// character at byte `at`.
    BadWord { index: usize, at: usize },
    /// The user's command line has a control character at byte `at` (after
    /// unescaping).
    ControlCharacter { at: usize },
    /// The line needs `needed` bytes including its NUL, but only
    /// `available` are allowed: the lesser of the buffer's length and the
    /// kernel's `cmdline_size` plus one.
    TooLong { needed: usize, available: usize },
}

impl CmdlineError {
    /// For [`CmdlineError::TooLong`], by how many bytes; zero otherwise.
    pub fn excess(&self) -> usize {
        match *self {
            CmdlineError::TooLong { needed, available } => needed.saturating_sub(available),
            _ => 0,
        }
    }
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CmdlineError::EmptyWord { index } => {
                write!(f, "built-in argument {index} is empty")
            }
            CmdlineError::BadWord { index, at } => write!(
                f,
                "built-in argument {index} has a space, quote or control character at offset {at}"
            ),
            CmdlineError::ControlCharacter { at } => {
                write!(f, "cmdline: control character at offset {at}")
            }
            CmdlineError::TooLong { needed, available } => write!(
                f,
                "command line too long by {} bytes ({needed} bytes with its NUL, {available} allowed)",
                self.excess()
            ),
        }
    }
}

/// Writes `fixed` then `user` (unescaped) into `out`, separated by single
/// spaces and followed by a NUL, and returns the length before the NUL.
/// `cmdline_size` is the kernel's limit on that length
/// (`BzImage::cmdline_size` in `bzimage.rs`). An empty or absent `user`
/// adds nothing, not even a space. On error `out` is left unchanged.
pub fn build_cmdline(
    out: &mut [u8],
    fixed: &[&str],
    user: Option<&Quoted<'_>>,
    cmdline_size: u32,
) -> Result<usize, CmdlineError> {
    for (index, word) in fixed.iter().enumerate() {
        check_word(index, word.as_bytes())?;
    }
    let user = user.filter(|user| !user.is_empty());
    if let Some(at) = user.and_then(|user| user.bytes().position(is_control)) {
        return Err(CmdlineError::ControlCharacter { at });
    }

    let parts = fixed.len().saturating_add(usize::from(user.is_some()));
    let text_len = fixed
        .iter()
        .map(|word| word.len())
        .chain(user.map(|user| user.unescaped_len()))
        .chain(parts.checked_sub(1)) // the spaces
        .try_fold(0usize, |sum, len| sum.checked_add(len));
    let needed = text_len
        .and_then(|len| len.checked_add(1))
        .unwrap_or(usize::MAX);
    // `cmdline_size` counts the bytes before the NUL.
    let kernel_limit = usize::try_from(cmdline_size)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let available = out.len().min(kernel_limit);
    if needed > available {
        return Err(CmdlineError::TooLong { needed, available });
    }

    let mut writer = Writer { out, len: 0 };
    for (index, word) in fixed.iter().enumerate() {
        if index > 0 {
            writer.push(b' ');
        }
        word.bytes().for_each(|byte| writer.push(byte));
    }
    if let Some(user) = user {
        if !fixed.is_empty() {
            writer.push(b' ');
        }
        user.bytes().for_each(|byte| writer.push(byte));
    }
    let len = writer.len;
    writer.push(0);
    Ok(len)
}

/// Appends to a buffer already known to be large enough; a byte that does
/// not fit is dropped (which the length check above rules out).
struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.out.get_mut(self.len) {
            *slot = byte;
            self.len = self.len.saturating_add(1);
        }
    }
}

fn check_word(index: usize, word: &[u8]) -> Result<(), CmdlineError> {
    if word.is_empty() {
        return Err(CmdlineError::EmptyWord { index });
    }
    match word
        .iter()
        .position(|&b| b == b' ' || b == b'"' || b == b'\'' || is_control(b))
    {
        Some(at) => Err(CmdlineError::BadWord { index, at }),
        None => Ok(()),
    }
}

fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::bootreq::BootRequest;
    use proptest::prelude::*;
    use std::format;
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    const LIMIT: u32 = 2047;

    /// Builds with a page-sized buffer; returns the line without its NUL.
    fn build(
        fixed: &[&str],
        user: Option<&Quoted<'_>>,
        limit: u32,
    ) -> Result<Vec<u8>, CmdlineError> {
        let mut buf = vec![0xffu8; 4096];
        let len = build_cmdline(&mut buf, fixed, user, limit)?;
        assert_eq!(buf[len], 0, "NUL-terminated");
        assert!(!buf[..len].contains(&0));
        Ok(buf[..len].to_vec())
    }

    fn user_cmdline(request: &str) -> Quoted<'_> {
        BootRequest::parse(request.as_bytes())
            .unwrap()
            .cmdline
            .unwrap()
    }

    #[test]
    fn joins_fixed_words_and_the_user_part() {
        let user = user_cmdline("cpus=1 cmdline=\"quiet loglevel=3\"");
        assert_eq!(
            build(&["popcorn.id=1", "console=ttyS0"], Some(&user), LIMIT).unwrap(),
            b"popcorn.id=1 console=ttyS0 quiet loglevel=3"
        );
    }

    #[test]
    fn empty_parts_add_no_spaces() {
        let empty = user_cmdline("cpus=1 cmdline=\"\"");
        let user = user_cmdline("cpus=1 cmdline=init=/bin/sh");
        assert_eq!(build(&["a=1"], None, LIMIT).unwrap(), b"a=1");
        assert_eq!(build(&["a=1"], Some(&empty), LIMIT).unwrap(), b"a=1");
        assert_eq!(build(&[], Some(&user), LIMIT).unwrap(), b"init=/bin/sh");
        assert_eq!(build(&[], None, LIMIT).unwrap(), b"");
        assert_eq!(build(&[], Some(&empty), LIMIT).unwrap(), b"");
        // The empty line still gets its NUL.
        let mut one = [0xffu8; 1];
        assert_eq!(build_cmdline(&mut one, &[], None, 0), Ok(0));
        assert_eq!(one, [0]);
    }

    #[test]
    fn user_escapes_come_out_unescaped() {
        let user = user_cmdline(r#"cpus=1 cmdline="foo=\"a b\" path=C:\\x --""#);
        assert_eq!(
            build(&["popcorn.id=3"], Some(&user), LIMIT).unwrap(),
            br#"popcorn.id=3 foo="a b" path=C:\x --"#
        );
    }

    #[test]
    fn exact_limit_fits_and_one_more_byte_does_not() {
        // "ab cd" is 5 bytes: fits cmdline_size 5 (plus NUL) ...
        let user = user_cmdline("cpus=1 cmdline=cd");
        assert_eq!(build(&["ab"], Some(&user), 5).unwrap(), b"ab cd");
        // ... but not 4.
        assert_eq!(
            build(&["ab"], Some(&user), 4),
            Err(CmdlineError::TooLong {
                needed: 6,
                available: 5
            })
        );
        // The buffer limits too: 6 bytes hold "ab cd" and its NUL, 5 do not.
        let mut buf = [0u8; 6];
        assert_eq!(build_cmdline(&mut buf, &["ab"], Some(&user), LIMIT), Ok(5));
        assert_eq!(&buf, b"ab cd\0");
        let mut buf = [0u8; 5];
        let error = build_cmdline(&mut buf, &["ab"], Some(&user), LIMIT).unwrap_err();
        assert_eq!(
            error,
            CmdlineError::TooLong {
                needed: 6,
                available: 5
            }
        );
        assert_eq!(error.excess(), 1);
        assert_eq!(buf, [0; 5], "untouched on error");
        let mut empty: [u8; 0] = [];
        assert_eq!(
            build_cmdline(&mut empty, &[], None, LIMIT),
            Err(CmdlineError::TooLong {
                needed: 1,
                available: 0
            })
        );
    }

    #[test]
    fn limits_count_unescaped_bytes() {
        // 1024 escaped backslashes are 2048 raw bytes but 1024 unescaped.
        let request = format!("cpus=1 cmdline=\"{}\"", "\\\\".repeat(1024));
        let user = user_cmdline(&request);
        let fixed = "p".repeat(1022);
        let line = build(&[&fixed], Some(&user), LIMIT).unwrap();
        assert_eq!(line.len(), 2047);
        assert_eq!(
            build(&[&fixed, "x"], Some(&user), LIMIT),
            Err(CmdlineError::TooLong {
                needed: 2050,
                available: 2048
            })
        );
    }

    #[test]
    fn refuses_bad_fixed_words() {
        let cases: [(&[&str], CmdlineError); 6] = [
            (&["a", ""], CmdlineError::EmptyWord { index: 1 }),
            (&["a b"], CmdlineError::BadWord { index: 0, at: 1 }),
            (
                &["ok", "x=\"y\""],
                CmdlineError::BadWord { index: 1, at: 2 },
            ),
            (&["x='y'"], CmdlineError::BadWord { index: 0, at: 2 }),
            (&["a\tb"], CmdlineError::BadWord { index: 0, at: 1 }),
            (&["a\0"], CmdlineError::BadWord { index: 0, at: 1 }),
        ];
        for (fixed, error) in cases {
            assert_eq!(build(fixed, None, LIMIT), Err(error), "{fixed:?}");
        }
        // Word errors come before the length check.
        assert_eq!(
            build(&["a b"], None, 0),
            Err(CmdlineError::BadWord { index: 0, at: 1 })
        );
    }

    #[test]
    fn refuses_control_characters_from_the_user() {
        // Only reachable with a `Quoted` that did not come through bootreq.
        let user = Quoted::from_escaped(b"ok\0no").unwrap();
        assert_eq!(
            build(&["a"], Some(&user), LIMIT),
            Err(CmdlineError::ControlCharacter { at: 2 })
        );
        let user = Quoted::from_escaped(b"\\\\\n").unwrap();
        assert_eq!(
            build(&[], Some(&user), LIMIT),
            Err(CmdlineError::ControlCharacter { at: 1 })
        );
    }

    #[test]
    fn errors_have_log_texts() {
        assert_eq!(
            CmdlineError::EmptyWord { index: 2 }.to_string(),
            "built-in argument 2 is empty"
        );
        assert_eq!(
            CmdlineError::BadWord { index: 0, at: 3 }.to_string(),
            "built-in argument 0 has a space, quote or control character at offset 3"
        );
        assert_eq!(
            CmdlineError::ControlCharacter { at: 4 }.to_string(),
            "cmdline: control character at offset 4"
        );
        assert_eq!(
            CmdlineError::TooLong {
                needed: 2100,
                available: 2048
            }
            .to_string(),
            "command line too long by 52 bytes (2100 bytes with its NUL, 2048 allowed)"
        );
        assert_eq!(CmdlineError::EmptyWord { index: 0 }.excess(), 0);
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-z0-9._=,/:-]{1,12}"
    }

    proptest! {
        #[test]
        fn user_text_round_trips_through_request_and_cmdline(
            fixed in proptest::collection::vec(word(), 0..4),
            text in "[ -~]{0,80}",
        ) {
            // Quote `text` as a user would, parse it as bootreq does, build.
            let escaped: String = text
                .chars()
                .flat_map(|c| match c {
                    '"' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            let request = format!("cpus=0 cmdline=\"{escaped}\"");
            let user = user_cmdline(&request);
            let fixed: Vec<&str> = fixed.iter().map(String::as_str).collect();
            let line = build(&fixed, Some(&user), LIMIT).unwrap();
            let mut expected = fixed.join(" ");
            if !fixed.is_empty() && !text.is_empty() {
                expected.push(' ');
            }
            expected.push_str(&text);
            prop_assert_eq!(String::from_utf8(line).unwrap(), expected);
        }

        #[test]
        fn fits_exactly_when_the_length_allows(
            fixed in proptest::collection::vec(word(), 0..4),
            user in "[a-z ]{0,40}",
            limit in 0u32..120,
            buf_len in 0usize..120,
        ) {
            let escaped = format!("cpus=0 cmdline=\"{user}\"");
            let user = user_cmdline(&escaped);
            let fixed: Vec<&str> = fixed.iter().map(String::as_str).collect();
            let mut unlimited = vec![0u8; 4096];
            let len = build_cmdline(&mut unlimited, &fixed, Some(&user), u32::MAX).unwrap();
            let mut buf = vec![0xaau8; buf_len];
            let result = build_cmdline(&mut buf, &fixed, Some(&user), limit);
            if len <= limit as usize && len < buf_len {
                prop_assert_eq!(result, Ok(len));
                prop_assert_eq!(&buf[..=len], &unlimited[..=len]);
            } else {
                let available = buf_len.min(limit as usize + 1);
                prop_assert_eq!(result, Err(CmdlineError::TooLong { needed: len + 1, available }));
                prop_assert_eq!(result.unwrap_err().excess(), len + 1 - available);
                prop_assert!(buf.iter().all(|&b| b == 0xaa));
            }
        }

        #[test]
        fn arbitrary_words_never_panic(
            fixed in proptest::collection::vec(".{0,6}", 0..4),
            raw in proptest::collection::vec(any::<u8>(), 0..30),
            limit in any::<u32>(),
            buf_len in 0usize..64,
        ) {
            let fixed: Vec<&str> = fixed.iter().map(String::as_str).collect();
            let user = Quoted::from_escaped(&raw).ok();
            let mut buf = vec![0u8; buf_len];
            if let Ok(len) = build_cmdline(&mut buf, &fixed, user.as_ref(), limit) {
                prop_assert!(len < buf_len);
                prop_assert_eq!(buf[len], 0);
            }
        }
    }
}
