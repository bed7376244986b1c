// tusk ui: confirmations, the review's blast radius loaded after the page, live run progress. No framework.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); }
});

function load(section) {
  fetch(section.getAttribute("data-load"), {credentials: "same-origin"}).then(function (response) {
    return response.text().then(function (text) { return {ok: response.ok, text: text}; });
  }).then(function (answer) {
    // the server renders (and escapes) this HTML itself: the same templates as every page
    var doc = new DOMParser().parseFromString(answer.text, "text/html");
    section.replaceChildren.apply(section, Array.prototype.slice.call(doc.body.childNodes));
    if (!answer.ok) { section.classList.add("error"); }
  }).catch(function () { section.textContent = "could not load this part: reload the page"; });
}

function text(node, value) { if (node) { node.textContent = value; } }

function duration(seconds) {
  if (seconds === null || seconds === undefined) { return "—"; }
  if (seconds < 60) { return seconds.toFixed(1) + " s"; }
  if (seconds < 3600) { return (seconds / 60).toFixed(1) + " min"; }
  return (seconds / 3600).toFixed(1) + " h";
}

function row(job) {
  var tr = document.createElement("tr");
  tr.setAttribute("data-job", job.name);
  var cells = [job.name, job.status, job.version ? "v" + job.version : "", duration(job.seconds), ""];
  cells.forEach(function (value, index) {
    var td = document.createElement("td");
    if (index === 1) {
      var badge = document.createElement("span");
      badge.className = "badge " + job.status; badge.textContent = value; td.appendChild(badge);
    } else if (index === 4) {
      var pre = document.createElement("pre"); pre.className = "tail";
      // a failed job: its traceback (tusk's runner frames left out); else its error or its log's last lines
      pre.textContent = job.status === "failed" && job.log_tail ? job.log_tail : (job.error || job.log_tail || "").slice(-600);
      td.appendChild(pre);
    } else if (index === 0) {
      var link = document.createElement("a"); link.href = "/model?name=" + encodeURIComponent(job.name);
      link.textContent = value; td.appendChild(link);
    } else { td.textContent = value; }
    if (index === 3) { td.className = "num"; }
    tr.appendChild(td);
  });
  return tr;
}

function ended(run) {  // "18 trained · 2 cancelled · 20 jobs": what a run that ended did, not "20 of 20 done"
  var said = {succeeded: "trained", reused: "reused", failed: "failed", cancelled: "cancelled", waiting: "not started"};
  var parts = [];
  Object.keys(said).forEach(function (status) {
    var n = run.jobs.filter(function (job) { return job.status === status; }).length;
    if (n) { parts.push(n + " " + said[status]); }
  });
  parts.push(run.jobs.length + (run.jobs.length === 1 ? " job" : " jobs"));
  return parts.join(" · ");
}

function poll(table) {
  var url = table.getAttribute("data-poll");
  fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (run) {
    if (run.error && !run.jobs) { return; }
    var status = document.getElementById("run-status");
    text(status, run.status); if (status) { status.className = "badge " + run.status; }
    text(document.getElementById("run-done"), run.done);
    text(document.getElementById("run-total"), run.total);
    text(document.getElementById("run-eta"), run.eta === null || run.eta === undefined ? "after the first job" : duration(run.eta));
    var waiting = document.getElementById("run-waiting");
    if (waiting) { text(waiting, run.waiting || ""); waiting.hidden = !run.waiting; }
    var error = document.getElementById("run-error");  // a run that fails says why without a reload
    if (error) { text(error, run.error || ""); error.hidden = !run.error; }
    var body = table.tBodies[0];
    body.replaceChildren.apply(body, run.jobs.map(row));
    if (run.status === "starting" || run.status === "running") {
      window.setTimeout(function () { poll(table); }, 1000);
    } else {
      var form = document.getElementById("cancel-form"); if (form) { form.remove(); }
      text(document.getElementById("run-summary"), ended(run));
      table.removeAttribute("data-poll");
    }
  }).catch(function () { window.setTimeout(function () { poll(table); }, 3000); });
}

// the upload's "sheet" field is there only when the file chosen is an Excel workbook (kept when it holds a value)
document.addEventListener("change", function (event) {
  var input = event.target;
  if (!input.matches || !input.matches("form.propose input[type=file]")) { return; }
  var form = input.form, template = document.getElementById("sheet-field");
  var field = form.querySelector("label.sheet");
  var workbook = /\.xlsx$/i.test(input.value || "");
  if (workbook && !field && template) {
    input.closest("label").after(template.content.cloneNode(true));
  } else if (!workbook && field && template && !field.querySelector("input").value) {
    field.remove();
  }
});

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-load]").forEach(load);
  document.querySelectorAll("[data-poll]").forEach(function (table) { window.setTimeout(function () { poll(table); }, 500); });
});
