//! Approvals count only while their givers still may give them: an approver taken out
//! of the policy's group, disabled or made a viewer after approving no longer counts
//! when the change is merged. And stored facts that do not decode block the merge
//! instead of reading as empty.

use super::sandbox::git_ref;
use super::Pipes;

crate::pipelines_on_both_databases!(
    an_approver_removed_from_the_group_no_longer_counts,
    a_disabled_or_demoted_approver_no_longer_counts,
    a_corrupt_risks_column_blocks_the_merge,
    a_corrupt_images_column_blocks_the_merge,
);

/// A change in dev approved by bob, under a policy that does not merge on approval.
pub(super) async fn approved_by_bob(p: &Pipes) -> String {
    app::settings::ssr::save_policy(
        &p.server.database.db,
        "admin",
        "dev",
        r#"{"required_approvals": 1, "approvers": ["group:cluster-admins"]}"#,
    )
    .await
    .unwrap();
    let bob = p.token("bob").await;
    let change = p.open_change(&bob, None).await;
    let id = change["id"].as_str().unwrap().to_string();
    let (status, body) = p
        .post(
            &bob,
            &format!("/api/v1/changes/{id}/approve"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    id
}

/// Merging as admin (who has not approved) must be refused, saying `why`, and move nothing.
async fn merge_is_refused(p: &Pipes, id: &str, why: &str) {
    let admin = p.token("admin").await;
    let before = git_ref(&p.gitops_repo(), "refs/heads/env/dev");
    let (status, body) = p
        .post(
            &admin,
            &format!("/api/v1/changes/{id}/merge"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains(why), "{body}");
    assert_eq!(git_ref(&p.gitops_repo(), "refs/heads/env/dev"), before);
}

async fn sql(p: &Pipes, statement: &str) {
    sqlx::query(statement)
        .execute(&p.server.database.db.pool)
        .await
        .unwrap();
}

async fn an_approver_removed_from_the_group_no_longer_counts(p: &Pipes) {
    let id = approved_by_bob(p).await;
    sql(
        p,
        "DELETE FROM group_members WHERE group_name = 'cluster-admins'
         AND user_id = (SELECT id FROM users WHERE name = 'bob')",
    )
    .await;
    merge_is_refused(p, &id, "0 of 1").await;
    // Back in the group, the same approval counts again.
    sql(
        p,
        "INSERT INTO group_members (user_id, group_name)
         SELECT id, 'cluster-admins' FROM users WHERE name = 'bob'",
    )
    .await;
    let admin = p.token("admin").await;
    let (status, body) = p
        .post(
            &admin,
            &format!("/api/v1/changes/{id}/merge"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn a_disabled_or_demoted_approver_no_longer_counts(p: &Pipes) {
    let id = approved_by_bob(p).await;
    sql(p, "UPDATE users SET disabled = 1 WHERE name = 'bob'").await;
    merge_is_refused(p, &id, "0 of 1").await;
    sql(
        p,
        "UPDATE users SET disabled = 0, role = 'viewer' WHERE name = 'bob'",
    )
    .await;
    merge_is_refused(p, &id, "0 of 1").await;
}

async fn a_corrupt_risks_column_blocks_the_merge(p: &Pipes) {
    let id = approved_by_bob(p).await;
    sqlx::query("UPDATE change_requests SET risks = '[{\"kind\": ' WHERE id = $1")
        .bind(&id)
        .execute(&p.server.database.db.pool)
        .await
        .unwrap();
    merge_is_refused(p, &id, "risk flags of this change do not decode").await;
    // The change is still shown.
    let admin = p.token("admin").await;
    let (status, change) = p.get(&admin, &format!("/api/v1/changes/{id}")).await;
    assert_eq!(status, 200, "{change}");
}

/// Read as "no images", the change would merge and its deployment would be verified
/// against nothing.
async fn a_corrupt_images_column_blocks_the_merge(p: &Pipes) {
    let id = approved_by_bob(p).await;
    sqlx::query("UPDATE change_requests SET images = '{\"web\": 1' WHERE id = $1")
        .bind(&id)
        .execute(&p.server.database.db.pool)
        .await
        .unwrap();
    merge_is_refused(p, &id, "images of this change do not decode").await;
}
