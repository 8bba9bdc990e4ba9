/**
 * Peer: express 5 + express-session + connect-redis, configured as their READMEs recommend (node-redis
 * client, resave false, saveUninitialized false) plus rolling and a 30-minute maxAge for the sliding TTL.
 */
import { RedisStore } from "connect-redis";
import express from "express";
import session from "express-session";
import { createClient } from "redis";
import {
  exitOnSIGTERM,
  IDLE_TIMEOUT_SECONDS,
  NOT_LOGGED_IN_PAGE,
  renderPage,
  serverEnv,
  usernameFrom,
} from "./page.js";

declare module "express-session" {
  interface SessionData {
    username: string;
    visits: number;
  }
}

exitOnSIGTERM();
const { port, redisURL } = serverEnv();
const client = createClient({ url: redisURL });
client.on("error", (error: unknown) => console.error(error));
await client.connect();

const app = express();
app.use(
  session({
    store: new RedisStore({ client }),
    secret: "bench secret: not a secret at all",
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { maxAge: IDLE_TIMEOUT_SECONDS * 1000, httpOnly: true, sameSite: "lax" },
  }),
);

app.get("/", (req, res) => {
  const username = req.session.username;
  if (username === undefined) {
    res.status(401).type("html").send(NOT_LOGGED_IN_PAGE);
    return;
  }
  const visits = (req.session.visits ?? 0) + 1;
  req.session.visits = visits;
  res.set("cache-control", "no-store").type("html").send(renderPage(username, visits));
});

app.post("/login", (req, res, next) => {
  req.session.regenerate((error) => {
    if (error) return next(error);
    req.session.username = usernameFrom(req.url);
    req.session.visits = 0;
    res.send("ok");
  });
});

app.post("/logout", (req, res, next) => {
  req.session.destroy((error) => {
    if (error) return next(error);
    res.send("bye");
  });
});

app.listen(port, "127.0.0.1");
