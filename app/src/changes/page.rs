//! The Changes list and the change request page (policy status, rendered diff object by
//! object, templates and values diff, review and merge).
//!
//! The diff is never shipped whole: the page gets the list of changed objects, and each
//! object's lines load when it is opened, a few hundred at a time, so a 10,000-line change
//! stays quick to open and to scroll.

use super::{
    change_object_diff, change_source_diff, list_changes, ChangeRequest, DiffHunk, ObjectEntry,
};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

/// Lines of one object shown before "show more".
const LINES_AT_ONCE: usize = 400;

pub(super) fn state_badge(state: &str) -> impl IntoView {
    view! { <span class=format!("badge state-{state}")>{state.to_string()}</span> }
}

#[component]
pub fn ChangesPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.with(|q| q.get(k).unwrap_or_default());
    let heard = crate::live::kind("change");
    let changes = Resource::new(
        move || {
            heard.track();
            (
                param("env"),
                param("state"),
                param("app"),
                param("mine") == "1",
                param("page").parse::<u32>().unwrap_or(0),
            )
        },
        |(env, state, app, mine, page)| list_changes(env, state, app, mine, page),
    );
    view! {
        <leptos_meta::Title text="Changes"/>
        <div class="page-head">
            <h1>"Changes"</h1>
            <p class="muted">"State-change requests against the GitOps repository, newest first."</p>
        </div>
        <form method="get" class="filters" action="/changes">
            <label>"Environment " <input name="env" value=move || param("env") placeholder="any" size="10"/></label>
            <label>"State "
                <select name="state">
                    {["", "open", "approved", "merged", "superseded", "rejected", "failed"].into_iter().map(|s| {
                        let selected = move || param("state") == s;
                        view! { <option value=s selected=selected>{if s.is_empty() { "any" } else { s }}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>"App " <input name="app" value=move || param("app") placeholder="any" size="12"/></label>
            <label><input type="checkbox" name="mine" value="1" checked=move || param("mine") == "1"/>" Waiting for me"</label>
            <button type="submit">"Filter"</button>
        </form>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match changes.await {
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                    Ok(list) if list.items.is_empty() => view! { <p class="empty">"No change requests match."</p> }.into_any(),
                    Ok(list) => view! {
                        <p class="muted">{format!("{} change request(s)", list.total)}</p>
                        <table class="table" data-testid="changes">
                            <thead><tr><th>"Change"</th><th>"Environment"</th><th>"State"</th><th>"Objects"</th><th>"Risks"</th><th>"Opened"</th></tr></thead>
                            <tbody>{list.items.into_iter().map(change_row).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

fn change_row(c: ChangeRequest) -> impl IntoView {
    let s = c.summary;
    view! {
        <tr data-change=c.id.clone()>
            <td><A href=format!("/changes/{}", c.id)>{c.title.clone()}</A></td>
            <td>{c.environment.clone()}</td>
            <td>{state_badge(c.state.as_str())}</td>
            <td class="counts">{format!("+{} ~{} -{}", s.added, s.changed, s.removed)}</td>
            <td>{c.risks.len()}</td>
            <td>{c.created_at.clone()}</td>
        </tr>
    }
}

#[component]
pub(super) fn RenderedDiff(id: String, objects: Vec<ObjectEntry>) -> impl IntoView {
    let (split, set_split) = signal(false);
    if objects.is_empty() {
        return view! { <p class="empty">"No object changes: the render is the same as on the environment branch."</p> }.into_any();
    }
    let count = objects.len();
    // j/k move between objects (once hydrated).
    #[cfg(feature = "hydrate")]
    {
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            let target = ev.target();
            let typing = target
                .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(t).ok())
                .map(|el| matches!(el.tag_name().as_str(), "TEXTAREA" | "INPUT"))
                .unwrap_or(false);
            if typing || !matches!(ev.key().as_str(), "j" | "k") {
                return;
            }
            let doc = document();
            let current = doc
                .active_element()
                .and_then(|e| e.get_attribute("data-object"))
                .and_then(|v| v.parse::<usize>().ok());
            let next = match (ev.key().as_str(), current) {
                ("j", None) => 0,
                ("j", Some(i)) => (i + 1).min(count - 1),
                ("k", Some(i)) => i.saturating_sub(1),
                _ => 0,
            };
            if let Some(el) = doc
                .query_selector(&format!("[data-object=\"{next}\"]"))
                .ok()
                .flatten()
            {
                if let Ok(el) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el) {
                    let _ = el.focus();
                    el.scroll_into_view();
                }
            }
        });
        on_cleanup(move || handle.remove());
    }
    view! {
        <div class="diff-tools">
            <span class="muted">{format!("{count} changed object(s) · j/k to move between them")}</span>
            <label><input type="checkbox" on:change=move |ev| set_split.set(event_target_checked(&ev))/>" Split view"</label>
        </div>
        <div class="objects" data-testid="objects">
            {objects.into_iter().enumerate().map(|(pos, o)| view! { <ObjectDiff id=id.clone() pos o split/> }).collect_view()}
        </div>
    }.into_any()
}

#[component]
fn ObjectDiff(id: String, pos: usize, o: ObjectEntry, split: ReadSignal<bool>) -> impl IntoView {
    let (open, set_open) = signal(pos < super::OPEN_AT_FIRST && !o.viewed);
    let (viewed, set_viewed) = signal(o.viewed);
    let mark = ServerAction::<super::MarkViewed>::new();
    let mark_id = id.clone();
    let (shown, set_shown) = signal(LINES_AT_ONCE);
    let index = o.index;
    let (whole, set_whole) = signal(false);
    // The page brought the hunks of the objects open at first (see `ObjectEntry::hunks`).
    let sent = o.hunks.clone();
    let hunks = Resource::new(
        move || (open.get(), whole.get()),
        move |(open, whole)| {
            let id = id.clone();
            let sent = sent.clone().filter(|_| open && !whole);
            async move {
                if let Some(sent) = sent {
                    Ok(Some(sent))
                } else if open {
                    change_object_diff(id, index, whole).await.map(Some)
                } else {
                    Ok(None)
                }
            }
        },
    );
    view! {
        <section class="object card" class:viewed=move || viewed.get() tabindex="0" data-object=pos.to_string()>
            <header>
                <button class="link-button" aria-expanded=move || open.get().to_string()
                    aria-label=format!("Show or hide the diff of {}", o.display)
                    on:click=move |_| set_open.update(|v| *v = !*v)>
                    {move || if open.get() { "▾" } else { "▸" }}
                </button>
                <span class=format!("badge status-{}", o.status)>{o.status.clone()}</span>
                <code class="object-name">{o.display.clone()}</code>
                <span class="counts">{format!("+{} -{}", o.added_lines, o.removed_lines)}</span>
                {o.risks.iter().map(|r| view! { <span class="badge risk" title=r.clone()>"risk"</span> }).collect_view()}
                <label class="viewed-mark"><input type="checkbox" prop:checked=move || viewed.get() on:change=move |ev| {
                    let v = event_target_checked(&ev);
                    set_viewed.set(v);
                    if v { set_open.set(false); }
                    // Kept per reviewer and head, so the marks survive a reload.
                    mark.dispatch(super::MarkViewed { id: mark_id.clone(), index, viewed: v });
                }/>" Viewed"</label>
            </header>
            {(!o.fields.is_empty()).then(|| view! { <p class="fields muted">{o.fields.join(", ")}</p> })}
            <Show when=move || open.get()>
                <button class="link-button" data-testid="whole-object" on:click=move |_| set_whole.update(|w| *w = !*w)>
                    {move || if whole.get() { "Show changes only" } else { "Show the whole object" }}
                </button>
            </Show>
            <Show when=move || open.get()>
                <Suspense fallback=|| view! { <p class="muted">"Loading diff…"</p> }>
                    {move || Suspend::new(async move {
                        match hunks.await {
                            Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                            Ok(None) => ().into_any(),
                            Ok(Some(h)) => view! { <Hunks hunks=h split shown set_shown/> }.into_any(),
                        }
                    })}
                </Suspense>
            </Show>
        </section>
    }
}

#[component]
fn Hunks(
    hunks: Vec<DiffHunk>,
    split: ReadSignal<bool>,
    shown: ReadSignal<usize>,
    set_shown: WriteSignal<usize>,
) -> impl IntoView {
    let total: usize = hunks.iter().map(|h| h.lines.len() + 1).sum();
    let hunks = StoredValue::new(hunks);
    move || {
        let limit = shown.get();
        let mut budget = limit;
        let rows = hunks.with_value(|hunks| {
            let mut rows = Vec::new();
            for h in hunks {
                if budget == 0 { break; }
                budget -= 1;
                rows.push(view! { <tr class="hunk"><td colspan="4">{h.header.clone()}</td></tr> }.into_any());
                for l in &h.lines {
                    if budget == 0 { break; }
                    budget -= 1;
                    // Never an empty text node: hydration cannot find one the server did not
                    // write, so absent values are None (a placeholder on both sides).
                    let num = |n: Option<u32>| n.map(|n| n.to_string());
                    let text = |t: &str| Some(t.to_string()).filter(|t| !t.is_empty());
                    let sign = match l.tag.as_str() { "insert" => "+", "delete" => "-", _ => " " };
                    rows.push(if split.get() {
                        let (left, right) = match l.tag.as_str() {
                            "insert" => (None, text(&l.text)),
                            "delete" => (text(&l.text), None),
                            _ => (text(&l.text), text(&l.text)),
                        };
                        view! { <tr class=format!("line {}", l.tag)><td class="num">{num(l.old_line)}</td><td class="code">{left}</td><td class="num">{num(l.new_line)}</td><td class="code">{right}</td></tr> }.into_any()
                    } else {
                        view! { <tr class=format!("line {}", l.tag)><td class="num">{num(l.old_line)}</td><td class="num">{num(l.new_line)}</td><td class="sign">{sign}</td><td class="code">{text(&l.text)}</td></tr> }.into_any()
                    });
                }
            }
            rows
        });
        let class = if split.get() { "diff split" } else { "diff" };
        view! {
            <table class=class><tbody>{rows}</tbody></table>
            {(total > limit).then(|| view! {
                <button class="link-button" on:click=move |_| set_shown.update(|n| *n += LINES_AT_ONCE * 5)>
                    {format!("Show more ({} of {} lines shown)", limit, total)}
                </button>
            })}
        }
    }
}

#[component]
pub(super) fn SourceDiff(id: String) -> impl IntoView {
    let text = Resource::new(move || id.clone(), change_source_diff);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match text.await {
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                    Ok(t) if t.is_empty() => view! { <p class="empty">"Templates and values are unchanged."</p> }.into_any(),
                    Ok(t) => view! {
                        <pre class="source-diff" data-testid="source-diff">
                            {t.lines().map(|l| {
                                let class = if l.starts_with('+') && !l.starts_with("+++") { "insert" } else if l.starts_with('-') && !l.starts_with("---") { "delete" } else { "" };
                                // The line break stays outside the span: inside a full-width
                                // inline-block it would put the next line beside this one.
                                view! { <span class=class>{l.to_string()}</span>"\n" }
                            }).collect_view()}
                        </pre>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// "Written by: alice, bob (unverified e-mail); unknown: Eve <eve@x> (no such user)". The
/// e-mails are typed by whoever made the commits, so they are labelled unverified; users
/// whose registered SSH key signed a commit are named as verified, and every commit whose
/// signature does not count is named with the reason by the verdict, where the policy
/// requires signed commits.
pub(super) fn authors_text(c: &super::ChangeRequest) -> String {
    let mut unknown: Vec<&str> = c
        .authors
        .iter()
        .filter(|a| a.user.is_none() && matches!(a.role.as_str(), "author" | "committer"))
        .map(|a| a.who.as_str())
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    let mut signers: Vec<&str> = c
        .authors
        .iter()
        .filter(|a| a.role == "signer" && a.problem.is_none())
        .filter_map(|a| a.user.as_deref())
        .collect();
    signers.sort_unstable();
    signers.dedup();
    let mut text = if c.author_users.is_empty() {
        "Written by: no fluxgate user".to_string()
    } else {
        format!(
            "Written by: {} (unverified: e-mail of the commits' authors and committers; none of them counts as an approver)",
            c.author_users.join(", ")
        )
    };
    if !signers.is_empty() {
        text.push_str(&format!(
            "; verified by SSH signature: {}",
            signers.join(", ")
        ));
    }
    if !unknown.is_empty() {
        text.push_str(&format!("; matching no user: {}", unknown.join(", ")));
    }
    text
}
