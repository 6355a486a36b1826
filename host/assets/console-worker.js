// The console's Web Worker: the engine plans a run's stored input here, off the page's
// thread. Requests and answers are JSON text: {id, run, kind: "verify" | "rules" | "whatif",
// rules?} -> {id, kind, progress} while working, then {id, kind, digest | rules | error}.
import init, { workerHas, workerLoad, workerPlan, workerRules } from "/console/classbridge_web.js";

const ready = init({ module_or_path: "/console/classbridge_web_bg.wasm" });

async function load(id, kind, run) {
  if (workerHas(run)) return;
  self.postMessage(JSON.stringify({ id, run, kind, progress: "Fetching the run's stored input" }));
  const resp = await fetch(`/api/runs/${run}/input`, { credentials: "same-origin" });
  if (!resp.ok) {
    let message = `HTTP ${resp.status}`;
    try { message = (await resp.json()).error || message; } catch (_) {}
    throw new Error(message);
  }
  // Bytes, not text: the engine reads UTF-8, and a district's input as a JavaScript string
  // would be a second copy of it.
  const bytes = new Uint8Array(await resp.arrayBuffer());
  self.postMessage(JSON.stringify({ id, run, kind, progress: "Reading the input" }));
  workerLoad(run, bytes);
}

self.onmessage = async (event) => {
  const { id, run, kind, rules } = JSON.parse(event.data);
  try {
    await ready;
    await load(id, kind, run);
    if (kind === "rules") {
      self.postMessage(JSON.stringify({ id, run, kind, rules: workerRules() }));
      return;
    }
    self.postMessage(JSON.stringify({ id, run, kind, progress: "Planning in the browser" }));
    const digest = JSON.parse(workerPlan(kind === "whatif" ? rules : undefined));
    self.postMessage(JSON.stringify({ id, run, kind, digest }));
  } catch (e) {
    self.postMessage(JSON.stringify({ id, run, kind, error: String(e && e.message ? e.message : e) }));
  }
};
