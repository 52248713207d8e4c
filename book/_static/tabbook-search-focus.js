// The search page: focus the search field on load (the theme's inline script, as a file).
(() => {
  const searchInput = document.querySelector("form.bd-search input");
  if (searchInput) {
    searchInput.focus();
    searchInput.select();
  }
})();
