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
//! What the user may put there is an allow-list ([`check_user`]), because
//! the secondary would otherwise take words from it that decide which
//! memory and hardware it uses: `memmap=512M@0x1000000` adds the primary's
//! RAM to its memory map, `console=ttyS0` or `earlyprintk=` drive another
//! kernel's UART, `acpi=force` and `pci=` probe the machine's devices,
//! `no_ipi_broadcast=0` interrupts every CPU, `reboot=` resets the
//! machine, `popcorn.kernel_id=` forges its identity, and a later word
//! overrides Popcorn's own. A deny-list cannot be complete: Linux has
//! hundreds of parameters, matches some by prefix (`__setup`), sets the
//! parameters of built-in drivers through `driver.name=`, and its x86 code
//! scans the whole line for some words, even after `--` and inside quotes.
//! So every space-separated word of the user's part must be one of:
//!
//! - `quiet`, `debug`, `ignore_loglevel`, `initcall_debug`, `loglevel=`,
//!   `init=`, `rdinit=` ([`ALLOWED_NAMES`]): what the secondary prints and
//!   which program it starts;
//! - `popnet.addr=`, read by Popcorn's initramfs (`docs/popnet.md`);
//! - an upper-case name for the secondary's init, `NAME=VALUE` or `NAME`
//!   (first byte `A`-`Z`, then `A`-`Z`, `0`-`9`, `_`): no Linux 6.12
//!   parameter starts with an upper-case letter and is all upper case, so
//!   the kernel hands these to init as environment variables or arguments;
//! - `--` (what follows goes to init; it is checked all the same).
//!
//! Only the name, the bytes before the first `=`, is checked; the value is
//! free (the kernel does not look inside it, and a word hidden in a value
//! by quotes is still checked as a word of its own here).
//!
//! Requires: `crate::bootreq` (for [`Quoted`] and [`KeyName`]), and through
//! it `crate::cpulist` and `crate::size`.

use core::fmt;

use crate::bootreq::{KeyName, Quoted};

/// The kernel parameters (names before `=`) a user's `cmdline=` may set;
/// see the module docs for the rest of the allow-list.
pub const ALLOWED_NAMES: [&str; 8] = [
    "quiet",
    "debug",
    "ignore_loglevel",
    "initcall_debug",
    "loglevel",
    "init",
    "rdinit",
    "popnet.addr",
];

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
    /// A word of the user's command line whose name (the part before `=`)
    /// is not on the allow-list ([`check_user`]).
    NotAllowed { name: KeyName },
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
            CmdlineError::NotAllowed { name } => write!(
                f,
                "cmdline: '{name}' is not allowed (only quiet, debug, ignore_loglevel, \
                 initcall_debug, loglevel=, init=, rdinit=, popnet.addr=, --, \
                 and upper-case NAME=VALUE for init)"
            ),
        }
    }
}

/// Checks every word of the user's command line (unescaped) against the
/// allow-list in the module docs; the error names the first word refused.
pub fn check_user(user: &Quoted<'_>) -> Result<(), CmdlineError> {
    let mut word = Word::new();
    // The extra separator ends the last word.
    for byte in user.bytes().chain(core::iter::once(b' ')) {
        // Control characters are refused elsewhere; should one get here,
        // it separates words as the kernel's `isspace()` would.
        if byte <= b' ' {
            word.check()?;
            word = Word::new();
        } else {
            word.push(byte);
        }
    }
    Ok(())
}

/// The name length [`Word`] keeps: one more than [`KeyName`] shows (32),
/// so that a longer name is shown as cut short.
const WORD_NAME_KEPT: usize = 33;

/// One word of the user's command line, as far as [`check_user`] needs it.
struct Word {
    /// The first bytes of the name.
    name: [u8; WORD_NAME_KEPT],
    /// The name's whole length.
    name_len: usize,
    /// Whether an `=` was seen (the rest is the value).
    has_value: bool,
    /// Whether a byte of the name is outside `A`-`Z`, `0`-`9`, `_`, or the
    /// first one outside `A`-`Z`.
    not_upper: bool,
    /// Whether the word has any byte.
    started: bool,
}

impl Word {
    const fn new() -> Self {
        Word {
            name: [0; WORD_NAME_KEPT],
            name_len: 0,
            has_value: false,
            not_upper: false,
            started: false,
        }
    }

    fn push(&mut self, byte: u8) {
        self.started = true;
        if self.has_value {
            return;
        }
        if byte == b'=' {
            self.has_value = true;
            return;
        }
        let upper = byte.is_ascii_uppercase()
            || (self.name_len > 0 && (byte.is_ascii_digit() || byte == b'_'));
        self.not_upper |= !upper;
        if let Some(slot) = self.name.get_mut(self.name_len) {
            *slot = byte;
        }
        self.name_len = self.name_len.saturating_add(1);
    }

    fn check(&self) -> Result<(), CmdlineError> {
        let kept = self.name.get(..self.name_len).unwrap_or(&self.name);
        let allowed = !self.started
            || (!self.has_value && kept == b"--")
            || (self.name_len > 0 && !self.not_upper)
            || ALLOWED_NAMES.iter().any(|name| name.as_bytes() == kept);
        if allowed {
            Ok(())
        } else {
            Err(CmdlineError::NotAllowed {
                name: KeyName::new(kept),
            })
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

    /// Checks `text` as the user's command line after unescaping.
    fn check(text: &str) -> Result<(), CmdlineError> {
        let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
        check_user(&Quoted::from_escaped(escaped.as_bytes()).unwrap())
    }

    fn refused_name(text: &str) -> String {
        match check(text) {
            Err(CmdlineError::NotAllowed { name }) => name.to_string(),
            other => panic!("{text:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn allows_what_only_changes_output_or_init() {
        for text in [
            "",
            "   ",
            "quiet",
            "quiet loglevel=3",
            "debug ignore_loglevel initcall_debug",
            "init=/bin/sh rdinit=/sbin/init",
            "popnet.addr=192.0.2.77/24",
            "EXPECT_RAM=0x40000000-0x5fffffff EXPECT_CPUS=2",
            "HOME=/root A B_1 X=",
            "Z=\"memmap=1G@0\" Y=\"a\\b\"",
            "quiet -- INIT_ARG",
            "A_VERY_LONG_VARIABLE_NAME_FOR_INIT=1",
            "loglevel=",
        ] {
            assert_eq!(check(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn refuses_the_memmap_of_the_issue() {
        // A secondary given this listed 16-528 MiB of the primary's RAM as
        // its own and the primary oopsed (issue 14, item 9).
        assert_eq!(refused_name("memmap=512M@0x1000000"), "memmap");
        assert_eq!(
            check("memmap=512M@0x1000000").unwrap_err().to_string(),
            "cmdline: 'memmap' is not allowed (only quiet, debug, ignore_loglevel, \
             initcall_debug, loglevel=, init=, rdinit=, popnet.addr=, --, \
             and upper-case NAME=VALUE for init)"
        );
    }

    #[test]
    fn refuses_popcorns_own_and_hardware_arguments() {
        for (text, name) in [
            ("mem=1G", "mem"),
            ("quiet console=ttyS0", "console"),
            ("earlycon=uart8250,io,0x3f8", "earlycon"),
            ("earlyprintk=serial,ttyS0", "earlyprintk"),
            ("acpi=force", "acpi"),
            ("pci=conf1", "pci"),
            ("no_ipi_broadcast=0", "no_ipi_broadcast"),
            ("nr_cpus=8", "nr_cpus"),
            ("maxcpus=8", "maxcpus"),
            ("possible_cpus=8", "possible_cpus"),
            ("popcorn.kernel_id=0", "popcorn.kernel_id"),
            ("panic=0", "panic"),
            ("reboot=pci", "reboot"),
            ("crashkernel=64M", "crashkernel"),
            ("efi_fake_mem=1G@0:0x1", "efi_fake_mem"),
            ("kaslr", "kaslr"),
            ("nolapic", "nolapic"),
            ("i8042.reset=1", "i8042.reset"),
            ("bootconfig", "bootconfig"),
            // Not allowed because of a prefix or a case.
            ("quietly", "quietly"),
            ("ignore-loglevel", "ignore-loglevel"),
            ("Quiet", "Quiet"),
            ("BusLogic=1", "BusLogic"),
            ("_X=1", "_X"),
            ("1=x", "1"),
            ("=x", ""),
            ("=", ""),
            ("---", "---"),
            ("--=x", "--"),
            // Hidden from the kernel's parser, not from its x86 scans.
            ("X=\"a memmap=1G@0\"", "memmap"),
            ("quiet -- earlyprintk=serial", "earlyprintk"),
            ("\"memmap=1G@0\"", "\\\"memmap"),
            ("QUIET memmap\x7f=1", "memmap\\x7f"),
            ("\"quiet\"", "\\\"quiet\\\""),
            (
                "popcorn_reserve_but_much_longer_than_thirty_two=1",
                "popcorn_reserve_but_much_longer_...",
            ),
        ] {
            assert_eq!(refused_name(text), name, "{text:?}");
        }
    }

    #[test]
    fn the_first_refused_word_is_named() {
        assert_eq!(refused_name("quiet mem=1G memmap=1G@0"), "mem");
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
        fn a_word_passes_exactly_when_its_name_is_allowed(
            name in "[A-Za-z0-9_.-]{0,20}",
            value in proptest::option::of("[ -~&&[^ \"\\\\]]{0,10}"),
        ) {
            let word = match &value {
                Some(value) => format!("{name}={value}"),
                None => name.clone(),
            };
            let upper = name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            let allowed = word.is_empty()
                || upper
                || ALLOWED_NAMES.contains(&name.as_str())
                || (name == "--" && value.is_none());
            prop_assert_eq!(check(&format!("quiet {word} A=1")).is_ok(), allowed, "{}", word);
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
            if let Some(user) = &user {
                let _ = check_user(user);
            }
            let mut buf = vec![0u8; buf_len];
            if let Ok(len) = build_cmdline(&mut buf, &fixed, user.as_ref(), limit) {
                prop_assert!(len < buf_len);
                prop_assert_eq!(buf[len], 0);
            }
        }
    }
}
