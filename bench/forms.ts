/** Just enough HTML form handling to sign up and log in through the app's real pages, as a browser would. */

export interface Form {
  action: string;
  method: string;
  /** Every named input with its default value (hidden inputs keep theirs). */
  fields: { name: string; type: string; value: string }[];
}

const attr = (tag: string, name: string): string | undefined => {
  const match = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, "i").exec(tag);
  return match ? decodeEntities(match[1] ?? match[2] ?? match[3] ?? "") : undefined;
};

function decodeEntities(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

export function parseForms(html: string): Form[] {
  const forms: Form[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const open = ` ${match[1] ?? ""}`;
    const fields: Form["fields"] = [];
    for (const input of (match[2] ?? "").matchAll(/<(input|button|textarea|select)\b([^>]*)>/gi)) {
      const tag = ` ${input[2] ?? ""}`;
      const name = attr(tag, "name");
      if (!name) continue;
      const kind = (input[1] ?? "").toLowerCase();
      const type = kind === "input" ? (attr(tag, "type") ?? "text").toLowerCase() : kind;
      if (type === "button" || type === "submit" || type === "image") continue;
      fields.push({ name, type, value: attr(tag, "value") ?? "" });
    }
    forms.push({
      action: attr(open, "action") ?? "",
      method: (attr(open, "method") ?? "get").toLowerCase(),
      fields,
    });
  }
  return forms;
}

/** The first POST form whose action matches `pattern`. */
export function findForm(html: string, pattern: RegExp): Form | undefined {
  return parseForms(html).find((form) => form.method === "post" && pattern.test(form.action));
}

/** Fills a login or sign-up form: text and email inputs get the username, password inputs the password. */
export function fillCredentials(form: Form, username: string, password: string): URLSearchParams {
  const body = new URLSearchParams();
  for (const field of form.fields) {
    if (field.type === "password") body.set(field.name, password);
    else if (field.type === "email") body.set(field.name, `${username}@example.com`);
    else if (field.type === "hidden" || field.type === "checkbox") body.set(field.name, field.value);
    else if (field.type === "text" || field.type === "textarea")
      body.set(field.name, field.value || username);
  }
  return body;
}
