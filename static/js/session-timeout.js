// Every signed-in page: warn before the idle session ends, and let the user stay signed in.
//
// The session ends after SESSION_IDLE_TIMEOUT_SECONDS without a request. Typing a long review note is no
// request, so a doctor could lose the note on "Sign off" to the login page. Shown `data-warning` seconds
// before the end (WCAG 2.2.1: at least 20 seconds to answer, and a simple way to extend); "Stay signed in"
// renews the session. Every tab of the portal shares the time of the last request through localStorage,
// so activity in one tab keeps another's warning away; a page that talks to the server in the background
// (the result page's polling) says so with the "dr:session-renewed" event.
(function () {
  "use strict";
  const box = document.getElementById("session-timeout");
  if (!box) return;
  const KEY = "dr-portal-session-renewed";
  const idle = Number(box.dataset.seconds) * 1000;
  const warning = Number(box.dataset.warning) * 1000;
  const left = box.querySelector(".session-timeout-left");
  const live = box.querySelector(".session-timeout-live");
  const ended = box.querySelector(".session-timeout-ended");
  const stay = box.querySelector(".session-timeout-stay");
  let renewed = Date.now();
  let timer = null;
  let returnFocus = null;

  function remember(time) {
    renewed = Math.max(renewed, time);
    try {
      localStorage.setItem(KEY, String(renewed));
    } catch (error) {
      // Storage refused (private mode, quota): this tab keeps its own time.
    }
  }

  function shared() {
    try {
      return Number(localStorage.getItem(KEY)) || 0;
    } catch (error) {
      return 0;
    }
  }

  function hide() {
    if (box.hidden) return;
    box.hidden = true;
    if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
    returnFocus = null;
  }

  function show(secondsLeft) {
    left.textContent = secondsLeft === 1 ? "1 second" : secondsLeft + " seconds";
    if (!box.hidden) return;
    returnFocus = document.activeElement;
    box.hidden = false;
    stay.focus();
  }

  function end() {
    clearInterval(timer);
    live.hidden = true;
    stay.hidden = true;
    ended.hidden = false;
    box.hidden = false;
    ended.querySelector("a").focus();
  }

  function tick() {
    renewed = Math.max(renewed, shared());
    const remaining = renewed + idle - Date.now();
    if (remaining <= 0) return end();
    if (remaining <= warning) return show(Math.ceil(remaining / 1000));
    hide();
  }

  stay.addEventListener("click", function () {
    stay.disabled = true;
    fetch(box.dataset.keepalive, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": box.dataset.csrf, Accept: "application/json" },
    })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) return end();
        if (!response.ok) throw new Error(response.status);
        remember(Date.now());
        hide();
      })
      .catch(function () {
        // The server did not answer: say nothing new, the countdown goes on and the button can be pressed again.
      })
      .finally(function () {
        stay.disabled = false;
      });
  });
  document.addEventListener("dr:session-renewed", function () {
    remember(Date.now());
  });
  window.addEventListener("storage", function (event) {
    if (event.key === KEY) tick();
  });
  remember(Date.now()); // this page's own request renewed the session
  timer = setInterval(tick, 1000);
})();
