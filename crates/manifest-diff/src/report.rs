//! Human-readable text report of a change set.
//!
//! Layout: one summary line, a risk tally, then for every added, removed or
//! changed object a `+`/`-`/`~` header, its field paths, its risks and its
//! unified diff. Unchanged objects are only counted. Everything printed comes
//! from redacted data, so the report is as safe as the JSON form.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::changeset::{ChangeSet, Status};
use crate::compare::FieldOp;

impl ChangeSet {
    /// The report shown to approvers and printed by the CLI.
    pub fn to_text(&self) -> String {
        let s = &self.summary;
        let mut out = format!(
            "{} added, {} removed, {} changed, {} unchanged\n",
            s.added, s.removed, s.changed, s.unchanged
        );
        if !self.risks.is_empty() {
            let mut tally: BTreeMap<_, usize> = BTreeMap::new();
            for r in &self.risks {
                *tally.entry(r.kind).or_default() += 1;
            }
            let parts: Vec<String> = tally
                .iter()
                .map(|(k, n)| format!("{} {n}", k.as_str()))
                .collect();
            let _ = writeln!(out, "risks: {}", parts.join(", "));
        }
        for o in self
            .objects
            .iter()
            .filter(|o| o.status != Status::Unchanged)
        {
            let sign = match o.status {
                Status::Added => '+',
                Status::Removed => '-',
                _ => '~',
            };
            let _ = writeln!(out, "\n{sign} {}", o.display);
            if !o.fields.is_empty() {
                out.push_str("  fields:\n");
                for f in &o.fields {
                    let (mark, note) = match f.op {
                        FieldOp::Added => ('+', ""),
                        FieldOp::Removed => ('-', ""),
                        FieldOp::Changed => ('~', ""),
                        FieldOp::Reordered => ('~', " (reordered)"),
                    };
                    let _ = writeln!(out, "    {mark} {}{note}", f.path);
                }
            }
            if !o.risks.is_empty() {
                out.push_str("  risks:\n");
                for r in &o.risks {
                    let _ = writeln!(out, "    ! {}: {}", r.kind.as_str(), r.reason);
                }
            }
            out.push_str(&o.unified);
        }
        out
    }
}
