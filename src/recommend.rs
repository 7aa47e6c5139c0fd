//! `armorc recommend`.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> u8 {
    eprintln!("armorc recommend: not implemented yet");
    2
}
