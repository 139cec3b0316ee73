//! A fast hasher for the engine's own hash maps (document texts, object ids).

/// Word-at-a-time multiplicative hash for document texts: several times faster
/// than SipHash on megabytes of text. Not DoS-resistant, which is fine here:
/// collisions only cost time, and the per-call inputs are size-limited.
#[derive(Default)]
pub struct TextHasher(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

fn word(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap_or_default())
}

impl std::hash::Hasher for TextHasher {
    fn write(&mut self, mut bytes: &[u8]) {
        if bytes.len() >= 64 {
            // Four lanes for long texts: each multiply waits on the one before
            // it in its lane only, so the four overlap.
            let mut lanes = [self.0, self.0 ^ K, self.0.rotate_left(17), !self.0];
            let mut blocks = bytes.chunks_exact(32);
            for block in &mut blocks {
                for (lane, w) in lanes.iter_mut().zip(block.chunks_exact(8)) {
                    *lane = mix(*lane, word(w));
                }
            }
            self.0 = lanes.into_iter().fold(self.0, mix);
            bytes = blocks.remainder();
        }
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.0 = mix(self.0, word(c));
        }
        for &b in chunks.remainder() {
            self.0 = mix(self.0, u64::from(b));
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub type BuildTextHasher = std::hash::BuildHasherDefault<TextHasher>;
