//! Numbers written to sysfs files: one strict syntax for every numeric
//! input (`shutdown`, `release`, `ipi/send`, `migration/*`, `msgtest/*`).
//!
//! A write is one or more decimal numbers separated by single spaces,
//! followed by at most one newline (what `echo` adds). A number is `0` or a
//! digit from `1` to `9` followed by digits, and must not exceed the field's
//! maximum. Nothing else is accepted: no sign (`+1` and `-1`), no leading
//! zero (`01`, which other tools read as octal), no hex, no leading,
//! doubled or trailing spaces, no tabs, no second newline, no trailing
//! junk. One spelling per value means a write either means what it says or
//! is refused.
//!
//! Requires: nothing.

use core::fmt;

/// Why a write was refused. Offsets are byte offsets into the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// Nothing but the newline.
    Empty,
    /// A byte that cannot stand where it is, at `at`.
    Junk { at: usize },
    /// A number with a leading zero, starting at `at`.
    LeadingZero { at: usize },
    /// The number starting at `at` is larger than `max`.
    TooLarge { at: usize, max: u64 },
    /// `found` numbers where `min` to `max` were expected.
    Count { found: usize, min: usize, max: usize },
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NumberError::Empty => write!(f, "empty"),
            NumberError::Junk { at } => {
                write!(f, "not a decimal number (unexpected character at offset {at})")
            }
            NumberError::LeadingZero { at } => {
                write!(f, "number at offset {at} has a leading zero")
            }
            NumberError::TooLarge { at, max } => {
                write!(f, "number at offset {at} is larger than {max}")
            }
            NumberError::Count { found, min, max } if min == max => {
                write!(f, "{found} numbers, expected {min}")
            }
            NumberError::Count { found, min, max } => {
                write!(f, "{found} numbers, expected {min} to {max}")
            }
        }
    }
}

/// Parses a write holding exactly one number of at most `max`.
pub fn parse_one(input: &[u8], max: u64) -> Result<u64, NumberError> {
    let ([value], _) = parse_many::<1>(input, 1, max)?;
    Ok(value)
}

/// Parses a write holding `min` to `N` numbers, each at most `max`;
/// returns them (the missing ones as 0) and how many there were.
pub fn parse_many<const N: usize>(
    input: &[u8],
    min: usize,
    max: u64,
) -> Result<([u64; N], usize), NumberError> {
    let text = input.strip_suffix(b"\n").unwrap_or(input);
    if text.is_empty() {
        return Err(NumberError::Empty);
    }
    let mut out = [0u64; N];
    let mut found = 0usize;
    let mut at = 0usize;
    for word in text.split(|&b| b == b' ') {
        let value = parse_word(word, at, max)?;
        if let Some(slot) = out.get_mut(found) {
            *slot = value;
        }
        found = found.saturating_add(1);
        // The word and its space.
        at = at.saturating_add(word.len()).saturating_add(1);
    }
    if found < min || found > N {
        return Err(NumberError::Count {
            found,
            min,
            max: N,
        });
    }
    Ok((out, found))
}

/// One number at offset `at` of the write.
fn parse_word(word: &[u8], at: usize, max: u64) -> Result<u64, NumberError> {
    let Some(&first) = word.first() else {
        // An empty word: a leading, doubled or trailing space.
        return Err(NumberError::Junk { at });
    };
    if let Some(bad) = word.iter().position(|b| !b.is_ascii_digit()) {
        return Err(NumberError::Junk {
            at: at.saturating_add(bad),
        });
    }
    if first == b'0' && word.len() > 1 {
        return Err(NumberError::LeadingZero { at });
    }
    let mut value = 0u64;
    for &digit in word {
        value = value
            .checked_mul(10)
            // An ASCII digit minus b'0' is 0..=9.
            .and_then(|v| v.checked_add(u64::from(digit.wrapping_sub(b'0'))))
            .filter(|&v| v <= max)
            .ok_or(NumberError::TooLarge { at, max })?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::format;
    use std::string::ToString;

    const U32: u64 = u32::MAX as u64;

    #[test]
    fn takes_plain_numbers_with_one_optional_newline() {
        assert_eq!(parse_one(b"0", U32), Ok(0));
        assert_eq!(parse_one(b"1\n", U32), Ok(1));
        assert_eq!(parse_one(b"4294967295\n", U32), Ok(U32));
        assert_eq!(parse_one(b"18446744073709551615", u64::MAX), Ok(u64::MAX));
        assert_eq!(parse_many::<3>(b"1 200 3\n", 2, U32), Ok(([1, 200, 3], 3)));
        assert_eq!(parse_many::<3>(b"1 2", 2, U32), Ok(([1, 2, 0], 2)));
    }

    #[test]
    fn refuses_every_other_spelling() {
        use NumberError::*;
        let cases: [(&[u8], NumberError); 20] = [
            (b"", Empty),
            (b"\n", Empty),
            (b"+1", Junk { at: 0 }),
            (b"-1", Junk { at: 0 }),
            (b"01", LeadingZero { at: 0 }),
            (b"00", LeadingZero { at: 0 }),
            (b"0x1", Junk { at: 1 }),
            (b" 1", Junk { at: 0 }),
            (b"1 ", Junk { at: 2 }),
            (b"1 \n", Junk { at: 2 }),
            (b"1\t", Junk { at: 1 }),
            (b"1\n\n", Junk { at: 1 }),
            (b"1\r\n", Junk { at: 1 }),
            (b"\n1", Junk { at: 0 }),
            (b"1x", Junk { at: 1 }),
            (b"1\0", Junk { at: 1 }),
            (b"\xff", Junk { at: 0 }),
            (b"4294967296", TooLarge { at: 0, max: U32 }),
            (b"99999999999999999999999", TooLarge { at: 0, max: U32 }),
            (b"1 2", Count { found: 2, min: 1, max: 1 }),
        ];
        for (input, error) in cases {
            assert_eq!(parse_one(input, U32), Err(error), "{:?}", input.escape_ascii());
        }
        assert_eq!(
            parse_many::<3>(b"1  2", 2, U32),
            Err(Junk { at: 2 })
        );
        assert_eq!(
            parse_many::<3>(b"1 02", 2, U32),
            Err(LeadingZero { at: 2 })
        );
        assert_eq!(
            parse_many::<3>(b"1", 2, U32),
            Err(Count { found: 1, min: 2, max: 3 })
        );
        assert_eq!(
            parse_many::<3>(b"1 2 3 4", 2, U32),
            Err(Count { found: 4, min: 2, max: 3 })
        );
        assert_eq!(parse_one(b"11", 10), Err(TooLarge { at: 0, max: 10 }));
        assert_eq!(parse_many::<2>(b"1 11", 1, 10), Err(TooLarge { at: 2, max: 10 }));
    }

    #[test]
    fn errors_have_log_texts() {
        assert_eq!(
            NumberError::Junk { at: 0 }.to_string(),
            "not a decimal number (unexpected character at offset 0)"
        );
        assert_eq!(
            NumberError::LeadingZero { at: 2 }.to_string(),
            "number at offset 2 has a leading zero"
        );
        assert_eq!(
            NumberError::TooLarge { at: 0, max: 7 }.to_string(),
            "number at offset 0 is larger than 7"
        );
        assert_eq!(
            NumberError::Count { found: 2, min: 1, max: 1 }.to_string(),
            "2 numbers, expected 1"
        );
        assert_eq!(
            NumberError::Count { found: 4, min: 2, max: 3 }.to_string(),
            "4 numbers, expected 2 to 3"
        );
        assert_eq!(NumberError::Empty.to_string(), "empty");
    }

    proptest! {
        #[test]
        fn round_trips_what_display_prints(values in proptest::collection::vec(any::<u64>(), 1..4), newline: bool) {
            let mut text = values.iter().map(|v| v.to_string()).collect::<std::vec::Vec<_>>().join(" ");
            if newline {
                text.push('\n');
            }
            let (parsed, n) = parse_many::<3>(text.as_bytes(), 1, u64::MAX).unwrap();
            prop_assert_eq!(n, values.len());
            prop_assert_eq!(&parsed[..n], &values[..]);
        }

        #[test]
        fn accepts_only_the_canonical_spelling(input in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok((values, n)) = parse_many::<3>(&input, 1, u64::MAX) {
                let text = values[..n].iter().map(|v| format!("{v}")).collect::<std::vec::Vec<_>>().join(" ");
                let canonical = [text.as_bytes(), b"\n"].concat();
                prop_assert!(input == text.as_bytes() || input == canonical);
            }
        }
    }
}
