"""Each night of a batch archived in the farm store, next to the results it was reduced from:

    batches/<name>/<YYYY-MM-DD>/...           that night's sweep reports (README.md, heatmap, ...)
    batches/<name>/<YYYY-MM-DD>/summary.html  its ranking per symbol and what moved since the night before
    batches/<name>/<YYYY-MM-DD>/summary.json  the same as data; written last, so it marks the night done
    batches/<name>/latest/...                 a copy of the newest night
    batches/<name>/index.html                 every night, newest first, linking its summary and reports

Links are relative, so the tree reads the same on a file store, from a synced S3 prefix or a
static web server in front of the bucket.
"""

from __future__ import annotations

import contextlib
import html
import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from farm.persist import Store
from farm.persist import keys as K

SUMMARY = "summary.json"


def batch_prefix(name: str) -> str:
    return f"batches/{K.segment(name)}/"


def night_prefix(name: str, night: date) -> str:
    return f"{batch_prefix(name)}{night.isoformat()}/"


def is_archived(store: Store, name: str, night: date) -> bool:
    return store.exists(night_prefix(name, night) + SUMMARY)


@contextlib.contextmanager
def staging() -> Iterator[Path]:
    """A local directory the sweep writes its reports to before they are uploaded."""
    with tempfile.TemporaryDirectory(prefix="farm-batch-") as tmp:
        yield Path(tmp)


def copy_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, dirs_exist_ok=True)


def ranking(result: Any) -> dict[str, list[dict[str, Any]]]:
    """Per symbol, the walker's ranking: strategy, rank and metric, best first."""
    return {
        symbol: [{"strategy": s.strategy_name, "rank": s.rank, "metric": s.metric} for s in walker.strategies]
        for symbol, walker in result.walker_results.items()
    }


def moves(previous: dict[str, list[dict[str, Any]]] | None, current: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Which strategies moved in each symbol's ranking since the previous night, one line each
    (`ETH/BTC: sma_cross 3 -> 1`, `... new at 2`, `... dropped (was 4)`)."""
    if previous is None:
        return []
    lines: list[str] = []
    for symbol in sorted(set(previous) | set(current)):
        before = {row["strategy"]: row["rank"] for row in previous.get(symbol, [])}
        after = {row["strategy"]: row["rank"] for row in current.get(symbol, [])}
        for strategy in sorted(set(before) | set(after), key=lambda s: (after.get(s, 10**9), s)):
            if strategy not in before:
                lines.append(f"{symbol}: {strategy} new at {after[strategy]}")
            elif strategy not in after:
                lines.append(f"{symbol}: {strategy} dropped (was {before[strategy]})")
            elif before[strategy] != after[strategy]:
                lines.append(f"{symbol}: {strategy} {before[strategy]} -> {after[strategy]}")
    return lines


def nights(store: Store, name: str) -> list[date]:
    """The archived nights of a batch, oldest first."""
    found: list[date] = []
    prefix = batch_prefix(name)
    for key in store.list(prefix):
        rest = key[len(prefix):]
        if rest.endswith("/" + SUMMARY) and rest.count("/") == 1:
            with contextlib.suppress(ValueError):
                found.append(date.fromisoformat(rest.split("/")[0]))
    return sorted(found)


def read_summary(store: Store, name: str, night: date) -> dict[str, Any] | None:
    data = store.read(night_prefix(name, night) + SUMMARY)
    return None if data is None else json.loads(data)


def archive_night(store: Store, batch: Any, night: date, staged: Path, result: Any) -> list[str]:
    """Upload the night's reports, its summary, the `latest/` copy and the index; the summary
    JSON goes last (it is what marks the night done). Returns the ranking moves."""
    earlier = [n for n in nights(store, batch.name) if n < night]
    previous = read_summary(store, batch.name, earlier[-1]) if earlier else None
    current = ranking(result)
    moved = moves(previous["ranking"] if previous else None, current)
    summary = {
        "batch": batch.name, "night": night.isoformat(), "walker": batch.walker_name,
        "frame": next(iter(result.walker_results.values())).frame_name if result.walker_results else None,
        "sweep_id": result.sweep_id, "tasks_total": result.tasks_total, "tasks_run": result.tasks_run,
        "failed": len({f.task_key for f in result.failures}),
        "previous_night": earlier[-1].isoformat() if earlier else None,
        "ranking": current, "moves": moved,
        "reports": sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()),
    }
    (staged / "summary.html").write_text(_summary_html(summary))
    files = sorted(p for p in staged.rglob("*") if p.is_file())
    prefix = night_prefix(batch.name, night)
    for path in files:
        store.write(prefix + path.relative_to(staged).as_posix(), path.read_bytes())
    if not earlier or night >= max(earlier):  # a caught-up older night never replaces latest/
        latest = batch_prefix(batch.name) + "latest/"
        for key in list(store.list(latest)):
            store.delete(key)
        for path in files:
            store.write(latest + path.relative_to(staged).as_posix(), path.read_bytes())
        store.write(latest + SUMMARY, json.dumps(summary, indent=1).encode())
    summaries = [s for s in (read_summary(store, batch.name, n) for n in earlier) if s] + [summary]
    store.write(batch_prefix(batch.name) + "index.html", _index_html(batch.name, summaries).encode())
    store.write(prefix + SUMMARY, json.dumps(summary, indent=1).encode())
    return moved


def _best_line(summary: dict[str, Any]) -> str:
    parts = []
    for symbol, rows in summary["ranking"].items():
        best = rows[0] if rows else None
        parts.append(f"{symbol}: {best['strategy']} ({_num(best['metric'])})" if best else f"{symbol}: -")
    return "; ".join(parts)


def _num(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.3f}"


def _summary_html(summary: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(symbol)}</td><td>{row['rank']}</td><td>{e(row['strategy'])}</td><td>{_num(row['metric'])}</td></tr>"
        for symbol, ranked in summary["ranking"].items() for row in ranked
    )
    moved = "".join(f"<li>{e(line)}</li>" for line in summary["moves"]) or (
        "<li>no change</li>" if summary["previous_night"] else "<li>first night</li>")
    reports = "".join(f'<li><a href="{e(path)}">{e(path)}</a></li>' for path in summary["reports"])
    return (f"<!doctype html><meta charset=utf-8><title>{e(summary['batch'])} {summary['night']}</title>"
            f"<h1>Batch {e(summary['batch'])}, night of {summary['night']}</h1>"
            f"<p>walker {e(summary['walker'])}, frame {e(str(summary['frame']))}, sweep {e(summary['sweep_id'])}: "
            f"{summary['tasks_total']} tasks, {summary['tasks_run']} run, {summary['failed']} failed</p>"
            f"<h2>Moves since {summary['previous_night'] or '-'}</h2><ul>{moved}</ul>"
            f"<h2>Ranking</h2><table><tr><th>symbol</th><th>rank</th><th>strategy</th><th>metric</th></tr>{rows}</table>"
            f"<h2>Reports</h2><ul>{reports}</ul>\n")


def _index_html(name: str, summaries: list[dict[str, Any]]) -> str:
    e = html.escape
    rows = []
    for s in sorted(summaries, key=lambda s: s["night"], reverse=True):
        night = s["night"]
        pictures = " ".join(f'<a href="{night}/{e(p)}">{e(Path(p).name)}</a>'
                            for p in s["reports"] if p.endswith((".png", ".svg")))
        rows.append(f'<tr><td><a href="{night}/summary.html">{night}</a></td><td>{e(_best_line(s))}</td>'
                    f'<td>{e("; ".join(s["moves"])) or ("-" if s["previous_night"] else "first night")}</td>'
                    f'<td>{s["failed"]}</td><td><a href="{night}/README.md">reports</a> {pictures}</td></tr>')
    return (f"<!doctype html><meta charset=utf-8><title>batch {e(name)}</title><h1>Batch {e(name)}</h1>"
            f'<p><a href="latest/summary.html">latest night</a></p>'
            "<table><tr><th>night</th><th>best per symbol</th><th>moves since the night before</th>"
            f"<th>failed</th><th>reports</th></tr>{''.join(rows)}</table>\n")
