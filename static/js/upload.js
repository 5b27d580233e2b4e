// Upload page: the "Right" and "Left" zones take a click (the file chooser) or a dropped file, and show
// a preview. Without JavaScript the zones are plain file inputs and the form still works.
//
// The form is sent by this script (fetch), not by the browser: when the server refuses one eye (not a
// fundus photograph, unreadable, ...), the page it answers replaces the form and the other, valid eye's
// file is put back into its input. A browser never refills a file input from a page, so the user had to
// pick the valid photograph again. The files stay in this page's memory only, never in browser storage.
(function () {
  "use strict";
  let form = document.getElementById("upload-form");
  if (!form) return;
  const ACCEPTED = ["image/jpeg", "image/png"];
  // The file each zone shows, so that redrawing a zone that already shows its input's file does not
  // read a photograph of up to 40 megapixels into a data: URL again.
  const shown = new WeakMap();
  // For screen readers: the zone's input is named by the zone's title alone ("Right eye"), not by all the
  // text of the label round it ("Right Click or drop ...", read as a right-click), and described by the
  // server's message about it (Django's aria-describedby, kept first), then the file chosen or the hint.
  const errorIds = new WeakMap();
  // The button's words as the server wrote them, given back after "Uploading…".
  const labels = new WeakMap();

  function button() {
    return form.querySelector("#predict-button");
  }

  function describe(zone, input, file) {
    const own = zone.querySelector(file ? "[data-name]" : "[data-hint]");
    input.setAttribute("aria-describedby", errorIds.get(input).concat([own.id]).join(" "));
  }

  function show(zone, file) {
    const preview = zone.querySelector("[data-preview]");
    const name = zone.querySelector("[data-name]");
    const hint = zone.querySelector("[data-hint]");
    describe(zone, zone.querySelector("input[type=file]"), file);
    shown.set(zone, file || null);
    preview.hidden = true;
    preview.removeAttribute("src");
    name.textContent = file ? file.name : "";
    hint.hidden = Boolean(file);
    zone.classList.toggle("filled", Boolean(file));
    if (!file || !ACCEPTED.includes(file.type)) return; // the server says exactly what is wrong
    // A data: URL, not a blob: one: the Content-Security-Policy allows images from data: only.
    const reader = new FileReader();
    reader.addEventListener("load", function () {
      if (shown.get(zone) !== file) return; // another file was chosen (or the form cleared) meanwhile
      preview.src = reader.result;
      preview.hidden = false;
    });
    reader.readAsDataURL(file);
  }

  // Draw every zone from what its input holds now, and give Predict back. The browser can bring the page
  // back with files in the inputs and no "change" event: from the back/forward cache (the whole page as
  // it was when Predict was pressed: button disabled, "Uploading…") or by restoring field values on
  // load. Without this the zones said "Click or drop ..." over attached photographs, or Predict stayed
  // disabled for good. Predict is enabled whatever the inputs hold: with one missing, the server says
  // which, beside its zone.
  function redraw() {
    form.querySelectorAll("[data-zone]").forEach(function (zone) {
      const input = zone.querySelector("input[type=file]");
      const file = (input.files && input.files[0]) || null;
      zone.classList.remove("dragging");
      if (!shown.has(zone) || shown.get(zone) !== file) show(zone, file);
    });
    button().disabled = false;
    button().textContent = labels.get(form);
  }

  function setUp() {
    labels.set(form, button().textContent);
    form.querySelectorAll("[data-zone]").forEach(function (zone) {
      const input = zone.querySelector("input[type=file]");
      input.setAttribute("aria-labelledby", zone.querySelector(".zone-title").id);
      errorIds.set(input, (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean));
      describe(zone, input, null);
      input.addEventListener("change", function () {
        zone.querySelector("[data-kept]")?.remove();
        show(zone, input.files[0]);
      });
      ["dragenter", "dragover"].forEach(function (type) {
        zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
      });
      ["dragleave", "drop"].forEach(function (type) {
        zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        const files = event.dataTransfer && event.dataTransfer.files;
        if (!files || !files.length) return;
        const transfer = new DataTransfer();
        transfer.items.add(files[0]);
        input.files = transfer.files;
        zone.querySelector("[data-kept]")?.remove();
        show(zone, files[0]);
      });
    });
    form.addEventListener("reset", function () {
      form.querySelectorAll("[data-kept]").forEach(function (note) { note.remove(); });
      form.querySelectorAll("[data-zone]").forEach(function (zone) { show(zone, null); });
    });
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) return; // not sent after all (the session had ended: session-timeout.js)
      button().disabled = true;
      button().textContent = "Uploading…";
      if (!window.fetch || !window.DOMParser || !window.DataTransfer) return; // sent by the browser
      event.preventDefault();
      send();
    });
    redraw();
  }

  // The files sent, by zone: what may be put back into a zone the server did not refuse.
  function chosen() {
    const files = {};
    form.querySelectorAll("[data-zone]").forEach(function (zone) {
      const input = zone.querySelector("input[type=file]");
      if (input.files && input.files[0]) files[zone.id] = input.files[0];
    });
    return files;
  }

  function send() {
    const sent = chosen();
    const request = {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      // Asks for the new examination's address in answer, not a redirect that fetch would follow (a second,
      // audited read of the result page before the browser's own).
      headers: { "X-Upload-Page": "fetch" },
    };
    fetch(form.action || window.location.href, request)
      .then(function (response) {
        return response.text().then(function (text) { answer(response, text, sent); });
      })
      .catch(function () {
        // No answer (the connection dropped): sent the plain way instead. Nothing was filed without an
        // answer, and a pair filed after all is refused as already uploaded, naming its examination.
        HTMLFormElement.prototype.submit.call(form);
      });
  }

  function answer(response, text, sent) {
    const type = response.headers.get("Content-Type") || "";
    if (response.ok && type.indexOf("application/json") === 0) {
      // Filed. Back brings this page again as a browser's own submission left it (redrawn on "pageshow").
      window.location.assign(JSON.parse(text).location);
      return;
    }
    if (response.redirected) {
      window.location.assign(response.url); // the login page, the session having ended on the server
      return;
    }
    const page = new DOMParser().parseFromString(text, "text/html");
    const fresh = page.getElementById("upload-form");
    if (response.status === 400 && fresh) {
      refused(fresh, sent);
      return;
    }
    // Another answer (refused for too many uploads, a server error): shown as the browser would.
    document.title = page.title;
    document.body.replaceWith(document.adoptNode(page.body));
  }

  // The server's form with its messages in place of this one; each zone it did not mark invalid gets back
  // the file it held (notes come back from the server, as sent).
  function refused(fresh, sent) {
    const next = document.adoptNode(fresh);
    form.replaceWith(next);
    form = next;
    form.querySelectorAll("[data-zone]").forEach(function (zone) {
      const file = sent[zone.id];
      if (!file || zone.classList.contains("invalid")) return;
      const transfer = new DataTransfer();
      transfer.items.add(file);
      zone.querySelector("input[type=file]").files = transfer.files;
      const note = document.createElement("p");
      note.className = "zone-kept muted";
      note.setAttribute("data-kept", "");
      note.textContent = "Kept from your last try: it is sent again with the other eye. Choose another file to replace it.";
      zone.parentNode.appendChild(note);
    });
    setUp();
    focusFirstError();
  }

  // As form-errors.js does when the server sends a page: the first field to correct takes the focus.
  function focusFirstError() {
    const field = form.querySelector("[aria-invalid=true]");
    if (field) {
      field.focus();
      return;
    }
    const message = form.querySelector(".errors");
    if (message) {
      message.setAttribute("tabindex", "-1");
      message.focus();
    }
  }

  setUp();
  // Field values restored on load may land after this script ran: "load" comes after them.
  window.addEventListener("load", redraw);
  window.addEventListener("pageshow", function (event) { if (event.persisted) redraw(); });
})();
