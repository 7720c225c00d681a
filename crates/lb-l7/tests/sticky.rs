//! Sticky sessions against a real `lb_core::Balancer`: cookie insert keeps a client on one
//! backend, re-balances it when that backend drains or its cookie is forged, and works
//! across independently built load-balancer instances.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use lb_core::{Backend, BackendId, Balancer, Maglev, Outcome, Request, RoundRobin};
use lb_l7::sticky::{
    CookieInsert, CookieStatus, SetCookie, StickyInput, StickyPolicy, Target, TokenCodec,
    TokenError, find_cookie,
};

const KEY: &[u8] = b"integration-test signing key, 32";

fn backends() -> Vec<Backend> {
    (1..=4)
        .map(|i| {
            Backend::named(
                &format!("web-{i}"),
                format!("10.0.0.{i}:80").parse().unwrap(),
            )
        })
        .collect()
}

fn policy() -> StickyPolicy {
    let codec = TokenCodec::signed(KEY).unwrap().with_context(b"route:shop");
    StickyPolicy::CookieInsert(CookieInsert::new("srv", codec).unwrap())
}

/// A browser: keeps the last cookie it was given and sends it back.
#[derive(Default)]
struct Client {
    cookie: Option<String>,
}

/// One request through decide → pick → after_pick; returns the backend and whether a
/// Set-Cookie was issued, and stores the cookie in the client as a browser would.
fn request<A: lb_core::Algorithm>(
    policy: &StickyPolicy,
    balancer: &Balancer<A>,
    client: &mut Client,
    now: Instant,
) -> (BackendId, Option<String>, CookieStatus) {
    let cookie_header = client
        .cookie
        .as_ref()
        .map(|c| format!("theme=dark; {c}; lang=en"));
    let mut headers = vec![("Host", "shop.example")];
    if let Some(h) = &cookie_header {
        headers.push(("Cookie", h.as_str()));
    }
    let decision = policy.decide(&StickyInput::new(&headers).with_tls(true));
    let lease = decision.pick(balancer, now).expect("an eligible backend");
    let picked = lease.backend().id();
    let issued = policy.after_pick(&decision, picked).map(|set| render(&set));
    lease.finish(Outcome::Success, now + Duration::from_millis(1));
    if let Some(set) = &issued {
        // The browser stores `name=value`, the part before the first ';'.
        client.cookie = Some(set.split(';').next().unwrap().to_owned());
    }
    (picked, issued, decision.cookie_status())
}

fn render(set: &SetCookie<'_>) -> String {
    let mut out = Vec::new();
    set.write_to(&mut out);
    String::from_utf8(out).unwrap()
}

fn token_of(client: &Client) -> Vec<u8> {
    let cookie = client.cookie.as_ref().unwrap();
    find_cookie(cookie.as_bytes(), b"srv").unwrap().to_vec()
}

#[test]
fn a_client_with_a_cookie_stays_on_its_backend() {
    let balancer = Balancer::new(RoundRobin, backends()).unwrap();
    let policy = policy();
    let now = Instant::now();
    let mut client = Client::default();

    let (first, issued, status) = request(&policy, &balancer, &mut client, now);
    assert_eq!(status, CookieStatus::Missing);
    let issued = issued.expect("first response sets the cookie");
    assert!(issued.starts_with("srv="), "{issued}");
    assert!(
        issued.ends_with("; Path=/; HttpOnly; Secure; SameSite=Lax"),
        "{issued}"
    );
    // The cookie never shows the address, only an opaque token.
    assert!(!issued.contains("10.0.0."), "{issued}");

    // Round robin would spread these over all four; the cookie keeps them on one.
    for _ in 0..100 {
        let (picked, issued, status) = request(&policy, &balancer, &mut client, now);
        assert_eq!(picked, first);
        assert_eq!(issued, None, "a valid cookie is not re-issued");
        assert_eq!(status, CookieStatus::Valid);
    }

    // Meanwhile cookie-less clients are still spread by the algorithm.
    let spread: HashSet<_> = (0..8)
        .map(|_| request(&policy, &balancer, &mut Client::default(), now).0)
        .collect();
    assert_eq!(spread.len(), 4);
}

#[test]
fn a_drained_backend_rebalances_its_clients_with_a_new_cookie() {
    let balancer = Balancer::new(RoundRobin, backends()).unwrap();
    let policy = policy();
    let now = Instant::now();
    let mut client = Client::default();
    let (first, _, _) = request(&policy, &balancer, &mut client, now);
    let old_token = token_of(&client);

    assert!(balancer.drain(first, now));
    let (second, issued, status) = request(&policy, &balancer, &mut client, now);
    assert_eq!(status, CookieStatus::Valid, "the token itself is fine");
    assert_ne!(second, first, "a draining backend takes no new requests");
    assert!(issued.is_some(), "the client is re-pinned");
    let new_token = token_of(&client);
    assert_ne!(new_token, old_token);
    let codec = TokenCodec::signed(KEY).unwrap().with_context(b"route:shop");
    assert_eq!(codec.decode(&new_token), Ok(second));

    // It then sticks to the new backend, even once the old one is back.
    assert!(balancer.enable(first, now));
    for _ in 0..20 {
        let (picked, issued, _) = request(&policy, &balancer, &mut client, now);
        assert_eq!(picked, second);
        assert_eq!(issued, None);
    }
}

#[test]
fn a_removed_backend_rebalances_its_clients() {
    let balancer = Balancer::new(RoundRobin, backends()).unwrap();
    let policy = policy();
    let now = Instant::now();
    let mut client = Client::default();
    let (first, _, _) = request(&policy, &balancer, &mut client, now);
    let rest: Vec<_> = backends().into_iter().filter(|b| b.id() != first).collect();
    balancer.update(rest, now).unwrap();
    let (second, issued, _) = request(&policy, &balancer, &mut client, now);
    assert_ne!(second, first);
    assert!(issued.is_some());
    let (third, issued, _) = request(&policy, &balancer, &mut client, now);
    assert_eq!(third, second);
    assert!(issued.is_none());
}

#[test]
fn a_tampered_cookie_is_rebalanced_and_replaced() {
    let balancer = Balancer::new(RoundRobin, backends()).unwrap();
    let policy = policy();
    let now = Instant::now();
    let mut client = Client::default();
    let (first, _, _) = request(&policy, &balancer, &mut client, now);

    // The client tries to point its cookie at another backend by rewriting the id part.
    let target = [BackendId::from_name("web-3"), BackendId::from_name("web-4")]
        .into_iter()
        .find(|&id| id != first)
        .unwrap();
    let mut token = token_of(&client);
    let forged_id = TokenCodec::unsigned().encode(target);
    token[..10].copy_from_slice(&forged_id.as_bytes()[..10]);
    client.cookie = Some(format!("srv={}", String::from_utf8(token).unwrap()));

    let (picked, issued, status) = request(&policy, &balancer, &mut client, now);
    assert_eq!(status, CookieStatus::Invalid(TokenError::Signature));
    let issued = issued.expect("a genuine cookie replaces the forged one");
    let codec = TokenCodec::signed(KEY).unwrap().with_context(b"route:shop");
    assert_eq!(codec.decode(&token_of(&client)), Ok(picked));
    assert!(issued.starts_with("srv="));
    // From then on it sticks to what the balancer chose.
    for _ in 0..10 {
        assert_eq!(request(&policy, &balancer, &mut client, now).0, picked);
    }
}

#[test]
fn a_token_for_an_unknown_backend_is_rebalanced() {
    let balancer = Balancer::new(RoundRobin, backends()).unwrap();
    let policy = policy();
    let now = Instant::now();
    let codec = TokenCodec::signed(KEY).unwrap().with_context(b"route:shop");
    let gone = BackendId::from_name("web-99");
    let mut client = Client {
        cookie: Some(format!("srv={}", codec.encode(gone))),
    };
    let (picked, issued, status) = request(&policy, &balancer, &mut client, now);
    assert_eq!(status, CookieStatus::Valid);
    assert_ne!(picked, gone);
    assert!(issued.is_some());
    assert_eq!(codec.decode(&token_of(&client)), Ok(picked));
}

#[test]
fn independent_instances_honour_each_others_cookies() {
    // Two lb instances behind an L4 tier: built separately from the same configuration,
    // sharing nothing at run time.
    let a = Balancer::new(RoundRobin, backends()).unwrap();
    let b = Balancer::new(RoundRobin, backends()).unwrap();
    let (policy_a, policy_b) = (policy(), policy());
    let now = Instant::now();
    let mut client = Client::default();
    // Advance b's round robin so that, cookie aside, it would choose differently.
    b.pick(&Request::new(), now)
        .unwrap()
        .finish(Outcome::Success, now);

    let (first, _, _) = request(&policy_a, &a, &mut client, now);
    for i in 0..20 {
        let (balancer, policy) = if i % 2 == 0 {
            (&b, &policy_b)
        } else {
            (&a, &policy_a)
        };
        let (picked, issued, _) = request(policy, balancer, &mut client, now);
        assert_eq!(picked, first, "request {i}");
        assert_eq!(issued, None);
    }
    // The id in the cookie is the one any instance derives from the backend's name.
    let name = a
        .snapshot()
        .backends()
        .iter()
        .find(|bk| bk.id() == first)
        .unwrap()
        .name()
        .to_owned();
    assert_eq!(BackendId::from_name(&name), first);
}

#[test]
fn a_cookie_for_another_route_is_not_honoured() {
    let balancer = Balancer::new(RoundRobin, backends()).unwrap();
    let now = Instant::now();
    let api = StickyPolicy::CookieInsert(
        CookieInsert::new(
            "srv",
            TokenCodec::signed(KEY).unwrap().with_context(b"route:api"),
        )
        .unwrap(),
    );
    let mut client = Client::default();
    request(&api, &balancer, &mut client, now);
    let (_, issued, status) = request(&policy(), &balancer, &mut client, now);
    assert_eq!(status, CookieStatus::Invalid(TokenError::Signature));
    assert!(issued.is_some());
}

#[test]
fn hash_policies_stick_through_a_consistent_selector() {
    let balancer = Balancer::new(Maglev::default(), backends()).unwrap();
    let now = Instant::now();
    let pick = |policy: &StickyPolicy, headers: &[(&str, &str)], ip: Option<IpAddr>| {
        let mut input = StickyInput::new(&headers);
        if let Some(ip) = ip {
            input = input.with_client_ip(ip);
        }
        let decision = policy.decide(&input);
        assert!(matches!(decision.target(), Target::Key(_)));
        let id = decision.pick(&balancer, now).unwrap().backend().id();
        assert!(policy.after_pick(&decision, id).is_none());
        id
    };

    let session = StickyPolicy::cookie_hash("JSESSIONID").unwrap();
    let header = StickyPolicy::header_hash("X-User").unwrap();
    let mut distinct = HashSet::new();
    for user in 0..32 {
        let cookie = format!("JSESSIONID=s{user}");
        let uid = format!("u{user}");
        let ip: IpAddr = format!("192.0.2.{user}").parse().unwrap();
        let by_cookie = pick(&session, &[("Cookie", &cookie)], None);
        let by_header = pick(&header, &[("x-user", &uid)], None);
        let by_ip = pick(&StickyPolicy::SourceIp, &[], Some(ip));
        for _ in 0..5 {
            assert_eq!(pick(&session, &[("Cookie", &cookie)], None), by_cookie);
            assert_eq!(pick(&header, &[("X-User", &uid)], None), by_header);
            assert_eq!(pick(&StickyPolicy::SourceIp, &[], Some(ip)), by_ip);
        }
        // The same backend as lb-core picks for the same key.
        let direct = balancer
            .pick(&Request::new().with_ip(ip), now)
            .unwrap()
            .backend()
            .id();
        assert_eq!(by_ip, direct);
        distinct.insert(by_cookie);
    }
    assert!(distinct.len() > 1, "keys spread over backends");
}
