// Hash routes, so the server only ever serves index.html: "#/pods/NS/NAME"
// is the route ["pods", "NS", "NAME"].

import { observable } from "./state.js";

export function parseHash(hash) {
  return hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter(Boolean)
    .map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part;
      }
    });
}

export const route = observable(parseHash(location.hash));
window.addEventListener("hashchange", () => route.set(parseHash(location.hash)));

export function href(...parts) {
  return "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
}
