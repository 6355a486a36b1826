// Starts the console's WebAssembly; a file of its own because the CSP allows no inline script.
import init from "/console/classbridge_web.js";
init({ module_or_path: "/console/classbridge_web_bg.wasm" }).then(() => {
  document.body.dataset.ready = "true";
}).catch((e) => {
  document.getElementById("app").textContent = "The console could not start: " + e;
});
