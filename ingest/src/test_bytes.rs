//! Hostile bytes for the tests that feed them through a parser or a session: a
//! xorshift32 generator, the same bytes every run and no dependency.

/// A deterministic source of pseudo-random bytes (xorshift32; `seed` must not be 0).
pub(crate) struct HostileBytes(u32);

impl HostileBytes {
    pub(crate) fn new(seed: u32) -> HostileBytes {
        HostileBytes(seed)
    }

    /// The next `len` bytes: the low byte of each xorshift32 step.
    pub(crate) fn take(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                let x = &mut self.0;
                *x ^= *x << 13;
                *x ^= *x >> 17;
                *x ^= *x << 5;
                *x as u8
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::HostileBytes;

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let a = HostileBytes::new(0x1234_5678).take(32);
        assert_eq!(a, HostileBytes::new(0x1234_5678).take(32));
        assert_ne!(a, HostileBytes::new(0x2545_f491).take(32));
        // The first xorshift32 step of 1 is 270369 (0x42021): its low byte.
        assert_eq!(HostileBytes::new(1).take(1), [0x21]);
    }
}
