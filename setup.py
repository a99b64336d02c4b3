"""setuptools entry point, driven by settings.ini (nbdev 2 layout).

Differences from the old nbdev template, all needed with setuptools >= 80 and Python 3.11:
no `pkg_resources` (absent from isolated builds), 3.11 in the classifier list, and every
settings key that ends in `_requirements` becomes an extra (`train`, `report`, `trade`,
`online`, `dev`), plus `all` (every runtime extra, not `dev`).
"""

from configparser import ConfigParser

import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

for key in ['version', 'description', 'keywords', 'author', 'author_email']:
    assert key in cfg, f'settings.ini is missing the key {key!r}'

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = [
    '1 - Planning',
    '2 - Pre-Alpha',
    '3 - Alpha',
    '4 - Beta',
    '5 - Production/Stable',
    '6 - Mature',
    '7 - Inactive',
]
py_versions = ['3.10', '3.11', '3.12', '3.13']
min_python = cfg['min_python']
lic = licenses.get(cfg['license'].lower(), (cfg['license'], None))


def _reqs(key):
    return cfg.get(key, '').split()


extras = {k[: -len('_requirements')]: _reqs(k) for k in cfg if k.endswith('_requirements')}
extras['all'] = sorted({r for name, reqs in extras.items() if name != 'dev' for r in reqs})

setuptools.setup(
    name=cfg['lib_name'],
    license=lic[0],
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ]
    + [
        'Programming Language :: Python :: ' + v
        for v in py_versions[py_versions.index(min_python) :]
    ]
    + (['License :: ' + lic[1]] if lic[1] else []),
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['trademl', 'trademl.*']),
    include_package_data=True,
    package_data={'trademl': ['prod/*.ipynb']},
    install_requires=_reqs('requirements'),
    extras_require=extras,
    python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={
        'console_scripts': cfg.get('console_scripts', '').split(),
        'nbdev': [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d'],
    },
    version=cfg['version'],
    author=cfg['author'],
    author_email=cfg['author_email'],
    description=cfg['description'],
    keywords=cfg['keywords'],
)
