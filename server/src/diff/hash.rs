//! A fast hasher for the engine's own hash maps (document texts, object ids).

/// Word-at-a-time multiplicative hash for document texts: several times faster
/// than SipHash on megabytes of text. Not DoS-resistant, which is fine here:
/// collisions only cost time, and the per-call inputs are size-limited.
#[derive(Default)]
pub struct TextHasher(u64);

impl std::hash::Hasher for TextHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub type BuildTextHasher = std::hash::BuildHasherDefault<TextHasher>;
