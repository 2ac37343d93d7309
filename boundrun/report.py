"""The report: every experiment's figure and verdicts on one self-contained page (report/index.html, with
the figures embedded and no script needed to read it) and the same as Markdown (report/README.md); and the
results table of the project README (between its results markers).

Reads only run folders (manifest.json, claims.csv, figure.png); experiments without a complete run are
listed as "not run", never dropped.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from boundrun import __version__, registry

STATUS_MARK = {"pass": "✔", "fail": "✘", "inconclusive": "?"}
STATUS_COLOR = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700"}
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


@dataclass
class Entry:
    name: str
    paper: int
    title: str
    arxiv: str
    family: str
    summary: str
    run: Path | None = None
    manifest: dict = field(default_factory=dict)
    claims: list[dict] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.claims:
            out[c["status"]] = out.get(c["status"], 0) + 1
        return out


def _complete(run: Path) -> dict | None:
    try:
        m = json.loads((run / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return m if m.get("status") == "complete" and (run / "claims.csv").exists() else None


def latest_run(runs_root: Path, name: str, profile: str | None = None) -> tuple[Path, dict] | None:
    """The newest complete run of `name` (of `profile`, if given): `latest` first, then by folder name."""
    root = runs_root / name
    if not root.is_dir():
        return None
    candidates = [root / "latest"] if (root / "latest").exists() else []
    candidates += sorted((p for p in root.iterdir() if p.is_dir() and p.name[:1].isdigit()), reverse=True)
    for run in candidates:
        m = _complete(run)
        if m is not None and (profile is None or m.get("profile") == profile):
            return run.resolve(), m
    return None


def collect_entries(runs_root: Path, names: list[str] | None = None, runs: list[Path] | None = None,
                    profile: str | None = None) -> list[Entry]:
    """One entry per registered experiment (or per name given), from its latest complete run, or from the
    run folders named in `runs`."""
    exps = registry.load_all()
    chosen = sorted(exps) if not names else [registry.get(n).name for n in names]
    named: dict[str, tuple[Path, dict]] = {}
    for r in runs or []:
        m = _complete(Path(r))
        if m is None:
            raise FileNotFoundError(f"{r} is not a complete run folder")
        named[m["experiment"]] = (Path(r).resolve(), m)
        if m["experiment"] not in chosen:
            chosen.append(m["experiment"])
    entries = []
    for name in chosen:
        e = exps[name]
        entry = Entry(name, e.paper, e.title, e.arxiv, e.family, e.summary or e.title)
        found = named.get(name) or (None if runs else latest_run(runs_root, name, profile))
        if found:
            entry.run, entry.manifest = found
            with (entry.run / "claims.csv").open(newline="") as f:
                entry.claims = list(csv.DictReader(f))
        entries.append(entry)
    return sorted(entries, key=lambda e: (e.family, e.paper))


def _marks_html(e: Entry) -> str:
    if e.run is None:
        return '<span class="notrun">not run</span>'
    return " ".join(
        f'<span class="mark" style="color:{STATUS_COLOR.get(c["status"], "#555")}" '
        f'title="{html.escape(c["claim"])}: {c["status"]}">{STATUS_MARK.get(c["status"], "·")}</span>'
        for c in e.claims)


def _fmt(v: str) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "–" if f != f else f"{f:.4g}"


def _figure_data(run: Path) -> str | None:
    p = run / "figure.png"
    if not p.exists():
        return None
    return "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()


CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#1f2328;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #d0d7de;padding:.3rem .6rem;
text-align:left;vertical-align:top;font-size:.9rem}th{background:#f6f8fa}.mark{font-weight:bold;font-size:1.1rem}
.notrun{color:#6e7781;font-style:italic}section{border-top:2px solid #d0d7de;margin-top:2rem;padding-top:.5rem}
img{max-width:100%;height:auto;border:1px solid #d0d7de}.meta{color:#57606a;font-size:.9rem}
.pass{color:#1a7f37}.fail{color:#cf222e}.inconclusive{color:#9a6700}
"""

# Optional: click a header to sort the summary table. The page reads fine without it (rows come sorted by
# family, then paper).
SORT_JS = """
document.querySelectorAll('#summary th').forEach(function(th,i){th.style.cursor='pointer';
th.onclick=function(){var tb=document.querySelector('#summary tbody');var rows=Array.from(tb.rows);
rows.sort(function(a,b){return a.cells[i].textContent.localeCompare(b.cells[i].textContent,undefined,
{numeric:true});});rows.forEach(function(r){tb.appendChild(r);});};});
"""


def render_html(entries: list[Entry], out_dir: Path, git_sha: str) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for e in entries:
        prof = e.manifest.get("profile", "–") if e.run else "–"
        wall = f'{e.manifest.get("wall_seconds", 0):.1f} s' if e.run else "–"
        rows.append(f'<tr><td><a href="#{e.name}">{e.name}</a></td><td>{e.paper:02d}</td><td>{e.family}</td>'
                    f'<td>{_marks_html(e)}</td><td>{prof}</td><td>{wall}</td></tr>')
    sections = []
    for e in entries:
        head = (f'<section id="{e.name}"><h2>{e.name} — paper {e.paper:02d}</h2>'
                f'<p><b>{html.escape(e.title)}</b> · <a href="https://arxiv.org/abs/{e.arxiv}">arXiv {e.arxiv}</a>'
                f' · family {e.family}</p><p>{html.escape(e.summary)}</p>')
        if e.run is None:
            sections.append(head + '<p class="notrun">not run: no complete run folder was found.</p></section>')
            continue
        m = e.manifest
        rel = os.path.relpath(e.run, out_dir)
        meta = (f'<p class="meta">profile {m.get("profile")} · wall time {m.get("wall_seconds", 0):.1f} s · '
                f'seed {m.get("seed")} · boundrun {m.get("boundrun_version")} ({m.get("git_sha")}) · '
                f'run folder <a href="{html.escape(rel)}">{html.escape(rel)}</a></p>')
        fig = _figure_data(e.run)
        img = (f'<img src="{fig}" alt="figure of {e.name}">' if fig else '<p class="notrun">no figure</p>')
        claim_rows = "".join(
            f'<tr><td>{html.escape(c["claim"])}</td><td class="{c["status"]}">'
            f'{STATUS_MARK.get(c["status"], "")} {c["status"]}</td><td>{_fmt(c["measured"])}</td>'
            f'<td>{html.escape(c["expected"])}</td><td>{html.escape(str(c.get("gated", "")))}</td>'
            f'<td>{html.escape(c["source"])}</td></tr>' for c in e.claims)
        table = ('<table><thead><tr><th>claim</th><th>status</th><th>measured</th><th>expected</th>'
                 f'<th>gated</th><th>source</th></tr></thead><tbody>{claim_rows}</tbody></table>')
        sections.append(head + meta + img + table + "</section>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>boundrun report</title>'
            f'<style>{CSS}</style></head><body><h1>boundrun report</h1>'
            f'<p class="meta">boundrun {__version__} · git {git_sha} · built {now} · '
            f'{sum(e.run is not None for e in entries)} of {len(entries)} experiments have a complete run · '
            f'marks: <span class="pass">✔ pass</span> <span class="fail">✘ fail</span> '
            f'<span class="inconclusive">? inconclusive</span></p>'
            f'<table id="summary"><thead><tr><th>experiment</th><th>paper</th><th>family</th><th>verdicts</th>'
            f'<th>profile</th><th>wall</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'{"".join(sections)}<script>{SORT_JS}</script></body></html>\n')


def _md_marks(e: Entry) -> str:
    if e.run is None:
        return "not run"
    c = e.counts
    gated_fails = sum(1 for x in e.claims if x["status"] == "fail" and str(x.get("gated")) == "True")
    parts = []
    for s in ("pass", "fail", "inconclusive"):
        if s in c:
            parts.append(f"{c[s]} {STATUS_MARK[s]} {s}" + (f" ({gated_fails} gated)" if s == "fail" else ""))
    return ", ".join(parts) or "-"


def render_markdown(entries: list[Entry], out_dir: Path, git_sha: str) -> str:
    lines = ["# boundrun report", "", f"boundrun {__version__} · git {git_sha}", "",
             "| experiment | paper | family | verdicts | profile | wall |", "|---|---|---|---|---|---|"]
    for e in entries:
        prof = e.manifest.get("profile", "–") if e.run else "–"
        wall = f'{e.manifest.get("wall_seconds", 0):.1f} s' if e.run else "–"
        lines.append(f"| [{e.name}](#{e.name}) | {e.paper:02d} | {e.family} | {_md_marks(e)} | {prof} | {wall} |")
    for e in entries:
        lines += ["", f"## {e.name}", "", f"Paper {e.paper:02d}: **{e.title}** "
                  f"([arXiv {e.arxiv}](https://arxiv.org/abs/{e.arxiv})), family {e.family}.", "", e.summary, ""]
        if e.run is None:
            lines.append("_not run: no complete run folder was found._")
            continue
        rel = os.path.relpath(e.run, out_dir)
        m = e.manifest
        lines += [f"Profile {m.get('profile')}, wall time {m.get('wall_seconds', 0):.1f} s, run folder "
                  f"[{rel}]({rel}).", "", f"![{e.name}]({rel}/figure.png)", "",
                  "| claim | status | measured | expected | source |", "|---|---|---|---|---|"]
        for c in e.claims:
            lines.append(f"| {c['claim']} | {STATUS_MARK.get(c['status'], '')} {c['status']} | {_fmt(c['measured'])} |"
                         f" {c['expected'].replace('|', '/')} | {c['source'].replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def readme_table(entries: list[Entry]) -> str:
    lines = ["| experiment | paper | verdicts (default profile) |", "|---|---|---|"]
    for e in sorted(entries, key=lambda e: e.paper):
        lines.append(f"| {e.name} | {e.paper:02d} · [{e.title}](https://arxiv.org/abs/{e.arxiv}) | {_md_marks(e)} |")
    return "\n".join(lines)


def update_readme(readme: Path, table: str) -> None:
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme} has no {README_START} ... {README_END} section")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{README_START}\n{table}\n{README_END}{tail}")
    tmp.replace(readme)


def build(out_dir: str | Path = "report", runs_root: str | Path = "outputs", names: list[str] | None = None,
          runs: list[Path] | None = None, readme: Path | None = None) -> tuple[Path, Path, list[Entry]]:
    """Write out_dir/index.html and out_dir/README.md (each written whole, then renamed into place); with
    `readme`, also refresh that file's results table from the default-profile runs."""
    from boundrun.engine import git_sha

    out_dir, runs_root = Path(out_dir), Path(runs_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = collect_entries(runs_root, names, runs)
    sha = git_sha()
    paths = []
    for name, text in (("index.html", render_html(entries, out_dir.resolve(), sha)),
                       ("README.md", render_markdown(entries, out_dir.resolve(), sha))):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out_dir / name)
        paths.append(out_dir / name)
    if readme is not None:
        update_readme(readme, readme_table(collect_entries(runs_root, names, runs, profile="default")))
    return paths[0], paths[1], entries
