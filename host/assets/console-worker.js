// The console's Web Worker: the engine plans a run's stored input here, off the page's
// thread. Requests and answers are JSON text: {id, run, kind: "verify" | "rules" | "whatif",
// rules?} -> {id, kind, progress} while working, then {id, kind, digest | rules | error}.
// The input is fetched for each request and handed to the engine as it arrives, never kept:
// between requests the worker holds no copy of the district.
import init, { workerAppend, workerHasScores, workerPlan, workerReceive, workerRules } from "/console/classbridge_web.js";

const ready = init({ module_or_path: "/console/classbridge_web_bg.wasm" });

async function input(id, kind, run) {
  self.postMessage(JSON.stringify({ id, run, kind, progress: "Fetching the run's stored input" }));
  const resp = await fetch(`/api/runs/${run}/input`, { credentials: "same-origin" });
  if (!resp.ok) {
    let message = `HTTP ${resp.status}`;
    try { message = (await resp.json()).error || message; } catch (_) {}
    throw new Error(message);
  }
  // Handed to the engine chunk by chunk as it arrives: a district's input is never a
  // JavaScript string or buffer besides the engine's copy.
  workerReceive(Number(resp.headers.get("X-Input-Bytes")) || 0);
  const reader = resp.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    workerAppend(value);
  }
}

self.onmessage = async (event) => {
  const { id, run, kind, rules } = JSON.parse(event.data);
  try {
    await ready;
    if (kind === "rules") {
      await input(id, kind, run);
      self.postMessage(JSON.stringify({ id, run, kind, rules: workerRules() }));
      return;
    }
    if (kind === "whatif" && !workerHasScores(run)) {
      // The grades the stored rules export, which the edited rules' are compared with.
      await input(id, kind, run);
      self.postMessage(JSON.stringify({ id, run, kind, progress: "Planning under the stored rules" }));
      workerPlan(run, undefined);
    }
    await input(id, kind, run);
    self.postMessage(JSON.stringify({ id, run, kind, progress: "Planning in the browser" }));
    const digest = JSON.parse(workerPlan(run, kind === "whatif" ? rules : undefined));
    self.postMessage(JSON.stringify({ id, run, kind, digest }));
  } catch (e) {
    self.postMessage(JSON.stringify({ id, run, kind, error: String(e && e.message ? e.message : e) }));
  }
};
