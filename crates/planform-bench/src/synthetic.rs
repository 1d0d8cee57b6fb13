//! Synthetic training sequences of fixed lengths.

use planform_core::rng::Rng;
use planform_train::data::Prepared;

/// `rows` random sequences: encoder `[0, ids…, 1]` of `enc_len` tokens and decoder
/// `[0, ids…, 1]` of `dec_len` tokens (`bos` = 0, `eos` = 1, ids uniform in `2..vocab`),
/// plan starting at `dec_len / 2`. Deterministic in `seed`.
pub fn synthetic_sequences(
    vocab: usize,
    rows: usize,
    enc_len: usize,
    dec_len: usize,
    seed: u64,
) -> Vec<Prepared> {
    let mut rng = Rng::new(seed);
    let span = vocab.saturating_sub(2).max(1) as u64;
    let mut tok = |n: usize| -> Vec<u32> {
        let mut v = vec![0u32];
        v.extend((0..n.saturating_sub(2)).map(|_| 2 + rng.below(span) as u32));
        v.push(1);
        v
    };
    (0..rows)
        .map(|_| {
            let enc = tok(enc_len);
            let dec = tok(dec_len);
            Prepared {
                enc,
                dec,
                plan_start: dec_len / 2,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_have_the_lengths_and_framing_asked_for() {
        let s = synthetic_sequences(118, 3, 20, 50, 7);
        assert_eq!(s.len(), 3);
        for p in &s {
            assert_eq!((p.enc.len(), p.dec.len(), p.plan_start), (20, 50, 25));
            assert_eq!((p.enc[0], p.enc[19], p.dec[0], p.dec[49]), (0, 1, 0, 1));
            assert!(p.enc[1..19]
                .iter()
                .chain(&p.dec[1..49])
                .all(|&t| (2..118).contains(&t)));
        }
        assert_eq!(s, synthetic_sequences(118, 3, 20, 50, 7));
        assert_ne!(s, synthetic_sequences(118, 3, 20, 50, 8));
    }
}
