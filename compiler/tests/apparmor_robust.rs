//! Hostile strings in paths, sources and patterns: every generated profile must still pass
//! `apparmor_parser -QK` (literal paths escaped and quoted, unusable patterns turned into
//! comments), and lowering never panics. Seeded, so a failure reproduces.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod aa_fixtures;
mod common;

use aa_fixtures::*;
use armorc_compiler::compose::PostureAction;
use armorc_compiler::ir::{Action, PolicyKind};
use armorc_compiler::lower::apparmor::{self, check_with_parser};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const LITERAL_PIECES: [&str; 24] = [
    "a", "bin", "etc", " ", "*", "?", "[", "]", "{", "}", "@{HOME}", "^", "\\", "\"", ",", "#", "!", "\n", "\t", "ü",
    "$", "|", "'", "..",
];
const PATTERN_PIECES: [&str; 22] = [
    "a", "b", "*", "**", "?", "[a-c]", "[^x]", "{a,b}", "{", "}", "[", "]", ",", "\\", "@{HOME}", "@{x}", " ", "/",
    "[]", "{a}", "[a-]", "\"",
];

fn path(rng: &mut Rng, pieces: &[&str], dir: bool) -> String {
    let mut s = String::from("/");
    for _ in 0..1 + rng.next() % 6 {
        s.push_str(rng.pick(pieces));
        if rng.next().is_multiple_of(3) {
            s.push('/');
        }
    }
    let s = s.trim_end_matches('/').to_string();
    if dir {
        format!("{s}/")
    } else if s.is_empty() {
        "/x".into()
    } else {
        s
    }
}

#[test]
fn hostile_strings_still_give_valid_profiles() {
    if std::process::Command::new("apparmor_parser").arg("--version").output().is_err() {
        common::skip_or_fail("apparmor_parser not installed (run .ci/install-apparmor.sh)");
        return;
    }
    let mut rng = Rng(0x5eed_aa04);
    let mut failures = Vec::new();
    for n in 0..30 {
        let mut rules = Vec::new();
        for i in 0..12 {
            let action = if rng.next().is_multiple_of(2) { Action::Allow } else { Action::Block };
            let source = (rng.next().is_multiple_of(4)).then(|| path(&mut rng, &LITERAL_PIECES, false));
            let flag = rng.next().is_multiple_of(2);
            let target = match rng.next() % 7 {
                0 => fp(&path(&mut rng, &LITERAL_PIECES, false), flag, !flag),
                1 => fd(&path(&mut rng, &LITERAL_PIECES, true), flag, flag, !flag),
                2 => fpat(&path(&mut rng, &PATTERN_PIECES, false), flag, flag),
                3 => pp(&path(&mut rng, &LITERAL_PIECES, false), flag),
                4 => pd(&path(&mut rng, &LITERAL_PIECES, true), flag, !flag),
                5 => ppat(&path(&mut rng, &PATTERN_PIECES, false), flag),
                _ => pe(&rng.pick(&LITERAL_PIECES).replace('/', "_"), flag),
            };
            rules.push(rule(target, action, source.as_deref(), &format!("spec.rules[{i}]"), 10 + i));
        }
        let posture = if n % 2 == 0 { PostureAction::Block } else { PostureAction::Audit };
        let policy = policy(&format!("hostile-{n}"), PolicyKind::KubeArmorPolicy, rules, &[]);
        let profile = apparmor::lower_target(&container(posture), &[&policy]);
        if let Err(e) = check_with_parser(&profile) {
            failures.push(format!("profile {n}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{} of 30 profiles rejected:\n{}", failures.len(), failures.join("\n"));
}
