//! A fake Jira + Confluence server for the tests: the documented REST endpoints rampart uses
//! (Jira API v2, Confluence `/rest/api/content`), backed by memory, recording every request
//! so tests check the exact calls. It can refuse the token (401), fail the next requests
//! with a chosen status (503, 429), be "down", and simulate a concurrent page edit (409).
//!
//! Runs an actix-web server on 127.0.0.1:0 in its own thread; stopped on drop.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// The token the fake accepts (as a PAT, or as the API token of basic auth).
pub const TOKEN: &str = "fake-pat-0123456789";
/// A member's own token: `/myself` answers as Jane Doe (`jdoe`).
pub const USER_TOKEN: &str = "user-pat-jdoe-42";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path with query string.
    pub path: String,
    /// Body parsed as JSON (Null when not JSON).
    pub body: Value,
    /// Raw body length.
    pub len: usize,
    /// Authorization header.
    pub auth: String,
    /// Status answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

/// An issue in the fake Jira.
#[derive(Debug, Clone)]
pub struct Issue {
    /// Numeric id.
    pub id: String,
    /// Summary, description, labels, issuetype, parent…
    pub fields: Value,
    /// Status name.
    pub status: String,
    /// Status category key.
    pub category: String,
    /// Comments, in order.
    pub comments: Vec<String>,
}

/// A page in the fake Confluence.
#[derive(Debug, Clone)]
pub struct Page {
    /// Title.
    pub title: String,
    /// Space key.
    pub space: String,
    /// Storage-format body.
    pub body: String,
    /// Version number.
    pub version: i64,
    /// Parent ids.
    pub ancestors: Vec<String>,
    /// Attachments: file name → size.
    pub attachments: BTreeMap<String, usize>,
}

/// The fake's state (public so tests can look and change things "in Jira").
#[derive(Debug, Default)]
pub struct State {
    /// Every request, in order.
    pub requests: Vec<Recorded>,
    /// Issues by key.
    pub issues: BTreeMap<String, Issue>,
    /// Issue links (type, inward, outward).
    pub links: Vec<(String, String, String)>,
    /// Pages by id.
    pub pages: BTreeMap<String, Page>,
    /// Answer the next matching requests with a status: (method, path prefix, status).
    pub fail_next: VecDeque<(String, String, u16)>,
    /// Answer everything with 503.
    pub down: bool,
    /// Answer the next N page updates with 409 after bumping the version (someone else
    /// edited the page meanwhile).
    pub conflicts: u32,
    next_issue: u32,
    next_page: u32,
}

/// The running fake.
pub struct FakeAtlassian {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Shared state.
    pub state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeAtlassian {
    /// Starts on a free port.
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts on a given port (the same "site" coming back after being down).
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, Arc::new(Mutex::new(State::default())))
    }

    /// Starts with existing state (restart after `stop`).
    pub fn start_with(port: u16, state: Arc<Mutex<State>>) -> Self {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind fake");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let data = web::Data::new(shared);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                        .default_service(web::to(handle))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                let _ = tx.send(server.handle());
                let _ = server.await;
            });
        });
        let handle = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fake started");
        Self {
            url,
            state,
            handle,
            thread: Some(thread),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    /// Stops the server (the state stays with the returned handle).
    pub fn stop(mut self) -> Arc<Mutex<State>> {
        self.shutdown();
        self.state.clone()
    }

    fn shutdown(&mut self) {
        let h = self.handle.clone();
        let _ = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(h.stop(false));
        })
        .join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Runs `f` on the state.
    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.state.lock().expect("state");
        f(&mut s)
    }

    /// Requests so far whose "METHOD path" starts with `prefix` (e.g. `POST /rest/api/2/issue`).
    pub fn count(&self, prefix: &str) -> usize {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|r| format!("{} {}", r.method, r.path).starts_with(prefix))
                .count()
        })
    }

    /// Waits until `count(prefix) >= n` (panics after `secs`).
    pub fn wait_count(&self, prefix: &str, n: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.count(prefix) < n {
            assert!(
                Instant::now() < deadline,
                "expected {n} × {prefix} within {secs} s, saw {}: {:?}",
                self.count(prefix),
                self.with(|s| s
                    .requests
                    .iter()
                    .map(|r| format!("{} {} → {}", r.method, r.path, r.status))
                    .collect::<Vec<_>>())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sets an issue's status "in Jira" (what a person moving the card does).
    pub fn set_status(&self, key: &str, name: &str, category: &str) {
        self.with(|s| {
            let i = s.issues.get_mut(key).expect("issue");
            i.status = name.into();
            i.category = category.into();
        });
    }

    /// Files an issue "in Jira" (what a product manager writing a story does).
    pub fn insert_issue(&self, key: &str, summary: &str, description: &str, labels: &[&str]) {
        self.with(|s| {
            s.issues.insert(
                key.to_string(),
                Issue {
                    id: format!("{}", 20000 + s.issues.len()),
                    fields: json!({"summary": summary, "description": description, "labels": labels}),
                    status: "To Do".into(),
                    category: "new".into(),
                    comments: Vec::new(),
                },
            );
        });
    }

    /// Authorization headers of the requests whose path starts with `prefix`.
    pub fn auth_of(&self, method: &str, prefix: &str) -> Vec<String> {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|r| r.method == method && r.path.starts_with(prefix))
                .map(|r| r.auth.clone())
                .collect()
        })
    }

    /// The issue key whose labels contain `label_suffix` (e.g. `-ctrl-01`).
    pub fn issue_with_label(&self, label_suffix: &str) -> Option<String> {
        self.with(|s| {
            s.issues
                .iter()
                .find(|(_, i)| {
                    i.fields["labels"].as_array().is_some_and(|l| {
                        l.iter()
                            .any(|x| x.as_str().is_some_and(|x| x.ends_with(label_suffix)))
                    })
                })
                .map(|(k, _)| k.clone())
        })
    }
}

impl Drop for FakeAtlassian {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

fn answer(status: u16, body: Value) -> (u16, Value) {
    (status, body)
}

fn status_json(name: &str, category: &str) -> Value {
    json!({"name": name, "statusCategory": {"key": category}})
}

const TRANSITIONS: &[(&str, &str, &str, &str)] = &[
    ("11", "Start Progress", "In Progress", "indeterminate"),
    ("21", "Done", "Done", "done"),
    ("31", "Won't Do", "Won't Do", "done"),
    ("41", "Reopen", "To Do", "new"),
];

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    data: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let full = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    let auth = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let content_type = req
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = data.lock().expect("state");
    let (status, out) = route(
        &mut s,
        &method,
        &path,
        &query,
        &auth,
        &parsed,
        &body,
        &content_type,
    );
    s.requests.push(Recorded {
        method,
        path: full,
        body: parsed,
        len: body.len(),
        auth,
        status,
        at: Instant::now(),
    });
    let mut resp =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"));
    if status == 429 {
        resp.insert_header(("Retry-After", "1"));
    }
    if out.is_null() {
        resp.finish()
    } else {
        resp.json(out)
    }
}

fn authorized(auth: &str) -> bool {
    use base64::Engine as _;
    if let Some(t) = auth.strip_prefix("Bearer ") {
        return t == TOKEN || t == USER_TOKEN;
    }
    if let Some(b) = auth.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b)
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .unwrap_or_default();
        return decoded
            .split_once(':')
            .is_some_and(|(_, t)| t == TOKEN || t == USER_TOKEN);
    }
    false
}

#[allow(clippy::too_many_arguments)]
fn route(
    s: &mut State,
    method: &str,
    path: &str,
    query: &str,
    auth: &str,
    body: &Value,
    raw: &[u8],
    content_type: &str,
) -> (u16, Value) {
    if s.down {
        return answer(503, Value::Null);
    }
    if let Some(pos) = s
        .fail_next
        .iter()
        .position(|(m, p, _)| m == method && path.starts_with(p.as_str()))
    {
        let (_, _, status) = s.fail_next.remove(pos).expect("position");
        return answer(
            status,
            json!({"errorMessages": [format!("injected {status}")]}),
        );
    }
    if !authorized(auth) {
        return answer(401, Value::Null);
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("GET", ["rest", "api", "2", "myself"]) if auth.contains(USER_TOKEN) => answer(
            200,
            json!({"name": "jdoe", "displayName": "Jane Doe", "emailAddress": "jdoe@example.com"}),
        ),
        ("GET", ["rest", "api", "2", "myself"]) => answer(
            200,
            json!({"name": "svc-rampart", "displayName": "rampart service", "emailAddress": "svc@example.com"}),
        ),
        ("GET", ["rest", "api", "2", "project", key]) => {
            if *key == "SEC" {
                answer(
                    200,
                    json!({"id": "10000", "key": "SEC", "name": "Security", "issueTypes": [
                        {"id": "1", "name": "Task", "subtask": false},
                        {"id": "2", "name": "Story", "subtask": false},
                        {"id": "3", "name": "Sub-task", "subtask": true}
                    ]}),
                )
            } else {
                answer(
                    404,
                    json!({"errorMessages": [format!("No project could be found with key '{key}'.")]}),
                )
            }
        }
        ("POST", ["rest", "api", "2", "issue"]) => {
            let f = &body["fields"];
            if f["project"]["key"] != "SEC" {
                return answer(400, json!({"errors": {"project": "project is required"}}));
            }
            let it = f["issuetype"]["name"].as_str().unwrap_or_default();
            if !["Task", "Story", "Sub-task"].contains(&it) {
                return answer(
                    400,
                    json!({"errors": {"issuetype": "valid issue type is required"}}),
                );
            }
            if it == "Sub-task"
                && f["parent"]["key"]
                    .as_str()
                    .is_none_or(|p| !s.issues.contains_key(p))
            {
                return answer(
                    400,
                    json!({"errors": {"parent": "a sub-task needs a parent"}}),
                );
            }
            if f["summary"].as_str().is_none_or(str::is_empty) {
                return answer(400, json!({"errors": {"summary": "summary is required"}}));
            }
            s.next_issue += 1;
            let key = format!("SEC-{}", s.next_issue);
            let id = format!("{}", 10000 + s.next_issue);
            s.issues.insert(
                key.clone(),
                Issue {
                    id: id.clone(),
                    fields: f.clone(),
                    status: "To Do".into(),
                    category: "new".into(),
                    comments: Vec::new(),
                },
            );
            answer(
                201,
                json!({"id": id, "key": key, "self": format!("/rest/api/2/issue/{id}")}),
            )
        }
        ("PUT", ["rest", "api", "2", "issue", key]) => match s.issues.get_mut(*key) {
            Some(i) => {
                if let Some(o) = body["fields"].as_object() {
                    for (k, v) in o {
                        i.fields[k] = v.clone();
                    }
                }
                answer(204, Value::Null)
            }
            None => answer(
                404,
                json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}),
            ),
        },
        ("GET", ["rest", "api", "2", "issue", key]) => match s.issues.get(*key) {
            Some(i) => answer(
                200,
                json!({"id": i.id, "key": key, "fields": {
                    "status": status_json(&i.status, &i.category),
                    "summary": i.fields["summary"],
                    "description": i.fields["description"],
                    "labels": i.fields["labels"],
                    "project": {"key": key.split('-').next().unwrap_or_default()},
                }}),
            ),
            None => answer(
                404,
                json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}),
            ),
        },
        ("GET", ["rest", "api", "2", "issue", key, "transitions"]) => {
            if !s.issues.contains_key(*key) {
                return answer(404, json!({"errorMessages": ["Issue does not exist"]}));
            }
            answer(
                200,
                json!({"transitions": TRANSITIONS.iter().map(|(id, name, to, cat)| json!({"id": id, "name": name, "to": status_json(to, cat)})).collect::<Vec<_>>()}),
            )
        }
        ("POST", ["rest", "api", "2", "issue", key, "transitions"]) => {
            let id = body["transition"]["id"].as_str().unwrap_or_default();
            let Some(t) = TRANSITIONS.iter().find(|t| t.0 == id) else {
                return answer(
                    400,
                    json!({"errorMessages": ["It seems that you have tried to perform a workflow operation that is not valid."]}),
                );
            };
            match s.issues.get_mut(*key) {
                Some(i) => {
                    i.status = t.2.into();
                    i.category = t.3.into();
                    answer(204, Value::Null)
                }
                None => answer(404, json!({"errorMessages": ["Issue does not exist"]})),
            }
        }
        ("POST", ["rest", "api", "2", "issue", key, "comment"]) => match s.issues.get_mut(*key) {
            Some(i) => {
                i.comments
                    .push(body["body"].as_str().unwrap_or_default().to_string());
                answer(201, json!({"id": format!("{}", i.comments.len())}))
            }
            None => answer(404, json!({"errorMessages": ["Issue does not exist"]})),
        },
        ("POST", ["rest", "api", "2", "issueLink"]) => {
            let t = body["type"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let inward = body["inwardIssue"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let outward = body["outwardIssue"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !s.issues.contains_key(&inward) || !s.issues.contains_key(&outward) {
                return answer(404, json!({"errorMessages": ["Issue does not exist"]}));
            }
            s.links.push((t, inward, outward));
            answer(201, Value::Null)
        }
        ("GET", ["rest", "api", "2", "search"]) => {
            let jql = url_decode(
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("jql="))
                    .unwrap_or_default(),
            );
            let label = jql
                .split("labels = \"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_string();
            let found: Vec<Value> = s
                .issues
                .iter()
                .filter(|(_, i)| {
                    i.fields["labels"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|x| x == &json!(label)))
                })
                .map(|(k, i)| json!({"id": i.id, "key": k}))
                .collect();
            answer(200, json!({"total": found.len(), "issues": found}))
        }
        ("GET", ["rest", "api", "space", key]) => {
            if *key == "SEC" {
                answer(200, json!({"key": "SEC", "name": "Security"}))
            } else {
                answer(
                    404,
                    json!({"message": format!("No space with key : {key}")}),
                )
            }
        }
        ("POST", ["rest", "api", "content"]) => {
            let title = body["title"].as_str().unwrap_or_default().to_string();
            let space = body["space"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if space != "SEC" {
                return answer(404, json!({"message": "No space found"}));
            }
            if s.pages
                .values()
                .any(|p| p.title == title && p.space == space)
            {
                return answer(
                    400,
                    json!({"statusCode": 400, "message": format!("A page with this title already exists: A page already exists with the title {title} in this space")}),
                );
            }
            s.next_page += 1;
            let id = format!("{}", 65000 + s.next_page);
            s.pages.insert(
                id.clone(),
                Page {
                    title: title.clone(),
                    space,
                    body: body["body"]["storage"]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    version: 1,
                    ancestors: body["ancestors"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x["id"].as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    attachments: BTreeMap::new(),
                },
            );
            answer(
                200,
                json!({"id": id, "type": "page", "title": title, "version": {"number": 1}, "_links": {"base": "http://wiki.example", "webui": format!("/spaces/SEC/pages/{id}")}}),
            )
        }
        ("GET", ["rest", "api", "content", id]) => match s.pages.get(*id) {
            Some(p) => answer(
                200,
                json!({"id": id, "title": p.title, "version": {"number": p.version}}),
            ),
            None => answer(404, json!({"message": "No content found"})),
        },
        ("PUT", ["rest", "api", "content", id]) => {
            let conflicts = s.conflicts;
            let Some(p) = s.pages.get_mut(*id) else {
                return answer(404, json!({"message": "No content found"}));
            };
            if conflicts > 0 {
                // Someone else saved a version just before this request.
                p.version += 1;
                s.conflicts -= 1;
                return answer(
                    409,
                    json!({"message": "Version must be incremented on update. Current version is: newer"}),
                );
            }
            let wanted = body["version"]["number"].as_i64().unwrap_or(0);
            if wanted != p.version + 1 {
                return answer(
                    409,
                    json!({"message": format!("Version must be incremented on update. Current version is: {}", p.version)}),
                );
            }
            p.version = wanted;
            p.title = body["title"].as_str().unwrap_or_default().to_string();
            p.body = body["body"]["storage"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            answer(
                200,
                json!({"id": id, "type": "page", "title": p.title, "version": {"number": p.version}, "_links": {"base": "http://wiki.example", "webui": format!("/spaces/SEC/pages/{id}")}}),
            )
        }
        ("PUT", ["rest", "api", "content", id, "child", "attachment"]) => {
            if !content_type.starts_with("multipart/form-data") {
                return answer(415, json!({"message": "multipart expected"}));
            }
            let text = String::from_utf8_lossy(raw);
            let name = text
                .split("filename=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_string();
            match s.pages.get_mut(*id) {
                Some(p) => {
                    p.attachments.insert(name.clone(), raw.len());
                    answer(200, json!({"results": [{"id": "att1", "title": name}]}))
                }
                None => answer(404, json!({"message": "No content found"})),
            }
        }
        _ => answer(
            404,
            json!({"errorMessages": [format!("no route {method} {path}")]}),
        ),
    }
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let h = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(h, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
