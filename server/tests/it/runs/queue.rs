//! The durable job queue on both databases: exclusive claims under concurrency, dedup,
//! taking back the jobs of dead workers, and many pipelines at once.

use super::{push, read_app_file, wait_for, Pipes};
use crate::support::{Backend, TestServer};
use fluxgate_core::jobs::{self, NewJob};
use std::collections::HashSet;
use std::time::Duration;

crate::on_both_databases!(
    claims_are_exclusive_under_concurrency,
    dedup_and_stale_recovery,
    jobs_of_an_ended_process_here_are_taken_back_at_once
);

async fn claims_are_exclusive_under_concurrency(s: &TestServer) {
    let db = &s.database.db;
    for i in 0..60 {
        jobs::enqueue(
            db,
            NewJob::new(jobs::Kind::Poll, serde_json::json!({ "i": i })),
        )
        .await
        .unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..6 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut got = Vec::new();
            loop {
                match jobs::claim(&db, &worker).await {
                    Ok(Some(job)) => {
                        jobs::complete(&db, &job.id, &worker).await.unwrap();
                        got.push(job.payload["i"].as_i64().unwrap());
                    }
                    Ok(None) => break,
                    // SQLite may answer "busy" to a writer racing another: try again.
                    Err(e)
                        if format!("{e:#}").contains("locked")
                            || format!("{e:#}").contains("busy") => {}
                    Err(e) => panic!("{e:#}"),
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    assert_eq!(
        all,
        (0..60).collect::<Vec<_>>(),
        "every job claimed exactly once"
    );
    assert_eq!(jobs::count(db, "done").await.unwrap(), 60);
}

async fn dedup_and_stale_recovery(s: &TestServer) {
    let db = &s.database.db;
    let job = || {
        NewJob::new(jobs::Kind::Poll, serde_json::json!({}))
            .dedup("k")
            .attempts(2)
    };
    assert!(jobs::enqueue(db, job()).await.unwrap());
    assert!(
        !jobs::enqueue(db, job()).await.unwrap(),
        "one queued job per key"
    );
    let claimed = jobs::claim(db, "dead").await.unwrap().unwrap();
    assert!(
        jobs::enqueue(db, job()).await.unwrap(),
        "a running job does not block a new one"
    );
    assert!(jobs::claim(db, "other").await.unwrap().is_some());

    // Both workers die: nothing beats for a minute.
    sqlx::query("UPDATE jobs SET heartbeat_at = '2000-01-01T00:00:00Z'")
        .execute(&db.pool)
        .await
        .unwrap();
    let failed = jobs::recover_stale(db, jobs::STALE_AFTER).await.unwrap();
    // Both had attempts left, but they share a key: one is queued again, and the other,
    // whose work that one will do, is failed (and reported, so its owner can say so).
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(jobs::count(db, "queued").await.unwrap(), 1);
    assert_eq!(jobs::count(db, "failed").await.unwrap(), 1);
    assert_eq!(jobs::count(db, "running").await.unwrap(), 0);
    assert!(
        !jobs::heartbeat(db, &claimed.id, "dead").await.unwrap(),
        "taken back from the dead worker"
    );

    // Second attempt dies too: out of attempts, failed as interrupted.
    let again = wait_for(
        "the requeued job to be due",
        Duration::from_secs(10),
        || async { jobs::claim(db, "dead").await.unwrap() },
    )
    .await;
    assert_eq!(again.attempts, 2);
    sqlx::query("UPDATE jobs SET heartbeat_at = '2000-01-01T00:00:00Z' WHERE state = 'running'")
        .execute(&db.pool)
        .await
        .unwrap();
    let failed = jobs::recover_stale(db, jobs::STALE_AFTER).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, again.id);
    let row: (String, String) = sqlx::query_as("SELECT state, last_error FROM jobs WHERE id = $1")
        .bind(&again.id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(row.0, "failed");
    assert!(
        row.1.starts_with("interrupted: worker dead stopped"),
        "{}",
        row.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_pipelines_at_once_keep_every_line_sqlite() {
    twenty_pipelines_at_once_keep_every_line(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_pipelines_at_once_keep_every_line_postgres() {
    twenty_pipelines_at_once_keep_every_line(Backend::Postgres).await;
}

/// Twenty PR pipelines started at once, each printing 2,000 numbered lines on both
/// streams: every line is stored, in order, in its own run. (On SQLite this once lost
/// lines to "database is locked" before WAL and a busy timeout were set.)
async fn twenty_pipelines_at_once_keep_every_line(backend: Backend) {
    let p = Pipes::start_with(backend, |c| {
        c.workers = 20;
        c.max_parallel_steps = 20;
    })
    .await;
    let token = p.token("alice").await;
    wait_for(
        "the first change request",
        Duration::from_secs(60),
        || async { p.changes(&token, "dev").await.into_iter().next() },
    )
    .await;
    let base = read_app_file(&p.app_repo(), "fluxgate.yaml");
    let mut shas = Vec::new();
    for i in 0..20 {
        let def = base.replace(
            "run: sh scripts/test.sh\n",
            &format!("run: i=1; while [ $i -le 2000 ]; do echo \"b{i} out $i\"; echo \"b{i} err $i\" >&2; i=$((i+1)); done\n"),
        );
        shas.push(push(
            &p.app_repo(),
            &format!("load/{i}"),
            "main",
            &[("fluxgate.yaml", Some(&def))],
            "load",
        ));
    }
    p.hook(&token).await;
    for (i, sha) in shas.iter().enumerate() {
        let pr = p.finished_run(&token, "pr", sha).await;
        assert_eq!(pr["state"], "succeeded", "{pr}");
        let lines = p.log_lines(&token, pr["id"].as_str().unwrap()).await;
        for stream in ["stdout", "stderr"] {
            let word = if stream == "stdout" { "out" } else { "err" };
            let got: Vec<&str> = lines
                .iter()
                .filter(|l| l["stream"] == stream && l["step"] == 0)
                .map(|l| l["line"].as_str().unwrap())
                .collect();
            let want: Vec<String> = (1..=2000).map(|n| format!("b{i} {word} {n}")).collect();
            assert_eq!(got.len(), 2000, "run {i} {stream}");
            assert!(
                got.iter().zip(&want).all(|(a, b)| *a == b.as_str()),
                "run {i} {stream}: lines mixed or out of order"
            );
        }
        let seqs: HashSet<i64> = lines.iter().map(|l| l["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs.len(), lines.len());
    }
    p.stop().await;
}

/// A runner killed and started again on this machine must not leave its jobs waiting for
/// the heartbeat timeout: the kernel says the holder is gone.
async fn jobs_of_an_ended_process_here_are_taken_back_at_once(s: &TestServer) {
    use app::identity;
    let db = &s.database.db;
    let mut holder = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let dead = format!("{}/0", identity::of_process(holder.id()).unwrap());
    let alive = format!("{}/1", identity::current());
    for (n, worker) in [&dead, &alive].into_iter().enumerate() {
        jobs::enqueue(
            db,
            NewJob::new(jobs::Kind::Poll, serde_json::json!({ "n": n })),
        )
        .await
        .unwrap();
        jobs::claim(db, worker).await.unwrap().unwrap();
    }
    // While the holder lives its job stays where it is (heartbeats are fresh).
    let taken = jobs::recover(db, jobs::STALE_AFTER, identity::is_gone)
        .await
        .unwrap();
    assert!(taken.is_empty());
    assert_eq!(jobs::count(db, "running").await.unwrap(), 2);

    holder.kill().unwrap();
    holder.wait().unwrap();
    jobs::recover(db, jobs::STALE_AFTER, identity::is_gone)
        .await
        .unwrap();
    assert_eq!(
        jobs::count(db, "running").await.unwrap(),
        1,
        "the live one stays"
    );
    let (state, error): (String, String) =
        sqlx::query_as("SELECT state, last_error FROM jobs WHERE locked_by IS NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(state, "queued");
    assert!(error.contains("its process is gone"), "{error}");
}
