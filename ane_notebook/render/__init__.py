"""Drawing a ProfileReport: bokeh views (one module each, `diagram` re-exports them), the colours
(`palette`), HTML (`html`).

Nothing is imported here, so `import ane_notebook.render` does not pull in bokeh; the report
imports `render.html` lazily, when HTML is asked for.
"""
