//! planform-data
