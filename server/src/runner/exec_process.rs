//! Process control for `super::exec`: starting the step (in its sandbox, tried again
//! when the sandbox fails before the command ran), and waiting for, timing out and
//! killing the step's process group.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::exec::{Outcome, StepSpec};
use super::exec_sandbox;
use super::sandbox::Isolation;

const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Time between SIGTERM and SIGKILL when a step times out.
const TERM_GRACE: Duration = Duration::from_secs(2);

pub(super) fn outcome_of(status: ExitStatus) -> Outcome {
    match (status.code(), status.signal()) {
        (Some(code), _) => Outcome::Exited(code),
        (None, Some(signal)) => Outcome::Signaled(signal),
        (None, None) => Outcome::SpawnFailed(format!("unexpected wait status: {status}")),
    }
}

/// How many times a sandbox that failed before its command ran is started.
pub(super) const START_ATTEMPTS: u32 = 3;

/// A step whose command is running.
pub(super) struct Started {
    pub child: Child,
    pub group: ProcessGroup,
    /// slirp4netns for `network: outside`, ended with the step.
    pub network_helper: Option<Child>,
    pub cgroup: Option<super::cgroup::Group>,
    /// What the step's sandbox and limits came to, for its log.
    pub sandbox: Option<String>,
}

/// Why a step did not start: `Retry` when nothing of it ran and trying again may work.
pub(super) enum Start {
    Retry(String),
    Final(String),
}

pub(super) async fn start(spec: &StepSpec, scratch: &Scratch) -> Result<Started, Start> {
    let mut sandboxed = None;
    let mut described = None;
    let mut cmd = match &*spec.isolation {
        Isolation::Refused(why) => {
            return Err(Start::Final(format!(
                "steps are not run without a sandbox, and none can be started here: {why}; \
                 an administrator can start fluxgate with --unsandboxed-steps to run them anyway"
            )));
        }
        // The run says so in its log and on its page (`run::execute`).
        Isolation::Unsandboxed => command(spec, scratch),
        Isolation::Sandbox(sandbox) => {
            match exec_sandbox::prepare(sandbox, spec, scratch, &spec.name) {
                Ok((cmd, prepared)) => {
                    described = Some(exec_sandbox::describe(sandbox, spec));
                    sandboxed = Some((sandbox, prepared));
                    cmd
                }
                Err(e) => {
                    return Err(Start::Retry(format!(
                        "cannot prepare the step's sandbox: {e}"
                    )))
                }
            }
        }
    };
    // Unsandboxed, a spawn fails for lasting reasons (no such folder, no shell): not
    // tried again.
    let fail = |message: String| match sandboxed.is_some() {
        true => Start::Retry(message),
        false => Start::Final(message),
    };
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Err(fail(format!(
                "cannot start the step in {}: {e}",
                spec.cwd.display()
            )))
        }
    };
    drop(cmd);
    // Without a pid there is no group to signal; kill(-0) would hit the
    // server's own group, so this is never guessed.
    let Some(group) = child.id().and_then(ProcessGroup::of) else {
        return Err(fail("the step started but has no process id".to_owned()));
    };
    // The sandbox holds the command back until its network is ready; on a failure
    // here the group is killed (dropped armed) before the command ever runs.
    let (network_helper, cgroup) = match sandboxed {
        None => (None, None),
        Some((sandbox, prepared)) => match prepared.release(sandbox, spec).await {
            (Ok(helper), cgroup) => (helper, cgroup),
            (Err(message), _) => {
                drop(group);
                // bubblewrap says on stderr why a sandbox died before its command ran.
                let said = match child.stderr.take() {
                    Some(mut stderr) => {
                        let mut text = String::new();
                        let read = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text);
                        let _ = tokio::time::timeout(Duration::from_secs(1), read).await;
                        text.trim().to_string()
                    }
                    None => String::new(),
                };
                let _ = child.wait().await;
                return Err(Start::Retry(match said.is_empty() {
                    true => message,
                    false => format!("{message} (bubblewrap: {said})"),
                }));
            }
        },
    };
    Ok(Started {
        child,
        group,
        network_helper,
        cgroup,
        sandbox: described,
    })
}

pub(super) fn command(spec: &StepSpec, scratch: &Scratch) -> Command {
    let path = std::env::var_os("PATH")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    // An absolute shell, so that a PATH from the step's env cannot change
    // which program is started.
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&spec.command)
        .current_dir(&spec.cwd)
        // The server's environment may hold database passwords and tokens.
        .env_clear()
        .env("PATH", path)
        .env("HOME", &scratch.home)
        .env("LANG", "C.UTF-8")
        .env("TERM", "dumb")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("FLUXGATE_OUTPUT", &scratch.output)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // Covers a cancelled `run_step`; `ProcessGroup` covers the rest of
        // the group.
        .kill_on_drop(true);
    cmd
}

/// Waits for the step's main process, enforcing the timeout, then kills its
/// whole group and reaps it. Returns the exit status and whether it timed out.
pub(super) async fn supervise(
    child: &mut Child,
    group: &mut ProcessGroup,
    timeout: Duration,
    gone: &watch::Sender<bool>,
    stop: impl std::future::Future<Output = ()>,
) -> (io::Result<ExitStatus>, bool) {
    // The exit is observed with WNOWAIT, leaving the main process a zombie
    // until the group has been killed: a zombie leader keeps its pid, and so
    // the group id, from being reused, which makes kill(-pgid) safe. Reaping
    // first (tokio's `wait`) would open a window in which that id could
    // belong to an unrelated group. The cost is one blocking thread per step.
    let pid = group.pgid;
    let mut exited = tokio::task::spawn_blocking(move || wait_without_reaping(pid));
    let mut leader_gone = false;
    let timed_out = tokio::select! {
        biased;
        _ = &mut exited => {
            leader_gone = true;
            false
        }
        _ = tokio::time::sleep(timeout) => true,
        // A limit was reached: the group is killed below, without a grace period.
        _ = stop => false,
    };
    if timed_out {
        group.signal(libc::SIGTERM);
        leader_gone = tokio::time::timeout(TERM_GRACE, &mut exited).await.is_ok();
    }
    // Even after a clean exit: background children must not survive the
    // step, nor keep its pipes open.
    group.signal(libc::SIGKILL);
    if !leader_gone {
        let _ = exited.await;
    }
    group.armed = false;
    let _ = gone.send(true);
    (child.wait().await, timed_out)
}

fn wait_without_reaping(pid: libc::pid_t) {
    loop {
        // SAFETY: siginfo_t is plain data; waitid only writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOWAIT;
        // SAFETY: `info` is a valid, writable siginfo_t.
        let rc = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
        if rc == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// The step's process group. Dropped while armed (a cancelled `run_step`),
/// it kills the group, so a cancelled step leaves nothing behind either.
pub(super) struct ProcessGroup {
    pgid: libc::pid_t,
    armed: bool,
}

impl ProcessGroup {
    pub(super) fn of(pid: u32) -> Option<Self> {
        let pgid = libc::pid_t::try_from(pid).ok().filter(|&p| p > 1)?;
        Some(Self { pgid, armed: true })
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: plain syscall; ESRCH (group already empty) is expected.
        unsafe { libc::kill(-self.pgid, signal) };
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if self.armed {
            self.signal(libc::SIGKILL);
        }
    }
}

/// HOME and the output file, in one private directory.
pub(super) struct Scratch {
    dir: tempfile::TempDir,
    home: PathBuf,
    pub(super) output: PathBuf,
}

impl Scratch {
    pub(super) fn create() -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("fluxgate-step-")
            .tempdir()?;
        let home = dir.path().join("home");
        std::fs::create_dir(&home)?;
        // Beside HOME rather than in it, so cleaning HOME does not lose it.
        let output = dir.path().join("output");
        std::fs::File::create(&output)?;
        Ok(Self { dir, home, output })
    }

    pub(super) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub(super) fn remove(self) {
        let path = self.dir.path().to_owned();
        if self.dir.close().is_ok() {
            return;
        }
        // Tools leave read-only trees in HOME (Go's module cache, for one),
        // and entries of a read-only directory cannot be unlinked; without
        // this every such step would leak its temporary directory.
        let mut dirs = vec![path.clone()];
        while let Some(dir) = dirs.pop() {
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                // file_type() does not follow symlinks, so nothing outside
                // the directory is touched.
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(entry.path());
                }
            }
        }
        let _ = std::fs::remove_dir_all(&path);
    }
}
