"""The report (HTML + Markdown + README table) and `boundrun check` as a gate, checked in a real browser."""

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import boundrun
from boundrun import registry, report
from boundrun.claims import Below
from boundrun.cli import app

runner = CliRunner()
TINY = dict(K=10, beta=[2.5, 3.0], seeds=2, settings=["mix_in"], algorithms=["uniform", "goa_hp"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    boundrun.run("bandit-stream", profile="smoke", out=str(root), **TINY)
    return root


def test_report_lists_every_experiment_and_marks_the_ones_not_run(runs, tmp_path):
    html_path, md_path, entries = report.build(tmp_path / "rep", runs)
    html = html_path.read_text()
    n = len(registry.load_all())
    assert len(entries) == n
    summary = html.split('<table id="summary">', 1)[1].split("</table>", 1)[0]
    assert summary.count("<tr>") == n + 1  # header + one row per experiment
    assert html.count("not run") >= n - 1
    assert html.count("data:image/png;base64,") == 1  # the one figure, embedded
    assert "https://arxiv.org/abs/2306.02208" in html and boundrun.__version__ in html
    assert "http://" not in html.replace("https://arxiv.org", "")  # nothing to fetch but the paper links
    md = md_path.read_text()
    assert "| [bandit-stream](#bandit-stream) | 02 |" in md and "figure.png" in md


def test_readme_results_table_is_replaced_between_its_markers(runs, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold\n{report.README_END}\noutro\n")
    report.update_readme(readme, report.readme_table(report.collect_entries(runs, profile="smoke")))
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert re.search(r"\| bandit-stream \| 02 · \[.*\]\(https://arxiv.org/abs/2306.02208\) \| \d ✔ pass", text)
    # only default-profile runs count for the README: these smoke runs are "not run" there
    report.update_readme(readme, report.readme_table(report.collect_entries(runs, profile="default")))
    assert "| bandit-stream |" in readme.read_text() and "not run" in readme.read_text()


def test_report_command_and_bad_run_folder(runs, tmp_path):
    r = runner.invoke(app, ["report", "--runs", str(runs), "--out", str(tmp_path / "r")])
    assert r.exit_code == 0 and (tmp_path / "r" / "index.html").exists()
    r = runner.invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "r2")])
    assert r.exit_code == 2


def test_check_runs_experiments_in_parallel_writes_the_report_and_prints_json(tmp_path):
    r = runner.invoke(app, ["check", "bandit-stream", "groupwise-regret", "--profile", "smoke", "--out",
                            str(tmp_path / "o"), "--report", str(tmp_path / "rep"), "--json", "--jobs", "2"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {row["experiment"] for row in rows} == {"bandit-stream", "groupwise-regret"}
    html = (tmp_path / "rep" / "index.html").read_text()
    assert html.count("data:image/png;base64,") == 2


def test_check_exits_3_when_a_gated_claim_fails(tmp_path, monkeypatch):
    exp = registry.get("bandit-stream")
    impossible = Below("impossible", metric="memory_slack", value=-1.0, min_seeds=1, source="test")
    monkeypatch.setitem(registry.EXPERIMENTS, "bandit-stream",
                        dataclasses.replace(exp, claims=(*exp.claims, impossible)))
    r = runner.invoke(app, ["check", "bandit-stream", "--profile", "smoke", "--out", str(tmp_path / "o"),
                            "--report", str(tmp_path / "rep"), "--json"])
    assert r.exit_code == 3, r.output
    assert any(row["claim"] == "impossible" and row["status"] == "fail" for row in json.loads(r.output))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it as root)")
def test_report_renders_in_a_real_headless_browser(runs, tmp_path):
    html_path, _, entries = report.build(tmp_path / "rep", runs)
    # measure what the browser laid out: image sizes and summary rows, written into the DOM it dumps
    probe = tmp_path / "rep" / "probe.html"
    probe.write_text(html_path.read_text().replace("</body>", """<script>
document.body.setAttribute('data-rows', document.querySelectorAll('#summary tbody tr').length);
document.body.setAttribute('data-imgs', Array.from(document.images).map(function(i){
  return i.naturalWidth + 'x' + i.naturalHeight + ':' + i.getBoundingClientRect().width;}).join(' '));
</script></body>"""))
    profile = tmp_path / "chrome"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    rows = int(re.search(r'data-rows="(\d+)"', dom).group(1))
    assert rows == len(entries) == len(registry.load_all())
    sizes = re.search(r'data-imgs="([^"]*)"', dom).group(1).split()
    assert len(sizes) == 1
    for s in sizes:
        w, rest = s.split("x")
        h, shown = rest.split(":")
        assert int(w) > 0 and int(h) > 0 and float(shown) > 0
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1200,1600",
                    f"--screenshot={shot}", html_path.as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    assert Path(html_path).stat().st_size > 10_000
