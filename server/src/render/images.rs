//! Image references: `name[:tag][@digest]` parsing and the rewrite that
//! the `images:` field (and ImageTagTransformer) applies to every
//! `containers` / `initContainers` list, wherever it sits in an object.

use crate::render::value::Value;

/// Kustomize's legacy image filter: every `containers`/`initContainers`
/// list anywhere in the object, whatever the kind.
pub fn update_images(
    v: &mut Value,
    name: &str,
    new_name: &Option<String>,
    new_tag: &Option<String>,
    digest: &Option<String>,
) {
    match v {
        Value::Map(m) => {
            for (k, child) in m.0.iter_mut() {
                let items = match child {
                    Value::Seq(items) if k == "containers" || k == "initContainers" => items,
                    _ => {
                        update_images(child, name, new_name, new_tag, digest);
                        continue;
                    }
                };
                for c in items.iter_mut() {
                    if let Some(Value::Str(image)) = c.get_mut("image") {
                        if let Some(newv) = retag(image, name, new_name, new_tag, digest) {
                            *image = newv;
                        }
                    }
                }
                update_images(child, name, new_name, new_tag, digest);
                update_images(child, name, new_name, new_tag, digest);
            }
        }
        Value::Seq(items) => items
            .iter_mut()
            .for_each(|i| update_images(i, name, new_name, new_tag, digest)),
        _ => {}
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

/// `retag` on every string field `specs` select in `o` (images named outside containers'
/// `image`, from `configurations:` or an ImageTagTransformer's fieldSpecs).
pub fn retag_fields(
    o: &mut crate::render::resource::Object,
    specs: &[crate::render::fieldspec::FieldSpec],
    name: &str,
    new_name: &Option<String>,
    new_tag: &Option<String>,
    digest: &Option<String>,
) -> Result<(), crate::render::error::RenderError> {
    let g = o.gvk();
    crate::render::fieldspec::apply_specs(&mut o.value, &g, specs, &mut |v| {
        if let crate::render::value::Value::Str(image) = v {
            if let Some(n) = retag(image, name, new_name, new_tag, digest) {
                *image = n;
            }
        }
        Ok(())
    })
}

pub fn retag(
    image: &str,
    name: &str,
    new_name: &Option<String>,
    new_tag: &Option<String>,
    digest: &Option<String>,
) -> Option<String> {
    let (n, tag, dig) = split_image(image);
    if n != name {
        return None;
    }
    let n = new_name.clone().unwrap_or(n);
    let suffix = match (new_tag, digest) {
        (Some(t), Some(d)) => format!(":{}@{}", t, d),
        (None, Some(d)) => format!("@{}", d),
        (Some(t), None) => format!(":{}", t),
        (None, None) => format!("{}{}", tag, dig),
    };
    Some(format!("{}{}", n, suffix))
}
