//! Text helpers: formatting into fixed buffers (sysfs `show` callbacks get
//! one page and must never write past it) and trimming what `echo` adds.

use core::fmt;

/// A [`fmt::Write`] sink over a byte slice that refuses, rather than
/// truncates silently, output that does not fit.
pub struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceWriter<'a> {
    /// A writer that fills `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceWriter { buf, len: 0 }
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dest = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `input` without trailing ASCII whitespace (the newline `echo` appends
/// to what it writes to a sysfs file).
pub fn trim_end(input: &[u8]) -> &[u8] {
    match input.iter().rposition(|b| !b.is_ascii_whitespace()) {
        Some(last) => input.get(..=last).unwrap_or(input),
        None => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn trims_only_trailing_whitespace() {
        assert_eq!(trim_end(b" a b \n\t"), b" a b");
        assert_eq!(trim_end(b"\n"), b"");
        assert_eq!(trim_end(b""), b"");
    }

    #[test]
    fn writes_until_full_then_refuses() {
        let mut buf = [0u8; 8];
        let mut w = SliceWriter::new(&mut buf);
        assert!(w.is_empty());
        write!(w, "{}-{}", 12, 34).unwrap();
        assert_eq!(w.written(), b"12-34");
        assert!(w.write_str("abc").is_ok());
        assert_eq!(w.len(), 8);
        assert!(w.write_str("x").is_err());
        assert_eq!(w.written(), b"12-34abc");
    }

    #[test]
    fn a_refused_write_leaves_earlier_output_intact() {
        let mut buf = [0u8; 4];
        let mut w = SliceWriter::new(&mut buf);
        w.write_str("ab").unwrap();
        assert!(w.write_str("cde").is_err());
        assert_eq!(w.written(), b"ab");
    }
}
