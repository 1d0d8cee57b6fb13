//! Throughput measurements (used by the `bench` example and `planform bench`).
