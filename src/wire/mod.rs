//! Wire protocol shared by the assurance server and the `rampart verify` CI client.
//!
//! Owns the JSON shapes of contracts/mipiti-verify-wire.md (§3–§4), the canonical
//! `content_hash` (§5.1), workspace ECDSA signatures (§5.3), key loading and the
//! `source_digest` (§3 E5). It does no I/O except reading files for `source_digest`,
//! and it never talks HTTP: the server and the client both build on it.

pub mod canonical;
pub mod digest;
pub mod dsse;
pub mod sign;
pub mod types;

pub use canonical::{
    UnknownAssertion, canonical_json, canonical_records_text, content_hash, params_have_float,
    recompute_content_hash,
};
pub use digest::source_digest;
pub use dsse::{build_dsse_bundle, verify_dsse_binding, verify_dsse_bundle};
pub use sign::{
    SignError, fingerprint, load_signing_key_pem, load_verifying_key_pem, mint_es256_jwt,
    sign_digest, sign_text, verify_es256_jwt, verify_signature,
};
pub use types::*;
