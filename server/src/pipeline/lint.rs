//! What the pipeline lints report, and the image-reference parser that the
//! object lint (`image:` fields) and the Dockerfile lint (`FROM`) share.

use std::fmt;

/// One problem found by a lint. `rule` is the stable id users look up in the
/// rule list of the lint that raised it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub location: String,
    pub message: String,
}

impl Finding {
    pub fn new(
        rule: &'static str,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            rule,
            location: location.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.location, self.message, self.rule)
    }
}

/// An image reference `[registry[:port]/]repository[:tag][@digest]`, split
/// without normalising anything (no default registry or tag is filled in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// Split a reference; never fails, as any string is some reference.
    pub fn parse(image: &'a str) -> Self {
        let (rest, digest) = match image.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (image, None),
        };
        // A colon before the last slash separates a registry port
        // (`registry:5000/app`), not a tag, so only the last path
        // component may carry the tag.
        let last_component = rest.rfind('/').map_or(0, |i| i + 1);
        match rest[last_component..].rfind(':') {
            Some(i) => {
                let at = last_component + i;
                ImageRef {
                    repository: &rest[..at],
                    tag: Some(&rest[at + 1..]),
                    digest,
                }
            }
            None => ImageRef {
                repository: rest,
                tag: None,
                digest,
            },
        }
    }

    /// Why this reference does not pin a version, or `None` when it does.
    /// A digest pins the content whatever the tag says.
    pub fn unpinned_reason(&self) -> Option<&'static str> {
        if self.digest.is_some_and(|d| !d.is_empty()) {
            return None;
        }
        match self.tag {
            None | Some("") => Some("has no tag or digest, so it pulls whatever `latest` is"),
            Some("latest") => Some("uses the `latest` tag, which moves between builds"),
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_rule_last() {
        let f = Finding::new("image-tag", "Pod/web", "image web has no tag");
        assert_eq!(f.to_string(), "Pod/web: image web has no tag [image-tag]");
    }

    #[test]
    fn parses_image_references() {
        let parse = |s| {
            let r = ImageRef::parse(s);
            (r.repository, r.tag, r.digest)
        };
        assert_eq!(parse("nginx"), ("nginx", None, None));
        assert_eq!(parse("nginx:1.27"), ("nginx", Some("1.27"), None));
        assert_eq!(
            parse("registry:5000/app"),
            ("registry:5000/app", None, None)
        );
        assert_eq!(
            parse("registry:5000/team/app:v2"),
            ("registry:5000/team/app", Some("v2"), None)
        );
        assert_eq!(parse("app@sha256:abc"), ("app", None, Some("sha256:abc")));
        assert_eq!(
            parse("reg:5000/app:1@sha256:abc"),
            ("reg:5000/app", Some("1"), Some("sha256:abc"))
        );
    }

    #[test]
    fn only_a_tag_or_digest_pins() {
        let unpinned = |s| ImageRef::parse(s).unpinned_reason().is_some();
        assert!(unpinned("nginx"));
        assert!(unpinned("nginx:latest"));
        assert!(unpinned("registry:5000/app"));
        assert!(unpinned("nginx:"));
        assert!(!unpinned("nginx:1.27"));
        assert!(!unpinned("nginx@sha256:abc"));
        assert!(!unpinned("nginx:latest@sha256:abc"));
        assert!(!unpinned("registry:5000/app:latest-fix"));
    }
}
