//! A process's name where it holds work (a runner's `jobs.locked_by`, a merge's claim on
//! its change): `<host>:<pid>:<start>:<machine>`, where `start` is the process's start
//! time (clock ticks since boot, from `/proc/<pid>/stat`) and `machine` a short hash of
//! the boot id and the pid namespace.
//!
//! Why: a job whose worker died is taken back once its heartbeat is older than
//! `jobs::STALE_AFTER` (30 s), and a merge's claim after 5 minutes, because a process on
//! another machine cannot tell a dead holder from a slow one. A process that shares the
//! boot and the pid namespace with the holder can: the kernel says whether that pid still
//! runs and since when. So a fluxgate killed (`kill -9`, OOM) and started again takes its
//! work back at once instead of leaving runs and change requests waiting. A pid used
//! again by another process has another start time, so it never passes for the dead
//! one. Holders anywhere else are left to the timeouts.

use sha2::{Digest, Sha256};

/// This process's name; a runner's workers add `/<n>`.
pub fn current() -> String {
    of_process(std::process::id()).unwrap_or_else(|| {
        // Without /proc no neighbour can be checked; a random part keeps names distinct.
        format!(
            "{}:{}:0:-{}",
            hostname(),
            std::process::id(),
            &fluxgate_core::db::new_id()[24..]
        )
    })
}

/// The name `pid` has (or would have), while it runs on this machine.
pub fn of_process(pid: u32) -> Option<String> {
    Some(format!(
        "{}:{pid}:{}:{}",
        hostname(),
        start_time(pid)?,
        machine()?
    ))
}

/// True when `worker` (a `locked_by` value, or a name from `current`) names a process of
/// this machine that has ended. False whenever that cannot be known for sure.
pub fn is_gone(worker: &str) -> bool {
    let runner = worker.split_once('/').map_or(worker, |(runner, _)| runner);
    let mut parts = runner.rsplitn(4, ':');
    let (Some(theirs), Some(start), Some(pid), Some(_host)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(ours), Ok(pid), Ok(start)) = (machine(), pid.parse::<u32>(), start.parse::<u64>())
    else {
        return false;
    };
    if theirs != ours {
        return false;
    }
    // Gone, or the pid now belongs to a process started at another time.
    start_time(pid) != Some(start)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}

/// Field 22 of `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may
/// hold spaces or parentheses itself, so fields are counted after its last `)`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Processes with the same value see each other's pids: same boot, same pid namespace.
fn machine() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let pid_ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let mut hash = Sha256::new();
    hash.update(boot.trim().as_bytes());
    hash.update(b"\n");
    hash.update(pid_ns.as_os_str().as_encoded_bytes());
    Some(hex::encode(&hash.finalize()[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_is_not_gone_and_an_ended_one_is() {
        let me = current();
        assert!(!is_gone(&format!("{me}/0")), "{me}");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let name = of_process(child.id()).unwrap();
        assert!(!is_gone(&format!("{name}/3")), "{name}");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(is_gone(&format!("{name}/3")), "{name}");
    }

    #[test]
    fn other_machines_reused_pids_and_odd_names_are_left_alone() {
        let me = current();
        let (runner_start, _) = me.rsplit_once(':').unwrap();
        // Another boot or pid namespace: cannot be checked from here.
        assert!(!is_gone(&format!("{runner_start}:0123456789ab/0")));
        // This pid, but started at another time: the process named has ended.
        let mut parts: Vec<&str> = me.split(':').collect();
        let other_start = (parts[2].parse::<u64>().unwrap() + 1).to_string();
        parts[2] = &other_start;
        assert!(is_gone(&parts.join(":")));
        for odd in ["", "dead", "w0", "host:1:2", "host:x:1:abc/0", "a:b:c:d:e"] {
            assert!(!is_gone(odd), "{odd}");
        }
    }
}
