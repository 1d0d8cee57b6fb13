//! SpinQuant (Liu et al., 2024) building blocks for planform models.
//!
//! - [`hadamard`]: Hadamard matrices of order `m·2^k` (Sylvester, Paley I for `m = p + 1`),
//!   the fast Walsh–Hadamard transform and the Kronecker trick for non-powers of two.
//! - [`rotation`]: random orthogonal and random Hadamard rotations, and the reference code's
//!   Cayley SGD on the Stiefel manifold (iterative Cayley transform, occasional QR).
//! - [`rtn`]: round-to-nearest fake quantization (QuaRot/SpinQuant's quantizer: symmetric or
//!   asymmetric, per row or per group, range clipped to include zero).
//! - [`merge`]: RMSNorm scales folded into the next linear and the R1 (residual stream) and
//!   R2 (per head, value/output) rotations merged into a decoder-only model's weights, which
//!   leaves its full-precision outputs unchanged.
//! - [`sim`]: simulated W/A/KV low-bit inference and the online rotations R3 and R4, as an
//!   activation hook of the model.
//! - [`lsh`]: MagicPIG's SimHash-sampled attention for one head (≥ 2-collision rule,
//!   closed-form sampling probability, exact sink and local keys), with top-k and oracle
//!   sampling to compare against.
//! - [`spec`]: a whole setting (`w4a8kv8`, `hadamard+online`, seed) applied to a model.
//!
//! Facts and defaults: `../shared/reference/latent_and_efficiency.md` §4.

pub mod error;
pub mod hadamard;
pub mod lsh;
pub mod merge;
pub mod rotation;
pub mod rtn;
pub mod sim;
pub mod spec;

pub use error::{QuantError, Result};
pub use spec::{Bits, QuantSpec, Rotation, RotationSpec};
