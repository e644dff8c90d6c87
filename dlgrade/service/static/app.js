// dlgrade's submission page. Every value from the server is put in the page with textContent (never as HTML),
// so whatever a student's notebook printed stays text; feedback pages go into a sandboxed frame (no scripts).
"use strict";

const state = { token: sessionStorage.getItem("dlgrade-token") || "", assignments: [], timer: null };
const $ = (id) => document.getElementById(id);

function say(text, error = false) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + state.token }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) body = await response.json();
  else body = await response.text();
  if (!response.ok) {
    const detail = body && typeof body === "object" && body.detail ? body.detail : response.statusText;
    const error = new Error(String(detail));
    error.status = response.status;
    throw error;
  }
  return body;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function showTerms() {
  const chosen = state.assignments.find((a) => a.id === $("assignment").value);
  if (!chosen) return;
  const parts = [];
  if (!chosen.open) parts.push("closed for submissions");
  if (chosen.deadline) parts.push("deadline " + when(chosen.deadline) + (chosen.late === "refuse" ? " (no late submissions)" : " (late: penalty)"));
  if (chosen.per_day !== null) parts.push(chosen.used + " of " + chosen.per_day + " graded submissions used in the last 24 hours");
  if (chosen.next_allowed) parts.push("next allowed " + when(chosen.next_allowed));
  parts.push(chosen.counts === "best" ? "your best grade counts" : "your last graded submission counts");
  parts.push({ score: "you see your total", "per-question": "you see each question's score", full: "you see the full feedback" }[chosen.hidden] || "");
  $("terms").textContent = parts.filter(Boolean).join(" · ");
}

async function loadMe() {
  const me = await api("/api/v1/me");
  state.assignments = me.assignments;
  $("who").textContent = "Signed in as " + me.name;
  $("who").hidden = false;
  $("signout").hidden = false;
  const select = $("assignment");
  const previous = select.value;
  select.replaceChildren();
  for (const assignment of me.assignments) {
    const option = document.createElement("option");
    option.value = assignment.id;
    option.textContent = assignment.id;
    select.appendChild(option);
  }
  if (previous) select.value = previous;
  showTerms();
}

async function showFeedback(submission) {
  try {
    const html = await api("/api/v1/submissions/" + encodeURIComponent(submission.id) + "/feedback");
    $("feedback-title").textContent = "Feedback: " + submission.assignment + ", submitted " + when(submission.submitted_at);
    $("feedback").srcdoc = html;
    $("feedback-section").hidden = false;
  } catch (error) {
    say(error.message, true);
  }
}

function drawHistory(rows) {
  const body = $("history").querySelector("tbody");
  body.replaceChildren();
  for (const submission of rows) {
    const row = document.createElement("tr");
    row.dataset.id = submission.id;
    cell(row, when(submission.submitted_at));
    cell(row, submission.status, "status status-" + submission.status);
    cell(row, submission.score === null ? "" : submission.score + " / " + submission.max_score, "score");
    cell(row, submission.counts ? "yes" : "");
    cell(row, [submission.late ? "late" : "", submission.detail].filter(Boolean).join(" · "), "detail");
    const actions = cell(row, "");
    if (submission.status === "graded") {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Feedback";
      button.addEventListener("click", () => showFeedback(submission));
      actions.appendChild(button);
    }
    body.appendChild(row);
  }
}

async function refresh() {
  clearTimeout(state.timer);
  const assignment = $("assignment").value;
  if (!assignment) return;
  try {
    const rows = await api("/api/v1/assignments/" + encodeURIComponent(assignment) + "/submissions");
    drawHistory(rows);
    if (rows.some((r) => r.status === "queued" || r.status === "grading")) {
      state.timer = setTimeout(refresh, 1000);
    }
  } catch (error) {
    say(error.message, true);
  }
}

async function follow(id) {
  // Long-poll one submission until it is graded (or refused), then refresh the list and the allowance.
  for (let i = 0; i < 60; i++) {
    const status = await api("/api/v1/submissions/" + encodeURIComponent(id) + "?wait=20");
    if (status.status !== "queued" && status.status !== "grading") {
      if (status.status === "graded") say("Graded: " + status.score + " / " + status.max_score + (status.late ? " (late)" : ""));
      else say("Not graded (" + status.status + "): " + status.detail, true);
      await refresh();
      await loadMe();
      return;
    }
    await refresh();
  }
}

async function upload(event) {
  event.preventDefault();
  const file = $("notebook").files[0];
  const assignment = $("assignment").value;
  if (!file || !assignment) return;
  const form = new FormData();
  form.append("file", file, file.name);
  $("submit-button").disabled = true;
  say("Uploading " + file.name + " ...");
  try {
    const accepted = await api("/api/v1/assignments/" + encodeURIComponent(assignment) + "/submissions",
      { method: "POST", body: form });
    say("Submitted: queued for grading" + (accepted.late ? " (late)" : ""));
    $("notebook").value = "";
    await refresh();
    await follow(accepted.id);
  } catch (error) {
    say(error.message, true);
  } finally {
    $("submit-button").disabled = false;
  }
}

async function signIn(event) {
  if (event) event.preventDefault();
  if (event) state.token = $("token").value.trim();
  if (!state.token) return;
  try {
    await loadMe();
    sessionStorage.setItem("dlgrade-token", state.token);
    $("token").value = "";
    $("signin").hidden = true;
    $("main").hidden = false;
    say("");
    await refresh();
  } catch (error) {
    state.token = "";
    sessionStorage.removeItem("dlgrade-token");
    say(error.status === 401 ? "That token is not valid: check it, or ask your instructor for a new one." : error.message, true);
  }
}

function signOut() {
  state.token = "";
  sessionStorage.removeItem("dlgrade-token");
  location.reload();
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", signIn);
  $("upload-form").addEventListener("submit", upload);
  $("assignment").addEventListener("change", () => { showTerms(); $("feedback-section").hidden = true; refresh(); });
  $("signout").addEventListener("click", signOut);
  if (state.token) signIn(null);
});
