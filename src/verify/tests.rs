//! Verifier tests on fixture trees written to temp dirs, several languages per type.

use super::checks::run_check;
use super::workspace::Workspace;
use serde_json::{Value, json};
use std::path::Path;

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    for (p, c) in files {
        let full = dir.path().join(p);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(full, c).expect("write");
    }
    dir
}

fn check(root: &Path, kind: &str, params: Value) -> super::Verdict {
    let ws = Workspace::new(root).expect("ws");
    run_check(&ws, kind, &params)
}

#[track_caller]
fn pass(root: &Path, kind: &str, params: Value) {
    let v = check(root, kind, params.clone());
    assert!(
        v.passed && !v.skipped,
        "{kind} {params} should pass: {}",
        v.details
    );
}

#[track_caller]
fn fail(root: &Path, kind: &str, params: Value) -> String {
    let v = check(root, kind, params.clone());
    assert!(
        !v.passed && !v.skipped,
        "{kind} {params} should fail: {}",
        v.details
    );
    v.details
}

const PY: &str = r#"import os
from cryptography.fernet import Fernet
from flask import (Flask,
    request)

SECRET = os.environ.get("DATABASE_ENCRYPTION_KEY")

def helper():
    """def fake_in_doc(): pass"""
    return 1

@app.route("/profile",
           methods=["GET"])
@require_auth
def get_user_profile(user_id):
    if not user_id.isdigit():
        raise ValueError("bad")
    return load(user_id)

class SessionStore(Base):
    async def logout(self, sid):
        try:
            self.invalidate_session(sid)
        except KeyError:
            pass
"#;

const JS: &str = r#"import helmet from 'helmet';
const jwt = require("jsonwebtoken");

export async function verifyToken(token) {
  try {
    return jwt.verify(token, process.env.JWT_SECRET);
  } catch (e) {
    return null;
  }
}

export const logout = async (req, res) => {
  invalidateSession(req.session);
};

class RateLimiter {
  check(ip) { return true; }
}
app.use(helmet());
res.setHeader('X-Content-Type-Options', 'nosniff');
"#;

const GO: &str = "package auth\n\nimport (\n\t\"os\"\n\tjwt \"github.com/golang-jwt/jwt/v5\"\n)\n\ntype RateLimiter struct {\n\tn int\n}\n\nfunc (s *Server) VerifyToken(t string) error {\n\tkey := os.Getenv(\"JWT_KEY\")\n\tif err := check(t, key); err != nil {\n\t\treturn err\n\t}\n\treturn nil\n}\n";

const RS: &str = "use ring::digest;\n\n#[derive(Debug)]\npub struct RateLimiter { n: u32 }\n\n#[tracing::instrument]\npub async fn verify_token(t: &str) -> Result<(), Error> {\n    let k = std::env::var(\"JWT_KEY\")?;\n    check_sig(t, &k)?;\n    Ok(())\n}\n";

const JAVA: &str = "package a;\nimport javax.crypto.Cipher;\n\npublic class AuthController {\n    @PreAuthorize(\"hasRole('ADMIN')\")\n    @GetMapping(\"/users\")\n    public List<User> listUsers(String filter) throws Exception {\n        try {\n            return repo.findAll(filter);\n        } catch (Exception e) {\n            throw e;\n        }\n    }\n}\n";

const CS: &str = "using System.Security.Cryptography;\n\nnamespace App {\n    public sealed class TokenService {\n        [Authorize]\n        [HttpGet(\"x\")]\n        public async Task<bool> VerifyToken(string token)\n        {\n            var k = Environment.GetEnvironmentVariable(\"JWT_KEY\");\n            return Validate(token, k);\n        }\n    }\n}\n";

const RB: &str = "require 'bcrypt'\n\nclass SessionsController < ApplicationController\n  before_action :require_login\n\n  def destroy\n    reset_session\n    redirect_to root_path\n  end\nend\n";

const PHP: &str = "<?php\nuse Illuminate\\Support\\Facades\\Hash;\n\nfinal class AuthService {\n    #[Route('/login')]\n    public function login(string $password): bool {\n        $k = getenv('APP_KEY');\n        return Hash::check($password, $this->hash);\n    }\n}\n";

fn code_tree() -> tempfile::TempDir {
    tree(&[
        ("app/auth.py", PY),
        ("web/auth.ts", JS),
        ("svc/auth.go", GO),
        ("src/auth.rs", RS),
        ("java/AuthController.java", JAVA),
        ("cs/TokenService.cs", CS),
        ("rb/sessions_controller.rb", RB),
        ("php/AuthService.php", PHP),
        (
            "tests/test_auth.py",
            "def test_require_auth_rejects_expired():\n    assert True\n",
        ),
        (
            "web/__tests__/auth.test.ts",
            "test('verifies token', () => {});\n",
        ),
        (
            "nginx.conf",
            "server {\n  add_header Strict-Transport-Security \"max-age=31536000\";\n}\n",
        ),
    ])
}

#[test]
fn file_exists_and_hash() {
    let d = tree(&[("a/b.txt", "hello")]);
    pass(d.path(), "file_exists", json!({"file":"a/b.txt"}));
    fail(d.path(), "file_exists", json!({"file":"a/c.txt"}));
    fail(d.path(), "file_exists", json!({"file":"a"}));
    let details = fail(d.path(), "file_exists", json!({"file":"../x"}));
    assert!(
        details.starts_with("Verifier error:") && details.contains("escapes"),
        "{details}"
    );
    let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    pass(
        d.path(),
        "file_hash",
        json!({"file":"a/b.txt","expected_hash":sha}),
    );
    pass(
        d.path(),
        "file_hash",
        json!({"file":"a/b.txt","expected_hash":sha,"algorithm":"SHA256"}),
    );
    for (algo, h) in [
        ("sha1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
        ("md5", "5d41402abc4b2a76b9719d911017c592"),
    ] {
        pass(
            d.path(),
            "file_hash",
            json!({"file":"a/b.txt","expected_hash":h,"algorithm":algo}),
        );
    }
    fail(
        d.path(),
        "file_hash",
        json!({"file":"a/b.txt","expected_hash":sha.to_uppercase()}),
    );
    assert!(
        fail(
            d.path(),
            "file_hash",
            json!({"file":"a/b.txt","expected_hash":sha,"algorithm":"md4"})
        )
        .contains("Unsupported")
    );
    assert_eq!(
        fail(d.path(), "file_hash", json!({"file":"a/b.txt"})),
        "Verifier error: missing param 'expected_hash'"
    );
    assert!(
        fail(
            d.path(),
            "file_exists",
            json!({"file":"a/b.txt","target":"feature_description"})
        )
        .contains("target")
    );
}

#[test]
fn pattern_matches_and_absent() {
    let d = code_tree();
    let r = d.path();
    pass(
        r,
        "pattern_matches",
        json!({"file":"nginx.conf","pattern":"Strict-Transport-Security"}),
    );
    let v = check(
        r,
        "pattern_matches",
        json!({"file":"nginx.conf","pattern":"max-age=\\d+"}),
    );
    assert!(v.passed && v.details.contains("line 2"), "{}", v.details);
    fail(
        r,
        "pattern_matches",
        json!({"file":"nginx.conf","pattern":"X-Frame-Options"}),
    );
    assert!(
        fail(
            r,
            "pattern_matches",
            json!({"file":"nginx.conf","pattern":"a*"})
        )
        .contains("empty string")
    );
    assert!(
        fail(
            r,
            "pattern_matches",
            json!({"file":"nginx.conf","pattern":"(?=x)"})
        )
        .starts_with("Verifier error: invalid regex")
    );
    pass(
        r,
        "pattern_matches",
        json!({"file":"nginx.conf","pattern":"^  add_header","multiline":"true"}),
    );
    fail(
        r,
        "pattern_matches",
        json!({"file":"nginx.conf","pattern":"^  add_header"}),
    );
    pass(
        r,
        "pattern_matches",
        json!({"file":"nginx.conf","pattern":"server.*31536000","dotall":true}),
    );
    // Scoped region.
    pass(
        r,
        "pattern_matches",
        json!({"file":"app/auth.py","pattern":"isdigit","scope_start":"def get_user_profile","scope_end":"^class "}),
    );
    fail(
        r,
        "pattern_matches",
        json!({"file":"app/auth.py","pattern":"invalidate_session","scope_start":"def get_user_profile","scope_end":"^class "}),
    );
    assert!(
        fail(
            r,
            "pattern_matches",
            json!({"file":"app/auth.py","pattern":"x","scope_start":"def nothing_here"})
        )
        .contains("scope_start")
    );
    // Target content.
    pass(
        r,
        "pattern_matches",
        json!({"target":"feature_description","target_content":"Uses TLS 1.3","pattern":"TLS 1\\.3"}),
    );
    pass(
        r,
        "pattern_absent",
        json!({"file":"app/auth.py","pattern":"\\beval\\("}),
    );
    fail(
        r,
        "pattern_absent",
        json!({"file":"web/auth.ts","pattern":"jwt\\.verify"}),
    );
    assert!(
        fail(
            r,
            "pattern_absent",
            json!({"file":"web/auth.ts","pattern":"[^\\s\\S]"})
        )
        .contains("never match")
    );
    pass(
        r,
        "pattern_absent",
        json!({"file":"app/auth.py","pattern":"invalidate_session","scope_start":"def get_user_profile","scope_end":"^class "}),
    );
}

#[test]
fn no_plaintext_secret() {
    let d = tree(&[
        ("cfg.py", "KEY = 'AKIAABCDEFGHIJKLMNOP'\n"),
        ("ok.py", "KEY = os.environ['K']\n"),
    ]);
    let pats = json!(["AKIA[0-9A-Z]{16}", "password\\s*=\\s*['\"]"]);
    let det = fail(
        d.path(),
        "no_plaintext_secret",
        json!({"file":"cfg.py","patterns":pats}),
    );
    assert!(
        det.contains("line 1") && !det.contains("ABCDEFGHIJKLMNOP"),
        "{det}"
    );
    pass(
        d.path(),
        "no_plaintext_secret",
        json!({"file":"ok.py","patterns":pats}),
    );
    fail(
        d.path(),
        "no_plaintext_secret",
        json!({"file":"ok.py","patterns":[]}),
    );
    pass(
        d.path(),
        "no_plaintext_secret",
        json!({"file":"ok.py","patterns":"[\"AKIA[0-9A-Z]{16}\"]"}),
    );
}

#[test]
fn function_exists_many_languages() {
    let d = code_tree();
    let r = d.path();
    for (file, name) in [
        ("app/auth.py", "get_user_profile"),
        ("app/auth.py", "logout"),
        ("web/auth.ts", "verifyToken"),
        ("web/auth.ts", "logout"),
        ("web/auth.ts", "check"),
        ("svc/auth.go", "VerifyToken"),
        ("src/auth.rs", "verify_token"),
        ("java/AuthController.java", "listUsers"),
        ("cs/TokenService.cs", "VerifyToken"),
        ("rb/sessions_controller.rb", "destroy"),
        ("php/AuthService.php", "login"),
    ] {
        pass(r, "function_exists", json!({"file":file,"name":name}));
    }
    fail(
        r,
        "function_exists",
        json!({"file":"app/auth.py","name":"fake_in_doc"}),
    );
    fail(
        r,
        "function_exists",
        json!({"file":"web/auth.ts","name":"invalidateSession"}),
    );
    fail(
        r,
        "function_exists",
        json!({"file":"svc/auth.go","name":"check"}),
    );
    fail(
        r,
        "function_exists",
        json!({"file":"missing.py","name":"x"}),
    );
    let v = check(
        r,
        "function_exists",
        json!({"file":"app/auth.py","name":"get_user_profile"}),
    );
    assert!(v.details.contains("line 15"), "{}", v.details);
}

#[test]
fn class_exists_many_languages() {
    let d = code_tree();
    let r = d.path();
    for (file, name) in [
        ("app/auth.py", "SessionStore"),
        ("web/auth.ts", "RateLimiter"),
        ("svc/auth.go", "RateLimiter"),
        ("src/auth.rs", "RateLimiter"),
        ("java/AuthController.java", "AuthController"),
        ("cs/TokenService.cs", "TokenService"),
        ("rb/sessions_controller.rb", "SessionsController"),
        ("php/AuthService.php", "AuthService"),
    ] {
        pass(r, "class_exists", json!({"file":file,"name":name}));
    }
    fail(
        r,
        "class_exists",
        json!({"file":"app/auth.py","name":"Base"}),
    );
    fail(
        r,
        "class_exists",
        json!({"file":"svc/auth.go","name":"Server"}),
    );
}

#[test]
fn decorator_present_many_languages() {
    let d = code_tree();
    let r = d.path();
    pass(
        r,
        "decorator_present",
        json!({"file":"app/auth.py","decorator":"require_auth","function":"get_user_profile"}),
    );
    pass(
        r,
        "decorator_present",
        json!({"file":"app/auth.py","decorator":"@app.route","function":"get_user_profile"}),
    );
    fail(
        r,
        "decorator_present",
        json!({"file":"app/auth.py","decorator":"require_auth","function":"helper"}),
    );
    pass(
        r,
        "decorator_present",
        json!({"file":"java/AuthController.java","decorator":"PreAuthorize","function":"listUsers"}),
    );
    fail(
        r,
        "decorator_present",
        json!({"file":"java/AuthController.java","decorator":"Secured","function":"listUsers"}),
    );
    pass(
        r,
        "decorator_present",
        json!({"file":"cs/TokenService.cs","decorator":"Authorize","function":"VerifyToken"}),
    );
    pass(
        r,
        "decorator_present",
        json!({"file":"src/auth.rs","decorator":"tracing::instrument","function":"verify_token"}),
    );
    pass(
        r,
        "decorator_present",
        json!({"file":"php/AuthService.php","decorator":"Route","function":"login"}),
    );
    fail(
        r,
        "decorator_present",
        json!({"file":"app/auth.py","decorator":"x","function":"nope"}),
    );
}

#[test]
fn function_calls_many_languages() {
    let d = code_tree();
    let r = d.path();
    pass(
        r,
        "function_calls",
        json!({"file":"app/auth.py","caller":"logout","callee":"invalidate_session"}),
    );
    fail(
        r,
        "function_calls",
        json!({"file":"app/auth.py","caller":"get_user_profile","callee":"invalidate_session"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file":"web/auth.ts","caller":"logout","callee":"invalidateSession"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file":"web/auth.ts","caller":"verifyToken","callee":"verify"}),
    );
    fail(
        r,
        "function_calls",
        json!({"file":"web/auth.ts","caller":"verifyToken","callee":"invalidateSession"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file":"svc/auth.go","caller":"VerifyToken","callee":"check"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file":"src/auth.rs","caller":"verify_token","callee":"check_sig"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file":"java/AuthController.java","caller":"listUsers","callee":"findAll"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file":"cs/TokenService.cs","caller":"VerifyToken","callee":"Validate"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file":"rb/sessions_controller.rb","caller":"destroy","callee":"redirect_to"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file":"php/AuthService.php","caller":"login","callee":"check"}),
    );
    fail(
        r,
        "function_calls",
        json!({"file":"php/AuthService.php","caller":"logout","callee":"check"}),
    );
}

#[test]
fn import_present_many_languages() {
    let d = code_tree();
    let r = d.path();
    for (file, module) in [
        ("app/auth.py", "cryptography.fernet"),
        ("app/auth.py", "Fernet"),
        ("app/auth.py", "flask.request"),
        ("app/auth.py", "os"),
        ("web/auth.ts", "helmet"),
        ("web/auth.ts", "jsonwebtoken"),
        ("svc/auth.go", "github.com/golang-jwt/jwt/v5"),
        ("src/auth.rs", "ring"),
        ("java/AuthController.java", "javax.crypto.Cipher"),
        ("cs/TokenService.cs", "System.Security.Cryptography"),
        ("rb/sessions_controller.rb", "bcrypt"),
        ("php/AuthService.php", "Illuminate\\Support\\Facades\\Hash"),
    ] {
        pass(r, "import_present", json!({"file":file,"module":module}));
    }
    fail(
        r,
        "import_present",
        json!({"file":"app/auth.py","module":"jwt"}),
    );
    fail(
        r,
        "import_present",
        json!({"file":"web/auth.ts","module":"express"}),
    );
    fail(
        r,
        "import_present",
        json!({"file":"svc/auth.go","module":"crypto/tls"}),
    );
}

#[test]
fn config_keys_and_values() {
    let d = tree(&[
        (
            "config.yaml",
            "session:\n  timeout: 900\n  secure: true\nnullkey: ~\n",
        ),
        ("pyproject.toml", "[tool.app]\nhsts_max_age = 31536000\n"),
        ("settings.json", "{\"cors\":{\"origins\":[\"https://a\"]}}"),
        ("setup.cfg", "[security]\nsession_timeout = 600\n"),
        (".env", "SESSION_TIMEOUT=300\n"),
        ("app.properties", "server.port=8443\n"),
    ]);
    let r = d.path();
    pass(
        r,
        "config_key_exists",
        json!({"file":"config.yaml","key":"session.timeout"}),
    );
    fail(
        r,
        "config_key_exists",
        json!({"file":"config.yaml","key":"session.missing"}),
    );
    fail(
        r,
        "config_key_exists",
        json!({"file":"config.yaml","key":"nullkey"}),
    );
    pass(
        r,
        "config_key_exists",
        json!({"file":"pyproject.toml","key":"tool.app.hsts_max_age"}),
    );
    pass(
        r,
        "config_key_exists",
        json!({"file":"settings.json","key":"cors.origins"}),
    );
    pass(
        r,
        "config_key_exists",
        json!({"file":"setup.cfg","key":"security.session_timeout"}),
    );
    pass(
        r,
        "config_key_exists",
        json!({"file":"setup.cfg","key":"session_timeout"}),
    );
    pass(
        r,
        "config_key_exists",
        json!({"file":".env","key":"SESSION_TIMEOUT"}),
    );
    pass(
        r,
        "config_key_exists",
        json!({"file":"app.properties","key":"server.port"}),
    );
    fail(
        r,
        "config_key_exists",
        json!({"file":"nope.yaml","key":"a"}),
    );
    pass(
        r,
        "config_value_matches",
        json!({"file":"config.yaml","key":"session.secure","pattern":"^True$"}),
    );
    fail(
        r,
        "config_value_matches",
        json!({"file":"config.yaml","key":"session.secure","pattern":"^true$"}),
    );
    pass(
        r,
        "config_value_matches",
        json!({"file":"pyproject.toml","key":"tool.app.hsts_max_age","pattern":"^3153600\\d$"}),
    );
    pass(
        r,
        "config_value_matches",
        json!({"file":"settings.json","key":"cors.origins","pattern":"\\['https://a'\\]"}),
    );
    fail(
        r,
        "config_value_matches",
        json!({"file":".env","key":"SESSION_TIMEOUT","pattern":"^900$"}),
    );
}

#[test]
fn env_var_referenced_many_languages() {
    let d = code_tree();
    let r = d.path();
    pass(
        r,
        "env_var_referenced",
        json!({"file":"app/auth.py","variable":"DATABASE_ENCRYPTION_KEY"}),
    );
    pass(
        r,
        "env_var_referenced",
        json!({"file":"web/auth.ts","variable":"JWT_SECRET"}),
    );
    pass(
        r,
        "env_var_referenced",
        json!({"file":"svc/auth.go","variable":"JWT_KEY"}),
    );
    pass(
        r,
        "env_var_referenced",
        json!({"file":"src/auth.rs","variable":"JWT_KEY"}),
    );
    pass(
        r,
        "env_var_referenced",
        json!({"file":"cs/TokenService.cs","variable":"JWT_KEY"}),
    );
    pass(
        r,
        "env_var_referenced",
        json!({"file":"php/AuthService.php","variable":"APP_KEY"}),
    );
    fail(
        r,
        "env_var_referenced",
        json!({"file":"web/auth.ts","variable":"JWT"}),
    );
    let d2 = tree(&[
        ("deploy.sh", "echo ${API_TOKEN}\n"),
        ("run.sh", "curl -H $API_TOKEN_X\n"),
    ]);
    pass(
        d2.path(),
        "env_var_referenced",
        json!({"file":"deploy.sh","variable":"API_TOKEN"}),
    );
    fail(
        d2.path(),
        "env_var_referenced",
        json!({"file":"run.sh","variable":"API_TOKEN"}),
    );
}

#[test]
fn dependencies_and_versions() {
    let d = tree(&[
        (
            "requirements.txt",
            "cryptography>=41.0.3\nFlask-Login==0.6.3\n",
        ),
        (
            "package.json",
            "{\"dependencies\":{\"helmet\":\"^7.1.0\"},\"devDependencies\":{\"jest\":\"29.7.0\"}}",
        ),
        (
            "Cargo.toml",
            "[package]\nname='x'\n[dependencies]\nring = \"0.17.8\"\n",
        ),
        ("go.mod", "module x\nrequire golang.org/x/crypto v0.21.0\n"),
        (
            "pyproject.toml",
            "[project]\ndependencies=[\"bcrypt>=4.1\"]\n",
        ),
        (
            "pom.xml",
            "<dependency><groupId>org.bouncycastle</groupId><artifactId>bcprov-jdk18on</artifactId><version>1.77</version></dependency>",
        ),
        ("Gemfile", "gem 'bcrypt', '~> 3.1.7'\n"),
    ]);
    let r = d.path();
    for (m, p) in [
        ("requirements.txt", "cryptography"),
        ("requirements.txt", "flask_login"),
        ("package.json", "jest"),
        ("Cargo.toml", "ring"),
        ("go.mod", "golang.org/x/crypto"),
        ("pyproject.toml", "bcrypt"),
        ("pom.xml", "org.bouncycastle:bcprov-jdk18on"),
        ("pom.xml", "bcprov-jdk18on"),
        ("Gemfile", "bcrypt"),
    ] {
        pass(r, "dependency_exists", json!({"manifest":m,"package":p}));
    }
    fail(
        r,
        "dependency_exists",
        json!({"manifest":"requirements.txt","package":"django"}),
    );
    fail(
        r,
        "dependency_exists",
        json!({"manifest":"package.json","package":"express"}),
    );
    pass(
        r,
        "dependency_version",
        json!({"manifest":"requirements.txt","package":"cryptography","constraint":">=41.0"}),
    );
    fail(
        r,
        "dependency_version",
        json!({"manifest":"requirements.txt","package":"cryptography","constraint":">=42"}),
    );
    pass(
        r,
        "dependency_version",
        json!({"manifest":"package.json","package":"helmet","constraint":">=7,<8"}),
    );
    pass(
        r,
        "dependency_version",
        json!({"manifest":"Cargo.toml","package":"ring","constraint":"~=0.17.0"}),
    );
    pass(
        r,
        "dependency_version",
        json!({"manifest":"go.mod","package":"golang.org/x/crypto","constraint":">=0.17"}),
    );
    fail(
        r,
        "dependency_version",
        json!({"manifest":"Gemfile","package":"bcrypt","constraint":"<3"}),
    );
    assert!(
        fail(
            r,
            "dependency_version",
            json!({"manifest":"Gemfile","package":"bcrypt","constraint":">=x"})
        )
        .starts_with("Verifier error")
    );
}

#[test]
fn parameter_validated_and_error_handled() {
    let d = code_tree();
    let r = d.path();
    pass(
        r,
        "parameter_validated",
        json!({"file":"app/auth.py","function":"get_user_profile","parameter":"user_id"}),
    );
    fail(
        r,
        "parameter_validated",
        json!({"file":"app/auth.py","function":"get_user_profile","parameter":"email"}),
    );
    fail(
        r,
        "parameter_validated",
        json!({"file":"app/auth.py","function":"nope","parameter":"user_id"}),
    );
    pass(
        r,
        "error_handled",
        json!({"file":"web/auth.ts","function":"verifyToken"}),
    );
    pass(
        r,
        "error_handled",
        json!({"file":"svc/auth.go","function":"VerifyToken"}),
    );
    pass(
        r,
        "error_handled",
        json!({"file":"src/auth.rs","function":"verify_token"}),
    );
    pass(
        r,
        "error_handled",
        json!({"file":"java/AuthController.java","function":"listUsers"}),
    );
    let d2 = tree(&[("a.py", "def f(x):\n    return x\n")]);
    fail(
        d2.path(),
        "error_handled",
        json!({"file":"a.py","function":"f"}),
    );
}

#[test]
fn middleware_and_headers() {
    let d = code_tree();
    let r = d.path();
    pass(
        r,
        "middleware_registered",
        json!({"file":"web/auth.ts","middleware":"helmet"}),
    );
    pass(
        r,
        "middleware_registered",
        json!({"file":"rb/sessions_controller.rb","middleware":"require_login"}),
    );
    fail(
        r,
        "middleware_registered",
        json!({"file":"web/auth.ts","middleware":"cors"}),
    );
    pass(
        r,
        "http_header_set",
        json!({"file":"web/auth.ts","header":"x-content-type-options"}),
    );
    pass(
        r,
        "http_header_set",
        json!({"file":"nginx.conf","header":"Strict-Transport-Security"}),
    );
    fail(
        r,
        "http_header_set",
        json!({"file":"nginx.conf","header":"Content-Security-Policy"}),
    );
}

#[test]
fn test_exists_globs() {
    let d = code_tree();
    std::fs::write(d.path().join(".gitignore"), "vendor/\n").expect("w");
    std::fs::create_dir_all(d.path().join("vendor")).expect("mkdir");
    std::fs::write(d.path().join("vendor/test_vendored.py"), "").expect("w");
    let r = d.path();
    pass(r, "test_exists", json!({"pattern":"tests/test_*.py"}));
    pass(r, "test_exists", json!({"pattern":"**/*.test.ts"}));
    fail(r, "test_exists", json!({"pattern":"*.test.ts"}));
    fail(r, "test_exists", json!({"pattern":"**/test_vendored.py"}));
    fail(r, "test_exists", json!({"pattern":"spec/**/*_spec.rb"}));
    pass(
        r,
        "test_exists",
        json!({"file":"tests/test_auth.py","test_name":"test_require_auth_*"}),
    );
    fail(
        r,
        "test_exists",
        json!({"file":"tests/test_auth.py","test_name":"test_logout_*"}),
    );
    assert_eq!(
        fail(r, "test_exists", json!({})),
        "Verifier error: missing param 'pattern'"
    );
}

#[test]
fn unknown_type_is_skipped() {
    let d = tree(&[]);
    let v = check(d.path(), "sink_default_deny", json!({}));
    assert!(v.skipped && !v.passed);
    assert_eq!(v.details, "No verifier for type 'sink_default_deny'");
}

#[test]
fn test_passes_runs_or_skips() {
    let d = tree(&[
        (
            "tests/test_ok.py",
            "def test_good():\n    assert 1 == 1\n\ndef test_bad():\n    assert 1 == 2\n",
        ),
        ("t.zig", "test \"x\" {}\n"),
    ]);
    let r = d.path();
    let v = check(r, "test_passes", json!({"file":"t.zig","test_name":"x"}));
    assert!(v.skipped, "{}", v.details);
    fail(
        r,
        "test_passes",
        json!({"file":"tests/missing.py","test_name":"x"}),
    );
    let good = check(
        r,
        "test_passes",
        json!({"file":"tests/test_ok.py","test_name":"test_good","timeout":120}),
    );
    if good.skipped {
        // pytest not installed on this machine: the reason must say so.
        assert!(
            good.details.contains("pytest") || good.details.contains("python3"),
            "{}",
            good.details
        );
    } else {
        assert!(good.passed, "{}", good.details);
        fail(
            r,
            "test_passes",
            json!({"file":"tests/test_ok.py","test_name":"test_bad","timeout":120}),
        );
        fail(
            r,
            "test_passes",
            json!({"file":"tests/test_ok.py","test_name":"test_none_*","timeout":120}),
        );
    }
}

#[test]
fn parallel_batch_keeps_order_and_reads_once() {
    let d = code_tree();
    let ws = Workspace::new(d.path()).expect("ws");
    let items: Vec<(String, Value)> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                (
                    "function_exists".to_string(),
                    json!({"file":"app/auth.py","name":"logout"}),
                )
            } else {
                (
                    "function_exists".to_string(),
                    json!({"file":"app/auth.py","name":"nope"}),
                )
            }
        })
        .collect();
    let out = super::client::check_all(&ws, &items);
    for (i, v) in out.iter().enumerate() {
        assert_eq!(v.passed, i % 2 == 0);
    }
}

#[test]
fn params_parse_json_or_string() {
    let p = super::parse_params(&[
        "file=a.py".into(),
        "patterns=[\"x\",\"y\"]".into(),
        "n=3".into(),
        "expected_hash=12e4".into(),
        "s=not json".into(),
    ])
    .expect("ok");
    assert_eq!(
        p,
        json!({"file":"a.py","patterns":["x","y"],"n":"3","expected_hash":"12e4","s":"not json"})
    );
    assert!(super::parse_params(&["novalue".into()]).is_err());
    assert!(super::parse_params(&["p=[broken".into()]).is_err());
}

#[derive(clap::Parser, Debug)]
struct TestCli {
    #[command(flatten)]
    verify: super::VerifyArgs,
}

fn cli(args: &[&str]) -> super::VerifyArgs {
    use clap::Parser as _;
    let mut argv = vec!["rampart-verify"];
    argv.extend_from_slice(args);
    TestCli::try_parse_from(argv).expect("parses").verify
}

#[test]
fn cli_surface_parses_and_runs_local_commands() {
    use clap::CommandFactory as _;
    TestCli::command().debug_assert();
    let d = code_tree();
    let root = d.path().to_str().expect("utf8");
    let a = cli(&[
        "verify",
        "function_exists",
        "-p",
        "file=app/auth.py",
        "-p",
        "name=logout",
        "--project-root",
        root,
    ]);
    assert_eq!(super::run(a), 0);
    let a = cli(&[
        "--project-root",
        root,
        "verify",
        "function_exists",
        "-p",
        "file=app/auth.py",
        "-p",
        "name=nope",
        "--output",
        "json",
    ]);
    assert_eq!(super::run(a), 1);
    let a = cli(&[
        "verify",
        "function_exists",
        "-p",
        "broken",
        "--project-root",
        root,
    ]);
    assert_eq!(super::run(a), 2);
    let a = cli(&["verify", "no_such_type", "--project-root", root]);
    assert_eq!(super::run(a), 1);
    let list = d.path().join("assertions.json");
    std::fs::write(
        &list,
        json!([
            {"id":"a1","type":"class_exists","params":{"file":"svc/auth.go","name":"RateLimiter"},"description":"x"},
            {"type":"no_plaintext_secret","params":{"file":"app/auth.py","patterns":["AKIA[0-9A-Z]{16}"]},"description":"y"}
        ])
        .to_string(),
    )
    .expect("w");
    let a = cli(&[
        "check",
        list.to_str().expect("utf8"),
        "--project-root",
        root,
    ]);
    assert_eq!(super::run(a), 0);
    std::fs::write(
        &list,
        "[{\"type\":\"file_exists\",\"params\":{\"file\":\"nope\"}}]",
    )
    .expect("w");
    let a = cli(&[
        "check",
        list.to_str().expect("utf8"),
        "--project-root",
        root,
        "--output",
        "json",
    ]);
    assert_eq!(super::run(a), 1);
    std::fs::write(&list, "{}").expect("w");
    assert_eq!(super::run(cli(&["check", list.to_str().expect("utf8")])), 2);
    // run needs a model id or --all, and an API key.
    assert_eq!(
        super::run(cli(&[
            "run",
            "--base-url",
            "http://127.0.0.1:9",
            "--api-key",
            "mk_x"
        ])),
        2
    );
    use clap::Parser as _;
    assert!(TestCli::try_parse_from(["x", "run", "M1", "--all"]).is_err());
    assert!(TestCli::try_parse_from(["x", "run", "--output", "xml"]).is_err());
    let parsed = cli(&[
        "run",
        "M1",
        "--fail-on",
        "drift",
        "--tier2-provider",
        "ollama",
        "--output",
        "sarif",
        "--dry-run",
    ]);
    assert_eq!(parsed.fail_on, super::FailOn::Drift);
    assert!(parsed.dry_run);
}

#[test]
fn test_passes_with_node_test_runner() {
    let have_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_node {
        return;
    }
    let d = tree(&[(
        "test/auth.test.js",
        "const test = require('node:test');\nconst assert = require('node:assert');\ntest('rejects expired token', () => { assert.ok(true); });\ntest('broken thing', () => { assert.ok(false); });\n",
    )]);
    let r = d.path();
    pass(
        r,
        "test_passes",
        json!({"file":"test/auth.test.js","test_name":"rejects expired token","timeout":"120"}),
    );
    fail(
        r,
        "test_passes",
        json!({"file":"test/auth.test.js","test_name":"broken thing","timeout":"120"}),
    );
    fail(
        r,
        "test_passes",
        json!({"file":"test/auth.test.js","test_name":"nothing matches this","timeout":"120"}),
    );
}

#[test]
fn test_passes_with_cargo() {
    let d = tree(&[
        (
            "Cargo.toml",
            "[package]\nname = \"fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
        ),
        (
            "src/lib.rs",
            "#[cfg(test)]\nmod tests {\n    #[test]\n    fn rejects_expired() { assert!(true); }\n    #[test]\n    fn broken() { assert!(false); }\n}\n",
        ),
    ]);
    let r = d.path();
    pass(
        r,
        "test_passes",
        json!({"file":"src/lib.rs","test_name":"rejects_expired","timeout":300}),
    );
    fail(
        r,
        "test_passes",
        json!({"file":"src/lib.rs","test_name":"broken","timeout":300}),
    );
    fail(
        r,
        "test_passes",
        json!({"file":"src/lib.rs","test_name":"absent_test","timeout":300}),
    );
}

#[test]
fn glob_file_searches_many_files() {
    let d = code_tree();
    std::fs::write(d.path().join(".gitignore"), "gen/\n").expect("w");
    std::fs::create_dir_all(d.path().join("gen")).expect("mkdir");
    std::fs::write(d.path().join("gen/x.py"), "eval(data)\n").expect("w");
    let r = d.path();
    pass(
        r,
        "pattern_absent",
        json!({"file":"**/*.py","pattern":"\\beval\\("}),
    );
    pass(
        r,
        "pattern_matches",
        json!({"file":"**/*.ts","pattern":"jwt\\.verify"}),
    );
    let det = fail(
        r,
        "pattern_absent",
        json!({"file":"**/*.{py,ts}","pattern":"return"}),
    );
    assert!(
        det.contains("app/auth.py:") && det.contains("web/auth.ts:"),
        "{det}"
    );
    fail(
        r,
        "pattern_matches",
        json!({"file":"**/*.go","pattern":"eval"}),
    );
    fail(
        r,
        "pattern_absent",
        json!({"file":"**/*.none","pattern":"x"}),
    );
    pass(
        r,
        "no_plaintext_secret",
        json!({"file":"**/*","patterns":["AKIA[0-9A-Z]{16}"]}),
    );
    std::fs::write(
        d.path().join("web/keys.js"),
        "const k = 'AKIAABCDEFGHIJKLMNOP';\n",
    )
    .expect("w");
    let det = fail(
        r,
        "no_plaintext_secret",
        json!({"file":"web/*.js","patterns":["AKIA[0-9A-Z]{16}"]}),
    );
    assert!(
        det.contains("web/keys.js") && det.contains("line 1"),
        "{det}"
    );
}

#[test]
fn inline_annotations_and_hidden_dirs() {
    let d = tree(&[
        (
            "A.java",
            "class A {\n    @Override @Transactional public void save(User u) {\n    }\n}\n",
        ),
        (".github/workflows/ci.yml", "jobs: {}\n"),
        (".venv/lib/test_x.py", ""),
    ]);
    let r = d.path();
    pass(
        r,
        "decorator_present",
        json!({"file":"A.java","decorator":"Transactional","function":"save"}),
    );
    fail(
        r,
        "decorator_present",
        json!({"file":"A.java","decorator":"Secured","function":"save"}),
    );
    pass(
        r,
        "test_exists",
        json!({"pattern":".github/workflows/*.yml"}),
    );
    fail(r, "test_exists", json!({"pattern":"**/test_x.py"}));
    pass(
        r,
        "pattern_matches",
        json!({"file":".github/workflows/*.yml","pattern":"jobs"}),
    );
}

/// Issue 15 item 5: the reproduction from the issue. A `test_name` shaped like a cargo
/// option used to become `cargo test --config=…runner=['sh','-c','touch pwned']` and run a
/// shell command on the CI runner. It is now refused before anything runs.
#[test]
fn test_passes_refuses_option_injection_in_test_name() {
    let d = tree(&[
        (
            "Cargo.toml",
            "[package]\nname = \"fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
        ),
        ("src/main.rs", "fn main() {}\n#[test]\nfn t_ok() {}\n"),
    ]);
    let r = d.path();
    let attacks = [
        "--config=target.'cfg(all())'.runner=['sh','-c','touch pwned']",
        "--config",
        "-Zunstable-options",
        "t_ok --config=x",
        "t_ok;touch pwned",
        "$(touch pwned)",
        "`touch pwned`",
        "t_ok\ntouch pwned",
        "--",
        "*",
    ];
    for name in attacks {
        let details = fail(
            r,
            "test_passes",
            json!({"file": "src/main.rs", "test_name": name}),
        );
        assert!(
            details.starts_with("Verifier error: param 'test_name'"),
            "{name}: {details}"
        );
    }
    // A file shaped like an option, or leaving the root, is refused the same way.
    for file in [
        "--config=x.rs",
        "../src/main.rs",
        "/etc/passwd.rs",
        "src/../../x.rs",
    ] {
        let details = fail(r, "test_passes", json!({"file": file, "test_name": "t_ok"}));
        assert!(details.contains("param 'file'"), "{file}: {details}");
    }
    for bad_timeout in ["0", "99999999", "-1", "abc"] {
        let details = fail(
            r,
            "test_passes",
            json!({"file": "src/main.rs", "test_name": "t_ok", "timeout": bad_timeout}),
        );
        assert!(details.contains("param 'timeout'"), "{details}");
    }
    assert!(!r.join("pwned").exists(), "the injected command ran");
}

#[test]
fn test_name_grammar_per_runner() {
    use super::testrun::{Runner, check_test_name};
    let ok = [
        (Runner::Pytest, "test_require_auth_rejects_expired"),
        (Runner::Pytest, "TestAuth::test_rejects"),
        (Runner::Pytest, "test_login_*"),
        (Runner::Pytest, "test_param[case-1.a]"),
        (Runner::Cargo, "auth::tests::rejects_expired"),
        (Runner::Cargo, "rejects_*"),
        (Runner::Go, "TestAuth/expired_token"),
        (Runner::Go, "TestAuth*"),
        (Runner::JavaScript, "rejects expired token (401)"),
        (Runner::JavaScript, "Auth: GET /api/me #2"),
    ];
    for (runner, name) in ok {
        assert!(check_test_name(runner, name).is_ok(), "{runner:?} {name}");
    }
    let bad = [
        (Runner::Pytest, "-p evil"),
        (Runner::Pytest, "test_x or __import__('os')"),
        (Runner::Pytest, "test_x[a b]"),
        (Runner::Pytest, "test_*[x]"),
        (Runner::Cargo, "--config=x"),
        (Runner::Cargo, "a::"),
        (Runner::Cargo, "1abc"),
        (Runner::Go, "-exec=sh"),
        (Runner::Go, "Test|.*"),
        (Runner::JavaScript, "--config=evil.js"),
        (Runner::JavaScript, " leading space"),
        (Runner::JavaScript, "it's"),
        (Runner::JavaScript, "a=b"),
        (Runner::JavaScript, "x\u{0}y"),
    ];
    for (runner, name) in bad {
        assert!(check_test_name(runner, name).is_err(), "{runner:?} {name}");
    }
    assert!(check_test_name(Runner::Cargo, &"a".repeat(201)).is_err());
}

#[test]
fn test_commands_never_take_an_option_from_the_assertion() {
    use super::testrun::{Runner, build_command, check_test_file};
    let d = tree(&[]);
    let ws = Workspace::new(d.path()).expect("ws");
    assert_eq!(
        check_test_file("./tests/test_a.py").as_deref(),
        Ok("tests/test_a.py")
    );
    for bad in [
        "-x.py", "a/-b.py", "a//b.py", "a/./b.py", "a b.py", "a::b.py", "a[0].py", "",
    ] {
        assert!(check_test_file(bad).is_err(), "{bad}");
    }
    let cases = [
        (Runner::Pytest, "tests/test_a.py", "test_x"),
        (Runner::Pytest, "tests/test_a.py", "test_x*"),
        (Runner::Cargo, "src/lib.rs", "auth::rejects"),
        (Runner::Go, "pkg/auth/auth_test.go", "TestAuth/expired"),
        (Runner::JavaScript, "test/a.test.js", "rejects expired"),
    ];
    for (runner, file, name) in cases {
        let cmd = build_command(&ws, runner, file, name);
        // Every argument that carries the file starts with "./"; the name only ever appears
        // inside an option value or after "--".
        let end = cmd.args.iter().position(|a| a == "--");
        for (i, a) in cmd.args.iter().enumerate() {
            if a.contains(file) {
                assert!(a.starts_with("./"), "{cmd:?}");
            }
            let first_word = name.split(['*', '/', ' ']).next().unwrap_or(name);
            if a.contains(first_word) && !a.contains(file) {
                let after_end = end.is_some_and(|e| i > e);
                let option_value =
                    a.starts_with("-") && a.contains('=') || i > 0 && cmd.args[i - 1] == "-k";
                assert!(after_end || option_value, "{a} in {cmd:?}");
            }
        }
    }
}

#[test]
fn component_root_cannot_leave_the_project() {
    let outside = tree(&[("secret.py", "def leaked(): pass\n")]);
    let d = tree(&[("svc/auth/a.py", "def f(): pass\n")]);
    let ws = Workspace::new(d.path()).expect("ws");
    assert!(ws.subdir("svc/auth").is_ok());
    assert!(ws.subdir("../").is_err());
    assert!(ws.subdir("/").is_err());
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.path(), d.path().join("svc/link")).expect("ln");
        assert!(
            ws.subdir("svc/link").is_err(),
            "a symlinked component path pointing outside is refused"
        );
    }
}

#[test]
fn source_digest_reads_only_inside_the_project() {
    let outside = tree(&[("secret.txt", "top secret")]);
    let d = tree(&[("a.txt", "hello")]);
    let ws = Workspace::new(d.path()).expect("ws");
    let escape = format!(
        "../{}/secret.txt",
        outside
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
    );
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), d.path().join("link.txt"))
        .expect("ln");
    let read = |p: &str| ws.read_bytes(p).ok();
    let abs = outside.path().join("secret.txt");
    for p in [escape.as_str(), abs.to_str().expect("utf8"), "link.txt"] {
        assert_eq!(
            crate::wire::source_digest([p], read),
            crate::wire::source_digest([p], |_| None),
            "{p} must count as missing"
        );
    }
}

/// Found by `tests/fuzz`: an empty function name made `find_function` slice the file off a
/// char boundary and panic (a verifier crash on the CI runner). Empty names now define
/// nothing, in every type that looks a function up.
#[test]
fn empty_names_fail_instead_of_panicking() {
    let d = tree(&[(
        "app/server.js",
        "const express = require('express');\nres.set('X-Content-Type-Options', 'nosniff');\nfunction login(user) { try { auth(user) } catch (e) { throw e } }\n// é😀\n",
    )]);
    let r = d.path();
    for (kind, params) in [
        (
            "function_calls",
            json!({"file": "app/server.js", "caller": "", "callee": ".."}),
        ),
        (
            "function_exists",
            json!({"file": "app/server.js", "name": ""}),
        ),
        (
            "decorator_present",
            json!({"file": "app/server.js", "decorator": "x", "function": ""}),
        ),
        (
            "error_handled",
            json!({"file": "app/server.js", "function": ""}),
        ),
        (
            "parameter_validated",
            json!({"file": "app/server.js", "function": "", "parameter": "user"}),
        ),
    ] {
        fail(r, kind, params);
    }
}
