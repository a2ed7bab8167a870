//! Request-body decoding with a cap on the decoded size.
//!
//! Every codec is read through a streaming decoder limited to `limit + 1` output bytes, so a
//! small body that expands to gigabytes (a zip bomb) costs at most `limit + 1` bytes of memory and
//! the time to produce them. A compressed stream that ends before its end marker is an error, never
//! a silently shortened body.

use std::borrow::Cow;
use std::io::{self, Read};

use flate2::{Decompress, FlushDecompress, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl ContentEncoding {
    /// Relay's rule: `gzip`/`x-gzip`, `deflate`, `br`, `zstd` (case-insensitive); anything else is identity.
    pub fn from_header(value: Option<&str>) -> Self {
        let Some(value) = value.map(str::trim) else {
            return ContentEncoding::Identity;
        };
        let is = |name: &str| value.eq_ignore_ascii_case(name);
        if is("gzip") || is("x-gzip") {
            ContentEncoding::Gzip
        } else if is("deflate") {
            ContentEncoding::Deflate
        } else if is("br") {
            ContentEncoding::Brotli
        } else if is("zstd") {
            ContentEncoding::Zstd
        } else {
            ContentEncoding::Identity
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("decoded body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("body is not valid {encoding:?} data: {detail}")]
    Corrupt {
        encoding: ContentEncoding,
        detail: String,
    },
}

/// Decodes `body` as sent with `encoding`, failing once the output would pass `limit` bytes.
///
/// An empty body decodes to an empty body whatever the encoding: clients send empty compressed
/// requests by mistake, and "envelope is empty" is a more useful answer than "corrupt gzip".
pub fn decode(encoding: ContentEncoding, body: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, DecodeError> {
    if body.is_empty() {
        return Ok(Cow::Borrowed(body));
    }
    let decoded = match encoding {
        ContentEncoding::Identity if body.len() > limit => {
            return Err(DecodeError::TooLarge { limit });
        }
        ContentEncoding::Identity => return Ok(Cow::Borrowed(body)),
        ContentEncoding::Gzip => read_capped(flate2::bufread::MultiGzDecoder::new(body), limit),
        ContentEncoding::Deflate => inflate(body, limit),
        ContentEncoding::Brotli => read_capped(brotli::Decompressor::new(body, 8 * 1024), limit),
        ContentEncoding::Zstd => {
            zstd::stream::read::Decoder::with_buffer(body).and_then(|decoder| read_capped(decoder, limit))
        }
    };
    match decoded {
        Ok(Capped::Within(out)) => Ok(Cow::Owned(out)),
        Ok(Capped::TooLarge) => Err(DecodeError::TooLarge { limit }),
        Err(error) => Err(DecodeError::Corrupt {
            encoding,
            detail: error.to_string(),
        }),
    }
}

enum Capped {
    Within(Vec<u8>),
    TooLarge,
}

fn read_capped(reader: impl Read, limit: usize) -> io::Result<Capped> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    reader.take(cap).read_to_end(&mut out)?;
    Ok(if out.len() > limit {
        Capped::TooLarge
    } else {
        Capped::Within(out)
    })
}

/// `deflate` means a zlib stream (RFC 1950) to Sentry and Relay, but some clients send a raw
/// deflate stream (RFC 1951) under that name, as browsers once did. A body that fails as zlib is
/// tried again as raw deflate; if both fail, the zlib error is the one reported.
fn inflate(body: &[u8], limit: usize) -> io::Result<Capped> {
    if !looks_like_zlib(body) {
        return read_capped(Inflate::new(body, false), limit);
    }
    match read_capped(Inflate::new(body, true), limit) {
        Err(zlib_error) => read_capped(Inflate::new(body, false), limit).map_err(|_| zlib_error),
        decoded => decoded,
    }
}

/// The two-byte zlib header: compression method 8 with a window of at most 32 KiB, and a check
/// value making the pair a multiple of 31.
fn looks_like_zlib(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// A reader over a zlib or raw deflate stream that fails if the input ends before the stream's
/// end marker. flate2's own readers return a short body in that case.
struct Inflate<'a> {
    input: &'a [u8],
    state: Decompress,
    finished: bool,
}

impl<'a> Inflate<'a> {
    fn new(input: &'a [u8], zlib: bool) -> Self {
        Self {
            input,
            state: Decompress::new(zlib),
            finished: false,
        }
    }
}

impl Read for Inflate<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        loop {
            let (in_before, out_before) = (self.state.total_in(), self.state.total_out());
            let status = self
                .state
                .decompress(self.input, buf, FlushDecompress::None)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
            let consumed = usize::try_from(self.state.total_in() - in_before).unwrap_or(usize::MAX);
            let produced = usize::try_from(self.state.total_out() - out_before).unwrap_or(0);
            self.input = self.input.get(consumed..).unwrap_or_default();
            match status {
                Status::StreamEnd => {
                    self.finished = true;
                    return Ok(produced);
                }
                Status::Ok | Status::BufError if produced > 0 => return Ok(produced),
                Status::Ok | Status::BufError if self.input.is_empty() => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "deflate stream ends before its end marker",
                    ));
                }
                Status::Ok | Status::BufError if consumed == 0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "deflate stream makes no progress",
                    ));
                }
                Status::Ok | Status::BufError => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const MIB: usize = 1024 * 1024;

    fn sample() -> Vec<u8> {
        let line = b"{\"type\":\"event\",\"length\":41}\n{\"message\":\"hello world\",\"level\":\"error\"}\n";
        line.iter().copied().cycle().take(200_000).collect()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 1, 22);
            encoder.write_all(data).unwrap();
        }
        out
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 1).unwrap()
    }

    /// Streams `size` zero bytes through an encoder without holding them in memory.
    fn bomb<W: Write>(mut encoder: W, size: usize) -> W {
        let chunk = vec![0u8; MIB];
        for _ in 0..size / MIB {
            encoder.write_all(&chunk).unwrap();
        }
        encoder
    }

    const BOMB: usize = 100 * MIB;

    fn gzip_bomb() -> Vec<u8> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        bomb(encoder, BOMB).finish().unwrap()
    }

    fn assert_corrupt(encoding: ContentEncoding, body: &[u8]) {
        match decode(encoding, body, 10 * MIB) {
            Err(DecodeError::Corrupt { encoding: e, .. }) => assert_eq!(e, encoding),
            other => panic!("expected {encoding:?} to be corrupt, got {other:?}"),
        }
    }

    fn truncated(data: &[u8]) -> &[u8] {
        &data[..data.len() / 2]
    }

    #[test]
    fn header_values_map_like_relay() {
        let cases = [
            (Some("gzip"), ContentEncoding::Gzip),
            (Some("GZIP"), ContentEncoding::Gzip),
            (Some(" x-gzip "), ContentEncoding::Gzip),
            (Some("X-Gzip"), ContentEncoding::Gzip),
            (Some("deflate"), ContentEncoding::Deflate),
            (Some("Deflate\t"), ContentEncoding::Deflate),
            (Some("br"), ContentEncoding::Brotli),
            (Some("BR"), ContentEncoding::Brotli),
            (Some("zstd"), ContentEncoding::Zstd),
            (Some("identity"), ContentEncoding::Identity),
            (Some(""), ContentEncoding::Identity),
            (Some("compress"), ContentEncoding::Identity),
            (Some("gzip, br"), ContentEncoding::Identity),
            (None, ContentEncoding::Identity),
        ];
        for (header, expected) in cases {
            assert_eq!(ContentEncoding::from_header(header), expected, "{header:?}");
        }
    }

    #[test]
    fn identity_borrows_the_body_within_the_limit() {
        let body = b"{}\n";
        let decoded = decode(ContentEncoding::Identity, body, 3).unwrap();
        assert!(matches!(decoded, Cow::Borrowed(b) if b == body));
    }

    #[test]
    fn identity_over_the_limit_is_too_large() {
        assert_eq!(
            decode(ContentEncoding::Identity, b"{}\n", 2),
            Err(DecodeError::TooLarge { limit: 2 })
        );
    }

    #[test]
    fn unknown_encoding_header_passes_the_body_through() {
        let encoding = ContentEncoding::from_header(Some("snappy"));
        assert_eq!(&*decode(encoding, b"plain", 10).unwrap(), b"plain");
    }

    #[test]
    fn gzip_round_trips() {
        let data = sample();
        assert_eq!(decode(ContentEncoding::Gzip, &gzip(&data), MIB).unwrap(), data);
    }

    #[test]
    fn x_gzip_header_decodes_gzip() {
        let encoding = ContentEncoding::from_header(Some("x-gzip"));
        assert_eq!(&*decode(encoding, &gzip(b"hello"), 10).unwrap(), b"hello");
    }

    #[test]
    fn gzip_with_several_members_decodes_all_of_them() {
        let mut body = gzip(b"hello ");
        body.extend(gzip(b"world"));
        assert_eq!(
            &*decode(ContentEncoding::Gzip, &body, 100).unwrap(),
            b"hello world"
        );
    }

    #[test]
    fn deflate_accepts_zlib_streams() {
        let data = sample();
        let body = zlib(&data);
        assert!(looks_like_zlib(&body));
        assert_eq!(decode(ContentEncoding::Deflate, &body, MIB).unwrap(), data);
    }

    #[test]
    fn deflate_falls_back_to_raw_deflate_streams() {
        let data = sample();
        assert_eq!(
            decode(ContentEncoding::Deflate, &raw_deflate(&data), MIB).unwrap(),
            data
        );
    }

    #[test]
    fn raw_deflate_starting_like_a_zlib_header_still_decodes() {
        // A stored block whose first byte is 0x08 (BFINAL=0, BTYPE=00, one padding bit set) and
        // whose LEN starts with 0x1d: 0x081d is a multiple of 31, so the body passes the zlib
        // header check, then fails as zlib and must be retried as raw deflate.
        let len: u16 = 0x001d;
        let mut body = vec![0x08];
        body.extend(len.to_le_bytes());
        body.extend((!len).to_le_bytes());
        body.extend(vec![b'a'; usize::from(len)]);
        body.extend([0x03, 0x00]); // a final empty fixed-Huffman block
        assert!(looks_like_zlib(&body));
        assert_eq!(
            &*decode(ContentEncoding::Deflate, &body, 100).unwrap(),
            &vec![b'a'; usize::from(len)][..]
        );
    }

    #[test]
    fn brotli_round_trips() {
        let data = sample();
        assert_eq!(
            decode(ContentEncoding::Brotli, &brotli(&data), MIB).unwrap(),
            data
        );
    }

    #[test]
    fn zstd_round_trips() {
        let data = sample();
        assert_eq!(decode(ContentEncoding::Zstd, &zstd(&data), MIB).unwrap(), data);
    }

    #[test]
    fn output_exactly_at_the_limit_is_accepted() {
        let data = sample();
        let limit = data.len();
        for (encoding, body) in [
            (ContentEncoding::Gzip, gzip(&data)),
            (ContentEncoding::Deflate, zlib(&data)),
            (ContentEncoding::Brotli, brotli(&data)),
            (ContentEncoding::Zstd, zstd(&data)),
        ] {
            assert_eq!(decode(encoding, &body, limit).unwrap(), data, "{encoding:?}");
            assert_eq!(
                decode(encoding, &body, limit - 1),
                Err(DecodeError::TooLarge { limit: limit - 1 }),
                "{encoding:?}"
            );
        }
    }

    #[test]
    fn empty_body_decodes_to_empty_whatever_the_encoding() {
        for encoding in [
            ContentEncoding::Gzip,
            ContentEncoding::Deflate,
            ContentEncoding::Brotli,
            ContentEncoding::Zstd,
        ] {
            assert_eq!(&*decode(encoding, b"", 10).unwrap(), b"");
        }
    }

    #[test]
    fn gzip_bomb_is_too_large() {
        let body = gzip_bomb();
        assert!(body.len() < MIB, "the bomb is small: {}", body.len());
        assert_eq!(
            decode(ContentEncoding::Gzip, &body, MIB),
            Err(DecodeError::TooLarge { limit: MIB })
        );
    }

    #[test]
    fn deflate_bomb_is_too_large() {
        let zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        let raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        for body in [
            bomb(zlib, BOMB).finish().unwrap(),
            bomb(raw, BOMB).finish().unwrap(),
        ] {
            assert_eq!(
                decode(ContentEncoding::Deflate, &body, MIB),
                Err(DecodeError::TooLarge { limit: MIB })
            );
        }
    }

    #[test]
    fn brotli_bomb_is_too_large() {
        let mut body = Vec::new();
        bomb(brotli::CompressorWriter::new(&mut body, 4096, 1, 22), BOMB);
        assert_eq!(
            decode(ContentEncoding::Brotli, &body, MIB),
            Err(DecodeError::TooLarge { limit: MIB })
        );
    }

    #[test]
    fn zstd_bomb_is_too_large() {
        let encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        let body = bomb(encoder, BOMB).finish().unwrap();
        assert_eq!(
            decode(ContentEncoding::Zstd, &body, MIB),
            Err(DecodeError::TooLarge { limit: MIB })
        );
    }

    #[test]
    fn truncated_gzip_is_corrupt() {
        assert_corrupt(ContentEncoding::Gzip, truncated(&gzip(&sample())));
        let whole = gzip(b"hello");
        assert_corrupt(ContentEncoding::Gzip, &whole[..whole.len() - 1]);
    }

    #[test]
    fn truncated_deflate_is_corrupt() {
        assert_corrupt(ContentEncoding::Deflate, truncated(&zlib(&sample())));
        assert_corrupt(ContentEncoding::Deflate, truncated(&raw_deflate(&sample())));
        let whole = zlib(b"hello");
        assert_corrupt(ContentEncoding::Deflate, &whole[..whole.len() - 1]);
    }

    #[test]
    fn truncated_brotli_is_corrupt() {
        assert_corrupt(ContentEncoding::Brotli, truncated(&brotli(&sample())));
        let whole = brotli(b"hello");
        assert_corrupt(ContentEncoding::Brotli, &whole[..whole.len() - 1]);
    }

    #[test]
    fn truncated_zstd_is_corrupt() {
        assert_corrupt(ContentEncoding::Zstd, truncated(&zstd(&sample())));
        let whole = zstd(b"hello");
        assert_corrupt(ContentEncoding::Zstd, &whole[..whole.len() - 1]);
    }

    #[test]
    fn garbage_is_corrupt_for_every_codec() {
        let garbage = b"this is not compressed at all, just text";
        for encoding in [
            ContentEncoding::Gzip,
            ContentEncoding::Deflate,
            ContentEncoding::Brotli,
            ContentEncoding::Zstd,
        ] {
            assert_corrupt(encoding, garbage);
        }
    }

    #[test]
    fn corrupt_error_names_the_encoding() {
        let error = decode(ContentEncoding::Gzip, b"nope", 10).unwrap_err();
        assert!(
            error.to_string().starts_with("body is not valid Gzip data: "),
            "{error}"
        );
    }
}
