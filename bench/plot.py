#!/usr/bin/env python3
"""plot.py: the benchmark's charts: bench/run.py's raw results drawn as SVG files with matplotlib.

    python3 bench/plot.py RESULTS.json OUTDIR

Reads the raw results bench/run.py writes (--json; by default
BUILD/bench/results.json) and writes into OUTDIR one SVG per workload run
(WORKLOAD.svg: requests/s, server CPU per request and the latency
percentiles of every server, side by side), and headline.svg (the event
strategy against raw epoll, State Threads, libuv, Python and Go: the
servers of those that ran). Every figure is the median over the rounds, as
in the tables of docs/PERFORMANCE.md (run.summarize() computes both). The
files of workloads not in the results are left as they are.

run.py calls plot() after writing its results (see its --no-plot). Needs
matplotlib (Debian: apt-get install python3-matplotlib); when this
interpreter cannot import it, Debian's /usr/bin/python3 draws instead if it
can (python3 may be another one, e.g. pyenv's, that does not see Debian's
packages); without either, nothing is drawn and a note on stderr says so
(exit status 1 when run on its own). The SVGs are deterministic: the same
results give the same bytes (no date, fixed ids, text as text).
"""
import importlib
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402 -- bench/run.py: the workloads, and the medians its tables show.

# Where `apt-get install python3-matplotlib` puts it: the system interpreter's.
DEBIAN_PYTHON = "/usr/bin/python3"
INSTALL = "apt-get install python3-matplotlib"

# sockserv's own servers (the rest are peers, or --extra servers).
OURS = {name for name, server in run.server_commands("").items() if server.kind == "ours"}
OURS_COLOR, PEER_COLOR = "#1f6fb4", "#a0a0a0"
# p50, p99, p99.9: light to dark.
PERCENTILES = (("p50_us", "p50", "#9ecae1"), ("p99_us", "p99", "#4292c6"), ("p999_us", "p99.9", "#08306b"))

# The headline: the event strategy against the other one-core servers, in
# plain ping-pong and over TLS; each panel shows those of its servers that ran.
HEADLINE = (("pingpong50", ("event", "epoll", "st", "libuv", "py-threading")),
            ("tlspingpong50", ("event", "go")))
HEADLINE_NAMES = {"event": "sockserv event", "epoll": "raw epoll (C)", "st": "State Threads",
                  "libuv": "libuv", "py-threading": "Python threading", "go": "Go crypto/tls"}

# Fixed so a rerun on the same results writes the same bytes: SVG ids from a
# salt (not random), text as <text> (no glyph outlines embedded: smaller; one
# font named, the viewer's sans-serif if it lacks it).
RC = {"svg.fonttype": "none", "svg.hashsalt": "sockserv-bench", "font.size": 9,
      "font.sans-serif": ["DejaVu Sans"], "axes.spines.top": False, "axes.spines.right": False}


# ---------------------------------------------------------------- which matplotlib

def import_error():
    """None if this interpreter can import matplotlib, else why not."""
    try:
        importlib.import_module("matplotlib.figure")
    except Exception as e:  # ImportError, or a broken install
        return "%s: %s" % (type(e).__name__, e)
    return None


def debian_python():
    """Debian's python3 if it is there and is not this interpreter, else None."""
    if os.access(DEBIAN_PYTHON, os.X_OK) and os.path.realpath(DEBIAN_PYTHON) != os.path.realpath(sys.executable):
        return DEBIAN_PYTHON
    return None


def matplotlib_python():
    """The interpreter that draws: this one if it can import matplotlib, else Debian's if it can, else None."""
    if import_error() is None:
        return sys.executable
    other = debian_python()
    if other and subprocess.run([other, "-c", "import matplotlib.figure"], capture_output=True).returncode == 0:
        return other
    return None


def plot(results, outdir):
    """Draw the charts of results (run.py's JSON file) into outdir: the paths
    written, or None when matplotlib is missing (said on stderr). Raises
    RuntimeError when the drawing itself fails."""
    python = matplotlib_python()
    if python == sys.executable:
        return draw(results, outdir)
    if python:  # Debian's draws: this file run on its own, its "wrote PATH" lines read back
        r = subprocess.run([python, os.path.abspath(__file__), results, outdir], capture_output=True, text=True)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            raise RuntimeError("%s %s failed (exit %d)" % (python, __file__, r.returncode))
        return [line[len("wrote "):] for line in r.stdout.splitlines() if line.startswith("wrote ")]
    other = debian_python()
    sys.stderr.write("plot.py: charts not drawn: matplotlib cannot be imported by %s%s (%s): %s\n"
                     % (sys.executable, " nor " + other if other else "", import_error(), INSTALL))
    sys.stderr.flush()
    return None


# ---------------------------------------------------------------- the figures

def draw(results, outdir):
    """Draw every chart of results into outdir with this interpreter's matplotlib; the paths written."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figures

    with open(results) as f:
        data = json.load(f)
    runs = data.get("runs", [])
    summary = run.summarize([r for r in runs if "failed" not in r])
    os.makedirs(outdir, exist_ok=True)
    written = []
    with matplotlib.rc_context(RC):
        for name in workload_order(summary):
            w = run.WORKLOAD_BY_NAME.get(name)
            names = [s for s in (w.servers if w else ()) if (name, s) in summary]
            names += sorted({k[1] for k in summary if k[0] == name} - set(names))  # --extra ones
            fig = workload_figure(Figure, name, w, names, summary, data)
            written.append(save(fig, os.path.join(outdir, name + ".svg")))
        fig = headline_figure(Figure, summary, data)
        if fig:
            written.append(save(fig, os.path.join(outdir, "headline.svg")))
    return written


def workload_order(summary):
    """The workloads in the results, in run.py's order (unknown ones, from another version, last)."""
    have = {k[0] for k in summary}
    return [w.name for w in run.WORKLOADS if w.name in have] + sorted(have - set(run.WORKLOAD_BY_NAME))


def save(fig, path):
    # No date in the metadata: the file depends on the results only.
    fig.savefig(path, format="svg", metadata={"Date": None})
    return path


def metrics(w):
    """(rate key, its axis label, CPU key, its axis label) for a workload (None: unknown to this run.py)."""
    if w is not None and w.handshakes:
        return "hs_per_s", "handshakes/s", "cpu_hs_us", "server CPU per handshake (µs)"
    return "rps", "requests/s", "cpu_us", "server CPU per request (µs)"


def subtitle(data, summary, keys):
    """The line under a title: rounds, machine, date."""
    rounds = max((summary[k]["rounds"] for k in keys), default=0)
    m = data.get("machine") or {}
    return "median of %d round%s; %s CPUs, %s, Linux %s; %s" % (
        rounds, "" if rounds == 1 else "s", m.get("nproc", "?"), m.get("cpu", "?"), m.get("kernel", "?"),
        (data.get("date") or "?")[:10])


def bars(ax, names, values, label, fmt, display=None):
    """Horizontal bars, one per server (first at the top), each with its value at its end."""
    y = list(range(len(names)))
    ax.barh(y, [v or 0 for v in values], height=0.6,
            color=[OURS_COLOR if s in OURS else PEER_COLOR for s in names])
    top = max([v for v in values if v] or [1])
    for yi, v in zip(y, values):
        ax.text(v or 0, yi, " " + (fmt(v) if v is not None else "n/a"), va="center", fontsize=8)
    ax.set_xlim(0, top * 1.3)  # room for the values
    ax.set_yticks(y)
    ax.set_yticklabels([(display or {}).get(s, s) for s in names])
    for tick, s in zip(ax.get_yticklabels(), names):
        if s in OURS:
            tick.set_fontweight("bold")
    ax.set_ylim(len(names) - 0.5, -0.5)  # the first server at the top
    ax.set_xlabel(label)
    ax.xaxis.set_major_locator(ticker().MaxNLocator(4))
    ax.xaxis.set_major_formatter(ticker().FuncFormatter(tick_text))
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)


def tick_text(v, pos):
    """An axis's tick label: 1,000 (not 1000 nor 10^3), 1.5."""
    return "{:,.0f}".format(v) if v >= 10 else "{:g}".format(v)


def cpu_text(v):
    """A CPU time at its bar's end, in µs."""
    return "%.2f" % v if v < 10 else "%.1f" % v


def latency_bars(ax, names, summary, name):
    """p50, p99 and p99.9 of each server, grouped; a log scale when they span more than 100x."""
    values = [[summary[(name, s)][k] for s in names] for k, _, _ in PERCENTILES]
    present = [v for row in values for v in row if v]
    log = bool(present) and max(present) / min(present) > 100
    # Log bars start at the power of ten below the smallest value.
    floor = 10 ** (math.ceil(math.log10(min(present))) - 1) if log else 0
    for i, ((_, label, color), row) in enumerate(zip(PERCENTILES, values)):
        y = [j + (i - 1) * 0.26 for j in range(len(names))]
        ax.barh(y, [(v - floor) if v else 0 for v in row], left=floor, height=0.26, color=color, label=label)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(floor, max(present) * 1.5)
        ax.xaxis.set_major_locator(ticker().LogLocator())  # at the powers of ten
    else:
        ax.xaxis.set_major_locator(ticker().MaxNLocator(4))
    ax.xaxis.set_major_formatter(ticker().FuncFormatter(tick_text))
    ax.set_yticks(range(len(names)))
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel("latency (µs%s)" % (", log scale" if log else ""))
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False, fontsize=8,
              handlelength=1.2, borderaxespad=0.2)


def ticker():
    """matplotlib.ticker, imported when drawing: this file loads without matplotlib."""
    import matplotlib.ticker
    return matplotlib.ticker


def notes(name, w, names, data):
    """What did not make it into a workload's chart: servers skipped or failed."""
    out = []
    skipped = data.get("skipped") or {}
    gone = [s for s in (w.servers if w else ()) if s in skipped and s not in names]
    if gone:
        out.append("not run: " + "; ".join("%s (%s)" % (s, skipped[s]) for s in gone))
    failed = sorted({r["server"] for r in data.get("runs", []) if r.get("workload") == name and "failed" in r})
    if failed:
        out.append("failed runs (left out): " + ", ".join(failed))
    return out


def workload_figure(Figure, name, w, names, summary, data):
    """A workload's chart: rate, CPU and latency of each server, three panels sharing the servers."""
    rate, rate_label, cpu, cpu_label = metrics(w)
    fig = Figure(figsize=(11, 1.5 + 0.4 * len(names)), layout="constrained")
    ax_rate, ax_cpu, ax_lat = fig.subplots(1, 3, sharey=True)
    bars(ax_rate, names, [summary[(name, s)][rate] for s in names], rate_label, run.fmt_int)
    bars(ax_cpu, names, [summary[(name, s)][cpu] for s in names], cpu_label, cpu_text)
    latency_bars(ax_lat, names, summary, name)
    keys = [(name, s) for s in names]
    fig.suptitle("%s\n%s; sockserv's servers in blue" % ("%s: %s" % (name, w.title) if w else name,
                                                        subtitle(data, summary, keys)), fontsize=10)
    extra = notes(name, w, names, data)
    if extra:
        fig.supxlabel("\n".join(extra), fontsize=7, x=0.01, ha="left", color="#555555")
    return fig


def headline_figure(Figure, summary, data):
    """The README's chart: the HEADLINE panels whose servers ran (the event strategy and at least one
    other), rate and CPU side by side; None if none did."""
    panels = []
    for name, wanted in HEADLINE:
        names = [s for s in wanted if (name, s) in summary]
        if "event" in names and len(names) > 1:
            panels.append((name, names))
    if not panels:
        return None
    total = sum(len(names) for _, names in panels)
    fig = Figure(figsize=(9, 1.2 + 0.38 * total + 0.55 * len(panels)), layout="constrained")
    grid = fig.add_gridspec(len(panels), 2, height_ratios=[len(names) for _, names in panels])
    keys = []
    for row, (name, names) in enumerate(panels):
        w = run.WORKLOAD_BY_NAME[name]
        rate, rate_label, cpu, cpu_label = metrics(w)
        ax_rate = fig.add_subplot(grid[row, 0])
        ax_cpu = fig.add_subplot(grid[row, 1], sharey=ax_rate)
        bars(ax_rate, names, [summary[(name, s)][rate] for s in names], rate_label, run.fmt_int,
             HEADLINE_NAMES)
        bars(ax_cpu, names, [summary[(name, s)][cpu] for s in names], cpu_label, cpu_text, HEADLINE_NAMES)
        ax_cpu.tick_params(axis="y", labelleft=False)
        ax_rate.set_title("%s: %s" % (name, w.title), loc="left", fontsize=9)
        ax_cpu.set_title("less is better", loc="right", fontsize=8, color="#555555")
        keys += [(name, s) for s in names]
    fig.suptitle("sockserv's event loop against other servers, one core each\n%s"
                 % subtitle(data, summary, keys), fontsize=10)
    return fig


# ---------------------------------------------------------------- main

def main(argv):
    if len(argv) != 2 or argv[0].startswith("-"):
        sys.stderr.write("usage: python3 bench/plot.py RESULTS.json OUTDIR\n"
                         "(RESULTS.json: what bench/run.py wrote, by default BUILD/bench/results.json)\n")
        return 2
    written = plot(argv[0], argv[1])
    if written is None:
        return 1
    for path in written:
        print("wrote %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
