//! Collating prepared sequences into padded tensors.

use tch::{Device, Tensor};

use crate::data::Prepared;
use crate::error::Result;

/// Padding token id (`bos` = 0 = pad, as the reference).
pub const PAD_ID: i64 = 0;

/// A padded micro-batch on a device.
#[derive(Debug)]
pub struct Batch {
    /// Encoder input `bos prompt eos`, right-padded with 0: `[B, Lp]` int64.
    pub enc_ids: Tensor,
    /// `true` at real encoder positions: `[B, Lp]` bool.
    pub enc_mask: Tensor,
    /// Decoder input = sequence without its last position: `[B, Ld − 1]` int64.
    pub dec_in: Tensor,
    /// Targets = sequence without `bos`: `[B, Ld − 1]` int64 (padding 0, masked out).
    pub targets: Tensor,
    /// 1.0 where the target is a reasoning token: `[B, Ld − 1]` float.
    pub trace_mask: Tensor,
    /// 1.0 where the target is a plan token or the final `eos`: `[B, Ld − 1]` float.
    pub plan_mask: Tensor,
    /// Number of sequences `B`.
    pub rows: usize,
    /// Real encoder + decoder tokens.
    pub real_tokens: usize,
    /// Allocated slots `B × (Lp + Ld)`.
    pub padded_tokens: usize,
    /// Target tokens that carry loss (Σ over rows of decoder length − 1).
    pub target_tokens: usize,
}

impl Batch {
    /// Pads `seqs` (at least one) and moves them to `device`.
    ///
    /// Masks follow the reference's `BatchedAStarTrace.from_sequence`: with `s` the plan
    /// start, positions `< s` of the decoder sequence are trace, `s..len` plan; after
    /// dropping `bos` (shift by one) the target at index `j` is trace iff `j + 1 < s`.
    pub fn collate(seqs: &[Prepared], device: Device) -> Result<Batch> {
        let b = seqs.len();
        let lp = seqs.iter().map(|s| s.enc.len()).max().unwrap_or(0);
        let ld = seqs.iter().map(|s| s.dec.len()).max().unwrap_or(0);
        let lt = ld.saturating_sub(1);
        let mut enc = vec![PAD_ID; b * lp];
        let mut mask = vec![false; b * lp];
        let mut dec_in = vec![PAD_ID; b * lt];
        let mut targets = vec![PAD_ID; b * lt];
        let mut trace = vec![0f32; b * lt];
        let mut plan = vec![0f32; b * lt];
        let (mut real, mut target_tokens) = (0, 0);
        for (r, s) in seqs.iter().enumerate() {
            for (j, &t) in s.enc.iter().enumerate() {
                enc[r * lp + j] = t as i64;
                mask[r * lp + j] = true;
            }
            let n = s.dec.len();
            for j in 0..n.saturating_sub(1) {
                dec_in[r * lt + j] = s.dec[j] as i64;
                targets[r * lt + j] = s.dec[j + 1] as i64;
                if j + 1 < s.plan_start {
                    trace[r * lt + j] = 1.0;
                } else {
                    plan[r * lt + j] = 1.0;
                }
            }
            real += s.enc.len() + n;
            target_tokens += n.saturating_sub(1);
        }
        let (bi, lpi, lti) = (b as i64, lp as i64, lt as i64);
        let to = |t: Tensor, shape: [i64; 2]| t.f_view(shape).and_then(|t| t.f_to_device(device));
        Ok(Batch {
            enc_ids: to(Tensor::from_slice(&enc), [bi, lpi])?,
            enc_mask: to(Tensor::from_slice(&mask), [bi, lpi])?,
            dec_in: to(Tensor::from_slice(&dec_in), [bi, lti])?,
            targets: to(Tensor::from_slice(&targets), [bi, lti])?,
            trace_mask: to(Tensor::from_slice(&trace), [bi, lti])?,
            plan_mask: to(Tensor::from_slice(&plan), [bi, lti])?,
            rows: b,
            real_tokens: real,
            padded_tokens: b * (lp + ld),
            target_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn collate_pads_and_masks_like_the_reference() {
        // Sequence A: prompt [5], reasoning [7, 8], plan [9]; B: prompt [5, 6], plan [9, 9].
        let a = Prepared {
            enc: vec![0, 5, 1],
            dec: vec![0, 7, 8, 9, 1],
            plan_start: 3,
        };
        let b = Prepared {
            enc: vec![0, 5, 6, 1],
            dec: vec![0, 9, 9, 1],
            plan_start: 1,
        };
        let batch = Batch::collate(&[a, b], Device::Cpu).unwrap();
        let v = |t: &Tensor| Vec::<i64>::try_from(t.flatten(0, -1)).unwrap();
        let f = |t: &Tensor| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
        assert_eq!(v(&batch.enc_ids), vec![0, 5, 1, 0, 0, 5, 6, 1]);
        assert_eq!(
            Vec::<bool>::try_from(batch.enc_mask.flatten(0, -1)).unwrap(),
            vec![true, true, true, false, true, true, true, true]
        );
        assert_eq!(v(&batch.dec_in), vec![0, 7, 8, 9, 0, 9, 9, 0]);
        assert_eq!(v(&batch.targets), vec![7, 8, 9, 1, 9, 9, 1, 0]);
        assert_eq!(f(&batch.trace_mask), vec![1., 1., 0., 0., 0., 0., 0., 0.]);
        assert_eq!(f(&batch.plan_mask), vec![0., 0., 1., 1., 1., 1., 1., 0.]);
        assert_eq!(
            (
                batch.rows,
                batch.real_tokens,
                batch.padded_tokens,
                batch.target_tokens
            ),
            (2, 16, 18, 7)
        );
        let kinds = [
            batch.enc_ids.kind(),
            batch.enc_mask.kind(),
            batch.trace_mask.kind(),
        ];
        assert_eq!(kinds, [Kind::Int64, Kind::Bool, Kind::Float]);
    }
}
