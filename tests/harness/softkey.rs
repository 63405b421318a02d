//! A software WebAuthn authenticator (P-256, "none" attestation, user verified) for tests:
//! answers the server's `navigator.credentials.create/get` options the way a browser with a
//! security key would, so registration and login run through the real server code.

use std::collections::BTreeMap;

use base64::Engine as _;
use p256::ecdsa::{Signature, SigningKey, signature::Signer};
use serde_cbor_2::Value;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

fn b64u(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// One software security key holding one credential.
pub struct SoftKey {
    key: SigningKey,
    cred_id: Vec<u8>,
    counter: u32,
    origin: String,
}

impl SoftKey {
    pub fn new(origin: &str) -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("random");
        seed[0] |= 1;
        Self {
            key: SigningKey::from_slice(&seed).expect("valid scalar"),
            cred_id: seed[..16].to_vec(),
            counter: 0,
            origin: origin.to_string(),
        }
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .expect("json")
    }

    fn auth_data(&mut self, rp_id: &str, attested: Option<Vec<u8>>) -> Vec<u8> {
        self.counter += 1;
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        // UP | UV, plus AT when attested credential data follows.
        data.push(if attested.is_some() { 0x45 } else { 0x05 });
        data.extend(self.counter.to_be_bytes());
        if let Some(a) = attested {
            data.extend(a);
        }
        data
    }

    /// Answers `options` from the registration start endpoint (the `publicKey` member).
    pub fn register(&mut self, options: &Json) -> Json {
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().expect("rp id").to_string();
        let challenge = pk["challenge"].as_str().expect("challenge").to_string();
        let point = self.key.verifying_key().to_sec1_point(false);
        let mut cose = BTreeMap::new();
        cose.insert(Value::Integer(1), Value::Integer(2)); // kty: EC2
        cose.insert(Value::Integer(3), Value::Integer(-7)); // alg: ES256
        cose.insert(Value::Integer(-1), Value::Integer(1)); // crv: P-256
        cose.insert(
            Value::Integer(-2),
            Value::Bytes(point.x().expect("x").to_vec()),
        );
        cose.insert(
            Value::Integer(-3),
            Value::Bytes(point.y().expect("y").to_vec()),
        );
        let mut attested = vec![0u8; 16]; // AAGUID
        attested.extend((self.cred_id.len() as u16).to_be_bytes());
        attested.extend(&self.cred_id);
        attested.extend(serde_cbor_2::to_vec(&Value::Map(cose)).expect("cbor"));
        let auth_data = self.auth_data(&rp_id, Some(attested));
        let mut att = BTreeMap::new();
        att.insert(Value::Text("fmt".into()), Value::Text("none".into()));
        att.insert(Value::Text("attStmt".into()), Value::Map(BTreeMap::new()));
        att.insert(Value::Text("authData".into()), Value::Bytes(auth_data));
        let attestation = serde_cbor_2::to_vec(&Value::Map(att)).expect("cbor");
        json!({
            "id": b64u(&self.cred_id),
            "rawId": b64u(&self.cred_id),
            "type": "public-key",
            "extensions": {},
            "response": {
                "attestationObject": b64u(&attestation),
                "clientDataJSON": b64u(&self.client_data("webauthn.create", &challenge)),
                "transports": ["usb"],
            },
        })
    }

    /// Answers `options` from the login start endpoint.
    pub fn sign_in(&mut self, options: &Json) -> Json {
        let pk = &options["publicKey"];
        let rp_id = pk["rpId"].as_str().expect("rpId").to_string();
        let challenge = pk["challenge"].as_str().expect("challenge").to_string();
        let client_data = self.client_data("webauthn.get", &challenge);
        let auth_data = self.auth_data(&rp_id, None);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let sig: Signature = self.key.sign(&signed);
        json!({
            "id": b64u(&self.cred_id),
            "rawId": b64u(&self.cred_id),
            "type": "public-key",
            "extensions": {},
            "response": {
                "authenticatorData": b64u(&auth_data),
                "clientDataJSON": b64u(&client_data),
                "signature": b64u(sig.to_der().as_bytes()),
                "userHandle": null,
            },
        })
    }
}
