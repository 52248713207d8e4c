// The reader's light/dark mode, set before the page is drawn (pydata-sphinx-theme's inline
// script, moved to a file so that the pages' Content-Security-Policy can forbid inline scripts).
(() => {
  const fallback = document.currentScript?.dataset.defaultMode || "auto";
  let mode = null;
  let theme = null;
  try {
    mode = localStorage.getItem("mode");
    theme = localStorage.getItem("theme");
  } catch (error) {
    // storage blocked: the default mode
  }
  document.documentElement.dataset.mode = mode || fallback;
  document.documentElement.dataset.theme = theme || fallback;
})();
