// A passkey front end in plain JavaScript: every call goes to the Tessera JSON API.
// The options the API answers are WebAuthn Level 3 JSON, so the browser's own
// PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON read them
// and credential.toJSON() writes what the API takes back: no base64 code of our own.
"use strict";

let accessToken = null;

function log(label, value) {
  const line = label + (value === undefined ? "" : ": " + JSON.stringify(value, null, 2));
  document.getElementById("log").textContent += line + "\n";
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (accessToken) { headers.Authorization = "Bearer " + accessToken; }
  const response = await fetch(path, {
    method: method,
    headers: headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    log(method + " " + path + " failed (" + response.status + ")", answer);
    throw new Error(answer && answer.detail ? answer.detail : response.statusText);
  }
  return answer;
}

async function loggedIn(pair) {
  accessToken = pair.access_token;
  const me = await api("GET", "/me");
  document.getElementById("who").textContent = me.username;
  log("logged in as " + me.username);
}

async function passwordLogin() {
  const pair = await api("POST", "/login", {
    username: document.getElementById("username").value,
    password: document.getElementById("password").value,
  });
  await loggedIn(pair);
}

async function registerPasskey() {
  const started = await api("POST", "/passkeys/register/options");
  const options = PublicKeyCredential.parseCreationOptionsFromJSON(started.options);
  const credential = await navigator.credentials.create({ publicKey: options });
  const record = await api("POST", "/passkeys", {
    state: started.state,
    credential: credential.toJSON(),
    name: document.getElementById("passkey-name").value || undefined,
  });
  log("passkey registered", record);
}

async function passkeyLogin() {
  accessToken = null;
  const started = await api("POST", "/login/passkey/options");
  const options = PublicKeyCredential.parseRequestOptionsFromJSON(started.options);
  const credential = await navigator.credentials.get({ publicKey: options });
  const pair = await api("POST", "/login/passkey", {
    state: started.state,
    credential: credential.toJSON(),
  });
  await loggedIn(pair);
}

function button(id, action) {
  document.getElementById(id).addEventListener("click", function () {
    action().catch(function (error) { log("error", String(error)); });
  });
}

button("password-login", passwordLogin);
button("register", registerPasskey);
button("passkey-login", passkeyLogin);
