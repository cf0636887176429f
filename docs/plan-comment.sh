#!/usr/bin/env bash
# Regenerates docs/plan-comment.png, the picture of the pull-request comment in README.md,
# from a real run: the example repository (examples/quickstart) applied to the embedded
# emulator, a pull request that changes it, and the preview job's command of
# examples/ci/github-actions.yml. The markdown is rendered to HTML with GitHub's styles
# (the npm packages marked, marked-alert and github-markdown-css) and screenshot by
# headless Chromium (Debian's `chromium` package). Folded sections are shown unfolded.
#
# Run by hand after changing the comment: bash docs/plan-comment.sh. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
for tool in node npm chromium git; do
  command -v "$tool" >/dev/null || { echo "needs $tool (chromium: apt-get install chromium)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build -q -p flagsync
flagsync="$root/target/debug/flagsync"
gitc() { git -C "$repo" -c user.name=flagsync -c user.email=dev@flagsync.invalid -c commit.gpgsign=false "$@"; }

# main: the example repository, applied to the embedded emulator (state in .flagsync/).
repo="$work/flags"
cp -r examples/quickstart "$repo"
rm -rf "$repo/.flagsync"
gitc init -q -b main
gitc add -A
gitc commit -q -m "flags"
"$flagsync" apply "$repo" --auto-approve >/dev/null

# The pull request: a new condition for early adopters in Production, a stricter target
# group, a new experiment in Staging, and a retired one.
gitc checkout -q -b early-adopters
python3 - "$repo" <<'PY'
import pathlib, sys
repo = pathlib.Path(sys.argv[1])
checkout = repo / "environments/Production/new-checkout.yml"
checkout.write_text(checkout.read_text().replace(
    "  - group:\n      name:\n        - Beta Users",
    "  - group:\n      name: Early adopters\n    value: true\n  - group:\n      name:\n        - Beta Users"))
group = repo / "target_groups/Beta Users.yml"
group.write_text(group.read_text().replace("4.6.0", "4.7.0"))
(repo / "environments/Staging/search.yml").write_text(
    "type: experiment\nflag: search.v2\ndescription: The new search page\nvalue: true\n")
(repo / "environments/Staging/button-color.yml").unlink()
PY
gitc add -A
gitc commit -q -m "Early adopters get the new checkout"

# The preview job's command (examples/ci/github-actions.yml), with FLAGSYNC_PRUNE=true.
(cd "$repo" && FLAGSYNC_PRUNE=true && {
  "$flagsync" plan --prune="$FLAGSYNC_PRUNE" --format markdown --out plan.json --detailed-exitcode > comment.md || [ $? -eq 2 ]
}) 2>/dev/null
cp "$repo/comment.md" "$work/comment.md"

# Markdown to HTML as GitHub shows a comment.
npm install --silent --prefix "$work/npm" marked@15 marked-alert@2 github-markdown-css@5 >/dev/null
cat >"$work/npm/render.mjs" <<'JS'
import fs from "node:fs";
import { createRequire } from "node:module";
import { Marked } from "marked";
import markedAlert from "marked-alert";
const require = createRequire(import.meta.url);
const [input, output] = process.argv.slice(2);
let html = new Marked().use(markedAlert()).parse(fs.readFileSync(input, "utf8"));
// GitHub colours the lines of a diff block.
html = html.replace(/<code class="language-diff">([\s\S]*?)<\/code>/g, (_, body) =>
  '<code class="language-diff">' +
  body.split("\n").map((l) =>
    l.startsWith("+") ? `<span class="add">${l}</span>` :
    l.startsWith("-") ? `<span class="del">${l}</span>` : l).join("\n") + "</code>");
html = html.replaceAll("<details>", "<details open>");
const css = fs.readFileSync(require.resolve("github-markdown-css/github-markdown-light.css"), "utf8");
fs.writeFileSync(output, `<!doctype html><html><head><meta charset="utf-8"><style>${css}
body { margin: 0; background: #fff; }
.markdown-body { box-sizing: border-box; width: 860px; margin: 16px; padding: 16px 24px;
  border: 1px solid #d0d7de; border-radius: 6px; }
.markdown-body .add { color: #116329; background: #dafbe1; display: inline-block; min-width: 100%; }
.markdown-body .del { color: #82071e; background: #ffebe9; display: inline-block; min-width: 100%; }
</style></head><body><article class="markdown-body">${html}</article>
<script>document.title = String(document.documentElement.scrollHeight);</script></body></html>`);
JS
node "$work/npm/render.mjs" "$work/comment.md" "$work/comment.html"

# The flags Debian's Chromium needs headless on a machine without a network.
chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$work/profile" "$@" 2>/dev/null
}
height=$(chrome --dump-dom "file://$work/comment.html" | sed -n 's:.*<title>\([0-9]*\)</title>.*:\1:p')
chrome --window-size="892,${height:-2000}" --screenshot="$root/docs/plan-comment.png" \
  "file://$work/comment.html" >/dev/null
echo "wrote docs/plan-comment.png (${height}px high)"
