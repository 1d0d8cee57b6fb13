//! Rotations: random orthogonal, random Hadamard, and learned by Cayley SGD on the Stiefel
//! manifold as SpinQuant's code does it (`train_utils/optimizer.py`, `SGDG` with
//! `stiefel=True`, adapted from JunLi-Galios/Optimization-on-Stiefel-Manifold-via-Cayley-
//! Transform).
//!
//! All randomness comes from [`planform_core::rng::Rng`] streams keyed by a seed, so the
//! same seed gives the same matrix on any machine. Matrices are `f64` on the CPU unless
//! converted by the caller.

use planform_core::rng::Rng;
use tch::{Device, Kind, Tensor};

use crate::error::{shape_err, QuantError, Result};
use crate::hadamard;

/// Key mixed into rotation seeds (so they never coincide with other streams of a seed).
const ROTATION_KEY: u64 = 0x0072_6f74_6174_6531; // "rotate1"

/// `n` standard normals (Box–Muller) from `rng`.
pub(crate) fn normals(rng: &mut Rng, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1 = 1.0 - rng.f64(); // (0, 1]
        let u2 = rng.f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push(r * t.cos());
        out.push(r * t.sin());
    }
    out.truncate(n);
    out
}

/// A Haar-random `n × n` orthogonal matrix: QR of a Gaussian matrix with the signs of R's
/// diagonal moved into Q (SpinQuant's `random_orthogonal_matrix`).
pub fn random_orthogonal(n: usize, seed: u64) -> Tensor {
    let mut rng = Rng::keyed(&[seed, ROTATION_KEY, 0, n as u64]);
    let g = Tensor::from_slice(&normals(&mut rng, n * n)).view([n as i64, n as i64]);
    let (q, r) = Tensor::linalg_qr(&g, "reduced");
    let signs = r.diagonal(0, 0, 1).sign();
    q * signs.unsqueeze(0)
}

/// A random Hadamard rotation `diag(s)·H/√n` with random signs `s` (SpinQuant's
/// `random_hadamard_matrix`, its R1/R2 initialisation); `n` as in [`hadamard::factor`].
pub fn random_hadamard(n: usize, seed: u64) -> Result<Tensor> {
    let mut rng = Rng::keyed(&[seed, ROTATION_KEY, 1, n as u64]);
    let s: Vec<f64> = (0..n)
        .map(|_| if rng.coin() { 1.0 } else { -1.0 })
        .collect();
    let d = Tensor::from_slice(&s).diag(0);
    hadamard::transform(&d)
}

/// `‖RᵀR − I‖_max`: how far `r` is from orthogonal.
pub fn orthogonality_error(r: &Tensor) -> f64 {
    let n = r.size()[1];
    let eye = Tensor::eye(n, (r.kind(), r.device()));
    (r.tr().matmul(r) - eye).abs().max().double_value(&[])
}

/// Cayley SGD on the Stiefel manifold for square rotations, the reference code's update:
///
/// ```text
/// X ← rows of R normalised; every ~1% of steps X ← QR retraction of X
/// V ← momentum·V − Gᵀ
/// Ŵ = V·X − ½·Xᵀ·(X·V·X) ;  W = Ŵ − Ŵᵀ                       (skew-symmetric)
/// α = min(lr, 1 / (‖W‖₁ + ε))                                 (‖·‖₁: max column sum)
/// Y ← Xᵀ + α·V ; 5 times: Y ← Xᵀ + α·W·(Xᵀ + Y)/2              (iterative Cayley transform)
/// R ← Yᵀ ;  V ← W·Xᵀ
/// ```
#[derive(Debug)]
pub struct CayleySgd {
    /// Learning rate (SpinQuant's script: 1.5, cosine schedule applied by the caller).
    pub lr: f64,
    /// Momentum (SpinQuant's script: 0).
    pub momentum: f64,
    buffer: Option<Tensor>,
    rng: Rng,
    /// QR re-orthonormalisations done so far.
    pub retractions: u64,
}

/// The code's `episilon` in the step size.
const EPS: f64 = 1e-8;
/// Fixed-point iterations of the Cayley transform.
const CAYLEY_ITERATIONS: usize = 5;

impl CayleySgd {
    /// An optimizer for one rotation; `seed` drives the occasional QR retraction (the
    /// reference draws `random.randint(1, 101) == 1`: probability 1/101).
    pub fn new(lr: f64, momentum: f64, seed: u64) -> Self {
        CayleySgd {
            lr,
            momentum,
            buffer: None,
            rng: Rng::keyed(&[seed, ROTATION_KEY, 2]),
            retractions: 0,
        }
    }

    /// One update of the square rotation `r` `[n, n]` with its loss gradient `grad`;
    /// returns the new rotation (same kind and device).
    pub fn step(&mut self, r: &Tensor, grad: &Tensor) -> Result<Tensor> {
        let size = r.size();
        if size.len() != 2 || size[0] != size[1] {
            return Err(shape_err("rotation", "[n, n]", r));
        }
        if grad.size() != size {
            return Err(shape_err("gradient", &format!("{size:?}"), grad));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(QuantError::Config(format!(
                "Cayley SGD learning rate must be > 0, got {}",
                self.lr
            )));
        }
        // unit(): rows normalised.
        let norms = r.norm_scalaropt_dim(2.0, [1i64].as_slice(), true);
        let mut x = r / (norms + EPS);
        if self.rng.range_inclusive(1, 101) == 1 {
            x = qr_retraction(&x);
            self.retractions += 1;
        }
        let g = grad.to_kind(r.kind());
        let v = match &self.buffer {
            Some(b) => b * self.momentum - g.tr(),
            None => -g.tr(),
        };
        let mx = v.matmul(&x);
        let xmx = x.matmul(&mx);
        let xxmx = x.tr().matmul(&xmx);
        let w_hat = &mx - xxmx * 0.5;
        let w = &w_hat - w_hat.tr();
        let norm_one = w
            .abs()
            .sum_dim_intlist([0i64].as_slice(), false, r.kind())
            .max()
            .double_value(&[]);
        let alpha = self.lr.min(1.0 / (norm_one + EPS));
        let xt = x.tr();
        let mut y = &xt + &v * alpha;
        for _ in 0..CAYLEY_ITERATIONS {
            y = &xt + w.matmul(&((&xt + &y) * 0.5)) * alpha;
        }
        self.buffer = Some(w.matmul(&xt));
        Ok(y.tr().contiguous())
    }
}

/// QR retraction of `x` `[p, n]`, `p ≤ n`: the Q factor of `xᵀ` with R's diagonal signs
/// folded in, transposed back (the nearest-in-spirit orthogonal matrix; for an `x` that is
/// orthogonal up to ε it moves `x` by O(ε)).
pub fn qr_retraction(x: &Tensor) -> Tensor {
    let (q, r) = Tensor::linalg_qr(&x.tr(), "reduced");
    let signs = r.diagonal(0, 0, 1).sign();
    (q * signs.unsqueeze(0)).tr().contiguous()
}

/// The identity rotation of size `n` (no rotation), f64 on the CPU.
pub fn identity(n: usize) -> Tensor {
    Tensor::eye(n as i64, (Kind::Double, Device::Cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_rotations_are_orthogonal_and_seeded() {
        for n in [8, 12, 32, 192] {
            let r = random_orthogonal(n, 3);
            assert!(orthogonality_error(&r) < 1e-12, "orthogonal {n}");
            assert!(r.equal(&random_orthogonal(n, 3)));
            assert!(!r.equal(&random_orthogonal(n, 4)));
            let h = random_hadamard(n, 3).unwrap();
            assert!(orthogonality_error(&h) < 1e-12, "Hadamard {n}");
            // Every entry of a scaled Hadamard matrix has magnitude 1/√n.
            let dev = (h.abs() - 1.0 / (n as f64).sqrt())
                .abs()
                .max()
                .double_value(&[]);
            assert!(dev < 1e-12);
        }
    }

    /// R stays orthogonal after every Cayley step (‖RᵀR − I‖ < 1e-5), and the steps
    /// descend a loss: ‖R − T‖² towards a fixed rotation T.
    #[test]
    fn cayley_steps_stay_orthogonal_and_descend() {
        let n = 16;
        let target = random_orthogonal(n, 9);
        let mut r = random_hadamard(n, 1).unwrap();
        let mut opt = CayleySgd::new(0.1, 0.0, 5);
        let loss = |r: &Tensor| (r - &target).square().sum(Kind::Double).double_value(&[]);
        let start = loss(&r);
        for step in 0..300 {
            let grad = (&r - &target) * 2.0;
            r = opt.step(&r, &grad).unwrap();
            let e = orthogonality_error(&r);
            assert!(e < 1e-5, "step {step}: ‖RᵀR − I‖ = {e}");
        }
        let end = loss(&r);
        assert!(end < 0.5 * start, "loss {start} -> {end}");
        // Momentum keeps the iterate on the manifold too.
        let mut opt = CayleySgd::new(0.1, 0.9, 5);
        for _ in 0..50 {
            let grad = (&r - &target) * 2.0;
            r = opt.step(&r, &grad).unwrap();
            assert!(orthogonality_error(&r) < 1e-5);
        }
        assert!(opt
            .step(&r, &Tensor::zeros([3, 3], (Kind::Double, Device::Cpu)))
            .is_err());
    }
}
