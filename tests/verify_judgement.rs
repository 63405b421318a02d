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

#[test]
fn closures_and_wrapped_functions_are_definitions_with_extents() {
    let dir = TestDir::new("judgement-closures");
    let files = [
        (
            "main.go",
            "package main\n\nfunc setup(mux *http.ServeMux) {\n\thealth := func(w http.ResponseWriter, r *http.Request) {\n\t\tw.Write(nil)\n\t}\n\tlogin := func(w http.ResponseWriter, r *http.Request) {\n\t\tif err := r.ParseForm(); err != nil {\n\t\t\treturn\n\t\t}\n\t}\n\tmux.HandleFunc(\"/h\", health)\n}\n\nvar upload = func(w http.ResponseWriter, r *http.Request) {\n\tstore(r)\n}\n",
        ),
        (
            "api/users.ts",
            "export const getUser = withAuth(async (req: Req, res: Res = defaults(make())) => {\n  return load(req);\n});\n\nexport const save = withAuth(withRole(\"admin\", async (req, res) => {\n  try { await store(req.body); } catch (e) { res.status(500); }\n}));\n\nexport const config = makeConfig({ a: 1 });\n",
        ),
        (
            "lib/handlers.js",
            "module.exports.upload = wrap(function (req, res) {\n  check(req.file);\n});\n",
        ),
        (
            "app/models/report.rb",
            "class Report\n  def query\n    sql = <<~'SQL'\n      select 1 where a if b\n      end\n    SQL\n    run(sql)\n  end\n\n  def risky\n    begin\n      dangerous\n    rescue StandardError => e\n      log(e)\n    end\n  end\nend\n",
        ),
    ];
    let f = |file: &str, n: &str| json!({"file": file, "name": n});
    let e = |file: &str, n: &str| json!({"file": file, "function": n});
    let c = |file: &str, caller: &str, callee: &str| json!({"file": file, "caller": caller, "callee": callee});
    let cases = [
        ("function_exists", f("main.go", "health"), true),
        ("function_exists", f("main.go", "upload"), true),
        ("error_handled", e("main.go", "login"), true),
        ("error_handled", e("main.go", "health"), false),
        ("function_exists", f("api/users.ts", "getUser"), true),
        ("function_exists", f("api/users.ts", "config"), false),
        ("function_exists", f("lib/handlers.js", "upload"), true),
        ("error_handled", e("api/users.ts", "getUser"), false),
        ("error_handled", e("api/users.ts", "save"), true),
        (
            "function_calls",
            c("app/models/report.rb", "query", "run"),
            true,
        ),
        (
            "function_calls",
            c("app/models/report.rb", "query", "dangerous"),
            false,
        ),
    ];
    let wrong = run(dir.path(), &files, &cases);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn lua_nested_and_template_comments_are_not_evidence() {
    let dir = TestDir::new("judgement-more-comments");
    let files = [
        (
            "app.lua",
            "--[[\nfunction M.fake()\nend\n]]\nfunction M.handler(req)\n  -- pcall(x) -- end\n  return req\nend\n\nfunction M.safe(req)\n  local ok = pcall(run, req)\nend\n",
        ),
        (
            "src/lib.rs",
            "/* outer /* inner */ fn fake_rs() {} */\nfn real_rs() {}\n",
        ),
        (
            "src/a.c",
            "/* outer /* inner */ int real_c(void) { return 1; } /* x */\n",
        ),
        (
            "chart/templates/deployment.yaml",
            "env:\n  - value: ${APP_MODE}\n{{/*\n  - value: ${LEGACY_TOKEN}\n*/}}\n{{- /* ${DEBUG_SECRET} */ -}}\n",
        ),
    ];
    let f = |file: &str, n: &str| json!({"file": file, "name": n});
    let v = |n: &str| json!({"file": "chart/templates/deployment.yaml", "variable": n});
    let cases = [
        ("function_exists", f("app.lua", "fake"), false),
        ("function_exists", f("app.lua", "handler"), true),
        (
            "function_calls",
            json!({"file": "app.lua", "caller": "handler", "callee": "pcall"}),
            false,
        ),
        (
            "function_calls",
            json!({"file": "app.lua", "caller": "safe", "callee": "pcall"}),
            true,
        ),
        ("function_exists", f("src/lib.rs", "fake_rs"), false),
        ("function_exists", f("src/lib.rs", "real_rs"), true),
        ("function_exists", f("src/a.c", "real_c"), true),
        ("env_var_referenced", v("APP_MODE"), true),
        ("env_var_referenced", v("LEGACY_TOKEN"), false),
        ("env_var_referenced", v("DEBUG_SECRET"), false),
    ];
    let wrong = run(dir.path(), &files, &cases);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
