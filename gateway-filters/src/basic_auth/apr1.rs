//! Apache's `$apr1$` password hash: the MD5-crypt algorithm (Poul-Henning Kamp's
//! FreeBSD `md5crypt`) with the magic string `$apr1$`, as `htpasswd -m` writes it.
//!
//! No maintained crate verifies it, so the loop is written here from the algorithm's
//! description, over the RustCrypto `md-5` digest; the tests check it against hashes made
//! by Apache's `htpasswd` and by OpenSSL's `passwd -apr1`.

use md5::{Digest, Md5};

/// The magic string that starts an `$apr1$` hash and is mixed into it.
pub(super) const MAGIC: &str = "$apr1$";

/// The alphabet of crypt's base-64 encoding, least significant 6 bits first.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of the encoded hash after the salt.
pub(super) const ENCODED_LEN: usize = 22;

/// Longest salt: MD5-crypt reads at most 8 characters of it.
pub(super) const MAX_SALT: usize = 8;

/// The 22 characters that follow `$apr1$<salt>$` for `password`.
pub(super) fn encode(password: &[u8], salt: &[u8]) -> [u8; ENCODED_LEN] {
    let salt = &salt[..salt.len().min(MAX_SALT)];

    // The alternate sum: password, salt, password.
    let alternate = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();

    let mut context = Md5::new()
        .chain_update(password)
        .chain_update(MAGIC.as_bytes())
        .chain_update(salt);
    // As many bytes of the alternate sum as the password is long, 16 at a time.
    let mut left = password.len();
    while left > 0 {
        let take = left.min(16);
        context.update(&alternate[..take]);
        left -= take;
    }
    // For each bit of the password's length, lowest first: a zero byte for a 1, the
    // password's first byte for a 0.
    let mut bits = password.len();
    while bits > 0 {
        if bits & 1 == 1 {
            context.update([0u8]);
        } else {
            context.update(&password[..1]);
        }
        bits >>= 1;
    }
    let mut sum = context.finalize();

    // A thousand rounds to slow an attacker down.
    for round in 0..1000 {
        let mut context = Md5::new();
        if round % 2 == 1 {
            context.update(password);
        } else {
            context.update(sum);
        }
        if round % 3 != 0 {
            context.update(salt);
        }
        if round % 7 != 0 {
            context.update(password);
        }
        if round % 2 == 1 {
            context.update(sum);
        } else {
            context.update(password);
        }
        sum = context.finalize();
    }

    // Three bytes at a time, in crypt's shuffled order, four characters each; the last
    // byte alone gives two.
    let mut out = [0u8; ENCODED_LEN];
    let groups = [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)];
    for (group, (a, b, c)) in groups.into_iter().enumerate() {
        let value = (u32::from(sum[a]) << 16) | (u32::from(sum[b]) << 8) | u32::from(sum[c]);
        write64(&mut out[group * 4..group * 4 + 4], value);
    }
    write64(&mut out[20..22], u32::from(sum[11]));
    out
}

/// Writes `value` as `out.len()` crypt base-64 characters, least significant first.
fn write64(out: &mut [u8], mut value: u32) {
    for slot in out {
        *slot = ITOA64[(value & 0x3f) as usize];
        value >>= 6;
    }
}

/// Whether `text` only uses crypt's base-64 alphabet.
pub(super) fn is_crypt64(text: &[u8]) -> bool {
    text.iter().all(|byte| ITOA64.contains(byte))
}
