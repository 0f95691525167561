//! The pieces of the chunked transfer coding (RFC 9112 §7.1) that need parsing: the
//! chunk-size line and the trailer field lines.

use super::head::trim;
use super::FramingError;
use bytes::Bytes;

/// Longest chunk-size line accepted, extensions and CRLF included.
pub(super) const MAX_CHUNK_LINE: usize = 4096;

/// `chunk-size [ chunk-ext ] CRLF` (RFC 9112 §7.1, §7.1.1), given without its CRLF.
/// Extensions are checked for stray control characters and otherwise ignored, as §7.1.1
/// allows.
pub(super) fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(FramingError::BadChunk("missing chunk size"));
    }
    let size = line[..digits].iter().try_fold(0u64, |n, &d| {
        let value = char::from(d).to_digit(16).map(u64::from)?;
        n.checked_mul(16)?.checked_add(value)
    });
    let size = size.ok_or(FramingError::BadChunk("chunk size overflows"))?;
    let rest = &line[digits..];
    let ext = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map(|at| &rest[at..]);
    match ext {
        None if rest.is_empty() => Ok(size),
        Some([b';', ext @ ..]) if !ext.iter().copied().any(is_forbidden_ctl) => Ok(size),
        _ => Err(FramingError::BadChunk("bad chunk extension")),
    }
}

/// `field-name ":" OWS field-value OWS` (RFC 9110 §5.1, §5.5) for one trailer line, given
/// without its CRLF.
pub(super) fn trailer_field(line: &Bytes) -> Result<(String, Bytes), FramingError> {
    let bad = FramingError::BadChunk("bad trailer field");
    let colon = memchr::memchr(b':', line).ok_or(bad.clone())?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(bad);
    }
    let value = trim(&line[colon + 1..]);
    if value.iter().copied().any(is_forbidden_ctl) {
        return Err(bad);
    }
    let name = String::from_utf8(name.to_vec()).map_err(|_| bad)?;
    Ok((name, line.slice_ref(value)))
}

/// Control characters other than HTAB (RFC 9110 §5.5 field values).
fn is_forbidden_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
