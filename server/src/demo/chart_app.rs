//! The demo's second application, hello-chart: the same kind of web page as hello-web,
//! deployed with a Helm chart, so the demo shows both template forms. Only `fluxgate demo`
//! adds it; the test harness seeds hello-web alone.

use super::{demo_signature, register_app, DEMO_CHART_APP};
use crate::repos::{self, File};
use anyhow::Result;
use fluxgate_core::db::Db;
use std::path::{Path, PathBuf};

/// Adds the second demo application, hello-chart (a Helm chart), when it is missing: its
/// repository and its registration. Its CI runs at the first poll like hello-web's.
pub async fn seed_chart_app(db: &Db, data_dir: &Path) -> Result<PathBuf> {
    let path = data_dir.join("repos").join(format!("{DEMO_CHART_APP}.git"));
    let repo_path = path.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        if !repo_path.exists() {
            create_chart_app_repo(&repo_path)?;
        }
        Ok(())
    })
    .await??;
    register_app(db, DEMO_CHART_APP, &path, "chart", "helm").await?;
    Ok(path)
}

fn create_chart_app_repo(path: &Path) -> Result<()> {
    let repo = repos::init_bare(path, "main")?;
    let mut test_script = File::new(
        "scripts/test.sh",
        include_bytes!("files/chart-app/scripts/test.sh"),
    );
    test_script.executable = true;
    macro_rules! file {
        ($p:literal) => {
            File::new($p, include_bytes!(concat!("files/chart-app/", $p)))
        };
    }
    let files = [
        file!("README.md"),
        file!("fluxgate.yaml"),
        file!("ci-values.yaml"),
        file!("Dockerfile"),
        file!("site/index.html"),
        test_script,
        file!("chart/Chart.yaml"),
        file!("chart/values.yaml"),
        file!("chart/templates/_helpers.tpl"),
        file!("chart/templates/configmap.yaml"),
        file!("chart/templates/deployment.yaml"),
        file!("chart/templates/service.yaml"),
        file!("chart/templates/NOTES.txt"),
    ];
    repos::commit_files(
        &repo,
        "main",
        &files,
        "hello-chart: first version (a Helm chart)",
        &demo_signature()?,
    )?;
    Ok(())
}
