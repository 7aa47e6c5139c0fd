//! `armorc lint`.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> u8 {
    eprintln!("armorc lint: not implemented yet");
    2
}
