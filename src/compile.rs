//! `armorc compile`.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> u8 {
    eprintln!("armorc compile: not implemented yet");
    2
}
