//! What one `run:` step may use: memory, processes, CPU time, output, the size of its
//! private `/tmp` and `HOME`, and whether it reaches the network.
//!
//! Every limit has a default and a maximum the administrator sets when starting
//! fluxgate; a step may ask for any value up to that maximum in `fluxgate.yaml`:
//!
//! ```yaml
//! - name: integration tests
//!   run: make it
//!   network: none            # or outside (the default): the internet, never this host
//!   limits: {memory: 4Gi, processes: 1024, cpu: 20m, output: 32Mi, tmp: 2Gi}
//! ```
//!
//! Asking for more than the maximum fails the run, naming the line and the maximum,
//! rather than silently giving less than was asked for.

use std::fmt;
use std::time::Duration;

/// Where a step's network goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// Only a loopback of its own.
    None,
    /// The internet (package registries), through user-mode networking; never the
    /// host's own addresses, loopback included.
    #[default]
    Outside,
}

impl Network {
    pub fn parse(text: &str) -> Option<Network> {
        match text {
            "none" => Some(Network::None),
            "outside" => Some(Network::Outside),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Network::None => "none",
            Network::Outside => "outside",
        }
    }
}

/// The resolved limits of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory for all of the step's processes together.
    pub memory: u64,
    /// Processes (and threads) at once.
    pub processes: u64,
    /// CPU time of each process.
    pub cpu: Duration,
    /// Bytes printed on stdout and stderr together.
    pub output: u64,
    /// Bytes in the private `/tmp`, and as many again in the private `HOME`.
    pub tmp: u64,
}

const KI: u64 = 1024;
const MI: u64 = 1024 * KI;
const GI: u64 = 1024 * MI;

/// What a step gets when it asks for nothing.
pub const DEFAULTS: Limits = Limits {
    memory: 2 * GI,
    processes: 512,
    cpu: Duration::from_secs(30 * 60),
    output: 64 * MI,
    tmp: GI,
};

/// The maxima when the administrator sets none.
pub const MAXIMA: Limits = Limits {
    memory: 8 * GI,
    processes: 4096,
    cpu: Duration::from_secs(6 * 3600),
    output: 512 * MI,
    tmp: 8 * GI,
};

/// The limits a step asked for in `fluxgate.yaml`, each with its line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requested {
    pub memory: Option<(u64, usize)>,
    pub processes: Option<(u64, usize)>,
    pub cpu: Option<(Duration, usize)>,
    pub output: Option<(u64, usize)>,
    pub tmp: Option<(u64, usize)>,
}

/// Names the limits for `Requested`'s parser.
pub const KEYS: [&str; 5] = ["memory", "processes", "cpu", "output", "tmp"];

impl Requested {
    /// The step's limits under `maxima`: the defaults (lowered to a maximum below
    /// them), replaced by what the step asked for. Asking past a maximum is an error
    /// naming the line.
    pub fn resolve(&self, maxima: &Limits) -> Result<Limits, String> {
        fn pick<T: Copy + PartialOrd>(
            key: &str,
            asked: Option<(T, usize)>,
            default: T,
            max: T,
            show: impl Fn(T) -> String,
        ) -> Result<T, String> {
            match asked {
                None if default > max => Ok(max),
                None => Ok(default),
                Some((value, line)) if value > max => Err(format!(
                    "fluxgate.yaml line {line}: limits.{key} {} is over this fluxgate's maximum of {}",
                    show(value),
                    show(max)
                )),
                Some((value, _)) => Ok(value),
            }
        }
        Ok(Limits {
            memory: pick(
                "memory",
                self.memory,
                DEFAULTS.memory,
                maxima.memory,
                show_bytes,
            )?,
            processes: pick(
                "processes",
                self.processes,
                DEFAULTS.processes,
                maxima.processes,
                |n| n.to_string(),
            )?,
            cpu: pick("cpu", self.cpu, DEFAULTS.cpu, maxima.cpu, show_duration)?,
            output: pick(
                "output",
                self.output,
                DEFAULTS.output,
                maxima.output,
                show_bytes,
            )?,
            tmp: pick("tmp", self.tmp, DEFAULTS.tmp, maxima.tmp, show_bytes)?,
        })
    }
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory {}, processes {}, CPU time {} per process, output {}, /tmp and HOME {} each",
            show_bytes(self.memory),
            self.processes,
            show_duration(self.cpu),
            show_bytes(self.output),
            show_bytes(self.tmp)
        )
    }
}

/// `512Mi`, `2Gi`, `64Ki`, `1G`, `100M`, `4096` (bytes).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "" => 1,
        "Ki" => KI,
        "Mi" => MI,
        "Gi" => GI,
        "K" | "k" => 1000,
        "M" => 1000 * 1000,
        "G" => 1000 * 1000 * 1000,
        _ => return None,
    };
    n.checked_mul(scale).filter(|&b| b > 0)
}

/// A positive whole number.
pub fn parse_count(text: &str) -> Option<u64> {
    text.parse().ok().filter(|&n: &u64| n > 0)
}

pub fn show_bytes(bytes: u64) -> String {
    for (unit, size) in [("Gi", GI), ("Mi", MI), ("Ki", KI)] {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_and_decimal_units() {
        assert_eq!(parse_bytes("512Mi"), Some(512 * MI));
        assert_eq!(parse_bytes("2Gi"), Some(2 * GI));
        assert_eq!(parse_bytes("1G"), Some(1_000_000_000));
        assert_eq!(parse_bytes("4096"), Some(4096));
        for bad in [
            "",
            "0",
            "1.5Gi",
            "2GB",
            "-1",
            "Gi",
            "99999999999999999999Gi",
        ] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn asking_past_a_maximum_names_the_line_and_the_maximum() {
        let asked = Requested {
            memory: Some((16 * GI, 7)),
            ..Default::default()
        };
        let e = asked.resolve(&MAXIMA).unwrap_err();
        assert_eq!(
            e,
            "fluxgate.yaml line 7: limits.memory 16Gi is over this fluxgate's maximum of 8Gi"
        );
    }

    #[test]
    fn defaults_are_lowered_to_a_smaller_maximum_and_requests_win() {
        let maxima = Limits {
            memory: GI,
            ..MAXIMA
        };
        let asked = Requested {
            processes: Some((64, 3)),
            ..Default::default()
        };
        let limits = asked.resolve(&maxima).unwrap();
        assert_eq!(limits.memory, GI);
        assert_eq!(limits.processes, 64);
        assert_eq!(limits.output, DEFAULTS.output);
    }
}
