//! The proxy-wasm serialized header map, read in place.
//!
//! A host hands over a whole header map as one buffer: a little-endian `u32`
//! count, then a `u32` name length and a `u32` value length per pair, then
//! every name and value, each followed by a NUL byte. The SDK copies each
//! name and value into its own `String` and `Vec` (two allocations per
//! header); reading them in place costs one allocation for the list of
//! slices, whatever the number of headers.

/// A header list borrowed from a serialized map: `(name, value)` pairs.
pub type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Reads a serialized map; `None` if the buffer is malformed.
pub fn parse(buf: &[u8]) -> Option<Pairs<'_>> {
    if buf.is_empty() {
        return Some(Vec::new());
    }
    let count = usize::try_from(read_u32(buf, 0)?).ok()?;
    let sizes_end = count.checked_mul(8)?.checked_add(4)?;
    if sizes_end > buf.len() {
        return None;
    }
    let mut pairs = Vec::with_capacity(count);
    let mut at = sizes_end;
    for i in 0..count {
        let name_len = usize::try_from(read_u32(buf, 4 + i * 8)?).ok()?;
        let value_len = usize::try_from(read_u32(buf, 8 + i * 8)?).ok()?;
        let name = buf.get(at..at.checked_add(name_len)?)?;
        at = at.checked_add(name_len)?.checked_add(1)?;
        let value = buf.get(at..at.checked_add(value_len)?)?;
        at = at.checked_add(value_len)?.checked_add(1)?;
        pairs.push((name, value));
    }
    Some(pairs)
}

/// Serializes a header list the way a host does (for tests and simulations).
pub fn serialize<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> Vec<u8> {
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    let mut out = Vec::new();
    out.extend_from_slice(&len(pairs.len()));
    for (name, value) in pairs {
        out.extend_from_slice(&len(name.as_ref().len()));
        out.extend_from_slice(&len(value.as_ref().len()));
    }
    for (name, value) in pairs {
        out.extend_from_slice(name.as_ref());
        out.push(0);
        out.extend_from_slice(value.as_ref());
        out.push(0);
    }
    out
}

/// Views an owned header list as borrowed pairs.
pub fn borrow<N: AsRef<[u8]>, V: AsRef<[u8]>>(list: &[(N, V)]) -> Pairs<'_> {
    list.iter().map(|(n, v)| (n.as_ref(), v.as_ref())).collect()
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_a_host_serializes() {
        let list = [
            (":method", &b"GET"[..]),
            ("origin", b"https://a.example"),
            ("x-bin", b"\xff\x00z"),
            ("empty", b""),
        ];
        let buf = serialize(&list);
        let pairs = parse(&buf).unwrap();
        let expected: Pairs<'_> = list.iter().map(|(n, v)| (n.as_bytes(), *v)).collect();
        assert_eq!(pairs, expected);
        assert_eq!(parse(&[]).unwrap(), Vec::new());
    }

    #[test]
    fn malformed_buffers_are_refused_not_trusted() {
        let buf = serialize(&[("origin", "https://a.example")]);
        for cut in 0..buf.len() - 1 {
            if cut == 0 {
                continue;
            }
            assert_eq!(parse(&buf[..cut]), None, "cut at {cut}");
        }
        let mut huge = buf.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&huge), None);
        let mut long_name = buf;
        long_name[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&long_name), None);
    }
}
