"""The latency plot: application latency over time, one line per contender, the migration's
start (t = 0) and end marked. Drawn from the JSON result alone, so it can be re-drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {"schemaflow": "tab:blue", "naive": "tab:red"}


def draw(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 6), dpi=110)
    for c in result.get("contenders", []):
        if c.get("skipped") or not c.get("timeline"):
            continue
        color = COLORS.get(c["name"], None)
        xs = [p[0] for p in c["timeline"]]
        ys = [max(p[1], 0.01) for p in c["timeline"]]
        wall = c["migration"]["wallSeconds"]
        stall = c["app"]["maxWriteStallSeconds"]
        ax.plot(xs, ys, color=color, lw=1.2, drawstyle="steps-post",
                label=f"{c['name']}: migration {wall:.1f} s, longest write stall {stall:.2f} s")
        ax.axvline(wall, color=color, ls="--", lw=1)
        ax.text(wall, 0.98, f" {c['name']} end", color=color, rotation=90, va="top",
                ha="right", transform=ax.get_xaxis_transform(), fontsize=8)
    ax.axvline(0, color="black", ls="-", lw=1)
    ax.text(0, 0.98, " migration start", rotation=90, va="top", ha="right",
            transform=ax.get_xaxis_transform(), fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the migration started")
    ax.set_ylabel(f"application latency, max per {result.get('binSeconds', 0.25)} s (ms, log)")
    ds = result.get("dataset", {})
    rows = ds.get("rows", {})
    ax.set_title(
        "DomainFlow 000027 under load: "
        f"{rows.get('dns_validation_results', 0):,} DNS results, "
        f"{rows.get('campaign_jobs', 0):,} jobs; "
        f"{result['params']['rate']:.0f} ops/s from {result['params']['clients']} connections "
        f"({result.get('server', {}).get('version', '')})",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2, fontsize=8, frameon=False)
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
