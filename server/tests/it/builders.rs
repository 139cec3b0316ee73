//! Test data builders: a change request in a given state, written through the same store
//! functions the CD pipeline uses, without pushing a commit and waiting for runs. For tests
//! of reviews and policies; a test that merges needs a real proposal branch, so it still
//! goes through the pipelines (`runs::Pipes`).

use app::changes::{store, ChangeState};
use app::runs::store::{self as runs, Kind, NewRun};
use fluxgate_core::db::{new_id, Db};
use serde_json::{json, Value};
use sqlx::Row;

/// A change request of the demo app `hello-web`.
pub struct ChangeBuilder {
    env: String,
    author: String,
    risks: Vec<Value>,
    state: ChangeState,
    ci: Option<String>,
    rollback: bool,
}

impl ChangeBuilder {
    /// An open change for `env`, written by alice, without risks.
    pub fn new(env: &str) -> ChangeBuilder {
        ChangeBuilder {
            env: env.to_string(),
            author: "alice <alice@example.invalid>".into(),
            risks: Vec::new(),
            state: ChangeState::Open,
            ci: None,
            rollback: false,
        }
    }

    /// Built on an existing CI run (see [`ci_run`]) instead of a new one.
    pub fn ci_run(mut self, id: &str) -> ChangeBuilder {
        self.ci = Some(id.to_string());
        self
    }

    /// Opened as a rollback is (replacing whatever is open).
    pub fn rollback(mut self) -> ChangeBuilder {
        self.rollback = true;
        self
    }

    /// The app commit's author, as git records it ("Name <email>").
    pub fn author(mut self, who: &str) -> ChangeBuilder {
        self.author = who.to_string();
        self
    }

    /// A risk flag on an object, as the diff engine would raise it (`rbac`, `image`, …).
    pub fn risk(mut self, kind: &str, object: &str, reason: &str) -> ChangeBuilder {
        self.risks
            .push(json!({ "kind": kind, "object": object, "reason": reason }));
        self
    }

    pub fn state(mut self, state: ChangeState) -> ChangeBuilder {
        self.state = state;
        self
    }

    /// Writes the runs and the change; returns the change's id.
    pub async fn insert(self, db: &Db) -> String {
        let id_of = |sql: &'static str, name: String| async move {
            sqlx::query(sql)
                .bind(name)
                .fetch_one(&db.pool)
                .await
                .unwrap()
                .try_get::<String, _>("id")
                .unwrap()
        };
        let app_id = id_of("SELECT id FROM apps WHERE name = $1", "hello-web".into()).await;
        let env_id = id_of(
            "SELECT id FROM environments WHERE name = $1",
            self.env.clone(),
        )
        .await;
        // Made-up commits: nothing reads them from git unless the change is merged.
        let sha = |salt: u32| format!("{}{salt:08x}", new_id().replace('-', ""));
        let commit = sha(1);
        let run = |kind, parent| NewRun {
            app_id: &app_id,
            kind,
            commit_sha: &commit,
            branch: "main",
            author: &self.author,
            message: "built by a test",
            parent_run_id: parent,
        };
        let ci = match self.ci.clone() {
            Some(ci) => ci,
            None => runs::create(db, run(Kind::Ci, None))
                .await
                .unwrap()
                .unwrap(),
        };
        let cd = runs::create(db, run(Kind::Cd, Some(&ci)))
            .await
            .unwrap()
            .unwrap();
        let id = new_id();
        store::open(
            db,
            store::NewChange {
                id: &id,
                app_id: &app_id,
                environment_id: &env_id,
                cd_run_id: &cd,
                ci_run_id: &ci,
                app_commit: &commit,
                author: &self.author,
                identities: &[],
                title: "A change built by a test",
                images: &json!(["registry.example/hello-web:main-0000000"]),
                proposal_branch: &format!("proposals/{id}"),
                head_commit: &sha(2),
                base_commit: &sha(3),
                summary: &json!({ "added": 0, "removed": 0, "changed": 1, "unchanged": 0 }),
                risks: &Value::Array(self.risks),
                diff: r#"{"objects": []}"#,
                rollback: self.rollback,
            },
        )
        .await
        .unwrap();
        if self.state != ChangeState::Open {
            sqlx::query("UPDATE change_requests SET state = $1 WHERE id = $2")
                .bind(self.state.as_str())
                .bind(&id)
                .execute(&db.pool)
                .await
                .unwrap();
        }
        id
    }
}

/// A CI run of `hello-web` for a made-up commit, created now (later runs are newer).
pub async fn ci_run(db: &Db) -> String {
    let app_id: String = sqlx::query("SELECT id FROM apps WHERE name = 'hello-web'")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .try_get("id")
        .unwrap();
    let commit = format!("{}00000000", new_id().replace('-', ""));
    let run = NewRun {
        app_id: &app_id,
        kind: Kind::Ci,
        commit_sha: &commit,
        branch: "main",
        author: "alice <alice@example.invalid>",
        message: "built by a test",
        parent_run_id: None,
    };
    runs::create(db, run).await.unwrap().unwrap()
}
