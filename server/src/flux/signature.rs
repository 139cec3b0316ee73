//! Who may post events for a cluster: the checks of Flux's `generic` and `generic-hmac`
//! Providers, and the signing side (used by the demo reconciler and the Receiver poke).
//!
//! `generic-hmac` sends `X-Signature: <alg>=<hex>`, an HMAC of the raw body keyed with the
//! Provider secret's token, where alg is sha224, sha256, sha384 or sha512 (Flux signs with
//! sha256; the others are accepted as Flux's own Receiver accepts them; sha1 is refused as
//! too weak). `generic` sends whatever headers the Provider secret holds;
//! fluxgate asks for `Authorization: Bearer <token>`. Comparisons are constant-time.

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("unsupported signature algorithm {0:?} (use sha224, sha256, sha384 or sha512)")]
    Algorithm(String),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("wrong signature or token")]
    Wrong,
}

fn mac_hex<M: Mac + hmac::digest::KeyInit>(key: &[u8], body: &[u8]) -> Vec<u8> {
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_of(alg: &str, key: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    Some(match alg {
        "sha224" => mac_hex::<Hmac<sha2::Sha224>>(key, body),
        "sha256" => mac_hex::<Hmac<sha2::Sha256>>(key, body),
        "sha384" => mac_hex::<Hmac<sha2::Sha384>>(key, body),
        "sha512" => mac_hex::<Hmac<sha2::Sha512>>(key, body),
        _ => return None,
    })
}

/// The `X-Signature` value for `body` (sha256, as Flux sends it).
pub fn sign(key: &str, body: &[u8]) -> String {
    sign_with("sha256", key, body).expect("sha256 is supported")
}

/// The `X-Signature` value for `body` with a chosen algorithm.
pub fn sign_with(alg: &str, key: &str, body: &[u8]) -> Option<String> {
    hmac_of(alg, key.as_bytes(), body).map(|m| format!("{alg}={}", hex::encode(m)))
}

/// Checks an `X-Signature` header against the body.
pub fn check_hmac(key: &str, header: Option<&str>, body: &[u8]) -> Result<(), Refused> {
    let header = header.ok_or(Refused::Missing("X-Signature"))?;
    let (alg, hex_sig) = header
        .trim()
        .split_once('=')
        .ok_or(Refused::Malformed("X-Signature"))?;
    let alg = alg.to_ascii_lowercase();
    let expected =
        hmac_of(&alg, key.as_bytes(), body).ok_or_else(|| Refused::Algorithm(alg.clone()))?;
    let given = hex::decode(hex_sig).map_err(|_| Refused::Malformed("X-Signature"))?;
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(Refused::Wrong)
    }
}

/// Checks an `Authorization: Bearer <token>` header.
pub fn check_bearer(token: &str, header: Option<&str>) -> Result<(), Refused> {
    let header = header.ok_or(Refused::Missing("Authorization"))?;
    let given = header
        .trim()
        .strip_prefix("Bearer ")
        .ok_or(Refused::Malformed("Authorization"))?
        .trim();
    // Equal length first is not a leak worth hiding: the token's length is public.
    if given.len() == token.len() && bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(Refused::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips_and_a_changed_body_fails() {
        for alg in ["sha224", "sha256", "sha384", "sha512"] {
            let sig = sign_with(alg, "key", b"body").unwrap();
            assert_eq!(check_hmac("key", Some(&sig), b"body"), Ok(()));
            assert_eq!(check_hmac("key", Some(&sig), b"bodY"), Err(Refused::Wrong));
            assert_eq!(
                check_hmac("other", Some(&sig), b"body"),
                Err(Refused::Wrong)
            );
        }
    }

    #[test]
    fn known_sha256_value() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), a published vector.
        assert_eq!(
            sign("key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn malformed_and_missing_headers() {
        assert_eq!(
            check_hmac("k", None, b""),
            Err(Refused::Missing("X-Signature"))
        );
        assert_eq!(
            check_hmac("k", Some("sha256"), b""),
            Err(Refused::Malformed("X-Signature"))
        );
        assert_eq!(
            check_hmac("k", Some("sha256=zz"), b""),
            Err(Refused::Malformed("X-Signature"))
        );
        assert!(matches!(
            check_hmac("k", Some("sha1=00"), b""),
            Err(Refused::Algorithm(_))
        ));
        assert_eq!(check_bearer("t0k", Some("Bearer t0k")), Ok(()));
        assert_eq!(check_bearer("t0k", Some("Bearer t0K")), Err(Refused::Wrong));
        assert_eq!(
            check_bearer("t0k", Some("Basic t0k")),
            Err(Refused::Malformed("Authorization"))
        );
    }
}
