//! What role each parameter plays, from its name and shape — so that optimizers can choose a
//! rule per parameter (GaLore: only the 2-D attention and MLP matrices).

use serde::{Deserialize, Serialize};

/// The role of a named parameter in either model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamRole {
    /// A 2-D attention projection (`wq`, `wk`, `wv`, `wo`, self- or cross-attention).
    AttentionMatrix,
    /// A 2-D feed-forward matrix (`w1`, `w2`, `w3`).
    MlpMatrix,
    /// A token embedding table (also the output head when tied).
    Embedding,
    /// The output head `[V, D]`.
    Head,
    /// A 1-D normalisation scale.
    Norm,
    /// Anything else (e.g. the encoder's output projection).
    Other,
}

impl ParamRole {
    /// Attention or MLP matrices: the "2-D matrices of the blocks".
    pub fn is_block_matrix(self) -> bool {
        matches!(self, ParamRole::AttentionMatrix | ParamRole::MlpMatrix)
    }
}

/// The role of the parameter `name` with `shape` (names as the models create them).
pub fn param_role(name: &str, shape: &[i64]) -> ParamRole {
    let two_d = shape.len() == 2;
    let parts: Vec<&str> = name.split('.').collect();
    let has = |s: &str| parts.contains(&s);
    if shape.len() == 1 {
        return ParamRole::Norm;
    }
    if two_d && (has("attention") || has("attention_feat")) {
        return ParamRole::AttentionMatrix;
    }
    if two_d && has("feed_forward") {
        return ParamRole::MlpMatrix;
    }
    if has("embedding") {
        return ParamRole::Embedding;
    }
    // Decoder-only `output.weight`; encoder–decoder `decoder.output.1.weight`.
    if two_d && (name == "output.weight" || name == "decoder.output.1.weight") {
        return ParamRole::Head;
    }
    ParamRole::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_of_both_families() {
        let cases = [
            (
                "encoder.layers.0.attention.wq.weight",
                &[64, 64][..],
                ParamRole::AttentionMatrix,
            ),
            (
                "decoder.layers.1.attention_feat.wv.weight",
                &[64, 64],
                ParamRole::AttentionMatrix,
            ),
            (
                "decoder.layers.1.feed_forward.w2.weight",
                &[64, 256],
                ParamRole::MlpMatrix,
            ),
            (
                "layers.3.attention.wk.weight",
                &[32, 64],
                ParamRole::AttentionMatrix,
            ),
            (
                "layers.3.feed_forward.w3.weight",
                &[176, 64],
                ParamRole::MlpMatrix,
            ),
            ("layers.3.attention_norm.weight", &[64], ParamRole::Norm),
            ("decoder.embedding.weight", &[118, 64], ParamRole::Embedding),
            ("embedding.weight", &[118, 64], ParamRole::Embedding),
            ("output.weight", &[118, 64], ParamRole::Head),
            ("decoder.output.1.weight", &[118, 64], ParamRole::Head),
            ("encoder.output.1.weight", &[64, 64], ParamRole::Other),
            ("norm.weight", &[64], ParamRole::Norm),
        ];
        for (name, shape, role) in cases {
            assert_eq!(param_role(name, shape), role, "{name}");
        }
        assert!(ParamRole::MlpMatrix.is_block_matrix());
        assert!(!ParamRole::Head.is_block_matrix());
    }
}
