use super::*;
use crate::environments::ExtraReview;
use time::macros::datetime;

const HEAD: &str = "5d6e7f8a9b0c1d2e3f405162738495a6b7c8d9e0";
const OLD: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const CLUSTER_ROLE: &str = "rbac: rbac.authorization.k8s.io/ClusterRole reader";

/// Wednesday, well away from any weekly window the tests define.
const WED_NOON: OffsetDateTime = datetime!(2026-01-07 12:00 UTC);

fn policy(required: u32, approvers: &[&str]) -> Policy {
    Policy {
        required_approvals: required,
        approvers: approvers.iter().map(|a| a.to_string()).collect(),
        extra_reviews: Vec::new(),
        auto_promote: false,
        merge_when_approved: false,
        freeze_windows: Vec::new(),
        require_signed_commits: false,
    }
}

fn with_security(mut p: Policy) -> Policy {
    p.extra_reviews.push(ExtraReview {
        group: "security".into(),
        when: vec!["rbac".into(), "secret".into()],
    });
    p
}

fn review(user: &str, groups: &[&str], decision: Decision, head: &str) -> Review {
    Review {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        decision,
        head: head.into(),
        at: "2026-01-07T11:00:00Z".into(),
    }
}

fn approve(user: &str, groups: &[&str]) -> Review {
    review(user, groups, Decision::Approve, HEAD)
}

fn reject(user: &str, groups: &[&str]) -> Review {
    review(user, groups, Decision::Reject, HEAD)
}

fn risk(kind: &str, object: &str) -> RiskFlag {
    RiskFlag {
        kind: kind.into(),
        object: object.into(),
        reason: "test".into(),
    }
}

fn rbac() -> Vec<RiskFlag> {
    vec![risk("rbac", "rbac.authorization.k8s.io/ClusterRole reader")]
}

fn change<'a>(author: Option<&'a str>, risks: &'a [RiskFlag]) -> Change<'a> {
    // Leaked: a test's change lives as long as the test anyway.
    let authors: &'a [String] = Box::leak(author.map(String::from).into_iter().collect());
    Change {
        authors,
        unsigned: &[],
        head: HEAD,
        risks,
    }
}

fn open() -> Gates<'static> {
    Gates {
        now: WED_NOON,
        stop_the_line: None,
    }
}

fn at(now: OffsetDateTime) -> Gates<'static> {
    Gates {
        now,
        stop_the_line: None,
    }
}

fn eval(p: &Policy, c: &Change, reviews: &[Review]) -> Verdict {
    evaluate(p, c, reviews, &open())
}

fn window(from: &str, to: &str, reason: &str) -> FreezeWindow {
    FreezeWindow {
        from: from.into(),
        to: to.into(),
        reason: reason.into(),
    }
}

fn reasons(v: &Verdict) -> Vec<(&str, &str)> {
    v.ignored
        .iter()
        .map(|i| (i.user.as_str(), i.reason.as_str()))
        .collect()
}

fn groups(gs: &[&str]) -> Vec<String> {
    gs.iter().map(|g| g.to_string()).collect()
}

// --- who counts ---

#[test]
fn a_listed_user_counts_and_an_unlisted_one_is_ignored() {
    let p = policy(1, &["alice"]);
    let v = eval(
        &p,
        &change(None, &[]),
        &[approve("bob", &[]), approve("alice", &[])],
    );
    assert_eq!(v.approvals, ["alice"]);
    assert_eq!(
        reasons(&v),
        [("bob", "bob is not an approver of this environment")]
    );
    assert!(v.can_merge);
}

#[test]
fn group_members_count_and_others_do_not() {
    let p = policy(2, &["group:ops"]);
    let v = eval(
        &p,
        &change(None, &[]),
        &[approve("alice", &["ops"]), approve("bob", &["dev"])],
    );
    assert_eq!(v.approvals, ["alice"]);
    assert_eq!(v.ignored.len(), 1);
    assert!(!v.can_merge);
    assert_eq!(v.summary(), "1 of 2 approvals");
}

#[test]
fn empty_approvers_means_nobody() {
    let p = policy(1, &[]);
    let v = eval(&p, &change(None, &[]), &[approve("alice", &["ops"])]);
    assert!(v.approvals.is_empty());
    assert!(v.no_approvers);
    assert!(!v.can_merge);
    assert_eq!(
        v.summary(),
        "0 of 1 approval; this environment names no approvers"
    );
    // Nothing required, nobody needed: the lack of approvers is no obstacle then.
    let v = eval(&policy(0, &[]), &change(None, &[]), &[]);
    assert!(v.can_merge);
    assert_eq!(v.summary(), "Ready to merge: no approvals required");
}

#[test]
fn the_author_never_counts() {
    let p = policy(1, &["alice", "bob"]);
    let v = eval(&p, &change(Some("alice"), &[]), &[approve("alice", &[])]);
    assert!(v.approvals.is_empty());
    assert_eq!(
        reasons(&v),
        [("alice", "authors cannot approve their own change")]
    );
    assert!(!v.can_merge);
    let v = eval(&p, &change(Some("alice"), &[]), &[approve("bob", &[])]);
    assert_eq!(v.approvals, ["bob"]);
    assert!(v.can_merge);
}

#[test]
fn an_unknown_author_excludes_nobody() {
    let p = policy(1, &["alice"]);
    let v = eval(&p, &change(None, &[]), &[approve("alice", &[])]);
    assert!(v.can_merge);
}

#[test]
fn an_authors_rejection_does_not_block() {
    let p = policy(1, &["alice", "bob"]);
    let v = eval(
        &p,
        &change(Some("alice"), &[]),
        &[reject("alice", &[]), approve("bob", &[])],
    );
    assert!(v.rejected_by.is_empty());
    assert_eq!(
        reasons(&v),
        [("alice", "authors cannot review their own change")]
    );
    assert!(v.can_merge);
}

#[test]
fn one_user_counts_once() {
    let p = policy(2, &["alice", "group:ops"]);
    let v = eval(
        &p,
        &change(None, &[]),
        &[approve("alice", &["ops"]), approve("alice", &["ops"])],
    );
    assert_eq!(v.approvals, ["alice"]);
    assert_eq!(
        reasons(&v),
        [("alice", "superseded by a later review by alice")]
    );
    assert!(!v.can_merge);
}

// --- heads and order ---

#[test]
fn reviews_of_an_earlier_head_are_dismissed() {
    let p = policy(1, &["alice"]);
    let stale = review("alice", &[], Decision::Approve, OLD);
    let v = eval(&p, &change(None, &[]), std::slice::from_ref(&stale));
    assert!(v.approvals.is_empty());
    assert_eq!(
        reasons(&v),
        [(
            "alice",
            "given for an earlier head 1a2b3c4 (the change moved to 5d6e7f8)"
        )]
    );
    assert!(!v.can_merge);
    // Approving again at the new head counts; the stale review is still listed as ignored.
    let v = eval(&p, &change(None, &[]), &[stale, approve("alice", &[])]);
    assert_eq!(v.approvals, ["alice"]);
    assert_eq!(v.ignored.len(), 1);
    assert!(v.can_merge);
}

#[test]
fn a_stale_rejection_no_longer_blocks() {
    let p = policy(1, &["alice", "bob"]);
    let v = eval(
        &p,
        &change(None, &[]),
        &[
            review("bob", &[], Decision::Reject, OLD),
            approve("alice", &[]),
        ],
    );
    assert!(v.rejected_by.is_empty());
    assert!(v.can_merge);
}

#[test]
fn a_later_review_at_another_head_does_not_void_one_at_the_current_head() {
    // The change went back to an earlier commit: reviews of that commit apply again.
    let p = policy(1, &["alice"]);
    let v = eval(
        &p,
        &change(None, &[]),
        &[
            approve("alice", &[]),
            review("alice", &[], Decision::Reject, OLD),
        ],
    );
    assert_eq!(v.approvals, ["alice"]);
    assert!(v.rejected_by.is_empty());
}

#[test]
fn short_heads_are_shown_whole() {
    let p = policy(1, &["alice"]);
    let c = Change {
        authors: &[],
        unsigned: &[],
        head: "abc",
        risks: &[],
    };
    let v = eval(&p, &c, &[review("alice", &[], Decision::Approve, "xyz")]);
    assert_eq!(
        v.ignored[0].reason,
        "given for an earlier head xyz (the change moved to abc)"
    );
}

#[test]
fn a_rejection_blocks_until_the_reviewer_approves_again() {
    let p = policy(1, &["alice", "bob"]);
    let c = change(None, &[]);
    let v = eval(&p, &c, &[approve("alice", &[]), reject("bob", &[])]);
    assert_eq!(v.rejected_by, ["bob"]);
    assert_eq!(v.approvals, ["alice"]);
    assert!(!v.can_merge);
    assert_eq!(v.summary(), "Rejected by bob; 1 of 1 approval");

    let v = eval(
        &p,
        &c,
        &[
            approve("alice", &[]),
            reject("bob", &[]),
            approve("bob", &[]),
        ],
    );
    assert!(v.rejected_by.is_empty());
    assert_eq!(v.approvals, ["alice", "bob"]);
    assert_eq!(
        reasons(&v),
        [("bob", "superseded by a later review by bob")]
    );
    assert!(v.can_merge);
}

#[test]
fn rejecting_after_approving_withdraws_the_approval() {
    let p = policy(1, &["alice"]);
    let v = eval(
        &p,
        &change(None, &[]),
        &[approve("alice", &[]), reject("alice", &[])],
    );
    assert!(v.approvals.is_empty());
    assert_eq!(v.rejected_by, ["alice"]);
    assert!(!v.can_merge);
}

#[test]
fn a_rejection_by_someone_ineligible_is_ignored() {
    let p = policy(1, &["alice"]);
    let v = eval(
        &p,
        &change(None, &[]),
        &[approve("alice", &[]), reject("mallory", &[])],
    );
    assert!(v.rejected_by.is_empty());
    assert_eq!(
        reasons(&v),
        [("mallory", "mallory is not an approver of this environment")]
    );
    assert!(v.can_merge);
}

// --- extra reviews ---

#[test]
fn a_risk_flag_in_when_triggers_the_extra_review() {
    let p = with_security(policy(1, &["alice"]));
    let risks = rbac();
    let v = eval(&p, &change(None, &risks), &[approve("alice", &[])]);
    assert_eq!(
        v.reviews_needed,
        [ExtraNeeded {
            group: "security".into(),
            because: vec![CLUSTER_ROLE.into()],
            satisfied_by: None,
        }]
    );
    assert!(!v.can_merge);
    assert_eq!(
        v.summary(),
        format!("1 of 1 approval; security review needed because {CLUSTER_ROLE}")
    );
}

#[test]
fn waiting_for_me_ends_with_my_review_in_whatever_capacity() {
    let p = with_security(policy(1, &["alice"]));
    let risks = rbac();
    let c = change(None, &risks);
    let sec = ["security".to_string()];
    let waits = |reviews: &[Review], user: &str, groups: &[String]| {
        waits_for(&p, &eval(&p, &c, reviews), user, groups)
    };
    // Nobody reviewed: both the approver and the security reviewer are waited for.
    assert!(waits(&[], "alice", &[]));
    assert!(waits(&[], "sam", &sec));
    // sam's security review is given: the change no longer waits for sam, only for alice.
    let sam = [approve("sam", &["security"])];
    assert!(!waits(&sam, "sam", &sec));
    assert!(waits(&sam, "alice", &[]));
    // Another security reviewer is not needed once sam answered for the group.
    assert!(!waits(&sam, "sue", &sec));
    // alice approved: the count is met; nothing waits for her, the review still for sam.
    let alice = [approve("alice", &[])];
    assert!(!waits(&alice, "alice", &[]));
    assert!(waits(&alice, "sam", &sec));
    // A rejection is an answer too.
    assert!(!waits(&[reject("sam", &["security"])], "sam", &sec));
}

#[test]
fn risk_flags_outside_when_trigger_nothing() {
    let p = with_security(policy(1, &["alice"]));
    let risks = vec![risk("image", "apps/Deployment shop/web")];
    let v = eval(&p, &change(None, &risks), &[approve("alice", &[])]);
    assert!(v.reviews_needed.is_empty());
    assert!(v.can_merge);
}

#[test]
fn a_group_member_outside_approvers_satisfies_the_extra_review_only() {
    let p = with_security(policy(2, &["alice", "bob"]));
    let risks = rbac();
    let v = eval(
        &p,
        &change(None, &risks),
        &[approve("alice", &[]), approve("carol", &["security"])],
    );
    assert_eq!(v.approvals, ["alice"]);
    assert_eq!(v.reviews_needed[0].satisfied_by.as_deref(), Some("carol"));
    assert!(v.ignored.is_empty());
    assert!(!v.can_merge);
    assert_eq!(v.summary(), "1 of 2 approvals; security review by carol");

    let v = eval(
        &p,
        &change(None, &risks),
        &[
            approve("alice", &[]),
            approve("carol", &["security"]),
            approve("bob", &[]),
        ],
    );
    assert!(v.can_merge);
    assert_eq!(
        v.summary(),
        "Ready to merge: 2 of 2 approvals; security review by carol"
    );
}

#[test]
fn an_approver_outside_the_group_does_not_satisfy_the_extra_review() {
    let p = with_security(policy(1, &["alice"]));
    let risks = rbac();
    let v = eval(&p, &change(None, &risks), &[approve("alice", &["ops"])]);
    assert_eq!(v.reviews_needed[0].satisfied_by, None);
    assert!(!v.can_merge);
}

#[test]
fn an_approver_in_the_group_satisfies_both() {
    let p = with_security(policy(1, &["group:ops"]));
    let risks = rbac();
    let v = eval(
        &p,
        &change(None, &risks),
        &[approve("dana", &["ops", "security"])],
    );
    assert_eq!(v.approvals, ["dana"]);
    assert_eq!(v.reviews_needed[0].satisfied_by.as_deref(), Some("dana"));
    assert!(v.can_merge);
}

#[test]
fn an_author_in_the_group_cannot_satisfy_the_extra_review() {
    let p = with_security(policy(1, &["alice"]));
    let risks = rbac();
    let c = change(Some("carol"), &risks);
    let v = eval(
        &p,
        &c,
        &[approve("alice", &[]), approve("carol", &["security"])],
    );
    assert_eq!(v.reviews_needed[0].satisfied_by, None);
    assert_eq!(
        reasons(&v),
        [("carol", "authors cannot approve their own change")]
    );
    assert!(!v.can_merge);
    let v = eval(
        &p,
        &c,
        &[
            approve("alice", &[]),
            approve("carol", &["security"]),
            approve("erin", &["security"]),
        ],
    );
    assert_eq!(v.reviews_needed[0].satisfied_by.as_deref(), Some("erin"));
    assert!(v.can_merge);
}

#[test]
fn an_extra_review_needs_the_current_head() {
    let p = with_security(policy(1, &["alice"]));
    let risks = rbac();
    let v = eval(
        &p,
        &change(None, &risks),
        &[
            approve("alice", &[]),
            review("carol", &["security"], Decision::Approve, OLD),
        ],
    );
    assert_eq!(v.reviews_needed[0].satisfied_by, None);
    assert!(!v.can_merge);
}

#[test]
fn a_group_members_rejection_blocks() {
    let p = with_security(policy(1, &["alice"]));
    let risks = rbac();
    let v = eval(
        &p,
        &change(None, &risks),
        &[
            approve("alice", &[]),
            approve("erin", &["security"]),
            reject("carol", &["security"]),
        ],
    );
    assert_eq!(v.rejected_by, ["carol"]);
    assert_eq!(v.reviews_needed[0].satisfied_by.as_deref(), Some("erin"));
    assert!(!v.can_merge);
}

#[test]
fn group_members_are_ignored_when_their_review_is_not_triggered() {
    let p = with_security(policy(1, &["alice"]));
    let v = eval(
        &p,
        &change(None, &[]),
        &[approve("alice", &[]), reject("carol", &["security"])],
    );
    assert!(v.rejected_by.is_empty());
    assert_eq!(
        reasons(&v),
        [("carol", "carol is not an approver of this environment")]
    );
    assert!(v.can_merge);
}

#[test]
fn ineligible_reasons_name_the_triggered_groups() {
    let mut p = with_security(policy(1, &["alice"]));
    p.extra_reviews.push(ExtraReview {
        group: "platform".into(),
        when: vec!["crd".into()],
    });
    let one = rbac();
    let v = eval(&p, &change(None, &one), &[approve("mallory", &["dev"])]);
    assert_eq!(
        v.ignored[0].reason,
        "mallory is not an approver of this environment nor in group security"
    );
    let two = vec![
        risk("rbac", "rbac.authorization.k8s.io/Role shop/reader"),
        risk(
            "crd",
            "apiextensions.k8s.io/CustomResourceDefinition widgets.example.com",
        ),
    ];
    let v = eval(&p, &change(None, &two), &[approve("mallory", &["dev"])]);
    assert_eq!(
        v.ignored[0].reason,
        "mallory is not an approver of this environment nor in any of the groups security, platform"
    );
}

#[test]
fn entries_for_the_same_group_merge_and_reasons_are_not_repeated() {
    let mut p = with_security(policy(1, &["alice"]));
    p.extra_reviews.push(ExtraReview {
        group: "security".into(),
        when: vec!["privileged".into(), "rbac".into()],
    });
    let risks = vec![
        risk("rbac", "rbac.authorization.k8s.io/ClusterRole reader"),
        risk("rbac", "rbac.authorization.k8s.io/ClusterRole reader"),
        risk("privileged", "apps/DaemonSet kube-system/agent"),
        risk("secret", "v1/Secret shop/db"),
    ];
    let v = eval(&p, &change(None, &risks), &[approve("alice", &[])]);
    assert_eq!(v.reviews_needed.len(), 1);
    assert_eq!(
        v.reviews_needed[0].because,
        [
            CLUSTER_ROLE,
            "secret: v1/Secret shop/db",
            "privileged: apps/DaemonSet kube-system/agent"
        ]
    );
    assert_eq!(
        v.summary(),
        "1 of 1 approval; security review needed because rbac: \
         rbac.authorization.k8s.io/ClusterRole reader, secret: v1/Secret shop/db, \
         privileged: apps/DaemonSet kube-system/agent"
    );
}

#[test]
fn each_triggered_group_must_approve() {
    let mut p = with_security(policy(0, &[]));
    p.extra_reviews.push(ExtraReview {
        group: "platform".into(),
        when: vec!["crd".into()],
    });
    let risks = vec![
        risk("secret", "v1/Secret shop/db"),
        risk(
            "crd",
            "apiextensions.k8s.io/CustomResourceDefinition widgets.example.com",
        ),
    ];
    let c = change(None, &risks);
    let v = eval(&p, &c, &[approve("carol", &["security"])]);
    assert!(!v.can_merge);
    let v = eval(
        &p,
        &c,
        &[
            approve("carol", &["security"]),
            approve("pat", &["platform"]),
        ],
    );
    assert!(v.can_merge);
    assert_eq!(
        v.summary(),
        "Ready to merge: no approvals required; security review by carol; platform review by pat"
    );
}

// --- may_review ---

#[test]
fn may_review_refuses_the_author() {
    let p = policy(1, &["alice"]);
    assert_eq!(
        may_review(&p, &change(Some("alice"), &[]), "alice", &[]),
        Err("authors cannot review their own change".to_string())
    );
}

#[test]
fn may_review_admits_approvers_by_name_and_group() {
    let p = policy(1, &["alice", "group:ops"]);
    let c = change(Some("zoe"), &[]);
    assert_eq!(may_review(&p, &c, "alice", &[]), Ok(()));
    assert_eq!(may_review(&p, &c, "bob", &groups(&["ops"])), Ok(()));
    assert_eq!(
        may_review(&p, &c, "mallory", &groups(&["dev"])),
        Err("mallory is not an approver of this environment".to_string())
    );
}

#[test]
fn may_review_admits_extra_reviewers_only_when_triggered() {
    let p = with_security(policy(1, &["alice"]));
    let sec = groups(&["security"]);
    let risks = rbac();
    assert_eq!(may_review(&p, &change(None, &risks), "carol", &sec), Ok(()));
    assert_eq!(
        may_review(&p, &change(None, &[]), "carol", &sec),
        Err("carol is not an approver of this environment".to_string())
    );
    assert_eq!(
        may_review(&p, &change(None, &risks), "mallory", &[]),
        Err("mallory is not an approver of this environment nor in group security".to_string())
    );
    assert_eq!(
        may_review(&p, &change(Some("carol"), &risks), "carol", &sec),
        Err("authors cannot review their own change".to_string())
    );
}

#[test]
fn may_review_with_no_approvers_admits_nobody() {
    let p = policy(1, &[]);
    assert!(may_review(&p, &change(None, &[]), "alice", &groups(&["ops"])).is_err());
}

// --- freeze windows ---

#[test]
fn absolute_windows_include_from_and_exclude_to() {
    let w = window("2026-12-20T00:00:00Z", "2027-01-02T00:00:00Z", "year end");
    assert_eq!(w.validate(), Ok(()));
    assert!(!w.contains(datetime!(2026-12-19 23:59:59 UTC)));
    assert!(w.contains(datetime!(2026-12-20 00:00 UTC)));
    assert!(w.contains(datetime!(2027-01-01 23:59:59.999 UTC)));
    assert!(!w.contains(datetime!(2027-01-02 00:00 UTC)));
    assert_eq!(
        w.ends_at(datetime!(2026-12-24 10:00 UTC)),
        Some(datetime!(2027-01-02 00:00 UTC))
    );
    assert_eq!(w.ends_at(datetime!(2027-01-02 00:00 UTC)), None);
}

#[test]
fn absolute_windows_compare_instants_across_offsets() {
    let w = window("2026-12-20T02:00:00+02:00", "2026-12-21T00:00:00Z", "");
    // 2026-12-20T00:00Z is the same instant as from.
    assert!(w.contains(datetime!(2026-12-20 00:00 UTC)));
    assert!(!w.contains(datetime!(2026-12-20 01:59 +02:00)));
    assert!(w.contains(datetime!(2026-12-21 01:59 +02:00)));
    assert!(!w.contains(datetime!(2026-12-21 02:00 +02:00)));
}

#[test]
fn weekly_windows_within_the_week() {
    let w = window("Tue 09:00", "Tue 17:30", "release train");
    assert_eq!(w.validate(), Ok(()));
    assert!(!w.contains(datetime!(2026-01-06 08:59:59 UTC)));
    assert!(w.contains(datetime!(2026-01-06 09:00 UTC)));
    assert!(w.contains(datetime!(2026-01-06 17:29:59 UTC)));
    assert!(!w.contains(datetime!(2026-01-06 17:30 UTC)));
    assert!(!w.contains(datetime!(2026-01-07 12:00 UTC)));
    // Every week, not only the first.
    assert!(w.contains(datetime!(2027-03-02 12:00 UTC)));
}

#[test]
fn weekly_windows_wrap_the_week_end() {
    let w = window("Fri 16:00", "Mon 08:00", "weekend");
    assert_eq!(w.validate(), Ok(()));
    assert!(!w.contains(datetime!(2026-01-09 15:59:59 UTC)));
    assert!(w.contains(datetime!(2026-01-09 16:00 UTC)));
    assert!(w.contains(datetime!(2026-01-10 12:00 UTC)));
    assert!(w.contains(datetime!(2026-01-11 23:59:59 UTC)));
    assert!(w.contains(datetime!(2026-01-12 00:00 UTC)));
    assert!(w.contains(datetime!(2026-01-12 07:59:59 UTC)));
    assert!(!w.contains(datetime!(2026-01-12 08:00 UTC)));
    assert!(!w.contains(WED_NOON));
}

#[test]
fn weekly_windows_are_in_utc() {
    let w = window("Fri 16:00", "Mon 08:00", "weekend");
    // 17:30 in +02:00 is 15:30 UTC: before the window.
    assert!(!w.contains(datetime!(2026-01-09 17:30 +02:00)));
    // Monday 09:00 in +02:00 is 07:00 UTC: still inside.
    assert!(w.contains(datetime!(2026-01-12 09:00 +02:00)));
    // Sunday 22:00 in -05:00 is Monday 03:00 UTC.
    assert!(w.contains(datetime!(2026-01-11 22:00 -05:00)));
}

#[test]
fn weekly_window_ends_at_the_next_to() {
    let w = window("Fri 16:00", "Mon 08:00", "weekend");
    assert_eq!(
        w.ends_at(datetime!(2026-01-09 16:00 UTC)),
        Some(datetime!(2026-01-12 08:00 UTC))
    );
    assert_eq!(
        w.ends_at(datetime!(2026-01-12 07:59:59.5 UTC)),
        Some(datetime!(2026-01-12 08:00 UTC))
    );
    // Across a year end, and from a caller in another offset.
    assert_eq!(
        w.ends_at(datetime!(2026-12-26 10:00 +02:00)),
        Some(datetime!(2026-12-28 08:00 UTC))
    );
    assert_eq!(w.ends_at(WED_NOON), None);
}

#[test]
fn invalid_windows_are_refused_with_a_reason() {
    let cases = [
        ("2026-12-20T00:00:00Z", "2026-12-20T00:00:00Z", "same time"),
        ("2026-12-21T00:00:00Z", "2026-12-20T00:00:00Z", "is after"),
        ("Fri 16:00", "Fri 16:00", "same weekly time"),
        ("Fri 16:00", "2026-12-20T00:00:00Z", "both"),
        ("2026-12-20T00:00:00Z", "Mon 08:00", "both"),
        ("Fry 16:00", "Mon 08:00", "neither an RFC 3339"),
        ("mon 08:00", "Tue 08:00", "neither an RFC 3339"),
        ("Monday 08:00", "Tue 08:00", "not a weekly time"),
        ("Mon  08:00", "Tue 08:00", "not a weekly time"),
        ("Mon 8:00", "Tue 08:00", "not a weekly time"),
        ("Mon 24:00", "Tue 08:00", "HH:MM"),
        ("Mon 08:60", "Tue 08:00", "HH:MM"),
        ("Mon +8:00", "Tue 08:00", "HH:MM"),
        ("Mon 08:00", "Tue 08:00:00", "not a weekly time"),
        ("Mon 08:00", "Tue é:00", "not a weekly time"),
        ("", "Tue 08:00", "neither"),
        ("2026-12-20", "2026-12-21", "neither"),
        ("2026-12-20 00:00:00", "2026-12-21T00:00:00Z", "neither"),
    ];
    for (from, to, expect) in cases {
        let w = window(from, to, "x");
        let err = w
            .validate()
            .expect_err(&format!("{from} – {to} must be invalid"));
        assert!(err.contains(expect), "{from} – {to}: {err}");
        // Invalid windows contain nothing themselves; evaluate blocks on them instead.
        assert!(!w.contains(datetime!(2026-12-20 00:00 UTC)));
        assert!(!w.contains(datetime!(2026-01-05 08:00 UTC)));
    }
    assert_eq!(window("Mon 08:00", "Tue 08:00", "").validate(), Ok(()));
    assert_eq!(window("Sun 23:59", "Mon 00:00", "").validate(), Ok(()));
}

#[test]
fn freeze_windows_deserialize_strictly() {
    let w: FreezeWindow = serde_json::from_str(r#"{"from":"Fri 16:00","to":"Mon 08:00"}"#).unwrap();
    assert_eq!(w.reason, "");
    let err =
        serde_json::from_str::<FreezeWindow>(r#"{"from":"a","to":"b","until":"c"}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `until`"), "{err}");
}

#[test]
fn policies_without_freeze_windows_still_parse() {
    let p: Policy = serde_json::from_str(r#"{"required_approvals":1,"approvers":["a"]}"#).unwrap();
    assert!(p.freeze_windows.is_empty());
    let p: Policy = serde_json::from_str(
        r#"{"required_approvals":1,"freeze_windows":[{"from":"Fri 16:00","to":"Mon 08:00","reason":"weekend"}]}"#,
    )
    .unwrap();
    assert_eq!(
        p.freeze_windows,
        [window("Fri 16:00", "Mon 08:00", "weekend")]
    );
}

#[test]
fn an_active_freeze_blocks_and_says_until_when() {
    let mut p = policy(1, &["alice"]);
    p.freeze_windows.push(window(
        "2026-12-20T00:00:00Z",
        "2027-01-02T00:00:00Z",
        "year end",
    ));
    let c = change(None, &[]);
    let ok = [approve("alice", &[])];
    let v = evaluate(&p, &c, &ok, &at(datetime!(2026-12-24 10:00 UTC)));
    assert_eq!(
        v.blocked,
        ["freeze window \"year end\" until 2027-01-02 00:00 UTC"]
    );
    assert!(!v.can_merge);
    assert_eq!(
        v.summary(),
        "Blocked: freeze window \"year end\" until 2027-01-02 00:00 UTC"
    );
    let v = evaluate(&p, &c, &ok, &at(datetime!(2027-01-02 00:00 UTC)));
    assert!(v.blocked.is_empty());
    assert!(v.can_merge);
    assert_eq!(v.summary(), "Ready to merge: 1 of 1 approval");
}

#[test]
fn a_weekly_freeze_blocks_with_its_next_end() {
    let mut p = policy(0, &[]);
    p.freeze_windows.push(window("Fri 16:00", "Mon 08:00", ""));
    let v = evaluate(
        &p,
        &change(None, &[]),
        &[],
        &at(datetime!(2026-01-10 12:00 UTC)),
    );
    assert_eq!(v.blocked, ["freeze window until 2026-01-12 08:00 UTC"]);
    let v = evaluate(&p, &change(None, &[]), &[], &open());
    assert!(v.can_merge);
}

#[test]
fn an_end_with_seconds_keeps_them() {
    let mut p = policy(0, &[]);
    p.freeze_windows.push(window(
        "2026-01-07T00:00:00Z",
        "2026-01-08T06:30:15+02:00",
        "db",
    ));
    let v = evaluate(&p, &change(None, &[]), &[], &open());
    assert_eq!(
        v.blocked,
        ["freeze window \"db\" until 2026-01-08 04:30:15 UTC"]
    );
}

#[test]
fn an_invalid_freeze_window_blocks() {
    let mut p = policy(0, &[]);
    p.freeze_windows
        .push(window("Fri 16:00", "Fri 16:00", "weekend"));
    let v = evaluate(&p, &change(None, &[]), &[], &open());
    assert!(!v.can_merge);
    assert_eq!(v.blocked.len(), 1);
    assert!(
        v.blocked[0]
            .starts_with("invalid freeze window \"weekend\" (from and to are the same weekly time"),
        "{}",
        v.blocked[0]
    );
    assert!(v.blocked[0].ends_with("nothing merges until the policy is fixed"));
}

// --- stop-the-line ---

#[test]
fn stop_the_line_blocks_everything() {
    let p = policy(1, &["alice"]);
    let c = change(None, &[]);
    let ok = [approve("alice", &[])];
    let gates = Gates {
        now: WED_NOON,
        stop_the_line: Some("incident 4711"),
    };
    let v = evaluate(&p, &c, &ok, &gates);
    assert_eq!(v.blocked, ["stop-the-line: incident 4711"]);
    assert!(!v.can_merge);
    assert_eq!(v.summary(), "Blocked: stop-the-line: incident 4711");
    let gates = Gates {
        now: WED_NOON,
        stop_the_line: Some("  "),
    };
    assert_eq!(
        evaluate(&p, &c, &ok, &gates).blocked,
        ["stop-the-line is on"]
    );
    assert!(evaluate(&p, &c, &ok, &open()).can_merge);
}

#[test]
fn blocked_summary_lists_what_is_also_missing() {
    let mut p = with_security(policy(2, &["alice", "bob"]));
    p.freeze_windows
        .push(window("Wed 00:00", "Thu 00:00", "midweek"));
    let risks = rbac();
    let gates = Gates {
        now: WED_NOON,
        stop_the_line: Some("incident 4711"),
    };
    let v = evaluate(
        &p,
        &change(None, &risks),
        &[approve("alice", &[]), reject("bob", &[])],
        &gates,
    );
    assert_eq!(
        v.summary(),
        format!(
            "Blocked: stop-the-line: incident 4711; freeze window \"midweek\" until \
             2026-01-08 00:00 UTC. Also: rejected by bob; 1 of 2 approvals; \
             security review needed because {CLUSTER_ROLE}"
        )
    );
}

// --- auto-promote ---

#[test]
fn auto_promote_merges_without_approval() {
    let mut p = policy(2, &["alice"]);
    p.auto_promote = true;
    let v = eval(&p, &change(None, &[]), &[]);
    assert!(v.auto);
    assert!(v.can_merge);
    assert_eq!(v.summary(), "Ready to merge: auto-promote");
}

#[test]
fn auto_promote_still_needs_triggered_extra_reviews() {
    let mut p = with_security(policy(0, &[]));
    p.auto_promote = true;
    let risks = rbac();
    let c = change(None, &risks);
    let v = eval(&p, &c, &[]);
    assert!(!v.can_merge);
    assert_eq!(
        v.summary(),
        format!("Auto-promote waits: security review needed because {CLUSTER_ROLE}")
    );
    let v = eval(&p, &c, &[approve("carol", &["security"])]);
    assert!(v.can_merge);
    assert_eq!(
        v.summary(),
        "Ready to merge: auto-promote; security review by carol"
    );
}

#[test]
fn auto_promote_still_honours_freezes_stop_the_line_and_rejections() {
    let mut p = policy(1, &["alice"]);
    p.auto_promote = true;
    p.freeze_windows
        .push(window("Fri 16:00", "Mon 08:00", "weekend"));
    let c = change(None, &[]);
    let v = evaluate(&p, &c, &[], &at(datetime!(2026-01-10 12:00 UTC)));
    assert!(!v.can_merge);
    assert_eq!(
        v.summary(),
        "Blocked: freeze window \"weekend\" until 2026-01-12 08:00 UTC"
    );
    let gates = Gates {
        now: WED_NOON,
        stop_the_line: Some("incident"),
    };
    assert!(!evaluate(&p, &c, &[], &gates).can_merge);
    let v = eval(&p, &c, &[reject("alice", &[])]);
    assert!(!v.can_merge);
    assert_eq!(v.summary(), "Auto-promote waits: rejected by alice");
}

// --- summaries and the wire format ---

#[test]
fn summary_texts() {
    let p = with_security(policy(2, &["group:ops"]));
    let risks = rbac();
    let c = change(Some("zoe"), &risks);
    let v = eval(&p, &c, &[approve("alice", &["ops"])]);
    assert_eq!(
        v.summary(),
        format!("1 of 2 approvals; security review needed because {CLUSTER_ROLE}")
    );
    let plain = policy(2, &["group:ops"]);
    let v = eval(
        &plain,
        &change(None, &[]),
        &[approve("alice", &["ops"]), approve("bob", &["ops"])],
    );
    assert_eq!(v.summary(), "Ready to merge: 2 of 2 approvals");
    let v = eval(&plain, &change(None, &[]), &[]);
    assert_eq!(v.summary(), "0 of 2 approvals");
    let v = eval(
        &policy(1, &["alice", "bob"]),
        &change(None, &[]),
        &[approve("alice", &[]), reject("bob", &[])],
    );
    assert_eq!(v.summary(), "Rejected by bob; 1 of 1 approval");
}

#[test]
fn verdicts_cross_the_wire_unchanged() {
    let p = with_security(policy(1, &["alice"]));
    let risks = rbac();
    let v = eval(
        &p,
        &change(Some("zoe"), &risks),
        &[approve("alice", &[]), approve("zoe", &["security"])],
    );
    let json = serde_json::to_string(&v).unwrap();
    let back: Verdict = serde_json::from_str(&json).unwrap();
    assert_eq!(back, v);
    assert_eq!(
        serde_json::to_string(&Decision::Approve).unwrap(),
        "\"approve\""
    );
    let r: Review =
        serde_json::from_str(r#"{"user":"a","groups":[],"decision":"reject","head":"h","at":"t"}"#)
            .unwrap();
    assert_eq!(r.decision, Decision::Reject);
}

#[test]
fn signed_commits_block_only_where_the_policy_requires_them() {
    let mut p = policy(1, &["alice"]);
    let unsigned = ["commit abc1234: unsigned".to_string()];
    let c = Change {
        authors: &[],
        unsigned: &unsigned,
        head: HEAD,
        risks: &[],
    };
    let approved = [review("alice", &[], Decision::Approve, HEAD)];
    assert!(eval(&p, &c, &approved).can_merge);
    p.require_signed_commits = true;
    let v = eval(&p, &c, &approved);
    assert!(!v.can_merge);
    assert_eq!(
        v.blocked,
        ["signed commits are required: commit abc1234: unsigned"]
    );
}

#[test]
fn still_needed_names_who_must_act() {
    let p = with_security(policy(2, &["alice", "group:cluster-admins", "dave"]));
    let risks = rbac();
    let c = change(Some("erin"), &risks);
    let approvers = p.approvers.clone();
    let v = eval(&p, &c, &[]);
    assert_eq!(
        v.still_needed(&approvers),
        vec![
            "2 more approvals from alice or group cluster-admins or dave".to_string(),
            format!("a review from group security ({CLUSTER_ROLE})"),
        ]
    );
    // Who has approved is not asked again; a rejection asks its author for a new review.
    let v = eval(
        &p,
        &c,
        &[
            approve("alice", &[]),
            reject("dave", &[]),
            approve("sam", &["security"]),
        ],
    );
    assert_eq!(
        v.still_needed(&approvers),
        vec![
            "1 more approval from group cluster-admins or dave".to_string(),
            "a new review from dave, who rejected it".to_string(),
        ]
    );
    // Nothing is needed once the policy is met; nobody can be named where nobody may approve.
    let v = eval(
        &p,
        &c,
        &[
            approve("alice", &[]),
            approve("dave", &[]),
            approve("sam", &["security"]),
        ],
    );
    assert!(v.still_needed(&approvers).is_empty(), "{v:?}");
    let none = policy(1, &[]);
    assert!(eval(&none, &change(None, &[]), &[])
        .still_needed(&[])
        .is_empty());
}
