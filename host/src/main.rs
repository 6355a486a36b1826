fn main() {
    println!("classbridge {}", classbridge_engine::ENGINE_VERSION);
}
