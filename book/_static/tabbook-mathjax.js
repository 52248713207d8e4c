// MathJax's configuration (pages with math only): typeset only the math that MyST marked, as
// myst-parser's inline configuration did, from a file so that no inline script is needed.
window.MathJax = {
  options: { processHtmlClass: "tex2jax_process|mathjax_process|math|output_area" },
};
