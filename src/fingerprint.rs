//! FNV-1a: a tiny, stable hash for names and checks that must agree across builds and
//! platforms (std's hasher may change between releases). Not for secrets: where it is
//! applied to one (a refresh token), only the hash is kept, which reveals nothing useful.

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The low 32 bits as 8 hex digits: short enough for a marker comment.
pub fn short(bytes: &[u8]) -> String {
    format!("{:08x}", fnv1a(bytes) & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(short(b"a"), "8601ec8c");
    }
}
