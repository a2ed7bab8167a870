//! Request-body decoding with a cap on the decoded size (placeholder: being implemented).

use std::borrow::Cow;

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
    pub fn from_header(_value: Option<&str>) -> Self {
        ContentEncoding::Identity
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

pub fn decode(_encoding: ContentEncoding, body: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, DecodeError> {
    if body.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(Cow::Borrowed(body))
}
