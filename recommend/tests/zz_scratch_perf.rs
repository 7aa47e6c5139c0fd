use armorc_recommend::index::{EntryKind, FileIndex};
use armorc_recommend::matching::{decide, karmor_file_list, Mode};
#[test]
fn scratch() {
    let mut i = FileIndex::new();
    for d in 0..2000 { for f in 0..100 { i.insert(&format!("/usr/lib/pkg{d}/sub/f{f}.so"), EntryKind::File{mode:0o644,size:1}).unwrap(); } }
    i.insert("/usr/bin/apt-get", EntryKind::File{mode:0o755,size:1}).unwrap();
    let lib = armorc_recommend::templates::builtin().unwrap();
    let t0 = std::time::Instant::now();
    let mut n = 0;
    for t in &lib.templates { if matches!(decide(t, &i, &[], &[], Mode::Ours), armorc_recommend::matching::Decision::Recommend(_)) { n += 1; } }
    eprintln!("ours: {} entries, {} recommended, {:?}", i.len(), n, t0.elapsed());
    let lt = armorc_recommend::templates::from_dir(std::path::Path::new("/work/shared/corpus/policy-templates-v0.2.6")).unwrap();
    let t0 = std::time::Instant::now();
    let files = karmor_file_list(&i);
    for t in &lt.templates { let _ = decide(t, &i, &files, &[], Mode::LegacyKarmor); }
    eprintln!("karmor: {:?}", t0.elapsed());
}
