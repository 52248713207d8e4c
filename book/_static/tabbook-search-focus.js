// The search page: focus the search field on load (the theme's inline script, as a file).
// Opened from disk (file://), the browser refuses the fetch of each result's page that Sphinx's
// excerpts need (CORS: an error in the console per result): list the results without excerpts
// and show the note that says how to serve the book.
(() => {
  const searchInput = document.querySelector("form.bd-search input");
  if (searchInput) {
    searchInput.focus();
    searchInput.select();
  }
  if (window.location.protocol === "file:") {
    DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
    const note = document.querySelector(".tabbook-search-from-disk");
    if (note) note.hidden = false;
  }
})();
