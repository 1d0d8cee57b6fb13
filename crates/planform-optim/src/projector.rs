//! GaLore's projector ([`Projector`]): the SVD of the current gradient every `T` steps, the
//! side chosen by shape (`std`, `reverse_std`, `left`, `right`, `full`), projection and
//! projection back; with Q-GaLore's options, an int4/int8 group-quantized projector and the
//! lazy layer-adaptive schedule (see [`crate::galore`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tch::{Kind, Tensor};

use crate::algorithm::ProjType;
use crate::quant::{uniforms, GroupQuant, Rounding};
use crate::{OptimError, Result};

/// Which side a projector compresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `P` from `U` (`m×r`): `R = Pᵀ G` (`r×n`).
    Left,
    /// `P` from `Vᵀ` (`r×n`): `R = G Pᵀ` (`m×r`).
    Right,
    /// Both: `R = U_rᵀ G V_rᵀ` (`r×r`).
    Both,
}

impl ProjType {
    /// The side for a gradient of shape `m×n` (the reference decides by the current shape).
    pub fn side(self, m: i64, n: i64) -> Side {
        match self {
            ProjType::Std if m >= n => Side::Right,
            ProjType::Std => Side::Left,
            ProjType::ReverseStd if m >= n => Side::Left,
            ProjType::ReverseStd => Side::Right,
            ProjType::Left => Side::Left,
            ProjType::Right => Side::Right,
            ProjType::Full => Side::Both,
        }
    }
}

/// Q-GaLore's lazy subspace-update rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lazy {
    /// Mean cosine similarity at or above which the gap grows.
    pub cos_threshold: f64,
    /// Gap multiplier (`int(gap · gamma)`).
    pub gamma: f64,
    /// Similarities averaged.
    pub queue_size: usize,
}

/// A quantized projector's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjQuant {
    /// Bits (4 or 8).
    pub bits: u32,
    /// Group size.
    pub group: usize,
}

/// A shared budget of real SVDs for memory measurements: once spent, projectors are the
/// orthonormalized (QR) seeded random matrices of the same shape and dtype — the optimizer
/// state is identical in size, the values are not GaLore's. Only `bench memory` uses it.
#[derive(Debug, Default)]
pub struct SvdBudget {
    /// Real SVDs still allowed.
    pub left: AtomicU64,
    /// Stand-in projectors made.
    pub stand_ins: AtomicU64,
}

#[derive(Debug)]
enum ProjMat {
    Float(Tensor),
    Quant(GroupQuant),
    Both(Tensor, Tensor),
}

/// One parameter's GaLore projector and its schedule.
#[derive(Debug)]
pub struct Projector {
    rank: usize,
    proj_type: ProjType,
    gap: u64,
    quant: Option<ProjQuant>,
    lazy: Option<Lazy>,
    side: Option<Side>,
    mat: Option<ProjMat>,
    queue: VecDeque<f64>,
    past: Option<Tensor>,
    svd_count: u64,
    svd_steps: Vec<u64>,
    budget: Option<Arc<SvdBudget>>,
    key: u64,
}

/// An owned copy of `t` as `kind` (so that no view keeps a larger tensor alive).
fn owned(t: &Tensor, kind: Kind) -> Result<Tensor> {
    let mut out = Tensor::f_empty(t.size(), (kind, t.device()))?;
    out.f_copy_(t)?;
    Ok(out)
}

impl Projector {
    /// A projector of rank `rank` updated every `gap` steps; `key` seeds stand-in projectors.
    pub fn new(
        rank: usize,
        proj_type: ProjType,
        gap: u64,
        quant: Option<ProjQuant>,
        lazy: Option<Lazy>,
        key: u64,
    ) -> Self {
        Projector {
            rank,
            proj_type,
            gap: gap.max(1),
            quant,
            lazy,
            side: None,
            mat: None,
            queue: VecDeque::new(),
            past: None,
            svd_count: 0,
            svd_steps: Vec::new(),
            budget: None,
            key,
        }
    }

    /// Shares a budget of real SVDs (memory measurements only).
    pub fn set_budget(&mut self, budget: Option<Arc<SvdBudget>>) {
        self.budget = budget;
    }

    /// Current gap `T`.
    pub fn gap(&self) -> u64 {
        self.gap
    }

    /// Subspace computations (SVDs) so far.
    pub fn svd_count(&self) -> u64 {
        self.svd_count
    }

    /// The steps at which the subspace was computed.
    pub fn svd_steps(&self) -> &[u64] {
        &self.svd_steps
    }

    /// The side in use (after the first projection).
    pub fn side(&self) -> Option<Side> {
        self.side
    }

    /// Recomputes the projector from `g` if none exists or `t % T == 0`; returns whether it
    /// was recomputed.
    pub fn maybe_update(&mut self, g: &Tensor, t: u64) -> Result<bool> {
        if self.mat.is_some() && t % self.gap != 0 {
            return Ok(false);
        }
        self.update(g, t)?;
        Ok(true)
    }

    /// `(U[:, :r], Vᵀ[:r, :])` of `g` in f32 (owned copies), or stand-ins once the budget is
    /// spent.
    fn factors(
        &mut self,
        g: &Tensor,
        side: Side,
        r: i64,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (m, n) = (g.size()[0], g.size()[1]);
        let real = match &self.budget {
            None => true,
            Some(b) => b
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |x| x.checked_sub(1))
                .is_ok(),
        };
        let want_u = side != Side::Right;
        let want_v = side != Side::Left;
        if real {
            let (u, _s, v) = g.f_to_kind(Kind::Float)?.f_svd(true, true)?;
            let vh = v.f_transpose(0, 1)?;
            let u = want_u
                .then(|| owned(&u.narrow(1, 0, r), Kind::Float))
                .transpose()?;
            let vh = want_v
                .then(|| owned(&vh.narrow(0, 0, r), Kind::Float))
                .transpose()?;
            return Ok((u, vh));
        }
        if let Some(b) = &self.budget {
            b.stand_ins.fetch_add(1, Ordering::SeqCst);
        }
        let ortho = |rows: i64, salt: u64| -> Result<Tensor> {
            let x = uniforms(
                &[self.key, salt, self.svd_count],
                (rows * r) as usize,
                g.device(),
            )?
            .f_sub_scalar(0.5)?
            .f_view([rows, r])?;
            let (q, _) = Tensor::f_linalg_qr(&x, "reduced")?;
            owned(&q, Kind::Float)
        };
        let u = want_u.then(|| ortho(m, 1)).transpose()?;
        let vh = want_v
            .then(|| -> Result<Tensor> { owned(&ortho(n, 2)?.f_transpose(0, 1)?, Kind::Float) })
            .transpose()?;
        Ok((u, vh))
    }

    fn update(&mut self, g: &Tensor, t: u64) -> Result<()> {
        let size = g.size();
        let (m, n) = (size[0], size[1]);
        let side = self.proj_type.side(m, n);
        let r = (self.rank as i64).min(m.min(n));
        let (u, vh) = self.factors(g, side, r)?;
        let kind = g.kind();
        self.svd_count += 1;
        self.svd_steps.push(t);
        let (p, first) = match side {
            Side::Right => {
                let p = vh.ok_or_else(|| OptimError::Config("missing Vᵀ".into()))?;
                let first = p.f_get(0)?;
                (p, first)
            }
            Side::Left => {
                let p = u.ok_or_else(|| OptimError::Config("missing U".into()))?;
                let first = p.f_select(1, 0)?;
                (p, first)
            }
            Side::Both => {
                let (u, vh) = match (u, vh) {
                    (Some(u), Some(vh)) => (u, vh),
                    _ => return Err(OptimError::Config("missing U or Vᵀ".into())),
                };
                self.side = Some(side);
                self.mat = Some(ProjMat::Both(owned(&u, kind)?, owned(&vh, kind)?));
                return Ok(());
            }
        };
        if let Some(lazy) = self.lazy {
            let first = owned(&first, Kind::Float)?;
            if let Some(past) = &self.past {
                let cos = Tensor::f_cosine_similarity(past, &first, 0, 1e-8)?.f_double_value(&[])?;
                if self.queue.len() == lazy.queue_size {
                    self.queue.pop_front();
                }
                self.queue.push_back(cos);
                let mean = self.queue.iter().sum::<f64>() / lazy.queue_size as f64;
                if self.queue.len() == lazy.queue_size && mean >= lazy.cos_threshold {
                    self.gap = ((self.gap as f64 * lazy.gamma) as u64).max(1);
                }
            }
            self.past = Some(first);
        }
        self.side = Some(side);
        self.mat = Some(match self.quant {
            Some(q) => ProjMat::Quant(GroupQuant::quantize(
                &p,
                q.bits,
                q.group,
                Rounding::Nearest,
                None,
            )?),
            None => ProjMat::Float(owned(&p, kind)?),
        });
        Ok(())
    }

    fn dense(&self, kind: Kind) -> Result<Tensor> {
        match &self.mat {
            Some(ProjMat::Float(p)) => Ok(p.f_to_kind(kind)?),
            Some(ProjMat::Quant(q)) => q.dequantize(kind),
            _ => Err(OptimError::Config("projector used before it exists".into())),
        }
    }

    /// The low-rank gradient `R`.
    pub fn project(&self, g: &Tensor) -> Result<Tensor> {
        match (self.side, &self.mat) {
            (Some(Side::Both), Some(ProjMat::Both(u, vh))) => Ok(u
                .f_transpose(0, 1)?
                .f_matmul(g)?
                .f_matmul(&vh.f_transpose(0, 1)?)?),
            (Some(Side::Right), _) => Ok(g.f_matmul(&self.dense(g.kind())?.f_transpose(0, 1)?)?),
            (Some(Side::Left), _) => Ok(self.dense(g.kind())?.f_transpose(0, 1)?.f_matmul(g)?),
            _ => Err(OptimError::Config("projector used before it exists".into())),
        }
    }

    /// `back(N)` (without the scale).
    pub fn project_back(&self, low: &Tensor) -> Result<Tensor> {
        match (self.side, &self.mat) {
            (Some(Side::Both), Some(ProjMat::Both(u, vh))) => Ok(u.f_matmul(low)?.f_matmul(vh)?),
            (Some(Side::Right), _) => Ok(low.f_matmul(&self.dense(low.kind())?)?),
            (Some(Side::Left), _) => Ok(self.dense(low.kind())?.f_matmul(low)?),
            _ => Err(OptimError::Config("projector used before it exists".into())),
        }
    }

    /// The shape of `R` for a weight of `shape`.
    pub fn low_rank_shape(&self, shape: &[i64]) -> Option<Vec<i64>> {
        let (m, n) = (shape[0], shape[1]);
        let r = (self.rank as i64).min(m.min(n));
        Some(match self.side? {
            Side::Right => vec![m, r],
            Side::Left => vec![r, n],
            Side::Both => vec![r, r],
        })
    }

    /// Bytes held (projector and, with the lazy rule, the previous first singular vector).
    pub fn bytes(&self) -> usize {
        let t = |t: &Tensor| t.numel() * t.kind().elt_size_in_bytes();
        let mat = match &self.mat {
            None => 0,
            Some(ProjMat::Float(p)) => t(p),
            Some(ProjMat::Quant(q)) => q.bytes(),
            Some(ProjMat::Both(u, v)) => t(u) + t(v),
        };
        mat + self.past.as_ref().map_or(0, t)
    }

    pub(crate) fn state(&self) -> Vec<(&'static str, Tensor)> {
        let mut out = Vec::new();
        match &self.mat {
            None => return out,
            Some(ProjMat::Float(p)) => out.push(("projector", p.shallow_clone())),
            Some(ProjMat::Quant(q)) => {
                out.push(("projector.codes", q.codes.shallow_clone()));
                out.push(("projector.scales", q.scales.shallow_clone()));
                out.push(("projector.zeros", q.zeros.shallow_clone()));
            }
            Some(ProjMat::Both(u, v)) => {
                out.push(("projector.u", u.shallow_clone()));
                out.push(("projector.vh", v.shallow_clone()));
            }
        }
        let queue: Vec<f64> = self.queue.iter().copied().collect();
        out.push(("galore.gap", Tensor::from(self.gap as i64)));
        out.push(("galore.svd_count", Tensor::from(self.svd_count as i64)));
        out.push(("galore.queue", Tensor::from_slice(&queue)));
        if let Some(p) = &self.past {
            out.push(("galore.past", p.shallow_clone()));
        }
        out
    }

    pub(crate) fn load(
        &mut self,
        param: &Tensor,
        tensors: &mut BTreeMap<&'static str, Tensor>,
    ) -> std::result::Result<bool, String> {
        let shape = param.size();
        let (m, n) = (shape[0], shape[1]);
        let side = self.proj_type.side(m, n);
        let r = (self.rank as i64).min(m.min(n));
        let dev = param.device();
        let mut take = |k: &str| tensors.remove(k).map(|t| t.to_device(dev));
        let float = take("projector");
        let quant = (
            take("projector.codes"),
            take("projector.scales"),
            take("projector.zeros"),
        );
        let both = (take("projector.u"), take("projector.vh"));
        let (gap, count, queue, past) = (
            take("galore.gap"),
            take("galore.svd_count"),
            take("galore.queue"),
            take("galore.past"),
        );
        let p_shape = match side {
            Side::Right => vec![r, n],
            Side::Left => vec![m, r],
            Side::Both => vec![],
        };
        let mat = match (float, quant, both, self.quant) {
            (None, (None, None, None), (None, None), _) => return Ok(false),
            (Some(p), (None, None, None), (None, None), None) if side != Side::Both => {
                if p.size() != p_shape {
                    return Err(format!("projector is {:?}, expected {p_shape:?}", p.size()));
                }
                ProjMat::Float(p)
            }
            (None, (Some(c), Some(s), Some(z)), (None, None), Some(q)) if side != Side::Both => {
                ProjMat::Quant(GroupQuant::from_parts(c, s, z, &p_shape, q.bits, q.group)?)
            }
            (None, (None, None, None), (Some(u), Some(v)), None) if side == Side::Both => {
                if u.size() != [m, r] || v.size() != [r, n] {
                    return Err("two-sided projector of the wrong shape".into());
                }
                ProjMat::Both(u, v)
            }
            _ => return Err("projector saved in another format".into()),
        };
        let int = |t: Option<Tensor>, what: &str| -> std::result::Result<u64, String> {
            t.filter(|t| t.numel() == 1 && t.kind() == Kind::Int64)
                .map(|t| t.int64_value(&[]).max(0) as u64)
                .ok_or_else(|| format!("{what} missing"))
        };
        self.gap = int(gap, "galore.gap")?.max(1);
        self.svd_count = int(count, "galore.svd_count")?;
        let queue = queue.ok_or("galore.queue missing")?;
        self.queue = Vec::<f64>::try_from(&queue.to_kind(Kind::Double))
            .map_err(|e| e.to_string())?
            .into();
        self.past = past;
        self.side = Some(side);
        self.mat = Some(mat);
        Ok(true)
    }
}

/// State keys of [`Projector`].
pub(crate) const PROJ_KEYS: [&str; 10] = [
    "projector",
    "projector.codes",
    "projector.scales",
    "projector.zeros",
    "projector.u",
    "projector.vh",
    "galore.gap",
    "galore.svd_count",
    "galore.queue",
    "galore.past",
];
