//! The record size limit every backend applies.

use crate::backend::record::{DEFAULT_MAX_RECORD_BYTES, Fields, encoded_len};
use crate::error::BackendError;

/// The largest record a backend stores, in bytes of
/// [`encoded_len`](crate::backend::record::encoded_len): one definition of a
/// record's size and one refusal for every backend, so a record one
/// backend accepts is accepted by every backend with the same limit.
///
/// ```
/// use sessions_core::BackendError;
/// use sessions_core::backend::RecordLimit;
/// use sessions_core::backend::record::{Fields, encoded_len};
///
/// let limit = RecordLimit::new(16);
/// let small = Fields::from([("va".to_owned(), b"1".to_vec())]);
/// assert_eq!(limit.check(&small)?, encoded_len(&small));
/// let large = Fields::from([("va".to_owned(), vec![0; 64])]);
/// assert!(matches!(limit.check(&large), Err(BackendError::TooLarge { limit: 16, .. })));
/// # Ok::<(), BackendError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimit {
    max_bytes: usize,
}

impl RecordLimit {
    /// Records of at most `max_bytes`.
    pub const fn new(max_bytes: usize) -> RecordLimit {
        RecordLimit { max_bytes }
    }

    /// The largest size admitted, in bytes.
    pub const fn max_bytes(self) -> usize {
        self.max_bytes
    }

    /// Whether a record of `size` bytes is within the limit.
    pub const fn admits(self, size: usize) -> bool {
        size <= self.max_bytes
    }

    /// The size of `fields`, or [`BackendError::TooLarge`] when it is over
    /// the limit. The size is computed without encoding the record.
    pub fn check(self, fields: &Fields) -> Result<usize, BackendError> {
        self.check_len(encoded_len(fields))
    }

    /// `size`, or [`BackendError::TooLarge`] when it is over the limit: for
    /// a record already encoded, or one whose size was worked out some
    /// other way.
    pub fn check_len(self, size: usize) -> Result<usize, BackendError> {
        if self.admits(size) { Ok(size) } else { Err(BackendError::TooLarge { size, limit: self.max_bytes }) }
    }
}

impl Default for RecordLimit {
    /// [`DEFAULT_MAX_RECORD_BYTES`], 1 MiB.
    fn default() -> RecordLimit {
        RecordLimit::new(DEFAULT_MAX_RECORD_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_itself_is_admitted_and_one_byte_more_is_too_large() {
        let limit = RecordLimit::new(10);
        assert_eq!(limit.check_len(10).unwrap(), 10);
        assert!(matches!(limit.check_len(11), Err(BackendError::TooLarge { size: 11, limit: 10 })));
        assert_eq!(RecordLimit::default().max_bytes(), DEFAULT_MAX_RECORD_BYTES);
    }
}
