/**
 * The app's session schema, registered with the Fastify adapter so that `request.session` is typed
 * (`session.data.visits` is a number) everywhere in the app. The colour theme is no session field: it
 * lives in a cookie of its own (theme.ts), so that choosing one writes nothing to the store.
 */
export const sessionFields = { username: "string", visits: "integer" } as const;

declare module "latchkey" {
  interface SessionTypes {
    fields: typeof sessionFields;
  }
}
