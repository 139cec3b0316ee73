//! Image references: `name[:tag][@digest]` parsing and the rewrite that
//! the `images:` field (and ImageTagTransformer) applies to every
//! `containers` / `initContainers` list, wherever it sits in an object.

use crate::value::Value;

/// One `images:` entry (or an ImageTagTransformer's `imageTag`): which image, and
/// what to change in it.
#[derive(Debug, Clone)]
pub struct ImageEdit {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
    pub tag_suffix: Option<String>,
    /// Kustomize's IsImageMatched: the name is a regular expression (so `my.registry/app`
    /// also matches `myxregistry/app`), followed by an optional tag and sha256 digest.
    matcher: regex::Regex,
}

/// Where Kustomize's second image filter looks, in objects of any kind (its
/// built-in `images` field specs). Together with the legacy walk below, a
/// container under one of these paths is edited twice: harmless for a new name,
/// tag or digest, but a `tagSuffix` lands twice (`nginx:1.0-s-s`), as in
/// `kubectl kustomize`; a CronJob's containers get it once.
const DEFAULT_IMAGE_PATHS: &[&str] = &[
    "spec/containers/image",
    "spec/initContainers/image",
    "spec/template/spec/containers/image",
    "spec/template/spec/initContainers/image",
];

/// Kustomize's built-in `images` field specs.
pub fn default_specs() -> Vec<crate::fieldspec::FieldSpec> {
    DEFAULT_IMAGE_PATHS
        .iter()
        .map(|p| crate::fieldspec::FieldSpec::new("", "", "", p, false))
        .collect()
}

impl ImageEdit {
    pub fn new(
        name: String,
        new_name: Option<String>,
        new_tag: Option<String>,
        digest: Option<String>,
        tag_suffix: Option<String>,
        file: &std::path::Path,
    ) -> Result<ImageEdit, crate::error::RenderError> {
        let matcher = regex::Regex::new(&format!(
            "^{name}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$"
        ))
        .map_err(|e| {
            crate::error::RenderError::invalid(file, format!("image name {name:?}: {e}"))
        })?;
        Ok(ImageEdit {
            name,
            new_name,
            new_tag,
            digest,
            tag_suffix,
            matcher,
        })
    }

    /// Apply the edit to `o` as Kustomize's image transformer does: the legacy walk,
    /// then the field `specs` (for a kustomization's `images:`, `default_specs()` plus
    /// what `configurations:` add; for an ImageTagTransformer, its own `fieldSpecs`).
    pub fn apply(
        &self,
        o: &mut crate::resource::Object,
        specs: &[crate::fieldspec::FieldSpec],
    ) -> Result<(), crate::error::RenderError> {
        self.legacy_walk(&mut o.value);
        self.retag_fields(o, specs)
    }

    /// Kustomize's legacy image filter: every `containers`/`initContainers`
    /// list anywhere in the object, whatever the kind.
    fn legacy_walk(&self, v: &mut Value) {
        match v {
            Value::Map(m) => {
                for (k, child) in m.0.iter_mut() {
                    if let Value::Seq(items) = child {
                        if k == "containers" || k == "initContainers" {
                            for c in items.iter_mut() {
                                if let Some(Value::Str(image)) = c.get_mut("image") {
                                    if let Some(newv) = self.retag(image) {
                                        *image = newv;
                                    }
                                }
                            }
                        }
                    }
                    self.legacy_walk(child);
                }
            }
            Value::Seq(items) => items.iter_mut().for_each(|i| self.legacy_walk(i)),
            _ => {}
        }
    }

    /// `retag` on every string field `specs` select in `o`.
    fn retag_fields(
        &self,
        o: &mut crate::resource::Object,
        specs: &[crate::fieldspec::FieldSpec],
    ) -> Result<(), crate::error::RenderError> {
        let g = o.gvk();
        crate::fieldspec::apply_specs(&mut o.value, &g, specs, &mut |v| {
            if let Value::Str(image) = v {
                if let Some(n) = self.retag(image) {
                    *image = n;
                }
            }
            Ok(())
        })
    }

    /// The new reference for `image`, if it names this edit's image. A new tag or
    /// digest replaces both the old tag and digest; a tag suffix extends the old
    /// tag (an empty one too: `nginx` becomes `nginx:-s`) and drops the digest.
    pub fn retag(&self, image: &str) -> Option<String> {
        if !self.matcher.is_match(image) {
            return None;
        }
        let (n, tag, dig) = split_image(image);
        let n = self.new_name.clone().unwrap_or(n);
        let rest = match (&self.new_tag, &self.digest, &self.tag_suffix) {
            (Some(t), Some(d), _) => format!(":{t}@{d}"),
            (None, Some(d), _) => format!("@{d}"),
            (Some(t), None, _) => format!(":{t}"),
            (None, None, Some(sfx)) => format!(":{}{sfx}", tag.trim_start_matches(':')),
            (None, None, None) => format!("{tag}{dig}"),
        };
        Some(format!("{n}{rest}"))
    }
}

/// Split "reg/name:tag@digest" into (name, ":tag", "@digest").
pub fn split_image(image: &str) -> (String, String, String) {
    let (rest, dig) = match image.find('@') {
        Some(i) => (&image[..i], image[i..].to_string()),
        None => (image, String::new()),
    };
    let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rest[slash..].find(':') {
        Some(c) => (
            rest[..slash + c].to_string(),
            rest[slash + c..].to_string(),
            dig,
        ),
        None => (rest.to_string(), String::new(), dig),
    }
}
