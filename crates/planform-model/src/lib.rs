pub fn smoke() -> f64 {
    let t = tch::Tensor::from_slice(&[1.0f64, 2.0, 3.0]);
    t.sum(tch::Kind::Double).double_value(&[])
}
#[cfg(test)]
mod tests { #[test] fn s() { assert_eq!(super::smoke(), 6.0); } }
