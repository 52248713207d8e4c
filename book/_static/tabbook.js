// The book's own behaviour on top of sphinx-design's synced tabs (design-tabs.js):
//
// * ?framework=<name> in the address selects a framework whatever its case (PyTorch, pytorch);
//   an unknown name is dropped from the address, so the reader's saved choice stays as it was.
//   This runs while the page is parsed, before design-tabs.js reads the address.
// * A page opened from a search result highlights the search terms, scrolls to the first match
//   and, when that match is in a framework tab that is not selected (or in a closed solution),
//   opens it.
// * On a phone (a window narrower than PHONE_WIDTH), each chapter's "Run it yourself" box
//   starts closed, so that it does not fill the first screen; it is open everywhere else, and
//   in print (tabbook/pdf.py opens every <details>).
"use strict";
(() => {
  const script = document.currentScript;
  const group = script?.dataset.syncGroup || "framework";
  const known = (script?.dataset.frameworks || "").split(/\s+/).filter(Boolean);

  function normaliseFrameworkParameter() {
    const url = new URL(window.location.href);
    if (!url.searchParams.has(group)) return;
    const asked = (url.searchParams.get(group) || "").trim().toLowerCase();
    if (known.includes(asked)) {
      url.searchParams.set(group, asked);
    } else {
      url.searchParams.delete(group);
      console.warn(`[tabbook] ?${group}= names no framework of this book (${known.join(", ")}); ignored`);
    }
    try {
      window.history.replaceState(window.history.state, "", url);
    } catch (error) {
      // file:// pages may refuse replaceState in some browsers: then only a valid name is used
    }
  }

  function selectTabsOf(element) {
    for (let panel = element.closest(".sd-tab-content"); panel;
      panel = panel.parentElement?.closest(".sd-tab-content")) {
      const label = panel.previousElementSibling;
      const id = label?.dataset.syncId;
      const labels = id
        ? document.querySelectorAll(`.sd-tab-label[data-sync-group="${label.dataset.syncGroup}"][data-sync-id="${id}"]`)
        : [label];
      // The same framework in every group of the page, as a click would, but not saved: the
      // reader's own choice is kept for the next page.
      labels.forEach((other) => {
        const input = other?.previousElementSibling;
        if (input instanceof HTMLInputElement) input.checked = true;
      });
    }
    for (let details = element.closest("details"); details;
      details = details.parentElement?.closest("details")) {
      details.open = true;
    }
  }

  function searchTerms() {
    let stored = null;
    try {
      stored = localStorage.getItem("sphinx_highlight_terms");
    } catch (error) {
      // storage blocked
    }
    return stored || new URL(window.location.href).searchParams.get("highlight") || "";
  }

  function landOnSearchHit() {
    const article = document.querySelector("article.bd-article") || document.body;
    let id = window.location.hash.slice(1);
    try {
      id = decodeURIComponent(id);
    } catch (error) {
      // A malformed escape (a hand-edited or truncated link): look the fragment up as written.
    }
    const section = id ? document.getElementById(id) : null;
    let tries = 0;
    const look = () => {
      // sphinx_highlight.js wraps each match in span.highlighted shortly after the page loads
      let hits = Array.from(article.querySelectorAll("span.highlighted"));
      if (section) hits = hits.filter((hit) => section.contains(hit)).concat(hits.filter((hit) => !section.contains(hit)));
      if (hits.length === 0) {
        if (++tries < 60) window.setTimeout(look, 50);
        return;
      }
      const hit = hits.find((candidate) => candidate.getClientRects().length > 0) || hits[0];
      selectTabsOf(hit);
      hit.classList.add("tabbook-search-hit");
      hit.scrollIntoView({ block: "center" });
    };
    look();
  }

  const PHONE_WIDTH = 576; // Bootstrap's "sm" breakpoint, where the theme's layout turns to a phone's

  function closeRunBoxesOnAPhone() {
    if (!window.matchMedia(`(max-width: ${PHONE_WIDTH - 0.02}px)`).matches) return;
    document.querySelectorAll("details.tabbook-run").forEach((box) => { box.open = false; });
  }

  normaliseFrameworkParameter();
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", closeRunBoxesOnAPhone);
  } else {
    closeRunBoxesOnAPhone();
  }
  if (searchTerms().trim()) {
    document.addEventListener("DOMContentLoaded", () => {
      if (document.querySelector(".bd-search-container")) return; // the search page itself
      // The theme loads searchtools.js on every page, which makes sphinx_highlight.js believe
      // every page is the search page: so the highlighting is started here.
      if (typeof SphinxHighlight !== "undefined") SphinxHighlight.highlightSearchWords();
      landOnSearchHit();
    });
  }
})();
