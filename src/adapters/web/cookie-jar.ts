/** The attributes a framework's cookie store takes, in the names Next.js and SvelteKit share. */
export interface CookieJarOptions {
  httpOnly: true;
  secure: boolean;
  sameSite: "lax" | "strict" | "none";
  path: string;
  domain?: string;
  /** Seconds; absent for a cookie that ends with the browser, 0 to delete it. */
  maxAge?: number;
  partitioned?: boolean;
}

/**
 * A framework's cookie store that sets a cookie by name, value and attributes: Next.js `await cookies()`
 * (in a server action or route handler), SvelteKit's `event.cookies`.
 */
export interface CookieJar {
  set(name: string, value: string, options: CookieJarOptions): unknown;
}

/**
 * Sets a Set-Cookie value made by `serializeCookie` in a cookie store. Only that format is read: the
 * name and value, then `; `-separated attributes.
 */
export function setInJar(jar: CookieJar, setCookie: string): void {
  const [pair = "", ...attributes] = setCookie.split("; ");
  const equals = pair.indexOf("=");
  const options: CookieJarOptions = { httpOnly: true, secure: false, sameSite: "lax", path: "/" };
  for (const attribute of attributes) {
    const [key = "", value = ""] = attribute.split("=");
    switch (key.toLowerCase()) {
      case "max-age":
        options.maxAge = Number(value);
        break;
      case "domain":
        options.domain = value;
        break;
      case "path":
        options.path = value;
        break;
      case "secure":
        options.secure = true;
        break;
      case "samesite":
        options.sameSite = value.toLowerCase() as CookieJarOptions["sameSite"];
        break;
      case "partitioned":
        options.partitioned = true;
        break;
    }
  }
  jar.set(pair.slice(0, equals), pair.slice(equals + 1), options);
}
