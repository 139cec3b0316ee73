//! A developer who can push a branch of an application repository writes its
//! `fluxgate.yaml` steps: these tests play them. Every attack runs as a real step of a
//! real PR run, and each finds nothing, changes nothing, or is stopped with the reason.

use super::{push, read_app_file, wait_for, Pipes};
use std::time::Duration;

crate::pipelines_on_both_databases!(
    a_step_sees_nothing_of_fluxgate_and_nothing_outlives_it,
    network_outside_never_reaches_this_host,
    limits_stop_a_step_and_say_which,
    pr_runs_get_only_secrets_marked_for_pr,
);

/// Pushes `branch` with `steps` (YAML list items) as its `pr` steps and returns its
/// finished PR run and the log text.
async fn pr_run(p: &Pipes, token: &str, branch: &str, steps: &str) -> (serde_json::Value, String) {
    settled(p, token).await;
    let sha = push_steps(p, branch, steps);
    p.hook(token).await;
    let run = p.finished_run(token, "pr", &sha).await;
    let log = log_text(p, token, &run).await;
    (run, log)
}

/// Waits for the demo's first CD proposal: only pushes after the repository's first
/// fetch start PR runs.
async fn settled(p: &Pipes, token: &str) {
    wait_for(
        "the first change request",
        Duration::from_secs(60),
        || async { p.changes(token, "dev").await.into_iter().next() },
    )
    .await;
}

fn push_steps(p: &Pipes, branch: &str, steps: &str) -> String {
    let def = read_app_file(&p.app_repo(), "fluxgate.yaml");
    let head = &def[..def.find("\npr:\n").expect("a pr section") + 1];
    let def = format!("{head}pr:\n{steps}");
    push(
        &p.app_repo(),
        branch,
        "main",
        &[("fluxgate.yaml", Some(&def))],
        &format!("steps of {branch}"),
    )
}

async fn log_text(p: &Pipes, token: &str, run: &serde_json::Value) -> String {
    let id = run["id"].as_str().unwrap();
    p.log_lines(token, id)
        .await
        .iter()
        .map(|l| format!("{}\n", l["line"].as_str().unwrap_or("")))
        .collect()
}

/// A step that prints `LEAK …` for everything of fluxgate it can read, reach or change.
async fn a_step_sees_nothing_of_fluxgate_and_nothing_outlives_it(p: &Pipes) {
    let token = p.token("alice").await;
    let data = p.server.dir.path().canonicalize().unwrap();
    let data = data.display();
    let gitops = p.gitops_repo();
    let prod_before = git_ref(&gitops, "refs/heads/env/prod");
    let me = std::process::id();
    // A fraction no other process on this machine sleeps for, to find it afterwards.
    let nap = format!("1000.{}", std::process::id());
    let script = format!(
        r#"for f in {data}/fluxgate.db {data}/repos/gitops.git/HEAD; do
  if cat "$f" >/dev/null 2>&1; then echo "LEAK read $f"; fi
done
if ls {data} >/dev/null 2>&1; then echo "LEAK listed the data directory"; fi
if cat /proc/{me}/environ >/dev/null 2>&1; then echo "LEAK read the server's environ"; fi
for e in /proc/[0-9]*/environ; do
  if tr '\0' '\n' < "$e" 2>/dev/null | grep -q '^CARGO_'; then echo "LEAK $e is the server's"; fi
done
if git --git-dir={data}/repos/gitops.git update-ref refs/heads/env/prod refs/heads/env/dev 2>/dev/null; then
  echo "LEAK moved env/prod"
fi
if echo 0000 > {data}/repos/gitops.git/refs/heads/env/prod 2>/dev/null; then echo "LEAK wrote env/prod"; fi
setsid sleep {nap} </dev/null >/dev/null 2>&1 &
echo "pid 1 is $(cat /proc/1/comm); I see $(ls -d /proc/[0-9]* | wc -l) processes"
echo "checked everything""#
    );
    let steps = format!("  - name: attack\n    run: |\n{}\n", indent(&script, 6));
    let (run, log) = pr_run(p, &token, "attack/read", &steps).await;
    assert_eq!(run["state"], "succeeded", "{log}");
    assert!(log.contains("checked everything"), "{log}");
    assert!(!log.contains("LEAK"), "the step reached fluxgate:\n{log}");
    assert!(log.contains("sandbox: bubblewrap"), "{log}");
    assert_eq!(run["sandbox"], "bubblewrap");
    assert_eq!(git_ref(&gitops, "refs/heads/env/prod"), prod_before);
    // The sleeper was in the step's PID namespace, which ended with the step.
    wait_for(
        "the step's background process to be gone",
        Duration::from_secs(5),
        || async { (!process_running(&format!("sleep {nap}"))).then_some(()) },
    )
    .await;
}

async fn network_outside_never_reaches_this_host(p: &Pipes) {
    let token = p.token("alice").await;
    // Stands in for a fluxgate (or anything else) listening on every address.
    let everywhere = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let open_port = everywhere.local_addr().unwrap().port();
    let accepted = tokio::spawn(async move { everywhere.accept().await.is_ok() });
    let fluxgate = p.server.addr.port();
    let mut targets = vec![
        format!("127.0.0.1 {fluxgate}"),
        "127.0.0.1 5432".to_string(),
        format!("10.0.2.2 {fluxgate}"),
        "10.0.2.2 5432".to_string(),
        "169.254.169.254 80".to_string(),
    ];
    for ip in host_addresses() {
        targets.push(format!("{ip} {open_port}"));
        targets.push(format!("{ip} 5432"));
        targets.push(format!("{ip} {fluxgate}"));
    }
    let script = format!(
        r#"while read -r host port; do
  if timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then echo "LEAK connected to $host:$port"; else echo "refused $host:$port"; fi
done <<'EOF'
{}
EOF
if awk '$1 == "tap0" && $2 == "00000000"' /proc/net/route | grep -q .; then echo "has a default route"; fi"#,
        targets.join("\n")
    );
    let steps = format!(
        "  - name: reach the host\n    network: outside\n    run: |\n{}\n  - name: no network\n    network: none\n    run: if awk '$2 == \"00000000\"' /proc/net/route | grep -q .; then echo LEAK route; else echo no route; fi\n",
        indent(&script, 6)
    );
    let (run, log) = pr_run(p, &token, "attack/network", &steps).await;
    assert_eq!(run["state"], "succeeded", "{log}");
    assert!(!log.contains("LEAK"), "a step reached this host:\n{log}");
    for t in &targets {
        let (host, port) = t.split_once(' ').unwrap();
        assert!(
            log.contains(&format!("refused {host}:{port}")),
            "{t} not tried:\n{log}"
        );
    }
    assert!(
        log.contains("has a default route"),
        "outside has no network:\n{log}"
    );
    assert!(log.contains("no route"), "{log}");
    accepted.abort();
    assert!(
        accepted.await.is_err(),
        "the listener on every address was reached"
    );
}

async fn limits_stop_a_step_and_say_which(p: &Pipes) {
    let token = p.token("alice").await;
    let cases = [
        (
            "attack/memory",
            "limits: {memory: 64Mi}",
            r#"x=$(head -c 300000000 /dev/zero | tr '\0' a); echo "held ${#x} bytes""#,
            "memory limit of 64Mi reached",
        ),
        (
            "attack/processes",
            "limits: {processes: 16}",
            "for i in $(seq 60); do sleep 2 & done; wait; echo forked",
            "process limit of 16 reached",
        ),
        (
            "attack/output",
            "limits: {output: 64Ki}",
            "yes 'a line of output' | head -c 5000000; echo printed",
            "output limit of 64Ki reached",
        ),
    ];
    settled(p, &token).await;
    let shas: Vec<String> = cases
        .iter()
        .map(|(branch, limits, script, _)| {
            let steps = format!("  - name: greedy\n    {limits}\n    run: {script:?}\n");
            push_steps(p, branch, &steps)
        })
        .collect();
    p.hook(&token).await;
    for (sha, (branch, _, _, reason)) in shas.iter().zip(cases) {
        let run = p.finished_run(&token, "pr", sha).await;
        let log = log_text(p, &token, &run).await;
        assert_eq!(run["state"], "failed", "{branch}: {log}");
        let error = run["error"].as_str().unwrap_or("");
        assert!(error.contains(reason), "{branch}: {error}\n{log}");
        assert!(log.contains(reason), "{branch}: {log}");
    }
    // Asking past the administrator's maximum fails before any step runs.
    let steps = "  - name: too much\n    limits: {memory: 64Gi}\n    run: echo ran\n";
    let (run, log) = pr_run(p, &token, "attack/maximum", steps).await;
    assert_eq!(run["state"], "failed");
    let error = run["error"].as_str().unwrap_or("");
    assert!(
        error.contains("limits.memory 64Gi is over this fluxgate's maximum of 8Gi"),
        "{error}"
    );
    assert!(!log.contains("\nran\n"), "{log}");
}

async fn pr_runs_get_only_secrets_marked_for_pr(p: &Pipes) {
    let db = &p.server.database.db;
    server::apps::set_secret(db, "hello-web", "DEPLOY_KEY", "ci-only-value-91", false)
        .await
        .unwrap();
    server::apps::set_secret(db, "hello-web", "LINT_TOKEN", "pr-ok-value-17", true)
        .await
        .unwrap();
    let token = p.token("alice").await;
    let steps = "  - name: print secrets\n    run: echo \"deploy=[$DEPLOY_KEY] lint=[$LINT_TOKEN]\"; env | grep -c ci-only-value || true\n";
    let (run, log) = pr_run(p, &token, "feature/steal", steps).await;
    assert_eq!(run["state"], "succeeded", "{log}");
    assert!(log.contains("deploy=[] lint=[***]"), "{log}");
    assert!(
        !log.contains("ci-only-value-91") && !log.contains("pr-ok-value-17"),
        "{log}"
    );
    assert_eq!(run["secrets_given"], serde_json::json!(["LINT_TOKEN"]));
    let (_, detail) = p
        .get(
            &token,
            &format!("/api/v1/runs/{}", run["id"].as_str().unwrap()),
        )
        .await;
    assert!(!detail.to_string().contains("pr-ok-value-17"), "{detail}");

    // CI on the default branch is trusted with both.
    let def = read_app_file(&p.app_repo(), "fluxgate.yaml").replace(
        "  - name: publish templates and image references",
        "  - name: print secrets\n    run: echo \"deploy=[$DEPLOY_KEY] lint=[$LINT_TOKEN]\"\n  - name: publish templates and image references",
    );
    let sha = push(
        &p.app_repo(),
        "main",
        "main",
        &[("fluxgate.yaml", Some(&def))],
        "ci secrets",
    );
    p.hook(&token).await;
    let ci = p.finished_run(&token, "ci", &sha).await;
    let log = log_text(p, &token, &ci).await;
    assert!(log.contains("deploy=[***] lint=[***]"), "{log}");
    assert_eq!(
        ci["secrets_given"],
        serde_json::json!(["DEPLOY_KEY", "LINT_TOKEN"])
    );
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn git_ref(repo: &std::path::Path, name: &str) -> Option<String> {
    let repo = git2::Repository::open_bare(repo).unwrap();
    let r = repo.find_reference(name).ok()?;
    r.target().map(|o| o.to_string())
}

fn process_running(cmdline: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim() == cmdline)
            .unwrap_or(false)
    })
}

/// This machine's IPv4 addresses other than loopback, from the kernel's own table.
fn host_addresses() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let mut found = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.windows(2) {
        if pair[1].contains("/32 host LOCAL") {
            let ip = pair[0].trim().trim_start_matches("|-- ").to_string();
            if !ip.starts_with("127.") && !found.contains(&ip) {
                found.push(ip);
            }
        }
    }
    assert!(!found.is_empty(), "no address of this host found");
    found
}

/// A run whose job outlives the job's limit is given up even though its heartbeat
/// keeps going, and nothing of its step survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_limit_is_given_up() {
    let p = Pipes::start_with(crate::support::Backend::Sqlite, |c| {
        c.job_limit = Some(Duration::from_secs(4));
    })
    .await;
    let token = p.token("alice").await;
    // The demo's first CI run and CD need a few seconds each, well within 4 s per job.
    let nap = format!("2000.{}", std::process::id());
    let steps = format!("  - name: slow\n    timeout: 1h\n    run: sleep {nap}\n");
    let (run, log) = pr_run(&p, &token, "slow/step", &steps).await;
    assert_eq!(run["state"], "interrupted", "{log}");
    let error = run["error"].as_str().unwrap_or("");
    assert!(error.contains("given up after 4s"), "{error}");
    assert!(
        !process_running(&format!("sleep {nap}")),
        "the step survived"
    );
    p.stop().await;
}
