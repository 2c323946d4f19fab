import { act } from "react";
import { createRoot } from "react-dom/client";
import { afterEach, expect, test } from "vitest";
import { CreateOrg } from "./create-org.jsx";

globalThis.IS_REACT_ACT_ENVIRONMENT = true;
const server = process.env.SUBMIT_GUARD_SERVER;
let root;

afterEach(() => act(() => root?.unmount()));

test("10 submissions in one task post once to the relative /api/orgs, and the server gets it", async () => {
  expect(location.origin).toBe(new URL(server).origin);
  await fetch(`${server}/api/_reset`, { method: "POST" });
  const container = document.body.appendChild(document.createElement("div"));
  root = createRoot(container);
  await act(() => root.render(<CreateOrg />));
  const form = container.querySelector("form");
  await act(async () => {
    for (let i = 0; i < 10; i += 1) form.requestSubmit();
  });
  await expect.poll(() => container.querySelector("output").textContent, { timeout: 10_000 }).toBe("created 201");

  const requests = await (await fetch(`${server}/api/_requests`)).json();
  const posts = requests.filter((r) => r.method === "POST" && r.path.startsWith("/api/orgs"));
  expect(posts).toHaveLength(1);
  expect(posts[0].key).toMatch(/^[0-9a-f-]{36}$/);
  expect(posts[0].status).toBe(201);
});
