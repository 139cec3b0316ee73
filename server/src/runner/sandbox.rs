//! The sandbox every `run:` step runs in: bubblewrap (`bwrap`, what Flatpak runs its
//! apps in) gives each step new user, PID, IPC, UTS, network and mount namespaces.
//!
//! A step's command comes from whoever can push to the application repository, so it
//! is treated as hostile. Inside, it sees:
//! - its checkout at `/workspace`, read-write, and the output file;
//! - a private `/tmp` and `HOME` (`/home/step`), tmpfs, each capped at `limits.tmp`;
//! - the host's system folders (`/usr`, `/etc`, the `/bin` and `/lib` links) read-only,
//!   with fluxgate's data directory covered if it lies under one of them;
//! - a `/proc` of its own PID namespace, and a handful of harmless devices.
//!
//! Nothing else: not the data directory, the database, other runs, `/run` (whose Unix
//! sockets, PostgreSQL's among them, could be connected to even through a read-only
//! mount) or any process of the host. When fluxgate runs as root, the step runs as
//! `nobody` on the host, so even the read-only system folders give it no more than
//! any user has. Its PID namespace dies with it (bubblewrap's init is its PID 1 and
//! dies with the step's parent), so nothing it starts outlives it, `setsid` or not.
//!
//! Network: `none` is a network namespace with only its own loopback. `outside` adds
//! user-mode networking (`slirp4netns`, with the host's loopback refused) and, before
//! the step's command starts, `prohibit` routes to every address of the host and to
//! link-local addresses (cloud metadata), so the step reaches the internet and never
//! the host: not fluxgate, not PostgreSQL.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::cgroup;
use crate::pipeline::limits::Network;

/// Where the checkout and the output file are inside the sandbox.
pub const WORKSPACE: &str = "/workspace";
pub const SCRATCH: &str = "/fluxgate";
pub const OUTPUT_FILE: &str = "/fluxgate/output";
pub const HOME: &str = "/home/step";
/// PATH inside the sandbox: the host's PATH may name folders the sandbox lacks.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How steps are isolated in this process.
#[derive(Debug)]
pub enum Isolation {
    Sandbox(Box<Sandbox>),
    /// No sandbox could be started: steps are refused, with this reason.
    Refused(String),
    /// `--unsandboxed-steps`: an administrator accepted that steps run as fluxgate's
    /// own user, with access to its data.
    Unsandboxed,
}

impl Isolation {
    /// The sandbox if it works here (`data_dir` is hidden from steps), otherwise why not.
    /// With `unsandboxed`, steps run without one whatever this machine has.
    pub fn detect(data_dir: &Path, unsandboxed: bool) -> Isolation {
        if unsandboxed {
            return Isolation::Unsandboxed;
        }
        match Sandbox::detect(data_dir) {
            Ok(sandbox) => Isolation::Sandbox(Box::new(sandbox)),
            Err(why) => Isolation::Refused(why),
        }
    }

    /// Where runs' checkouts go. Sandboxed steps running as `nobody` need a path they
    /// can traverse to their checkout (bubblewrap resolves it as the step's user), and
    /// the data directory must stay private; so those checkouts live under a folder of
    /// their own, made at start (see `Sandbox::work_root`).
    pub fn work_root(&self, data_dir: &Path) -> PathBuf {
        match self {
            Isolation::Sandbox(s) => s.work_root.clone().unwrap_or_else(|| data_dir.join("work")),
            _ => data_dir.join("work"),
        }
    }

    /// Stored with each run and shown on its page.
    pub fn label(&self) -> &'static str {
        match self {
            Isolation::Sandbox(_) => "bubblewrap",
            Isolation::Refused(_) => "refused",
            Isolation::Unsandboxed => "none",
        }
    }
}

#[derive(Debug)]
enum SystemPath {
    Bind(PathBuf),
    Link { target: PathBuf, path: PathBuf },
}

#[derive(Debug)]
pub struct Sandbox {
    bwrap: PathBuf,
    system: Vec<SystemPath>,
    /// Folders under `system` that steps must not see (the data directory).
    covered: Vec<PathBuf>,
    /// The host user and group the step runs as (`nobody` when fluxgate is root).
    pub run_as: Option<(u32, u32)>,
    /// `network: outside`, or why it cannot be given here.
    outside: Result<Outside, String>,
    /// Memory and process limits for all of a step's processes, or why per-process
    /// limits stand in for them.
    pub cgroups: Result<cgroup::Root, String>,
    /// With `run_as`: a folder in the system's temporary directory, mode 0711 (others
    /// may pass through it to a checkout they own, never list it), for runs' checkouts.
    work_root: Option<PathBuf>,
}

#[derive(Debug)]
struct Outside {
    slirp: PathBuf,
    nsenter: PathBuf,
    ip: PathBuf,
}

/// The pipes between fluxgate and a starting bubblewrap: it writes its child's pid on
/// `info`, and waits on `block` before starting the step's command.
pub struct Handshake {
    pub info_read: OwnedFd,
    pub info_write: OwnedFd,
    pub block_read: OwnedFd,
    pub block_write: OwnedFd,
}

impl Handshake {
    pub fn new() -> std::io::Result<Handshake> {
        let (info_read, info_write) = pipe()?;
        let (block_read, block_write) = pipe()?;
        Ok(Handshake {
            info_read,
            info_write,
            block_read,
            block_write,
        })
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    unsafe {
        use std::os::fd::FromRawFd;
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

impl Sandbox {
    fn detect(data_dir: &Path) -> Result<Sandbox, String> {
        let bwrap = which("bwrap").ok_or(
            "bubblewrap (bwrap) is not installed; install it (Debian: apt-get install bubblewrap)",
        )?;
        let mut system = Vec::new();
        for dir in [
            "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
        ] {
            let path = PathBuf::from(dir);
            match std::fs::read_link(&path) {
                Ok(target) => system.push(SystemPath::Link { target, path }),
                Err(_) if path.is_dir() => system.push(SystemPath::Bind(path)),
                Err(_) => {}
            }
        }
        let data_dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
        let covered = system
            .iter()
            .filter_map(|s| match s {
                SystemPath::Bind(p) if data_dir.starts_with(p) => Some(data_dir.clone()),
                _ => None,
            })
            .collect();
        // SAFETY: geteuid cannot fail.
        let run_as = (unsafe { libc::geteuid() } == 0).then_some((65534, 65534));
        let outside = match (which("slirp4netns"), which("nsenter"), which("ip")) {
            (Some(slirp), Some(nsenter), Some(ip)) => {
                // slirp4netns runs as fluxgate's own user and needs the TUN device.
                match std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/net/tun")
                {
                    Ok(_) => Ok(Outside { slirp, nsenter, ip }),
                    Err(e) => Err(format!("/dev/net/tun cannot be opened: {e}")),
                }
            }
            _ => Err("slirp4netns, nsenter or ip (iproute2) is not installed".into()),
        };
        let work_root = match run_as {
            Some(_) => Some(make_work_root()?),
            None => None,
        };
        let sandbox = Sandbox {
            bwrap,
            system,
            covered,
            run_as,
            outside,
            cgroups: cgroup::Root::detect(),
            work_root,
        };
        sandbox.probe()?;
        Ok(sandbox)
    }

    /// Starts `/bin/true` in the sandbox, so a machine where it cannot work is found at
    /// start instead of at the first step.
    fn probe(&self) -> Result<(), String> {
        let scratch = tempfile::tempdir().map_err(|e| format!("no temporary folder: {e}"))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::lchown(scratch.path(), Some(uid), Some(gid))
                .map_err(|e| e.to_string())?;
        }
        // Two descriptors: bubblewrap closes each after binding it.
        let open = || std::fs::File::open(scratch.path()).map_err(|e| e.to_string());
        let (a, b) = (open()?, open()?);
        let fds = [a.as_raw_fd(), b.as_raw_fd()];
        let mut cmd = std::process::Command::new(&self.bwrap);
        cmd.args(self.args(fds[0], fds[1], 1 << 20, None))
            .arg("/bin/true")
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        {
            use std::os::unix::process::CommandExt;
            if let Some((uid, gid)) = self.run_as {
                cmd.uid(uid).gid(gid);
            }
            // SAFETY: only fcntl between fork and exec.
            unsafe {
                cmd.pre_exec(move || fds.into_iter().try_for_each(keep_open));
            }
        }
        let out = cmd
            .output()
            .map_err(|e| format!("bwrap cannot be started: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "bwrap could not make a sandbox here ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    pub fn bwrap(&self) -> &Path {
        &self.bwrap
    }

    /// Whether `network: outside` works here, or why not.
    pub fn outside(&self) -> Result<(), &str> {
        self.outside.as_ref().map(|_| ()).map_err(String::as_str)
    }

    /// bubblewrap's arguments up to the command. `workspace` and `scratch` are open
    /// descriptors of the checkout and of the folder holding the output file; `handshake` is the (info, block)
    /// descriptors when the caller waits for the sandbox before the command starts.
    pub fn args(
        &self,
        workspace: i32,
        scratch: i32,
        tmp_bytes: u64,
        handshake: Option<(i32, i32)>,
    ) -> Vec<String> {
        let mut a: Vec<String> = [
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-net",
            "--unshare-cgroup-try",
            "--hostname",
            "fluxgate-step",
            "--die-with-parent",
            "--new-session",
        ]
        .map(String::from)
        .to_vec();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        for entry in &self.system {
            match entry {
                SystemPath::Bind(p) => {
                    let p = p.to_string_lossy();
                    push(&["--ro-bind", &p, &p]);
                }
                SystemPath::Link { target, path } => {
                    push(&[
                        "--symlink",
                        &target.to_string_lossy(),
                        &path.to_string_lossy(),
                    ]);
                }
            }
        }
        for dir in &self.covered {
            push(&["--tmpfs", &dir.to_string_lossy()]);
        }
        // Devices one by one: `--dev` would make bubblewrap nest a second user
        // namespace, which slirp4netns then could not join.
        for dev in ["null", "zero", "full", "random", "urandom"] {
            let p = format!("/dev/{dev}");
            push(&["--dev-bind", &p, &p]);
        }
        push(&["--symlink", "/proc/self/fd", "/dev/fd"]);
        for (n, name) in ["stdin", "stdout", "stderr"].iter().enumerate() {
            push(&[
                "--symlink",
                &format!("/proc/self/fd/{n}"),
                &format!("/dev/{name}"),
            ]);
        }
        let size = tmp_bytes.to_string();
        push(&["--proc", "/proc"]);
        push(&["--size", &size, "--tmpfs", "/dev/shm"]);
        push(&["--size", &size, "--tmpfs", "/tmp"]);
        push(&["--size", &size, "--tmpfs", HOME]);
        push(&["--bind-fd", &workspace.to_string(), WORKSPACE]);
        push(&["--bind-fd", &scratch.to_string(), SCRATCH]);
        push(&["--chdir", WORKSPACE]);
        if let Some((info, block)) = handshake {
            push(&[
                "--info-fd",
                &info.to_string(),
                "--block-fd",
                &block.to_string(),
            ]);
        }
        push(&["--"]);
        a
    }

    /// Gives the sandbox whose first process is `pid` its network. For `outside`,
    /// returns the slirp4netns process, which must live as long as the step.
    pub async fn connect(&self, pid: u32, network: Network) -> Result<Option<Child>, String> {
        if network == Network::None {
            return Ok(None);
        }
        let outside = self
            .outside
            .as_ref()
            .map_err(|why| format!("network: outside is not available on this host ({why})"))?;
        loopback_is_up(pid).await?;
        let (ready_read, ready_write) = pipe().map_err(|e| e.to_string())?;
        let ready_fd = ready_write.as_raw_fd();
        let mut slirp = Command::new(&outside.slirp);
        slirp
            .args(["--configure", "--mtu=65520", "--disable-host-loopback"])
            // slirp4netns parses the step's packets: confine it as well.
            .args(["--enable-sandbox", "--enable-seccomp"])
            .arg(format!("--ready-fd={ready_fd}"))
            .arg(pid.to_string())
            .arg("tap0")
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: only fcntl, which is async-signal-safe, between fork and exec.
        unsafe {
            slirp.pre_exec(move || keep_open(ready_fd));
        }
        let mut child = slirp
            .spawn()
            .map_err(|e| format!("slirp4netns cannot be started: {e}"))?;
        drop(ready_write);
        let ready = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::task::spawn_blocking(move || {
                let mut byte = [0u8; 1];
                let mut file = std::fs::File::from(ready_read);
                std::io::Read::read(&mut file, &mut byte).unwrap_or(0)
            }),
        )
        .await;
        if !matches!(ready, Ok(Ok(1))) {
            let _ = child.start_kill();
            let stderr = match child.wait_with_output().await {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            return Err(format!("the step's network could not be set up: {stderr}"));
        }
        self.fence_off_host(outside, pid).await?;
        Ok(Some(child))
    }

    /// `prohibit` routes in the step's network namespace to every address of this host
    /// and to link-local ones (cloud metadata services live there).
    async fn fence_off_host(&self, outside: &Outside, pid: u32) -> Result<(), String> {
        let mut batch = String::from("route add prohibit 169.254.0.0/16\n");
        for addr in host_addresses() {
            batch.push_str(&format!("route add prohibit {addr}/32\n"));
        }
        let mut cmd = Command::new(&outside.nsenter);
        cmd.args(["-t", &pid.to_string()]);
        if self.run_as.is_none() && unsafe { libc::geteuid() } != 0 {
            // Not root: the step's user namespace is ours, entering it gives the right.
            cmd.args(["-U", "--preserve-credentials"]);
        }
        cmd.arg("-n")
            .arg(&outside.ip)
            .args(["-batch", "-"])
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("nsenter cannot be started: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(batch.as_bytes()).await;
        }
        let out = child.wait_with_output().await.map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "the step's network could not be fenced off from this host: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

/// Waits until bubblewrap has brought up the sandbox's loopback. bubblewrap tells the
/// child's pid before its child configures `lo` over netlink; slirp4netns and the host
/// fence configuring the same namespace meanwhile made that fail now and then ("bwrap:
/// loopback: Failed RTM_NEWADDR: No child processes": 2 of 400 starts in a loop that
/// did what `connect` does, 0 of 400 with this wait). `lo` is up once its broadcast
/// route exists.
async fn loopback_is_up(pid: u32) -> Result<(), String> {
    let routes = format!("/proc/{pid}/net/fib_trie");
    let started = std::time::Instant::now();
    loop {
        match tokio::fs::read_to_string(&routes).await {
            Ok(table) if table.contains("127.255.255.255") => return Ok(()),
            Ok(_) => {}
            // A kernel without the table cannot tell; go on as bubblewrap's pid allows.
            Err(_) if std::path::Path::new(&format!("/proc/{pid}")).exists() => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "the sandbox ended before its network was set up: {e}"
                ))
            }
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err("the sandbox did not bring up its loopback in 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A new folder `fluxgate-steps-<random>` in the temporary directory, mode 0711.
/// `create_dir` fails on anything already there (a planted symlink included).
fn make_work_root() -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source: {e}"))?;
    let dir = std::env::temp_dir().join(format!("fluxgate-steps-{}", hex::encode(bytes)));
    std::fs::create_dir(&dir)
        .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)))
        .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Clears close-on-exec on `fd` in a child about to exec.
pub fn keep_open(fd: i32) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor this process owns.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// This host's IPv4 addresses other than loopback (a step has a loopback of its own).
fn host_addresses() -> Vec<std::net::Ipv4Addr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below with freeifaddrs; each entry is read
    // only while the list lives, and `ifa_addr` is checked for null and its family
    // before it is read as a sockaddr_in.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut cur = list;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() {
                    found.push(ip);
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found.sort();
    found.dedup();
    found
}

/// Says at start how steps will run; loudly when they run unsandboxed or not at all.
pub fn announce(isolation: &Isolation) {
    match isolation {
        Isolation::Sandbox(s) => {
            tracing::info!(
                network_outside = %s.outside().err().unwrap_or("available"),
                group_limits = %s.cgroups.as_ref().err().map_or("control groups", |e| e.as_str()),
                "steps run in a bubblewrap sandbox"
            );
        }
        Isolation::Refused(why) => {
            tracing::error!(reason = %why, "no sandbox can be started: run: steps will be refused (--unsandboxed-steps overrides)");
        }
        Isolation::Unsandboxed => {
            let banner = "WARNING: --unsandboxed-steps: pipeline steps run WITHOUT a sandbox, as \
                          fluxgate's own user. Anyone who can push a branch of an application \
                          repository can read fluxgate's database and secrets and move \
                          environment branches.";
            eprintln!("\n{0}\n{banner}\n{0}\n", "!".repeat(78));
            tracing::warn!("{banner}");
        }
    }
}
