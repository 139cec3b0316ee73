//! The HTTP side of a probe, hardened: a developer writes the probe URL in their app's
//! `fluxgate.yaml`, and fluxgate fetches it from inside the operator's network. Without
//! care that is a request forgery at the developer's command (the cloud metadata address
//! hands out credentials to whoever asks), so:
//! * no redirect to another host is followed;
//! * link-local and cloud metadata addresses are refused, whether written as an IP or
//!   reached through DNS (the check is in the resolver, so the address checked is the
//!   address connected to: no DNS rebinding), unless an admin started the runner with
//!   `--probes-may-reach-link-local`;
//! * at most [`BODY_CAP`] of a body is read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The most of an answer a probe reads.
pub const BODY_CAP: usize = 64 * 1024;
const MAX_REDIRECTS: usize = 5;

/// Addresses no probe reaches unless allowed: link-local (where the cloud metadata
/// services live: 169.254.169.254, fd00:ec2::254 aside) and the metadata addresses that
/// are not link-local.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let first = v6.segments()[0];
            (first & 0xffc0) == 0xfe80 // fe80::/10
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) // AWS over IPv6
                || v6.is_unspecified()
        }
    }
}

fn forbidden_v4(v4: Ipv4Addr) -> bool {
    v4.is_link_local() // 169.254.0.0/16
        || v4 == Ipv4Addr::new(100, 100, 100, 200) // Alibaba Cloud metadata
        || v4.is_unspecified()
}

/// Resolves probe hosts and keeps only the addresses a probe may reach.
struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.into_iter().filter(|a| !forbidden(a.ip())).collect();
            if kept.is_empty() {
                return Err(format!(
                    "{host} resolves only to link-local or cloud metadata addresses, which probes may not reach"
                )
                .into());
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client for one probe.
pub fn client(timeout: Duration, allow_link_local: bool) -> reqwest::Result<reqwest::Client> {
    let mut builder =
        reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let first = attempt.previous().first().and_then(|u| u.host_str());
                if attempt.previous().len() > MAX_REDIRECTS {
                    attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
                } else if first.is_some() && attempt.url().host_str() != first {
                    let to = attempt.url().host_str().unwrap_or("").to_string();
                    attempt.error(format!("a redirect to another host ({to}) is not followed"))
                } else {
                    attempt.follow()
                }
            }));
    if !allow_link_local {
        builder = builder.dns_resolver(Arc::new(GuardedResolver));
    }
    builder.build()
}

/// Refuses a URL whose host is a forbidden IP literal (the resolver never sees those).
pub fn check_url(url: &str, allow_link_local: bool) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "only http and https are probed, not {}",
            parsed.scheme()
        ));
    }
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if !allow_link_local && forbidden(ip) {
        return Err(format!(
            "{ip} is a link-local or cloud metadata address, which probes may not reach"
        ));
    }
    Ok(())
}

/// The status and at most [`BODY_CAP`] of the body (as text), and whether it was cut.
pub async fn fetch(client: &reqwest::Client, url: &str) -> Result<(u16, String, bool), String> {
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("request failed: {}", chain(&e)))?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    let mut cut = false;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = BODY_CAP - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    cut = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(format!("reading the answer failed: {}", chain(&e))),
        }
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned(), cut))
}

/// An error with its causes, where the useful part (refused address, foreign redirect)
/// usually sits.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::Redirect;
    use axum::routing::get;

    #[test]
    fn metadata_and_link_local_addresses_are_forbidden() {
        for bad in [
            "169.254.169.254",
            "169.254.0.1",
            "100.100.100.200",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            "0.0.0.0",
        ] {
            assert!(forbidden(bad.parse().unwrap()), "{bad}");
        }
        for fine in ["127.0.0.1", "10.0.0.5", "192.168.1.1", "::1", "2001:db8::1"] {
            assert!(!forbidden(fine.parse().unwrap()), "{fine}");
        }
        assert!(check_url("http://169.254.169.254/latest/meta-data/", false).is_err());
        assert!(check_url("http://[fe80::1]/", false).is_err());
        assert!(check_url("http://169.254.169.254/", true).is_ok());
        assert!(check_url("file:///etc/passwd", false).is_err());
        assert!(check_url("http://hello.example/healthz", false).is_ok());
    }

    async fn serve(app: axum::Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test]
    async fn redirects_stay_on_the_host_and_bodies_are_capped() {
        let target = serve(axum::Router::new().route("/", get(|| async { "secret" }))).await;
        let big = "x".repeat(1 << 20) + "needle";
        let app = axum::Router::new()
            .route("/same", get(|| async { Redirect::temporary("/ok") }))
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/away",
                get(move || async move {
                    // "localhost" is another host name than the "127.0.0.1" asked for.
                    Redirect::temporary(&format!("http://localhost:{}/", target.port()))
                }),
            )
            .route(
                "/big",
                get(move || {
                    let big = big.clone();
                    async move { big }
                }),
            );
        let addr = serve(app).await;
        let c = client(Duration::from_secs(5), false).unwrap();
        let (status, body, cut) = fetch(&c, &format!("http://{addr}/same")).await.unwrap();
        assert_eq!((status, body.as_str(), cut), (200, "fine", false));
        let err = fetch(&c, &format!("http://{addr}/away")).await.unwrap_err();
        assert!(
            err.contains("redirect to another host (localhost)"),
            "{err}"
        );
        let (status, body, cut) = fetch(&c, &format!("http://{addr}/big")).await.unwrap();
        assert_eq!((status, body.len(), cut), (200, BODY_CAP, true));
        assert!(!body.contains("needle"));
    }
}
