//! planform-train
