"""The latency plot: application latency over time, one panel per kind of run (up, rollback,
plan) with one line per contender, the migration's start (t = 0) and end marked. Drawn from
the JSON result alone, so it can be re-drawn (``python -m bench --plot-only FILE.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {"schemaflow": "tab:blue", "naive": "tab:red", "schemaflow-down": "tab:blue",
          "naive-down": "tab:red", "auto-rollback": "tab:green", "plan": "tab:purple"}
PANELS = (("000027 up", ("schemaflow", "naive")),
          ("rollback", ("schemaflow-down", "naive-down", "auto-rollback")),
          ("plan", ("plan",)))


def draw(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    by = {c["name"]: c for c in result.get("contenders", [])
          if not c.get("skipped") and c.get("timeline")}
    panels = [(t, [by[n] for n in names if n in by]) for t, names in PANELS]
    panels = [p for p in panels if p[1]] or [("no contender ran", [])]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 6), dpi=100,
                             sharey=True, squeeze=False)
    for ax, (title, cs) in zip(axes[0], panels, strict=True):
        for c in cs:
            color = COLORS.get(c["name"])
            xs = [p[0] for p in c["timeline"]]
            ys = [max(p[1], 0.01) for p in c["timeline"]]
            wall = c["migration"]["wallSeconds"]
            stall = c["app"]["maxWriteStallSeconds"]
            ls = ":" if c["name"] == "auto-rollback" else "-"
            ax.plot(xs, ys, color=color, lw=1.1, ls=ls, drawstyle="steps-post",
                    label=f"{c['name']}: {wall:.1f} s, longest write stall {stall:.2f} s")
            ax.axvline(wall, color=color, ls="--", lw=0.8)
        ax.axvline(0, color="black", ls="-", lw=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_yscale("log")
        ax.set_xlabel("seconds since the migration started")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[0][0].set_ylabel(f"application latency, max per {result.get('binSeconds', 0.25)} s "
                          "(ms, log)")
    ds = result.get("dataset", {})
    rows = ds.get("rows", {})
    fig.suptitle(
        "DomainFlow 000027 under load: "
        f"{rows.get('dns_validation_results', 0):,} DNS results, "
        f"{rows.get('campaign_jobs', 0):,} jobs; "
        f"{result['params']['rate']:.0f} ops/s from {result['params']['clients']} connections "
        f"({result.get('server', {}).get('version', '')}); dashed: end of each run",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
