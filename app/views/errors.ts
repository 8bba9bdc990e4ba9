import { html, type SafeHtml } from "../html.js";
import { layout, type PageContext } from "./layout.js";

/** Titles and messages of the error pages, by status. Nothing here comes from the request or the error. */
const ERROR_PAGES: Readonly<Record<number, { title: string; message: string }>> = {
  400: {
    title: "Bad request",
    message: "The request could not be understood. Please go back and try again.",
  },
  403: {
    title: "Request refused",
    message: "This request came from another site, so it was refused. Use the forms on this site.",
  },
  404: { title: "Page not found", message: "There is nothing at this address." },
  405: { title: "Method not allowed", message: "This page does not accept that kind of request." },
  408: { title: "Request timeout", message: "The request took too long to arrive. Please try again." },
  413: { title: "Request too large", message: "The form sent was too large." },
  414: { title: "Address too long", message: "The address of this request is too long." },
  415: { title: "Unsupported form", message: "Please submit the form from this site." },
  431: { title: "Headers too large", message: "The request carried too much header data (cookies?)." },
  429: { title: "Too many attempts", message: "Too many attempts. Please wait a while and try again." },
  500: {
    title: "Something went wrong",
    message: "An unexpected error happened on our side. Please try again.",
  },
  503: {
    title: "Service temporarily unavailable",
    message: "The session store is not answering right now. Please try again in a moment.",
  },
};

export function errorPage(context: PageContext, status: number, message?: string): SafeHtml {
  const page = ERROR_PAGES[status] ?? (status >= 500 ? ERROR_PAGES[500] : ERROR_PAGES[400]);
  const { title, message: fallback } = page ?? { title: "Error", message: "" };
  return layout(context, {
    title,
    body: html`<p class="code" aria-hidden="true">${status}</p>
    <h1>${title}</h1>
    <p>${message ?? fallback}</p>
    <div class="actions"><a class="button secondary" href="/">Go to the home page</a></div>`,
  });
}
