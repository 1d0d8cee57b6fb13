//! planform-trace
