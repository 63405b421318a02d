// rampart page behaviour. Loaded on every page; no inline scripts (strict CSP).
// Everything is opt-in through data attributes:
//   data-dismiss            close button of a flash message
//   data-back               "Go back" button (shown only when there is history)
//   data-copy="#sel"        copy the text of an element (recovery codes are joined by lines)
//   data-download="#sel"    download the text of an element (data-filename)
//   <form data-confirm="…"> ask before submitting
//   <form data-busy>        disable the submit button and show data-busy-text while working
//   data-tabs               accessible tabs (role=tab / role=tabpanel)
//   <select data-autosubmit> submit the form when the choice changes (the form's
//                           [data-autosubmit-fallback] button is hidden once this runs)
(function () {
  "use strict";

  function textOf(el) {
    var items = el.querySelectorAll("li");
    if (items.length) {
      return Array.prototype.map.call(items, function (li) { return li.textContent.trim(); }).join("\n") + "\n";
    }
    return el.textContent.trim();
  }

  function flashButton(btn, label) {
    var old = btn.getAttribute("data-label") || btn.textContent;
    btn.setAttribute("data-label", old);
    btn.textContent = label;
    window.setTimeout(function () { btn.textContent = old; }, 1600);
  }

  function copyText(text, btn) {
    function fallback() {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "sr-only";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      flashButton(btn, ok ? "Copied" : "Press Ctrl+C");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { flashButton(btn, "Copied"); }, fallback);
    } else {
      fallback();
    }
  }
  window.rampartCopy = copyText;

  function download(text, filename) {
    var blob = new Blob([text], { type: "text/plain;charset=utf-8" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = filename || "rampart.txt";
    document.body.appendChild(a);
    a.click();
    window.setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  window.rampartDownload = download;

  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-dismiss],[data-back],[data-copy],[data-download]");
    if (!t) { return; }
    if (t.hasAttribute("data-dismiss")) {
      var box = t.closest(".flash");
      if (box) { box.remove(); }
    } else if (t.hasAttribute("data-back")) {
      history.back();
    } else if (t.hasAttribute("data-copy")) {
      var src = document.querySelector(t.getAttribute("data-copy"));
      if (src) { copyText(textOf(src), t); }
    } else if (t.hasAttribute("data-download")) {
      var el = document.querySelector(t.getAttribute("data-download"));
      if (el) { download(textOf(el), t.getAttribute("data-filename")); }
    }
  });

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      ev.preventDefault();
      return;
    }
    if (form.hasAttribute("data-busy")) {
      var btn = ev.submitter || form.querySelector("[type=submit]");
      if (btn && !btn.classList.contains("is-busy")) {
        btn.setAttribute("data-label", btn.textContent);
        btn.classList.add("is-busy");
        btn.setAttribute("aria-disabled", "true");
        if (btn.getAttribute("data-busy-text")) { btn.textContent = btn.getAttribute("data-busy-text"); }
        // Block double submits without disabling the button before the browser reads the form.
        window.setTimeout(function () { btn.disabled = true; }, 0);
      }
    }
  });

  document.addEventListener("change", function (ev) {
    var sel = ev.target;
    if (sel.matches && sel.matches("select[data-autosubmit]") && sel.form) {
      if (sel.form.requestSubmit) { sel.form.requestSubmit(); } else { sel.form.submit(); }
    }
  });
  document.querySelectorAll("[data-autosubmit-fallback]").forEach(function (b) { b.hidden = true; });

  // Coming back through the back/forward cache must not leave buttons spinning.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll(".btn.is-busy").forEach(function (btn) {
      btn.classList.remove("is-busy");
      btn.disabled = false;
      btn.removeAttribute("aria-disabled");
      if (btn.getAttribute("data-label")) { btn.textContent = btn.getAttribute("data-label"); }
    });
  });

  function initTabs(root) {
    var tabs = Array.prototype.slice.call(root.querySelectorAll("[role=tab]"));
    function select(tab) {
      tabs.forEach(function (t) {
        var on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        var panel = document.getElementById(t.getAttribute("aria-controls"));
        if (panel) { panel.hidden = !on; }
      });
    }
    tabs.forEach(function (tab, i) {
      tab.addEventListener("click", function () { select(tab); });
      tab.addEventListener("keydown", function (ev) {
        var next = null;
        if (ev.key === "ArrowRight") { next = tabs[(i + 1) % tabs.length]; }
        if (ev.key === "ArrowLeft") { next = tabs[(i - 1 + tabs.length) % tabs.length]; }
        if (next) { ev.preventDefault(); select(next); next.focus(); }
      });
    });
  }

  function init() {
    document.querySelectorAll("[data-tabs]").forEach(initTabs);
    if (history.length > 1) {
      document.querySelectorAll("[data-back]").forEach(function (b) { b.hidden = false; });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

// Model page (additive): after a refused form (422) bring the first inline error into view
// and focus its field; keep the newest conversation message visible.
//   <form data-error-focus>   forms whose inline errors take focus on load
//   .conv-history             scrolled to its end on load
(function () {
  "use strict";
  function init() {
    var hist = document.querySelector(".conv-history");
    if (hist) { hist.scrollTop = hist.scrollHeight; }
    var err = document.querySelector("form[data-error-focus] .has-error, form[data-error-focus] .form-general-error");
    if (!err) { return; }
    err.scrollIntoView({ block: "center" });
    var field = err.querySelector("input:not([type=hidden]), textarea, select");
    if (field) { field.focus({ preventScroll: true }); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
