// Upload page: the "Right" and "Left" zones take a click (the file chooser) or a dropped file, and show
// a preview. Without JavaScript the zones are plain file inputs and the form still works.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const ACCEPTED = ["image/jpeg", "image/png"];
  const button = document.getElementById("predict-button");
  const buttonLabel = button.textContent;
  // The file each zone shows, so that redrawing a zone that already shows its input's file does not
  // read a photograph of up to 40 megapixels into a data: URL again.
  const shown = new WeakMap();

  // For screen readers: the zone's input is named by the zone's title alone ("Right eye"), not by all the
  // text of the label round it ("Right Click or drop ...", read as a right-click), and described by the
  // server's message about it (Django's aria-describedby, kept first), then the file chosen or the hint.
  const errorIds = new WeakMap();
  function describe(zone, input, file) {
    const own = zone.querySelector(file ? "[data-name]" : "[data-hint]");
    input.setAttribute("aria-describedby", errorIds.get(input).concat([own.id]).join(" "));
  }
  form.querySelectorAll("[data-zone]").forEach(function (zone) {
    const input = zone.querySelector("input[type=file]");
    input.setAttribute("aria-labelledby", zone.querySelector(".zone-title").id);
    errorIds.set(input, (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean));
    describe(zone, input, null);
  });

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
    button.disabled = false;
    button.textContent = buttonLabel;
  }

  form.querySelectorAll("[data-zone]").forEach(function (zone) {
    const input = zone.querySelector("input[type=file]");
    input.addEventListener("change", function () { show(zone, input.files[0]); });
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
      show(zone, files[0]);
    });
  });

  form.addEventListener("reset", function () {
    form.querySelectorAll("[data-zone]").forEach(function (zone) { show(zone, null); });
  });
  form.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return; // not sent after all (the session had ended: session-timeout.js)
    button.disabled = true;
    button.textContent = "Uploading…";
  });

  redraw();
  // Field values restored on load may land after this script ran: "load" comes after them.
  window.addEventListener("load", redraw);
  window.addEventListener("pageshow", function (event) { if (event.persisted) redraw(); });
})();
