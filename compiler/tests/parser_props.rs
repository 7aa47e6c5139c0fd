//! Bounded property/fuzz test of the YAML front-end (runs in CI with a fixed seed and case count):
//! for arbitrary bytes, YAML-alphabet strings and structure-aware mutations of real policies, the
//! parser and the checker never panic, every span lies inside the text on character boundaries,
//! and every reported position is 1-based and inside the file.
#![allow(clippy::unwrap_used)] // tests may unwrap (Cargo.toml [workspace.lints])

mod common;

use armorc_compiler::check_source;
use armorc_compiler::source::{SourceFile, Span};
use armorc_compiler::yaml::{Documents, Node, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::sync::{Arc, OnceLock};

/// Cases per property: a few seconds in a debug build, so the fuzzing stays bounded in CI.
const CASES: u32 = 1_500;

fn config(seed: u64) -> Config {
    Config { cases: CASES, rng_seed: RngSeed::Fixed(seed), failure_persistence: None, ..Config::default() }
}

/// Texts to mutate: our own small policies plus (when present) a slice of the corpus.
fn seed_texts() -> &'static Vec<String> {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = vec![
            "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: a\nspec:\n  selector:\n    matchLabels:\n      app: x\n  process:\n    matchPaths:\n    - path: /bin/sh\n      fromSource:\n      - path: /bin/bash\n  action: Block\n".to_string(),
            "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorHostPolicy\nmetadata: {name: h}\nspec:\n  nodeSelector: {matchLabels: {kubernetes.io/hostname: n}}\n  file:\n    matchDirectories: [{dir: /etc/, recursive: true, readOnly: true}]\n  capabilities:\n    matchCapabilities:\n    - capability: net_raw\n      fromSource: [{path: /bin/ping}]\n  action: Audit\n---\nkind: Deployment\n".to_string(),
            "kind: KubeArmorClusterPolicy\napiVersion: security.kubearmor.com/v1\nmetadata:\n  name: &n c\nspec:\n  selector:\n    matchExpressions:\n    - key: namespace\n      operator: In\n      values: [*n, \"b\"]\n  network:\n    matchProtocols:\n    - protocol: tcp\n  message: |\n    multi\n    line\n  action: Allow\n".to_string(),
        ];
        if let Some(corpus) = common::corpus_dir() {
            let files = common::yaml_files(&corpus.join("policy-templates"));
            // Every 12th file: a varied sample that keeps the run short.
            seeds.extend(files.iter().step_by(12).filter_map(|f| std::fs::read_to_string(f).ok()));
        }
        seeds
    })
}

/// Tokens that stress YAML's structure when spliced into a document.
const TOKENS: &[&str] = &[
    ": ",
    "- ",
    "? ",
    "&a ",
    "*a",
    "*missing",
    "!!str ",
    "!!int ",
    "!custom ",
    "---\n",
    "...\n",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "\t",
    "|\n",
    ">-\n",
    "'",
    "\"",
    "# c",
    "%YAML 1.2\n",
    "<<: *a\n",
    "\u{feff}",
    "é",
    "\r\n",
    "\n",
    "  ",
    "null",
    "~",
    "0x1F",
    "1e3",
    "\\",
    "\u{0}",
    "key: value\n",
    "a: &a [*a]\n",
    "\u{2028}",
];

#[derive(Clone, Debug)]
enum Edit {
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        token: usize,
    },
    DuplicateLine {
        line: usize,
    },
    Indent {
        line: usize,
        spaces: usize,
    },
    Dedent {
        line: usize,
    },
    SwapLines {
        a: usize,
        b: usize,
    },
    Truncate {
        at: usize,
    },
    /// Open `depth` flow collections (around the nesting cap) without closing them all.
    Nest {
        at: usize,
        depth: usize,
        map: bool,
    },
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..12).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Edit::Insert { at, token }),
        any::<usize>().prop_map(|line| Edit::DuplicateLine { line }),
        (any::<usize>(), 1usize..5).prop_map(|(line, spaces)| Edit::Indent { line, spaces }),
        any::<usize>().prop_map(|line| Edit::Dedent { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
        (any::<usize>(), 100usize..160, any::<bool>()).prop_map(|(at, depth, map)| Edit::Nest { at, depth, map }),
    ]
}

/// Nearest character boundary at or below `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let line_index = |n: usize, lines: &Vec<String>| if lines.is_empty() { None } else { Some(n % lines.len()) };
    match *edit {
        Edit::Delete { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, (start + len).min(text.len()));
            let end = end.max(start);
            format!("{}{}", &text[..start], &text[end..])
        }
        Edit::Insert { at, token } => {
            let at = boundary(text, at);
            format!("{}{}{}", &text[..at], TOKENS[token], &text[at..])
        }
        Edit::DuplicateLine { line } => {
            if let Some(i) = line_index(line, &lines) {
                let copy = lines[i].clone();
                lines.insert(i, copy);
            }
            lines.concat()
        }
        Edit::Indent { line, spaces } => {
            if let Some(i) = line_index(line, &lines) {
                lines[i] = format!("{}{}", " ".repeat(spaces), lines[i]);
            }
            lines.concat()
        }
        Edit::Dedent { line } => {
            if let Some(i) = line_index(line, &lines) {
                lines[i] = lines[i].trim_start_matches(' ').to_string();
            }
            lines.concat()
        }
        Edit::SwapLines { a, b } => {
            if let (Some(a), Some(b)) = (line_index(a, &lines), line_index(b, &lines)) {
                lines.swap(a, b);
            }
            lines.concat()
        }
        Edit::Truncate { at } => text[..boundary(text, at)].to_string(),
        Edit::Nest { at, depth, map } => {
            let at = boundary(text, at);
            let (open, close) = if map { ("{a: ", "}") } else { ("[", "]") };
            // Close most of them so some cases are valid YAML that only the depth cap rejects.
            let nest = format!("{}x{}", open.repeat(depth), close.repeat(depth - at % 3));
            format!("{}{nest}{}", &text[..at], &text[at..])
        }
    }
}

fn check_span(text: &str, span: Span, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(span.start <= span.end, "{what}: span {span:?} runs backwards");
    prop_assert!(span.end <= text.len(), "{what}: span {span:?} beyond the text ({} bytes)", text.len());
    prop_assert!(
        text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
        "{what}: span {span:?} splits a character"
    );
    Ok(())
}

fn check_node(text: &str, node: &Node, depth: usize) -> Result<(), TestCaseError> {
    prop_assert!(depth <= armorc_compiler::yaml::MAX_DEPTH + 1, "tree deeper than the nesting cap");
    check_span(text, node.span, "node")?;
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                check_node(text, item, depth + 1)?;
            }
        }
        Value::Map(entries) => {
            for entry in entries {
                check_span(text, entry.key_span, "key")?;
                check_node(text, &entry.value, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The properties, for one text: parser and checker return (a panic fails the case), spans are
/// inside the text, positions are 1-based and inside the file.
fn properties(text: &str) -> Result<(), TestCaseError> {
    let mut documents = 0usize;
    for doc in Documents::new(text) {
        documents += 1;
        // Every document consumes input or ends the stream: the count stays bounded.
        prop_assert!(documents <= text.len() + 2, "parser does not terminate ({documents} documents)");
        check_span(text, doc.span, "document")?;
        for issue in &doc.issues {
            check_span(text, issue.span, "issue")?;
            if let Some(related) = issue.related {
                check_span(text, related, "issue related")?;
            }
        }
        if let Some(root) = &doc.root {
            check_node(text, root, 0)?;
        }
    }

    let file: Arc<SourceFile> = SourceFile::new("fuzz.yaml", text);
    let lines = text.split('\n').count();
    let checked = check_source(file.clone());
    for d in &checked.diagnostics {
        let spans = d.span.into_iter().chain(d.related.iter().map(|(s, _)| *s));
        for span in spans {
            check_span(text, span, d.code.as_str())?;
            for offset in [span.start, span.end] {
                let lc = file.line_col(offset);
                prop_assert!(lc.line >= 1 && lc.column >= 1, "{}: position {lc:?} not 1-based", d.code);
                prop_assert!(lc.line <= lines, "{}: line {} beyond the file ({lines} lines)", d.code, lc.line);
            }
        }
        prop_assert!(!d.message.is_empty(), "{}: empty message", d.code);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(0x61726d6f72630001))]
    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        properties(&String::from_utf8_lossy(&bytes))?;
    }
}

proptest! {
    #![proptest_config(config(0x61726d6f72630002))]
    #[test]
    fn yaml_alphabet(text in "[a-z0-9 :\\-\\[\\]{},&*!|>'\"#%@?\n\t~.é]{0,400}") {
        properties(&text)?;
    }
}

proptest! {
    #![proptest_config(config(0x61726d6f72630003))]
    #[test]
    fn mutated_policies(seed in any::<usize>(), edits in proptest::collection::vec(edit_strategy(), 1..8)) {
        let seeds = seed_texts();
        let mut text = seeds[seed % seeds.len()].clone();
        for edit in &edits {
            text = apply(&text, edit);
        }
        properties(&text)?;
    }
}

#[test]
fn seeds_are_parsed_without_syntax_issues() {
    // The unmutated seeds are valid YAML: guards against a harness that only ever feeds junk.
    for (i, text) in seed_texts().iter().take(3).enumerate() {
        let docs: Vec<_> = Documents::new(text).collect();
        assert!(!docs.is_empty(), "seed {i}: no document");
        for doc in docs {
            assert!(doc.issues.is_empty(), "seed {i}: {:?}", doc.issues);
            assert!(doc.root.is_some(), "seed {i}: document without a root");
        }
    }
}

/// Our tree as JSON (as the API server would see it); `None` for values JSON cannot hold.
fn to_json(node: &Node) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => J::from(serde_json::Number::from_f64(*f)?),
        Value::Str(s) => J::String(s.clone()),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect::<Option<_>>()?),
        Value::Map(entries) => {
            J::Object(entries.iter().map(|e| Some((e.key.clone(), to_json(&e.value)?))).collect::<Option<_>>()?)
        }
    })
}

/// Where both loaders accept a text without any issue, they must build the same values: our
/// spanned tree against serde-saphyr (an independent YAML 1.2 implementation). `None` = skipped.
fn same_tree_as_reference(text: &str) -> Result<Option<()>, TestCaseError> {
    let Ok(reference) = common::load_yaml_docs(text) else { return Ok(None) };
    let mut ours = Vec::new();
    for doc in Documents::new(text) {
        if !doc.issues.is_empty() {
            return Ok(None);
        }
        match doc.root.as_ref().map(to_json) {
            Some(None) => return Ok(None),
            // The reference drops empty and null documents.
            Some(Some(serde_json::Value::Null)) | None => {}
            Some(Some(value)) => ours.push(value),
        }
    }
    prop_assert_eq!(&ours, &reference, "our tree differs from serde-saphyr's for:\n{}", text);
    Ok(Some(()))
}

/// Mutated policies (0-3 edits, so many stay valid YAML): where both loaders accept the text, the
/// values agree. Driven by hand to count how many cases were really compared.
#[test]
fn tree_matches_reference_loader() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::new(config(0x61726d6f72630004));
    let strategy = (any::<usize>(), proptest::collection::vec(edit_strategy(), 0..4));
    let seeds = seed_texts();
    let mut compared = 0;
    for _ in 0..CASES {
        let (seed, edits) = strategy.new_tree(&mut runner).unwrap().current();
        let mut text = seeds[seed % seeds.len()].clone();
        for edit in &edits {
            text = apply(&text, edit);
        }
        match same_tree_as_reference(&text) {
            Ok(Some(())) => compared += 1,
            Ok(None) => {}
            Err(e) => panic!("{e}"),
        }
    }
    eprintln!("{compared} of {CASES} mutated texts loaded by both loaders and compared");
    assert!(compared >= CASES as usize / 4, "only {compared} of {CASES} cases compared");
}

#[test]
fn corpus_trees_match_reference_loader() {
    let Some(corpus) = common::corpus_dir() else { return };
    let (mut compared, mut differ) = (0, Vec::new());
    for file in common::yaml_files(&corpus.join("policy-templates")) {
        let text = std::fs::read_to_string(&file).unwrap();
        match same_tree_as_reference(&text) {
            Ok(Some(())) => compared += 1,
            Ok(None) => {}
            Err(e) => differ.push(format!("{}: {e}", file.display())),
        }
    }
    eprintln!("corpus: {compared} files load to the same values in both loaders");
    assert!(compared > 500, "only {compared} corpus files compared");
    assert!(differ.is_empty(), "{} files differ:\n{}", differ.len(), differ.join("\n"));
}
