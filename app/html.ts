/**
 * HTML built with a tagged template that escapes every interpolation unless it is already `SafeHtml`
 * (the result of another `html` template). User-supplied text can only reach a page escaped.
 *
 * @example
 * html`<p>Logged in as ${username}.</p>` // username "<b>" renders as &lt;b&gt;
 */
export class SafeHtml {
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
  }

  toString(): string {
    return this.#text;
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

const SPECIAL = /[&<>"'`]/;
const SPECIALS = /[&<>"'`]/g;

/** Escapes text for element content and quoted attribute values. */
export function escapeHTML(text: string): string {
  // Most interpolations (numbers, names, paths) hold nothing to escape: a test is cheaper than a
  // replace with a callback, and every page view renders a dozen of them.
  if (!SPECIAL.test(text)) return text;
  return text.replace(SPECIALS, (char) => ESCAPES[char] ?? char);
}

/** Interpolations: SafeHtml as is; arrays item by item; null, undefined and false as nothing; else escaped. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) {
    out += render(values[i]) + (strings[i + 1] ?? "");
  }
  return new SafeHtml(out);
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHTML(String(value));
}
