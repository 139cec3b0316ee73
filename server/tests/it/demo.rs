//! The demo's sample data: real repositories, idempotent seeding.

use crate::support::{Backend, TestServer};
use git2::Repository;
use std::path::Path;

fn file_at(repo: &Repository, branch: &str, path: &str) -> String {
    let commit = repo
        .find_reference(&format!("refs/heads/{branch}"))
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let entry = commit.tree().unwrap().get_path(Path::new(path)).unwrap();
    let blob = entry.to_object(repo).unwrap().peel_to_blob().unwrap();
    String::from_utf8(blob.content().to_vec()).unwrap()
}

#[tokio::test]
async fn demo_seeds_real_repositories_once() {
    let s = TestServer::start(Backend::Sqlite).await;
    let repos = server::demo::seed(&s.database.db, s.dir.path())
        .await
        .unwrap();

    let app = Repository::open_bare(&repos.app).unwrap();
    assert_eq!(app.head().unwrap().shorthand().unwrap(), "main");
    assert!(file_at(&app, "main", "fluxgate.yaml").contains("uses: render-lint"));
    assert!(file_at(&app, "main", "deploy/kustomization.yaml").contains("kind: Kustomization"));

    let gitops = Repository::open_bare(&repos.gitops).unwrap();
    for (env, replicas) in [("dev", "1"), ("staging", "2"), ("prod", "3")] {
        let values = file_at(&gitops, &format!("env/{env}"), "apps/hello-web/values.yaml");
        assert!(
            values.contains(&format!("REPLICAS: \"{replicas}\"")),
            "{values}"
        );
    }

    let count = |table: &'static str| {
        let pool = s.database.db.pool.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(
        (
            count("users").await,
            count("environments").await,
            count("apps").await
        ),
        (4, 3, 1)
    );
    s.stop().await;
}

#[tokio::test]
async fn the_demos_helm_app_renders_with_each_environments_values() {
    let s = TestServer::start(Backend::Sqlite).await;
    let repos = server::demo::seed(&s.database.db, s.dir.path())
        .await
        .unwrap();
    let path = server::demo::seed_chart_app(&s.database.db, s.dir.path())
        .await
        .unwrap();
    // Idempotent: a restart of the demo finds it and adds nothing.
    server::demo::seed_chart_app(&s.database.db, s.dir.path())
        .await
        .unwrap();
    let apps: Vec<(String, String)> =
        sqlx::query_as("SELECT name, template_kind FROM apps ORDER BY name")
            .fetch_all(&s.database.db.pool)
            .await
            .unwrap();
    assert_eq!(
        apps,
        vec![
            ("hello-chart".to_string(), "helm".to_string()),
            ("hello-web".to_string(), "kustomize".to_string())
        ]
    );

    // The chart as committed, rendered as CD renders it for each environment.
    let app = Repository::open_bare(&path).unwrap();
    assert!(file_at(&app, "main", "fluxgate.yaml").contains("kind: helm"));
    let chart = tempfile::tempdir().unwrap();
    for f in [
        "Chart.yaml",
        "values.yaml",
        "templates/_helpers.tpl",
        "templates/configmap.yaml",
        "templates/deployment.yaml",
        "templates/service.yaml",
        "templates/NOTES.txt",
    ] {
        let to = chart.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, file_at(&app, "main", &format!("chart/{f}"))).unwrap();
    }
    let gitops = Repository::open_bare(&repos.gitops).unwrap();
    for (env, replicas) in [("dev", 1), ("staging", 2), ("prod", 3)] {
        let values = file_at(
            &gitops,
            &format!("env/{env}"),
            "apps/hello-chart/values.yaml",
        );
        let out = helm::template(
            chart.path(),
            &helm::Options {
                release: "hello-chart".into(),
                namespace: format!("hello-{env}"),
                values: vec![("values.yaml".into(), values)],
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            out.contains(&format!("replicas: {replicas}")),
            "{env}: {out}"
        );
        assert!(
            out.contains(&format!("hello-chart.{env}.demo.invalid")),
            "{out}"
        );
    }
    s.stop().await;
}
