//! `armor-loader verify`: every query through the real kernel (harness + the image in real
//! maps) and through the reference model; report agreement.

use crate::kernel::Harness;
use anyhow::Result;
use armorc_compiler::image::MapImage;
use armorc_compiler::model::{Decision, Model, Query};
use armorc_compiler::query::{self, QueryError};
use std::collections::BTreeMap;

/// Target key the verify image is loaded under in the harness's private maps.
pub const VERIFY_KEY: (u32, u32) = (0xffff_fff0, 0xffff_fff0);

pub struct Disagreement {
    pub line: usize,
    pub query: Query,
    pub kernel: Decision,
    pub model: Decision,
}

#[derive(Default)]
pub struct VerifyReport {
    pub queries: usize,
    pub agree: usize,
    pub disagreements: Vec<Disagreement>,
    /// (line, message) for lines that are not valid queries or that the kernel refused.
    pub errors: Vec<(usize, String)>,
    /// decision mix: "deny by rule (dir)" -> count
    pub mix: BTreeMap<String, usize>,
}

impl VerifyReport {
    pub fn summary(&self) -> String {
        format!("{} queries, {} agree, {} disagree", self.queries, self.agree, self.disagreements.len())
    }
    pub fn ok(&self) -> bool {
        self.disagreements.is_empty() && self.errors.is_empty()
    }
}

pub fn describe(d: &Decision) -> String {
    let verdict = if d.deny {
        "deny"
    } else if d.audit {
        "allow(audit)"
    } else {
        "allow"
    };
    let rule = d.rule.map(|r| format!(" rule#{r}")).unwrap_or_default();
    format!("{verdict} by {} step {}{rule}", d.by.name(), d.step.name())
}

/// Load `image` into the harness's maps and compare kernel and model on every query.
pub fn verify(
    harness: &mut Harness,
    image: &MapImage,
    queries: &[(usize, std::result::Result<Query, QueryError>)],
) -> Result<VerifyReport> {
    harness.targets.apply(VERIFY_KEY, image)?;
    let model = Model::new(image);
    let mut report = VerifyReport::default();
    for (line, q) in queries {
        let q = match q {
            Ok(q) => q,
            Err(e) => {
                report.errors.push((*line, e.to_string()));
                continue;
            }
        };
        report.queries += 1;
        let kernel = match harness.decide(q, VERIFY_KEY) {
            Ok(d) => d,
            Err(e) => {
                report.errors.push((*line, format!("{e:#}")));
                continue;
            }
        };
        let expected = model.decide(q);
        let class = format!(
            "{} by {} ({})",
            if expected.deny {
                "deny"
            } else if expected.audit {
                "allow+audit"
            } else {
                "allow"
            },
            expected.by.name(),
            expected.step.name()
        );
        *report.mix.entry(class).or_default() += 1;
        if kernel == expected {
            report.agree += 1;
        } else {
            report.disagreements.push(Disagreement { line: *line, query: q.clone(), kernel, model: expected });
        }
    }
    harness.targets.remove(VERIFY_KEY)?;
    Ok(report)
}

/// Parse a JSON-lines query file (blank lines skipped), keeping 1-based line numbers.
pub fn parse_queries(text: &str) -> Vec<(usize, std::result::Result<Query, QueryError>)> {
    text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 1, query::parse_line(l))).collect()
}
