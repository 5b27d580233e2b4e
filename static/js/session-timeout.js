// Every signed-in page: warn before the idle session ends, and let the user stay signed in.
//
// The session ends after SESSION_IDLE_TIMEOUT_SECONDS without a request. Typing a long review note is no
// request, so a doctor could lose the note on "Sign off" to the login page. Three defences:
// - typing, clicking or scrolling on the page renews the session now and then (at most every quarter of
//   the timeout): a user at the keyboard is not idle;
// - `data-warning` seconds before the end, a warning with "Stay signed in" (WCAG 2.2.1: at least 20
//   seconds to answer, and a simple way to extend). It takes the focus only if the user is not in a field;
// - once the session has ended, a form sent from the page is not lost: its fields are kept in this tab's
//   sessionStorage, the login page is opened, and the form is filled in again when the page is back. A
//   draft belongs to the user who typed it and lives 30 minutes at most: any page of another user, a log
//   out, or its age removes it (it holds patient data). Its hidden fields (the record's version) are kept
//   too, so an edit made against an older version is still refused as a conflict, not applied over it.
// - logging out in one tab ends the session in the others at once.
// Every tab of the portal shares the time of the last request through localStorage, so activity in one tab
// keeps another's warning away; a page that talks to the server in the background (the result page's
// polling) says so with the "dr:session-renewed" event.
(function () {
  "use strict";
  const box = document.getElementById("session-timeout");
  if (!box) return;
  const KEY = "dr-portal-session-renewed";
  const OUT = "dr-portal-signed-out";
  const DRAFTS = "dr-portal-draft:";
  const DRAFT = DRAFTS + window.location.pathname;
  const DRAFT_LIFE = 30 * 60 * 1000;
  const USER = box.dataset.user;
  const idle = Number(box.dataset.seconds) * 1000;
  const warning = Number(box.dataset.warning) * 1000;
  const title = box.querySelector("#session-timeout-title");
  const left = box.querySelector(".session-timeout-left");
  const live = box.querySelector(".session-timeout-live");
  const ended = box.querySelector(".session-timeout-ended");
  const stay = box.querySelector(".session-timeout-stay");
  let renewed = Date.now();
  let renewing = false;
  let over = false;
  let timer = null;
  let returnFocus = null;

  function store(area, key, value) {
    try {
      if (value === null) area.removeItem(key);
      else area.setItem(key, value);
    } catch (error) {
      // Storage refused (private mode, quota): this tab keeps its own time, and a draft is not kept.
    }
  }

  function read(area, key) {
    try {
      return area.getItem(key);
    } catch (error) {
      return null;
    }
  }

  function remember(time) {
    renewed = Math.max(renewed, time);
    store(localStorage, KEY, String(renewed));
  }

  function editing() {
    const element = document.activeElement;
    return Boolean(element && (element.isContentEditable || element.matches("input, textarea, select")));
  }

  function hide() {
    if (box.hidden) return;
    box.hidden = true;
    document.body.classList.remove("session-warning");
    if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
    returnFocus = null;
  }

  function show(secondsLeft) {
    left.textContent = secondsLeft === 1 ? "1 second" : secondsLeft + " seconds";
    if (!box.hidden) return;
    box.hidden = false;
    document.body.classList.add("session-warning"); // room below the page's last button
    if (!editing()) {
      returnFocus = document.activeElement;
      stay.focus();
    }
  }

  function csrfToken() {
    // The cookie, not the token the page was drawn with: signing in again in another tab replaces it.
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : box.dataset.csrf;
  }

  function renew() {
    if (renewing || over) return Promise.resolve();
    renewing = true;
    stay.disabled = true;
    return fetch(box.dataset.keepalive, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    })
      .then(function (response) {
        if (response.status === 401) return end();
        if (!response.ok) throw new Error(response.status);
        remember(Date.now());
        hide();
      })
      .catch(function () {
        // No answer, or a refusal that is not the session's: the countdown goes on; try again later.
      })
      .finally(function () {
        renewing = false;
        stay.disabled = false;
      });
  }

  function end() {
    if (over) return;
    over = true;
    clearInterval(timer);
    title.textContent = "Your session has ended";
    box.setAttribute("aria-describedby", ended.id);
    live.hidden = true;
    stay.hidden = true;
    ended.hidden = false;
    box.hidden = false;
    document.body.classList.add("session-warning");
    if (!editing()) ended.querySelector("a").focus();
  }

  function tick() {
    renewed = Math.max(renewed, Number(read(localStorage, KEY)) || 0);
    const remaining = renewed + idle - Date.now();
    if (remaining <= 0) return end();
    if (remaining <= warning) return show(Math.ceil(remaining / 1000));
    hide();
  }

  function active() {
    // A user at the page: renew once a quarter of the timeout has passed since the last request.
    if (!over && Date.now() - renewed > idle / 4) renew();
  }

  function keepDraft(form) {
    const fields = {};
    let files = false;
    Array.from(form.elements).forEach(function (field) {
      if (field.type === "file" && field.files && field.files.length) files = true;
      if (!field.name || field.name === "csrfmiddlewaretoken" || field.type === "file" || field.type === "password") return;
      if (field.type === "submit" || field.type === "button" || field.tagName === "BUTTON") return;
      if ((field.type === "radio" || field.type === "checkbox") && !field.checked) return;
      fields[field.name] = field.value;
    });
    if (!Object.keys(fields).length && !files) return; // nothing typed that could be kept (a password form)
    // Files cannot be kept: a browser chooses them again only by the user's hand.
    const draft = { action: form.getAttribute("action") || "", fields: fields, files: files, user: USER, saved: Date.now() };
    store(sessionStorage, DRAFT, JSON.stringify(draft));
  }

  function drafts() {
    const keys = [];
    try {
      for (let i = 0; i < sessionStorage.length; i += 1) {
        if (sessionStorage.key(i).indexOf(DRAFTS) === 0) keys.push(sessionStorage.key(i));
      }
    } catch (error) {
      // No storage: no drafts either.
    }
    return keys;
  }

  function parsed(key) {
    try {
      return JSON.parse(read(sessionStorage, key));
    } catch (error) {
      return null;
    }
  }

  function purgeDrafts(all) {
    // Another user's draft, or an old one, is removed unread: it holds patient data.
    drafts().forEach(function (key) {
      const draft = parsed(key);
      if (all || !draft || draft.user !== USER || !(Date.now() - draft.saved < DRAFT_LIFE)) store(sessionStorage, key, null);
    });
  }

  function restoreDraft() {
    const draft = parsed(DRAFT);
    store(sessionStorage, DRAFT, null);
    if (!draft || draft.user !== USER) return;
    const form = Array.from(document.querySelectorAll("main form")).find(function (candidate) {
      return (candidate.getAttribute("action") || "") === draft.action;
    });
    if (!form) return;
    Object.keys(draft.fields).forEach(function (name) {
      Array.from(form.elements).filter(function (field) { return field.name === name; }).forEach(function (field) {
        if (field.type === "radio" || field.type === "checkbox") field.checked = field.value === draft.fields[name];
        else field.value = draft.fields[name];
      });
    });
    const details = form.closest("details");
    if (details) details.open = true;
    const note = document.createElement("p");
    note.className = "messages draft-restored";
    note.setAttribute("role", "status");
    note.setAttribute("tabindex", "-1");
    note.textContent =
      "What you had entered before your session ended is filled in again: check it and send it." +
      (draft.files ? " Choose the photographs again: a browser does not keep them." : "");
    form.prepend(note);
    note.focus();
  }

  document.addEventListener(
    "submit",
    function (event) {
      const form = event.target;
      if ((form.getAttribute("action") || "") === box.dataset.logout) {
        // Signing out here ends the session in every tab, and leaves no draft behind.
        purgeDrafts(true);
        store(localStorage, OUT, String(Date.now()));
        return;
      }
      if (!over || !form.closest("main") || (form.method || "").toLowerCase() !== "post") return;
      // The session is gone: sent now, the form would be lost on the way to the login page.
      event.preventDefault();
      keepDraft(form);
      window.location.assign(ended.querySelector("a").href);
    },
    true,
  );
  stay.addEventListener("click", renew);
  ["keydown", "pointerdown", "input", "wheel"].forEach(function (type) {
    document.addEventListener(type, active, { passive: true, capture: true });
  });
  document.addEventListener("dr:session-renewed", function () {
    remember(Date.now());
  });
  window.addEventListener("storage", function (event) {
    if (event.key === KEY) tick();
    if (event.key === OUT) end(); // signed out in another tab
  });
  remember(Date.now()); // this page's own request renewed the session
  purgeDrafts(false);
  restoreDraft();
  timer = setInterval(tick, 1000);
})();
