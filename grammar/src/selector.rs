//! `kubearmor.io/container.name` values: `[a, b]` selects containers a and b; `""` and `[]`
//! select every container; empty items (`[container-1,,]`) are skipped, as KubeArmor does.
//!
//! KubeArmor strips the first and last character without checking that they are brackets, so
//! `nginx` selects a container named `gin`. `parse` reproduces that and says whether the value
//! was well-formed, so the linter can warn.

use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "grammars/container_list.pest"]
struct ContainerListParser;

/// One container name with its byte range in the value (after trimming spaces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerList {
    /// Selected containers in order; empty = every container.
    pub items: Vec<Item>,
    /// Byte offsets of empty items (between commas or brackets) in a bracketed list.
    pub empty_items: Vec<usize>,
    /// False when the value is not `[...]`; `items` then follow KubeArmor's first/last-character strip.
    pub bracketed: bool,
}

pub fn parse(value: &str) -> ContainerList {
    if value.is_empty() {
        return ContainerList { bracketed: true, ..Default::default() };
    }
    match ContainerListParser::parse(Rule::list, value) {
        Ok(mut pairs) => {
            let mut out = ContainerList { bracketed: true, ..Default::default() };
            let list = pairs.next().expect("list rule matched");
            let all_items: Vec<_> = list.into_inner().filter(|p| p.as_rule() == Rule::item).collect();
            let only_empty = all_items.len() == 1 && all_items[0].as_str().trim().is_empty();
            for p in all_items {
                let span = p.as_span();
                match trimmed(value, span.start(), span.end()) {
                    Some(item) => out.items.push(item),
                    // `[]` is the documented "all containers", not an empty item.
                    None if !only_empty => out.empty_items.push(span.start()),
                    None => {}
                }
            }
            out
        }
        Err(_) => {
            // KubeArmor: longer than 2 characters -> drop first and last, split on `,`.
            let mut out = ContainerList::default();
            if value.chars().count() > 2 {
                let first = value.chars().next().map_or(0, char::len_utf8);
                let last = value.chars().last().map_or(0, char::len_utf8);
                let inner_end = value.len() - last;
                let mut start = first;
                for part in value[first..inner_end].split(',') {
                    let end = start + part.len();
                    if let Some(item) = trimmed(value, start, end) {
                        out.items.push(item);
                    }
                    start = end + 1;
                }
            }
            out
        }
    }
}

fn trimmed(value: &str, start: usize, end: usize) -> Option<Item> {
    let raw = &value[start..end];
    let lead = raw.len() - raw.trim_start().len();
    let name = raw.trim();
    (!name.is_empty()).then(|| Item { name: name.to_string(), start: start + lead, end: start + lead + name.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &str) -> Vec<String> {
        parse(v).items.into_iter().map(|i| i.name).collect()
    }

    #[test]
    fn kubearmor_examples() {
        assert_eq!(names("[a, b]"), ["a", "b"]);
        assert_eq!(names("[container-1,,]"), ["container-1"]);
        assert!(names("[]").is_empty() && parse("[]").empty_items.is_empty());
        assert!(names("").is_empty() && parse("").bracketed);
        assert_eq!(names("nginx"), ["gin"]);
        assert!(!parse("nginx").bracketed);
        assert_eq!(parse("[container-1,,]").empty_items, vec![13, 14]);
        assert_eq!(names("[a]b]"), ["a]b"]);
    }

    #[test]
    fn offsets_point_into_the_value() {
        let v = "[ web , db]";
        let l = parse(v);
        assert_eq!(&v[l.items[0].start..l.items[0].end], "web");
        assert_eq!(&v[l.items[1].start..l.items[1].end], "db");
    }
}
