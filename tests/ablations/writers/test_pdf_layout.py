"""Every page of report.pdf, and every plot it embeds, is readable (ablations/writers/pdf.py and
plots.py): no text or axis label falls outside its page or figure, no two pieces of text overlap, no
legend covers data, and series in one legend look different. Checked on the figures themselves, as
matplotlib lays them out just before they are saved, for a tuned fractional study with long variant
names, an untuned fractional one and a plain full factorial, all made by the synthetic backend."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from ablations import Study, run_study  # noqa: E402
from mainrun.config import TrainConfig  # noqa: E402
from tests.ablations.synthetic import install  # noqa: E402

SEVEN = ["norm=layernorm,rmsnorm", "pos=learned,rope", "mlp=gelu,swiglu", "init=default,scaled", "opt=adamw,muon",
         "mask=causal,title", "qknorm=none,rmsnorm"]
SHIFT = {1337: 0.0, 1338: 0.013, 1339: -0.007}
TOLERANCE = 1.0  # pixels: a glyph's antialiasing at an edge is not text off the page


def loss_of(cfg: TrainConfig) -> float:
    """muon and rope help, swiglu hurts, one interaction; each recipe has its own best lr, muon's beyond
    the candidates and their two extensions (so its rows carry a boundary note); seeds shift every cell
    alike."""
    v = cfg.variant
    best_lr = 0.3 if v.opt == "muon" else 3e-3
    return (2.5 - 0.3 * (v.opt == "muon") - 0.05 * (v.pos == "rope") + 0.04 * (v.mlp == "swiglu")
            + 0.02 * (v.norm == "rmsnorm") * (v.init == "scaled") + 0.1 * abs(math.log10(cfg.peak_lr / best_lr))
            + SHIFT[cfg.training.seed] + 0.003 * math.sin(7 * cfg.training.seed + len(str(v))))


STUDIES = {
    "tuned-fractional": dict(axes=SEVEN, design="fractional", tune="lr=1e-3,3e-3,1e-2", seeds=3),
    "fractional": dict(axes=SEVEN, design="fractional", seeds=2),
    "plain": dict(axes=["norm=layernorm,rmsnorm", "pos=learned,rope", "opt=adamw,muon", "lr=1e-3,3e-3"], seeds=2),
}


@dataclass
class Saved:
    """One figure as it was saved: a page of report.pdf, or a PNG."""

    target: str  # "report.pdf page 3" or the PNG's name
    texts: list[str]
    problems: list[str] = field(default_factory=list)


def drawn_texts(fig: Figure) -> list[Text]:
    """The Text artists a draw of the figure actually draws (visible, non-empty, inside drawn axes)."""
    drawn: list[Text] = []
    original = Text.draw

    def recording(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return original(self, renderer)

    Text.draw = recording
    try:
        fig.canvas.draw()
    finally:
        Text.draw = original
    return drawn


# A PDF page is checked at 288 dpi, where the screen renderer's glyphs are the fonts' own widths, as a
# PDF viewer draws them (at 100 dpi small text measures up to 7% narrower than it prints); a PNG at the
# dpi it is saved at, which is what it shows.
PDF_DPI = 288


def along(line: Any, steps: int = 20) -> list[tuple[float, float]]:
    """Points along a drawn line in display coordinates: its vertices and `steps` between each two."""
    xy = line.get_xydata()
    if not len(xy):
        return []
    points = line.get_transform().transform(xy)
    out = [tuple(points[0])]
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        out += [(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps) for k in range(1, steps + 1)]
    return [p for p in out if all(map(math.isfinite, p))]


def style_of(handle: Any) -> tuple:
    line = handle.lines[0] if isinstance(handle, ErrorbarContainer) else handle
    if not hasattr(line, "get_linestyle"):
        return (id(line),)
    return to_hex(line.get_color()), line.get_linestyle(), line.get_marker()


def problems_of(fig: Figure, dpi: float | None = None) -> tuple[list[str], list[str]]:
    """What is wrong with a figure's layout drawn at `dpi` (its own when None), and the strings it shows."""
    before = fig.dpi
    fig.set_dpi(dpi or before)
    try:
        return layout_problems(fig)
    finally:
        fig.set_dpi(before)


def layout_problems(fig: Figure) -> tuple[list[str], list[str]]:
    texts = drawn_texts(fig)
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    problems, boxes = [], []
    for t in texts:
        box = t.get_window_extent(renderer)
        boxes.append((t, box))
        if (box.x0 < page.x0 - TOLERANCE or box.y0 < page.y0 - TOLERANCE or box.x1 > page.x1 + TOLERANCE
                or box.y1 > page.y1 + TOLERANCE):
            problems.append(f"off the page: {t.get_text()[:60]!r} at x {box.x0:.0f}..{box.x1:.0f}, y "
                            f"{box.y0:.0f}..{box.y1:.0f} of {page.width:.0f} x {page.height:.0f}")
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        overlap_x = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
        overlap_y = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
        if overlap_x > TOLERANCE and overlap_y > TOLERANCE:
            problems.append(f"overlap: {a.get_text()[:50]!r} and {b.get_text()[:50]!r}")
    legends = [a for a in fig.findobj(Legend)]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        axes = [legend.axes] if legend.axes is not None else fig.axes
        covered = total = 0
        for ax in axes:
            for line in ax.get_lines():
                for x, y in along(line):
                    total += 1
                    covered += box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1
        if covered:
            problems.append(f"the legend covers {covered} of {total} points along the lines")
        owner = legend.axes or (fig.axes[0] if fig.axes else None)
        if owner is not None:
            handles, labels = owner.get_legend_handles_labels()
            styles = [style_of(h) for h in handles]
            if len(set(styles)) < len(styles):
                problems.append(f"{len(styles)} series share {len(set(styles))} styles")
    return problems, [t.get_text() for t in texts]


def checking(monkeypatch: pytest.MonkeyPatch) -> list[Saved]:
    """Every figure saved from now on (while `monkeypatch` lasts), checked just before it is saved."""
    saved: list[Saved] = []
    pages: dict[int, int] = {}
    original = Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        if isinstance(fname, PdfPages):
            pages[id(fname)] = pages.get(id(fname), 0) + 1
            target, dpi = f"report.pdf page {pages[id(fname)]}", PDF_DPI
        else:
            target, dpi = Path(str(fname)).name, kwargs.get("dpi")
        problems, texts = problems_of(self, dpi)
        saved.append(Saved(target, texts, problems))
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """kind -> (its folder, every figure its report saved), each study made once for the module."""
    made: dict[str, tuple[Path, list[Saved]]] = {}

    def of(kind: str) -> tuple[Path, list[Saved]]:
        if kind not in made:
            out = tmp_path_factory.mktemp("pdf") / kind
            with pytest.MonkeyPatch.context() as monkeypatch:
                saved = checking(monkeypatch)
                install(monkeypatch, loss_of)
                run_study(Study.from_options(**STUDIES[kind], scale="tiny", data="embedded", out=str(out), plot=True))
            made[kind] = out, saved
        return made[kind]

    return of


@pytest.mark.parametrize("kind", list(STUDIES))
def test_every_page_and_plot_stays_on_its_page_and_reads(kind, report):
    _, checked = report(kind)
    pages = [s for s in checked if s.target.startswith("report.pdf")]
    pngs = [s for s in checked if not s.target.startswith("report.pdf")]
    assert len(pages) >= 5 and {"curves.png", "effects.png", "lr_schedule.png"} <= {s.target for s in pngs}
    assert any(s.target.startswith("sensitivity_") for s in pngs) == (kind != "fractional")  # lr: tuned or an axis
    bad = [f"{s.target}: {p}" for s in checked for p in s.problems]
    assert not bad, "\n".join(bad)


def test_the_tuned_report_says_what_each_cell_is_and_what_each_used(report):
    out, checked = report("tuned-fractional")
    pages = [" ".join(s.texts) for s in checked if s.target.startswith("report.pdf")]
    first = pages[0].replace("\n", " ")
    # 16 variants x 2 measuring seeds; the tuning (16 x 3 candidates and their extensions on seed
    # 1337) and the shared-default comparison are named, not counted as failures.
    assert "32 of 32 finished ok" in first and "tuning cells" in first and "shared-default cells" in first
    assert "fractional factorial of resolution IV" in first
    assert str(out.parent) not in "\n".join(pages), "no absolute path of the machine that ran it"
    assert "the embedded synthetic corpus (fingerprint" in first
    config = next(p for p in pages if "Configuration and machine" in p)
    assert '"lr": null' not in config and '"weight_decay": null' not in config
    assert '"lr": "tuned per variant from 0.001, 0.003, 0.01, 0.0316, 0.0999' in config.replace("\n", " ")
    assert '"weight_decay": "each recipe\'s own: adamw 0.1, muon' in config.replace("\n", " ")
    assert "lr used by each variant" in config and "0.0999: 8 variants" in config
    # No best.pt in a synthetic cell: no page of "(no best.pt kept)", one line on the configuration page.
    assert not any(p.startswith("Samples") for p in pages)
    assert config.count("no best.pt") == 1
    # The table identifies every row: each variant's label whole, wrapped at most.
    table = pages[1].replace("\n", " ")
    for row in ("norm=rmsnorm, pos=rope, init=scaled, opt=muon, mlp=swiglu, mask=title, qknorm=rmsnorm, lr=0.0999",
                "lr: best at the top of its grid (0.0999) after 2 extensions; extend it"):
        assert row in table


def test_a_resumed_folder_names_the_command_that_trained_it(report):
    from ablations.analysis.summary import summarise
    from ablations.writers.pdf import configuration

    out, _ = report("plain")
    summary = summarise(out)
    assert configuration(summary)[0] == f"command: {summary.run['command']}"  # never resumed
    summary.run["resumed"] = [{"command": "python -m ablations.run --axes a  # again", "at": "2026-12-05T04:00:00"}]
    assert configuration(summary)[:2] == [
        f"command (made the folder and trained its first cells): {summary.run['command']}",
        "run 1 more time since (resumed); the latest: python -m ablations.run --axes a  # again (2026-12-05T04:00:00)"]
    del summary.run["resumed"]
    summary.run["commands"] = ["python -m ablations.run --axes a", "python -m ablations.run --axes a  # again"]
    assert configuration(summary)[:2] == [
        "command (made the folder and trained its first cells): python -m ablations.run --axes a",
        "run 1 more time since (resumed); the latest: python -m ablations.run --axes a  # again"]


def test_the_check_sees_a_label_off_the_page_and_titles_that_overlap():
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(4, 3))
    fig.text(-0.05, 0.5, "a label cut at the left edge")
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.6))
    ax.set_title("a title")
    fig.text(0.5, 0.72, "a title over it", ha="center")
    for i in range(12):
        ax.plot([0, 1], [i, i + 1], label=f"series {i}")
    ax.legend(loc="center")
    problems, _ = problems_of(fig)
    plt.close(fig)
    assert any(p.startswith("off the page: 'a label cut") for p in problems)
    assert any(p.startswith("overlap: ") and "a title" in p for p in problems)
    assert any(p.startswith("the legend covers") for p in problems)
    assert any("12 series share 10 styles" in p for p in problems)
