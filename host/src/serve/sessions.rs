//! Console sessions: the sign-in token is exchanged once for a random session id (the cookie)
//! with its own CSRF token, which expires when idle and at an absolute limit, and ends at
//! sign-out. Failed sign-ins back off per client address, so the token cannot be guessed at
//! network speed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngExt;
use sha2::{Digest, Sha256};

/// 24 random bytes, URL-safe base64 (32 characters).
pub fn random_token() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time comparison so a token cannot be guessed byte by byte.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Sessions are kept by a digest of their id: the map's lookups reveal nothing usable.
fn key_of(session_id: &str) -> [u8; 32] {
    Sha256::digest(session_id.as_bytes()).into()
}

struct Session {
    csrf: String,
    started: Instant,
    last_seen: Instant,
}

/// How long sessions live.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, however busy.
    pub absolute: Duration,
}

/// A session just begun: the cookie's value and the CSRF token the page must send back.
pub struct NewSession {
    pub id: String,
    pub csrf: String,
}

pub struct Sessions {
    limits: SessionLimits,
    live: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Self {
        Sessions {
            limits,
            live: Mutex::new(HashMap::new()),
        }
    }

    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic elsewhere while holding the lock leaves the map itself intact.
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh session (a new id at every sign-in: nothing from before carries over).
    pub fn begin(&self, now: Instant) -> NewSession {
        let id = random_token();
        let csrf = random_token();
        let mut live = self.live();
        live.retain(|_, s| self.alive(s, now));
        live.insert(
            key_of(&id),
            Session {
                csrf: csrf.clone(),
                started: now,
                last_seen: now,
            },
        );
        NewSession { id, csrf }
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.last_seen) < self.limits.idle
            && now.duration_since(s.started) < self.limits.absolute
    }

    /// The session's CSRF token when `session_id` is a live session; using it keeps it alive.
    pub fn touch(&self, session_id: &str, now: Instant) -> Option<String> {
        let mut live = self.live();
        let key = key_of(session_id);
        let alive = live.get(&key).is_some_and(|s| self.alive(s, now));
        if !alive {
            live.remove(&key);
            return None;
        }
        let s = live.get_mut(&key)?;
        s.last_seen = now;
        Some(s.csrf.clone())
    }

    /// Sign-out: the id is worthless from now on.
    pub fn end(&self, session_id: &str) {
        self.live().remove(&key_of(session_id));
    }

    pub fn count(&self) -> usize {
        self.live().len()
    }
}

/// Failed sign-ins per client address: the first few are free (typos), then each further one
/// doubles a lockout during which every sign-in from that address is refused unread.
pub struct LoginThrottle {
    free_failures: u32,
    first_lockout: Duration,
    max_lockout: Duration,
    by_client: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(5, Duration::from_secs(1), Duration::from_secs(300))
    }
}

impl LoginThrottle {
    pub fn new(free_failures: u32, first_lockout: Duration, max_lockout: Duration) -> Self {
        LoginThrottle {
            free_failures,
            first_lockout,
            max_lockout,
            by_client: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        self.by_client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long `client` must still wait before a sign-in is read, if at all.
    pub fn wait(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.map().get(&client)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// A wrong token from `client`.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut map = self.map();
        if map.len() > 100_000 {
            // Bounded memory under a flood from many addresses: forget those not locked.
            map.retain(|_, f| f.locked_until.is_some_and(|u| u > now));
        }
        let f = map.entry(client).or_insert(Failures {
            count: 0,
            locked_until: None,
        });
        f.count = f.count.saturating_add(1);
        if f.count > self.free_failures {
            let doublings = (f.count - self.free_failures - 1).min(20);
            let lockout = self
                .first_lockout
                .saturating_mul(1 << doublings)
                .min(self.max_lockout);
            f.locked_until = Some(now + lockout);
        }
    }

    /// A right token from `client`: its count starts again.
    pub fn succeeded(&self, client: IpAddr) {
        self.map().remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SessionLimits {
        SessionLimits {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(600),
        }
    }

    #[test]
    fn a_session_ends_when_idle_at_its_limit_and_at_sign_out() {
        let sessions = Sessions::new(limits());
        let t0 = Instant::now();
        let s = sessions.begin(t0);
        assert_eq!(
            sessions.touch(&s.id, t0 + Duration::from_secs(59)),
            Some(s.csrf.clone())
        );
        // Kept alive by use...
        for minute in 1..10 {
            assert!(
                sessions
                    .touch(&s.id, t0 + Duration::from_secs(59 * minute))
                    .is_some()
            );
        }
        // ...but never past the absolute limit.
        assert!(
            sessions
                .touch(&s.id, t0 + Duration::from_secs(600))
                .is_none()
        );

        let idle = sessions.begin(t0);
        assert!(
            sessions
                .touch(&idle.id, t0 + Duration::from_secs(61))
                .is_none()
        );

        let out = sessions.begin(t0);
        sessions.end(&out.id);
        assert!(sessions.touch(&out.id, t0).is_none());
        assert!(sessions.touch("made-up", t0).is_none());
    }

    #[test]
    fn token_comparison_needs_equal_strings() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }

    #[test]
    fn each_sign_in_gets_its_own_id_and_csrf_token() {
        let sessions = Sessions::new(limits());
        let t0 = Instant::now();
        let a = sessions.begin(t0);
        let b = sessions.begin(t0);
        assert_ne!(a.id, b.id);
        assert_ne!(a.csrf, b.csrf);
        assert_eq!(a.id.len(), 32);
        sessions.end(&a.id);
        assert_eq!(sessions.touch(&b.id, t0), Some(b.csrf));
    }

    #[test]
    fn failed_sign_ins_lock_the_client_out_for_doubling_times() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(1), Duration::from_secs(8));
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            throttle.failed(client, t0);
        }
        assert_eq!(throttle.wait(client, t0), None, "typos are free");
        throttle.failed(client, t0);
        assert_eq!(throttle.wait(client, t0), Some(Duration::from_secs(1)));
        throttle.failed(client, t0);
        assert_eq!(throttle.wait(client, t0), Some(Duration::from_secs(2)));
        for _ in 0..10 {
            throttle.failed(client, t0);
        }
        assert_eq!(throttle.wait(client, t0), Some(Duration::from_secs(8)));
        assert_eq!(throttle.wait(client, t0 + Duration::from_secs(8)), None);
        assert_eq!(throttle.wait(other, t0), None, "per client address");
        throttle.succeeded(client);
        throttle.failed(client, t0);
        assert_eq!(throttle.wait(client, t0), None, "a success starts again");
    }
}
