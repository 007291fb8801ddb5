fn main() {
    println!("gossip-sieve (in progress)");
}
