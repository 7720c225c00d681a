//! Fuzzes the sticky-session cookie path: arbitrary bytes as a token (unsigned and signed),
//! as a mutation of a genuine signed token, and as `Cookie` header values. Nothing may
//! panic; every token that decodes must re-encode to exactly its bytes (the encoding is
//! canonical); a genuine signed token altered in any byte must be rejected; the Cookie
//! parser must return subslices only, and removing a cookie must leave exactly the other
//! pairs; a decision's Set-Cookie must carry a token naming the picked backend.
#![no_main]

use std::sync::LazyLock;

use lb_core::BackendId;
use lb_l7::sticky::{
    CookieInsert, SameSite, StickyInput, StickyPolicy, Target, TokenCodec, cookie_pairs,
    find_cookie, remove_cookie,
};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzzing key, at least 16 bytes";

static UNSIGNED: LazyLock<TokenCodec> = LazyLock::new(TokenCodec::unsigned);
static SIGNED: LazyLock<TokenCodec> = LazyLock::new(|| {
    TokenCodec::signed_rotating([KEY, b"an older key, also 16+"])
        .expect("valid keys")
        .with_context(b"route")
});
static POLICIES: LazyLock<[StickyPolicy; 3]> = LazyLock::new(|| {
    [
        StickyPolicy::CookieInsert(CookieInsert::new("srv", UNSIGNED.clone()).expect("name")),
        StickyPolicy::CookieInsert(
            CookieInsert::new("srv", SIGNED.clone())
                .expect("name")
                .with_same_site(SameSite::None),
        ),
        StickyPolicy::cookie_hash("srv").expect("name"),
    ]
});

fuzz_target!(|data: &[u8]| {
    // 1. Arbitrary bytes as tokens.
    for codec in [&*UNSIGNED, &*SIGNED] {
        if let Ok(id) = codec.decode(data) {
            assert_eq!(codec.encode(id).as_bytes(), data, "canonical encoding");
        }
    }

    // 2. A genuine signed token, XOR-ed with the input: accepted only if unchanged.
    if let Some((id, mask)) = data.split_first_chunk::<8>() {
        let id = BackendId::from_u64(u64::from_be_bytes(*id));
        let token = SIGNED.encode(id);
        assert_eq!(SIGNED.decode(token.as_bytes()), Ok(id));
        let mut altered = token.as_bytes().to_vec();
        for (b, m) in altered.iter_mut().zip(mask) {
            *b ^= m;
        }
        if altered != token.as_bytes() {
            assert!(SIGNED.decode(&altered).is_err(), "tampered token accepted");
        }
    }

    // 3. The Cookie header parser.
    let range = data.as_ptr_range();
    for (name, value) in cookie_pairs(data) {
        assert!(!name.is_empty());
        assert!(range.contains(&name.as_ptr()));
        assert!(value.is_empty() || range.contains(&value.as_ptr()));
        assert!(!name.contains(&b';') && !value.contains(&b';'));
    }
    let found = find_cookie(data, b"srv");
    assert_eq!(
        found,
        cookie_pairs(data)
            .find(|(n, _)| *n == b"srv")
            .map(|(_, v)| v)
    );
    let mut stripped = Vec::new();
    let removed = remove_cookie(data, b"srv", &mut stripped);
    assert_eq!(
        removed,
        cookie_pairs(data).filter(|(n, _)| *n == b"srv").count()
    );
    assert!(cookie_pairs(&stripped).eq(cookie_pairs(data).filter(|(n, _)| *n != b"srv")));

    // 4. Decisions over the input split into several Cookie headers.
    let headers: Vec<(&str, &[u8])> = data.split(|&b| b == b'\n').map(|h| ("Cookie", h)).collect();
    let input = StickyInput::new(&headers).with_tls(data.first() == Some(&b'T'));
    for policy in POLICIES.iter() {
        let decision = policy.decide(&input);
        let picked = match decision.target() {
            Target::Pinned(id) => id,
            Target::Key(key) => BackendId::from_u64(key),
            Target::Any => BackendId::from_u64(7),
        };
        if let Some(set) = policy.after_pick(&decision, picked) {
            let mut out = Vec::new();
            set.write_to(&mut out);
            assert_eq!(out.len(), set.len());
            let StickyPolicy::CookieInsert(insert) = policy else {
                panic!("only cookie insert issues cookies");
            };
            let token = find_cookie(&out, b"srv").expect("rendered cookie parses");
            assert_eq!(insert.codec().decode(token), Ok(picked));
        } else if let StickyPolicy::CookieInsert(_) = policy {
            assert_eq!(decision.pinned(), Some(picked));
        }
    }
});
