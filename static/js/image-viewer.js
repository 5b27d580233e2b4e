// Result page: a photograph or heatmap opened full size in a dialog, with zoom (buttons, the mouse wheel,
// the + and - keys) and panning (drag, scroll bars). The links keep working without it: they open the image
// itself, through the same audited view.
(function () {
  "use strict";
  const dialog = document.getElementById("image-viewer");
  if (!dialog || typeof dialog.showModal !== "function") return;
  const image = dialog.querySelector("[data-viewer-image]");
  const stage = dialog.querySelector("[data-viewer-stage]");
  const title = dialog.querySelector("[data-viewer-title]");
  const zoomText = dialog.querySelector("[data-viewer-zoom]");
  const STEP = 1.5;
  const WHEEL_STEP = 1.2;
  // Eight screen pixels per photograph pixel (past that nothing new is seen), or four times the window's
  // size for a photograph smaller than the window.
  const MAX_SCALE = 8;
  let scale = 1; // screen pixels per pixel of the image

  const loaded = function () { return image.complete && image.naturalWidth > 0; };
  const fitScale = function () {
    if (!loaded()) return 1;
    return Math.min(stage.clientWidth / image.naturalWidth, stage.clientHeight / image.naturalHeight);
  };

  // Zoom to `wanted`, keeping the image point under (x, y) of the stage where it is.
  const zoom = function (wanted, x, y) {
    if (!loaded()) return;
    const anchorX = x === undefined ? stage.clientWidth / 2 : x;
    const anchorY = y === undefined ? stage.clientHeight / 2 : y;
    const before = scale;
    const left = stage.scrollLeft;
    const top = stage.scrollTop;
    scale = Math.max(Math.min(fitScale(), 1), Math.min(Math.max(MAX_SCALE, fitScale() * 4), wanted));
    // Sizes from the script (CSSOM): the Content-Security-Policy refuses style attributes, not these.
    image.style.width = Math.round(image.naturalWidth * scale) + "px";
    image.style.height = Math.round(image.naturalHeight * scale) + "px";
    stage.scrollLeft = (left + anchorX) * (scale / before) - anchorX;
    stage.scrollTop = (top + anchorY) * (scale / before) - anchorY;
    zoomText.textContent = "Zoom " + Math.round(scale * 100) + "%";
    dialog.dataset.scale = String(scale);
  };
  const fit = function () { zoom(fitScale()); };

  const open = function (link) {
    title.textContent = link.dataset.zoomTitle || "Image";
    image.alt = title.textContent + ", full size";
    image.style.width = "";
    image.style.height = "";
    zoomText.textContent = "";
    image.onload = fit;
    image.src = link.href;
    dialog.showModal();
    if (loaded()) fit();
  };

  document.querySelectorAll("[data-zoom]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      // A new tab or window asked for (Ctrl, Shift, middle button): the browser's own way.
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      open(link);
    });
  });

  const actions = {
    in: function () { zoom(scale * STEP); },
    out: function () { zoom(scale / STEP); },
    fit: fit,
    actual: function () { zoom(1); },
  };
  dialog.querySelectorAll("[data-viewer-action]").forEach(function (button) {
    button.addEventListener("click", actions[button.dataset.viewerAction]);
  });
  dialog.querySelector("[data-viewer-close]").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("click", function (event) {
    if (event.target === dialog) dialog.close(); // the backdrop
  });
  dialog.addEventListener("keydown", function (event) {
    if (event.key === "+" || event.key === "=") actions.in();
    else if (event.key === "-") actions.out();
    else if (event.key === "0") fit();
    else return;
    event.preventDefault();
  });
  dialog.addEventListener("close", function () { image.removeAttribute("src"); });

  stage.addEventListener("wheel", function (event) {
    event.preventDefault();
    const box = stage.getBoundingClientRect();
    zoom(event.deltaY < 0 ? scale * WHEEL_STEP : scale / WHEEL_STEP, event.clientX - box.left, event.clientY - box.top);
  }, { passive: false });

  let drag = null;
  stage.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, left: stage.scrollLeft, top: stage.scrollTop };
    stage.setPointerCapture(event.pointerId);
    stage.classList.add("dragging");
  });
  stage.addEventListener("pointermove", function (event) {
    if (!drag) return;
    stage.scrollLeft = drag.left - (event.clientX - drag.x);
    stage.scrollTop = drag.top - (event.clientY - drag.y);
  });
  const endDrag = function () { drag = null; stage.classList.remove("dragging"); };
  stage.addEventListener("pointerup", endDrag);
  stage.addEventListener("pointercancel", endDrag);
})();
