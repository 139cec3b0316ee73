//! Starting one step inside the sandbox (`sandbox.rs`) with its limits
//! (`pipeline::limits`): the bubblewrap command line, the control groups and resource
//! limits its first process takes on between fork and exec, and the handshake that
//! holds the step's command back until its network is ready.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::cgroup;
use super::exec::StepSpec;
use super::exec_process::Scratch;
use super::sandbox::{self, keep_open, Handshake, Sandbox};

/// What must live until a prepared step's command has started.
pub(super) struct Prepared {
    handshake: Handshake,
    /// Opened by fluxgate and handed over, so that bubblewrap (running as the step's
    /// user) needs no permission on the paths leading to them.
    _dirs: [OwnedFd; 2],
    pub group: Option<cgroup::Group>,
}

/// What the step's limits came to on this host, for its log.
pub(super) fn describe(sandbox: &Sandbox, spec: &StepSpec) -> String {
    let per_process = match &sandbox.cgroups {
        Ok(_) => String::new(),
        Err(why) => {
            format!(" (memory and processes are limited per process and per user here: {why})")
        }
    };
    format!(
        "sandbox: bubblewrap, network {}; limits: {}{per_process}",
        spec.network.name(),
        spec.limits
    )
}

pub(super) fn prepare(
    sandbox: &Sandbox,
    spec: &StepSpec,
    scratch: &Scratch,
    name: &str,
) -> std::io::Result<(Command, Prepared)> {
    if let Some((uid, gid)) = sandbox.run_as {
        chown_tree(&spec.cwd, uid, gid)?;
        chown_tree(scratch.dir(), uid, gid)?;
    }
    let dirs = [open_dir(&spec.cwd)?, open_dir(scratch.dir())?];
    let group = match &sandbox.cgroups {
        Ok(root) => Some(root.create(name, spec.limits.memory, spec.limits.processes)?),
        Err(_) => None,
    };
    let handshake = Handshake::new()?;
    let fds = [
        dirs[0].as_raw_fd(),
        dirs[1].as_raw_fd(),
        handshake.info_write.as_raw_fd(),
        handshake.block_read.as_raw_fd(),
    ];
    let mut cmd = Command::new(sandbox.bwrap());
    cmd.args(sandbox.args(fds[0], fds[1], spec.limits.tmp, Some((fds[2], fds[3]))))
        .arg("/bin/sh")
        .arg("-c")
        .arg(&spec.command)
        .env_clear()
        .env("PATH", sandbox::PATH)
        .env("HOME", sandbox::HOME)
        .env("TMPDIR", "/tmp")
        .env("LANG", "C.UTF-8")
        .env("TERM", "dumb")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("FLUXGATE_OUTPUT", sandbox::OUTPUT_FILE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);

    let joins: Vec<CString> = group.iter().flat_map(|g| g.join_paths()).collect();
    let per_process = group.is_none();
    let limits = spec.limits;
    let run_as = sandbox.run_as;
    // SAFETY: between fork and exec this only makes raw system calls (fcntl, open,
    // write, close, setrlimit, setgroups, setgid, setuid) on data prepared before
    // the fork; nothing allocates or takes a lock.
    unsafe {
        cmd.pre_exec(move || {
            for fd in fds {
                keep_open(fd)?;
            }
            // Joined while still fluxgate's user: the groups' files are not the step's.
            for path in &joins {
                write_self_into(path)?;
            }
            let cpu = limits.cpu.as_secs().max(1);
            // The soft limit sends SIGXCPU, which the run reports as the CPU limit;
            // the hard one kills a process that ignores it.
            set_limit(libc::RLIMIT_CPU, cpu, cpu + 5)?;
            set_limit(libc::RLIMIT_CORE, 0, 0)?;
            if per_process {
                set_limit(libc::RLIMIT_AS, limits.memory, limits.memory)?;
                set_limit(libc::RLIMIT_NPROC, limits.processes, limits.processes)?;
            }
            if let Some((uid, gid)) = run_as {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let prepared = Prepared {
        handshake,
        _dirs: dirs,
        group,
    };
    Ok((cmd, prepared))
}

impl Prepared {
    /// After the spawn: waits for bubblewrap's sandbox, gives it its network, then lets
    /// the step's command start. Returns the network helper, to be ended with the step.
    /// On an error the command has not started; the caller kills the process group.
    pub async fn release(
        self,
        sandbox: &Sandbox,
        spec: &StepSpec,
    ) -> (Result<Option<Child>, String>, Option<cgroup::Group>) {
        let Handshake {
            info_read,
            info_write,
            block_read,
            block_write,
        } = self.handshake;
        // Only bubblewrap may hold these now, so that its exit is seen as an end of file.
        drop((info_write, block_read));
        let result = async {
            let pid = sandbox_pid(info_read).await?;
            let helper = sandbox.connect(pid, spec.network).await?;
            let mut go = std::fs::File::from(block_write);
            std::io::Write::write_all(&mut go, b"g")
                .map_err(|e| format!("the sandbox did not start: {e}"))?;
            Ok(helper)
        }
        .await;
        (result, self.group)
    }
}

/// Reads `{"child-pid": N, …}` from bubblewrap's info descriptor.
async fn sandbox_pid(info: OwnedFd) -> Result<u32, String> {
    let read = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let mut file = std::fs::File::from(info);
        std::io::Read::read_to_string(&mut file, &mut text).map(|_| text)
    });
    let text = match tokio::time::timeout(std::time::Duration::from_secs(10), read).await {
        Ok(Ok(Ok(text))) => text,
        _ => return Err("the sandbox did not start in time".into()),
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["child-pid"].as_u64())
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| "the sandbox could not be started".to_string())
}

fn open_dir(path: &Path) -> std::io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)?;
    Ok(dir.into())
}

/// Hands a checkout to the step's user; symlinks are changed themselves, never what
/// they point at.
fn chown_tree(root: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(root, Some(uid), Some(gid))?;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            }
        }
    }
    Ok(())
}

/// Moves the calling process into a control group: `0` names the writer itself.
fn write_self_into(procs: &CString) -> std::io::Result<()> {
    // SAFETY: open/write/close on a NUL-terminated path prepared before the fork.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        libc::close(fd);
        if written != 1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
