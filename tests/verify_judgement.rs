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

#[test]
fn function_scoped_checks_stay_inside_the_function() {
    let dir = TestDir::new("judgement-extents");
    let files = [
        (
            "payments.rb",
            "class Payments\n  def charge(card)\n    return unless card\n    gateway.charge(card)\n  end\n\n  def charge_safe(card)\n    gateway.charge(card)\n  rescue Gateway::Error => e\n    log(e)\n  end\nend\n",
        ),
        (
            "report.py",
            "def report(db):\n    sql = \"\"\"\nSELECT *\nFROM t\n\"\"\"\n    try:\n        return db.run(sql)\n    except DbError:\n        return None\n\n\ndef plain(db):\n    return db.run('x')\n",
        ),
        (
            "parse.ts",
            "export function parse(a: string): number;\nexport function parse(a: any): number {\n  try {\n    return JSON.parse(a);\n  } catch (e) {\n    return 0;\n  }\n}\n\nexport function load(p: string): string {\n  return read(p);\n}\n",
        ),
    ];
    let e = |f: &str, n: &str| json!({"file": f, "function": n});
    let cases = [
        ("error_handled", e("payments.rb", "charge"), false),
        ("error_handled", e("payments.rb", "charge_safe"), true),
        ("error_handled", e("report.py", "report"), true),
        ("error_handled", e("report.py", "plain"), false),
        ("error_handled", e("parse.ts", "parse"), true),
        ("error_handled", e("parse.ts", "load"), false),
    ];
    let wrong = run(dir.path(), &files, &cases);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn exported_arrow_functions_are_definitions() {
    let dir = TestDir::new("judgement-arrows");
    let files = [
        (
            "lambda.js",
            "exports.handler = async (event, ctx = getContext(event)) => {\n  return respond(event);\n};\n\nexports.safe = async (event, ctx = getContext(event)) => {\n  try {\n    return respond(event);\n  } catch (e) {\n    return fail(e);\n  }\n};\n",
        ),
        (
            "deep.ts",
            "export const handler = async (req: Request, opts = merge(defaults(), parse(env(req)))) => {\n  return run(req, opts);\n};\nconst value = compute(defaults());\n",
        ),
    ];
    let f = |file: &str, n: &str| json!({"file": file, "name": n});
    let e = |file: &str, n: &str| json!({"file": file, "function": n});
    let cases = [
        ("function_exists", f("lambda.js", "handler"), true),
        ("function_exists", f("deep.ts", "handler"), true),
        ("function_exists", f("deep.ts", "value"), false),
        ("error_handled", e("lambda.js", "handler"), false),
        ("error_handled", e("lambda.js", "safe"), true),
    ];
    let wrong = run(dir.path(), &files, &cases);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
