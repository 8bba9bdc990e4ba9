/**
 * The app's session schema, registered with the Fastify adapter so that `request.session` is typed
 * (`session.data.visits` is a number) everywhere in the app.
 */
export const sessionFields = { username: "string", visits: "integer" } as const;

declare module "latchkey" {
  interface SessionTypes {
    fields: typeof sessionFields;
  }
}
