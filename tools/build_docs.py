"""Build trademl's README and its documentation site from the notebooks, fully offline.

nbdev's own `nbdev_readme` and `nbdev_docs` need the quarto binary, which cannot be installed without
downloading it from outside the package registries. This script does the same two jobs with what the
development install already has (nbformat, nbconvert's markdown renderer, pygments):

    python tools/build_docs.py            # README.md (and index_files/) from nbs/index.ipynb, then the site
    python tools/build_docs.py readme     # README.md only
    python tools/build_docs.py check      # exit 1 when README.md or index_files/ differ from nbs/index.ipynb
    python tools/build_docs.py site       # the static site in _docs/ (git-ignored); --out DIR elsewhere

The site has the home page (nbs/index.ipynb), one page per notebook with its committed outputs (nothing is
executed; `#| hide` cells dropped, directives stripped, exported cells shown as documentation with their
source folded), and an API reference page per module listing every name in `__all__` with its signature
and docstring. Every asset is local (one stylesheet; plotly.js copied from the plotly package only when a
page has a plotly figure), so the site opens from the file system without a network.
"""

from __future__ import annotations

import argparse
import ast
import base64
import configparser
import html
import importlib
import inspect
import json
import re
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert.filters.ansi import ansi2html
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
LIB = ROOT / 'trademl'
IMG_DIR = 'index_files'
GENERATED = (
    '<!-- Generated from nbs/index.ipynb by tools/build_docs.py: edit the notebook, '
    'then run `python tools/build_docs.py readme`. -->'
)
# notebook name patterns -> layer, in the order the layers build on each other (the later 12... notebooks
# sit in the layer they serve; a notebook that matches none is listed under 'Other')
LAYERS = [
    ('Foundations', r'00'),
    ('Data', r'01_'),
    ('Features and embeddings', r'01[a-z]|12c_'),
    ('Models', r'0[234]'),
    ('Validation', r'05|12d_'),
    ('Portfolio and backtest', r'06|12b_'),
    ('Execution', r'07|12_'),
    ('Interfaces', r'08|prod/'),
]
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*?)\s*$')
_FORMATTER = HtmlFormatter(cssclass='highlight')


def settings() -> configparser.SectionProxy:
    """The `[DEFAULT]` section of settings.ini."""
    cfg = configparser.ConfigParser(delimiters=['='], interpolation=None)
    cfg.read(ROOT / 'settings.ini', encoding='utf-8')
    return cfg['DEFAULT']


# ---------------------------------------------------------------- cells and directives
def split_directives(source: str) -> tuple[dict, str]:
    """The leading `#| key: value` / `#| key args` lines of a cell as a dict, and the code after them."""
    lines = source.splitlines()
    found = {}
    while lines and (m := DIRECTIVE.match(lines[0])):
        text = m.group(1)
        key, sep, value = text.partition(':') if ':' in text.split(' ')[0] else text.partition(' ')
        found[key.strip()] = value.strip()
        lines.pop(0)
    return found, '\n'.join(lines).strip('\n')


@dataclass
class Cell:
    """A notebook cell as the docs see it: what to show of its source and of its outputs."""

    kind: str
    source: str
    outputs: list = field(default_factory=list)
    directives: dict = field(default_factory=dict)

    @property
    def hidden(self) -> bool:
        """Cells that never appear in the docs: `#| hide`, `include: false`, `default_exp` and export calls."""
        d = self.directives
        return (
            'hide' in d
            or d.get('include') == 'false'
            or 'default_exp' in d
            or 'nbdev_export(' in self.source
            or (self.kind == 'code' and not self.source and not self.outputs)
        )

    @property
    def export(self) -> str | None:
        """'export', 'exporti' or 'exports' when the cell is exported to the package, else None."""
        return next((k for k in ('export', 'exporti', 'exports') if k in self.directives), None)

    @property
    def show_source(self) -> bool:
        """Whether the source is shown as code (exported cells show documentation instead)."""
        return self.kind == 'code' and self.directives.get('echo') != 'false' and bool(self.source)

    @property
    def show_outputs(self) -> bool:
        """Whether the committed outputs are shown."""
        return self.directives.get('output') != 'false'


def read_cells(path: Path) -> list[Cell]:
    """The cells of a notebook, directives split off, as `Cell`s (raw cells are dropped)."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for c in nb.cells:
        if c.cell_type == 'raw':
            continue
        d, src = split_directives(c.source) if c.cell_type == 'code' else ({}, c.source)
        cells.append(Cell(c.cell_type, src, list(c.get('outputs', [])), d))
    return cells


def notebook_module(path: Path) -> str | None:
    """The module a notebook exports to (`#| default_exp`), as `trademl.x`, or None."""
    for c in read_cells(path):
        if 'default_exp' in c.directives:
            return f'{settings()["lib_name"]}.{c.directives["default_exp"]}'
    return None


def notebook_title(cells: list[Cell], fallback: str) -> tuple[str, str]:
    """The first `# title` and `> description` of a notebook's first markdown cell."""
    for c in cells:
        if c.kind == 'markdown':
            title = re.search(r'(?m)^#\s+(.+)$', c.source)
            desc = re.search(r'(?m)^>\s*(.+)$', c.source)
            return (title.group(1).strip() if title else fallback), (
                desc.group(1).strip() if desc else ''
            )
    return fallback, ''


def _text(value) -> str:
    return ''.join(value) if isinstance(value, list) else str(value)


# ---------------------------------------------------------------- README
def readme_text(
    nb_path: Path | None = None, img_dir: str = IMG_DIR
) -> tuple[str, dict[str, bytes]]:
    """README.md's text generated from nbs/index.ipynb, and the figure files it links to ({relative path: bytes})."""
    nb_path = nb_path or NBS / 'index.ipynb'
    parts, images = [GENERATED], {}
    for cell in read_cells(nb_path):
        if cell.hidden:
            continue
        if cell.kind == 'markdown':
            parts.append(cell.source.strip('\n'))
            continue
        if cell.show_source:
            parts.append(f'```python\n{cell.source}\n```')
        for out in cell.outputs if cell.show_outputs else []:
            if out.output_type == 'stream':
                parts.append(f'```\n{_text(out.text).rstrip()}\n```')
                continue
            data = out.get('data', {})
            if 'text/markdown' in data:
                parts.append(_text(data['text/markdown']).strip('\n'))
            elif 'image/png' in data:
                name = f'{img_dir}/figure-{len(images) + 1}.png'
                images[name] = base64.b64decode(_text(data['image/png']))
                parts.append(f'![figure {len(images)}]({name})')
            elif 'text/html' in data:
                parts.append(_text(data['text/html']).strip('\n'))
            elif 'text/plain' in data:
                parts.append(f'```\n{_text(data["text/plain"]).rstrip()}\n```')
    return '\n\n'.join(parts) + '\n', images


def write_readme(root: Path = ROOT) -> Path:
    """Write README.md and its figures (index_files/) from nbs/index.ipynb; stale figures are removed."""
    text, images = readme_text()
    img_root = root / IMG_DIR
    if img_root.exists():
        shutil.rmtree(img_root)
    for name, data in images.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / 'README.md').write_text(text, encoding='utf-8')
    return root / 'README.md'


def readme_drift(root: Path = ROOT) -> list[str]:
    """What differs between the committed README.md (and index_files/) and what nbs/index.ipynb generates."""
    text, images = readme_text()
    problems = []
    readme = root / 'README.md'
    if not readme.exists() or readme.read_text(encoding='utf-8') != text:
        problems.append('README.md differs from what nbs/index.ipynb generates')
    for name, data in images.items():
        if not (root / name).exists() or (root / name).read_bytes() != data:
            problems.append(f'{name} differs from the figure in nbs/index.ipynb')
    on_disk = {p.relative_to(root).as_posix() for p in (root / IMG_DIR).rglob('*') if p.is_file()}
    problems += [f'{name} is not generated any more' for name in sorted(on_disk - set(images))]
    return problems


# ---------------------------------------------------------------- HTML pieces
def code_html(code: str) -> str:
    """Python source highlighted by pygments."""
    return highlight(code, PythonLexer(), _FORMATTER)


def markdown_html(text: str) -> str:
    """Markdown rendered to HTML (tables, fenced code, heading anchors)."""
    return markdown2html_mistune(text)


_EXTERNAL_ASSET = re.compile(
    r'<script[^>]*\bsrc=["\']https?://[^>]*>\s*</script>|<link[^>]*\bhref=["\']https?://[^>]*>',
    re.I,
)


def output_html(out, page: Page) -> str:
    """One cell output as HTML; plotly figures are drawn with the local copy of plotly.js."""
    if out.output_type == 'stream':
        cls = 'stderr' if out.get('name') == 'stderr' else 'stdout'
        return f'<pre class="output {cls}">{ansi2html(_text(out.text))}</pre>'
    if out.output_type == 'error':
        tb = '\n'.join(out.get('traceback', [])) or f'{out.ename}: {out.evalue}'
        return f'<pre class="output error">{ansi2html(tb)}</pre>'
    data = out.get('data', {})
    if 'application/vnd.plotly.v1+json' in data:
        page.plotly = True
        fig = data['application/vnd.plotly.v1+json']
        div = f'plotly-{page.stem}-{page.n_plots}'.replace('/', '-')
        page.n_plots += 1
        spec = json.dumps({'data': fig.get('data', []), 'layout': fig.get('layout', {})}).replace(
            '</', '<\\/'
        )
        return (
            f'<div class="output plotly" id="{div}"></div>'
            f'<script>(function () {{ var s = {spec}; '
            f'Plotly.newPlot("{div}", s.data, s.layout, {{responsive: true}}); }})();</script>'
        )
    if 'text/html' in data:
        raw = _EXTERNAL_ASSET.sub('', _text(data['text/html']))
        page.plotly |= 'Plotly.' in raw
        return f'<div class="output html">{raw}</div>'
    if 'image/svg+xml' in data:
        return f'<div class="output image">{_text(data["image/svg+xml"])}</div>'
    for mime in ('image/png', 'image/jpeg'):
        if mime in data:
            src = f'data:{mime};base64,{_text(data[mime]).strip()}'
            return f'<div class="output image"><img src="{src}" alt="figure"></div>'
    if 'text/markdown' in data:
        return f'<div class="output markdown">{markdown_html(_text(data["text/markdown"]))}</div>'
    if 'text/plain' in data:
        return f'<pre class="output stdout">{html.escape(_text(data["text/plain"]))}</pre>'
    return ''


def _signature(name: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """`name(a: int, b: str = 'x', *, c=None) -> T` from a function's syntax tree (no `self`/`cls`)."""
    a = node.args

    def one(arg, default=None):
        text = arg.arg + (f': {ast.unparse(arg.annotation)}' if arg.annotation else '')
        if default is not None:
            text += f' = {ast.unparse(default)}' if arg.annotation else f'={ast.unparse(default)}'
        return text

    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    parts = [one(x, d) for x, d in zip(positional, defaults)]
    if a.posonlyargs:
        parts.insert(len(a.posonlyargs), '/')
    if a.vararg:
        parts.append('*' + one(a.vararg))
    elif a.kwonlyargs:
        parts.append('*')
    parts += [one(x, d) for x, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        parts.append('**' + one(a.kwarg))
    if positional and positional[0].arg in ('self', 'cls'):
        parts.pop(0)
    ret = f' -> {ast.unparse(node.returns)}' if node.returns else ''
    return f'{name}({", ".join(parts)}){ret}'


def doc_entry(
    anchor: str, signature: str, doc: str | None | bool, extra: str = '', source_link: str = ''
) -> str:
    """One documented name: its signature, its docstring as markdown, and what belongs under it."""
    body = (
        markdown_html(doc) if doc else '' if doc is False else '<p class="nodoc">(no docstring)</p>'
    )
    return (
        f'<div class="doc" id="{html.escape(anchor)}"><div class="sig"><code>{html.escape(signature)}</code>'
        f'<a class="anchor-link" href="#{html.escape(anchor)}">&#182;</a>{source_link}</div>'
        f'<div class="docstring">{body}</div>{extra}</div>'
    )


def exported_cell_docs(code: str) -> str:
    """Documentation of the public functions and classes an exported cell defines, read from its source."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ''
    entries = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith(
            '_'
        ):
            entries.append(
                doc_entry(node.name, _signature(node.name, node), ast.get_docstring(node))
            )
        elif isinstance(node, ast.ClassDef) and not node.name.startswith('_'):
            bases = ', '.join(ast.unparse(b) for b in node.bases)
            fields = [
                f'<li><code>{html.escape(ast.unparse(n))}</code></li>'
                for n in node.body
                if isinstance(n, ast.AnnAssign)
            ]
            methods = [
                doc_entry(f'{node.name}.{n.name}', _signature(n.name, n), ast.get_docstring(n))
                for n in node.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                and not n.name.startswith('_')
            ]
            extra = (f'<ul class="fields">{"".join(fields)}</ul>' if fields else '') + (
                f'<div class="methods">{"".join(methods)}</div>' if methods else ''
            )
            sig = f'class {node.name}({bases})' if bases else f'class {node.name}'
            entries.append(doc_entry(node.name, sig, ast.get_docstring(node), extra))
    return ''.join(entries)


def cell_html(cell: Cell, page: Page) -> str:
    """One visible cell as HTML."""
    if cell.kind == 'markdown':
        return f'<div class="cell markdown">{markdown_html(cell.source)}</div>'
    parts = []
    if cell.export:
        docs = exported_cell_docs(cell.source) if cell.export != 'exporti' else ''
        parts.append(docs)
        if cell.export == 'exports':
            parts.append(f'<div class="source">{code_html(cell.source)}</div>')
        else:
            parts.append(
                f'<details class="source"><summary>source</summary>{code_html(cell.source)}</details>'
            )
    elif cell.show_source:
        parts.append(f'<div class="source">{code_html(cell.source)}</div>')
    if cell.show_outputs:
        parts += [output_html(o, page) for o in cell.outputs]
    return f'<div class="cell code">{"".join(parts)}</div>'


# ---------------------------------------------------------------- pages and navigation
@dataclass
class Page:
    """A page of the site: its file name, title, navigation group and body."""

    stem: str
    file: str
    title: str
    group: str
    description: str = ''
    body: str = ''
    plotly: bool = False
    n_plots: int = 0


def layer_of(stem: str) -> str:
    """The layer a notebook belongs to, from its number (see LAYERS)."""
    return next((name for name, pat in LAYERS if re.match(pat, stem)), 'Other')


def notebooks() -> list[Path]:
    """Every documented notebook under nbs/ (not index.ipynb, not files starting with _ or .)."""
    found = [
        p
        for p in sorted(NBS.rglob('*.ipynb'))
        if p.name != 'index.ipynb'
        and not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts)
    ]
    return sorted(found, key=lambda p: (p.parent != NBS, p.relative_to(NBS).as_posix()))


def page_file(nb: Path) -> str:
    """The site file of a notebook: nbs/06c_backtest.ipynb -> 06c_backtest.html, nbs/prod/train.ipynb -> prod_train.html."""
    return nb.relative_to(NBS).with_suffix('').as_posix().replace('/', '_') + '.html'


def module_file(module: str) -> str:
    """The API page of a module."""
    return f'api_{module}.html'


def library_modules() -> list[str]:
    """Every module of the package except the generated index and the package itself."""
    lib = settings()['lib_name']
    mods = []
    for p in sorted(LIB.rglob('*.py')):
        rel = p.relative_to(LIB.parent).with_suffix('')
        if p.name in ('__init__.py', '_modidx.py') or any(s.startswith('_') for s in rel.parts[1:]):
            continue
        mods.append('.'.join(rel.parts))
    return [m for m in mods if m.startswith(lib)]


class Site:
    """The documentation site: pages, links between them, and the files they are written to."""

    def __init__(self, out: Path):
        self.out = out
        self.cfg = settings()
        self.pages: list[Page] = []
        self.nb_pages: dict[str, str] = {}  # notebook path relative to nbs/ -> page file
        self.mod_pages: dict[str, str] = {}  # module -> page file
        self.mod_notebook: dict[str, str] = {}  # module -> notebook page file
        self.mod_desc: dict[str, str] = {}  # module -> its notebook's one-line description
        self.warnings: list[str] = []

    # -- links
    def fix_links(self, body: str, here: Path) -> str:
        """Point .ipynb links at their pages; repository files at the repository; drop links to nothing."""

        def repl(m):
            attr, q, url = m.group(1), m.group(2), m.group(3)
            if re.match(r'^([a-z]+:|#|data:|//)', url, re.I):
                return m.group(0)
            path, _, frag = url.partition('#')
            target = (here / path).resolve()
            if target.suffix == '.ipynb' and target.is_relative_to(NBS):
                rel = target.relative_to(NBS).as_posix()
                if rel == 'index.ipynb':
                    return f'{attr}={q}index.html{"#" + frag if frag else ""}{q}'
                if rel in self.nb_pages:
                    return f'{attr}={q}{self.nb_pages[rel]}{"#" + frag if frag else ""}{q}'
            if (self.out / path).exists():
                return m.group(0)
            if target.exists() and target.is_relative_to(ROOT):
                rel = target.relative_to(ROOT).as_posix()
                return f'{attr}={q}{self.cfg["git_url"]}/blob/{self.cfg["branch"]}/{rel}{q}'
            self.warnings.append(f'{here.name}: link to a missing file {url!r} dropped')
            return f'data-missing={q}{url}{q}'

        return re.sub(r'\b(href|src)=(["\'])(.*?)\2', repl, body)

    def link_names(self, body: str) -> str:
        """Turn `<code>NAME</code>` into a link when NAME is a notebook or a module with a page."""
        targets = {Path(k).with_suffix('').as_posix(): v for k, v in self.nb_pages.items()}
        targets.update(self.mod_pages)

        def repl(m):
            name = html.unescape(m.group(1))
            return f'<a href="{targets[name]}">{m.group(0)}</a>' if name in targets else m.group(0)

        # only codes that are not already inside a link or a code block
        pieces = re.split(r'(<a\b.*?</a>|<pre\b.*?</pre>)', body, flags=re.S)
        return ''.join(
            p if i % 2 else re.sub(r'<code>([\w./]+)</code>', repl, p) for i, p in enumerate(pieces)
        )

    # -- pages
    def notebook_page(self, nb: Path, stem: str, file: str, group: str) -> Page:
        """A page from a notebook's committed cells and outputs."""
        cells = read_cells(nb)
        title, desc = notebook_title(cells, stem)
        page = Page(stem, file, title, group, desc)
        body = [cell_html(c, page) for c in cells if not c.hidden]
        if nb.name != 'index.ipynb':
            url = (
                f'{self.cfg["git_url"]}/blob/{self.cfg["branch"]}/{nb.relative_to(ROOT).as_posix()}'
            )
            body.append(
                f'<p class="nbsource">Notebook: <a href="{url}">{nb.relative_to(ROOT).as_posix()}</a></p>'
            )
        page.body = self.fix_links(''.join(body), nb.parent)
        return page

    def api_page(self, module: str) -> Page:
        """A page listing every name in a module's `__all__`, with signature and docstring."""
        page = Page(module, module_file(module), module, 'API reference')
        nb_file = self.mod_notebook.get(module)
        intro = (
            f'<p>Written in the notebook <a href="{nb_file}">{Path(nb_file).stem}</a>.</p>'
            if nb_file
            else ''
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                mod = importlib.import_module(module)
        except Exception as e:  # a missing extra: list the names from the source instead
            self.warnings.append(
                f'{module}: not importable ({type(e).__name__}: {e}); documented from its source'
            )
            page.body = f'<h1>{module}</h1>{intro}' + exported_cell_docs(
                (ROOT / (module.replace('.', '/') + '.py')).read_text()
            )
            return page
        names = list(getattr(mod, '__all__', [n for n in vars(mod) if not n.startswith('_')]))
        toc = ''.join(
            f'<li><a href="#{html.escape(n)}"><code>{html.escape(n)}</code></a></li>' for n in names
        )
        entries = ''.join(self.api_entry(mod, n) for n in names)
        page.description = f'{self.mod_desc.get(module, "")} ({len(names)} public names)'.strip()
        page.body = f'<h1>{module}</h1>{intro}<ul class="api-toc">{toc}</ul>{entries}'
        return page

    def api_entry(self, mod, name: str) -> str:
        """One public name of a module, documented from the imported object."""
        obj = getattr(mod, name, None)
        if obj is None and not hasattr(mod, name):
            self.warnings.append(f'{mod.__name__}.__all__ names {name!r}, which it does not define')
            return doc_entry(name, name, '(listed in `__all__` but not defined)')
        home = getattr(obj, '__module__', mod.__name__) or mod.__name__
        note = ''
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and home != mod.__name__:
            link = self.mod_pages.get(home)
            note = (
                f' <span class="reexport">from <a href="{link}#{name}">{home}</a></span>'
                if link
                else f' <span class="reexport">from {home}</span>'
            )
        if inspect.isclass(obj):
            sig = _safe_signature(obj, is_class=True)
            if sig == '(...)':  # exceptions and other builtins' subclasses: show the bases instead
                sig = '(' + ', '.join(b.__name__ for b in obj.__bases__ if b is not object) + ')'
            sig = f'class {name}{sig if sig != "()" else ""}'
            methods = ''.join(
                doc_entry(f'{name}.{m}', f'{m}{_safe_signature(v)}', inspect.getdoc(v))
                for m, v in _public_methods(obj)
            )
            extra = f'<div class="methods">{methods}</div>' if methods else ''
            return doc_entry(name, sig, _own_doc(obj), extra, note)
        if callable(obj):
            return doc_entry(name, f'{name}{_safe_signature(obj)}', inspect.getdoc(obj), '', note)
        value = repr(obj)
        value = value if len(value) < 120 else value[:117] + '...'
        return doc_entry(name, f'{name} = {value}', False, '', note)

    def home_page(self) -> Page:
        """The home page from nbs/index.ipynb."""
        page = self.notebook_page(NBS / 'index.ipynb', 'index', 'index.html', 'Home')
        return page

    def api_index(self) -> Page:
        """The list of modules, in the order of the layers."""
        rows = ''.join(
            f'<tr><td><a href="{p.file}"><code>{p.title}</code></a></td><td>{_inline_md(p.description)}</td></tr>'
            for p in self.pages
            if p.group == 'API reference'
        )
        body = f'<h1>API reference</h1><p>Every public name of every module, with its signature and docstring.</p><table><tbody>{rows}</tbody></table>'
        return Page('api', 'api.html', 'API reference', 'API reference', body=body)

    def build(self) -> list[Page]:
        """Collect every page (notebooks, home, API) with links between them resolved."""
        nbs = notebooks()
        for nb in nbs:
            self.nb_pages[nb.relative_to(NBS).as_posix()] = page_file(nb)
            mod = notebook_module(nb)
            if mod:
                self.mod_notebook[mod] = page_file(nb)
                self.mod_desc[mod] = notebook_title(read_cells(nb), mod)[1]
        order = {m: i for i, m in enumerate(self.mod_notebook)}
        modules = sorted(library_modules(), key=lambda m: (order.get(m, len(order)), m))
        self.mod_pages = {m: module_file(m) for m in modules}
        for nb in nbs:
            rel = nb.relative_to(NBS).with_suffix('').as_posix()
            self.pages.append(self.notebook_page(nb, rel, page_file(nb), layer_of(rel)))
        self.pages += [self.api_page(m) for m in modules]
        self.pages.insert(0, self.home_page())
        self.pages.append(self.api_index())
        for p in self.pages:
            p.body = self.link_names(p.body)
        return self.pages

    # -- output
    def nav(self, current: Page) -> str:
        """The sidebar: home, the notebooks by layer, the API reference."""
        groups: dict[str, list[Page]] = {}
        for p in self.pages:
            if p.group != 'Home' and p.file != 'api.html':
                groups.setdefault(p.group, []).append(p)
        out = [
            f'<a class="home{" active" if current.file == "index.html" else ""}" href="index.html">{self.cfg["title"]}</a>'
        ]
        for group, pages in groups.items():
            items = []
            for p in pages:
                num = p.stem.split('/')[0] if '/' in p.stem else p.stem.split('_')[0]
                label = (
                    p.title
                    if p.group == 'API reference'
                    else f'<span class="num">{num}</span> {html.escape(p.title)}'
                )
                active = ' class="active"' if p.file == current.file else ''
                items.append(f'<li><a{active} href="{p.file}">{label}</a></li>')
            head = f'<a href="api.html">{group}</a>' if group == 'API reference' else group
            opened = (
                ' open'
                if current in pages or current.file == 'api.html' or group != 'API reference'
                else ''
            )
            out.append(
                f'<details class="navgroup"{opened}><summary>{head}</summary><ul>{"".join(items)}</ul></details>'
            )
        return ''.join(out)

    def render(self, page: Page) -> str:
        """The full HTML document of a page."""
        scripts = ''
        if page.plotly:
            scripts = (
                '<script src="assets/plotly.min.js"></script>'
                '<script>window.require = window.require || ((deps, cb) => cb(window.Plotly));</script>'
            )
        title = (
            f'{page.title} · {self.cfg["title"]}'
            if page.file != 'index.html'
            else self.cfg['title']
        )
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(title)}</title><link rel="stylesheet" href="assets/style.css">{scripts}</head>'
            f'<body><nav class="sidebar">{self.nav(page)}</nav>'
            f'<main class="content">{page.body}'
            f'<footer>{html.escape(self.cfg["title"])} {html.escape(self.cfg["version"])} · '
            f'{html.escape(self.cfg["copyright"])} · built from the notebooks by tools/build_docs.py</footer>'
            '</main></body></html>'
        )

    def write(self) -> None:
        """Write every page and the assets into the output folder (emptied first)."""
        if self.out.exists():
            shutil.rmtree(self.out)
        (self.out / 'assets').mkdir(parents=True)
        css = (Path(__file__).parent / 'docs_style.css').read_text(encoding='utf-8')
        (self.out / 'assets' / 'style.css').write_text(
            css + _FORMATTER.get_style_defs('.highlight'), encoding='utf-8'
        )
        if any(p.plotly for p in self.pages):
            import plotly

            shutil.copy(
                Path(plotly.__file__).parent / 'package_data' / 'plotly.min.js', self.out / 'assets'
            )
        for p in self.pages:
            (self.out / p.file).write_text(self.render(p), encoding='utf-8')
        (self.out / '.nojekyll').write_text('')


class _Raw:
    """An annotation that prints as written (string annotations without their quotes)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _inline_md(text: str) -> str:
    """One line of markdown as inline HTML (no surrounding paragraph)."""
    out = markdown_html(text).strip()
    return out[3:-4] if out.startswith('<p>') and out.endswith('</p>') else out


def _safe_signature(obj, is_class: bool = False) -> str:
    """`(a: int, b='x') -> str` for a callable: string annotations unquoted, `self`/`cls` and a class's `-> None` left out."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return '(...)'
    empty = inspect.Parameter.empty

    def raw(a):
        return _Raw(a) if isinstance(a, str) else a

    params = [
        p.replace(annotation=raw(p.annotation)) if p.annotation is not empty else p
        for i, p in enumerate(sig.parameters.values())
        if not (i == 0 and p.name in ('self', 'cls'))
    ]
    ret = empty if is_class else raw(sig.return_annotation)
    return str(sig.replace(parameters=params, return_annotation=ret))


def _own_doc(cls) -> str | None:
    """A class's own docstring (not the generic one a dataclass gets)."""
    doc = cls.__dict__.get('__doc__')
    if doc and re.match(rf'^{re.escape(cls.__name__)}\(', doc):
        return None
    return inspect.cleandoc(doc) if doc else None


def _public_methods(cls):
    for name, value in cls.__dict__.items():
        if name.startswith('_'):
            continue
        if isinstance(value, classmethod | staticmethod):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            yield name, (value.fget if isinstance(value, property) else value)


def build_site(out: Path | None = None) -> Site:
    """Build the whole site into `out` (default: settings.ini's doc_path, `_docs/`)."""
    out = Path(out) if out else ROOT / settings()['doc_path']
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    site = Site(out)
    site.build()
    site.write()
    return site


def main(argv=None) -> int:
    """Command line: `readme`, `check`, `site` or (default) `all`."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('what', nargs='?', default='all', choices=['all', 'readme', 'check', 'site'])
    ap.add_argument('--out', type=Path, default=None, help='site folder (default: _docs/)')
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.what == 'check':
        problems = readme_drift()
        for p in problems:
            print(f'error: {p}; run `python tools/build_docs.py readme`')
        return 1 if problems else 0
    if args.what in ('all', 'readme'):
        print(f'wrote {write_readme().relative_to(ROOT)}')
    if args.what in ('all', 'site'):
        site = build_site(args.out)
        for w in site.warnings:
            print(f'warning: {w}')
        print(f'wrote {len(site.pages)} pages to {site.out} in {time.perf_counter() - t0:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
