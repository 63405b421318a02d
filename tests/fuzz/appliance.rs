//! A real appliance store for the fuzz targets that need one: a SQLCipher data dir in a temp
//! directory, its first user signed in with a session, one generated threat model with
//! assertions, and a workspace CI key whose private half the fuzzer holds.

use p256::pkcs8::{EncodePublicKey, LineEnding};
use rampart::assurance::{AssuranceService, NewAssertion};
use rampart::auth::reauth::Credential;
use rampart::auth::sessions::{ClientInfo, LoginOutcome};
use rampart::auth::{AuthService, Caller};
use serde_json::{Value, json};

pub const PASSWORD: &str = "Correct-Horse-9";

pub struct Appliance {
    pub _dir: tempfile::TempDir,
    pub instance: rampart::instance::Instance,
    pub auth: AuthService,
    pub assurance: AssuranceService,
    pub caller: Caller,
    pub model_id: String,
    /// Assertions as served to CI (E3), in order.
    pub served: Vec<Value>,
    /// The workspace's CI key (private half).
    pub ci_key: p256::ecdsa::SigningKey,
}

pub fn appliance() -> Appliance {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = rampart::config::Config {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    config.auth.argon2_memory_kib = 64;
    config.auth.argon2_iterations = 1;
    config.mfa.required_for_local = false;
    let instance = rampart::instance::Instance::open(config).expect("instance");
    let auth = AuthService::new(
        &instance.tenants,
        &instance.config,
        &instance.master_key,
        "http://localhost:8080",
    )
    .expect("auth");
    auth.setup("owner@example.com", "Owner", PASSWORD)
        .expect("setup");
    let LoginOutcome::Session { session, .. } = auth
        .login("owner@example.com", PASSWORD, &ClientInfo::default())
        .expect("login")
    else {
        panic!("MFA is off in the fuzz appliance");
    };
    let caller = auth
        .authenticate_session(&session.token, rampart::auth::WorkspaceChoice::Default)
        .expect("session");

    let engine = rampart::engine::BuiltinEngine::new(None).expect("catalog");
    let generated = rampart::engine::generate_model(
        &engine,
        &uuid::Uuid::new_v4().to_string(),
        "A REST API that accepts file uploads from authenticated users, stores them in S3, and serves them via pre-signed URLs.",
        chrono::Utc::now(),
        &mut |_| {},
    )
    .expect("generate");
    let control = generated.model.controls[0].id.clone();
    let models = rampart::models::ModelService::new(instance.tenants.clone());
    let stored = models
        .create(
            &caller,
            generated.model,
            rampart::models::Source::Api,
            "fuzz",
        )
        .expect("create model");
    let model_id = stored.model.id.clone();
    let assurance =
        AssuranceService::new(instance.db.clone(), None).with_public_url("http://localhost:8080");
    let items: Vec<NewAssertion> = serde_json::from_value(json!([
        {"type": "function_exists", "params": {"file": "app/upload.py", "name": "handle_upload"}, "description": "Handler exists — “quoted” é😀"},
        {"type": "pattern_matches", "params": {"file": "nginx.conf", "pattern": "Strict-Transport-Security", "multiline": true}, "description": "HSTS\tset"},
        {"type": "no_plaintext_secret", "params": {"file": "src/cfg.py", "patterns": ["AKIA[0-9A-Z]{16}", "pass\\s*="]}, "description": "No hard-coded secrets"},
        {"type": "test_exists", "params": {"pattern": "tests/test_*.py"}, "description": "Tests exist", "repo": "acme/web"}
    ]))
    .expect("assertions");
    assurance
        .submit_assertions(
            &caller,
            &model_id,
            &control,
            &items,
            rampart::models::Source::Api,
        )
        .expect("submit assertions");
    let ci = assurance
        .ci_assertions(&caller, &model_id, None, None, None)
        .expect("served");
    let served: Vec<Value> = ci["controls"]
        .as_object()
        .expect("controls")
        .values()
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .collect();
    assert!(served.len() >= 4, "{ci}");

    let ci_key = p256::ecdsa::SigningKey::from_slice(&[77u8; 32]).expect("key");
    let pem = ci_key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let proof = auth
        .reauthenticate(
            &caller,
            &Credential {
                password: Some(PASSWORD.into()),
                totp_code: None,
            },
        )
        .expect("reauth");
    let ws = caller.workspace_id.clone();
    assurance
        .upload_ci_key(&caller, &ws, &pem, &proof)
        .expect("ci key");
    Appliance {
        _dir: dir,
        instance,
        auth,
        assurance,
        caller,
        model_id,
        served,
        ci_key,
    }
}
