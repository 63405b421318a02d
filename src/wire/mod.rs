//! Wire protocol shared by the assurance server and the `rampart verify` CI client.
//!
//! Owns the JSON shapes of contracts/mipiti-verify-wire.md (§3–§4), the canonical
//! `content_hash` (§5.1), workspace ECDSA signatures (§5.3), key loading and the
//! `source_digest` (§3 E5). It does no I/O except reading files for `source_digest`,
//! and it never talks HTTP: the server and the client both build on it.

pub mod canonical;
pub mod digest;
pub mod sign;
pub mod types;

pub use canonical::{canonical_json, content_hash, params_have_float};
pub use digest::source_digest;
pub use sign::{
    SignError, fingerprint, load_signing_key_pem, load_verifying_key_pem, mint_es256_jwt,
    sign_digest, sign_text, verify_signature,
};
pub use types::*;
