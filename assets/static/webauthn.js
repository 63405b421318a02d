// Security keys (WebAuthn) for rampart pages.
// The server speaks webauthn-rs JSON: binary fields are base64url strings. This file turns
// them into ArrayBuffers for navigator.credentials and the browser's answer back into JSON.
//   [data-webauthn-register]  Settings / enrollment: with the password re-entered, create a
//                             credential, POST it, show recovery codes when the server
//                             issued them (first factor). The answer rotates the session
//                             cookie, so the page navigates away afterwards.
//   [data-webauthn-login]     MFA step: starts automatically, with a retry button.
(function () {
  "use strict";

  function b64urlToBuf(s) {
    var b64 = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function postJson(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = null; }
        if (!resp.ok) {
          var msg = data && data.error && data.error.message ? data.error.message : "The server answered " + resp.status + ".";
          throw new Error(msg.charAt(0).toUpperCase() + msg.slice(1));
        }
        return data;
      });
    });
  }

  function explain(err) {
    if (err && err.name === "NotAllowedError") { return "The request was cancelled or timed out. Try again."; }
    if (err && err.name === "InvalidStateError") { return "This security key is already registered."; }
    if (err && err.name === "SecurityError") { return "Security keys need this page to be opened at the appliance's configured address (WEBAUTHN_RP_ID / public URL)."; }
    return (err && err.message) || "Something went wrong with the security key.";
  }

  function creationOptions(opts) {
    var pk = opts.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user.id = b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(opts) {
    var pk = opts.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return { publicKey: pk };
  }

  function registrationJson(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: bufToB64url(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: bufToB64url(r.attestationObject),
        clientDataJSON: bufToB64url(r.clientDataJSON)
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
    if (typeof r.getTransports === "function") { out.response.transports = r.getTransports(); }
    return out;
  }

  function assertionJson(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: bufToB64url(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: bufToB64url(r.authenticatorData),
        clientDataJSON: bufToB64url(r.clientDataJSON),
        signature: bufToB64url(r.signature),
        userHandle: r.userHandle ? bufToB64url(r.userHandle) : null
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  function unsupported() {
    return !window.PublicKeyCredential || !navigator.credentials;
  }

  function setupRegister(root) {
    var btn = root.querySelector("[data-webauthn-add]");
    var nameInput = root.querySelector("[data-webauthn-name]");
    var passwordInput = root.querySelector("[data-webauthn-password]");
    var status = root.querySelector("[data-webauthn-status]");
    var errorBox = root.querySelector("[data-webauthn-error]");
    var csrf = root.getAttribute("data-csrf");
    var done = root.getAttribute("data-done") || "/";
    var label = btn.textContent;

    function busy(on) {
      btn.disabled = on;
      btn.classList.toggle("is-busy", on);
      btn.textContent = on ? (btn.getAttribute("data-busy-text") || label) : label;
      status.hidden = !on;
    }
    function fail(msg) {
      busy(false);
      errorBox.textContent = msg;
      errorBox.hidden = false;
    }

    btn.addEventListener("click", function () {
      errorBox.hidden = true;
      if (unsupported()) { fail("This browser does not support security keys."); return; }
      var name = (nameInput && nameInput.value.trim()) || "Security key";
      var password = passwordInput ? passwordInput.value : "";
      if (!password) { fail("Enter your password to add a security key."); return; }
      busy(true);
      postJson("/api/mfa/webauthn/register/start", csrf, { password: password })
        .then(function (ceremony) {
          return navigator.credentials.create(creationOptions(ceremony.options)).then(function (cred) {
            return postJson("/api/mfa/webauthn/register/finish", csrf, {
              ceremony_token: ceremony.ceremony_token,
              name: name,
              credential: registrationJson(cred)
            });
          });
        })
        .then(function (result) {
          // The server replaced this session's cookie (a new factor rotates the session).
          if (passwordInput) { passwordInput.value = ""; }
          var codes = (result && result.recovery_codes) || [];
          if (codes.length) {
            busy(false);
            showCodes(codes, done);
          } else {
            window.location.assign(done);
          }
        })
        .catch(function (err) { fail(explain(err)); });
    });
  }

  function showCodes(codes, done) {
    var panel = document.getElementById("recovery-panel");
    if (!panel) { window.location.assign(done); return; }
    var list = panel.querySelector("[data-codes]");
    list.id = "webauthn-recovery-codes";
    list.textContent = "";
    codes.forEach(function (c) {
      var li = document.createElement("li");
      var code = document.createElement("code");
      code.textContent = c;
      li.appendChild(code);
      list.appendChild(li);
    });
    var text = codes.join("\n") + "\n";
    panel.querySelector("[data-copy-codes]").addEventListener("click", function (ev) {
      if (window.rampartCopy) { window.rampartCopy(text, ev.currentTarget); }
    });
    panel.querySelector("[data-download-codes]").addEventListener("click", function () {
      if (window.rampartDownload) { window.rampartDownload(text, "rampart-recovery-codes.txt"); }
    });
    panel.querySelector("[data-continue]").setAttribute("href", done);
    panel.hidden = false;
    panel.scrollIntoView({ behavior: "smooth", block: "start" });
    panel.querySelector("h2").setAttribute("tabindex", "-1");
    panel.querySelector("h2").focus();
  }

  function setupLogin(root) {
    var csrf = root.getAttribute("data-csrf");
    var status = root.querySelector("[data-webauthn-status]");
    var errorBox = root.querySelector("[data-webauthn-error]");
    var retry = root.querySelector("[data-webauthn-retry]");
    var running = false;

    function run() {
      if (running) { return; }
      errorBox.hidden = true;
      if (unsupported()) {
        errorBox.textContent = "This browser does not support security keys. Use another method below.";
        errorBox.hidden = false;
        status.hidden = true;
        return;
      }
      running = true;
      retry.disabled = true;
      status.hidden = false;
      postJson(root.getAttribute("data-start"), csrf, {})
        .then(function (ceremony) {
          return navigator.credentials.get(requestOptions(ceremony.options)).then(function (cred) {
            return postJson(root.getAttribute("data-finish"), csrf, {
              ceremony_token: ceremony.ceremony_token,
              credential: assertionJson(cred),
              next: root.getAttribute("data-next") || "/"
            });
          });
        })
        .then(function (result) {
          window.location.assign((result && result.redirect) || "/");
        })
        .catch(function (err) {
          running = false;
          retry.disabled = false;
          status.hidden = true;
          errorBox.textContent = explain(err);
          errorBox.hidden = false;
        });
    }

    retry.addEventListener("click", run);
    run();
  }

  function init() {
    document.querySelectorAll("[data-webauthn-register]").forEach(setupRegister);
    document.querySelectorAll("[data-webauthn-login]").forEach(setupLogin);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
