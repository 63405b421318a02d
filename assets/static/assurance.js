// Assurance page: when the assertion type of an "Add an assertion" form changes, replace
// its parameter fields with the fields of the new type. The type list (names, parameters,
// kinds, help) comes from the data-types attribute of #assertion-types; the server renders
// the fields of the initially selected type, so the form works without this script too.
//
// The forms are htmx forms (hx-post, hx-select of their own id): a refused submission
// answers 422 with the page, and only the form (or finding row) is swapped in, errors next
// to the fields; success answers HX-Redirect. htmx does not swap error statuses by itself,
// so 422 is let through here; other refusals show a message next to the form.
(function () {
  "use strict";
  var holder = document.getElementById("assertion-types");
  if (!holder) { return; }
  var types;
  try { types = JSON.parse(holder.getAttribute("data-types") || "[]"); } catch (e) { return; }

  function byName(name) {
    for (var i = 0; i < types.length; i++) { if (types[i].name === name) { return types[i]; } }
    return null;
  }

  function field(prefix, p) {
    var wrap = document.createElement("div");
    wrap.className = "field";
    var id = prefix + "-" + p.name;
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = p.name + (p.required ? " *" : "");
    wrap.appendChild(label);
    var input;
    if (p.kind === "flag") {
      input = document.createElement("select");
      ["", "true", "false"].forEach(function (v) {
        var o = document.createElement("option");
        o.value = v;
        o.textContent = v || "—";
        input.appendChild(o);
      });
    } else {
      input = document.createElement("input");
      input.type = "text";
      if (p.required) { input.setAttribute("aria-required", "true"); }
    }
    input.id = id;
    input.name = "param." + p.name;
    wrap.appendChild(input);
    var help = document.createElement("p");
    help.className = "field-help";
    help.textContent = p.help + (p.kind === "list" ? " (comma-separated)" : "");
    wrap.appendChild(help);
    return wrap;
  }

  // After a refused submission (422), bring the first field with an error into view.
  if (document.getElementById("form-errors")) {
    var bad = document.querySelector(".has-error input, .has-error select, .has-error textarea, .field-error");
    if (bad) {
      bad.scrollIntoView({ block: "center" });
      if (bad.focus) { bad.focus({ preventScroll: true }); }
    }
  }

  function focusFirstError() {
    var bad = document.querySelector(".has-error input, .has-error select, .has-error textarea");
    if (bad) {
      bad.scrollIntoView({ block: "center" });
      bad.focus({ preventScroll: true });
    }
  }

  document.addEventListener("htmx:beforeSwap", function (ev) {
    var status = ev.detail.xhr.status;
    if (status === 422) {
      ev.detail.shouldSwap = true;
      ev.detail.isError = false;
      return;
    }
    if (status >= 400) {
      var form = ev.detail.elt;
      var note = document.createElement("div");
      note.className = "alert alert-error";
      note.setAttribute("role", "alert");
      note.textContent = "The server refused this request (HTTP " + status + "). Reload the page and try again.";
      if (form && form.parentNode) { form.parentNode.insertBefore(note, form); }
      var btn = form && form.querySelector(".is-busy");
      if (btn) {
        btn.disabled = false;
        btn.classList.remove("is-busy");
        btn.removeAttribute("aria-disabled");
        if (btn.getAttribute("data-label")) { btn.textContent = btn.getAttribute("data-label"); }
      }
    }
  });
  document.addEventListener("htmx:afterSettle", focusFirstError);

  document.addEventListener("change", function (ev) {
    var select = ev.target;
    if (!select.matches || !select.matches("select[data-assertion-type]")) { return; }
    var form = select.closest("form");
    var box = form && form.querySelector("[data-param-fields]");
    var t = byName(select.value);
    if (!box || !t) { return; }
    var prefix = box.getAttribute("data-prefix") || "p";
    while (box.firstChild) { box.removeChild(box.firstChild); }
    t.params.forEach(function (p) { box.appendChild(field(prefix, p)); });
  });
}());
