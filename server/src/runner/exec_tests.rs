//! Tests for `super::exec`, against real processes.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::exec::{run_step, LogLine, Outcome, StepResult, StepSpec, Stream};
use super::exec_output::{human_duration, parse_outputs, Masker};

fn spec(command: &str) -> StepSpec {
    StepSpec {
        command: command.to_owned(),
        cwd: std::env::temp_dir(),
        env: Vec::new(),
        timeout: Duration::from_secs(30),
        max_lines: 20_000,
        max_line_bytes: 4096,
        secrets: Vec::new(),
        // These tests are about process handling; the sandbox has tests of its own.
        isolation: std::sync::Arc::new(crate::runner::sandbox::Isolation::Unsandboxed),
        network: Default::default(),
        limits: crate::pipeline::limits::DEFAULTS,
        name: "exec-test".into(),
    }
}

/// Runs a step while collecting everything sent to the sink.
async fn run(spec: StepSpec) -> (StepResult, Vec<LogLine>) {
    let (tx, mut rx) = mpsc::channel(64);
    let collect = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = rx.recv().await {
            lines.push(line);
        }
        lines
    });
    let result = run_step(spec, tx).await;
    (result, collect.await.unwrap())
}

fn texts(lines: &[LogLine], stream: Stream) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.text.as_str())
        .collect()
}

fn pids(lines: &[LogLine]) -> Vec<i32> {
    texts(lines, Stream::Stdout)
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// State letter from /proc/<pid>/stat, None when the process is gone.
fn proc_state(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

/// Alive as far as a step is concerned: `kill(pid, 0)` succeeds and it is
/// not a zombie. Zombies count as gone: they run nothing, and whether they
/// are reaped depends on the machine's init, not on the runner.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    exists && proc_state(pid).is_some_and(|(state, _)| state != 'Z')
}

/// Live members of a process group, found by scanning /proc.
fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| proc_state(pid).is_some_and(|(s, g)| g == pgid && s != 'Z'))
        .collect()
}

/// A killed process needs a moment to finish dying.
async fn gone_soon(pid: i32) -> bool {
    for _ in 0..50 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn success_and_exit_codes() {
    let (result, lines) = run(spec("echo ok")).await;
    assert_eq!(result.outcome, Outcome::Exited(0));
    assert!(result.outcome.success());
    assert_eq!(texts(&lines, Stream::Stdout), ["ok"]);
    assert_eq!(result.lines_kept, 1);
    assert_eq!(result.lines_dropped, 0);

    let (result, _) = run(spec("exit 3")).await;
    assert_eq!(result.outcome, Outcome::Exited(3));
    assert!(!result.outcome.success());

    let (result, _) = run(spec("kill -9 $$")).await;
    assert_eq!(result.outcome, Outcome::Signaled(libc::SIGKILL));
    assert!(!result.outcome.success());
}

#[tokio::test]
async fn both_streams_in_order() {
    let script = "for i in $(seq 1 500); do echo out$i; echo err$i >&2; done; printf 'a\\r\\nb'";
    let (result, lines) = run(spec(script)).await;
    assert_eq!(result.outcome, Outcome::Exited(0));
    let mut expected_out: Vec<String> = (1..=500).map(|i| format!("out{i}")).collect();
    expected_out.extend(["a".to_owned(), "b".to_owned()]);
    let expected_err: Vec<String> = (1..=500).map(|i| format!("err{i}")).collect();
    assert_eq!(texts(&lines, Stream::Stdout), expected_out);
    assert_eq!(texts(&lines, Stream::Stderr), expected_err);
    assert_eq!(result.lines_kept, 1002);
}

#[tokio::test]
async fn timeout_kills_the_whole_group() {
    let mut step = spec("echo $$; sleep 30 & echo $!; sleep 30");
    step.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let (result, lines) = run(step).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(result.outcome, Outcome::TimedOut);
    assert!(!result.outcome.success());
    assert_eq!(
        texts(&lines, Stream::System),
        ["step timed out after 300ms; process group killed"]
    );
    let pids = pids(&lines);
    assert_eq!(pids.len(), 2, "{lines:?}");
    for pid in &pids {
        assert!(gone_soon(*pid).await, "pid {pid} survived");
    }
    assert_eq!(group_members(pids[0]), Vec::<i32>::new());
}

#[tokio::test]
async fn timeout_escalates_to_sigkill() {
    let mut step = spec("trap '' TERM; echo $$; sleep 30");
    step.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let (result, lines) = run(step).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(result.outcome, Outcome::TimedOut);
    let pgid = pids(&lines)[0];
    assert!(gone_soon(pgid).await);
    assert_eq!(group_members(pgid), Vec::<i32>::new());
}

#[tokio::test]
async fn background_children_do_not_survive_or_hold_pipes() {
    let started = Instant::now();
    let (result, lines) = run(spec("sleep 1000 & echo $!")).await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "took {took:?}");
    assert_eq!(result.outcome, Outcome::Exited(0));
    let pid = pids(&lines)[0];
    assert!(gone_soon(pid).await, "background sleep {pid} survived");
    assert!(texts(&lines, Stream::System).is_empty(), "{lines:?}");
}

#[tokio::test]
async fn a_process_that_left_the_group_cannot_hold_the_step_open() {
    let started = Instant::now();
    // The step waits until the child has left the group; otherwise the
    // group kill could catch it before its setsid.
    let script = r#"setsid sh -c 'echo $$ > "$HOME/p.tmp" && mv "$HOME/p.tmp" "$HOME/p" && exec sleep 5' &
        while [ ! -e "$HOME/p" ]; do sleep 0.01; done; cat "$HOME/p""#;
    let (result, lines) = run(spec(script)).await;
    let took = started.elapsed();
    let escaped = pids(&lines)[0];
    // SAFETY: the test's own escaped child, named by the pid it printed.
    unsafe { libc::kill(escaped, libc::SIGKILL) };
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(result.outcome, Outcome::Exited(0));
    let system = texts(&lines, Stream::System);
    assert!(
        system
            .iter()
            .any(|t| t.starts_with("stopped reading stdout")),
        "{system:?}"
    );
}

#[tokio::test]
async fn output_cap_counts_exactly() {
    let mut step = spec("seq 1 25");
    step.max_lines = 10;
    let (result, lines) = run(step).await;
    assert_eq!(result.outcome, Outcome::Exited(0));
    assert_eq!((result.lines_kept, result.lines_dropped), (10, 15));
    let expected: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    assert_eq!(texts(&lines, Stream::Stdout), expected);
    assert_eq!(
        texts(&lines, Stream::System),
        ["output truncated: 15 more lines not kept (limit 10)"]
    );
    assert_eq!(lines.last().unwrap().stream, Stream::System);

    // Far more than a pipe buffer: the child must not block once the cap is hit.
    let mut step = spec("seq 1 200000; seq 1 1000 >&2");
    step.max_lines = 100;
    let (result, lines) = run(step).await;
    assert_eq!(result.outcome, Outcome::Exited(0));
    assert_eq!((result.lines_kept, result.lines_dropped), (100, 200_900));
    assert_eq!(lines.len(), 101);
}

#[tokio::test]
async fn secrets_are_masked_in_lines_and_outputs() {
    let script = r#"
        echo "token=hunter2 and again hunter2"
        echo "overlap abcdef" >&2
        echo "aaaaa"
        echo "-----BEGIN KEY-----"
        echo "mid line: c2VjcmV0"
        echo "TOKEN=hunter2" >> "$FLUXGATE_OUTPUT"
        echo "BOTH=xabcdefx" >> "$FLUXGATE_OUTPUT"
        echo "hunter2 junk" >> "$FLUXGATE_OUTPUT"
    "#;
    let mut step = spec(script);
    step.secrets = vec![
        "hunter2".into(),
        String::new(),
        "abcd".into(),
        "cdef".into(),
        "aa".into(),
        "-----BEGIN KEY-----\nc2VjcmV0\n-----END KEY-----\n".into(),
    ];
    let (result, lines) = run(step).await;
    assert_eq!(result.outcome, Outcome::Exited(0));
    assert_eq!(
        texts(&lines, Stream::Stdout),
        ["token=*** and again ***", "***", "***", "mid line: ***"]
    );
    assert_eq!(texts(&lines, Stream::Stderr), ["overlap ***"]);
    assert_eq!(result.outputs["TOKEN"], "***");
    assert_eq!(result.outputs["BOTH"], "x***x");
    assert_eq!(result.output_errors.len(), 1);
    assert!(
        !result.output_errors[0].contains("hunter2"),
        "{:?}",
        result.output_errors
    );
}

#[tokio::test]
async fn a_secret_straddling_the_cut_is_masked_whole() {
    let mut step = spec("echo 0123456hunter2xyz; echo hunter2hunter2xxxhunter2tail; echo ab");
    step.max_line_bytes = 10;
    step.secrets = vec!["hunter2".into()];
    let (_, lines) = run(step).await;
    assert_eq!(
        texts(&lines, Stream::Stdout),
        [
            "0123456***… [line cut at 10 bytes]",
            "***… [line cut at 10 bytes]",
            "ab"
        ]
    );
}

#[tokio::test]
async fn outputs_are_parsed_with_errors_for_bad_lines() {
    let script = r#"printf 'A=1\n\nB_2=hello=world\nbad line\n9X=1\n_C=\n   \nA=2\nD=x\r\nmy-key=v\n' > "$FLUXGATE_OUTPUT""#;
    let (result, _) = run(spec(script)).await;
    assert_eq!(result.outcome, Outcome::Exited(0));
    let got: Vec<(&str, &str)> = result
        .outputs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        got,
        [("A", "2"), ("B_2", "hello=world"), ("D", "x"), ("_C", "")]
    );
    assert_eq!(
        result.output_errors,
        [
            r#"line 4: expected KEY=VALUE, got "bad line""#,
            r#"line 5: invalid key "9X""#,
            r#"line 10: invalid key "my-key""#,
        ]
    );
}

#[test]
fn outputs_are_capped_in_keys_and_size() {
    let masker = Masker::new(&[]);
    let many: String = (0..105).map(|i| format!("K{i}=v\n")).collect();
    let (outputs, errors) = parse_outputs(many.as_bytes(), &masker);
    assert_eq!(outputs.len(), 100);
    assert_eq!(errors.len(), 5);
    assert_eq!(errors[0], "line 101: more than 100 outputs; K100 ignored");
    // Rewriting a key already kept is still allowed at the cap.
    let (outputs, errors) = parse_outputs(format!("{many}K0=new\n").as_bytes(), &masker);
    assert_eq!(outputs["K0"], "new");
    assert_eq!(errors.len(), 5);

    let big = format!("SMALL=1\nBIG={}\n", "x".repeat(70_000));
    let (outputs, errors) = parse_outputs(big.as_bytes(), &masker);
    assert_eq!(outputs.keys().collect::<Vec<_>>(), ["SMALL"]);
    assert_eq!(
        errors,
        ["output file is larger than 65536 bytes; the rest was ignored"]
    );
}

#[tokio::test]
async fn environment_is_cleared() {
    // SAFETY (edition 2021 still allows this safely): no other test reads it.
    std::env::set_var("FLUXGATE_TEST_LEAK", "database-password");
    let script = r#"env; test -d "$HOME" && test -w "$HOME" && echo "home-ok $HOME"
        test -f "$FLUXGATE_OUTPUT" && test ! -s "$FLUXGATE_OUTPUT" && echo output-ok"#;
    let mut step = spec(script);
    step.env = vec![
        ("FLUXGATE_COMMIT".into(), "abc123".into()),
        ("LANG".into(), "de_DE".into()),
    ];
    let (result, lines) = run(step).await;
    assert_eq!(result.outcome, Outcome::Exited(0));
    let out = texts(&lines, Stream::Stdout);
    assert!(
        !out.iter().any(|l| l.contains("FLUXGATE_TEST_LEAK")),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|l| l.contains("database-password")),
        "{out:?}"
    );
    for expected in [
        "FLUXGATE_COMMIT=abc123",
        "LANG=de_DE",
        "TERM=dumb",
        "output-ok",
    ] {
        assert!(out.contains(&expected), "{expected} missing from {out:?}");
    }
    assert!(out.iter().any(|l| l.starts_with("PATH=")));
    assert!(out.iter().any(|l| l.starts_with("FLUXGATE_OUTPUT=/")));
    let home = out
        .iter()
        .find_map(|l| l.strip_prefix("home-ok "))
        .expect("HOME usable");
    assert!(!Path::new(home).exists(), "HOME {home} not removed");
    let names: Vec<&str> = out
        .iter()
        .filter_map(|l| l.split_once('=').map(|p| p.0))
        .collect();
    for name in names {
        let allowed = [
            "PATH",
            "HOME",
            "LANG",
            "TERM",
            "FLUXGATE_COMMIT",
            "FLUXGATE_OUTPUT",
            "PWD",
        ];
        assert!(allowed.contains(&name), "unexpected variable {name}");
    }
}

#[tokio::test]
async fn a_read_only_tree_in_home_is_removed_too() {
    let script = r#"mkdir -p "$HOME/cache/sub" && touch "$HOME/cache/sub/f" && chmod -R a-w "$HOME/cache" && echo "$HOME""#;
    let (result, lines) = run(spec(script)).await;
    assert_eq!(result.outcome, Outcome::Exited(0));
    let home = texts(&lines, Stream::Stdout)[0].to_owned();
    assert!(!Path::new(&home).exists(), "HOME {home} not removed");
}

#[tokio::test]
async fn long_lines_are_cut_visibly() {
    let script = "head -c 100000 /dev/zero | tr '\\0' x; echo; echo short; echo 'ééééé'; printf '0123456789\\r\\n'";
    let mut step = spec(script);
    step.max_line_bytes = 10;
    let (result, lines) = run(step).await;
    assert_eq!(result.outcome, Outcome::Exited(0));
    assert_eq!(
        texts(&lines, Stream::Stdout),
        [
            "xxxxxxxxxx… [line cut at 10 bytes]",
            "short",
            "ééééé",
            "0123456789"
        ]
    );
    let mut step = spec("echo 'ééééé'; printf '\\377abc\\n'");
    step.max_line_bytes = 6;
    let (_, lines) = run(step).await;
    assert_eq!(
        texts(&lines, Stream::Stdout),
        ["ééé… [line cut at 6 bytes]", "\u{fffd}abc"]
    );
}

#[tokio::test]
async fn spawn_failure_is_reported() {
    let mut step = spec("echo never");
    step.cwd = "/nonexistent/fluxgate/checkout".into();
    let (result, lines) = run(step).await;
    let Outcome::SpawnFailed(message) = &result.outcome else {
        panic!("expected SpawnFailed, got {:?}", result.outcome)
    };
    assert!(
        message.contains("/nonexistent/fluxgate/checkout"),
        "{message}"
    );
    assert_eq!(
        lines,
        [LogLine {
            stream: Stream::System,
            text: message.clone()
        }]
    );
    assert!(!result.outcome.success());
}

#[tokio::test]
async fn a_closed_sink_does_not_stop_the_step() {
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let step = spec(r#"seq 1 100000; echo RESULT=done > "$FLUXGATE_OUTPUT""#);
    let result = run_step(step, tx).await;
    assert_eq!(result.outcome, Outcome::Exited(0));
    assert_eq!(result.outputs["RESULT"], "done");
    assert_eq!(result.lines_kept, 20_000);
    assert_eq!(result.lines_dropped, 80_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_steps_lose_and_mix_nothing() {
    const STEPS: usize = 20;
    const LINES: usize = 2000;
    let mut handles = Vec::new();
    for step_no in 0..STEPS {
        let command = format!("seq 1 {LINES} | sed 's/^/step-{step_no} line-/'");
        handles.push(tokio::spawn(run(spec(&command))));
    }
    for (step_no, handle) in handles.into_iter().enumerate() {
        let (result, lines) = handle.await.unwrap();
        assert_eq!(result.outcome, Outcome::Exited(0), "step {step_no}");
        let expected: Vec<String> = (1..=LINES)
            .map(|i| format!("step-{step_no} line-{i}"))
            .collect();
        assert_eq!(texts(&lines, Stream::Stdout), expected, "step {step_no}");
        assert_eq!(lines.len(), LINES, "step {step_no}");
    }
}

#[test]
fn run_step_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (tx, _rx) = mpsc::channel(1);
    assert_send(&run_step(spec("true"), tx));
}

#[test]
fn masking_merges_overlaps() {
    let masker = Masker::new(&["abcd".into(), "cdef".into(), "aa".into()]);
    assert_eq!(masker.mask("xabcdefx aaa a"), "x***x *** a");
    assert_eq!(masker.mask("nothing here"), "nothing here");
    assert_eq!(masker.mask_prefix("abcdef tail", 2), "***");
    assert_eq!(masker.mask_prefix("xx abcd", 4), "xx ***");
}

#[test]
fn durations_read_naturally() {
    assert_eq!(human_duration(Duration::from_millis(300)), "300ms");
    assert_eq!(human_duration(Duration::from_millis(2500)), "2.5s");
    assert_eq!(human_duration(Duration::from_secs(90)), "1m 30s");
    assert_eq!(human_duration(Duration::from_secs(3600)), "1h");
    assert_eq!(human_duration(Duration::from_secs(7505)), "2h 5m 5s");
}

#[tokio::test]
async fn without_a_sandbox_steps_are_refused_with_the_reason() {
    let mut step = spec("echo ran");
    step.isolation = std::sync::Arc::new(crate::runner::sandbox::Isolation::Refused(
        "bubblewrap (bwrap) is not installed".into(),
    ));
    let (result, lines) = run(step).await;
    let Outcome::SpawnFailed(message) = &result.outcome else {
        panic!("{:?}", result.outcome);
    };
    assert!(message.contains("not run without a sandbox"), "{message}");
    assert!(message.contains("bwrap) is not installed"), "{message}");
    assert!(message.contains("--unsandboxed-steps"), "{message}");
    assert!(texts(&lines, Stream::Stdout).is_empty(), "the step ran");
}

/// The host's sandbox; these tests need it (`scripts/setup.sh` installs bubblewrap and
/// slirp4netns) rather than passing without it.
fn sandbox(data: &Path) -> std::sync::Arc<crate::runner::sandbox::Isolation> {
    use crate::runner::sandbox::Isolation;
    let isolation = Isolation::detect(data, false);
    let Isolation::Sandbox(sandbox) = &isolation else {
        panic!("this test needs bubblewrap: {}", isolation.label());
    };
    if let Err(why) = sandbox.outside() {
        panic!("this test needs network: outside: {why}");
    }
    std::sync::Arc::new(isolation)
}

/// bubblewrap configures the sandbox's loopback while fluxgate gives it its network; the
/// two raced, and now and then a start failed (now each waits for the other). Starts run
/// eight at a time, as a busy runner's do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sandboxes_with_a_network_start_the_first_time() {
    let data = tempfile::tempdir().unwrap();
    let isolation = sandbox(data.path());
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..8 {
        let isolation = isolation.clone();
        tasks.spawn(async move {
            for n in 0..40 {
                // A checkout of its own: the sandbox hands the step's folder to the step's user.
                let work = tempfile::tempdir().unwrap();
                let mut step = spec("true");
                step.cwd = work.path().to_path_buf();
                step.isolation = isolation.clone();
                step.network = crate::pipeline::limits::Network::Outside;
                step.name = format!("start-{lane}-{n}");
                let (result, lines) = run(step).await;
                assert_eq!(
                    result.outcome,
                    Outcome::Exited(0),
                    "start {lane}/{n}: {lines:?}"
                );
                let retried: Vec<&str> = texts(&lines, Stream::System)
                    .into_iter()
                    .filter(|l| l.contains("trying again"))
                    .collect();
                assert!(retried.is_empty(), "start {lane}/{n}: {retried:?}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test]
async fn a_sandbox_that_does_not_start_is_tried_again_then_reported() {
    let data = tempfile::tempdir().unwrap();
    let mut step = spec("echo ran");
    step.isolation = sandbox(data.path());
    step.cwd = "/nonexistent/fluxgate/checkout".into();
    let (result, lines) = run(step).await;
    let Outcome::SpawnFailed(message) = &result.outcome else {
        panic!("{:?}", result.outcome);
    };
    assert!(
        message.contains("cannot prepare the step's sandbox"),
        "{message}"
    );
    let system = texts(&lines, Stream::System);
    assert_eq!(
        system.iter().filter(|l| l.contains("trying again")).count(),
        2,
        "{system:?}"
    );
    assert!(
        system[0].ends_with("trying again (attempt 2 of 3)"),
        "{system:?}"
    );
    assert_eq!(system.last(), Some(&message.as_str()));
    assert!(texts(&lines, Stream::Stdout).is_empty(), "the step ran");
}
