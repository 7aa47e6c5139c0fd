//! `armorc normalize`.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> u8 {
    eprintln!("armorc normalize: not implemented yet");
    2
}
