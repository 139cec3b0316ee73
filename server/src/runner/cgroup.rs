//! Memory and process limits for one sandboxed step, with control groups.
//!
//! A step's processes together get one memory limit and one process count, which
//! per-process resource limits cannot express (a step of many processes would get
//! many times the memory). Both kinds of hierarchy are handled: the unified one
//! (cgroup v2, `memory.max`, `pids.max`) and the older split one that hybrid hosts
//! still mount (v1, `memory/…/memory.limit_in_bytes`, `pids/…/pids.max`). Where
//! neither is writable by fluxgate, `detect` says so and the sandbox falls back to
//! per-process limits (see `sandbox.rs`).
//!
//! The step's first process joins its groups between fork and exec (`join_paths`),
//! so every process of the step is counted from the start.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const PARENT: &str = "fluxgate-steps";

/// Where steps' groups are made.
#[derive(Debug)]
pub enum Root {
    /// `<root>/fluxgate-steps`, with the memory and pids controllers on.
    Unified(PathBuf),
    /// `<memory root>/fluxgate-steps` and `<pids root>/fluxgate-steps`.
    Split { memory: PathBuf, pids: PathBuf },
}

impl Root {
    /// The usable hierarchy, or why there is none.
    pub fn detect() -> Result<Root, String> {
        let unified = Path::new("/sys/fs/cgroup");
        let controllers =
            fs::read_to_string(unified.join("cgroup.controllers")).unwrap_or_default();
        let words: Vec<&str> = controllers.split_whitespace().collect();
        if words.contains(&"memory") && words.contains(&"pids") {
            let parent = unified.join(PARENT);
            let made = mkdir(&parent)
                .and_then(|()| fs::write(unified.join("cgroup.subtree_control"), "+memory +pids"))
                .and_then(|()| fs::write(parent.join("cgroup.subtree_control"), "+memory +pids"));
            return match made {
                Ok(()) => Ok(Root::Unified(parent)),
                Err(e) => Err(format!("cannot use {}: {e}", parent.display())),
            };
        }
        let memory = unified.join("memory").join(PARENT);
        let pids = unified.join("pids").join(PARENT);
        if unified.join("memory/memory.limit_in_bytes").exists() && unified.join("pids").is_dir() {
            return match mkdir(&memory).and_then(|()| mkdir(&pids)) {
                Ok(()) => Ok(Root::Split { memory, pids }),
                Err(e) => Err(format!(
                    "cannot make control groups under /sys/fs/cgroup: {e}"
                )),
            };
        }
        Err("no control group hierarchy with memory and pids controllers".into())
    }

    /// A new group named `name` with these limits.
    pub fn create(&self, name: &str, memory: u64, processes: u64) -> io::Result<Group> {
        let group = match self {
            Root::Unified(parent) => {
                let dir = parent.join(name);
                mkdir(&dir)?;
                let group = Group {
                    dirs: vec![dir.clone()],
                    unified: true,
                };
                fs::write(dir.join("memory.max"), memory.to_string())?;
                // Without this a step could spill past its limit into swap.
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                fs::write(dir.join("pids.max"), processes.to_string())?;
                group
            }
            Root::Split { memory: m, pids: p } => {
                let (mdir, pdir) = (m.join(name), p.join(name));
                // Made one at a time, so that a failure removes what was made.
                let mut group = Group {
                    dirs: Vec::new(),
                    unified: false,
                };
                for dir in [&mdir, &pdir] {
                    mkdir(dir)?;
                    group.dirs.push(dir.clone());
                }
                fs::write(mdir.join("memory.limit_in_bytes"), memory.to_string())?;
                let _ = fs::write(mdir.join("memory.memsw.limit_in_bytes"), memory.to_string());
                fs::write(pdir.join("pids.max"), processes.to_string())?;
                group
            }
        };
        Ok(group)
    }
}

fn mkdir(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// One step's groups. Removed (its processes killed first) when dropped.
#[derive(Debug)]
pub struct Group {
    dirs: Vec<PathBuf>,
    unified: bool,
}

/// Limits the step ran into, read from the groups' event counters.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Hits {
    pub memory: bool,
    pub processes: bool,
}

impl Group {
    /// The `cgroup.procs` files the step's first process writes itself into.
    pub fn join_paths(&self) -> Vec<CString> {
        self.dirs
            .iter()
            .filter_map(|d| CString::new(d.join("cgroup.procs").as_os_str().as_bytes()).ok())
            .collect()
    }

    pub fn hits(&self) -> Hits {
        let counter = |file: PathBuf, key: &str| -> u64 {
            fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
                .unwrap_or(0)
        };
        let (memory, pids) = (&self.dirs[0], self.dirs.last().unwrap_or(&self.dirs[0]));
        let oom = if self.unified {
            counter(memory.join("memory.events"), "oom_kill ")
        } else {
            counter(memory.join("memory.oom_control"), "oom_kill ")
        };
        Hits {
            memory: oom > 0,
            processes: counter(pids.join("pids.events"), "max ") > 0,
        }
    }

    /// Kills whatever is left in the groups (normally nothing: the step's PID namespace
    /// died with it) and removes them.
    pub fn remove(&mut self) {
        for _ in 0..50 {
            let mut left = false;
            for dir in &self.dirs {
                if self.unified {
                    let _ = fs::write(dir.join("cgroup.kill"), "1");
                } else {
                    for pid in fs::read_to_string(dir.join("cgroup.procs"))
                        .unwrap_or_default()
                        .lines()
                        .filter_map(|l| l.trim().parse::<libc::pid_t>().ok())
                    {
                        // SAFETY: plain syscall on a pid listed in the step's own group.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
                if dir.exists() && fs::remove_dir(dir).is_err() {
                    left = true;
                }
            }
            if !left {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        tracing::warn!(dirs = ?self.dirs, "a step's control group could not be removed");
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.remove();
    }
}
