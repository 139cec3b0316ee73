//! What light mode keeps of a document: only the fields that identify it.

/// Which values a frame keeps (light mode keeps only what identifies the object).
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Keep {
    All,
    Root,
    Meta,
    Nothing,
}

const ROOT_KEYS: &[&str] = &["apiVersion", "kind", "metadata"];
const META_KEYS: &[&str] = &["name", "namespace"];

impl Keep {
    #[inline]
    pub(crate) fn keeps(self, key: &str) -> bool {
        match self {
            Keep::All => true,
            Keep::Root => ROOT_KEYS.contains(&key),
            Keep::Meta => META_KEYS.contains(&key),
            Keep::Nothing => false,
        }
    }
}
