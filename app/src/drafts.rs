//! What a person is writing, kept in the browser's local storage until it is sent: a
//! session that ends mid-comment sends them to sign in and back, and the text is still
//! there. Only this browser sees it; nothing of it reaches the server before it is sent.

/// The stored draft under `key`, if any (none on the server).
pub fn load(key: &str) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        storage()?
            .get_item(&full(key))
            .ok()
            .flatten()
            .filter(|t| !t.is_empty())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = key;
        None
    }
}

/// Keeps `text` under `key`; an empty text removes the draft.
pub fn save(key: &str, text: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(s) = storage() {
        let _ = if text.is_empty() {
            s.remove_item(&full(key))
        } else {
            s.set_item(&full(key), text)
        };
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (key, text);
}

#[cfg(feature = "hydrate")]
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

#[cfg(feature = "hydrate")]
fn full(key: &str) -> String {
    format!("fluxgate.draft.{key}")
}
