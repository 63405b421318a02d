//! Verdicts that must not be fooled (issue 19): a mention inside a comment is never evidence
//! (per file type), function-scoped checks judge only inside the named function (per
//! language), and exported arrow functions with parenthesised defaults are definitions.
//! Each case is checked in several languages and file types, and each has a positive
//! twin so a check that always fails cannot pass these tests.

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

#[track_caller]
fn verdict(root: &Path, kind: &str, params: Value) -> super::Verdict {
    let ws = Workspace::new(root).expect("ws");
    run_check(&ws, kind, &params)
}

#[track_caller]
fn pass(root: &Path, kind: &str, params: Value) {
    let v = verdict(root, kind, params.clone());
    assert!(
        v.passed && !v.skipped,
        "{kind} {params} should pass: {}",
        v.details
    );
}

#[track_caller]
fn fail(root: &Path, kind: &str, params: Value) {
    let v = verdict(root, kind, params.clone());
    assert!(
        !v.passed && !v.skipped,
        "{kind} {params} should fail: {}",
        v.details
    );
}

#[test]
fn commented_out_middleware_is_not_registered() {
    let d = tree(&[
        (
            "server.js",
            "const app = express();\napp.use(helmet());\n// app.use(csrf());\n/* app.use(rateLimit({ max: 5 })); */\n",
        ),
        (
            "settings.py",
            "MIDDLEWARE = [\n    'django.middleware.security.SecurityMiddleware',\n    # 'django.middleware.csrf.CsrfViewMiddleware',\n]\n\"\"\"\n'django.middleware.clickjacking.XFrameOptionsMiddleware'\n\"\"\"\n",
        ),
        (
            "config/application.rb",
            "config.middleware.use Rack::Deflater\n# config.middleware.use Rack::Attack\n",
        ),
        (
            "Startup.cs",
            "app.UseHttpsRedirection();\n// app.UseHsts();\n/*\napp.UseAuthentication();\n*/\n",
        ),
        (
            "src/main/java/Sec.java",
            "http.addFilterBefore(new JwtFilter(), X.class);\n// http.addFilterBefore(new CsrfFilter(), X.class);\n",
        ),
        (
            "bootstrap.php",
            "$app->add(new SessionMiddleware());\n# $app->add(new CsrfMiddleware());\n// $app->add(new CorsMiddleware());\n",
        ),
        (
            "main.go",
            "r.Use(middleware.Logger)\n// r.Use(middleware.Throttle(10))\n",
        ),
    ]);
    let r = d.path();
    for (file, yes, no) in [
        ("server.js", "helmet", "csrf"),
        ("server.js", "helmet", "rateLimit"),
        ("settings.py", "SecurityMiddleware", "CsrfViewMiddleware"),
        (
            "settings.py",
            "SecurityMiddleware",
            "XFrameOptionsMiddleware",
        ),
        ("config/application.rb", "Rack::Deflater", "Rack::Attack"),
        ("Startup.cs", "UseHttpsRedirection", "UseHsts"),
        ("Startup.cs", "UseHttpsRedirection", "UseAuthentication"),
        ("src/main/java/Sec.java", "JwtFilter", "CsrfFilter"),
        ("bootstrap.php", "SessionMiddleware", "CsrfMiddleware"),
        ("bootstrap.php", "SessionMiddleware", "CorsMiddleware"),
        ("main.go", "middleware.Logger", "Throttle"),
    ] {
        pass(
            r,
            "middleware_registered",
            json!({"file": file, "middleware": yes}),
        );
        fail(
            r,
            "middleware_registered",
            json!({"file": file, "middleware": no}),
        );
    }
}

#[test]
fn commented_out_headers_are_not_set() {
    let d = tree(&[
        (
            "nginx/site.conf",
            "server {\n  add_header X-Content-Type-Options nosniff;\n  # add_header Strict-Transport-Security \"max-age=63072000\";\n  add_header X-Test \"a#b\"; # Content-Security-Policy later\n}\n",
        ),
        (
            "public/.htaccess",
            "Header always set X-Frame-Options DENY\n# Header always set Referrer-Policy no-referrer\n",
        ),
        (
            "apache/httpd.conf",
            "Header set Permissions-Policy \"camera=()\"\n#Header set Strict-Transport-Security \"max-age=1\"\n",
        ),
        (
            "web.config",
            "<configuration>\n  <customHeaders>\n    <add name=\"X-Frame-Options\" value=\"DENY\" />\n    <!-- <add name=\"Content-Security-Policy\" value=\"default-src 'self'\" /> -->\n  </customHeaders>\n</configuration>\n",
        ),
        (
            "netlify.toml",
            "[[headers]]\n  for = \"/*\"\n  [headers.values]\n    X-Frame-Options = \"DENY\"\n    # Strict-Transport-Security = \"max-age=1\"\n",
        ),
        (
            "k8s/ingress.yaml",
            "annotations:\n  nginx.ingress.kubernetes.io/configuration-snippet: |\n    more_set_headers \"X-Frame-Options: DENY\";\n  # more_set_headers \"Strict-Transport-Security: max-age=1\";\n",
        ),
        (
            "app.py",
            "resp.headers['X-Frame-Options'] = 'DENY'  # Content-Security-Policy: TODO\n",
        ),
        (
            "server.ts",
            "res.setHeader('X-Content-Type-Options', 'nosniff'); // res.setHeader('Strict-Transport-Security', 'max-age=1')\n",
        ),
    ]);
    let r = d.path();
    for (file, yes, no) in [
        (
            "nginx/site.conf",
            "X-Content-Type-Options",
            "Strict-Transport-Security",
        ),
        ("nginx/site.conf", "X-Test", "Content-Security-Policy"),
        ("public/.htaccess", "X-Frame-Options", "Referrer-Policy"),
        (
            "apache/httpd.conf",
            "Permissions-Policy",
            "Strict-Transport-Security",
        ),
        ("web.config", "X-Frame-Options", "Content-Security-Policy"),
        (
            "netlify.toml",
            "X-Frame-Options",
            "Strict-Transport-Security",
        ),
        (
            "k8s/ingress.yaml",
            "X-Frame-Options",
            "Strict-Transport-Security",
        ),
        ("app.py", "X-Frame-Options", "Content-Security-Policy"),
        (
            "server.ts",
            "X-Content-Type-Options",
            "Strict-Transport-Security",
        ),
    ] {
        pass(r, "http_header_set", json!({"file": file, "header": yes}));
        fail(r, "http_header_set", json!({"file": file, "header": no}));
    }
}

#[test]
fn commented_out_dependencies_are_not_declared() {
    let d = tree(&[
        (
            "pom.xml",
            "<project><dependencies>\n<dependency><groupId>org.owasp</groupId><artifactId>encoder</artifactId><version>1.2.3</version></dependency>\n<!--\n<dependency><groupId>org.springframework.security</groupId><artifactId>spring-security-core</artifactId><version>6.2.1</version></dependency>\n-->\n</dependencies></project>\n",
        ),
        (
            "App.csproj",
            "<Project Sdk=\"Microsoft.NET.Sdk\">\n  <ItemGroup>\n    <PackageReference Include=\"Serilog\" Version=\"3.1.1\" />\n    <!-- <PackageReference Include=\"NWebsec.AspNetCore.Middleware\" Version=\"3.0.0\" /> -->\n  </ItemGroup>\n</Project>\n",
        ),
        (
            "requirements.txt",
            "flask==3.0.0\n# flask-talisman==1.1.0\nrequests==2.31.0  # pyjwt==2.8\n",
        ),
        (
            "Gemfile",
            "gem 'rails', '7.1.0'\n# gem 'rack-attack', '6.7.0'\n",
        ),
        (
            "build.gradle",
            "dependencies {\n  implementation 'org.owasp.encoder:encoder:1.2.3'\n  // implementation 'org.springframework.security:spring-security-core:6.2.1'\n  /* implementation \"com.auth0:java-jwt:4.4.0\" */\n}\n",
        ),
        (
            "Cargo.toml",
            "[dependencies]\nserde = \"1\"\n# argon2 = \"0.5\"\n",
        ),
    ]);
    let r = d.path();
    for (manifest, yes, no) in [
        ("pom.xml", "org.owasp:encoder", "spring-security-core"),
        ("App.csproj", "Serilog", "NWebsec.AspNetCore.Middleware"),
        ("requirements.txt", "requests", "flask-talisman"),
        ("requirements.txt", "flask", "pyjwt"),
        ("Gemfile", "rails", "rack-attack"),
        ("build.gradle", "encoder", "spring-security-core"),
        ("build.gradle", "org.owasp.encoder:encoder", "java-jwt"),
        ("Cargo.toml", "serde", "argon2"),
    ] {
        pass(
            r,
            "dependency_exists",
            json!({"manifest": manifest, "package": yes}),
        );
        fail(
            r,
            "dependency_exists",
            json!({"manifest": manifest, "package": no}),
        );
    }
    pass(
        r,
        "dependency_version",
        json!({"manifest": "App.csproj", "package": "Serilog", "constraint": ">=3.0"}),
    );
    pass(
        r,
        "dependency_version",
        json!({"manifest": "build.gradle", "package": "encoder", "constraint": ">=1.2"}),
    );
}

#[test]
fn env_vars_named_only_in_comments_are_not_referenced() {
    let d = tree(&[
        (
            "app.py",
            "import os\nKEY = os.environ[\"API_KEY\"]\nDEBUG = False  # os.environ[\"DEBUG_TOKEN\"]\n# SECRET = os.getenv(\"OLD_SECRET\")\n",
        ),
        (
            "index.js",
            "const url = process.env.DATABASE_URL; // process.env.REDIS_URL\n/* process.env.SESSION_SECRET */\n",
        ),
        (
            "main.go",
            "k := os.Getenv(\"SIGNING_KEY\") // os.Getenv(\"LEGACY_KEY\")\n",
        ),
        (
            "docker-compose.yml",
            "services:\n  db:\n    environment:\n      - POSTGRES_PASSWORD=${DB_PASSWORD}\n      # - REPLICA_PASSWORD=${REPLICA_PASSWORD}\n",
        ),
        (
            "deploy.sh",
            "curl -H \"Authorization: Bearer $DEPLOY_TOKEN\" x # uses $ADMIN_TOKEN sometimes\n",
        ),
        (
            "Dockerfile",
            "FROM alpine\nRUN echo ${BUILD_ID}\n# RUN echo ${NPM_TOKEN}\n",
        ),
        (
            "config.rb",
            "key = ENV[\"STRIPE_KEY\"] # ENV[\"STRIPE_WEBHOOK_SECRET\"]\n",
        ),
    ]);
    let r = d.path();
    for (file, yes, no) in [
        ("app.py", "API_KEY", "DEBUG_TOKEN"),
        ("app.py", "API_KEY", "OLD_SECRET"),
        ("index.js", "DATABASE_URL", "REDIS_URL"),
        ("index.js", "DATABASE_URL", "SESSION_SECRET"),
        ("main.go", "SIGNING_KEY", "LEGACY_KEY"),
        ("docker-compose.yml", "DB_PASSWORD", "REPLICA_PASSWORD"),
        ("deploy.sh", "DEPLOY_TOKEN", "ADMIN_TOKEN"),
        ("Dockerfile", "BUILD_ID", "NPM_TOKEN"),
        ("config.rb", "STRIPE_KEY", "STRIPE_WEBHOOK_SECRET"),
    ] {
        pass(
            r,
            "env_var_referenced",
            json!({"file": file, "variable": yes}),
        );
        fail(
            r,
            "env_var_referenced",
            json!({"file": file, "variable": no}),
        );
    }
}

#[test]
fn imports_in_trailing_comments_do_not_count() {
    let d = tree(&[
        (
            "a.js",
            "const x = require('lodash'); // const y = require('left-pad')\n",
        ),
        ("b.ts", "import a from 'zod'; /* import b from 'yup' */\n"),
        ("c.rb", "require 'json' # require 'yaml'\n"),
        ("d.php", "use App\\Auth; // use App\\Legacy;\n"),
    ]);
    let r = d.path();
    for (file, yes, no) in [
        ("a.js", "lodash", "left-pad"),
        ("b.ts", "zod", "yup"),
        ("c.rb", "json", "yaml"),
        ("d.php", "App\\Auth", "App\\Legacy"),
    ] {
        pass(r, "import_present", json!({"file": file, "module": yes}));
        fail(r, "import_present", json!({"file": file, "module": no}));
    }
}

#[test]
fn error_handling_is_judged_inside_the_function_only() {
    let d = tree(&[
        (
            "svc.py",
            "def fetch(url):\n    return get(url)\n\n\ndef fetch_safe(url):\n    try:\n        return get(url)\n    except IOError:\n        return None\n",
        ),
        (
            "svc.ts",
            "export async function fetchUser(id: string) {\n  return db.get(id);\n}\n\nexport async function fetchSafe(id: string) {\n  try {\n    return await db.get(id);\n  } catch (e) {\n    return null;\n  }\n}\n",
        ),
        (
            "svc.go",
            "func Load(p string) []byte {\n\tb, _ := os.ReadFile(p)\n\treturn b\n}\n\nfunc LoadSafe(p string) ([]byte, error) {\n\tb, err := os.ReadFile(p)\n\tif err != nil {\n\t\treturn nil, err\n\t}\n\treturn b, nil\n}\n",
        ),
        (
            "svc.rb",
            "def charge(card)\n  if card.valid?\n    gateway.charge(card)\n  end\nend\n\ndef charge_safe(card)\n  gateway.charge(card)\nrescue Gateway::Error => e\n  log(e)\nend\n",
        ),
        (
            "Svc.java",
            "public class Svc {\n  public byte[] read(String p) {\n    return Files.readAllBytes(Path.of(p));\n  }\n\n  public byte[] readSafe(String p) {\n    try {\n      return Files.readAllBytes(Path.of(p));\n    } catch (IOException e) {\n      return new byte[0];\n    }\n  }\n}\n",
        ),
        (
            "svc.js",
            "export const handler = async (req, res = defaultResponse()) => {\n  return res.send(await work(req));\n};\n\nexport const safeHandler = async (req, res = defaultResponse()) => {\n  try {\n    return res.send(await work(req));\n  } catch (e) {\n    return res.status(500).end();\n  }\n};\n",
        ),
    ]);
    let r = d.path();
    for (file, bad, good) in [
        ("svc.py", "fetch", "fetch_safe"),
        ("svc.ts", "fetchUser", "fetchSafe"),
        ("svc.go", "Load", "LoadSafe"),
        ("svc.rb", "charge", "charge_safe"),
        ("Svc.java", "read", "readSafe"),
        ("svc.js", "handler", "safeHandler"),
    ] {
        fail(r, "error_handled", json!({"file": file, "function": bad}));
        pass(r, "error_handled", json!({"file": file, "function": good}));
    }
}

#[test]
fn parameter_validation_is_judged_inside_the_function_only() {
    let d = tree(&[
        (
            "views.py",
            "def update_email(request):\n    user.save()\n\n# email must be validated\ndef update_name(request, email):\n    if not EMAIL_RE.match(email):\n        raise ValueError('bad email')\n",
        ),
        (
            "api.ts",
            "export function setLimit(limit: number) {\n  store.save();\n}\n\nexport function setPage(page: number, limit: number) {\n  if (limit > 100) throw new Error('limit');\n}\n",
        ),
        (
            "users.rb",
            "def create(params)\n  User.create!(params)\nend\n\ndef update(params, age)\n  raise ArgumentError unless age.between?(0, 150)\nend\n",
        ),
        (
            "h.go",
            "func SetAge(w http.ResponseWriter) {\n\tsave()\n}\n\nfunc SetName(w http.ResponseWriter, age int) {\n\tif age < 0 {\n\t\treturn\n\t}\n}\n",
        ),
    ]);
    let r = d.path();
    for (file, func, bad_param, good_func) in [
        ("views.py", "update_email", "email", "update_name"),
        ("api.ts", "setLimit", "limit", "setPage"),
        ("users.rb", "create", "age", "update"),
        ("h.go", "SetAge", "age", "SetName"),
    ] {
        fail(
            r,
            "parameter_validated",
            json!({"file": file, "function": func, "parameter": bad_param}),
        );
        pass(
            r,
            "parameter_validated",
            json!({"file": file, "function": good_func, "parameter": bad_param}),
        );
    }
}

#[test]
fn calls_are_judged_inside_the_function_only() {
    let d = tree(&[
        (
            "ctl.rb",
            "def index\n  if admin?\n    list\n  end\nend\n\ndef show\n  authorize!(item)\nend\n",
        ),
        (
            "ctl.js",
            "export const list = async (req, opts = pick(req, ['a'])) => {\n  return find(opts);\n};\nexport const show = async (req) => {\n  authorize(req);\n};\n",
        ),
        (
            "ctl.py",
            "def index(req):\n    return render(req)\n\ndef show(req):\n    authorize(req)\n",
        ),
    ]);
    let r = d.path();
    for (file, caller, other) in [
        ("ctl.rb", "index", "show"),
        ("ctl.js", "list", "show"),
        ("ctl.py", "index", "show"),
    ] {
        let callee = if file.ends_with(".rb") {
            "authorize!"
        } else {
            "authorize"
        };
        fail(
            r,
            "function_calls",
            json!({"file": file, "caller": caller, "callee": callee}),
        );
        pass(
            r,
            "function_calls",
            json!({"file": file, "caller": other, "callee": callee}),
        );
    }
}

#[test]
fn exported_arrow_functions_with_parenthesised_defaults_are_found() {
    let d = tree(&[
        (
            "a.js",
            "export const handler = async (req, res = defaultResponse()) => {\n  return res;\n};\n",
        ),
        (
            "b.ts",
            "export const build = (opts: Options = makeOptions({ retries: (1) })): Client => new Client(opts);\n",
        ),
        (
            "c.mjs",
            "export const paginate = async ({ page = 1, size = clamp(10) } = {}, cb = () => {}) => {\n  return cb(page, size);\n};\n",
        ),
        (
            "d.tsx",
            "export const Table = <T,>(props: Props<T> = defaults(), ref = useRef(null)) => {\n  return null;\n};\n",
        ),
        (
            "e.js",
            "export const retry = async (\n  fn,\n  attempts = Number(process.env.RETRIES ?? (3)),\n) => {\n  return fn();\n};\n",
        ),
        (
            "f.js",
            "// export const ghost = (a = b()) => a;\nconst real = 1;\n",
        ),
    ]);
    let r = d.path();
    for (file, name) in [
        ("a.js", "handler"),
        ("b.ts", "build"),
        ("c.mjs", "paginate"),
        ("d.tsx", "Table"),
        ("e.js", "retry"),
    ] {
        pass(r, "function_exists", json!({"file": file, "name": name}));
    }
    fail(
        r,
        "function_exists",
        json!({"file": "f.js", "name": "ghost"}),
    );
    fail(
        r,
        "function_exists",
        json!({"file": "a.js", "name": "defaultResponse"}),
    );
}

#[test]
fn comments_of_more_file_types_are_not_evidence() {
    let d = tree(&[
        (
            "config/application.rb",
            "config.middleware.use Rack::Deflater\n=begin\nconfig.middleware.use Rack::Attack\n=end\n",
        ),
        (
            "nginx/nginx.conf",
            "server {\n  add_header X-Frame-Options DENY;#add_header Strict-Transport-Security max-age=1;\n}\n",
        ),
        (
            "nginx/sites-available/default",
            "add_header X-Content-Type-Options nosniff; # add_header Content-Security-Policy x;\n",
        ),
        (
            "App.vue",
            "<template>\n<!-- <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'\"> -->\n<meta http-equiv=\"X-Frame-Options\" content=\"DENY\">\n</template>\n<script>\n// useHead({ meta: [{ 'http-equiv': 'Referrer-Policy' }] })\n</script>\n",
        ),
        (
            "infra/main.tf",
            "locals {\n  token = \"${API_TOKEN}\"\n  // old = \"${LEGACY_TOKEN}\"\n  /* next = \"${NEXT_TOKEN}\" */\n}\n",
        ),
        (
            "app.lua",
            "app:use(logger)\n--[[\napp:use(csrf)\n]]\napp:use(cors) -- app:use(limiter)\n",
        ),
        (
            "lib/router.ex",
            "plug Plug.Logger # plug Plug.CSRFProtection\n",
        ),
        (
            "bin/main.dart",
            "final h = Pipeline().addMiddleware(logRequests()); // .addMiddleware(corsHeaders())\n",
        ),
        (
            "server.js",
            "app.use(cors({ origin: /^https:\\/\\/app\\.example\\.com$/ })); app.use(helmet());\nconst q = s.replace(/\"/g, ''); // app.use(csrf())\n",
        ),
        (
            "Startup.cs",
            "var root = @\"C:\\app\\\"; // app.UseHsts();\napp.UseHttpsRedirection();\n",
        ),
    ]);
    let r = d.path();
    for (file, yes, no) in [
        ("config/application.rb", "Rack::Deflater", "Rack::Attack"),
        ("app.lua", "cors", "csrf"),
        ("app.lua", "cors", "limiter"),
        ("lib/router.ex", "Plug.Logger", "Plug.CSRFProtection"),
        ("bin/main.dart", "logRequests", "corsHeaders"),
        ("server.js", "helmet", "csrf"),
        ("Startup.cs", "UseHttpsRedirection", "UseHsts"),
    ] {
        pass(
            r,
            "middleware_registered",
            json!({"file": file, "middleware": yes}),
        );
        fail(
            r,
            "middleware_registered",
            json!({"file": file, "middleware": no}),
        );
    }
    for (file, yes, no) in [
        (
            "nginx/nginx.conf",
            "X-Frame-Options",
            "Strict-Transport-Security",
        ),
        (
            "nginx/sites-available/default",
            "X-Content-Type-Options",
            "Content-Security-Policy",
        ),
        ("App.vue", "X-Frame-Options", "Content-Security-Policy"),
        ("App.vue", "X-Frame-Options", "Referrer-Policy"),
    ] {
        pass(r, "http_header_set", json!({"file": file, "header": yes}));
        fail(r, "http_header_set", json!({"file": file, "header": no}));
    }
    for no in ["LEGACY_TOKEN", "NEXT_TOKEN"] {
        pass(
            r,
            "env_var_referenced",
            json!({"file": "infra/main.tf", "variable": "API_TOKEN"}),
        );
        fail(
            r,
            "env_var_referenced",
            json!({"file": "infra/main.tf", "variable": no}),
        );
    }
}

#[test]
fn function_scoped_checks_stop_where_the_function_ends() {
    let d = tree(&[
        (
            "svc.py",
            "def report(db):\n    sql = \"\"\"\nSELECT *\nFROM t\n\"\"\"\n    try:\n        return db.run(sql)\n    except DbError:\n        return None\n\n\ndef plain(db):\n    return db.run('x')\n",
        ),
        (
            "payments.rb",
            "class Payments\n  def charge(card)\n    return unless card\n    gateway.charge(card)\n  end\n\n  def charge_safe(card)\n    gateway.charge(card)\n  rescue Gateway::Error => e\n    log(e)\n  end\nend\n",
        ),
        (
            "parse.ts",
            "export function parse(a: string): number;\nexport function parse(a: any): number {\n  try {\n    return JSON.parse(a);\n  } catch (e) {\n    return 0;\n  }\n}\n\nexport function load(p: string): string {\n  return read(p);\n}\n",
        ),
        (
            "auth.lua",
            "local function check(token)\n  if token == nil then\n    return false\n  end\n  return true\nend\n\nlocal function verify(token)\n  local ok, err = pcall(decode, token)\n  return ok\nend\n",
        ),
        (
            "lib/auth.ex",
            "defmodule Auth do\n  def check(token) do\n    case token do\n      nil -> :error\n      _ -> :ok\n    end\n  end\n\n  def verify(token) do\n    try do\n      decode!(token)\n    rescue\n      _ -> :error\n    end\n  end\nend\n",
        ),
    ]);
    let r = d.path();
    for (file, bad, good) in [
        ("svc.py", "plain", "report"),
        ("payments.rb", "charge", "charge_safe"),
        ("parse.ts", "load", "parse"),
        ("lib/auth.ex", "check", "verify"),
    ] {
        fail(r, "error_handled", json!({"file": file, "function": bad}));
        pass(r, "error_handled", json!({"file": file, "function": good}));
    }
    pass(
        r,
        "function_exists",
        json!({"file": "auth.lua", "name": "check"}),
    );
    fail(
        r,
        "function_calls",
        json!({"file": "auth.lua", "caller": "check", "callee": "pcall"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file": "auth.lua", "caller": "verify", "callee": "pcall"}),
    );
    fail(
        r,
        "parameter_validated",
        json!({"file": "payments.rb", "function": "charge_safe", "parameter": "e2"}),
    );
}

#[test]
fn arrow_functions_are_found_however_they_are_exported() {
    let d = tree(&[
        (
            "lambda.js",
            "exports.handler = async (event, ctx = getContext(event)) => {\n  return respond(event);\n};\n\nexports.safe = async (event, ctx = getContext(event)) => {\n  try {\n    return respond(event);\n  } catch (e) {\n    return fail(e);\n  }\n};\n",
        ),
        (
            "cjs.js",
            "module.exports.handler = async (req, opts = merge(defaults(), parse(env(req)))) => {\n  return run(req, opts);\n};\nmodule.exports.legacy = async function (req, opts = defaults()) {\n  return run(req, opts);\n};\n",
        ),
        (
            "routes.js",
            "module.exports = {\n  list: async (req, res = makeRes(req.query())) => {\n    return res.json(await find());\n  },\n  show: async (req) => {\n    authorize(req);\n  },\n};\n",
        ),
        (
            "ctrl.ts",
            "export class Ctrl {\n  private readonly handle = async (req: Req, opts: Opts = defaults(load())): Promise<void> => {\n    await run(req, opts);\n  };\n  static check = (x = clamp(f(g(1)))) => x > 0;\n}\n",
        ),
        (
            "deep.ts",
            "export const handler = async (\n  req: Request,\n  opts = merge(defaults(), parse(env(process.env.MODE ?? ('dev')))),\n): Promise<Response> => {\n  validate(opts);\n  return new Response(null);\n};\n\nexport const other = async (req: Request) => {\n  try { return await go(req); } catch (e) { return null; }\n};\n",
        ),
        (
            "not.js",
            "const result = compute(a, b = c());\nconst wrapped = withAuth(handler);\nmodule.exports.value = make(defaults());\n",
        ),
        (
            "api.ts",
            "export interface Api {\n  fetchUser: (id: string) => Promise<User>;\n  remove: (id: string, opts?: { force: boolean }) => void;\n}\nexport const client =\n  async (base: string, opts = defaults(env())) => {\n    return connect(base, opts);\n  };\nexport function status(code: number): { ok: boolean; code: number } {\n  audit(code);\n  return { ok: code < 400, code };\n}\nexport function retry(n: number) {\n  try { return go(n); } catch (e) { return null; }\n}\n",
        ),
    ]);
    let r = d.path();
    for (file, name) in [
        ("lambda.js", "handler"),
        ("cjs.js", "handler"),
        ("cjs.js", "legacy"),
        ("routes.js", "list"),
        ("routes.js", "show"),
        ("ctrl.ts", "handle"),
        ("ctrl.ts", "check"),
        ("deep.ts", "handler"),
    ] {
        pass(r, "function_exists", json!({"file": file, "name": name}));
    }
    for name in ["result", "wrapped", "value"] {
        fail(
            r,
            "function_exists",
            json!({"file": "not.js", "name": name}),
        );
    }
    // Interface members declare, they do not define; `=` may end its line.
    for name in ["fetchUser", "remove"] {
        fail(
            r,
            "function_exists",
            json!({"file": "api.ts", "name": name}),
        );
    }
    pass(
        r,
        "function_exists",
        json!({"file": "api.ts", "name": "client"}),
    );
    // An object-type return annotation is not the body.
    fail(
        r,
        "error_handled",
        json!({"file": "api.ts", "function": "status"}),
    );
    pass(
        r,
        "parameter_validated",
        json!({"file": "api.ts", "function": "status", "parameter": "code"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file": "api.ts", "caller": "status", "callee": "audit"}),
    );
    // Their extents: judged inside the arrow function only.
    fail(
        r,
        "error_handled",
        json!({"file": "lambda.js", "function": "handler"}),
    );
    pass(
        r,
        "error_handled",
        json!({"file": "lambda.js", "function": "safe"}),
    );
    fail(
        r,
        "error_handled",
        json!({"file": "deep.ts", "function": "handler"}),
    );
    pass(
        r,
        "parameter_validated",
        json!({"file": "deep.ts", "function": "handler", "parameter": "opts"}),
    );
    fail(
        r,
        "function_calls",
        json!({"file": "routes.js", "caller": "list", "callee": "authorize"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file": "routes.js", "caller": "show", "callee": "authorize"}),
    );
}

#[test]
fn go_closures_bound_to_names_are_definitions() {
    let d = tree(&[(
        "main.go",
        "package main\n\nfunc setup(mux *http.ServeMux) {\n\thealth := func(w http.ResponseWriter, r *http.Request) {\n\t\tw.Write(nil)\n\t}\n\tlogin := func(w http.ResponseWriter, r *http.Request) {\n\t\tif err := r.ParseForm(); err != nil {\n\t\t\treturn\n\t\t}\n\t\taudit(r)\n\t}\n\tmux.HandleFunc(\"/h\", health)\n\tmux.HandleFunc(\"/l\", login)\n}\n\nvar upload = func(w http.ResponseWriter, r *http.Request) {\n\tstore(w)\n}\n\nvar download func(http.ResponseWriter, *http.Request) = func(w http.ResponseWriter, r *http.Request) {\n\tif err := send(w); err != nil {\n\t\tlog(r)\n\t}\n}\n\nfunc other() {\n\tx := compute(1)\n\tstore(x)\n}\n",
    )]);
    let r = d.path();
    for name in ["health", "login", "upload", "download"] {
        pass(
            r,
            "function_exists",
            json!({"file": "main.go", "name": name}),
        );
    }
    // A variable holding a call's result is no function.
    fail(
        r,
        "function_exists",
        json!({"file": "main.go", "name": "x"}),
    );
    // Extents: the closure's own braces, not the next closure or function.
    pass(
        r,
        "error_handled",
        json!({"file": "main.go", "function": "login"}),
    );
    fail(
        r,
        "error_handled",
        json!({"file": "main.go", "function": "health"}),
    );
    pass(
        r,
        "error_handled",
        json!({"file": "main.go", "function": "download"}),
    );
    fail(
        r,
        "error_handled",
        json!({"file": "main.go", "function": "upload"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file": "main.go", "caller": "login", "callee": "audit"}),
    );
    fail(
        r,
        "function_calls",
        json!({"file": "main.go", "caller": "health", "callee": "audit"}),
    );
    // The parameter list of `var h func(…) = func(w, r)` is not the body.
    pass(
        r,
        "parameter_validated",
        json!({"file": "main.go", "function": "download", "parameter": "r"}),
    );
    fail(
        r,
        "parameter_validated",
        json!({"file": "main.go", "function": "upload", "parameter": "r"}),
    );
}

#[test]
fn quoted_ruby_heredoc_terminators_end_the_heredoc() {
    let d = tree(&[(
        "app/models/report.rb",
        "class Report\n  def query\n    sql = <<~'SQL'\n      select * from t where a = 1 if b\n      end\n    SQL\n    run(sql)\n  end\n\n  def query2\n    sql = <<-\"EOS\"\n      begin x end\n      the end\n    EOS\n    run(sql)\n  end\n\n  def risky\n    begin\n      dangerous\n    rescue StandardError => e\n      log(e)\n    end\n  end\nend\n",
    )]);
    let r = d.path();
    let f = "app/models/report.rb";
    for caller in ["query", "query2"] {
        pass(
            r,
            "function_calls",
            json!({"file": f, "caller": caller, "callee": "run"}),
        );
        fail(
            r,
            "function_calls",
            json!({"file": f, "caller": caller, "callee": "dangerous"}),
        );
        fail(r, "error_handled", json!({"file": f, "function": caller}));
    }
    pass(r, "error_handled", json!({"file": f, "function": "risky"}));
}

#[test]
fn nested_block_comments_are_comments_where_the_language_nests_them() {
    let d = tree(&[
        (
            "src/lib.rs",
            "/* outer /* inner */ fn fake_rs() {} */\nfn real_rs() {}\n",
        ),
        (
            "Sources/App.swift",
            "/* outer /* inner */ func fakeSwift() {} */\nfunc realSwift() {}\n",
        ),
        (
            "app/Main.kt",
            "/* outer /* inner */ fun fakeKt() {} */\nfun realKt() {}\n",
        ),
        (
            "lib/main.dart",
            "/* outer /* inner */ void fakeDart() {} */\nvoid realDart() {}\n",
        ),
        (
            "src/a.c",
            "/* outer /* inner */ int realC() { return 1; } /* x */\n",
        ),
        (
            "src/a.js",
            "/* outer /* inner */ function realJs() {} /* */\n",
        ),
        (
            "src/main.rs",
            "/* app.use(csrf) /* nested */ app.use(cors) */\napp.use(helmet)\n",
        ),
        (
            "lib/app.dart",
            "/* app.use(csrf) /* nested */ app.use(cors) */\napp.use(helmet)\n",
        ),
    ]);
    let r = d.path();
    for (file, fake, real) in [
        ("src/lib.rs", "fake_rs", "real_rs"),
        ("Sources/App.swift", "fakeSwift", "realSwift"),
        ("app/Main.kt", "fakeKt", "realKt"),
        ("lib/main.dart", "fakeDart", "realDart"),
    ] {
        fail(r, "function_exists", json!({"file": file, "name": fake}));
        pass(r, "function_exists", json!({"file": file, "name": real}));
    }
    // C and JavaScript comments do not nest: the first `*/` ends the comment.
    pass(
        r,
        "function_exists",
        json!({"file": "src/a.c", "name": "realC"}),
    );
    pass(
        r,
        "function_exists",
        json!({"file": "src/a.js", "name": "realJs"}),
    );
    for file in ["src/main.rs", "lib/app.dart"] {
        fail(
            r,
            "middleware_registered",
            json!({"file": file, "middleware": "cors"}),
        );
        pass(
            r,
            "middleware_registered",
            json!({"file": file, "middleware": "helmet"}),
        );
    }
}

#[test]
fn lua_comments_are_not_code_for_the_structural_checks() {
    let d = tree(&[
        (
            "app.lua",
            "local M = {}\n-- function M.fake() end\n--[[\nfunction M.fake2()\nend\n]]\n--[==[\nfunction M.fake3() end\n]==]\nfunction M.handler(req)\n  -- pcall(x) is how we would do it\n  local v = req.body -- end\n  return v\nend\n\nfunction M.safe(req)\n  local ok, err = pcall(run, req)\n  return ok\nend\n\nfunction M.caller()\n  -- audit(x)\n  go()\nend\nlocal s = [[ function M.fake4() end ]]\n",
        ),
        (
            "handlers.lua",
            "local M = {}\nM.create = function(req)\n  -- pcall(x)\n  return req\nend\nlocal remove = function(req)\n  local ok = pcall(del, req)\n  return ok\nend\nreturn M\n",
        ),
    ]);
    let r = d.path();
    for name in ["fake", "fake2", "fake3", "fake4"] {
        fail(
            r,
            "function_exists",
            json!({"file": "app.lua", "name": name}),
        );
    }
    pass(
        r,
        "function_exists",
        json!({"file": "app.lua", "name": "handler"}),
    );
    // A call only in a comment is no call; an `end` in a comment ends nothing.
    fail(
        r,
        "function_calls",
        json!({"file": "app.lua", "caller": "caller", "callee": "audit"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file": "app.lua", "caller": "caller", "callee": "go"}),
    );
    fail(
        r,
        "function_calls",
        json!({"file": "app.lua", "caller": "handler", "callee": "pcall"}),
    );
    fail(
        r,
        "error_handled",
        json!({"file": "app.lua", "function": "handler"}),
    );
    // Protected calls are Lua's error handling.
    pass(
        r,
        "error_handled",
        json!({"file": "app.lua", "function": "safe"}),
    );
    // Functions assigned to names end at their own `end`.
    fail(
        r,
        "function_calls",
        json!({"file": "handlers.lua", "caller": "create", "callee": "pcall"}),
    );
    pass(
        r,
        "error_handled",
        json!({"file": "handlers.lua", "function": "remove"}),
    );
}

#[test]
fn helm_template_comments_are_not_evidence() {
    let d = tree(&[
        (
            "chart/templates/deployment.yaml",
            "spec:\n  containers:\n    - name: app\n      env:\n        - name: MODE\n          value: ${APP_MODE}\n{{/*\n        - name: x\n          value: ${LEGACY_TOKEN}\n*/}}\n{{- /* value: ${DEBUG_SECRET} */ -}}\n        {{- /* multi\n          value: ${OLD_KEY}\n        */}}\n",
        ),
        (
            "chart/templates/_helpers.tpl",
            "{{/* define \"x.fake\" - uses ${SESSION_SECRET} */}}\n{{- define \"x.env\" -}}\n- value: ${API_URL}\n{{- end -}}\n",
        ),
        (
            "chart/templates/ingress.yaml",
            "metadata:\n  annotations:\n    {{/* nginx.ingress.kubernetes.io/configuration-snippet: more_set_headers \"Strict-Transport-Security: max-age=1\"; */}}\n    nginx.ingress.kubernetes.io/configuration-snippet: |\n      more_set_headers \"X-Frame-Options: DENY\";\n",
        ),
    ]);
    let r = d.path();
    let dep = "chart/templates/deployment.yaml";
    pass(
        r,
        "env_var_referenced",
        json!({"file": dep, "variable": "APP_MODE"}),
    );
    for var in ["LEGACY_TOKEN", "DEBUG_SECRET", "OLD_KEY"] {
        fail(
            r,
            "env_var_referenced",
            json!({"file": dep, "variable": var}),
        );
    }
    let tpl = "chart/templates/_helpers.tpl";
    pass(
        r,
        "env_var_referenced",
        json!({"file": tpl, "variable": "API_URL"}),
    );
    fail(
        r,
        "env_var_referenced",
        json!({"file": tpl, "variable": "SESSION_SECRET"}),
    );
    let ing = "chart/templates/ingress.yaml";
    pass(
        r,
        "http_header_set",
        json!({"file": ing, "header": "X-Frame-Options"}),
    );
    fail(
        r,
        "http_header_set",
        json!({"file": ing, "header": "Strict-Transport-Security"}),
    );
}

#[test]
fn functions_wrapped_when_exported_are_definitions() {
    let d = tree(&[
        (
            "api/users.ts",
            "import { withAuth } from \"../auth\";\n\nexport const getUser = withAuth(async (req: Req, res: Res = defaults(make())) => {\n  try {\n    return await load(req.params.id);\n  } catch (e) {\n    res.status(500);\n  }\n});\n\nexport const listUsers = withAuth(withRole(\"admin\", async (req, res) => {\n  validate(req.query);\n  return all();\n}));\n\nexport const config = makeConfig({ a: 1 });\n\nexport const deleteUser = withAuth(async function (req, res) {\n  await remove(req.params.id);\n});\n\nexport const save = asyncHandler(async (req, res) => {\n  try { await store(req.body); } catch (e) { next(e); }\n});\n",
        ),
        (
            "lib/handlers.js",
            "module.exports.upload = wrap(function (req, res) {\n  check(req.file);\n});\n\nmodule.exports.download = wrap(function (req, res) {\n  try { send(res); } catch (e) { res.end(); }\n});\n\nexports.ping = rateLimit({ max: 5 }, (req, res) => res.send(\"ok\"));\n",
        ),
    ]);
    let r = d.path();
    for (file, name) in [
        ("api/users.ts", "getUser"),
        ("api/users.ts", "listUsers"),
        ("api/users.ts", "deleteUser"),
        ("lib/handlers.js", "upload"),
        ("lib/handlers.js", "ping"),
    ] {
        pass(r, "function_exists", json!({"file": file, "name": name}));
    }
    // A call's result is no function.
    fail(
        r,
        "function_exists",
        json!({"file": "api/users.ts", "name": "config"}),
    );
    // Extents: the wrapped literal's body, not the next export.
    let users = "api/users.ts";
    pass(
        r,
        "error_handled",
        json!({"file": users, "function": "getUser"}),
    );
    fail(
        r,
        "error_handled",
        json!({"file": users, "function": "deleteUser"}),
    );
    fail(
        r,
        "error_handled",
        json!({"file": users, "function": "listUsers"}),
    );
    pass(
        r,
        "error_handled",
        json!({"file": "lib/handlers.js", "function": "download"}),
    );
    fail(
        r,
        "error_handled",
        json!({"file": "lib/handlers.js", "function": "upload"}),
    );
    pass(
        r,
        "function_calls",
        json!({"file": users, "caller": "listUsers", "callee": "validate"}),
    );
    fail(
        r,
        "function_calls",
        json!({"file": users, "caller": "deleteUser", "callee": "store"}),
    );
    pass(
        r,
        "parameter_validated",
        json!({"file": "lib/handlers.js", "function": "upload", "parameter": "req"}),
    );
    fail(
        r,
        "parameter_validated",
        json!({"file": users, "function": "deleteUser", "parameter": "next"}),
    );
}

#[test]
fn braces_in_multi_line_strings_do_not_move_the_function_end() {
    let d = tree(&[
        (
            "src/main/java/Q.java",
            "class Q {\n    String query() {\n        String sql = \"\"\"\n            select { from t\n            \"\"\";\n        return run(sql);\n    }\n    void risky() {\n        try { x(); } catch (Exception e) { }\n    }\n}\n",
        ),
        (
            "app/Q.kt",
            "fun query(): String {\n    val sql = \"\"\"\n        select } from t\n    \"\"\"\n    return run(sql)\n}\nfun risky() {\n    try { x() } catch (e: Exception) { }\n}\n",
        ),
        (
            "Sources/Q.swift",
            "func query() -> String {\n    let sql = \"\"\"\n        select } from t\n        \"\"\"\n    return run(sql)\n}\nfunc risky() {\n    do { try x() } catch { }\n}\n",
        ),
        (
            "Startup.cs",
            "class S {\n    string Query() {\n        var sql = \"\"\"\n            select } from t\n            \"\"\";\n        return Run(sql);\n    }\n    void Risky() {\n        try { X(); } catch (Exception e) { }\n    }\n}\n",
        ),
        (
            "src/Legacy.php",
            "<?php\nfunction realPhp($x) {\n    $sql = <<<SQL\n    select } from t {\n    SQL;\n    return run($sql);\n}\nfunction safePhp($x) {\n    try { run($x); } catch (Exception $e) { log($e); }\n}\n",
        ),
    ]);
    let r = d.path();
    for (file, f, callee, other) in [
        ("src/main/java/Q.java", "query", "run", "risky"),
        ("app/Q.kt", "query", "run", "risky"),
        ("Sources/Q.swift", "query", "run", "risky"),
        ("Startup.cs", "Query", "Run", "Risky"),
        ("src/Legacy.php", "realPhp", "run", "safePhp"),
    ] {
        pass(
            r,
            "function_calls",
            json!({"file": file, "caller": f, "callee": callee}),
        );
        fail(r, "error_handled", json!({"file": file, "function": f}));
        pass(r, "error_handled", json!({"file": file, "function": other}));
    }
}

#[test]
fn template_comments_are_not_evidence() {
    let d = tree(&[
        (
            "deploy/nginx.conf.j2",
            "server {\n  add_header X-Frame-Options DENY;\n  {# add_header Strict-Transport-Security \"max-age=1\"; #}\n  {#\n  add_header Content-Security-Policy \"default-src 'self'\";\n  #}\n  # add_header Referrer-Policy no-referrer;\n}\n",
        ),
        (
            "templates/base.html.j2",
            "<html>{# <meta http-equiv=\"Content-Security-Policy\" content=\"x\"> #}\n<meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\">\n</html>\n",
        ),
        (
            "views/layout.hbs",
            "{{!-- <meta http-equiv=\"Content-Security-Policy\" content=\"x\"> --}}\n{{! Referrer-Policy }}\n<meta name=\"X-Real\" content=\"1\">\n",
        ),
        (
            "views/layout.erb",
            "<%# response.headers[\"Strict-Transport-Security\"] = \"x\" %>\n<% response.headers[\"X-Content-Type-Options\"] = \"nosniff\" %>\n",
        ),
    ]);
    let r = d.path();
    for (file, yes, no) in [
        (
            "deploy/nginx.conf.j2",
            "X-Frame-Options",
            "Strict-Transport-Security",
        ),
        (
            "deploy/nginx.conf.j2",
            "X-Frame-Options",
            "Content-Security-Policy",
        ),
        ("deploy/nginx.conf.j2", "X-Frame-Options", "Referrer-Policy"),
        (
            "templates/base.html.j2",
            "X-UA-Compatible",
            "Content-Security-Policy",
        ),
        ("views/layout.hbs", "X-Real", "Content-Security-Policy"),
        ("views/layout.hbs", "X-Real", "Referrer-Policy"),
        (
            "views/layout.erb",
            "X-Content-Type-Options",
            "Strict-Transport-Security",
        ),
    ] {
        pass(r, "http_header_set", json!({"file": file, "header": yes}));
        fail(r, "http_header_set", json!({"file": file, "header": no}));
    }
}

#[test]
fn closures_bound_to_names_are_definitions_in_more_languages() {
    let d = tree(&[
        (
            "src/h.rs",
            "fn main() {\n    let handler = |req: Request| -> Response {\n        respond(req)\n    };\n    let safe = move |req| -> Result<(), E> {\n        go(req)\n    };\n    let value = compute(1);\n}\n",
        ),
        (
            "src/h.cpp",
            "int main() {\n    auto handler = [](int req) {\n        return respond(req);\n    };\n    auto safe = [&](int req) -> int {\n        try { return go(req); } catch (...) { return 0; }\n    };\n    auto value = compute(1);\n}\n",
        ),
        (
            "app/H.kt",
            "val handler = { req: Request ->\n    respond(req)\n}\nval safe: (Request) -> Response = { req ->\n    try { go(req) } catch (e: Exception) { fallback() }\n}\nval value = compute(1)\n",
        ),
        (
            "Sources/H.swift",
            "let handler = { (req: Request) -> Response in\n    return respond(req)\n}\nlet safe: (Request) -> Response = { req in\n    do { return try go(req) } catch { return fallback() }\n}\nlet value = compute(1)\n",
        ),
        (
            "H.cs",
            "class H {\n    Func<Request, Response> handler = req => Respond(req);\n    Func<Request, Response> safe = (req) => {\n        try { return Go(req); } catch (Exception e) { return null; }\n    };\n    var value = Compute(1);\n}\n",
        ),
    ]);
    let r = d.path();
    for file in [
        "src/h.rs",
        "src/h.cpp",
        "app/H.kt",
        "Sources/H.swift",
        "H.cs",
    ] {
        pass(
            r,
            "function_exists",
            json!({"file": file, "name": "handler"}),
        );
        pass(r, "function_exists", json!({"file": file, "name": "safe"}));
        fail(r, "function_exists", json!({"file": file, "name": "value"}));
        // Extents: the closure's own body, not the next one's.
        fail(
            r,
            "error_handled",
            json!({"file": file, "function": "handler"}),
        );
        pass(
            r,
            "error_handled",
            json!({"file": file, "function": "safe"}),
        );
    }
}

#[test]
fn powershell_environment_variables_and_comments() {
    let d = tree(&[(
        "scripts/deploy.ps1",
        "<#\nfunction Get-Fake { $env:OLD_TOKEN }\n#>\nfunction Get-Token {\n    param($Name)\n    # $env:TRAILING_TOKEN\n    return $Env:API_TOKEN\n}\nfunction Set-Token {\n    try { Write-Host $Name } catch { Write-Error $_ }\n}\n",
    )]);
    let r = d.path();
    let f = "scripts/deploy.ps1";
    pass(
        r,
        "env_var_referenced",
        json!({"file": f, "variable": "API_TOKEN"}),
    );
    for var in ["OLD_TOKEN", "TRAILING_TOKEN"] {
        fail(r, "env_var_referenced", json!({"file": f, "variable": var}));
    }
    fail(r, "function_exists", json!({"file": f, "name": "Get-Fake"}));
    pass(
        r,
        "function_exists",
        json!({"file": f, "name": "Get-Token"}),
    );
    fail(
        r,
        "error_handled",
        json!({"file": f, "function": "Get-Token"}),
    );
    pass(
        r,
        "error_handled",
        json!({"file": f, "function": "Set-Token"}),
    );
}
