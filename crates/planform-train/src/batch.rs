//! Collating prepared sequences into the padded tensors of a model family.
//!
//! - Encoder–decoder: encoder `bos prompt eos`, decoder input `bos response` without its
//!   last token, targets the response.
//! - Decoder-only: one sequence `bos prompt response`; input without its last token,
//!   targets shifted by one; the prompt positions carry no loss (masks 0).

use planform_model::{Family, ModelInput};
use tch::{Device, Tensor};

use crate::data::Prepared;
use crate::error::Result;

/// Padding token id (`bos` = 0 = pad, as the reference).
pub const PAD_ID: i64 = 0;

/// A padded micro-batch on a device.
#[derive(Debug)]
pub struct Batch {
    /// The model's input.
    pub input: ModelInput,
    /// Targets: `[B, T]` int64 (padding 0, masked out).
    pub targets: Tensor,
    /// 1.0 where the target is a reasoning token: `[B, T]` float.
    pub trace_mask: Tensor,
    /// 1.0 where the target is a plan token or the final `eos`: `[B, T]` float.
    pub plan_mask: Tensor,
    /// Number of sequences `B`.
    pub rows: usize,
    /// Real encoder + decoder tokens.
    pub real_tokens: usize,
    /// Allocated slots (`B × (Lp + Ld)`, resp. `B × L`).
    pub padded_tokens: usize,
    /// Target tokens that carry loss (Σ over rows of decoder length − 1).
    pub target_tokens: usize,
}

impl Batch {
    /// Pads `seqs` (at least one) for `family` and moves them to `device`.
    pub fn collate(seqs: &[Prepared], family: Family, device: Device) -> Result<Batch> {
        match family {
            Family::EncoderDecoder => Self::collate_encoder_decoder(seqs, device),
            Family::DecoderOnly => Self::collate_decoder_only(seqs, device),
        }
    }

    /// Decoder-only: sequence `bos prompt response` = `enc[..len-1] ++ dec[1..]`. The target
    /// at index `j` predicts sequence token `j + 1`; response token `k` (0-based, `dec[1+k]`)
    /// sits at sequence index `P + 1 + k` (`P` prompt tokens), so it is target `P + k`, trace
    /// iff `1 + k < plan_start`.
    fn collate_decoder_only(seqs: &[Prepared], device: Device) -> Result<Batch> {
        let b = seqs.len();
        let full = |s: &Prepared| s.enc.len() - 1 + s.dec.len() - 1;
        let l = seqs.iter().map(full).max().unwrap_or(1);
        let lt = l.saturating_sub(1);
        let mut ids = vec![PAD_ID; b * lt];
        let mut targets = vec![PAD_ID; b * lt];
        let mut trace = vec![0f32; b * lt];
        let mut plan = vec![0f32; b * lt];
        let (mut real, mut target_tokens) = (0, 0);
        for (r, s) in seqs.iter().enumerate() {
            let seq: Vec<u32> = s.enc[..s.enc.len() - 1]
                .iter()
                .chain(&s.dec[1..])
                .copied()
                .collect();
            let p = s.enc.len() - 2;
            for j in 0..seq.len() - 1 {
                ids[r * lt + j] = seq[j] as i64;
                targets[r * lt + j] = seq[j + 1] as i64;
                if j >= p {
                    let k = j - p;
                    if 1 + k < s.plan_start {
                        trace[r * lt + j] = 1.0;
                    } else {
                        plan[r * lt + j] = 1.0;
                    }
                }
            }
            real += seq.len();
            target_tokens += s.dec.len() - 1;
        }
        let (bi, lti) = (b as i64, lt as i64);
        let to = |t: Tensor| t.f_view([bi, lti]).and_then(|t| t.f_to_device(device));
        Ok(Batch {
            input: ModelInput::DecoderOnly {
                ids: to(Tensor::from_slice(&ids))?,
            },
            targets: to(Tensor::from_slice(&targets))?,
            trace_mask: to(Tensor::from_slice(&trace))?,
            plan_mask: to(Tensor::from_slice(&plan))?,
            rows: b,
            real_tokens: real,
            padded_tokens: b * l,
            target_tokens,
        })
    }

    /// Encoder–decoder. Masks follow the reference's `BatchedAStarTrace.from_sequence`: with
    /// `s` the plan start, positions `< s` of the decoder sequence are trace, `s..len` plan;
    /// after dropping `bos` (shift by one) the target at index `j` is trace iff `j + 1 < s`.
    fn collate_encoder_decoder(seqs: &[Prepared], device: Device) -> Result<Batch> {
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
            input: ModelInput::EncoderDecoder {
                enc_ids: to(Tensor::from_slice(&enc), [bi, lpi])?,
                enc_mask: to(Tensor::from_slice(&mask), [bi, lpi])?,
                dec_in: to(Tensor::from_slice(&dec_in), [bi, lti])?,
            },
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

    /// A: prompt [5], reasoning [7, 8], plan [9]; B: prompt [5, 6], plan [9, 9].
    fn two_sequences() -> [Prepared; 2] {
        [
            Prepared {
                enc: vec![0, 5, 1],
                dec: vec![0, 7, 8, 9, 1],
                plan_start: 3,
            },
            Prepared {
                enc: vec![0, 5, 6, 1],
                dec: vec![0, 9, 9, 1],
                plan_start: 1,
            },
        ]
    }

    #[test]
    fn collate_pads_and_masks_like_the_reference() {
        // Sequence A: prompt [5], reasoning [7, 8], plan [9]; B: prompt [5, 6], plan [9, 9].
        let [a, b] = two_sequences();
        let batch = Batch::collate(&[a, b], Family::EncoderDecoder, Device::Cpu).unwrap();
        let v = |t: &Tensor| Vec::<i64>::try_from(t.flatten(0, -1)).unwrap();
        let f = |t: &Tensor| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
        let ModelInput::EncoderDecoder {
            enc_ids,
            enc_mask,
            dec_in,
        } = &batch.input
        else {
            panic!("encoder-decoder input expected")
        };
        assert_eq!(v(enc_ids), vec![0, 5, 1, 0, 0, 5, 6, 1]);
        assert_eq!(
            Vec::<bool>::try_from(enc_mask.flatten(0, -1)).unwrap(),
            vec![true, true, true, false, true, true, true, true]
        );
        assert_eq!(v(dec_in), vec![0, 7, 8, 9, 0, 9, 9, 0]);
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
        let kinds = [enc_ids.kind(), enc_mask.kind(), batch.trace_mask.kind()];
        assert_eq!(kinds, [Kind::Int64, Kind::Bool, Kind::Float]);
    }

    #[test]
    fn decoder_only_sequences_put_the_loss_on_the_response() {
        // Same sequences as above, worked by hand:
        // A: bos 5 | 7 8 9 eos  -> input [0,5,7,8,9], targets [5,7,8,9,1]
        //    response targets at indices 1..5: 7,8 trace (dec 1,2 < plan_start 3), 9,eos plan.
        // B: bos 5 6 | 9 9 eos  -> input [0,5,6,9,9], targets [5,6,9,9,1], plan at 2..5.
        let [a, b] = two_sequences();
        let batch = Batch::collate(&[a, b], Family::DecoderOnly, Device::Cpu).unwrap();
        let v = |t: &Tensor| Vec::<i64>::try_from(t.flatten(0, -1)).unwrap();
        let f = |t: &Tensor| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
        let ModelInput::DecoderOnly { ids } = &batch.input else {
            panic!("decoder-only input expected")
        };
        assert_eq!(v(ids), vec![0, 5, 7, 8, 9, 0, 5, 6, 9, 9]);
        assert_eq!(v(&batch.targets), vec![5, 7, 8, 9, 1, 5, 6, 9, 9, 1]);
        assert_eq!(
            f(&batch.trace_mask),
            vec![0., 1., 1., 0., 0., 0., 0., 0., 0., 0.]
        );
        assert_eq!(
            f(&batch.plan_mask),
            vec![0., 0., 0., 1., 1., 0., 0., 1., 1., 1.]
        );
        // Real tokens 6 + 6, slots 2 × 6, the same 7 loss targets as the encoder–decoder.
        assert_eq!(
            (
                batch.rows,
                batch.real_tokens,
                batch.padded_tokens,
                batch.target_tokens
            ),
            (2, 12, 12, 7)
        );
    }
}
