fn main() {
    println!("mssante-gateway: not yet");
}
