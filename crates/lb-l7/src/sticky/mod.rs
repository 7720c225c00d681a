//! Sticky sessions: cookie-insert tokens, cookie/header hash keys, source-IP keys.
