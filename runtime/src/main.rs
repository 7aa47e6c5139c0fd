fn main() {
    eprintln!("armor-loader: no subcommand yet");
    std::process::exit(2);
}
