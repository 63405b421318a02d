// Live progress of a generation job: listens to the job's Server-Sent Events
// (step_start, result, error, done) on the element with data-job-events and updates
// the step list; on "done" it links to (and then opens) the new model.
(function () {
  "use strict";
  var root = document.querySelector("[data-job-events]");
  if (!root || !window.EventSource) { return; }
  if (root.getAttribute("data-model-id")) { return; }
  var status = document.getElementById("job-status");

  function step(n) { return root.querySelector('[data-step="' + n + '"]'); }
  function setState(li, cls, text) {
    li.className = "step " + cls;
    li.querySelector(".step-state").textContent = text;
  }
  function parse(ev) { try { return JSON.parse(ev.data); } catch (e) { return null; } }

  var es = new EventSource(root.getAttribute("data-job-events"));
  es.addEventListener("step_start", function (ev) {
    var d = parse(ev); if (!d) { return; }
    var li = step(d.step); if (li) { setState(li, "step-running", "running…"); }
  });
  es.addEventListener("result", function (ev) {
    var d = parse(ev); if (!d) { return; }
    var li = step(d.step); if (!li) { return; }
    setState(li, "step-done", "done");
    li.querySelector(".step-summary").textContent = d.summary || "";
    li.querySelector(".step-thought").textContent = d.thought || "";
  });
  es.addEventListener("error", function (ev) {
    var d = ev.data ? parse(ev) : null;
    if (!d) { return; } // connection hiccup: EventSource reconnects by itself
    es.close();
    var box = document.getElementById("job-error");
    box.textContent = d.message || "Generation failed.";
    box.removeAttribute("hidden");
    status.textContent = "Failed";
  });
  es.addEventListener("done", function (ev) {
    es.close();
    var d = parse(ev) || {};
    var id = d.result && d.result.model_id;
    status.textContent = "Done";
    var link = document.getElementById("job-model-link");
    if (id) { link.setAttribute("href", "/models/" + encodeURIComponent(id)); }
    document.getElementById("job-done").removeAttribute("hidden");
    if (id) { window.setTimeout(function () { window.location.assign(link.getAttribute("href")); }, 1500); }
  });
}());
