//! Name-reference fix-up ("back references"): after prefixes, suffixes,
//! namespaces and hashes changed object names, every field that names a
//! ConfigMap, Secret, ServiceAccount, ... is rewritten to the new name.
//! A field is matched to its target through any name the target ever had.

use crate::config::NameRef;
use crate::error::RenderError;
use crate::fieldspec::walk;
use crate::resource::{is_cluster_scoped, Object};
use crate::value::Value;
use std::collections::HashMap;

pub fn fix(objs: &mut [Object], rules: &[NameRef]) -> Result<(), RenderError> {
    for rule in rules {
        // Every name each object of the rule's kind ever had → its positions. Looking a
        // reference up here instead of scanning all objects keeps big renders linear.
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, o) in objs.iter().enumerate() {
            let g = o.gvk();
            if g.kind == rule.kind
                && (rule.group.is_empty() || g.group == rule.group)
                && (rule.version.is_empty() || g.version == rule.version)
            {
                for (name, _) in &o.history {
                    let at = by_name.entry(name.clone()).or_default();
                    if at.last() != Some(&i) {
                        at.push(i);
                    }
                }
            }
        }
        for j in 0..objs.len() {
            let g = objs[j].gvk();
            let specs: Vec<_> = rule
                .specs
                .iter()
                .filter(|s| g.matches(&s.gvk))
                .cloned()
                .collect();
            if specs.is_empty() {
                continue;
            }
            let referrer_ns = objs[j].namespace().to_string();
            let referrer_cluster = is_cluster_scoped(&g);
            let mut value = objs[j].value.clone();
            for spec in &specs {
                let is_role_ref = spec.path.last().map(|s| s == "name").unwrap_or(false)
                    && spec.path.len() >= 2
                    && spec.path[spec.path.len() - 2] == "roleRef";
                let path = if is_role_ref {
                    &spec.path[..spec.path.len() - 1]
                } else {
                    &spec.path[..]
                };
                let ctx = Lookup {
                    objs,
                    by_name: &by_name,
                    rule,
                    referrer_ns: &referrer_ns,
                    referrer_cluster,
                };
                walk(&mut value, path, false, &mut |node: &mut Value| {
                    if is_role_ref {
                        if node.str_at(&["kind"]) != Some(rule.kind.as_str()) {
                            return Ok(());
                        }
                        if let Some(Value::Str(n)) = node.get_mut("name") {
                            if let Some(c) = ctx.find(n, None) {
                                *n = c.name().to_string();
                            }
                        }
                        return Ok(());
                    }
                    ctx.fix_node(node);
                    Ok(())
                })?;
            }
            objs[j].value = value;
        }
    }
    Ok(())
}

struct Lookup<'a> {
    objs: &'a [Object],
    by_name: &'a HashMap<String, Vec<usize>>,
    rule: &'a NameRef,
    referrer_ns: &'a str,
    referrer_cluster: bool,
}

impl Lookup<'_> {
    fn fix_node(&self, node: &mut Value) {
        match node {
            Value::Str(s) => {
                if let Some(c) = self.find(s, None) {
                    *s = c.name().to_string();
                }
            }
            Value::Seq(items) => items.iter_mut().for_each(|i| self.fix_node(i)),
            Value::Map(m) => {
                let name = match m.get("name").and_then(|v| v.as_str()) {
                    Some(n) => n.to_string(),
                    None => return,
                };
                let ns = m
                    .get("namespace")
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                if let Some(c) = self.find(&name, ns.as_deref()) {
                    // Kustomize leaves the reference alone when its target kept its
                    // original name and namespace (a RoleBinding subject naming a
                    // ServiceAccount that nothing renamed gets no namespace added);
                    // otherwise it writes both
                    if c.name() == c.orig_name() && c.namespace() == c.orig_namespace() {
                        return;
                    }
                    m.insert("name", Value::Str(c.name().to_string()));
                    if !c.namespace().is_empty() {
                        m.insert("namespace", Value::Str(c.namespace().to_string()));
                    }
                }
            }
            _ => {}
        }
    }

    /// The unique object of the rule's kind that once had `name`.
    fn find(&self, name: &str, ns: Option<&str>) -> Option<&Object> {
        let cands: Vec<&Object> = self
            .by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.objs[i])
            .filter(|o| {
                let g = o.gvk();
                if g.kind != self.rule.kind
                    || (!self.rule.group.is_empty() && g.group != self.rule.group)
                {
                    return false;
                }
                if !o.history.iter().any(|(n, _)| n == name) {
                    return false;
                }
                match ns {
                    Some(ns) => o.history.iter().any(|(_, h)| h == ns),
                    None => {
                        // the candidate's namespace *now*: a ServiceAccount moved to
                        // another namespace by a patch no longer answers to a binding
                        // left behind (kubectl kustomize)
                        self.referrer_cluster
                            || is_cluster_scoped(&g)
                            || o.namespace() == self.referrer_ns
                    }
                }
            })
            .collect();
        let first = *cands.first()?;
        if cands.iter().all(|c| c.name() == first.name()) {
            Some(first)
        } else {
            // prefer an exact namespace match when several remain
            cands
                .into_iter()
                .find(|c| c.namespace() == self.referrer_ns)
        }
    }
}
