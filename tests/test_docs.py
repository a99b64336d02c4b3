"""The documentation: README.md is generated from nbs/index.ipynb, and the built site renders in a browser.

The site is built into a temporary folder by `tools/build_docs.py site` (about 15 s), unless
`TRADEML_DOCS_BUILT=1` says that CI has just built it into `_docs/`. The browser checks run headless
Chromium (Debian's `chromium` package) and are skipped, with the reason, when it is not installed.
"""

import ast
import html
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path('/usr/bin/chromium')
SETUP_COMMANDS = [
    'python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e ".[all]" && trademl demo',
    'python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e ".[all,dev]" && nbdev_test && pytest -q tests',
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason='headless Chromium is not installed (apt-get install -y chromium); the browser checks need /usr/bin/chromium',
)


def _builder():
    spec = importlib.util.spec_from_file_location('build_docs', ROOT / 'tools' / 'build_docs.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules['build_docs'] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def builder():
    return _builder()


@pytest.fixture(scope='module')
def site(tmp_path_factory) -> Path:
    built = ROOT / '_docs'
    if os.environ.get('TRADEML_DOCS_BUILT') == '1':
        assert (built / 'index.html').exists(), (
            'TRADEML_DOCS_BUILT=1 but _docs/index.html is missing'
        )
        return built
    out = tmp_path_factory.mktemp('site')
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'MLFLOW_DISABLE_TELEMETRY': 'true'}
    res = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'build_docs.py'), 'site', '--out', str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return out


# ---------------------------------------------------------------- README and words
def test_readme_is_generated_from_the_home_notebook(builder):
    assert builder.readme_drift() == [], (
        'run `python tools/build_docs.py readme` after editing nbs/index.ipynb'
    )


def test_readme_keeps_the_two_setup_commands():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    for cmd in SETUP_COMMANDS:
        assert cmd in readme, cmd


def test_readme_figure_is_small_and_linked(builder):
    text, images = builder.readme_text()
    assert images, 'the home notebook has no committed figure'
    for name, data in images.items():
        assert f']({name})' in text
        assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) < 60_000, (name, len(data))


# the words a user never sees, spelt in pieces so that this file does not match its own search
_spec_word, _home_dir = 'SP' + 'EC', '/wo' + 'rk/'
DESIGN_WORDS = re.compile(
    rf'seed\s*`?00\d|(?-i:\b{_spec_word}\b)|\u00a7|\bissue\s*#?\d|{_home_dir}|/ro' + 'ot/', re.I
)


@pytest.mark.parametrize(
    'name',
    ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'nbs/index.ipynb', 'trademl/__init__.py'],
)
def test_project_documents_cite_no_design_material(name):
    path = ROOT / name
    if not path.exists():
        pytest.fail(f'{name} is missing')
    hits = [m.group(0) for m in DESIGN_WORDS.finditer(path.read_text(encoding='utf-8'))]
    assert hits == [], f'{name} cites {hits}: name the rule by what it is'


def _module_names(builder):
    return builder.library_modules()


def test_layer_map_names_every_notebook_and_module(builder):
    import trademl

    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    layer_map = readme.split('## Layer map', 1)[1].split('\n## ', 1)[0]
    for nb in builder.notebooks():
        stem = nb.relative_to(builder.NBS).with_suffix('').as_posix()
        assert f'`{stem}`' in layer_map, f'the layer map in nbs/index.ipynb does not list {stem}'
        assert stem in trademl.__doc__, f'the layer map in trademl/__init__.py does not list {stem}'
    for mod in _module_names(builder):
        assert f'`{mod}`' in layer_map, f'the layer map in nbs/index.ipynb does not list {mod}'
        assert re.search(rf'{re.escape(mod)}\b', trademl.__doc__), (
            f'trademl/__init__.py does not list {mod}'
        )


# ---------------------------------------------------------------- the built site, read as files
def _local_refs(page: Path, text: str):
    for attr, url in re.findall(r'\b(href|src)=["\']([^"\']*)["\']', text):
        url = html.unescape(url)
        if not url or url.startswith(('#', 'data:', 'javascript:')) or urlparse(url).scheme:
            continue
        yield attr, url, (page.parent / unquote(url.split('#')[0])).resolve()


def _all_names(module: str) -> list[str]:
    src = (ROOT / (module.replace('.', '/') + '.py')).read_text(encoding='utf-8')
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, 'id', '') == '__all__' for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    return []


def test_site_has_a_page_per_notebook_and_module(site, builder):
    for nb in builder.notebooks():
        assert (site / builder.page_file(nb)).exists(), builder.page_file(nb)
    for mod in _module_names(builder):
        page = (site / builder.module_file(mod)).read_text(encoding='utf-8')
        missing = [n for n in _all_names(mod) if f'id="{n}"' not in page]
        assert missing == [], f'{mod}: API page misses {missing}'


def test_site_links_resolve_and_assets_are_local(site):
    pages = sorted(site.glob('*.html'))
    assert len(pages) > 10
    broken, external = [], []
    for page in pages:
        text = page.read_text(encoding='utf-8')
        broken += [
            f'{page.name}: {attr}={url}'
            for attr, url, target in _local_refs(page, text)
            if not target.exists()
        ]
        external += re.findall(
            r'<script[^>]*\bsrc=["\']https?://[^"\']+|<link[^>]*\bhref=["\']https?://[^"\']+', text
        )
    assert broken == [], broken[:20]
    assert external == [], external[:5]


def test_notebook_pages_hide_directives_and_hidden_cells(site):
    page = (site / '00_core.html').read_text(encoding='utf-8')
    assert '#| export' not in page and '#| hide' not in page and 'default_exp' not in page
    assert 'nbdev_export(' not in page


# ---------------------------------------------------------------- the built site, in a browser
MEASURE = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const box = e => e.getBoundingClientRect();
  const figures = [...document.querySelectorAll('main img, main svg, main .output.plotly')].map(e => ({
    tag: e.tagName.toLowerCase(), w: box(e).width, h: box(e).height, natural: e.naturalWidth || 0}));
  const docs = [...document.querySelectorAll('main .doc')].map(e => ({id: e.id, h: box(e).height}));
  const pre = document.createElement('pre');
  pre.id = 'trademl-measure';
  pre.textContent = JSON.stringify({title: document.title, h1: (document.querySelector('main h1') || {}).textContent,
    figures, docs, nav: document.querySelectorAll('nav.sidebar a').length});
  document.body.appendChild(pre);
}, 300));
</script>"""


def _chromium(*args, tmp_path: Path) -> subprocess.CompletedProcess:
    flags = [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        f'--user-data-dir={tmp_path / "chromium-profile"}',
        '--window-size=1280,1600',
        '--virtual-time-budget=10000',
    ]
    return subprocess.run(
        [str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120
    )


def _render(site: Path, name: str, tmp_path: Path) -> tuple[dict, str]:
    """Open a page (a copy beside it with a measuring script) and return the measurements and the DOM."""
    src = (site / name).read_text(encoding='utf-8')
    probe = site / f'_probe_{name}'
    probe.write_text(src.replace('</body>', MEASURE + '</body>'), encoding='utf-8')
    try:
        res = _chromium('--dump-dom', probe.as_uri(), tmp_path=tmp_path)
    finally:
        probe.unlink()
    m = re.search(r'<pre id="trademl-measure">(.*?)</pre>', res.stdout, re.S)
    assert m, f'no measurement from Chromium: {res.stderr[-2000:]}'
    return json.loads(html.unescape(m.group(1))), res.stdout


@needs_chromium
def test_home_page_renders_with_a_figure(site, tmp_path):
    info, dom = _render(site, 'index.html', tmp_path)
    assert info['title'] == 'trademl'
    assert info['h1'].strip().startswith('trademl')
    images = [f for f in info['figures'] if f['tag'] == 'img']
    assert images and all(f['w'] > 100 and f['h'] > 50 and f['natural'] > 0 for f in images), info[
        'figures'
    ]
    assert 'Layer map' in dom and 'Set-up: two commands on a fresh machine' in dom
    assert '<table' in dom and '^GSPC' in dom
    assert info['nav'] > 30
    shot = tmp_path / 'home.png'
    _chromium(f'--screenshot={shot}', (site / 'index.html').as_uri(), tmp_path=tmp_path)
    assert shot.exists() and shot.stat().st_size > 20_000


@needs_chromium
@pytest.mark.parametrize(
    'page, names',
    [
        ('api_trademl.backtest.html', ['run_backtest', 'BacktestResult']),
        ('api_trademl.data.html', ['load_panel', 'validate_panel']),
    ],
)
def test_api_pages_render_their_entries(site, tmp_path, page, names):
    info, dom = _render(site, page, tmp_path)
    ids = {d['id']: d['h'] for d in info['docs']}
    for name in names:
        assert ids.get(name, 0) > 20, f'{name} not rendered on {page}'
        assert f'{name}(' in dom
    assert info['title'].startswith('trademl.')
