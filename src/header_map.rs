//! The proxy-wasm serialized header map, read in place.
//!
//! A host hands over a whole header map as one buffer: a little-endian `u32`
//! count, then a `u32` name length and a `u32` value length per pair, then
//! every name and value, each followed by a NUL byte. The SDK copies each
//! name and value into its own `String` and `Vec` (two allocations per
//! header); reading them in place, as [`pairs`] does, costs none.

/// A header list borrowed from a serialized map: `(name, value)` pairs.
pub type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Reads a serialized map; `None` if the buffer is malformed.
pub fn parse(buf: &[u8]) -> Option<Pairs<'_>> {
    let mut iter = pairs(buf)?;
    let list = iter.by_ref().collect();
    iter.is_whole().then_some(list)
}

/// The pairs of a serialized map, borrowed in place and without collecting
/// them (the filter looks at each header once). Bounds are checked as the
/// pairs are read, in one pass: a malformed buffer ends the iteration early,
/// and [`PairIter::is_whole`] then says so. `None` if even the count and the
/// size table do not fit.
pub fn pairs(buf: &[u8]) -> Option<PairIter<'_>> {
    if buf.is_empty() {
        return Some(PairIter {
            buf,
            count: 0,
            next: 0,
            at: 0,
            broken: false,
        });
    }
    let count = usize::try_from(read_u32(buf, 0)?).ok()?;
    let sizes_end = count.checked_mul(8)?.checked_add(4)?;
    if sizes_end > buf.len() {
        return None;
    }
    Some(PairIter {
        buf,
        count,
        next: 0,
        at: sizes_end,
        broken: false,
    })
}

/// The pairs of a serialized map ([`pairs`]).
#[derive(Debug, Clone)]
pub struct PairIter<'a> {
    buf: &'a [u8],
    count: usize,
    next: usize,
    at: usize,
    broken: bool,
}

impl PairIter<'_> {
    /// After the iteration: true when every pair the map announced was read,
    /// false when the buffer ended or was malformed before.
    pub fn is_whole(&self) -> bool {
        !self.broken && self.next == self.count
    }

    fn read(&mut self) -> Option<(usize, usize, usize)> {
        let sizes = self.buf.get(4 + self.next * 8..12 + self.next * 8)?;
        let (name_len, value_len) = sizes.split_at(4);
        let name_len = usize::try_from(u32::from_le_bytes(name_len.try_into().ok()?)).ok()?;
        let value_len = usize::try_from(u32::from_le_bytes(value_len.try_into().ok()?)).ok()?;
        let value_at = self.at.checked_add(name_len)?.checked_add(1)?;
        let end = value_at.checked_add(value_len)?;
        // Each name and value is followed by a NUL byte.
        (end < self.buf.len()).then_some((name_len, value_at, end))
    }
}

impl<'a> Iterator for PairIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.count || self.broken {
            return None;
        }
        let Some((name_len, value_at, end)) = self.read() else {
            self.broken = true;
            return None;
        };
        let (name, value) = match (self.buf.get(self.at..self.at + name_len), self.buf.get(value_at..end)) {
            (Some(name), Some(value)) => (name, value),
            _ => {
                self.broken = true;
                return None;
            }
        };
        self.at = end + 1;
        self.next += 1;
        Some((name, value))
    }
}

/// Serializes a header list the way a host does (for tests and simulations).
pub fn serialize<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(N, V)]) -> Vec<u8> {
    let mut out = Vec::new();
    serialize_into(pairs, &mut out);
    out
}

/// [`serialize`] into `out`, replacing what it held: a buffer kept from one
/// call to the next allocates no more once it is large enough.
pub fn serialize_into<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(N, V)], out: &mut Vec<u8>) {
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    out.clear();
    out.reserve(
        4 + pairs
            .iter()
            .map(|(n, v)| n.as_ref().len() + v.as_ref().len() + 10)
            .sum::<usize>(),
    );
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
    fn the_pairs_are_yielded_in_place_in_order() {
        let list = [("a", "1"), ("bb", ""), ("", "3")];
        let buf = serialize(&list);
        let got: Vec<_> = pairs(&buf).unwrap().collect();
        let expected: Vec<(&[u8], &[u8])> = list.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
        assert_eq!(got, expected);
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
