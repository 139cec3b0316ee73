//! Record ids inside sentences, made links: the server writes "rolled back … (change <id>)",
//! "superseded: change request <id> replaced …" and CD log lines such as "change request
//! <id> opened" as plain text, and a reader should be one click from the record.
//!
//! Only an id the sentence names as a change or a run becomes a link (the word just before
//! it says which), so an unrelated UUID in a log line is left alone.

use leptos::prelude::*;

/// A piece of a sentence: plain text, or a record id with the page it links to.
#[derive(Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Link { href: String, text: &'a str },
}

/// Splits `text` into plain pieces and linked record ids.
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut plain = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + UUID_LEN <= bytes.len() {
        let at_word_start = i == 0 || !is_id_char(bytes[i - 1]);
        let candidate = &bytes[i..i + UUID_LEN];
        let ends = bytes.get(i + UUID_LEN).is_none_or(|b| !is_id_char(*b));
        if at_word_start && ends && is_uuid(candidate) {
            if let Some(page) = page_for(&text[..i]) {
                if plain < i {
                    out.push(Segment::Text(&text[plain..i]));
                }
                let id = &text[i..i + UUID_LEN];
                out.push(Segment::Link {
                    href: format!("/{page}/{id}"),
                    text: id,
                });
                i += UUID_LEN;
                plain = i;
                continue;
            }
        }
        i += 1;
    }
    if plain < text.len() {
        out.push(Segment::Text(&text[plain..]));
    }
    out
}

/// `text` with the record ids it names as links.
pub fn linked_text(text: String) -> impl IntoView {
    let parts: Vec<AnyView> = segments(&text)
        .into_iter()
        .map(|s| match s {
            Segment::Text(t) => t.to_string().into_any(),
            Segment::Link { href, text } => {
                view! { <a href=href>{text.to_string()}</a> }.into_any()
            }
        })
        .collect();
    parts
}

const UUID_LEN: usize = 36;

fn is_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

/// The list page of the record the words before an id name, if they name one.
fn page_for(before: &str) -> Option<&'static str> {
    let word = before
        .trim_end()
        .rsplit(|c: char| !c.is_ascii_alphabetic())
        .next()?
        .to_ascii_lowercase();
    match word.as_str() {
        "change" | "request" => Some("changes"),
        "run" => Some("runs"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn ids_named_as_changes_or_runs_become_links() {
        let text = format!("staging was rolled back from commit abc to def (change {ID})");
        assert_eq!(
            segments(&text),
            vec![
                Segment::Text("staging was rolled back from commit abc to def (change "),
                Segment::Link {
                    href: format!("/changes/{ID}"),
                    text: ID
                },
                Segment::Text(")"),
            ]
        );
        let text = format!("change request {ID} opened; CI run {ID}");
        let links: Vec<String> = segments(&text)
            .into_iter()
            .filter_map(|s| match s {
                Segment::Link { href, .. } => Some(href),
                Segment::Text(_) => None,
            })
            .collect();
        assert_eq!(links, vec![format!("/changes/{ID}"), format!("/runs/{ID}")]);
    }

    #[test]
    fn other_ids_and_near_misses_stay_text() {
        for text in [
            format!("image sha {ID}"),
            format!("change x{ID}"),
            format!("change {ID}0"),
            "change 0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5".to_string(),
            "change 0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g".to_string(),
            "no ids here".to_string(),
            String::new(),
        ] {
            let s = segments(&text);
            assert!(
                s.iter().all(|p| matches!(p, Segment::Text(_))),
                "{text}: {s:?}"
            );
            let joined: String = s
                .iter()
                .map(|p| match p {
                    Segment::Text(t) => *t,
                    Segment::Link { text, .. } => text,
                })
                .collect();
            assert_eq!(joined, text);
        }
    }

    #[test]
    fn text_around_multibyte_characters_is_kept() {
        let text = format!("→ change {ID} · ok");
        let s = segments(&text);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[2], Segment::Text(" · ok"));
    }
}
