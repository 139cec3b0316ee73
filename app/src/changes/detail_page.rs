//! One change request's page: its state and policy, the review and merge controls, what
//! Flux and the probes said, the diff and the timeline.
//!
//! The page follows the server (`crate::live`): when anyone reviews, merges, or Flux
//! reports on this change, the state part and the timeline reload by themselves. The diff
//! reloads only when the change's head moves, so what the reader opened, marked and scrolled
//! stays. What the reader typed lives in the page, not in the parts that reload, so neither
//! a reload nor a refused request loses a draft.

use super::page::{authors_text, state_badge, RenderedDiff, SourceDiff};
use super::{
    change_objects, load_change, ChangeDetail, CommentChange, MergeChange, ObjectList,
    ReviewChange, TimelineEntry, MAX_COMMENT,
};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ChangePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let actions = Actions {
        review: ServerAction::<ReviewChange>::new(),
        merge: ServerAction::<MergeChange>::new(),
        comment: ServerAction::<CommentChange>::new(),
        decided: RwSignal::new(None),
        draft: RwSignal::new(String::new()),
    };
    let tab = RwSignal::new("rendered");
    let heard = crate::live::version(move |topic| {
        topic == "settings"
            || topic.starts_with("environment:")
            || topic
                .strip_prefix("change:")
                .is_some_and(|c| params.with_untracked(|p| p.get("id").is_some_and(|id| id == c)))
    });
    let Actions {
        review,
        merge,
        comment,
        draft,
        ..
    } = actions;
    let status = Resource::new(
        move || {
            (
                id(),
                review.version().get(),
                merge.version().get(),
                comment.version().get(),
                heard.get(),
            )
        },
        |(id, ..)| load_change(id),
    );
    // Written by the state part when it loads, so that each resource is read under one
    // boundary only: one read under two is the case leptos#4851 reports hanging renders in.
    let timeline = RwSignal::new(Vec::<TimelineEntry>::new());
    // The diff's objects; loaded again only when the status shows another head.
    let rebased = RwSignal::new(0u32);
    let body_head = StoredValue::new(None::<String>);
    let body = Resource::new(move || (id(), rebased.get()), |(id, _)| change_objects(id));
    // The draft is kept in the browser too (`crate::drafts`): a session that ends mid-comment
    // sends the reader to sign in and back here, where it is put back.
    // One effect, so that the kept draft is read before anything is written over it; it
    // reads again when the page moves to another change (the route's component stays).
    let draft_for = StoredValue::new(None::<String>);
    Effect::new(move |_| {
        let key = format!("comment:{}", id());
        let text = draft.get();
        if draft_for.with_value(|k| k.as_deref() != Some(key.as_str())) {
            draft_for.set_value(Some(key.clone()));
            let kept = crate::drafts::load(&key).unwrap_or_default();
            if kept != text {
                draft.set(kept);
            }
            return;
        }
        crate::drafts::save(&key, &text);
    });
    // A draft is cleared only by the request that used it succeeding.
    Effect::new(move |_| {
        let sent = matches!(comment.value().get(), Some(Ok(())))
            || matches!(review.value().get(), Some(Ok(_)));
        if sent {
            draft.set(String::new());
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match status.await {
                    Err(AppError::NotFound(what)) => view! {
                        <crate::pages::Missing what back="/changes" back_label="All change requests"/>
                    }.into_any(),
                    Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
                    Ok(d) => {
                        timeline.set(d.timeline.clone());
                        let head = d.change.head_commit.clone();
                        Effect::new(move |_| {
                            if body_head.with_value(|h| h.as_ref().is_some_and(|h| *h != head)) {
                                rebased.update(|n| *n += 1);
                            }
                        });
                        view! { <StatusView d actions/> }.into_any()
                    }
                }
            })}
        </Transition>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match body.await {
                    Err(_) => ().into_any(),
                    Ok(d) => {
                        body_head.set_value(Some(d.change.head_commit.clone()));
                        view! { <Body d tab/> }.into_any()
                    }
                }
            })}
        </Transition>
        <Show when=move || tab.get() == "timeline">
            <ol class="timeline" data-testid="timeline">
                {move || timeline.get().into_iter().map(|t| view! {
                    <li><time>{t.at}</time>" "<strong>{t.actor}</strong>{format!(" {}", t.what)}</li>
                }).collect_view()}
            </ol>
        </Show>
    }
}

/// The page's requests and what they carry; owned by the page so that the parts which
/// reload keep them.
#[derive(Clone, Copy)]
struct Actions {
    review: ServerAction<ReviewChange>,
    merge: ServerAction<MergeChange>,
    comment: ServerAction<CommentChange>,
    /// Which decision this page sent last.
    decided: RwSignal<Option<&'static str>>,
    /// The comment being written.
    draft: RwSignal<String>,
}

#[component]
fn StatusView(d: ChangeDetail, actions: Actions) -> impl IntoView {
    let Actions {
        review,
        merge,
        comment,
        decided,
        draft,
    } = actions;
    let c = d.change.clone();
    let id = c.id.clone();
    let open = c.is_open();
    let can_merge = d.verdict.can_merge && open;
    let may_review = d.may_review.clone();
    let answer = |r: Option<Result<String, AppError>>| {
        r.map(|r| match r {
            Ok(text) => view! { <p class="ok" role="status">{text}</p> }.into_any(),
            Err(e) => view! { <crate::error::ErrorNote e/> }.into_any(),
        })
    };
    let review_result = move || answer(review.value().get());
    let merge_result = move || answer(merge.value().get());
    let comment_result = move || {
        answer(
            comment
                .value()
                .get()
                .map(|r| r.map(|()| "Comment added.".to_string())),
        )
    };
    // A button is off while its request runs (a double click sends one), and stays off after
    // it succeeded where pressing it again would only repeat it.
    let done = move |d: &'static str| {
        decided.get() == Some(d) && matches!(review.value().get(), Some(Ok(_)))
    };
    let merged_now = move || matches!(merge.value().get(), Some(Ok(_)));
    let too_long = move || draft.with(|t| t.chars().count() > MAX_COMMENT);
    let trace = format!("/apps/{}/commits/{}", c.app, c.app_commit);
    let short = c.short_commit().to_string();
    let (id_a, id_r, id_m, id_c) = (id.clone(), id.clone(), id.clone(), id.clone());
    view! {
        <leptos_meta::Title text=c.title.clone()/>
        <div class="page-head">
            <h1 data-testid="change-title">{c.title.clone()}" "{state_badge(c.state.as_str())}</h1>
            <p class="muted">
                {format!("{} → {} · commit ", c.app, c.environment)}
                <A href=trace attr:title="The commit's way through every environment">{short}</A>
                {format!(" by {} · ", c.author)}
                <A href=format!("/runs/{}", c.ci_run_id)>"CI run"</A>" · "
                <A href=format!("/runs/{}", c.cd_run_id)>"CD run"</A>" · "
                <code>{c.proposal_branch.clone()}</code>
                {format!(" · head {}", &c.head_commit[..7.min(c.head_commit.len())])}
            </p>
            {c.superseded_by.clone().map(|newer| view! {
                <p data-testid="superseded-by"><A href=format!("/changes/{newer}")>"The change that replaced this one"</A></p>
            })}
            {d.next.clone().map(|(next, env)| view! {
                <p data-testid="next-change"><A href=format!("/changes/{next}")>{format!("This commit's change for {env}, the next environment")}</A></p>
            })}
            <p class="muted">{format!("Images: {}", if c.images.is_empty() { "none".to_string() } else { c.images.join(", ") })}</p>
            <p class="muted" data-testid="authors">{authors_text(&c)}</p>
        </div>
        <section class="card policy-status" data-testid="policy-status">
            <h2>"Policy"</h2>
            <p class="policy-line"><strong>{
                crate::linked::linked_text(c.state.closed_summary().map(str::to_string).unwrap_or_else(|| d.verdict.summary()))
            }</strong></p>
            <p class="muted">{d.policy_summary.clone()}</p>
            <dl class="who-reviews" data-testid="who-reviews">
                <dt>"Approved by"</dt>
                <dd>{if d.verdict.approvals.is_empty() { "nobody yet".to_string() } else { d.verdict.approvals.join(", ") }}</dd>
                {open.then(|| {
                    let needed = d.verdict.still_needed(&d.approvers);
                    (!needed.is_empty()).then(|| view! {
                        <dt>"Still needed"</dt>
                        <dd><ul>{needed.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul></dd>
                    })
                })}
            </dl>
            {(!d.verdict.ignored.is_empty()).then(|| view! {
                <ul class="ignored">{d.verdict.ignored.iter().map(|i| view! { <li>{format!("{}: {}", i.user, i.reason)}</li> }).collect_view()}</ul>
            })}
            {(!c.risks.is_empty()).then(|| view! {
                <h3>"Risk flags"</h3>
                <ul class="risks" data-testid="risks">{c.risks.iter().map(|r| view! { <li><span class="badge risk">{r.kind.clone()}</span>{format!(" {}", r.reason)}</li> }).collect_view()}</ul>
            })}
            // Comments stay possible once the change is closed (notes after a deployment); the
            // decisions and the merge do not.
            <div class="actions">
                    <div class="comment-box">
                        <textarea placeholder="Comment (optional)" aria-label="comment" prop:value=move || draft.get()
                            aria-invalid=move || too_long().to_string()
                            aria-describedby="comment-count"
                            on:input=move |ev| draft.set(event_target_value(&ev))></textarea>
                        <span id="comment-count" class="muted counter" class:error=too_long data-testid="comment-count">
                            {move || format!("{} / {MAX_COMMENT}", draft.with(|t| t.chars().count()))}
                        </span>
                    </div>
                    {open.then(|| match may_review.clone() {
                        Ok(()) => view! {
                            <button class="approve" data-testid="approve"
                                disabled=move || review.pending().get() || done("approve") || too_long()
                                on:click=move |_| {
                                    decided.set(Some("approve"));
                                    review.dispatch(ReviewChange { id: id_a.clone(), decision: "approve".into(), comment: draft.get_untracked() });
                                }>"Approve"</button>
                            <button class="reject" data-testid="reject"
                                disabled=move || review.pending().get() || done("reject") || too_long()
                                on:click=move |_| {
                                    decided.set(Some("reject"));
                                    review.dispatch(ReviewChange { id: id_r.clone(), decision: "reject".into(), comment: draft.get_untracked() });
                                }>"Reject"</button>
                        }.into_any(),
                        Err(why) => view! { <p class="muted" data-testid="cannot-review">{format!("You cannot review this change: {why}.")}</p> }.into_any(),
                    })}
                    <button class="comment" data-testid="comment"
                        disabled=move || comment.pending().get() || too_long() || draft.with(String::is_empty)
                        on:click=move |_| {
                            comment.dispatch(CommentChange { id: id_c.clone(), body: draft.get_untracked() });
                        }>"Comment"</button>
                    {open.then(|| view! { <button class="merge" data-testid="merge"
                        disabled=move || !can_merge || merge.pending().get() || merged_now()
                        on:click=move |_| {
                        merge.dispatch(MergeChange { id: id_m.clone() });
                    }>"Merge"</button> })}
            </div>
            {comment_result}
            {review_result}
            {merge_result}
        </section>
        {d.delivery.clone().map(|dl| view! { <super::delivery::DeliveryCard dl/> })}
    }
}

/// The tabs and the diff's objects.
#[component]
fn Body(d: ObjectList, tab: RwSignal<&'static str>) -> impl IntoView {
    let c = d.change;
    let id = c.id.clone();
    let tab_button = move |name: &'static str, label: String| {
        view! {
            <button role="tab" aria-selected=move || (tab.get() == name).to_string() on:click=move |_| tab.set(name)>
                {label}
            </button>
        }
    };
    view! {
        <nav class="tabs" role="tablist">
            {tab_button("rendered", format!("Rendered objects (+{} ~{} -{})", c.summary.added, c.summary.changed, c.summary.removed))}
            {tab_button("source", "Templates and values".to_string())}
            {tab_button("timeline", "Timeline".to_string())}
        </nav>
        <Show when=move || tab.get() == "rendered">
            <RenderedDiff id=id.clone() objects=d.objects.clone()/>
        </Show>
        <Show when=move || tab.get() == "source">
            <SourceDiff id=c.id.clone()/>
        </Show>
    }
}
