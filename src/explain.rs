//! `armorc explain`.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> u8 {
    eprintln!("armorc explain: not implemented yet");
    2
}
