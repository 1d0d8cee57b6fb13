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
//! - [`learn`]: learned R1/R2 (Cayley SGD through the quantized model, straight-through
//!   quantizers), as SpinQuant trains them.
//! - [`lsh`]: MagicPIG's SimHash-sampled attention for one head (≥ 2-collision rule,
//!   closed-form sampling probability, exact sink and local keys), with top-k and oracle
//!   sampling to compare against.
//! - [`lsh_attention`]: that estimator as the batched decoder's attention kernel
//!   (`planform eval --attention lsh:K,L`), for accuracy measurements.
//! - [`lsh_store`]: the same estimator built for speed on the CPU — keys appended one step
//!   at a time, hashed once into bucket tables, queries served by bucket lookups.
//! - [`spec`]: a whole setting (`w4a8kv8`, `hadamard+online`, seed) applied to a model.
//! - [`store`]: quantized checkpoints (integer codes, nibble-packed at ≤ 4 bits) written
//!   from a full-precision one and loaded with their activation hook.
//!
//! Facts and defaults: `../shared/reference/latent_and_efficiency.md` §4.

pub mod error;
pub mod hadamard;
pub mod learn;
pub mod lsh;
pub mod lsh_attention;
pub mod lsh_store;
pub mod merge;
pub mod rotation;
pub mod rtn;
pub mod sim;
pub mod spec;
pub mod store;

pub use error::{QuantError, Result};
pub use spec::{Bits, QuantSpec, Rotation, RotationSpec};
