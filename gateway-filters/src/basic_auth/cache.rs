//! A small, lock-free cache of recent successful slow verifications (bcrypt, `$apr1$`).
//!
//! An entry is a keyed SHA-256 digest of (user, password) — never the password — under a
//! random key drawn when the layer is built, so the digests mean nothing outside this
//! process and nothing secret reaches logs or `/config_dump`. The cache is direct-mapped:
//! [`SLOTS`] slots of four `AtomicU64` words, the slot chosen by the digest's first bytes,
//! a new success overwriting whatever was there. Readers and writers never wait for each
//! other: a read that races a write sees a torn mix of two digests, which matches nothing
//! and only costs a slow verification. Only successes enter it, so a wrong password is
//! verified the slow way every time.

use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use subtle::ConstantTimeEq;

/// Slots in the cache (a power of two): 32 KiB per layer.
pub(super) const SLOTS: usize = 1024;

/// A keyed digest of a successful (user, password) pair.
pub(super) type Entry = [u8; 32];

/// The cache; see the module docs.
pub(super) struct SuccessCache {
    key: [u8; 32],
    slots: Box<[[AtomicU64; 4]]>,
}

impl std::fmt::Debug for SuccessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuccessCache")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl SuccessCache {
    /// An empty cache with a fresh random key.
    pub(super) fn new() -> Self {
        Self {
            key: random_key(),
            slots: (0..SLOTS).map(|_| Default::default()).collect(),
        }
    }

    /// The entry for `user` (its index in the user table) and `password`.
    pub(super) fn entry(&self, user: u32, password: &[u8]) -> Entry {
        Sha256::new()
            .chain_update(self.key)
            .chain_update(user.to_le_bytes())
            .chain_update(password)
            .finalize()
            .into()
    }

    /// Whether `entry` is cached (compared in constant time).
    pub(super) fn contains(&self, entry: &Entry) -> bool {
        let slot = self.slot(entry);
        let mut stored = [0u8; 32];
        for (word, bytes) in slot.iter().zip(stored.chunks_exact_mut(8)) {
            bytes.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        stored.ct_eq(entry).into()
    }

    /// Caches `entry`, replacing whatever shared its slot.
    pub(super) fn insert(&self, entry: &Entry) {
        let slot = self.slot(entry);
        for (word, bytes) in slot.iter().zip(entry.chunks_exact(8)) {
            let mut value = [0u8; 8];
            value.copy_from_slice(bytes);
            word.store(u64::from_le_bytes(value), Ordering::Relaxed);
        }
    }

    fn slot(&self, entry: &Entry) -> &[AtomicU64; 4] {
        let index = usize::from(entry[0]) | (usize::from(entry[1]) << 8);
        &self.slots[index % self.slots.len()]
    }
}

/// 32 random bytes from a CSPRNG (`uuid`'s v4 generator, backed by `rand`'s thread RNG).
fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}
