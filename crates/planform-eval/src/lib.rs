//! planform-eval
