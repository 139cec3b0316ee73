//! What stands between the sign-in form and Argon2: throttling by user name and by client
//! address, a bound on concurrent password hashing, and failed sign-ins audited as counts.
//!
//! Every password check costs ~19 MiB and tens of milliseconds of a core, so an unbounded
//! stream of guesses is both a brute force and a denial of service. The rules:
//! * each user name and each client address has a number of free strikes (an attempt is a
//!   strike until it succeeds); past them, every further attempt must wait twice as long
//!   as the one before (1 s, 2 s, 4 s … up to a cap), and one that comes early gets 429
//!   with `Retry-After` without any hashing. Strikes are taken *before* the check, so a
//!   burst of parallel guesses is cut off at the free count, not after it has run.
//! * at most a few checks hash at once (a semaphore sized to the cores); a bounded queue
//!   waits for them, and past it the answer is 503.
//! * a failed attempt is audited once per name per window, as a count, and the typed name
//!   of an unknown user is never written as typed (it is sometimes a pasted password):
//!   it becomes `unknown:<keyed hash>`, which still groups one guesser's attempts.
//!
//! The state lives in this process: a restart forgets strikes, which is acceptable because
//! restarting is not something an anonymous guesser can do. Hand-written rather than a
//! rate-limiting crate (`governor` and the like) because what is needed is a failure-driven
//! exponential back-off, not a token bucket.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Strikes a user name gets before the back-off starts.
const FREE_PER_NAME: u32 = 5;
/// A client address is shared by everyone behind one NAT or proxy: more room.
const FREE_PER_ADDRESS: u32 = 20;
/// The longest wait for a name: short, since anyone can make a name wait (lockout abuse).
const MAX_WAIT_NAME: Duration = Duration::from_secs(5 * 60);
const MAX_WAIT_ADDRESS: Duration = Duration::from_secs(15 * 60);
/// Strikes are forgotten after this long without one.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Past this many tracked keys, forgotten ones are pruned.
const PRUNE_ABOVE: usize = 50_000;
/// Sign-ins waiting for a hashing slot; more get 503 at once.
const MAX_WAITING: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Name([u8; 16]),
    Address(IpAddr),
}

impl Key {
    fn free(self) -> u32 {
        match self {
            Key::Name(_) => FREE_PER_NAME,
            Key::Address(_) => FREE_PER_ADDRESS,
        }
    }

    fn max_wait(self) -> Duration {
        match self {
            Key::Name(_) => MAX_WAIT_NAME,
            Key::Address(_) => MAX_WAIT_ADDRESS,
        }
    }
}

#[derive(Debug)]
struct Strikes {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Failed attempts not yet written to the audit log, by audited name.
#[derive(Debug, Default)]
pub struct Unaudited {
    pub count: u64,
    pub addresses: Vec<IpAddr>,
}

pub struct SignInGuard {
    strikes: Mutex<HashMap<Key, Strikes>>,
    unaudited: Mutex<HashMap<String, Unaudited>>,
    hashing: tokio::sync::Semaphore,
    waiting: AtomicUsize,
    /// Per-process key for the names of unknown users: the hash groups attempts but
    /// cannot be reversed by trying passwords offline.
    key: [u8; 32],
}

/// Why an attempt is not run.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many strikes: come back after this long.
    TooMany(Duration),
    /// Every hashing slot is taken and the queue is full.
    Busy,
}

/// An admitted attempt; its strikes stay counted unless it succeeds.
pub struct Ticket<'a> {
    guard: &'a SignInGuard,
    keys: Vec<Key>,
    _slot: tokio::sync::SemaphorePermit<'a>,
}

impl Ticket<'_> {
    /// The password was right: the name's strikes are cleared and the address gets its
    /// strike back (so that colleagues behind one address do not add up).
    pub fn succeeded(self) {
        let mut table = self.guard.strikes.lock().expect("throttle lock");
        for key in &self.keys {
            match key {
                Key::Name(_) => {
                    table.remove(key);
                }
                Key::Address(_) => {
                    if let Some(s) = table.get_mut(key) {
                        s.count = s.count.saturating_sub(1);
                    }
                }
            }
        }
    }
}

impl Default for SignInGuard {
    fn default() -> Self {
        let slots = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4);
        Self::with_slots(slots)
    }
}

impl SignInGuard {
    pub fn with_slots(slots: usize) -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS random source works");
        SignInGuard {
            strikes: Mutex::new(HashMap::new()),
            unaudited: Mutex::new(HashMap::new()),
            hashing: tokio::sync::Semaphore::new(slots),
            waiting: AtomicUsize::new(0),
            key,
        }
    }

    fn keyed_hash(&self, text: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// How a typed name is written to logs and the audit: as it is when it names a user,
    /// otherwise as `unknown:` and a keyed hash.
    pub fn label(&self, typed: &str, is_user: bool) -> String {
        if is_user {
            typed.to_string()
        } else {
            let h = self.keyed_hash(typed);
            format!("unknown:{}", hex::encode(&h[..6]))
        }
    }

    /// Takes a strike for the name and the address, then waits for a hashing slot.
    pub async fn admit(&self, name: &str, address: Option<IpAddr>) -> Result<Ticket<'_>, Refusal> {
        let mut keys = Vec::with_capacity(2);
        let mut name_key = [0u8; 16];
        name_key.copy_from_slice(&self.keyed_hash(name)[..16]);
        keys.push(Key::Name(name_key));
        if let Some(a) = address {
            keys.push(Key::Address(a));
        }
        self.strike(&keys, Instant::now())?;
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Refusal::Busy);
        }
        let slot = self.hashing.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let slot = slot.expect("the semaphore is never closed");
        Ok(Ticket {
            guard: self,
            keys,
            _slot: slot,
        })
    }

    fn strike(&self, keys: &[Key], now: Instant) -> Result<(), Refusal> {
        let mut table = self.strikes.lock().expect("throttle lock");
        if table.len() > PRUNE_ABOVE {
            table.retain(|_, s| {
                now.duration_since(s.last) < FORGET_AFTER
                    || s.blocked_until.is_some_and(|b| b > now)
            });
        }
        // Refused if any key is waiting; a refusal takes no strike, so waiting it out works.
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(b) = table.get(key).and_then(|s| s.blocked_until) {
                wait = wait.max(b.saturating_duration_since(now));
            }
        }
        if !wait.is_zero() {
            return Err(Refusal::TooMany(wait));
        }
        for &key in keys {
            let s = table.entry(key).or_insert(Strikes {
                count: 0,
                last: now,
                blocked_until: None,
            });
            if now.duration_since(s.last) >= FORGET_AFTER {
                s.count = 0;
            }
            s.count += 1;
            s.last = now;
            s.blocked_until = (s.count > key.free()).then(|| {
                let over = (s.count - key.free() - 1).min(20);
                now + Duration::from_secs(1 << over).min(key.max_wait())
            });
        }
        Ok(())
    }

    /// Counts a failed attempt for the audit; the first one of a name since the last
    /// flush is returned so the caller writes it at once, the rest wait for [`Self::drain`].
    pub fn failed(&self, label: &str, address: Option<IpAddr>) -> bool {
        let mut pending = self.unaudited.lock().expect("audit counts lock");
        let first = !pending.contains_key(label);
        let entry = pending.entry(label.to_string()).or_default();
        if !first {
            entry.count += 1;
        }
        if let Some(a) = address {
            if !entry.addresses.contains(&a) && entry.addresses.len() < 16 {
                entry.addresses.push(a);
            }
        }
        first
    }

    /// Takes the counts of failures not yet audited. Names with none since the last drain
    /// are dropped, so the next failure of theirs is written at once again.
    pub fn drain(&self) -> Vec<(String, Unaudited)> {
        let mut pending = self.unaudited.lock().expect("audit counts lock");
        let mut out = Vec::new();
        pending.retain(|label, u| {
            if u.count == 0 {
                return false;
            }
            out.push((label.clone(), std::mem::take(u)));
            true
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(name: &str, guard: &SignInGuard, addr: &str) -> Vec<Key> {
        let mut k = [0u8; 16];
        k.copy_from_slice(&guard.keyed_hash(name)[..16]);
        vec![Key::Name(k), Key::Address(addr.parse().unwrap())]
    }

    #[test]
    fn a_name_gets_free_strikes_then_doubling_waits() {
        let g = SignInGuard::with_slots(1);
        let k = keys("bob", &g, "10.0.0.1");
        let t0 = Instant::now();
        for _ in 0..FREE_PER_NAME {
            assert_eq!(g.strike(&k, t0), Ok(()));
        }
        // The sixth is run, and sets the first wait.
        assert_eq!(g.strike(&k, t0), Ok(()));
        assert_eq!(
            g.strike(&k, t0),
            Err(Refusal::TooMany(Duration::from_secs(1)))
        );
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(g.strike(&k, t1), Ok(()));
        assert_eq!(
            g.strike(&k, t1),
            Err(Refusal::TooMany(Duration::from_secs(2)))
        );
        // Another name from another address is not held up.
        assert_eq!(g.strike(&keys("carol", &g, "10.0.0.2"), t1), Ok(()));
        // Quiet long enough, and the name starts afresh.
        let later = t1 + FORGET_AFTER + Duration::from_secs(2);
        assert_eq!(g.strike(&k, later), Ok(()));
        assert_eq!(g.strike(&k, later), Ok(()));
    }

    #[test]
    fn an_address_guessing_many_names_is_held_up_too() {
        let g = SignInGuard::with_slots(1);
        let t = Instant::now();
        for i in 0..=FREE_PER_ADDRESS {
            assert_eq!(g.strike(&keys(&format!("u{i}"), &g, "10.0.0.9"), t), Ok(()));
        }
        assert!(matches!(
            g.strike(&keys("fresh", &g, "10.0.0.9"), t),
            Err(Refusal::TooMany(_))
        ));
        assert_eq!(g.strike(&keys("fresh", &g, "10.0.0.8"), t), Ok(()));
    }

    #[test]
    fn waits_are_capped() {
        let g = SignInGuard::with_slots(1);
        let k = keys("bob", &g, "10.0.0.1");
        let mut t = Instant::now();
        for _ in 0..40 {
            match g.strike(&k, t) {
                Ok(()) => {}
                Err(Refusal::TooMany(w)) => {
                    assert!(w <= MAX_WAIT_NAME, "{w:?}");
                    t += w;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    }

    #[test]
    fn unknown_names_are_never_kept_as_typed() {
        let g = SignInGuard::with_slots(1);
        let label = g.label("hunter2-my-password", false);
        assert!(label.starts_with("unknown:"), "{label}");
        assert!(!label.contains("hunter2"));
        assert_eq!(label, g.label("hunter2-my-password", false), "stable");
        assert_eq!(g.label("bob", true), "bob");
    }

    #[test]
    fn failures_are_audited_first_at_once_then_as_counts() {
        let g = SignInGuard::with_slots(1);
        let a = Some("10.0.0.1".parse().unwrap());
        assert!(g.failed("bob", a));
        assert!(!g.failed("bob", a));
        assert!(!g.failed("bob", a));
        let drained = g.drain();
        assert_eq!(drained.len(), 1);
        assert_eq!(drained[0].0, "bob");
        assert_eq!(drained[0].1.count, 2);
        // Nothing new: dropped, and the next failure is written at once again.
        assert!(g.drain().is_empty());
        assert!(g.drain().is_empty());
        assert!(g.failed("bob", a));
    }
}
