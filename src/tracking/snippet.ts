/**
 * The site snippet served at `/s.js`: an anonymous id kept in localStorage,
 * the `_nt` identity a tracked email link carries (taken off the address bar),
 * an automatic page view, and `nurture.identify(email, traits, signature)` /
 * `nurture.track(name, properties)`; `signature` is the `identity_signature`
 * the shop's backend renders for a logged-in customer. A `<form data-nurture-signup>` is sent as a `signup`
 * (its `email`, `name` or `first_name`/`last_name`, Turnstile's `cf-turnstile-response`, every other named field
 * as a trait the server filters by SNIPPET_TRAITS) and answered inline in its `[data-nurture-message]` element
 * (added when absent) with the form's `data-success` / `data-error` text. It posts `text/plain` JSON, a CORS-simple
 * request, so no preflight is needed; a network failure is swallowed, never an
 * uncaught rejection in the shop's console. Bump the version when it changes.
 */
export const SNIPPET_VERSION = "4";

export const SNIPPET = `/* Nurture snippet v${SNIPPET_VERSION} */
(function (w, d) {
  var s = d.currentScript, key = s && s.getAttribute("data-site-key");
  if (!s || !key) return;
  var endpoint = new URL(s.src).origin + "/v1/collect", store = w.localStorage, aid;
  try { aid = store.getItem("nurture_aid"); } catch (e) {}
  if (!aid) {
    aid = (w.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now();
    try { store.setItem("nurture_aid", aid); } catch (e) {}
  }
  var url = new URL(w.location.href), nt = url.searchParams.get("_nt");
  if (nt) {
    url.searchParams.delete("_nt");
    try { w.history.replaceState(w.history.state, "", url.toString()); } catch (e) {}
  }
  function send(message) {
    message.site_key = key; message.anonymous_id = aid; message.url = w.location.href; message.ts = Date.now();
    if (nt) message.nt = nt;
    // A shop's page must never show Nurture's outages: a failed send resolves to nothing instead of rejecting.
    return fetch(endpoint, { method: "POST", body: JSON.stringify(message), keepalive: true, mode: "cors", credentials: "omit", headers: { "content-type": "text/plain" } })
      .catch(function () {});
  }
  w.nurture = {
    page: function (properties) { return send({ type: "page", properties: properties || { title: d.title, referrer: d.referrer } }); },
    track: function (event, properties) { return send({ type: "track", event: event, properties: properties || {} }); },
    identify: function (email, traits, signature) {
      var message = { type: "identify", email: email, traits: traits || {} };
      if (signature) message.identity_signature = signature;
      return send(message);
    }
  };
  // One listener on the document catches every sign-up form, also those the page adds later.
  d.addEventListener("submit", function (e) {
    var form = e.target, traits = {}, message = { type: "signup", traits: traits }, say;
    if (!form.hasAttribute || !form.hasAttribute("data-nurture-signup")) return;
    e.preventDefault();
    new FormData(form).forEach(function (v, k) {
      if (typeof v != "string") return;
      if (k == "email") message.email = v.trim();
      else if (k == "cf-turnstile-response") message.turnstile_token = v;
      else if (k == "name") {
        var parts = v.trim().split(/\\s+/);
        traits.first_name = parts.shift();
        if (parts.length) traits.last_name = parts.join(" ");
      } else traits[k] = v;
    });
    say = form.querySelector("[data-nurture-message]");
    if (!say) {
      say = form.appendChild(d.createElement("p"));
      say.setAttribute("data-nurture-message", "");
      say.setAttribute("role", "status");
    }
    send(message).then(function (res) {
      var ok = !!res && res.status == 202;
      form.setAttribute("data-nurture-state", ok ? "success" : "error");
      say.textContent = form.getAttribute(ok ? "data-success" : "data-error") ||
        (ok ? "Thank you for signing up! Please check your inbox." : "Sorry, that did not work. Please check your email address and try again.");
      if (ok) form.reset();
    });
  });
  w.nurture.page();
})(window, document);
`;
