/** @type {import("next").NextConfig} */
export default {
  // latchkey is loaded by Node at run time, not bundled: its optional peers (ioredis, node-redis) are
  // imported only when used, and one copy of the module serves every route.
  serverExternalPackages: ["latchkey"],
};
