//! Hadamard matrices and transforms.
//!
//! A Hadamard matrix `H` of order `n` has entries ±1 and `H·Hᵀ = n·I`, so `H/√n` is
//! orthogonal. SpinQuant's online rotations (R3, R4) and its random-Hadamard initialisation
//! use them. Orders supported here: `n = m·2^k` with `m = 1` (Sylvester) or `m = p + 1` for a
//! prime `p ≡ 3 (mod 4)` (Paley construction I: 4, 8, 12, 20, 24, 32, 44, 48, 60, 68, 72, 80,
//! 84, …), built as the Kronecker product `H_m ⊗ H_{2^k}` — the QuIP#/QuaRot trick. The
//! reference ships stored matrices of orders 12, 20, 28, 36, 40, 52, 60, 108, 140, 156 and
//! 172; those of 28, 36, 40, 52, 108, 140, 156 and 172 come from other constructions and are
//! not built here (their sizes are refused with a clear error).
//!
//! [`transform`] applies `x ↦ x·Hᵀ/√n` along the last dimension in `O(n log n + n·m)`
//! (fast Walsh–Hadamard on the `2^k` factor, a dense `m × m` product on the other).

use tch::{Device, Kind, Tensor};

use crate::error::{shape_err, QuantError, Result};

fn is_prime(p: usize) -> bool {
    p >= 2 && (2..).take_while(|d| d * d <= p).all(|d| p % d != 0)
}

/// `n = m · 2^k` with the largest power of two; `m` must be 1 or `p + 1` with `p` a prime
/// `≡ 3 (mod 4)` (then `m` is a multiple of 4 and the split is taken so that `m` is the
/// Paley order: the smallest such factor).
pub fn factor(n: usize) -> Result<(usize, usize)> {
    if n == 0 {
        return Err(QuantError::Config("a Hadamard matrix of order 0".into()));
    }
    let pow2 = 1usize << n.trailing_zeros();
    if pow2 == n {
        return Ok((1, n));
    }
    // m·2^k with m = odd·2^j: try m = odd·4, odd·8, … until a Paley order is found.
    let odd = n / pow2;
    let mut m = odd;
    while m <= n {
        if m % 4 == 0 && is_prime(m - 1) && (m - 1) % 4 == 3 {
            return Ok((m, n / m));
        }
        m *= 2;
    }
    Err(QuantError::Config(format!(
        "no Hadamard matrix of order {n} here: orders are m·2^k with m = 1 or m = p + 1 for \
         a prime p ≡ 3 (mod 4) (odd part {odd})"
    )))
}

/// The Legendre symbol `(a / p)` for an odd prime `p`: 0, 1 or −1.
fn legendre(a: i64, p: i64) -> i64 {
    let a = a.rem_euclid(p);
    if a == 0 {
        return 0;
    }
    // Euler's criterion: a^((p−1)/2) mod p.
    let (mut base, mut e, mut r) = (a, (p - 1) / 2, 1i64);
    while e > 0 {
        if e & 1 == 1 {
            r = r * base % p;
        }
        base = base * base % p;
        e >>= 1;
    }
    if r == 1 {
        1
    } else {
        -1
    }
}

/// Paley I Hadamard matrix of order `q + 1` for a prime `q ≡ 3 (mod 4)`, as `f64` ±1:
/// `H = I + S`, `S = [[0, 1ᵀ], [−1, Q]]` with the Jacobsthal matrix `Q[i][j] = χ(j − i)`.
fn paley(q: usize) -> Vec<f64> {
    let n = q + 1;
    let mut h = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let s = match (i, j) {
                (0, 0) => 0,
                (0, _) => 1,
                (_, 0) => -1,
                _ => legendre(j as i64 - i as i64, q as i64),
            };
            h[i * n + j] = s as f64 + if i == j { 1.0 } else { 0.0 };
        }
    }
    h
}

/// The ±1 Hadamard matrix of order `m` (1 or a Paley order), `[m, m]` f64 on the CPU.
fn base(m: usize) -> Tensor {
    if m == 1 {
        return Tensor::ones([1, 1], (Kind::Double, Device::Cpu));
    }
    Tensor::from_slice(&paley(m - 1)).view([m as i64, m as i64])
}

/// The dense ±1 Hadamard matrix of order `n` (`H_m ⊗ H_{2^k}`, Sylvester for the power of
/// two), `[n, n]` in `kind` on `device`. For tests and small sizes; use [`transform`] to
/// apply it.
pub fn matrix(n: usize, kind: Kind, device: Device) -> Result<Tensor> {
    let (m, p) = factor(n)?;
    let mut hp = Tensor::ones([1, 1], (Kind::Double, Device::Cpu));
    let h2 = Tensor::from_slice(&[1.0f64, 1.0, 1.0, -1.0]).view([2, 2]);
    let mut size = 1;
    while size < p {
        hp = hp.kron(&h2);
        size *= 2;
    }
    Ok(base(m).kron(&hp).to_kind(kind).to_device(device))
}

/// Unnormalised fast Walsh–Hadamard transform along the last dimension, whose size must be
/// a power of two: `x ↦ x·H` with Sylvester's `H` (symmetric).
pub fn fwht(x: &Tensor) -> Result<Tensor> {
    let n = *x.size().last().ok_or_else(|| shape_err("x", "[…, n]", x))?;
    if n <= 0 || n & (n - 1) != 0 {
        return Err(shape_err("x", "a last dimension that is a power of two", x));
    }
    let lead: Vec<i64> = x.size()[..x.dim() - 1].to_vec();
    let rows: i64 = lead.iter().product();
    let mut y = x.reshape([rows, n]);
    let mut h = 1;
    while h < n {
        // [rows, n/(2h), 2, h]: pairs (a, b) h apart -> (a + b, a − b).
        let v = y.view([rows, n / (2 * h), 2, h]);
        let a = v.select(2, 0);
        let b = v.select(2, 1);
        y = Tensor::stack(&[&a + &b, &a - &b], 2).view([rows, n]);
        h *= 2;
    }
    let mut shape = lead;
    shape.push(n);
    Ok(y.view(shape.as_slice()))
}

/// `x ↦ x·Hᵀ/√n` along the last dimension (size `n`, see [`factor`]): the orthonormal
/// Hadamard rotation of every row. Equals `x.matmul(&(matrix(n)ᵀ / √n))`.
pub fn transform(x: &Tensor) -> Result<Tensor> {
    let n = *x.size().last().ok_or_else(|| shape_err("x", "[…, n]", x))?;
    let (m, p) = factor(n as usize)?;
    let lead: Vec<i64> = x.size()[..x.dim() - 1].to_vec();
    let rows: i64 = lead.iter().product();
    let (m, p) = (m as i64, p as i64);
    // x viewed [rows, m, p]; (H_m ⊗ H_p) acts as H_m on the m axis and H_p on the p axis.
    let y = fwht(&x.reshape([rows, m, p]))?;
    let y = if m > 1 {
        let hm = base(m as usize).to_kind(x.kind()).to_device(x.device());
        // y[r, i, a] = Σ_j H_m[i, j] · y[r, j, a]
        hm.matmul(&y)
    } else {
        y
    };
    let mut shape = lead;
    shape.push(n);
    Ok((y / (n as f64).sqrt()).reshape(shape.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs(t: &Tensor) -> f64 {
        t.abs().max().double_value(&[])
    }

    #[test]
    fn orders_factor_as_documented() {
        assert_eq!(factor(64).unwrap(), (1, 64));
        assert_eq!(factor(12).unwrap(), (12, 1));
        assert_eq!(factor(192).unwrap(), (12, 16));
        assert_eq!(factor(320).unwrap(), (20, 16));
        assert_eq!(factor(44 * 8).unwrap(), (44, 8));
        assert!(factor(28).is_err()); // 27 is not prime: needs GF(27)
        assert!(factor(0).is_err());
        // LLaMA-7B's FFN width: the reference uses a stored order-172 matrix × 64; here
        // 5503 is a prime ≡ 3 (mod 4), so Paley gives order 5504 × 2.
        assert_eq!(factor(11008).unwrap(), (5504, 2));
        for n in [36, 52] {
            let e = factor(n).unwrap_err().to_string();
            assert!(e.contains(&format!("order {n}")), "{e}");
        }
    }

    #[test]
    fn h_ht_is_n_i_for_every_supported_order() {
        for n in [
            1, 2, 4, 8, 12, 20, 24, 32, 44, 48, 60, 64, 96, 192, 320, 384,
        ] {
            let h = matrix(n, Kind::Double, Device::Cpu).unwrap();
            assert_eq!(h.size(), [n as i64, n as i64]);
            assert_eq!(max_abs(&(h.abs() - 1.0)), 0.0, "order {n}: entries ±1");
            let eye = Tensor::eye(n as i64, (Kind::Double, Device::Cpu));
            let err = max_abs(&(h.matmul(&h.tr()) - eye * n as f64));
            assert_eq!(err, 0.0, "order {n}: H·Hᵀ = n·I");
        }
    }

    #[test]
    fn fast_transform_equals_the_dense_product() {
        for n in [2, 8, 64, 12, 24, 192, 320] {
            let x = Tensor::from_slice(
                &(0..3 * 5 * n)
                    .map(|i| ((i * 37 % 101) as f64 - 50.0) / 17.0)
                    .collect::<Vec<f64>>(),
            )
            .view([3, 5, n as i64]);
            let h = matrix(n, Kind::Double, Device::Cpu).unwrap();
            let dense = x.matmul(&h.tr()) / (n as f64).sqrt();
            let fast = transform(&x).unwrap();
            assert!(max_abs(&(fast - dense)) < 1e-12, "order {n}");
            if n.is_power_of_two() {
                let raw = fwht(&x).unwrap();
                assert!(max_abs(&(raw - x.matmul(&h))) < 1e-12, "fwht {n}");
            }
        }
        assert!(fwht(&Tensor::zeros([2, 12], (Kind::Float, Device::Cpu))).is_err());
    }
}
