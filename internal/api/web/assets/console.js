// Kollektiv console: live progress of sources from their event streams.
// Pages work without this script; it only keeps stages and counts current.
"use strict";

(function () {
  // A browser opens about six connections to one host over HTTP/1.1:
  // follow at most three sources at once, the next when one finishes.
  const maxStreams = 3;
  const terminal = new Set(["completed", "failed"]);
  let open = 0;
  const queue = [];

  function set(el, field, value) {
    const node = el.querySelector('[data-field="' + field + '"]');
    if (node && value !== undefined && value !== null) node.textContent = String(value);
  }

  function setStage(el, stage) {
    const node = el.querySelector('[data-field="stage"]');
    if (!node) return;
    node.textContent = stage;
    node.className = "stage stage-" + stage;
    el.dataset.stage = stage;
  }

  function progressText(p) {
    if (p.pages_fetched !== undefined) return p.pages_fetched + " pages fetched";
    return (p.documents_processed || 0) + "/" + (p.documents_total || 0) + " documents, " +
      (p.chunks_embedded || 0) + "/" + (p.chunks_written || 0) + " chunks embedded";
  }

  function follow(el) {
    open++;
    const source = new EventSource(el.dataset.events);
    let finished = false;
    const done = function () {
      source.close();
      if (finished) return;
      finished = true;
      open--;
      next();
    };
    source.addEventListener("snapshot", function (e) {
      const v = JSON.parse(e.data);
      setStage(el, v.stage);
      set(el, "documents", v.documents);
      set(el, "chunks", v.chunks);
      set(el, "failed", v.failed_documents);
      if (!terminal.has(v.stage)) set(el, "progress", progressText(v.progress || {}));
    });
    source.addEventListener("progress", function (e) {
      const ev = JSON.parse(e.data);
      set(el, "progress", progressText(ev.payload || {}));
    });
    ["created", "crawling", "processing_scheduled", "chunks_generated", "summary_generated", "completed", "failed"].forEach(function (stage) {
      source.addEventListener(stage, function (e) {
        const ev = JSON.parse(e.data);
        const p = ev.payload || {};
        setStage(el, stage);
        set(el, "documents", p.documents);
        set(el, "chunks", p.chunks);
        if (typeof p.failed_documents === "number") set(el, "failed", p.failed_documents);
        else if (Array.isArray(p.failed_documents)) set(el, "failed", p.failed_documents.length);
        if (terminal.has(stage)) {
          set(el, "progress", "–");
          done();
          // A source's page shows its summary and documents once done.
          if (el.hasAttribute("data-reload")) window.location.reload();
        }
      });
    });
    source.onerror = function () {
      // The stream answered 204 (nothing more) or an error: stop; the
      // browser retries a dropped connection by itself while it is open.
      if (source.readyState === EventSource.CLOSED) done();
    };
  }

  function next() {
    while (open < maxStreams && queue.length > 0) follow(queue.shift());
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live][data-events]").forEach(function (el) { queue.push(el); });
    next();
  });
})();
