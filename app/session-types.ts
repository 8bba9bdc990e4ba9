/**
 * The app's session schema, registered with the Fastify adapter so that `request.session` is typed
 * (`session.data.visits` is a number) everywhere in the app.
 */
export const sessionFields = { username: "string", visits: "integer", theme: "string" } as const;

/** What a visitor's session carries across login (everything else of an anonymous session ends). */
export const KEPT_AT_LOGIN = ["theme"] as const;

declare module "latchkey" {
  interface SessionTypes {
    fields: typeof sessionFields;
  }
}
