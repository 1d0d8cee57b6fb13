//! planform-viz
