//! Pages that follow the server: one stream per tab (`/api/v1/live`, see
//! `server/src/http/live.rs`), opened by the signed-in frame, and a version counter per
//! page that moves when a topic the page shows comes by. A page puts that counter among
//! its resources' inputs, so they refetch; where a refetch rebuilds a view, the page keeps
//! what its user typed or opened outside that view.
//!
//! Topics are `change:<id>`, `run:<id>`, `environment:<name>` and `settings`
//! (stop-the-line); `*` means "you may have missed some: refetch everything".

use leptos::prelude::*;

/// The topics of the last batch this tab heard, numbered.
#[derive(Clone, Copy)]
pub struct Live(RwSignal<(u64, Vec<String>)>);

/// Opens this tab's stream (in the browser; the server renders without one) and offers it
/// to every page below.
pub fn provide() {
    let live = Live(RwSignal::new((0, Vec::new())));
    provide_context(live);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| listen(live));
}

#[cfg(feature = "hydrate")]
fn listen(live: Live) {
    use wasm_bindgen::{closure::Closure, JsCast};
    let Ok(source) = web_sys::EventSource::new("/api/v1/live") else {
        return;
    };
    let heard = move |topics: Vec<String>| live.0.update(|(n, t)| (*n, *t) = (*n + 1, topics));
    let on_topics =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let topics = ev
                .data()
                .as_string()
                .and_then(|text| serde_json::from_str::<Vec<String>>(&text).ok());
            if let Some(topics) = topics {
                heard(topics);
            }
        });
    // The first hello is the stream starting with the page; a later one is the browser
    // reconnecting after a gap, and a resync is a stream that fell behind.
    let mut hellos = 0;
    let on_gap = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
        if ev.type_() == "hello" {
            hellos += 1;
            if hellos == 1 {
                return;
            }
        }
        heard(vec!["*".to_string()]);
    });
    let _ = source.add_event_listener_with_callback("topics", on_topics.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("hello", on_gap.as_ref().unchecked_ref());
    let _ = source.add_event_listener_with_callback("resync", on_gap.as_ref().unchecked_ref());
    on_topics.forget();
    on_gap.forget();
    on_cleanup(move || source.close());
}

/// A counter that moves each time this tab hears a topic `wanted` accepts (or `*`).
/// Without a stream (on the server, or outside the signed-in frame) it stays at 0.
pub fn version(wanted: impl Fn(&str) -> bool + Send + Sync + 'static) -> ReadSignal<u64> {
    let (seen, set_seen) = signal(0u64);
    if let Some(Live(batch)) = use_context::<Live>() {
        Effect::new(move |last: Option<u64>| {
            let (n, topics) = batch.get();
            let fresh = last.is_some_and(|last| n != last);
            if fresh && topics.iter().any(|t| t == "*" || wanted(t)) {
                set_seen.update(|v| *v += 1);
            }
            n
        });
    }
    seen
}

/// `version` for the topics of one kind (`"change"`, `"run"`, ...).
pub fn kind(kind: &'static str) -> ReadSignal<u64> {
    version(move |t| t.split_once(':').is_some_and(|(k, _)| k == kind))
}
