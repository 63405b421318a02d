//! Verdicts of the real `rampart verify check` binary that must not be fooled (issue 19):
//! a name only inside a comment is no evidence (per file type), function-scoped checks stop
//! where the named function ends (per language), and exported arrow functions with
//! parenthesised defaults are definitions. Each case has a twin with the opposite verdict,
//! so a verifier that always passes or always fails cannot satisfy it.

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

use crate::harness::TestDir;

/// Writes `files` under `root`, runs `rampart verify check` on `cases` (type, params,
/// expected pass) and returns the cases whose verdict differs, with the details.
fn run(root: &Path, files: &[(&str, &str)], cases: &[(&str, Value, bool)]) -> Vec<String> {
    for (p, text) in files {
        let full = root.join(p);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
    let assertions: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (kind, params, _))| {
            json!({"id": format!("c{i}"), "type": kind, "params": params, "description": "judgement"})
        })
        .collect();
    let list = root.join("assertions.json");
    std::fs::write(&list, serde_json::to_vec(&assertions).expect("json")).expect("write");
    let out = Command::new(crate::harness::bin())
        .args(["verify", "check"])
        .arg(&list)
        .arg("--project-root")
        .arg(root)
        .args(["--output", "json"])
        .current_dir(root)
        .output()
        .expect("run rampart verify check");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(results.len(), cases.len());
    cases
        .iter()
        .zip(&results)
        .filter(|((_, _, want), got)| {
            got["passed"].as_bool() != Some(*want) || got["skipped"].as_bool() != Some(false)
        })
        .map(|((kind, params, want), got)| {
            format!(
                "{kind} {params}: wanted {}, got {}",
                if *want { "pass" } else { "fail" },
                got["details"]
            )
        })
        .collect()
}

#[test]
fn comments_are_not_evidence() {
    let dir = TestDir::new("judgement-comments");
    let files = [
        (
            "config/application.rb",
            "config.middleware.use Rack::Deflater\n=begin\nconfig.middleware.use Rack::Attack\n=end\n",
        ),
        (
            "deploy/nginx/nginx.conf",
            "server {\n  add_header X-Frame-Options DENY;#add_header Strict-Transport-Security max-age=1;\n}\n",
        ),
        (
            "pom.xml",
            "<project><dependencies>\n<dependency><groupId>org.owasp</groupId><artifactId>encoder</artifactId><version>1.2.3</version></dependency>\n<!-- <dependency><groupId>io.jsonwebtoken</groupId><artifactId>jjwt</artifactId><version>0.12.0</version></dependency> -->\n</dependencies></project>\n",
        ),
        (
            "infra/main.tf",
            "locals {\n  token = \"${API_TOKEN}\" // \"${LEGACY_TOKEN}\"\n}\n",
        ),
        (
            "server.js",
            "const q = s.replace(/\"/g, ''); // app.use(csrf())\napp.use(helmet());\n",
        ),
    ];
    let m = |f: &str, n: &str| json!({"file": f, "middleware": n});
    let h = |f: &str, n: &str| json!({"file": f, "header": n});
    let cases = [
        (
            "middleware_registered",
            m("config/application.rb", "Rack::Deflater"),
            true,
        ),
        (
            "middleware_registered",
            m("config/application.rb", "Rack::Attack"),
            false,
        ),
        ("middleware_registered", m("server.js", "helmet"), true),
        ("middleware_registered", m("server.js", "csrf"), false),
        (
            "http_header_set",
            h("deploy/nginx/nginx.conf", "X-Frame-Options"),
            true,
        ),
        (
            "http_header_set",
            h("deploy/nginx/nginx.conf", "Strict-Transport-Security"),
            false,
        ),
        (
            "dependency_exists",
            json!({"manifest": "pom.xml", "package": "org.owasp:encoder"}),
            true,
        ),
        (
            "dependency_exists",
            json!({"manifest": "pom.xml", "package": "jjwt"}),
            false,
        ),
        (
            "env_var_referenced",
            json!({"file": "infra/main.tf", "variable": "API_TOKEN"}),
            true,
        ),
        (
            "env_var_referenced",
            json!({"file": "infra/main.tf", "variable": "LEGACY_TOKEN"}),
            false,
        ),
    ];
    let wrong = run(dir.path(), &files, &cases);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
