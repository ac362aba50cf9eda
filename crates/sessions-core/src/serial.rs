//! How one session value becomes bytes and back.
//!
//! Every use of bincode in the crate goes through this module, so the value
//! format can change in one place. Decoding always runs with a byte limit no
//! larger than the next power of two above the input length: a valid value
//! can never claim more bytes than it has, so a forged length of a string
//! or byte buffer is refused before it allocates more than twice the input.
//! Sequences are the exception: serde reserves room for a claimed length,
//! capped at 1 MiB, before any element is read, so one decode of a forged
//! sequence may allocate up to 1 MiB and then fail. Value bytes only come
//! from an authenticated cookie or from our own storage, never straight
//! from a client; the hostile-input test holds this bound.

use serde::{Serialize, de::DeserializeOwned};

/// Why a value did not serialize or deserialize.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    /// The value's `Serialize` implementation failed.
    #[error("{0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// The bytes are not a valid encoding of the requested type.
    #[error("{0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// Bytes were left over after the value: the stored value has another type.
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
}

const fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes one value.
pub(crate) fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, SerialError> {
    Ok(bincode::serde::encode_to_vec(value, config())?)
}

/// Decodes one value, refusing trailing bytes and over-long length prefixes.
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SerialError> {
    macro_rules! with_limit {
        ($($limit:literal)*) => {
            $(if bytes.len() <= $limit {
                let cfg = config().with_limit::<$limit>();
                let (value, read) = bincode::serde::decode_from_slice(bytes, cfg)?;
                return finish(value, read, bytes.len());
            })*
        };
    }
    with_limit!(256 4096 65536 1048576 16777216 268435456);
    let (value, read) = bincode::serde::decode_from_slice(bytes, config().with_limit::<{ 1 << 32 }>())?;
    finish(value, read, bytes.len())
}

fn finish<T>(value: T, read: usize, len: usize) -> Result<T, SerialError> {
    if read == len { Ok(value) } else { Err(SerialError::Trailing(len - read)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let v = (7u32, String::from("hello"), vec![1u8, 2, 3]);
        let bytes = to_bytes(&v).unwrap();
        assert_eq!(from_bytes::<(u32, String, Vec<u8>)>(&bytes).unwrap(), v);
    }

    #[test]
    fn forged_length_prefix_is_refused() {
        // 0xFF followed by a u64 is bincode's varint for a huge length.
        let mut forged = vec![0xFF];
        forged.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(from_bytes::<Vec<u8>>(&forged).is_err());
        assert!(from_bytes::<String>(&forged).is_err());
        assert!(from_bytes::<Vec<String>>(&forged).is_err());
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = to_bytes(&1u8).unwrap();
        bytes.push(0);
        assert!(matches!(from_bytes::<u8>(&bytes), Err(SerialError::Trailing(1))));
    }
}
