//! `armorc query`.

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> u8 {
    eprintln!("armorc query: not implemented yet");
    2
}
