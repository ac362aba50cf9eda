//! Flash messages in a cookie: each queue in one field.
//!
//! In a session, each flash message is a field of its own
//! (`f<queue>#<24 hex digits>`), so that on a server store, where
//! concurrent requests patch one record, each keeps the others' messages.
//! A cookie has no such race (each response rewrites it whole) and only
//! 4 KB, where a 29-byte field name per message would cost more than most
//! messages. So the cookie store writes each queue as one field
//! `q<queue>`, its messages in runs that share a shape fingerprint
//! (written once per run), and splits it back into message fields when it
//! reads the cookie:
//!
//! ```text
//! queue = run+
//! run   = shape[8] || varint(count) || count × ( varint(len) || bincode )
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::layout::FLASH_PREFIX;
use super::{FLASH_SEPARATOR, FLASH_SUFFIX};
use crate::backend::Fields;
use crate::backend::record;
use crate::serial::SHAPE_LEN;

/// Prefix of a folded queue's field, in a cookie's record only.
pub(crate) const QUEUE_PREFIX: char = 'q';

/// The queue of a flash message's field name.
fn queue_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(FLASH_PREFIX)?;
    let split = rest.len().checked_sub(FLASH_SUFFIX + FLASH_SEPARATOR.len_utf8())?;
    let (queue, suffix) = (rest.get(..split)?, rest.get(split..)?);
    let digits = suffix.strip_prefix(FLASH_SEPARATOR)?;
    digits.bytes().all(|b| b.is_ascii_hexdigit()).then_some(queue)
}

/// The record of `fields` for a cookie: the messages of each flash queue
/// folded into one field, in their order.
pub(crate) fn encode_folded(fields: &Fields) -> Vec<u8> {
    // A first byte rules out most names without reading them as text.
    let flashes = fields.iter_bytes().any(|(name, _)| name.first() == Some(&(FLASH_PREFIX as u8)));
    if !flashes || !fields.keys().any(|name| queue_of(name).is_some()) {
        return record::encode(fields);
    }
    let mut queues: BTreeMap<&str, Vec<&[u8]>> = BTreeMap::new();
    let mut out: BTreeMap<Cow<'_, str>, Cow<'_, [u8]>> = BTreeMap::new();
    for (name, value) in fields {
        match queue_of(name) {
            // Every message starts with its shape; one that does not (none
            // is written so) stays a field of its own.
            Some(queue) if value.len() >= SHAPE_LEN => queues.entry(queue).or_default().push(value),
            _ => {
                out.insert(Cow::Borrowed(name), Cow::Borrowed(value));
            }
        }
    }
    for (queue, messages) in queues {
        out.insert(Cow::Owned(format!("{QUEUE_PREFIX}{queue}")), Cow::Owned(fold(&messages)));
    }
    record::encode_entries(out.len(), out.iter().map(|(name, value)| (name.as_bytes(), value.as_ref())))
}

fn fold(messages: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(messages.iter().map(|m| m.len() + 2).sum());
    let mut rest = messages;
    while let Some(first) = rest.first() {
        let shape = &first[..SHAPE_LEN];
        let run = rest.iter().take_while(|m| &m[..SHAPE_LEN] == shape).count();
        out.extend_from_slice(shape);
        record::put_varint(&mut out, run as u64);
        for message in &rest[..run] {
            let body = &message[SHAPE_LEN..];
            record::put_varint(&mut out, body.len() as u64);
            out.extend_from_slice(body);
        }
        rest = &rest[run..];
    }
    out
}

/// The fields of a cookie's record with each folded queue split back into
/// message fields, named to sort before any message queued later. `None`
/// when a queue is malformed.
pub(crate) fn unfold(mut fields: Fields) -> Option<Fields> {
    let folded: Vec<String> = fields.keys().filter(|name| name.starts_with(QUEUE_PREFIX)).map(str::to_owned).collect();
    for name in folded {
        let bytes = fields.get(&name)?.to_vec();
        fields.remove(&name);
        let queue = &name[QUEUE_PREFIX.len_utf8()..];
        let mut rest = bytes.as_slice();
        let mut index = 0u32;
        while !rest.is_empty() {
            let (shape, after) = rest.split_first_chunk::<SHAPE_LEN>()?;
            rest = after;
            let count = record::take_varint(&mut rest)?;
            // Each message takes at least its length byte.
            if count == 0 || count > rest.len() as u64 {
                return None;
            }
            for _ in 0..count {
                let body = record::take_slice(&mut rest)?;
                let message = [&shape[..], body].concat();
                let field = format!("{FLASH_PREFIX}{queue}{FLASH_SEPARATOR}{:016x}{index:08x}", 0);
                if fields.insert(field, message) {
                    return None;
                }
                index = index.checked_add(1)?;
            }
        }
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(shape: u8, body: &[u8]) -> Vec<u8> {
        [&[shape; SHAPE_LEN][..], body].concat()
    }

    #[test]
    fn queues_fold_into_one_field_each_and_unfold_in_order() {
        let mut fields = Fields::from([("m".to_owned(), vec![1, 2]), ("vx".to_owned(), vec![3])]);
        let messages = [message(1, b"a"), message(1, b"bc"), message(2, b""), message(1, b"d")];
        for (i, m) in messages.iter().enumerate() {
            fields.insert(format!("f_flash#{:016x}{i:08x}", 1_700_000_000_000_000_000u64), m.clone());
        }
        fields.insert(format!("fa#b#{:016x}{:08x}", 5, 0), message(3, b"x"));
        let bytes = encode_folded(&fields);
        let folded = record::decode(&bytes).unwrap();
        assert_eq!(folded.keys().collect::<Vec<_>>(), ["m", "q_flash", "qa#b", "vx"]);
        let back = unfold(folded).unwrap();
        let queue: Vec<&[u8]> = back.iter().filter(|(k, _)| k.starts_with("f_flash#")).map(|(_, v)| v).collect();
        assert_eq!(queue, messages.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert_eq!(back.get("fa#b#000000000000000000000000"), Some(&message(3, b"x")[..]));
        assert_eq!(back.len(), fields.len());
    }

    #[test]
    fn a_malformed_queue_is_refused() {
        for bad in
            [&[0u8; 7][..], &[[0u8; 8].as_slice(), &[0]].concat(), &[[0u8; 8].as_slice(), &[2, 1, b'a']].concat()]
        {
            let fields = Fields::from([("q_flash".to_owned(), bad.to_vec())]);
            assert_eq!(unfold(fields), None, "{bad:?}");
        }
    }
}
