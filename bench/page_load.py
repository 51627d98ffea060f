"""Page load to interactive, p50/p95 over fresh browser contexts, while a LoRA job trains on the same machine.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/page_load.py [--loads 10] [--label after]

Builds a tiny Llama (tests/tiny.py) in a temporary data home, starts the whole app (``launch.py`` with its embedded worker)
in its own process, submits a LoRA job of a million steps with ``launch.py submit`` and waits until it logs a loss, then
loads the page ``--loads`` times in Debian's /usr/bin/chromium, each time in a fresh Playwright context (empty cache).

Interactive means, counted from navigation start (``performance.now()`` in the page): the six tab headers are shown, the
first tab has an enabled button, and every ``demo.load`` event and the first tab's ``select`` (Gradio fires it as that tab
mounts; the guide renders on it) have finished (an init script counts the ``queue/join`` posts and the ``process_completed``
messages of the event stream). "Jobs table" goes on from there: click the Jobs tab and wait
until the table shows the running job, then until its loss plot has drawn its line (Vega's SVG). The first load also
records what the first paint fetches (requests, JS/CSS/HTML bytes) and the server time of each load event (join to
completed). Prints markdown tables and merges its numbers under ``--label`` into bench/results/page_load.json, so
before/after runs sit side by side. Goals: interactive p95 <= 2 s, Jobs tab click to table p95 <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

# Counts the load events (queue/join posts) and their completions (process_completed messages in the event stream),
# with the in-page time of each, so that Python can wait for "every load event finished" and read when that happened.
LOAD_PROBE = """
(() => {
  const probe = window.__adaptaProbe = {joins: {}, done: {}};
  const originalFetch = window.fetch.bind(window);
  const watchStream = async (body) => {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {done, value} = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\\n\\n")) >= 0) {
        const chunk = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const line = chunk.split("\\n").find((text) => text.startsWith("data:"));
        if (!line) continue;
        try {
          const message = JSON.parse(line.slice(5));
          if (message.msg === "process_completed") {
            probe.done[message.event_id] = performance.now();
          }
        } catch (error) { /* not JSON: a heartbeat */ }
      }
    }
  };
  window.fetch = async (input, init) => {
    const url = String((input && input.url) || input);
    const startedAt = performance.now();
    const response = await originalFetch(input, init);
    if (url.includes("/queue/join")) {
      let fnIndex = null;
      try { fnIndex = JSON.parse(init.body).fn_index; } catch (error) { /* no body */ }
      response.clone().json().then((answer) => {
        probe.joins[answer.event_id] = {fn_index: fnIndex, at: startedAt};
      });
    } else if (url.includes("/queue/data") && response.body) {
      const [mine, theirs] = response.body.tee();
      watchStream(mine);
      return new Response(theirs, {status: response.status, statusText: response.statusText, headers: response.headers});
    }
    return response;
  };
})();
"""

# True (the in-page time) once the page is interactive: every load event and the first tab's select done; see the module docstring.
INTERACTIVE = """
() => {
  const config = window.gradio_config;
  const probe = window.__adaptaProbe;
  if (!config || !probe) return false;
  const firstTab = config.components.find((component) => component.props.elem_id === "tab-models");
  const onLoad = (target) => target[1] === "load" || (firstTab && target[0] === firstTab.id && target[1] === "select");
  const loadIds = new Set(config.dependencies.filter((dep) => dep.backend_fn && dep.targets.some(onLoad)).map((dep) => dep.id));
  const joins = Object.entries(probe.joins).filter(([, join]) => loadIds.has(join.fn_index));
  if (joins.length < loadIds.size || joins.some(([eventId]) => !(eventId in probe.done))) return false;
  const enabled = document.querySelector("#tab-models button:not([disabled])");
  if (document.querySelectorAll("#tabs [role=tab]").length < 6 || !enabled) return false;
  return performance.now();
}
"""


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile (p95 of 10 values is the 10th)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * percent // 100) - 1))]


def start_training(work: Path, served: Any) -> int:
    """Submit a LoRA job of a million steps on a tiny Llama with ``launch.py submit`` and wait until it logs a loss."""
    from jobs.metrics import metric_series
    from tests.served_app import run_launch
    from tests.tiny import build_tiny_llama

    model = build_tiny_llama(work / "tiny-llama")
    data = work / "train.jsonl"
    data.write_text("".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}."}) + "\n" for i in range(64)), encoding="utf-8")
    spec = work / "long.yaml"
    spec.write_text(f"task: causal-lm\nbase_model: {model}\nmethod: lora\ndata:\n  train: {data}\n"
                    "training: {max_steps: 1000000, batch_size: 4, max_length: 64}\n", encoding="utf-8")
    submitted = run_launch("submit", str(spec), home=Path(os.environ["ADAPTA_HOME"]))
    if submitted.returncode != 0:
        raise SystemExit(f"launch.py submit failed:\n{submitted.stderr[-2000:]}")
    job_id = int(submitted.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 240
    while not metric_series(job_id, "loss"):
        if time.monotonic() > deadline or served.process.poll() is not None:
            raise SystemExit(f"job {job_id} did not start training within 4 minutes; app log: {served.log}")
        time.sleep(0.5)
    return job_id


def first_paint(page: Any, responses: list[Any]) -> dict[str, Any]:
    """What the first load fetched: requests, bytes by kind, the size of the app config and its component count."""
    sizes: dict[str, int] = {"js": 0, "css": 0, "html": 0, "font": 0, "other": 0}
    for response in responses:
        url = response.url.split("?")[0]
        if "/gradio_api/" in url:  # the event stream and heartbeat never end; the events are timed by the probe
            continue
        try:
            size = len(response.body())
        except Exception:  # a redirect has no body to read
            continue
        kind = ("js" if url.endswith(".js") else "css" if url.endswith(".css") else "font" if url.endswith((".woff2", ".woff"))
                else "html" if "text/html" in (response.headers.get("content-type") or "") else "other")
        sizes[kind] += size
    return {"requests": len(responses), "bytes": sizes, "config_bytes": len(page.evaluate("JSON.stringify(window.gradio_config)")),
            "components": page.evaluate("window.gradio_config.components.length")}


# Every event this page sent so far: its trigger (load, tick, select...), its outputs (elem_id or type) and join -> completed.
EVENTS = """() => {
  const config = window.gradio_config, probe = window.__adaptaProbe;
  const byId = Object.fromEntries(config.components.map((c) => [c.id, c.props.elem_id || c.type]));
  return Object.entries(probe.joins).map(([id, join]) => {
    const dep = config.dependencies.find((d) => d.id === join.fn_index) || {outputs: [], targets: []};
    return {trigger: dep.targets.map((target) => target[1]).join(", "), outputs: dep.outputs.map((o) => byId[o]).join(", "),
            ms: (probe.done[id] || NaN) - join.at};
  });
}"""


def measure(url: str, loads: int) -> dict[str, Any]:
    """``loads`` page loads, each in a fresh context; returns the per-load times and the first load's fetch profile."""
    from playwright.sync_api import sync_playwright

    interactive, jobs_table, after_click, to_plot, events, profile = [], [], [], [], [], {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
        for index in range(loads):
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_init_script(LOAD_PROBE)
            page = context.new_page()
            responses: list[Any] = []
            page.on("response", lambda response, seen=responses: seen.append(response))
            page.goto(url)
            ready_at = page.wait_for_function(INTERACTIVE, polling="raf", timeout=60_000).json_value()
            interactive.append(float(ready_at))
            if index == 0:
                profile = first_paint(page, responses)
            clicked_at = float(page.evaluate("performance.now()"))
            page.locator("#tab-jobs-button").click()
            page.locator("#jobs-table").filter(has_text="running").first.wait_for(timeout=30_000)
            jobs_table.append(float(page.evaluate("performance.now()")))
            after_click.append(jobs_table[-1] - clicked_at)
            page.locator("#job-loss-plot svg.marks .mark-line").first.wait_for(timeout=30_000)  # the plots follow the table
            to_plot.append(float(page.evaluate("performance.now()")) - clicked_at)
            events.append({"seconds_open": jobs_table[-1] / 1000, "events": page.evaluate(EVENTS)})
            context.close()
        browser.close()
    return {"interactive_ms": interactive, "jobs_table_ms": jobs_table, "jobs_tab_click_to_table_ms": after_click, "jobs_tab_click_to_loss_plot_ms": to_plot,
            "first_paint": profile, "events": events}


def event_table(loads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per event (trigger and outputs): how many were sent per page load and their median join -> completed time."""
    grouped: dict[tuple[str, str], list[float]] = {}
    for load in loads:
        for event in load["events"]:
            grouped.setdefault((event["trigger"], event["outputs"]), []).append(event["ms"])
    return [{"trigger": trigger, "outputs": outputs if len(outputs) < 90 else outputs[:87] + "...", "per_load": len(times) / len(loads),
             "median_ms": statistics.median([time for time in times if time == time] or [float("nan")])}
            for (trigger, outputs), times in sorted(grouped.items(), key=lambda item: -len(item[1]))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--label", default="current", help="name of this run in the results file (e.g. before, after)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "page_load.json")
    args = parser.parse_args()
    for key, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                       ("GRADIO_ANALYTICS_ENABLED", "False"), ("OMP_NUM_THREADS", "1")):
        os.environ.setdefault(key, value)
    work = Path(tempfile.mkdtemp(prefix="adapta-bench-page-"))
    home = work / "home"
    os.environ["ADAPTA_HOME"] = str(home)

    from jobs.metrics import metric_series
    from tests.served_app import run_launch, served_app

    with served_app([], home=home) as served:
        job_id = start_training(work, served)
        result = measure(served.url, args.loads)
        steps = len(metric_series(job_id, "loss"))
        run_launch("cancel", str(job_id), home=home)

    interactive, jobs_table, after_click = result["interactive_ms"], result["jobs_table_ms"], result["jobs_tab_click_to_table_ms"]
    result["event_table"] = event_table(result.pop("events"))
    summary = {"loads": args.loads, "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 1), "training_job_logged_steps": steps,
               "interactive_p50_ms": round(statistics.median(interactive)), "interactive_p95_ms": round(percentile(interactive, 95)),
               "jobs_table_p50_ms": round(statistics.median(jobs_table)), "jobs_table_p95_ms": round(percentile(jobs_table, 95)),
               "click_to_table_p50_ms": round(statistics.median(after_click)), "click_to_table_p95_ms": round(percentile(after_click, 95)),
               "click_to_loss_plot_p50_ms": round(statistics.median(result["jobs_tab_click_to_loss_plot_ms"])),
               "click_to_loss_plot_p95_ms": round(percentile(result["jobs_tab_click_to_loss_plot_ms"], 95)),
               **result}
    print(f"\nPage load with a LoRA job training on this machine ({os.cpu_count()} CPUs, load average {summary['load_average_1min']} at the end; "
          f"the job logged {steps} steps meanwhile)\n")
    print("| measurement (fresh browser context each) | n | p50 (ms) | p95 (ms) | goal |")
    print("|---|---|---|---|---|")
    print(f"| navigation → interactive (tabs, first tab's buttons, every load event done) | {len(interactive)} | "
          f"{summary['interactive_p50_ms']} | {summary['interactive_p95_ms']} | p95 ≤ 2000 |")
    print(f"| navigation → Jobs tab opened and its table showing the running job | {len(jobs_table)} | "
          f"{summary['jobs_table_p50_ms']} | {summary['jobs_table_p95_ms']} | |")
    print(f"| Jobs tab header clicked → its table showing the running job | {len(after_click)} | "
          f"{summary['click_to_table_p50_ms']} | {summary['click_to_table_p95_ms']} | p95 ≤ 1000 |")
    print(f"| Jobs tab header clicked → its loss plot drawn | {len(after_click)} | "
          f"{summary['click_to_loss_plot_p50_ms']} | {summary['click_to_loss_plot_p95_ms']} | |")
    profile = result["first_paint"]
    print(f"\nFirst paint: {profile['requests']} requests, " + ", ".join(f"{kind} {size / 1024:.0f} KiB" for kind, size in profile["bytes"].items())
          + f"; config {profile['config_bytes'] / 1024:.0f} KiB, {profile['components']} components\n")
    print(f"Events each page sent (a page was open {statistics.mean(jobs_table) / 1000:.1f} s on average):\n")
    print("| trigger | outputs | per page load | median join → completed (ms) |")
    print("|---|---|---:|---:|")
    for event in summary["event_table"]:
        print(f"| {event['trigger']} | {event['outputs']} | {event['per_load']:.1f} | {event['median_ms']:.0f} |")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.output.read_text(encoding="utf-8")) if args.output.exists() else {}
    previous[args.label] = summary
    args.output.write_text(json.dumps(previous, indent=2), encoding="utf-8")
    print(f"\nwrote {args.output} (label {args.label!r})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
