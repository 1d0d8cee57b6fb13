//! Batching as the reference collator (`dataset.py: MyCollator`): rows are left-padded so
//! that every row's first continuous thought falls in the same column (which lets one
//! single-column pass per thought serve the whole batch), then right-padded to the longest.
//! Padding is masked out of attention with `key_keep` and out of the loss with `-100`.
//!
//! Position ids: the reference gives left-pad positions id 0 and real tokens `0..len`. The
//! decoder-only model uses rotary embeddings only, whose attention scores depend on
//! position *differences*, so a row shifted right by its left padding computes the same
//! values (tested to float rounding against the same row alone): no explicit positions
//! are needed.

use tch::{Device, Kind, Tensor};

use crate::layout::{Sequence, IGNORE};

/// How rows are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// The first continuous thought of every row that has one in one column (training).
    FirstLatent,
    /// Every row ends in the last column (decoding; rows must have equal thought counts
    /// for their thoughts to align too).
    End,
}

/// A padded batch.
#[derive(Debug)]
pub struct Batch {
    /// `[B, T]` int64 ids (padding = `pad`).
    pub ids: Tensor,
    /// `[B, T]` int64 labels (`-100` at padding).
    pub labels: Tensor,
    /// `[B, T]` bool, `true` at real tokens.
    pub keep: Tensor,
    /// Column of the first continuous thought (the same in every row that has one).
    pub first_latent: Option<i64>,
    /// Continuous thoughts per row.
    pub latents: Vec<i64>,
    /// Left padding per row.
    pub left_pad: Vec<usize>,
    /// Real tokens per row.
    pub lengths: Vec<usize>,
    /// Columns `T`.
    pub width: usize,
}

impl Batch {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.lengths.len()
    }

    /// The most thoughts of a row.
    pub fn max_latents(&self) -> i64 {
        self.latents.iter().copied().max().unwrap_or(0)
    }
}

/// Pads `seqs` into a batch on `device`.
pub fn collate(seqs: &[Sequence], pad: i64, align: Align, device: Device) -> Batch {
    let lengths: Vec<usize> = seqs.iter().map(|s| s.ids.len()).collect();
    let latents: Vec<i64> = seqs.iter().map(|s| s.latents() as i64).collect();
    let left_pad: Vec<usize> = match align {
        Align::FirstLatent => {
            let firsts: Vec<Option<usize>> = seqs
                .iter()
                .map(|s| s.first_slot.filter(|_| s.latents() > 0))
                .collect();
            let latest = firsts.iter().flatten().copied().max().unwrap_or(0);
            firsts.iter().map(|f| f.map_or(0, |f| latest - f)).collect()
        }
        Align::End => {
            let longest = lengths.iter().copied().max().unwrap_or(0);
            lengths.iter().map(|&l| longest - l).collect()
        }
    };
    let width = lengths
        .iter()
        .zip(&left_pad)
        .map(|(l, p)| l + p)
        .max()
        .unwrap_or(0);
    let b = seqs.len();
    let mut ids = vec![pad; b * width];
    let mut labels = vec![IGNORE; b * width];
    let mut keep = vec![false; b * width];
    for (r, s) in seqs.iter().enumerate() {
        let base = r * width + left_pad[r];
        ids[base..base + s.ids.len()].copy_from_slice(&s.ids);
        labels[base..base + s.ids.len()].copy_from_slice(&s.labels);
        keep[base..base + s.ids.len()].fill(true);
    }
    let first_latent = seqs
        .iter()
        .zip(&left_pad)
        .filter(|(s, _)| s.latents() > 0)
        .filter_map(|(s, p)| s.first_slot.map(|f| (f + p) as i64))
        .next();
    let shape = [b as i64, width as i64];
    Batch {
        ids: Tensor::from_slice(&ids).view(shape).to(device),
        labels: Tensor::from_slice(&labels).view(shape).to(device),
        keep: Tensor::from_slice(&keep)
            .view(shape)
            .to_kind(Kind::Bool)
            .to(device),
        first_latent,
        latents,
        left_pad,
        lengths,
        width,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(ids: Vec<i64>, first: Option<usize>, slots: usize) -> Sequence {
        Sequence {
            labels: ids.clone(),
            ids,
            first_slot: first,
            slots,
            continuous: true,
        }
    }

    #[test]
    fn first_thoughts_share_a_column() {
        // As the reference collator's docstring: xxxx<l><l>xx / --xx<l>xxxx / xxxxxxx.
        let a = seq(vec![1, 2, 3, 4, 9, 9, 5, 6], Some(4), 2);
        let b = seq(vec![1, 2, 9, 3, 4, 5, 6], Some(2), 1);
        let c = seq(vec![1, 2, 3, 4, 5, 6, 7], None, 0);
        let batch = collate(&[a, b, c], 0, Align::FirstLatent, Device::Cpu);
        assert_eq!(batch.left_pad, vec![0, 2, 0]);
        assert_eq!(batch.first_latent, Some(4));
        assert_eq!(batch.width, 9);
        assert_eq!(batch.latents, vec![2, 1, 0]);
        let ids: Vec<i64> = Vec::try_from(batch.ids.view([-1])).unwrap();
        assert_eq!(&ids[9..18], &[0, 0, 1, 2, 9, 3, 4, 5, 6]);
        let labels: Vec<i64> = Vec::try_from(batch.labels.view([-1])).unwrap();
        assert_eq!(&labels[9..11], &[IGNORE, IGNORE]);
        assert_eq!(labels[8], IGNORE, "right padding is ignored");
        let keep: Vec<bool> = Vec::try_from(batch.keep.view([-1])).unwrap();
        assert_eq!(&keep[9..12], &[false, false, true]);
        let end = collate(
            &[seq(vec![1, 2], None, 0), seq(vec![3], None, 0)],
            0,
            Align::End,
            Device::Cpu,
        );
        assert_eq!(end.left_pad, vec![0, 1]);
    }
}
