fn main() {
    println!("planform");
}
