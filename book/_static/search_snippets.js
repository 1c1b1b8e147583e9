// Search results quote the book's prose. Sphinx cuts each snippet from the text of the page's raw
// HTML (Search.htmlToText), which holds the folded code, the outputs and the TeX source of the
// math; those are left out, and a formula becomes "…".
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined" || typeof Search.htmlToText !== "function") return;
  const pageText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const page = new DOMParser().parseFromString(htmlString, "text/html");
    page.querySelectorAll(".cell_input, .cell_output").forEach((el) => el.remove());
    page.querySelectorAll(".math").forEach((el) => el.replaceWith("…"));
    return pageText(page.documentElement.outerHTML, anchor);
  };
});
