//! Memory sizes as users write them: `512M`, `1G`, `64k`, `4096`, `2T`.
//!
//! The syntax is the kernel's `memparse` (`mem=`, `crashkernel=`) with the
//! guesswork removed: a decimal number, optionally followed by one binary
//! suffix (`K`, `M`, `G`, `T`, either case, meaning 2^10 to 2^40), optionally
//! followed by trailing ASCII whitespace (the newline of `echo`). Everything
//! else is refused rather than read as far as it makes sense, because the
//! result decides how much RAM a running kernel gives away: `memparse` reads
//! `1GB` as 1 GiB and `0x10` as 16, and accepts `P`/`E`, none of which a
//! Popcorn user needs. Overflow is an error, never a wrap.
//!
//! [`DisplaySize`] prints a size back in the same syntax, choosing the
//! largest unit that divides it, so printing then parsing gives the same
//! number.
//!
//! Requires: `crate::text`.

use core::fmt;

use crate::text::trim_end;

/// Why a size was refused. Offsets are byte offsets into the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeError {
    /// Nothing but whitespace.
    Empty,
    /// A byte that does not belong there: anything but a digit at the start,
    /// or anything after the number and its suffix other than trailing
    /// whitespace.
    Junk { at: usize },
    /// The number, or the number times its suffix, does not fit in 64 bits.
    Overflow,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SizeError::Empty => write!(f, "empty size"),
            SizeError::Junk { at } => write!(f, "unexpected character at offset {at}"),
            SizeError::Overflow => write!(f, "size does not fit in 64 bits"),
        }
    }
}

/// The suffixes, largest first, with their shift. [`DisplaySize`] relies on
/// the order.
const UNITS: [(u8, u32); 4] = [(b'T', 40), (b'G', 30), (b'M', 20), (b'K', 10)];

/// Parses a size in bytes, see the module docs for the syntax. Zero is a
/// valid size here; callers that need a non-zero one check it themselves.
pub fn parse_size(input: &[u8]) -> Result<u64, SizeError> {
    let input = trim_end(input);
    if input.is_empty() {
        return Err(SizeError::Empty);
    }
    let digits = input
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(input.len());
    if digits == 0 {
        return Err(SizeError::Junk { at: 0 });
    }
    let (number, rest) = input.split_at_checked(digits).unwrap_or((input, &[]));
    let mut value: u64 = 0;
    for &digit in number {
        value = value
            .checked_mul(10)
            // An ASCII digit minus b'0' is 0..=9: no wrap happens.
            .and_then(|v| v.checked_add(u64::from(digit.wrapping_sub(b'0'))))
            .ok_or(SizeError::Overflow)?;
    }
    let Some((&suffix, rest)) = rest.split_first() else {
        return Ok(value);
    };
    let shift = UNITS
        .iter()
        .find(|(unit, _)| *unit == suffix.to_ascii_uppercase())
        .map(|&(_, shift)| shift)
        .ok_or(SizeError::Junk { at: digits })?;
    if !rest.is_empty() {
        // `digits + 1` cannot overflow: it is at most the input's length.
        return Err(SizeError::Junk {
            at: digits.saturating_add(1),
        });
    }
    // A left shift drops high bits silently, so check that nothing is lost.
    let shifted = value.checked_shl(shift).ok_or(SizeError::Overflow)?;
    if shifted >> shift != value {
        return Err(SizeError::Overflow);
    }
    Ok(shifted)
}

/// Prints a size in [`parse_size`] syntax with the largest exact unit:
/// `512M`, `1G`, `1536K`; sizes that are not a multiple of 1 KiB, and zero,
/// print as plain bytes (`4097`, `0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplaySize(pub u64);

impl fmt::Display for DisplaySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        if bytes != 0 {
            for &(unit, shift) in UNITS.iter() {
                if bytes.trailing_zeros() >= shift {
                    return write!(f, "{}{}", bytes >> shift, char::from(unit));
                }
            }
        }
        write!(f, "{bytes}")
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;
    use std::string::ToString;

    fn parse(s: &str) -> Result<u64, SizeError> {
        parse_size(s.as_bytes())
    }

    #[test]
    fn parses_plain_bytes() {
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("4096"), Ok(4096));
        assert_eq!(parse("007"), Ok(7));
        assert_eq!(parse("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn parses_binary_suffixes_in_either_case() {
        assert_eq!(parse("64k"), Ok(64 << 10));
        assert_eq!(parse("64K"), Ok(64 << 10));
        assert_eq!(parse("512M"), Ok(512 << 20));
        assert_eq!(parse("512m"), Ok(512 << 20));
        assert_eq!(parse("1G"), Ok(1 << 30));
        assert_eq!(parse("1g"), Ok(1 << 30));
        assert_eq!(parse("2T"), Ok(2 << 40));
        assert_eq!(parse("2t"), Ok(2 << 40));
        assert_eq!(parse("0G"), Ok(0));
    }

    #[test]
    fn ignores_only_trailing_whitespace() {
        assert_eq!(parse("1G\n"), Ok(1 << 30));
        assert_eq!(parse("4096 \t\r\n"), Ok(4096));
        assert_eq!(parse(" 1G"), Err(SizeError::Junk { at: 0 }));
        assert_eq!(parse("1 G"), Err(SizeError::Junk { at: 1 }));
        assert_eq!(parse("1G 2"), Err(SizeError::Junk { at: 2 }));
    }

    #[test]
    fn refuses_empty_input() {
        assert_eq!(parse(""), Err(SizeError::Empty));
        assert_eq!(parse("\n"), Err(SizeError::Empty));
        assert_eq!(parse(" \t "), Err(SizeError::Empty));
    }

    #[test]
    fn refuses_what_memparse_would_guess_at() {
        assert_eq!(parse("1GB"), Err(SizeError::Junk { at: 2 }));
        assert_eq!(parse("1GiB"), Err(SizeError::Junk { at: 2 }));
        assert_eq!(parse("1KK"), Err(SizeError::Junk { at: 2 }));
        assert_eq!(parse("0x10"), Err(SizeError::Junk { at: 1 }));
        assert_eq!(parse("1P"), Err(SizeError::Junk { at: 1 }));
        assert_eq!(parse("1E"), Err(SizeError::Junk { at: 1 }));
        assert_eq!(parse("1B"), Err(SizeError::Junk { at: 1 }));
        assert_eq!(parse("G"), Err(SizeError::Junk { at: 0 }));
        assert_eq!(parse("+1"), Err(SizeError::Junk { at: 0 }));
        assert_eq!(parse("-1"), Err(SizeError::Junk { at: 0 }));
        assert_eq!(parse("1.5G"), Err(SizeError::Junk { at: 1 }));
        assert_eq!(parse("1_000"), Err(SizeError::Junk { at: 1 }));
        assert_eq!(parse_size(b"1\0"), Err(SizeError::Junk { at: 1 }));
        assert_eq!(parse_size(b"1G\xff"), Err(SizeError::Junk { at: 2 }));
        assert_eq!(parse_size(b"\xc3\xa9"), Err(SizeError::Junk { at: 0 }));
    }

    #[test]
    fn refuses_overflow() {
        assert_eq!(parse("18446744073709551616"), Err(SizeError::Overflow));
        assert_eq!(
            parse("99999999999999999999999999999"),
            Err(SizeError::Overflow)
        );
        // 2^24 T = 2^64.
        assert_eq!(parse("16777215T"), Ok(16_777_215 << 40));
        assert_eq!(parse("16777216T"), Err(SizeError::Overflow));
        assert_eq!(parse("17179869184G"), Err(SizeError::Overflow));
        assert_eq!(
            parse("18014398509481983K"),
            Ok(18_014_398_509_481_983 << 10)
        );
        assert_eq!(parse("18014398509481984K"), Err(SizeError::Overflow));
        // Long runs of leading zeros are not an overflow.
        assert_eq!(parse(&format!("{}1K", "0".repeat(100))), Ok(1024));
    }

    #[test]
    fn prints_the_largest_exact_unit() {
        assert_eq!(DisplaySize(0).to_string(), "0");
        assert_eq!(DisplaySize(1).to_string(), "1");
        assert_eq!(DisplaySize(1023).to_string(), "1023");
        assert_eq!(DisplaySize(1024).to_string(), "1K");
        assert_eq!(DisplaySize(1536).to_string(), "1536");
        assert_eq!(DisplaySize(4096).to_string(), "4K");
        assert_eq!(DisplaySize(4097).to_string(), "4097");
        assert_eq!(DisplaySize(1536 << 10).to_string(), "1536K");
        assert_eq!(DisplaySize(512 << 20).to_string(), "512M");
        assert_eq!(DisplaySize(1 << 30).to_string(), "1G");
        assert_eq!(DisplaySize(3 << 30).to_string(), "3G");
        assert_eq!(DisplaySize(1025 << 20).to_string(), "1025M");
        assert_eq!(DisplaySize(2 << 40).to_string(), "2T");
        assert_eq!(DisplaySize(1 << 63).to_string(), "8388608T");
        assert_eq!(DisplaySize(u64::MAX).to_string(), "18446744073709551615");
    }

    #[test]
    fn errors_have_log_texts() {
        assert_eq!(SizeError::Empty.to_string(), "empty size");
        assert_eq!(
            SizeError::Junk { at: 3 }.to_string(),
            "unexpected character at offset 3"
        );
        assert_eq!(
            SizeError::Overflow.to_string(),
            "size does not fit in 64 bits"
        );
    }

    proptest::proptest! {
        #[test]
        fn printing_then_parsing_gives_the_same_size(bytes in proptest::num::u64::ANY) {
            let printed = DisplaySize(bytes).to_string();
            proptest::prop_assert_eq!(parse(&printed), Ok(bytes));
        }

        #[test]
        fn page_multiples_round_trip_with_a_unit(pages in 1u64..(1 << 40)) {
            let bytes = pages << 12;
            let printed = DisplaySize(bytes).to_string();
            proptest::prop_assert!(!printed.ends_with(|c: char| c.is_ascii_digit()));
            proptest::prop_assert_eq!(parse(&printed), Ok(bytes));
        }

        #[test]
        fn shifted_numbers_parse(value in proptest::num::u64::ANY, unit in 0usize..4) {
            let (suffix, shift) = UNITS[unit];
            let text = format!("{value}{}", char::from(suffix.to_ascii_lowercase()));
            let expected = if value.leading_zeros() >= shift {
                Ok(value << shift)
            } else {
                Err(SizeError::Overflow)
            };
            proptest::prop_assert_eq!(parse(&text), expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = parse_size(&input);
        }

        #[test]
        fn size_like_bytes_never_panic(input in "[0-9kKmMgGtT \n]{0,30}") {
            let _ = parse(&input);
        }
    }
}
