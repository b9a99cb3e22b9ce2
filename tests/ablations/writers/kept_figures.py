"""The figures a writer would save, kept open to be read: one helper for the plot and page tests' fixtures."""
import matplotlib.pyplot as plt


def keep_figures(monkeypatch, module, pages: bool = False):
    """Replace `module.save` (plots.save(fig, path), or pdf.save(document, fig) with `pages`) by keeping each
    figure; yield them, then close them."""
    kept = []
    monkeypatch.setattr(module, "save", (lambda document, fig: kept.append(fig)) if pages
                        else (lambda fig, path: kept.append(fig)))
    yield kept
    for fig in kept:
        plt.close(fig)
